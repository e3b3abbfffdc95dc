"""TorchScript export: ``torch.jit.trace`` of the network, for C++ (libtorch) and mobile runtimes.

Tracing records one forward pass; the sizes it reads are recorded as computations, and while tracing every
size-dependent choice in the network takes its branch-free path (:func:`segattn.attention.helpers.exporting`), so
the file takes any batch, height and width >= ``min_side``. The trace is frozen (``torch.jit.freeze``): weights
become constants, layers the forward never runs are dropped (an ``encoder_depth=3`` ResNet keeps no layer3 / layer4)
and BatchNorm is folded into the convolutions; the constants stay on the device the export ran on. The
preprocessing contract (:mod:`.metadata`) is the extra file ``segattn.json`` inside the archive
(``torch.jit.load(path, _extra_files={"segattn.json": ""})``). The parity check runs the archive as written, loaded
back.

PyTorch marks ``torch.jit.trace`` deprecated in favour of ``torch.export``; it is still the only way to a file a
libtorch program loads, so its warnings are silenced here and the parity check stands guard.
"""

from __future__ import annotations

import io
import json
import time
import warnings
import zipfile
from pathlib import Path

import torch

from segattn.predict import Segmenter

from .job import ExportResult, check_destination, commit, min_side, source_segmenter
from .metadata import ModelFileError, read_contract, write_contract
from .parity import TOLERANCE, ExportFailed, check_parity, parity_inputs

EXTRA_FILE = "segattn.json"


def export_torchscript(
    model: Segmenter | str | Path,
    out: str | Path,
    *,
    tolerance: float = TOLERANCE,
    overwrite: bool = False,
    trust: bool = False,
) -> ExportResult:
    """Export a checkpoint (path) or a :class:`Segmenter` to ``out`` as TorchScript; see the module docstring.

    Raises :class:`~segattn.export.parity.ParityError` (nothing written) when the loaded archive's probabilities
    differ from the network's by more than ``tolerance``, :class:`~segattn.export.parity.ExportFailed` when tracing
    fails.
    """
    out = Path(out)
    check_destination(out, overwrite=overwrite)
    start = time.perf_counter()
    seg = source_segmenter(model, trust=trust)
    net, side = seg.net.eval(), min_side(seg.net)
    inputs = parity_inputs(seg.config, side, device=seg.device)
    contract = write_contract(seg.config, min_side=side, network=getattr(net, "config", None))
    data = torchscript_bytes(net, inputs[0], extra={EXTRA_FILE: json.dumps(contract, indent=1)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.* deprecation notes
        loaded = torch.jit.load(io.BytesIO(data), map_location=seg.device)
    report = check_parity(net, loaded, inputs, backend="TorchScript", tolerance=tolerance)
    commit(out, data, report, overwrite=overwrite)
    return ExportResult(out, "torchscript", len(data), time.perf_counter() - start, report)


def torchscript_bytes(net: torch.nn.Module, example: torch.Tensor, *, extra: dict[str, str]) -> bytes:
    """The traced ``net`` (eval mode) as a TorchScript archive holding the ``extra`` files."""
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecation and tracer notes; the parity check judges the result
            traced = torch.jit.trace(net, (example,), check_trace=False)
            torch.jit.save(torch.jit.freeze(traced), buffer, _extra_files=extra)
    except Exception as err:  # noqa: BLE001 - the tracer raises many kinds; report the first line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        raise ExportFailed(f"torch.jit.trace could not trace the network: {type(err).__name__}: {first}") from err
    return buffer.getvalue()


def load_torchscript(path: str | Path, *, map_location: str | torch.device | None = None) -> Segmenter:
    """A :class:`Segmenter` running the TorchScript archive at ``path``, preprocessing from its ``segattn.json``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model {path} does not exist" if not path.exists() else f"model {path} is a folder")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is not a TorchScript archive (not a zip file)")
    extra = {EXTRA_FILE: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location=map_location, _extra_files=extra)
    except Exception as err:  # noqa: BLE001 - torch.jit.load raises RuntimeError subclasses with long messages
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        raise ModelFileError(f"{path} is not a readable TorchScript archive ({first})") from err
    try:
        props = json.loads(extra[EXTRA_FILE] or "{}")
    except ValueError as err:
        raise ModelFileError(f"{path}: its {EXTRA_FILE} is not JSON ({err}); export the model again") from err
    contract = read_contract(props, path)
    return Segmenter(module.eval(), contract.config)
