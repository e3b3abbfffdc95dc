"""Optional dependencies: ONNX export and the ONNX Runtime backend need ``pip install "segattn[onnx]"``.

PyTorch alone runs everything else (TorchScript export included), so ``onnx``, ``onnxscript`` (the exporter's
translator) and ``onnxruntime`` are an extra, imported only when an ONNX file is written or read.
"""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRA = 'pip install "segattn[onnx]"'


class MissingExtraError(ImportError):
    """An optional package is not installed; the message names the extra that brings it."""


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError`: ``<purpose> needs <module>: pip install ...``."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(f"{purpose} needs the package {module!r}, which is not installed: {EXTRA}") from err
