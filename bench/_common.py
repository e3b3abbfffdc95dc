"""Shared helpers for the benchmark scripts in bench/ (benchmarks, not tests: they print what they measure).

- ``machine_info``: what ran the benchmark (CPU, threads, load, library versions, git commit, GPU).
- ``interleaved_times``: every candidate timed once per round, round after round (A B C, C B A, A B C, ...), so
  noise from other processes on a shared machine hits all candidates alike; ``median`` / ``median_ratio``
  summarise the rounds (a ratio is the median of the per-round ratios, not a ratio of medians).
- ``peak_memory_bytes``: extra peak tensor memory of one call, on CUDA from the caching allocator's statistics,
  on CPU from the allocations and frees the CPU allocator reports to ``torch.profiler`` (``profile_memory``),
  replayed in time order. ``rss_peak_bytes`` / ``run_isolated``: the operating system's view instead (resident
  set high-water mark, Linux), measured in a fresh subprocess; ``proc_status_bytes``: one such figure as it is
  (e.g. the absolute high-water mark ``VmHWM``, not only the part above the start).
- ``write_json`` / ``RESULTS_DIR``: results go to ``bench/results/<name>.json``.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parents[1]
_PACKAGES = ("torch", "numpy", "lightning", "segmentation-models-pytorch", "timm", "torchmetrics")

# glibc keeps freed blocks below its (adaptive) mmap threshold in the heap, where they still count as resident.
# A fixed, low threshold makes every large tensor its own mapping, returned to the system when freed, so the
# resident set follows the live tensors and a high-water mark measures one call.
ISOLATED_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}


def machine_info(device: str | torch.device = "cpu") -> dict:
    """CPU / GPU, threads, load, Python and library versions, git commit and time of the run."""
    info: dict = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": {name: _version(name) for name in _PACKAGES},
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "device": str(device),
    }
    if torch.device(device).type == "cuda":
        index = torch.device(device).index or 0
        info["cuda"] = {
            "name": torch.cuda.get_device_name(index),
            "cuda_version": torch.version.cuda,
            "cudnn_version": torch.backends.cudnn.version(),
        }
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_times(
    fns: Mapping[str, Callable[[], object]],
    *,
    repeats: int,
    warmup: int = 1,
    device: str | torch.device = "cpu",
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Seconds per call of every function, ``repeats`` rounds each, the order reversed every other round.

    ``warmup`` untimed rounds come first. CUDA work is synchronised before and after each call. ``clock``: wall
    time by default; ``time.thread_time`` counts only this thread's CPU time, which on a machine shared with other
    processes (and one torch thread) is not stretched by their load.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    device = torch.device(device)
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(warmup + repeats):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            _synchronize(device)
            start = clock()
            fns[name]()
            _synchronize(device)
            if round_index >= warmup:
                times[name].append(clock() - start)
    return times


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def median_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """Median over rounds of ``numerator[i] / denominator[i]`` (both timed in the same round)."""
    if len(numerator) != len(denominator) or not numerator:
        raise ValueError(f"need two equally long, non-empty series, got {len(numerator)} and {len(denominator)}")
    return median([a / b for a, b in zip(numerator, denominator, strict=True)])


def peak_memory_bytes(fn: Callable[[], object], device: str | torch.device = "cpu") -> int:
    """Peak of tensor memory allocated during one ``fn()`` above what was allocated before it (>= 0).

    CUDA: ``torch.cuda.max_memory_allocated`` after a reset. CPU: every allocation and free the CPU allocator
    reports to ``torch.profiler`` during the call, summed in time order; a free of memory allocated before the
    call lowers the running total, as it does in reality. Neither counts allocator caches or non-tensor memory.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return max(0, torch.cuda.max_memory_allocated(device) - before)
    if device.type != "cpu":
        raise ValueError(f"peak_memory_bytes: device type {device.type!r} is not supported (cpu, cuda)")
    return _cpu_profiler_peak(fn)


def _cpu_profiler_peak(fn: Callable[[], object]) -> int:
    from torch._C._profiler import _EventType  # the profiler's event tree: the one place allocations are listed
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    allocations = []  # (time, +bytes allocated / -bytes freed)
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.tag == _EventType.Allocation and node.extra_fields.device.type == "cpu":
            allocations.append((node.start_time_ns, node.extra_fields.alloc_size))
    total = peak = 0
    for _, size in sorted(allocations):
        total += size
        peak = max(peak, total)
    return peak


def rss_peak_bytes(fn: Callable[[], object]) -> int:
    """Resident-set high-water mark during one ``fn()`` above the resident set before it (Linux only).

    The mark is reset through ``/proc/self/clear_refs`` first. Meaningful in a fresh process started with
    ``ISOLATED_ENV`` (see ``run_isolated``), after one untimed warm-up call of ``fn``.
    """
    status = Path("/proc/self/status")
    if not status.exists():
        raise RuntimeError("rss_peak_bytes needs Linux /proc/self/status")
    Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak resident set size to the current one
    before = _proc_status_bytes("VmRSS")
    fn()
    return max(0, _proc_status_bytes("VmHWM") - before)


def proc_status_bytes(field: str) -> int:
    """A memory figure of this process from ``/proc/self/status`` in bytes, e.g. ``"VmRSS"`` or ``"VmHWM"``
    (the resident-set high-water mark since start or since the last reset by ``rss_peak_bytes``; Linux only)."""
    return _proc_status_bytes(field)


def _proc_status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            value, unit = line.split(":", 1)[1].split()
            assert unit == "kB", line
            return int(value) * 1024
    raise RuntimeError(f"/proc/self/status has no {field} line")


def run_isolated(args: Sequence[str], *, timeout: float = 1800) -> dict:
    """Run ``python <args>`` in a fresh process with ``ISOLATED_ENV``; it must print one JSON object last."""
    env = {**os.environ, **ISOLATED_ENV}
    done = subprocess.run(
        [sys.executable, *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"isolated run {list(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table, columns right-aligned to their widest cell."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(payload: Mapping, path: str | Path) -> Path:
    """Write ``payload`` as indented JSON; a bare name such as ``"self_attention"`` goes to ``RESULTS_DIR``."""
    path = Path(path)
    if path.parent == Path(".") and path.suffix == "":
        path = RESULTS_DIR / f"{path.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"wrote {path}")
    return path
