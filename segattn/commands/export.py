"""``segattn export``: a checkpoint -> one ONNX or TorchScript file that carries its preprocessing, parity-checked.

    segattn export --ckpt_path runs/x/best.ckpt --out walls.onnx
    segattn export --ckpt_path best.ckpt --format torchscript --out walls.pt
    segattn predict --model walls.onnx --input scans/ --output out/     # ONNX Runtime, the same tiling and files

The format follows ``--format``, else the file name (``.pt`` / ``.ts`` / ``.torchscript``: TorchScript, otherwise
ONNX). Every export ends with the parity check (printed): the exported file, read back, against PyTorch on two
input sizes; past the tolerance nothing is written and the exit status is 1, as it is when the exporter fails.
Usage errors exit with 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from jsonargparse import ActionYesNo

from .errors import USER_ERRORS, run_command
from .parsers import CommandParser, parse

Format = Literal["onnx", "torchscript"]
TORCHSCRIPT_SUFFIXES = (".pt", ".ts", ".torchscript")


def parser() -> CommandParser:
    p = CommandParser("segattn export", "Export a checkpoint to ONNX or TorchScript, with its preprocessing inside.")
    p.add_argument("--ckpt_path", "--ckpt", type=str, required=True, help="checkpoint written by `segattn fit`")
    p.add_argument("--out", type=Path, required=True, help="the file to write, e.g. model.onnx or model.pt")
    p.add_argument("--format", type=Format | None, default=None, help="onnx or torchscript (default: from --out)")
    p.add_argument("--opset", type=int | None, default=None, help="ONNX opset (default: the newest segattn checked)")
    p.add_argument("--tolerance", type=float | None, default=None, help="parity: largest |Δ probability| allowed")
    p.add_argument("--overwrite", action=ActionYesNo, default=False, help="replace an existing --out")
    p.add_argument("--trust_checkpoint", action=ActionYesNo, default=False, help="allow full unpickling (trusted)")
    return p


def file_format(out: Path, given: str | None) -> str:
    if given is not None:
        return given
    return "torchscript" if out.suffix.lower() in TORCHSCRIPT_SUFFIXES else "onnx"


def main(argv: list[str] | None = None) -> int:
    ns = parse(parser(), argv)
    from segattn.export import ExportFailed, MissingExtraError

    def run() -> int:
        if ns.tolerance is not None and ns.tolerance <= 0:
            raise ValueError(f"--tolerance must be > 0, got {ns.tolerance}")
        kind = file_format(ns.out, ns.format)
        try:
            result = _export(kind, ns)
        except ExportFailed as err:  # not a usage error: the model does not export faithfully
            sys.stderr.write(f"segattn export: failed: {err}\n")
            return 1
        print(result.parity)
        opset = f", opset {result.opset}" if result.opset is not None else ""
        print(
            f"wrote {result.path} ({kind}{opset}, {result.size_bytes / 2**20:.1f} MiB) in {result.seconds:.1f} s; "
            f"predict with: segattn predict --model {result.path} --input IMAGES --output OUT"
        )
        return 0

    return run_command("segattn export", run, user_errors=(*USER_ERRORS, MissingExtraError))


def _export(kind: str, ns):
    from segattn.export import OPSET, TOLERANCE, export_onnx, export_torchscript

    tolerance = TOLERANCE if ns.tolerance is None else ns.tolerance
    common = {"tolerance": tolerance, "overwrite": ns.overwrite, "trust": ns.trust_checkpoint}
    if kind == "onnx":
        return export_onnx(ns.ckpt_path, ns.out, opset=OPSET if ns.opset is None else ns.opset, **common)
    return export_torchscript(ns.ckpt_path, ns.out, **common)
