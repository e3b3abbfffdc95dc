"""Any exported file back to a :class:`~segattn.predict.Segmenter`: the backend is chosen from the file's content.

A TorchScript archive is a zip file (PyTorch runs it); anything else is taken for ONNX (ONNX Runtime runs it, and
says so clearly if it is not). The preprocessing comes from the file's own metadata in both cases.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from segattn.predict import Segmenter

from .onnx_runtime import load_onnx
from .torchscript import load_torchscript


def load_model(path: str | Path, *, threads: int | None = None) -> Segmenter:
    """The :class:`Segmenter` of an exported ``.onnx`` or TorchScript file (``threads``: ONNX Runtime's)."""
    path = Path(path)
    if path.is_file() and zipfile.is_zipfile(path):
        return load_torchscript(path)
    return load_onnx(path, threads=threads)
