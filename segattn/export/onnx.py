"""ONNX export: ``torch.onnx.export`` (the ``torch.export``-based exporter) with dynamic batch, height and width.

The graph takes ``image`` (batch, in_channels, height, width) float32 with height, width >= ``min_side`` and gives
``logits`` of the same height and width: it pads and crops itself, as :class:`~segattn.models.AttentionUnet` does
(while exporting, every size-dependent choice in the network takes its branch-free path, see
:func:`segattn.attention.helpers.exporting`). The preprocessing contract (:mod:`.metadata`) goes into the file's
``metadata_props``; the parity check (:mod:`.parity`) runs ONNX Runtime on the serialised bytes before anything
is written.

``OPSET`` 23 is the newest opset every registered attention was exported at and checked in (the exporter writes
SDPA as the ``Attention`` operator from 23 on); ``opset`` lowers it for older runtimes.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import torch

from segattn.predict import Segmenter

from .extras import require
from .job import ExportResult, check_destination, commit, min_side, source_segmenter
from .metadata import INPUT_NAME, OUTPUT_NAME, write_contract
from .onnx_runtime import OnnxNetwork, inference_session
from .parity import TOLERANCE, ExportFailed, check_parity, parity_inputs

OPSET = 23


def export_onnx(
    model: Segmenter | str | Path,
    out: str | Path,
    *,
    opset: int = OPSET,
    tolerance: float = TOLERANCE,
    overwrite: bool = False,
    trust: bool = False,
) -> ExportResult:
    """Export a checkpoint (path) or a :class:`Segmenter` to ``out`` as ONNX; see the module docstring.

    Raises :class:`~segattn.export.parity.ParityError` (nothing written) when ONNX Runtime's probabilities differ
    from PyTorch's by more than ``tolerance``, :class:`~segattn.export.parity.ExportFailed` when the exporter fails.
    """
    out = Path(out)
    check_destination(out, overwrite=overwrite)
    onnx = require("onnx", "ONNX export")
    require("onnxscript", "ONNX export")  # torch.onnx's translator: fail here, in one line, not inside torch
    start = time.perf_counter()
    seg = source_segmenter(model, trust=trust)
    net, side = seg.net.eval(), min_side(seg.net)
    inputs = parity_inputs(seg.config, side, device=seg.device)
    proto = onnx_model(net, inputs[0], side, opset=opset)
    onnx.helper.set_model_props(proto, write_contract(seg.config, min_side=side, network=getattr(net, "config", None)))
    proto.doc_string = "segattn model: see the metadata_props for the input's preprocessing and the output"
    data = proto.SerializeToString()
    exported = OnnxNetwork(inference_session(data), min_side=side)
    report = check_parity(net, exported, inputs, backend="ONNX Runtime", tolerance=tolerance)
    commit(out, data, report, overwrite=overwrite)
    return ExportResult(out, "onnx", len(data), time.perf_counter() - start, report, opset)


def onnx_model(net: torch.nn.Module, example: torch.Tensor, side: int, *, opset: int = OPSET):
    """The ``onnx.ModelProto`` of ``net`` (eval mode) with dynamic batch, height and width (>= ``side``)."""
    batch = torch.export.Dim("batch", min=1)
    height, width = torch.export.Dim("height", min=side), torch.export.Dim("width", min=side)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's own deprecation notes, not the user's business
            program = torch.onnx.export(
                net,
                (example,),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: batch, 2: height, 3: width},),
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
    except Exception as err:  # noqa: BLE001 - torch.export / torch.onnx raise many kinds; report the first line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        raise ExportFailed(f"torch.onnx could not export the network: {type(err).__name__}: {first}") from err
    return program.model_proto
