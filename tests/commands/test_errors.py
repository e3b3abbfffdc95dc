"""Every user error, in every command, is one line ``segattn <command>: error: ...`` and exit status 2 (issue 11);
``--debug`` / ``SEGATTN_DEBUG=1`` shows the traceback instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from segattn.commands import main
from tests.test_cli import TINY


def _fails(argv: list[str], capsys, *expect: str) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2, err
    assert "Traceback" not in err and "usage:" not in err, err
    command = argv[0]
    assert err.startswith(f"segattn {command}: error: "), err
    for text in expect:
        assert text in err, (text, err)
    return err


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_setup_errors_of_fit_are_one_line(tiny: Path, tmp_path: Path, capsys) -> None:
    _fails(["fit", "--config", str(tiny), "--data.val_samples", "0"], capsys, "val floor plan count must be >= 1")
    folder = tmp_path / "folder.yaml"
    folder.write_text(
        TINY.replace("segattn.data.FloorplanData", "segattn.data.FolderData")
        .replace("init_args: {image_size: 64,", f"init_args: {{root: {tmp_path / 'missing'},")
        .replace(", train_samples: 2, val_samples: 2, test_samples: 2", "")
    )
    _fails(["fit", "--config", str(folder)], capsys, "missing does not exist")


def test_an_attention_typo_is_one_short_line(tiny: Path, capsys) -> None:
    err = _fails(["fit", "--config", str(tiny), "--model.net.init_args.attention", "sqeeze"], capsys, "'sqeeze'")
    assert len(err.splitlines()) == 1 and "choose from none, se, eca, cbam" in err


def test_predict_output_problems_are_one_line(tiny_ckpt: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "a_file").write_text("x")
    base = ["predict", "--ckpt_path", str(tiny_ckpt), "--input", str(tmp_path / "in")]
    _fails([*base, "--output", str(tmp_path / "a_file")], capsys, "is not a folder")
    _fails([*base, "--output", str(tmp_path / "a_file" / "out")], capsys, "is not writable")
    _fails([*base, "--output", str(tmp_path / "o"), "--overlap", "1.5"], capsys, "--overlap must be in [0, 1)")
    _fails(["predict", "--ckpt_path", str(tmp_path / "none.ckpt"), "--input", ".", "--output", "o"], capsys, "none")


def test_floorplans_out_not_writable_is_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "a_file").write_text("x")
    _fails(["floorplans", "--out", str(tmp_path / "a_file" / "plans"), "--n", "1", "--size", "64"], capsys, "a_file")


def test_debug_shows_the_traceback(tiny: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGATTN_DEBUG", "0")  # restored after the test, whatever --debug sets
    with pytest.raises(SystemExit) as info:
        main(["fit", "--debug", "--config", str(tiny), "--data.val_samples", "0"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("segattn fit: error: val floor plan count")


def test_scale_auto_without_a_reference_width_is_one_line(tiny_ckpt: Path, tmp_path: Path, capsys) -> None:
    import torch

    ckpt = torch.load(tiny_ckpt, weights_only=True)
    ckpt.pop("FloorplanData")  # as a checkpoint written before segattn kept the training thickness
    old = tmp_path / "old.ckpt"
    torch.save(ckpt, old)
    (tmp_path / "in").mkdir()
    argv = ["predict", "--ckpt_path", str(old), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o")]
    _fails([*argv, "--scale", "auto"], capsys, "foreground thickness", "--scale 0.5")
    _fails([*argv, "--scale", "big"], capsys, "--scale takes a factor")
