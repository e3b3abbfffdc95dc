"""Files that are either complete or absent: atomic writes, no-clobber commits, an append-only manifest.

Every output is written to a hidden temporary name beside its final path (``.<name>.<host>.<pid>.<random>.tmp``),
flushed and fsynced, then renamed into place — so an interrupted run leaves no partial output and a rerun
takes only final names as done. Without ``overwrite`` the rename is a hard link, which fails if the
final name appeared meanwhile, so an existing file is never replaced even by a concurrent run. A run killed
before it could clean up (SIGKILL, power loss) leaves its temporary files behind; the next run removes those
whose process, on this host, no longer exists (:func:`remove_stale_temporaries`), and nothing else.

The manifest is a CSV that runs append to (one ``run`` id per invocation), so a rerun never loses
earlier rows; if the existing file has other columns, a new ``manifest-<run>.csv`` is started instead.
Each row is one ``os.write`` to an ``O_APPEND`` descriptor, so processes of one multi-device run can
share the file without interleaving lines.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import secrets
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

MANIFEST_FIELDS = ("run", "input", "output", "size", "seconds", "status", "error")
TMP_SUFFIX = ".tmp"
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"
# this host's ".<name>.<host>.<pid>.<8 hex>.tmp", and 0.1's ".<name>.<pid>.<8 hex>.tmp" (no host; outputs only)
_STALE = (
    re.compile(rf"^\..+\.{re.escape(_HOST)}\.(?P<pid>\d+)\.[0-9a-f]{{8}}\.tmp$"),
    re.compile(r"^\..+\.(?:png|jpg|npy)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$"),
)


def temp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}{TMP_SUFFIX}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but is not ours (EPERM), or the platform cannot tell: keep its files
        return True
    return True


def remove_stale_temporaries(folders: Iterable[Path]) -> list[Path]:
    """Delete, in ``folders`` (not below them), the temporary files of runs on this host that no longer exist.

    Only names of :func:`temp_path`'s pattern with this host's name are considered (and 0.1's pattern, which had
    no host); a file whose process still runs (another prediction into the same folder) or that another host
    wrote is kept. Returns the removed paths.
    """
    removed = []
    for folder in dict.fromkeys(Path(f) for f in folders):
        try:
            entries = list(os.scandir(folder))
        except OSError:  # not created yet, or unreadable: nothing of ours can be there
            continue
        for entry in entries:
            m = next((m for m in (r.match(entry.name) for r in _STALE) if m), None)
            if m is None or not entry.is_file(follow_symlinks=False) or _alive(int(m["pid"])):
                continue
            with contextlib.suppress(FileNotFoundError):  # another run may be sweeping too
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def commit(tmp: Path, final: Path, *, overwrite: bool) -> None:
    """Move a finished ``tmp`` to ``final``; without ``overwrite`` never replace an existing ``final``."""
    if overwrite:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)  # atomic and fails if `final` exists
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        raise FileExistsError(f"{final} already exists (pass --overwrite to replace it)") from None
    except OSError:  # filesystem without hard links: check, then rename (a race here is only with another run)
        if final.exists():
            tmp.unlink(missing_ok=True)
            raise FileExistsError(f"{final} already exists (pass --overwrite to replace it)") from None
        os.replace(tmp, final)
    else:
        tmp.unlink()


@contextmanager
def atomic_open(final: Path, *, overwrite: bool) -> Iterator[BinaryIO]:
    """Open a temporary file for writing; on success it becomes ``final``, on any error it is removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    try:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        commit(tmp, final, overwrite=overwrite)
    except BaseException:  # includes KeyboardInterrupt: never leave a temporary file behind
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(final: Path, data: bytes, *, overwrite: bool) -> None:
    with atomic_open(final, overwrite=overwrite) as f:
        f.write(data)


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
