"""ONNX export: every attention exports with dynamic sizes and passes the parity check, the metadata carries the
preprocessing, a perturbed graph fails the check and leaves no file, and bad files give one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from segattn.attention import ATTENTION_NAMES
from segattn.commands import main
from segattn.export import (
    MissingExtraError,
    ModelFileError,
    OnnxNetwork,
    ParityError,
    check_parity,
    export_onnx,
    load_model,
    load_onnx,
    parity_inputs,
)
from segattn.export import onnx as onnx_export
from segattn.export.onnx_runtime import inference_session
from tests.export.helpers import GROUPS, THREE_CLASSES, TILE, tiny_segmenter

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, object]]:
    """Each group's tiny model exported once: name -> (file, ExportResult)."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("onnx")
    results = {}
    for name in GROUPS:
        results[name] = export_onnx(tiny_segmenter(name), folder / f"{name}.onnx")
        print(name, results[name].parity)
    return {name: (result.path, result) for name, result in results.items()}


def test_the_groups_hold_every_attention() -> None:
    assert sorted(a for group in GROUPS.values() for a in group) == sorted(ATTENTION_NAMES)


@pytest.mark.parametrize("group", GROUPS)
def test_every_attention_exports_and_passes_the_parity_check(group: str, exported) -> None:
    path, result = exported[group]
    assert path.is_file() and result.size_bytes == path.stat().st_size
    assert result.parity.ok and result.parity.max_delta <= 1e-4
    assert result.parity.shapes == ((2, 3, TILE, TILE), (1, 3, TILE // 2 + 1, TILE + TILE // 4 + 3))
    model = onnx.load(str(path))
    assert model.opset_import[0].version == onnx_export.OPSET
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3]))  # batch, height, width


@pytest.mark.parametrize("group", GROUPS)
def test_the_file_takes_other_sizes_and_batches(group: str, exported) -> None:
    """Sizes the check did not use: the smallest the file allows, odd, wide; several in one batch."""
    path, _ = exported[group]
    seg, reference = load_onnx(path), tiny_segmenter(group)
    side = seg.net.min_side
    assert side == 2**4 + 1
    for shape in [(1, 3, side, side), (3, 3, 70, 45), (2, 3, 33, 200)]:
        x = torch.randn(shape)
        report = check_parity(reference.net, seg.net, [x], backend="ONNX Runtime")
        assert report.ok, report
    with pytest.raises(ValueError, match=f"at least {side} x {side}"):
        seg.net(torch.randn(1, 3, side - 1, 40))


def test_metadata_round_trips(exported) -> None:
    path, _ = exported["scse-ge-se-eca"]
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["num_classes"] == "3" and props["output_activation"] == "softmax" and props["in_channels"] == "3"
    assert props["tile"] == str(TILE) and props["min_side"] == "17" and props["segattn_version"]
    assert props["preprocessing"].startswith("read the image as RGB")
    loaded, original = load_onnx(path), tiny_segmenter("scse-ge-se-eca")
    assert loaded.config == original.config == THREE_CLASSES  # every field of PredictConfig
    assert loaded.config.eval_transform is not None  # rebuilt from the specs
    image = np.random.default_rng(0).integers(0, 256, (50, 130, 3), dtype=np.uint8)
    np.testing.assert_array_equal(loaded.predict(image), original.predict(image))


def perturbed(path: Path) -> bytes:
    """The exported file with the segmentation head's weights shifted: a graph that no longer matches PyTorch."""
    model = onnx.load(str(path))
    head = next(t for t in model.graph.initializer if "segmentation_head" in t.name and t.dims and len(t.dims) == 4)
    weights = onnx.numpy_helper.to_array(head).copy()
    weights[0] += 0.05  # one class only: a shift of every class's logits alike would leave the softmax as it is
    head.CopyFrom(onnx.numpy_helper.from_array(weights.astype(np.float32), head.name))
    return model.SerializeToString()


def test_a_perturbed_graph_fails_the_check(exported) -> None:
    path, _ = exported["scse-ge-se-eca"]
    reference = tiny_segmenter("scse-ge-se-eca")
    inputs = parity_inputs(reference.config, 17, device=torch.device("cpu"))
    good = check_parity(reference.net, OnnxNetwork(inference_session(path)), inputs, backend="ONNX Runtime")
    bad = check_parity(reference.net, OnnxNetwork(inference_session(perturbed(path))), inputs, backend="ONNX Runtime")
    assert good.ok and not bad.ok and bad.max_delta > 1e-3
    assert "FAILED" in str(bad)


def test_a_failed_check_leaves_no_file(exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = exported["scse-ge-se-eca"]
    monkeypatch.setattr(onnx_export, "onnx_model", lambda *a, **k: onnx.load_model_from_string(perturbed(path)))
    out = tmp_path / "m.onnx"
    with pytest.raises(ParityError, match="was not written"):
        export_onnx(tiny_segmenter("scse-ge-se-eca"), out)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one


def foreign_onnx(path: Path) -> Path:
    """A valid ONNX model that segattn did not write: y = x, no metadata."""
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["b", 3, "h", "w"])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["b", 3, "h", "w"])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    onnx.save(onnx.helper.make_model(graph), str(path))
    return path


def test_bad_files_give_clear_errors(exported, tmp_path: Path) -> None:
    good, _ = exported["scse-ge-se-eca"]
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx model at all" * 10)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for path in (junk, truncated):
        with pytest.raises(ModelFileError, match=f"{path} is not a readable ONNX model"):
            load_model(path)
    with pytest.raises(ModelFileError, match="carries no segattn metadata"):
        load_model(foreign_onnx(tmp_path / "foreign.onnx"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "missing.onnx")


@pytest.mark.parametrize("kind", ["junk", "foreign", "missing"])
def test_the_predict_command_says_it_in_one_line(kind: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / f"{kind}.onnx"
    if kind == "junk":
        path.write_bytes(b"\x00\x01garbage")
    elif kind == "foreign":
        foreign_onnx(path)
    (tmp_path / "in").mkdir()
    with pytest.raises(SystemExit) as info:
        main(["predict", "--model", str(path), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("segattn predict: error:") and str(path) in err
    assert not (tmp_path / "out").exists()


def test_without_onnxruntime_the_error_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(MissingExtraError, match=r'pip install "segattn\[onnx\]"'):
        load_onnx(foreign_onnx(tmp_path / "m.onnx"))
    (tmp_path / "in").mkdir()
    with pytest.raises(SystemExit) as info:
        main(["predict", "--model", str(tmp_path / "m.onnx"), "--input", str(tmp_path / "in"), "--output", "out"])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2
    assert len(err.splitlines()) == 1 and 'pip install "segattn[onnx]"' in err
