"""``segattn explain``: a gallery from a checkpoint and a folder; one-line errors with exit 2; failed images listed."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
import torch

from segattn.commands import main

from .helpers import plan_image


def _folder(root: Path, n: int = 2) -> Path:
    (root / "sub").mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(root / "sub" / f"plan_{i}.png"), plan_image(64, 48 + 8 * i, seed=i))
    return root


def test_explain_writes_a_gallery_for_a_folder(tiny_ckpt: Path, tmp_path: Path, capsys) -> None:
    images = _folder(tmp_path / "in")
    (images / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    args = ["--ckpt-path", str(tiny_ckpt), "--input", str(images), "--out", str(out), "--points", "5,6"]
    status = main(["explain", *args])
    assert status == 1  # one image failed, the others were explained
    assert "2 images explained, 1 failed" in capsys.readouterr().out
    index = json.loads((out / "explain.json").read_text())
    assert [im["name"] for im in index["images"]] == ["sub/plan_0.png", "sub/plan_1.png"]
    assert index["images"][0]["tiles"] == 6  # 64 high, 48 wide, in tiles of the training crop (32): 3 x 2
    assert index["failed"][0]["name"] == "broken.png"
    assert {a["name"] for a in index["images"][0]["attention"]} == {"scse"}
    assert all((out / f).is_file() for f in index["files"])
    with pytest.raises(SystemExit) as exit_:  # an existing gallery needs --overwrite
        main(["explain", "--ckpt_path", str(tiny_ckpt), "--input", str(images), "--out", str(out)])
    assert exit_.value.code == 2 and "--overwrite" in capsys.readouterr().err


def _without_attention(ckpt: Path, path: Path) -> Path:
    state = torch.load(ckpt, weights_only=True)
    state["hyper_parameters"]["net"]["attention"] = None
    state["state_dict"] = {k: v for k, v in state["state_dict"].items() if ".attention" not in k}
    torch.save(state, path)
    return path


@pytest.mark.parametrize(
    "args, message",
    [
        (["--points", "3;4"], "--points: '3' is not x,y"),
        (["--overlap", "1.5"], "--overlap must be in [0, 1)"),
        (["--auto_points", "-1"], "--auto_points must be >= 0"),
    ],
)
def test_usage_errors_are_one_line(tiny_ckpt: Path, tmp_path: Path, capsys, args, message) -> None:
    images = _folder(tmp_path / "in", 1)
    with pytest.raises(SystemExit) as exit_:
        main(["explain", "--ckpt_path", str(tiny_ckpt), "--input", str(images), "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_model_without_attention_exits_2_before_reading_images(tiny_ckpt: Path, tmp_path: Path, capsys) -> None:
    plain = _without_attention(tiny_ckpt, tmp_path / "plain.ckpt")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        main(["explain", "--ckpt_path", str(plain), "--input", str(tmp_path / "missing"), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith("segattn explain: error: the model has no attention in its decoder")
    assert not out.exists()  # no empty gallery
