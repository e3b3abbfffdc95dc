"""Process-wide settings for running on CPUs: glibc's allocator, so PyTorch's tensors reuse freed memory.

PyTorch's CPU allocator calls ``malloc`` / ``free`` for every tensor. glibc hands out blocks above its mmap
threshold (which it adjusts up to 32 MiB at most) as fresh mappings and returns them on ``free``, and it trims the
top of the heap after frees, so every forward pass touches new pages and the kernel zero-fills them. With the mmap
threshold at 1 GiB and trimming off, repeated forward passes fault no new pages (page faults and prediction times
before and after: bench/README.md, "Prediction").

The price: memory freed by the process is kept for reuse rather than given back, so the resident set stays at its
high-water mark (the figure memory limits are about anyway). jemalloc or tcmalloc via ``LD_PRELOAD`` (what Intel's
PyTorch guides suggest) do the same job; this needs nothing installed. Set ``SEGATTN_MALLOC=default`` to leave
glibc's defaults. Not glibc (macOS, Windows, musl): nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 1 << 30  # only blocks of 1 GiB and more get their own mapping (an 8192² float32 RGB does not)
TRIM_THRESHOLD = 2**31 - 1  # the largest value mallopt takes (an int): never trim

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the settings above once per process; returns whether glibc accepted them."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("SEGATTN_MALLOC", "").lower() == "default" or platform.libc_ver()[0] != "glibc":
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return _done
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
