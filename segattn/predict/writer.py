"""Prediction's own files: probability maps streamed strip by strip, and the append-only manifest.

Both go through :mod:`segattn.files` (one atomic write for all of segattn), so an interrupted run leaves no
partial file.

The manifest is a CSV that runs append to (one ``run`` id per invocation), so a rerun never loses
earlier rows; if the existing file has other columns, a new ``manifest-<run>.csv`` is started instead.
Each row is one ``os.write`` to an ``O_APPEND`` descriptor, so processes of one multi-device run can
share the file without interleaving lines.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from segattn.files import atomic_open

MANIFEST_FIELDS = ("run", "input", "output", "size", "seconds", "status", "error", "scale")


class NpyStripWriter:
    """Writes a float32 ``.npy`` of shape (H, W) or (H, W, K) strip by strip, never holding it whole.

    Channels-last so that each finished row strip is one contiguous run of the file. Use as a
    context manager; the file appears at its final name only if every row was written.
    """

    def __init__(self, final: Path, shape: tuple[int, ...], *, overwrite: bool) -> None:
        self.final, self.shape, self.overwrite = final, shape, overwrite
        self._ctx = atomic_open(final, overwrite=overwrite)
        self._rows = 0

    def __enter__(self) -> NpyStripWriter:
        self._f = self._ctx.__enter__()
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False, "shape": self.shape}
        np.lib.format.write_array_header_2_0(self._f, header)
        return self

    def write_rows(self, rows: np.ndarray) -> None:
        if rows.shape[1:] != self.shape[1:]:
            raise ValueError(f"strip shape {rows.shape} does not match {self.shape}")
        self._f.write(np.ascontiguousarray(rows, dtype="<f4").tobytes())
        self._rows += rows.shape[0]

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None and self._rows != self.shape[0]:
            exc = RuntimeError(f"{self.final}: wrote {self._rows} of {self.shape[0]} rows")
            self._ctx.__exit__(type(exc), exc, None)
            raise exc
        self._ctx.__exit__(exc_type, exc, tb)


class Manifest:
    """Append-only CSV of per-image results: run, input, output, size (WxH), seconds, status, error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def choose(output_dir: Path, run: str) -> Manifest:
        """``manifest.csv`` if it is absent or has our columns, else a new ``manifest-<run>.csv``."""
        path = output_dir / "manifest.csv"
        if path.exists() and not _compatible(path):
            path = output_dir / f"manifest-{run}.csv"
        return Manifest(path)

    def create(self) -> None:
        """Create the file with its header if it does not exist yet (call on one process only)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return
        try:
            os.write(fd, _csv_line(MANIFEST_FIELDS))
        finally:
            os.close(fd)

    def append(self, row: dict[str, object]) -> None:
        line = _csv_line([row.get(k, "") for k in MANIFEST_FIELDS])
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def rows(self) -> list[dict[str, str]]:
        with open(self.path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))


def _csv_line(values: object) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(
        [" ".join(str(v).split()) if isinstance(v, str) else v for v in values]  # one line per row
    )
    return buf.getvalue().encode("utf-8")


def _compatible(path: Path) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if not data:
        return False
    first = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    return first == ",".join(MANIFEST_FIELDS) and data.endswith(b"\n")
