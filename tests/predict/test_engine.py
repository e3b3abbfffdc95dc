"""End-to-end prediction with plain modules: sizes, seams, outputs, failures, resume, no-overwrite."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from segattn.predict.assemble import OutputSpec
from segattn.predict.engine import PredictResult, predict_folder
from segattn.predict.inputs import collect_inputs, output_paths

from .helpers import ConstantLogits, FailAfter, FirstChannelLogit, PlainRGB, write_image

SIZES = {"wide.png": (1, 300), "tall.png": (300, 1), "odd.png": (37, 45), "big.png": (130, 70), "sub/x.bmp": (20, 20)}


def _predict(net: nn.Module, src: Path, out: Path, *, num_classes: int = 2, **kw: object) -> PredictResult:
    probs, overlay, overwrite = kw.pop("probs", None), kw.pop("overlay", False), kw.pop("overwrite", False)
    images = collect_inputs(str(src), exclude=out)
    spec = OutputSpec(num_classes=num_classes, probs=probs, overlay=overlay, overwrite=overwrite)
    outputs = output_paths(images, out, probs=probs, num_prob_channels=spec.channels, overlay=overlay)
    kw = {"tile": 32, "overlap": 0.5, "batch_size": 3, "progress": False, **kw}
    return predict_folder(net, images, outputs, spec, PlainRGB(), output_dir=out, **kw)


def _make_inputs(src: Path) -> dict[str, np.ndarray]:
    return {name: write_image(src / name, h, w, seed=i) for i, (name, (h, w)) in enumerate(SIZES.items())}


def _mask(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_outputs_have_the_input_size_mirror_the_tree_and_reproduce_an_identity_model(tmp_path: Path) -> None:
    images = _make_inputs(tmp_path / "in")
    result = _predict(FirstChannelLogit(), tmp_path / "in", tmp_path / "out", probs="npy", tta="d4")
    assert (result.ok, result.skipped, result.failed) == (len(SIZES), 0, 0)
    for name, image in images.items():
        stem = Path(name).with_suffix("").as_posix()
        mask = _mask(tmp_path / "out" / "masks" / f"{stem}.png")
        assert mask.shape == image.shape[:2] and mask.dtype == np.uint8
        probs = np.load(tmp_path / "out" / "probs" / f"{stem}.npy")  # tiled + blended + TTA'd identity == red
        np.testing.assert_allclose(probs, image[:, :, 0], rtol=0, atol=1e-5)
        np.testing.assert_array_equal(mask, np.where(image[:, :, 0] > 0.5, 255, 0))
    assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == []


def test_constant_multiclass_model_gives_constant_index_masks_and_probs(tmp_path: Path) -> None:
    _make_inputs(tmp_path / "in")
    logits = [0.1, 2.0, -1.0]
    _predict(ConstantLogits(logits), tmp_path / "in", tmp_path / "out", num_classes=3, probs="png16", overlay=True)
    want = torch.tensor(logits).softmax(0).numpy()
    for name, (h, w) in SIZES.items():
        stem = Path(name).with_suffix("").as_posix()
        out = tmp_path / "out"
        np.testing.assert_array_equal(_mask(out / "masks" / f"{stem}.png"), np.ones((h, w), np.uint8))
        for k in range(3):
            plane = _mask(out / "probs" / f"{stem}_c{k}.png")
            assert plane.dtype == np.uint16 and plane.shape == (h, w)
            np.testing.assert_array_equal(plane, np.full((h, w), round(want[k] * 65535), np.uint16))
        assert cv2.imread(str(out / "overlays" / f"{stem}.jpg")).shape == (h, w, 3)


def test_corrupt_input_is_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    _make_inputs(tmp_path / "in")
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    result = _predict(FirstChannelLogit(), tmp_path / "in", tmp_path / "out")
    assert (result.ok, result.failed) == (len(SIZES), 1)
    rows = {Path(r["input"]).name: r for r in _rows(result.manifest)}
    assert rows["broken.png"]["status"] == "failed" and "broken.png" in rows["broken.png"]["error"]
    assert rows["odd.png"]["status"] == "ok" and rows["odd.png"]["size"] == "45x37"
    assert not (tmp_path / "out" / "masks" / "broken.png").exists()


def test_interrupted_run_leaves_only_complete_files_and_a_rerun_resumes(tmp_path: Path) -> None:
    images = _make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated interruption"):
        _predict(FailAfter(FirstChannelLogit(), calls=17), tmp_path / "in", out, probs="npy", batch_size=2)
    done = sorted(p.relative_to(out / "masks").as_posix() for p in (out / "masks").rglob("*.png"))
    assert 0 < len(done) < len(SIZES)  # the crash happened mid-run
    assert list(out.rglob("*.tmp")) == []  # unfinished images left nothing behind
    for rel in done:  # what is there is complete
        assert _mask(out / "masks" / rel).shape == images[_input_name(rel)].shape[:2]
    # a temporary file from a killed run (no cleanup possible) is not taken as a finished output
    leftover = out / "masks" / f".{Path(_missing(done)).name}.999.deadbeef.tmp"
    leftover.write_bytes(b"partial")

    result = _predict(FirstChannelLogit(), tmp_path / "in", out, probs="npy")
    assert (result.ok, result.skipped, result.failed) == (len(SIZES) - len(done), len(done), 0)
    assert all((out / "masks" / name).with_suffix(".png").exists() for name in SIZES)
    rows = _rows(result.manifest)  # both runs' rows, told apart by their run id
    first, second = rows[0]["run"], rows[-1]["run"]
    assert first != second and [r["status"] for r in rows if r["run"] == first] == ["ok"] * len(done)
    assert sorted(r["status"] for r in rows if r["run"] == second) == sorted(
        ["skipped"] * len(done) + ["ok"] * (len(SIZES) - len(done))
    )


def test_existing_outputs_are_untouched_without_overwrite(tmp_path: Path) -> None:
    _make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    (out / "masks").mkdir(parents=True)
    (out / "masks" / "odd.png").write_bytes(b"the user's own file")
    result = _predict(FirstChannelLogit(), tmp_path / "in", out)
    assert (out / "masks" / "odd.png").read_bytes() == b"the user's own file"
    assert (result.ok, result.skipped) == (len(SIZES) - 1, 1)
    result = _predict(FirstChannelLogit(), tmp_path / "in", out, overwrite=True)
    assert result.ok == len(SIZES) and _mask(out / "masks" / "odd.png").shape == SIZES["odd.png"]
    assert len(_rows(result.manifest)) == 2 * len(SIZES)  # the first run's rows are kept


def test_missing_extra_output_is_added_without_rewriting_the_mask(tmp_path: Path) -> None:
    _make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    _predict(FirstChannelLogit(), tmp_path / "in", out)
    stamp = (out / "masks" / "odd.png").stat().st_mtime_ns
    result = _predict(FirstChannelLogit(), tmp_path / "in", out, probs="png8")
    assert result.ok == len(SIZES) and (out / "probs" / "odd.png").exists()
    assert (out / "masks" / "odd.png").stat().st_mtime_ns == stamp


def _rows(manifest: Path) -> list[dict[str, str]]:
    with open(manifest, newline="") as f:
        return list(csv.DictReader(f))


def _input_name(rel: str) -> str:
    stem = rel.removesuffix(".png")
    return next(name for name in SIZES if Path(name).with_suffix("").as_posix() == stem)


def _missing(done: list[str]) -> str:
    masks = (Path(n).with_suffix(".png").as_posix() for n in SIZES)
    return next(m for m in masks if m not in done)


class WritesOutputMeanwhile(nn.Module):
    """Identity model that, on its first call, writes the final mask as a concurrent run would."""

    def __init__(self, mask: Path) -> None:
        super().__init__()
        self.mask, self.net = mask, FirstChannelLogit()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.mask.exists():
            self.mask.parent.mkdir(parents=True, exist_ok=True)
            self.mask.write_bytes(b"the other run's complete mask")
        return self.net(x)


def test_an_output_written_meanwhile_by_another_run_is_a_skip_not_a_failure(tmp_path: Path) -> None:
    # issue 11: two predictions into one folder both exited 1 with "already exists" rows
    write_image(tmp_path / "in" / "a.png", 40, 40)
    mask = tmp_path / "out" / "masks" / "a.png"
    result = _predict(WritesOutputMeanwhile(mask), tmp_path / "in", tmp_path / "out")
    assert (result.ok, result.skipped, result.failed) == (0, 1, 0)
    assert mask.read_bytes() == b"the other run's complete mask"  # never replaced
    with open(result.manifest, newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["status"] == "skipped" and "another run" in row["error"]
    assert list(tmp_path.rglob("*.tmp")) == []


def test_a_rerun_removes_the_temporaries_a_killed_run_left(tmp_path: Path) -> None:
    # issue 11: a killed prediction left hidden .<name>.<pid>.<rand>.tmp files forever
    import subprocess
    import sys

    write_image(tmp_path / "in" / "sub" / "a.png", 40, 40)
    pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True).stdout)
    stale = tmp_path / "out" / "probs" / "sub" / f".a.npy.{pid}.0123abcd.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half of a probability map")
    result = _predict(FirstChannelLogit(), tmp_path / "in", tmp_path / "out", probs="npy")
    assert result.ok == 1 and result.stale_removed == 1
    assert list(tmp_path.rglob("*.tmp")) == []
