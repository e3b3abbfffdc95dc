"""The command with a real checkpoint: preprocessing from the checkpoint, exit codes, clear errors, --gt, DDP."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segattn.commands.predict import main
from segattn.data.preprocess import eval_preprocess_from_hparams
from segattn.module import SegmentationModule
from segattn.predict.checkpoint import CheckpointError, read_checkpoint

from .conftest import TILE
from .helpers import write_image

REPO = Path(__file__).resolve().parents[2]


def _rows(manifest: Path) -> list[dict[str, str]]:
    with open(manifest, newline="") as f:
        return list(csv.DictReader(f))


def _run(*args: str | Path) -> int:
    return main([str(a) for a in (*args, "--no-progress")])


def test_prediction_uses_the_checkpoints_preprocessing_and_network(tiny_ckpt: Path, tmp_path: Path) -> None:
    # one image exactly one tile big: the blended probability must equal the module on the normalised image
    write_image(tmp_path / "in" / "a.png", TILE, TILE, seed=1)
    assert (
        _run(
            "--ckpt",
            tiny_ckpt,
            "--input",
            tmp_path / "in",
            "--output",
            tmp_path / "out",
            "--save-probs",
            "--probs-format",
            "npy",
        )
        == 0
    )
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    prep = eval_preprocess_from_hparams(ckpt["datamodule_hyper_parameters"])  # mean/std set in conftest
    module = SegmentationModule.load_from_checkpoint(tiny_ckpt, map_location="cpu", weights_only=True).eval()
    with torch.no_grad():
        want = module(prep(tmp_path / "in" / "a.png")[None]).sigmoid()[0, 0].numpy()  # (H, W)
    np.testing.assert_allclose(np.load(tmp_path / "out" / "probs" / "a.npy"), want, rtol=0, atol=1e-5)
    mask = cv2.imread(str(tmp_path / "out" / "masks" / "a.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(mask, np.where(want > 0.5, 255, 0).astype(np.uint8))


def test_command_on_odd_sizes_with_tta_probs_and_overlay(tiny_ckpt: Path, tmp_path: Path) -> None:
    sizes = {"plans/p1.png": (1, 300), "plans/deep/p2.jpg": (75, 41), "p3.bmp": (45, 100)}
    for i, (name, (h, w)) in enumerate(sizes.items()):
        write_image(tmp_path / "in" / name, h, w, seed=i)
    write_image(tmp_path / "in" / "gray16.png", 33, 20, channels=1)  # a gray image for an RGB model
    out = tmp_path / "out"
    code = _run(
        "--ckpt",
        tiny_ckpt,
        "--input",
        tmp_path / "in",
        "--output",
        out,
        "--tta",
        "d4",
        "--save-probs",
        "--overlay",
        "--batch-size",
        "3",
    )
    assert code == 0
    for name, (h, w) in sizes.items():
        stem = Path(name).with_suffix("").as_posix()
        mask = cv2.imread(str(out / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (h, w) and set(np.unique(mask)) <= {0, 255}
        assert cv2.imread(str(out / "probs" / f"{stem}.png"), cv2.IMREAD_UNCHANGED).shape == (h, w)
        assert cv2.imread(str(out / "overlays" / f"{stem}.jpg")).shape == (h, w, 3)
    assert [r["status"] for r in _rows(out / "manifest.csv")] == ["ok"] * 4


def test_corrupt_input_gives_exit_status_one_and_a_summary(
    tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_image(tmp_path / "in" / "good.png", 40, 40)
    (tmp_path / "in" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert _run("--ckpt", tiny_ckpt, "--input", tmp_path / "in", "--output", tmp_path / "out") == 1
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "1 written" in summary and "1 failed" in summary and "manifest" in summary
    rows = {Path(r["input"]).name: r["status"] for r in _rows(tmp_path / "out" / "manifest.csv")}
    assert rows == {"good.png": "ok", "bad.jpg": "failed"}


def _write_ckpt(path: Path, obj: object) -> Path:
    torch.save(obj, path)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes()), "not a PyTorch"),
        (lambda p: _write_ckpt(p, {"w": torch.zeros(2), "b": torch.zeros(1)}), "plain state_dict"),
        (lambda p: _write_ckpt(p, {"state_dict": {}, "hyper_parameters": {"lr": 1}}), "lacks"),
        (
            lambda p: _write_ckpt(p, {"state_dict": {}, "hyper_parameters": {"num_classes": 2, "net": {}}}),
            "datamodule_hyper_parameters",
        ),
        (lambda p: _write_ckpt(p, {"state_dict": {}, "extra": Path("x")}), "--trust-checkpoint"),
        (lambda p: p.write_bytes(b"\x80\x02 truncated pickle"), "could not be read"),
    ],
)
def test_wrong_checkpoint_files_get_a_clear_error(tmp_path: Path, make: Callable[[Path], object], message: str) -> None:
    path = tmp_path / "model.ckpt"
    make(path)
    with pytest.raises(CheckpointError, match=message) as info:
        read_checkpoint(path)
    assert str(path) in str(info.value)


def test_wrong_checkpoint_exits_with_status_two_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_image(tmp_path / "in" / "a.png", 8, 8)
    bad = _write_ckpt(tmp_path / "weights.pth", {"conv.weight": torch.zeros(1)})
    with pytest.raises(SystemExit) as info:
        _run("--ckpt", bad, "--input", tmp_path / "in", "--output", tmp_path / "out")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err and not (tmp_path / "out").exists()


def test_gt_scores_the_predictions(tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i, name in enumerate(["a", "sub/b"]):
        write_image(tmp_path / "in" / f"{name}.png", 40, 50, seed=i)
        gt = np.zeros((40, 50), np.uint8)
        gt[10:20, 5:45] = 255
        (tmp_path / "gt" / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / "gt" / f"{name}.png"), gt)
    code = _run("--ckpt", tiny_ckpt, "--input", tmp_path / "in", "--output", tmp_path / "out", "--gt", tmp_path / "gt")
    assert code == 0
    report = tmp_path / "out" / "dice_report"
    with open(report / "per_image.csv", newline="") as f:
        names = sorted({r["name"] for r in csv.DictReader(f)})
    assert names == ["a", "sub/b"]
    assert "Dice on 2 images" in capsys.readouterr().out


def test_two_cpu_processes_write_each_image_once(tiny_ckpt: Path, tmp_path: Path) -> None:
    n = 5
    for i in range(n):
        write_image(tmp_path / "in" / f"img{i}.png", 20 + 7 * i, 30, seed=i)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        str(REPO / "predict.py"),
        "--ckpt",
        str(tiny_ckpt),
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(tmp_path / "out"),
        "--devices",
        "2",
        "--accelerator",
        "cpu",
        "--no-progress",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "GLOBAL_RANK: 1" in proc.stderr + proc.stdout  # the second process really ran
    rows = _rows(tmp_path / "out" / "manifest.csv")
    assert sorted(Path(r["input"]).name for r in rows) == [f"img{i}.png" for i in range(n)]  # once each
    assert {r["status"] for r in rows} == {"ok"} and len({r["run"] for r in rows}) == 1
    for i in range(n):
        mask = cv2.imread(str(tmp_path / "out" / "masks" / f"img{i}.png"), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (20 + 7 * i, 30)
    assert proc.stdout.count("5 images:") == 1  # one summary, from rank 0


def test_help_runs_without_touching_torch() -> None:
    out = io.StringIO()
    with pytest.raises(SystemExit) as info:
        sys.stdout, saved = out, sys.stdout
        try:
            main(["--help"])
        finally:
            sys.stdout = saved
    assert info.value.code == 0 and "--ckpt" in out.getvalue()


def test_a_glob_with_dotdot_never_overwrites_an_input_image(tiny_ckpt: Path, tmp_path: Path) -> None:
    # issue 11: this command replaced photos/keep.png (an input) with its own mask
    write_image(tmp_path / "in" / "sub1" / "x.png", 40, 40)
    write_image(tmp_path / "photos" / "keep.png", 40, 40, seed=3)
    before = (tmp_path / "photos" / "keep.png").read_bytes()
    spec = str(tmp_path / "in" / "sub*" / ".." / ".." / "photos" / "*.png")
    assert _run("--ckpt", tiny_ckpt, "--input", spec, "--output", tmp_path / "out", "--overwrite") == 0
    assert (tmp_path / "photos" / "keep.png").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["keep.png"]
    assert (tmp_path / "out" / "masks" / "keep.png").is_file()


def test_an_image_above_max_pixels_fails_alone_with_its_size(tiny_ckpt: Path, tmp_path: Path) -> None:
    from tests.data.helpers import png_header_only

    write_image(tmp_path / "in" / "ok.png", 40, 40)
    png_header_only(tmp_path / "in" / "huge.png", 20000, 20000)  # 434 KB in the issue; 4.5 GiB as float32
    assert _run("--ckpt", tiny_ckpt, "--input", tmp_path / "in", "--output", tmp_path / "out") == 1
    rows = {Path(r["input"]).name: r for r in _rows(tmp_path / "out" / "manifest.csv")}
    assert rows["ok.png"]["status"] == "ok" and rows["huge.png"]["status"] == "failed"
    assert "20000x20000 is 400.0 M pixels, above the limit of 150.0 M" in rows["huge.png"]["error"]
    out2 = tmp_path / "o2"
    assert _run("--ckpt", tiny_ckpt, "--input", tmp_path / "in", "--output", out2, "--max-pixels", "1000") == 1
    assert {r["status"] for r in _rows(tmp_path / "o2" / "manifest.csv")} == {"failed"}


def test_masks_of_an_exif_rotated_jpeg_have_the_size_a_viewer_shows(tiny_ckpt: Path, tmp_path: Path) -> None:
    from tests.data.helpers import write_oriented

    stored = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    write_oriented(tmp_path / "in" / "phone.jpg", stored, 6)
    assert _run("--ckpt", tiny_ckpt, "--input", tmp_path / "in", "--output", tmp_path / "out", "--overlay") == 0
    assert cv2.imread(str(tmp_path / "out" / "masks" / "phone.png"), cv2.IMREAD_UNCHANGED).shape == (50, 30)
    assert cv2.imread(str(tmp_path / "out" / "overlays" / "phone.jpg")).shape == (50, 30, 3)
