"""TorchScript export: every attention traces to a file that takes any size and passes the parity check; the
preprocessing travels in ``segattn.json``; bad archives give clear errors."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch

from segattn.export import ModelFileError, check_parity, export_torchscript, load_model, load_torchscript
from tests.export.helpers import CONFIGS, GROUPS, TILE, tiny_segmenter


@pytest.mark.parametrize("group", GROUPS)
def test_every_attention_traces_and_passes_the_parity_check(group: str, tmp_path: Path) -> None:
    seg = tiny_segmenter(group)
    result = export_torchscript(seg, tmp_path / "m.pt")
    assert result.parity.ok and result.parity.max_delta <= 1e-4
    assert result.parity.shapes == ((2, 3, TILE, TILE), (1, 3, TILE // 2 + 1, TILE + TILE // 4 + 3))
    loaded = load_model(result.path)  # a zip: the TorchScript backend
    assert loaded.config == CONFIGS[group]  # the metadata round trip
    for shape in [(1, 3, 17, 17), (3, 3, 70, 45), (1, 3, 33, 200)]:  # sizes the trace never saw
        report = check_parity(seg.net, loaded.net, [torch.randn(shape)], backend="TorchScript")
        assert report.ok, report
    extra = {"segattn.json": ""}
    torch.jit.load(str(result.path), _extra_files=extra)
    assert json.loads(extra["segattn.json"])["min_side"] == "17"


@pytest.mark.filterwarnings("ignore:`torch.jit.:FutureWarning")
def test_bad_archives_give_clear_errors(tmp_path: Path) -> None:
    plain = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(torch.nn.Identity()), str(plain))  # TorchScript, but not from segattn export
    with pytest.raises(ModelFileError, match="carries no segattn metadata"):
        load_torchscript(plain)
    junk = tmp_path / "junk.pt"
    with zipfile.ZipFile(junk, "w") as z:
        z.writestr("hello.txt", "not a TorchScript archive")
    with pytest.raises(ModelFileError, match=f"{junk} is not a readable TorchScript archive"):
        load_torchscript(junk)
    not_zip = tmp_path / "not_zip.pt"
    not_zip.write_bytes(b"abc")
    with pytest.raises(ModelFileError, match="not a zip file"):
        load_torchscript(not_zip)
