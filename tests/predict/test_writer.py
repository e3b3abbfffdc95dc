"""Atomic, no-clobber file writes and the append-only manifest."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from segattn.files import atomic_open, write_bytes
from segattn.predict.writer import MANIFEST_FIELDS, Manifest, NpyStripWriter


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.tmp"))


def test_write_is_atomic_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "m.png"
    write_bytes(target, b"abc", overwrite=False)
    assert target.read_bytes() == b"abc" and _leftovers(tmp_path) == []


def test_existing_file_is_never_replaced_without_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "m.png"
    target.write_bytes(b"user's file")
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_bytes(target, b"new", overwrite=False)
    assert target.read_bytes() == b"user's file" and _leftovers(tmp_path) == []
    write_bytes(target, b"new", overwrite=True)
    assert target.read_bytes() == b"new"


def test_interrupted_write_leaves_neither_file_nor_temporary(tmp_path: Path) -> None:
    target = tmp_path / "m.png"
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(target, overwrite=False) as f:
            f.write(b"half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_npy_streamed_in_strips_loads_back(tmp_path: Path) -> None:
    data = np.random.default_rng(0).random((7, 5, 3), dtype=np.float32)
    with NpyStripWriter(tmp_path / "p.npy", data.shape, overwrite=False) as w:
        w.write_rows(data[:3])
        w.write_rows(data[3:])
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), data)


def test_incomplete_npy_is_not_committed(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="wrote 2 of 7 rows"):
        with NpyStripWriter(tmp_path / "p.npy", (7, 5), overwrite=False) as w:
            w.write_rows(np.zeros((2, 5), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_manifest_appends_across_runs(tmp_path: Path) -> None:
    for run in ("r1", "r2"):
        m = Manifest.choose(tmp_path, run)
        m.create()
        m.append({"run": run, "input": "a, b.png", "status": "ok", "error": "line one\nline two"})
    rows = Manifest(tmp_path / "manifest.csv").rows()
    assert [r["run"] for r in rows] == ["r1", "r2"]
    assert rows[0]["input"] == "a, b.png" and rows[0]["error"] == "line one line two"
    assert list(rows[0]) == list(MANIFEST_FIELDS)


def test_foreign_manifest_is_kept_and_a_new_one_started(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text("name,score\nx,1\n")
    m = Manifest.choose(tmp_path, "r3")
    m.create()
    assert m.path.name == "manifest-r3.csv"
    assert (tmp_path / "manifest.csv").read_text() == "name,score\nx,1\n"


def test_stale_temporaries_of_dead_runs_are_removed_and_nothing_else(tmp_path: Path) -> None:
    import subprocess
    import sys

    from segattn.files import remove_stale_temporaries, temp_path

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has exited
    target = tmp_path / "sub" / "a_prob.npy"
    target.parent.mkdir()
    ours_alive = temp_path(target)  # this process: still running
    ours_dead = Path(str(temp_path(target)).replace(f".{os.getpid()}.", f".{pid}."))
    legacy_dead = target.with_name(f".a.png.{pid}.0123abcd.tmp")  # 0.1's naming, no host
    other_host = target.with_name(f".a.png.otherhost.{pid}.0123abcd.tmp")
    user_files = [target.with_name(n) for n in (".a.png.tmp", "notes.1.0123abcd.tmp", ".hidden")]
    for p in (ours_alive, ours_dead, legacy_dead, other_host, *user_files):
        p.write_bytes(b"x")
    removed = remove_stale_temporaries([tmp_path / "sub", tmp_path / "missing"])
    assert sorted(removed) == sorted([ours_dead, legacy_dead])
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(
        p.name for p in (ours_alive, other_host, *user_files)
    )
