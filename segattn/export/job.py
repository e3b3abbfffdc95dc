"""What every export shares: the model it starts from, where it goes, and what came out.

An export is: a :class:`~segattn.predict.Segmenter` (from a checkpoint, read once and safely) -> a graph in memory
-> the parity check on the serialised bytes read back -> one atomic write (:func:`segattn.files.write_bytes`).
So a failed export, a failed check or an interrupted run leaves no file, and an existing file is replaced only
with ``overwrite``. The network is exported on the device it is on: the CPU for a checkpoint file (what
``load_checkpoint`` gives); move a ``Segmenter`` with ``.to()`` first to export elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from segattn.files import write_bytes
from segattn.predict import Segmenter

from .parity import ParityError, ParityReport


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str  # "onnx" | "torchscript"
    size_bytes: int
    seconds: float  # reading the checkpoint, graph capture, serialisation and the parity check
    parity: ParityReport
    opset: int | None = None  # ONNX only


def source_segmenter(model: Segmenter | str | Path, *, trust: bool = False) -> Segmenter:
    """``model`` itself, or the :class:`Segmenter` of the checkpoint at that path (``weights_only`` unless
    ``trust``)."""
    return model if isinstance(model, Segmenter) else Segmenter.from_checkpoint(model, trust=trust)


def min_side(net: nn.Module) -> int:
    """The smallest height / width an exported graph takes: one more than the stride the network pads to, so the
    deepest feature map is at least 2 x 2 (``torch.export`` specialises sizes 0 and 1)."""
    return int(getattr(net, "pad_multiple", 1)) + 1


def check_destination(out: Path, *, overwrite: bool) -> None:
    """Before any work: refuse a folder, or an existing file without ``overwrite``."""
    if out.is_dir():
        raise IsADirectoryError(f"--out {out} is a folder; give a file name such as {out / 'model.onnx'}")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists (pass --overwrite to replace it)")


def commit(out: Path, data: bytes, report: ParityReport, *, overwrite: bool) -> None:
    """Write ``data`` to ``out`` atomically if the parity check passed; else raise :class:`ParityError`, no file."""
    if not report.ok:
        raise ParityError(f"{report}; {out} was not written")
    write_bytes(out, data, overwrite=overwrite)
