"""Files that are either complete or absent: the one atomic write every part of segattn uses.

A file is written to a hidden temporary name beside its final path (``.<name>.<host>.<pid>.<random>.tmp``),
flushed and fsynced, then renamed into place, so an interrupted run leaves no partial output and a rerun takes
only final names as done. Without ``overwrite`` the rename is a hard link, which fails if the final name appeared
meanwhile, so an existing file is never replaced, even by a concurrent run. A run killed before it could clean up
(SIGKILL, power loss) leaves its temporary files behind; :func:`remove_stale_temporaries` removes those whose
process, on this host, no longer exists, and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

TMP_SUFFIX = ".tmp"
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"
# this host's ".<name>.<host>.<pid>.<8 hex>.tmp", and 0.1's ".<name>.<pid>.<8 hex>.tmp" (no host; outputs only)
_STALE = (
    re.compile(rf"^\..+\.{re.escape(_HOST)}\.(?P<pid>\d+)\.[0-9a-f]{{8}}\.tmp$"),
    re.compile(r"^\..+\.(?:png|jpg|npy)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$"),
)


def temp_path(final: Path) -> Path:
    """The hidden temporary name ``final`` is written under before it is renamed into place."""
    return final.with_name(f".{final.name}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}{TMP_SUFFIX}")


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
    final = Path(final)
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
    """``final`` holds ``data``, written atomically (see the module docstring)."""
    with atomic_open(final, overwrite=overwrite) as f:
        f.write(data)


def write_text(final: Path, text: str, *, overwrite: bool) -> None:
    write_bytes(final, text.encode("utf-8"), overwrite=overwrite)


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
    no host); a file whose process still runs (another run writing into the same folder) or that another host
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
