"""``segattn export`` from a real checkpoint, and ``segattn predict --model``: the ONNX Runtime backend writes the
same masks as the checkpoint through the same tiling, blending, TTA, manifest and resume."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segattn.commands import main
from segattn.commands.export import file_format
from segattn.data.floorplans import write_floorplans
from segattn.export import torchscript as torchscript_export
from tests.predict.helpers import write_image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def exported(tiny_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The tiny checkpoint exported by the command: (file, what it printed)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("export") / "tiny.onnx"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["export", "--ckpt_path", str(tiny_ckpt), "--out", str(out)]) == 0
    return out, printed.getvalue()


def test_the_command_writes_the_file_and_prints_the_parity_check(exported) -> None:
    path, printed = exported
    assert path.is_file()
    check, wrote = printed.strip().splitlines()
    assert check.startswith("parity ONNX Runtime vs PyTorch") and check.endswith(": ok")
    assert "2x3x32x32" in check and "1x3x17x43" in check  # the tile batch and an odd single image
    assert wrote.startswith(f"wrote {path} (onnx, opset 23,")


def predict(*args: object) -> int:
    return main(["predict", *(str(a) for a in args), "--no_progress"])


def masks(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted((folder / "masks").glob("*.png"))}


def test_the_exported_model_predicts_a_folder_like_the_checkpoint(exported, tiny_ckpt: Path, tmp_path: Path) -> None:
    path, _ = exported
    write_floorplans(tmp_path / "plans", 3, size=(70, 100))
    write_image(tmp_path / "plans" / "images" / "small.png", 20, 25, seed=3)  # smaller than a tile: padded
    common = ["--input", tmp_path / "plans" / "images", "--tta", "flip", "--save_probs", "--probs_format", "npy"]
    assert predict("--ckpt_path", tiny_ckpt, "--output", tmp_path / "torch", *common) == 0
    assert predict("--model", path, "--output", tmp_path / "onnx", *common) == 0
    want, got = masks(tmp_path / "torch"), masks(tmp_path / "onnx")
    assert sorted(got) == sorted(want) and len(got) == 4
    same = sum(int((got[k] == want[k]).sum()) for k in want)
    assert same / sum(m.size for m in want.values()) >= 0.9999
    for name in want:
        stem = Path(name).stem
        probs = [np.load(tmp_path / run / "probs" / f"{stem}.npy") for run in ("torch", "onnx")]
        assert np.abs(probs[0] - probs[1]).max() <= 1e-4
    assert (tmp_path / "onnx" / "manifest.csv").is_file()
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "onnx" / "masks").iterdir()}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert predict("--model", path, "--output", tmp_path / "onnx", *common) == 0  # a rerun resumes
    assert "0 written, 4 already done" in printed.getvalue()
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "onnx" / "masks").iterdir()}


def test_an_existing_file_needs_overwrite(exported, tiny_ckpt: Path, capsys) -> None:
    path, _ = exported
    with pytest.raises(SystemExit) as info:
        main(["export", "--ckpt_path", str(tiny_ckpt), "--out", str(path)])
    err = capsys.readouterr().err.strip()
    assert (
        info.value.code == 2 and err == f"segattn export: error: {path} already exists (pass --overwrite to replace it)"
    )


def test_both_or_neither_model_and_checkpoint_is_a_usage_error(exported, tiny_ckpt: Path, tmp_path: Path, capsys):
    path, _ = exported
    for args in (["--model", path, "--ckpt_path", tiny_ckpt], [], ["--ckpt_path", path], ["--model", tiny_ckpt]):
        with pytest.raises(SystemExit) as info:
            predict(*args, "--input", tmp_path, "--output", tmp_path / "out")
        assert info.value.code == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


class Shifted(torch.nn.Module):
    """A loaded archive whose logits are off by 0.01: what a perturbed exported graph computes."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x) + 0.01


def test_a_failing_parity_check_exits_1_and_writes_nothing(
    tiny_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    real_load = torch.jit.load
    monkeypatch.setattr(torchscript_export.torch.jit, "load", lambda *a, **k: Shifted(real_load(*a, **k)))
    out = tmp_path / "tiny.pt"
    assert main(["export", "--ckpt_path", str(tiny_ckpt), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("segattn export: failed: parity TorchScript vs PyTorch") and "FAILED" in err
    assert err.endswith(f"{out} was not written") and list(tmp_path.iterdir()) == []


def test_the_format_follows_the_file_name_unless_given() -> None:
    assert file_format(Path("m.onnx"), None) == "onnx" and file_format(Path("m.PT"), None) == "torchscript"
    assert file_format(Path("m.ts"), None) == "torchscript" and file_format(Path("model"), None) == "onnx"
    assert file_format(Path("m.bin"), "torchscript") == "torchscript"
