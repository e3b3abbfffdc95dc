"""The ONNX Runtime backend: an exported ``.onnx`` file as a network the rest of segattn runs unchanged.

:class:`OnnxNetwork` is an ``nn.Module`` whose forward hands the batch to an ``onnxruntime.InferenceSession`` and
returns the logits on the input's device, so :class:`~segattn.predict.Segmenter` and the Lightning prediction
engine (tiling, blending, test-time augmentation, manifest, resume) work on it exactly as on the PyTorch network.
:func:`load_onnx` rebuilds the :class:`~segattn.predict.PredictConfig` from the file's metadata
(:mod:`.metadata`), so the file is all a deployment needs. Only ``onnxruntime`` is imported here, not ``onnx``.

The session uses ONNX Runtime's available execution providers in its own order of preference (the CPU on a plain
install) and, unless told otherwise, as many threads as PyTorch does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from segattn.predict import Segmenter

from .extras import require
from .metadata import ModelFileError, read_contract


class OnnxNetwork(nn.Module):
    """An ONNX Runtime session as a network: (B, C, H, W) float32 -> logits (B, K, H, W) on the input's device."""

    def __init__(self, session: Any, *, min_side: int = 1) -> None:
        super().__init__()
        self.session, self.min_side = session, min_side
        (graph_input,) = session.get_inputs()
        self.input_name = graph_input.name
        self.output_name = session.get_outputs()[0].name

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, K, H, W)
        if min(x.shape[-2:]) < self.min_side:
            raise ValueError(
                f"the ONNX model takes images of at least {self.min_side} x {self.min_side} pixels, got "
                f"{tuple(x.shape[-2:])}; use a larger --tile"
            )
        array = x.detach().float().contiguous().numpy(force=True)  # (B, C, H, W) float32, NCHW
        (logits,) = self.session.run([self.output_name], {self.input_name: array})
        return torch.from_numpy(logits).to(x.device)

    def extra_repr(self) -> str:
        return f"input={self.input_name!r}, output={self.output_name!r}, min_side={self.min_side}"


def inference_session(model: bytes | str | Path, *, threads: int | None = None, providers: Sequence[str] | None = None):
    """An ``onnxruntime.InferenceSession`` for a file or serialised bytes; :class:`ModelFileError` if unreadable."""
    ort = require("onnxruntime", "running an ONNX model")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.log_severity_level = 3  # errors only: no warnings about providers or unused initialisers
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, options, providers=list(providers or ort.get_available_providers()))
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own classes (InvalidProtobuf, Fail, ...)
        where = "the exported bytes" if isinstance(model, bytes) else str(model)
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        raise ModelFileError(f"{where} is not a readable ONNX model ({first})") from err


def load_onnx(path: str | Path, *, threads: int | None = None, providers: Sequence[str] | None = None) -> Segmenter:
    """A :class:`Segmenter` running the ``.onnx`` file at ``path`` with ONNX Runtime, preprocessing from its metadata.

    Raises ``FileNotFoundError``, :class:`~segattn.export.metadata.ModelFileError` (not ONNX, not from
    ``segattn export``, damaged) or :class:`~segattn.export.extras.MissingExtraError` (no onnxruntime).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model {path} does not exist" if not path.exists() else f"model {path} is a folder")
    session = inference_session(path, threads=threads, providers=providers)
    contract = read_contract(session.get_modelmeta().custom_metadata_map, path)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4 or len(outputs) < 1:
        raise ModelFileError(
            f"{path} has {len(inputs)} inputs / {len(outputs)} outputs; a segattn model has one (B, C, H, W) image "
            "input and a logits output"
        )
    return Segmenter(OnnxNetwork(session, min_side=contract.min_side), contract.config)
