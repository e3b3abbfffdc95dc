"""What a user installs: the wheel carries the configs, the packaged models and the license; configs resolve by
name from any folder."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from segattn.commands import main
from segattn.commands.configs import packaged_configs
from segattn.pretrained import PRETRAINED

REPO = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_every_config_and_the_license(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("segattn-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"segattn/configs/{p.name}" for p in packaged_configs().values()} <= names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert {f"segattn/pretrained/{file}" for file in PRETRAINED.values()} <= names  # --ckpt_path walls after install
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "License-Expression: MIT" in metadata


def test_a_config_name_works_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # no configs/ here
    with pytest.raises(SystemExit) as info:
        main(["fit", "--config", "quickstart", "--print_config"])
    assert info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["data"]["class_path"] == "segattn.data.FloorplanData"
    assert main(["init", "mine"]) == 0
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == sorted(p.name for p in packaged_configs().values())
    (tmp_path / "mine" / "quickstart.yaml").write_text("# my edits\n")
    assert main(["init", "mine"]) == 0  # a second init keeps the user's edits
    assert (tmp_path / "mine" / "quickstart.yaml").read_text() == "# my edits\n"
    assert "kept your" in capsys.readouterr().out
