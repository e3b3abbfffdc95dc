"""The benchmark scripts still run: each one with ``--quick`` (tiny shapes, one or two rounds) writes its JSON.

This guards the scripts against rot (renamed APIs, a contract change), nothing else: it asserts the keys and
types of what they write, never a timing or a ratio (speed is checked by running the scripts, see bench/README.md).
The scripts are loaded from their files and their ``main(argv)`` is called in this process, which saves a
Python + torch start-up per script.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_smoke_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_quick(name: str, tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / f"{name}.json"
    returned = load_script(name).main(["--quick", "--device", "cpu", "--out", str(out), *extra])
    written = json.loads(out.read_text())
    assert written["benchmark"] == returned["benchmark"]
    machine = written["machine"]
    assert machine["torch_threads"] >= 1 and machine["versions"]["torch"]
    return written


def assert_number(value: object) -> None:
    assert isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value), value


def test_attention_quick(tmp_path: Path) -> None:
    from segattn.attention import ATTENTION_NAMES

    result = run_quick("attention", tmp_path)
    names = {row["attention"] for row in result["rows"]}
    assert names == set(list(ATTENTION_NAMES))  # every registered module is measured
    for row in result["rows"]:
        for key in ("params", "forward_flops", "forward_vs_conv", "train_vs_conv", "extra_peak_mib"):
            assert_number(row[key])
        assert row["forward_flops"] >= 0 and row["params"] >= 0


def test_train_step_quick(tmp_path: Path) -> None:
    result = run_quick("train_step", tmp_path)
    rows = {row["variant"]: row for row in result["rows"]}
    assert {"smp_unet", "none", "self_attention@2"} <= set(rows)
    for row in rows.values():
        for key in ("step_ms", "step_vs_smp_unet", "params_vs_smp_unet", "extra_peak_vs_smp_unet"):
            assert_number(row[key])
    assert rows["smp_unet"]["params_vs_smp_unet"] == 1.0


def test_train_step_flags_quick(tmp_path: Path) -> None:
    result = run_quick("train_step", tmp_path, "--compare-flags", "--no-compile")
    settings = {row["setting"] for row in result["rows"]}
    assert {"eager_fp32", "channels_last", "bf16_autocast"} <= settings
    for row in result["rows"]:
        assert_number(row["speedup_vs_eager_fp32"])


def test_overhead_quick(tmp_path: Path) -> None:
    result = run_quick("overhead", tmp_path)
    for key in ("lightning_vs_plain_step", "lightning_step_s", "plain_step_s", "lightning_startup_s"):
        assert_number(result[key])
    assert isinstance(result["meets_target"], bool)


def test_data_quick(tmp_path: Path) -> None:
    result = run_quick("data", tmp_path)
    assert {row["dataset"] for row in result["rows"]} == {"floorplans", "folder"}
    for row in result["rows"]:
        for key in ("loader_images_per_s", "step_demand_images_per_s", "supply_vs_demand", "fed_vs_in_memory"):
            assert_number(row[key])


def test_predict_quick(tmp_path: Path) -> None:
    result = run_quick("predict", tmp_path)
    speed = result["throughput"]
    for key in ("forward_vs_command", "command_s", "forward_s", "instrumented_forward_share"):
        assert_number(speed[key])
    assert speed["tiles"] >= 1 and isinstance(speed["meets_target"], bool)
    assert set(speed["instrumented_run_s"]) == {"load_checkpoint", "stream", "forward", "writer", "other", "total"}
    (row,) = result["memory"]  # --quick: one size, measured in this process
    assert row["isolated"] is False
    for key in ("rss_peak_bytes", "rss_extra_bytes", "seconds"):
        assert_number(row[key])


def test_explain_cost_quick(tmp_path: Path) -> None:
    result = run_quick("explain_cost", tmp_path, "--before", "HEAD", "--clock", "cpu", "--threads", "1")
    assert result["outputs_equal"] is True and result["hooks"] == {"model": 0, "global": 0}
    assert {row["what"] for row in result["rows"]} == {"train step", "predict"}
    for row in result["rows"]:
        for key in ("before_ms", "after_ms", "after_vs_before", "control_vs_before"):
            assert_number(row[key])


def test_export_quick(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    result = run_quick("export", tmp_path)
    (row,) = result["rows"]  # --quick: psa only, no torch.compile
    assert row["variant"] == "psa" and row["parity_max_delta"] <= 1e-4
    keys = ("export_s", "onnx_bytes", "eager_b1_tiles_per_s", "onnxruntime_b1_tiles_per_s", "onnxruntime_b2_vs_eager")
    for key in keys:
        assert_number(row[key])
    assert result["machine"]["export_versions"]["onnxruntime"]


def test_plan_styles_timing_quick(tmp_path: Path) -> None:
    result = run_quick("plan_styles", tmp_path, "timing")  # the subcommands that read CVC-FP are not run here
    (row,) = result["rows"]
    assert row["size"] == 96
    assert_number(row["this tree ms"])


def test_quality_results_keep_earlier_sets(tmp_path: Path) -> None:
    """``quality.py`` fills one file per tag set by set: a later invocation replaces only what it measured."""
    merge = load_script("quality").merge_earlier
    target = tmp_path / "quality_x.json"
    fresh = {"args": {"sets": "b"}, "sets": {"b": {"short": {"runs": 2}}}}
    assert merge(fresh, target) == fresh  # no earlier file
    earlier = {"sets": {"a": {"short": {"runs": 1}}, "b": {"short": {"runs": 0}, "long": {"runs": 5}}}}
    target.write_text(json.dumps(earlier))
    merged = merge(fresh, target)
    assert merged["args"] == {"sets": "b"}
    # the earlier short entry predates kept runs: replaced, and kept aside since bench/README.md cites it
    before = {"short_before_kept": {"runs": 0}}
    assert merged["sets"] == {"a": {"short": {"runs": 1}}, "b": {"short": {"runs": 2}, "long": {"runs": 5}, **before}}
    target.write_text(json.dumps({"sets": {"b": {"short": {"runs": 3, "kept": "x"}}}}))
    assert merge(fresh, target)["sets"] == {"b": {"short": {"runs": 2}}}  # a kept entry is simply replaced


def test_quality_wall_steps_from_side_by_side_seconds() -> None:
    """Equal wall time: segattn gets the steps that take it the reference's seconds, by the median seed's ratio."""
    wall_steps = load_script("quality").wall_steps
    runs = {
        "segattn/seed0": {"train_seconds": 300.0},
        "reference/seed0": {"train_seconds": 100.0},  # 3x
        "segattn/seed1": {"train_seconds": 200.0},
        "reference/seed1": {"train_seconds": 100.0},  # 2x: the median of 3x, 2x, 1.5x
        "segattn/seed2": {"train_seconds": 150.0},
        "reference/seed2": {"train_seconds": 100.0},
    }
    assert wall_steps({"runs": runs}, 132) == (66, 2.0)
    faster = {"segattn/seed0": {"train_seconds": 50.0}, "reference/seed0": {"train_seconds": 100.0}}
    assert wall_steps({"runs": faster}, 132) == (264, 0.5)
    with pytest.raises(ValueError, match="no seed"):
        wall_steps({"runs": {"reference/seed0": {"train_seconds": 1.0}}}, 132)


def test_quality_side_by_side_keeps_both_cores_busy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Side by side, a core that ends its job takes the next seed's: the reference of seed 1 starts while segattn's
    seed 0 still runs (a pool per seed would wait for it, and this test would time out), and every run is kept."""
    import threading

    quality = load_script("quality")
    started = {key: threading.Event() for key in ("reference/seed1", "segattn/seed1")}
    order: list[str] = []

    def fake_measure(method, root, steps, seed, out, kept, extra, threads, redo=False):  # noqa: ANN001, ANN202
        key = f"{method}/seed{seed}"
        order.append(key)
        if key in started:
            started[key].set()
        if key == "segattn/seed0":
            assert started["reference/seed1"].wait(timeout=10), "seed 1 waited for seed 0's segattn run"
        kept.mkdir(parents=True)
        summary = {"foreground": {"dice_dataset": 0.5}, "per_image_foreground": {"dice_mean": 0.5}}
        (kept / "summary.json").write_text(json.dumps(summary))
        (kept / "per_image.csv").write_text("")
        info = {"train_seconds": 1.0, "threads": threads, "steps": steps, "segattn_args": extra}
        (kept / "info.json").write_text(json.dumps(info))
        return info

    (tmp_path / "shared" / "crackforest").mkdir(parents=True)
    monkeypatch.setattr(quality, "SHARED", tmp_path / "shared")
    monkeypatch.setattr(quality, "prepare", lambda name, cache: cache / name)
    monkeypatch.setattr(quality, "_measure", fake_measure)
    monkeypatch.setattr(quality._common, "RESULTS_DIR", tmp_path / "results")
    (tmp_path / "results").mkdir()
    import segattn.reports.compare as compare

    fake_difference = {"mean": 0.0, "low": 0.0, "high": 0.0}
    fake_compare = lambda folders, *a, **k: {"runs": [{"difference": fake_difference}] * len(folders)}  # noqa: E731
    monkeypatch.setattr(compare, "compare_runs", fake_compare)
    argv = ["--sets", "crackforest", "--budgets", "short", "--seeds", "0,1", "--side-by-side", "--tag", "t"]
    argv += ["--work", str(tmp_path / "work")]
    quality.main(argv)
    assert order.index("reference/seed1") < order.index("segattn_last/seed0")
    runs = json.loads((tmp_path / "results" / "quality_t.json").read_text())["sets"]["crackforest"]["short"]["runs"]
    assert sorted(runs) == [f"{m}/seed{s}" for m in ("reference", "segattn", "segattn_last") for s in (0, 1)]
    assert {run["threads"] for run in runs.values()} == {max(1, (os.cpu_count() or 1) // 2)}


def test_quality_keeps_runs_and_adds_seeds_across_machines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every finished run's scores are kept in the repository: on a new machine (an empty ``--work``) ``--seeds 2``
    runs only seed 2 and compares all three seeds; a kept run of other steps is redone, never read back; and a
    ``last.ckpt`` score whose fit is gone is remade with its fit, not paired with another training run's."""
    import cv2
    import numpy as np

    quality = load_script("quality")
    root = tmp_path / "data" / "crackforest"
    rng = np.random.default_rng(0)
    (root / "masks").mkdir(parents=True)
    (root / "splits").mkdir()
    keys = ["a", "b", "c", "d"]
    truth = {k: (rng.random((16, 16)) < 0.4).astype(np.uint8) * 255 for k in keys}
    for k in keys:
        cv2.imwrite(str(root / "masks" / f"{k}.png"), truth[k])
    (root / "splits" / "test.txt").write_text("\n".join(keys) + "\n")
    calls: list[str] = []

    def fake_run(method):  # noqa: ANN001, ANN202
        def run(root, steps, seed, out, extra, threads=None):  # noqa: ANN001, ANN202
            calls.append(f"{method}/seed{seed}")
            flip = np.random.default_rng(seed + 10 * len(method)).random((16, 16)) < 0.1
            (out / "pred" / "masks").mkdir(parents=True)
            for k in keys:
                cv2.imwrite(str(out / "pred" / "masks" / f"{k}.png"), np.where(flip, 255 - truth[k], truth[k]))
            if method == "segattn":
                (out / "ckpt").mkdir()
                (out / "ckpt" / "last.ckpt").write_bytes(b"")
            return {"train_seconds": 2.0 if method == "segattn" else 1.0, "steps": steps}

        return run

    def fake_score(root, out):  # noqa: ANN001, ANN202
        from segattn.reports.evaluate import evaluate_folders

        masks = quality.test_split(root, "masks")
        evaluate_folders(out / "pred" / "masks", masks, out / "report", n_examples=0, overwrite=True)

    (tmp_path / "shared" / "crackforest").mkdir(parents=True)
    monkeypatch.setattr(quality, "SHARED", tmp_path / "shared")
    monkeypatch.setattr(quality, "prepare", lambda name, cache: root)
    monkeypatch.setattr(quality, "RUNS", {m: fake_run(m) for m in ("segattn", quality.LAST, "reference")})
    monkeypatch.setattr(quality, "score", fake_score)
    monkeypatch.setattr(quality._common, "RESULTS_DIR", tmp_path / "results")
    (tmp_path / "results").mkdir()

    def invoke(seeds: str, machine: str) -> dict:
        calls.clear()
        argv = ["--sets", "crackforest", "--budgets", "short", "--seeds", seeds, "--tag", "t"]
        quality.main([*argv, "--work", str(tmp_path / machine)])
        return json.loads((tmp_path / "results" / "quality_t.json").read_text())["sets"]["crackforest"]["short"]

    entry = invoke("0,1", "machine1")
    assert sorted(calls) == sorted(f"{m}/seed{s}" for s in (0, 1) for m in ("reference", "segattn", "segattn_last"))
    assert entry["seeds"] == "0,1" and -1 <= entry["segattn_last_minus_reference"]["mean"] <= 1
    kept = tmp_path / "results" / "quality_t_runs" / "crackforest" / "short"
    assert sorted(p.name for p in (kept / "segattn" / "seed0").iterdir()) == [
        "info.json",
        "per_image.csv",
        "summary.json",
    ]

    entry = invoke("2", "machine2")  # a new machine: the work folder of machine1 is not there
    assert sorted(calls) == ["reference/seed2", "segattn/seed2", "segattn_last/seed2"]
    assert entry["seeds"] == "0,1,2" and len(entry["runs"]) == 9

    assert invoke("0,1,2", "machine3") and calls == []  # everything kept: nothing redone

    shutil.rmtree(kept / "segattn_last" / "seed1")  # its fit's checkpoint is on machine1 only
    invoke("1", "machine3")
    assert sorted(calls) == ["segattn/seed1", "segattn_last/seed1"]

    monkeypatch.setitem(quality.BUDGETS, "short", 7)  # other steps: the kept runs are not these runs
    entry = invoke("0", "machine3")
    assert sorted(calls) == ["reference/seed0", "segattn/seed0", "segattn_last/seed0"]
    assert entry["seeds"] == "0" and entry["steps"] == 7 and entry["runs"]["segattn/seed0"]["steps"] == 7


def test_eval_tiles_quick(tmp_path: Path) -> None:
    result = run_quick("eval_tiles", tmp_path)
    assert set(result["runs"]) == {"whole", "tiled"}
    for (row,) in result["runs"].values():
        assert_number(row["seconds"])
        assert_number(row["rss_peak_bytes"])
        assert 0.0 <= row["scores"]["val/dice"] <= 1.0
    for key in ("peak_tiled_vs_whole", "seconds_tiled_vs_whole", "dice_tiled_minus_whole"):
        assert_number(result["summary"][key])


def test_keep_reports_copies_complete_reports_only(tmp_path: Path) -> None:
    """Kept and put back, a run's report is whole again (``segattn compare`` reads it); checkpoints, HTML and a
    report left half-written stay behind, and the ablation record travels with the reports."""
    import cv2
    import numpy as np

    from segattn.reports.evaluate import evaluate_folders
    from segattn.reports.runs import load_run

    copy_small = load_script("keep_reports").copy_small
    work = tmp_path / "work"
    (tmp_path / "masks").mkdir()
    mask = (np.random.default_rng(0).random((16, 16)) < 0.5).astype(np.uint8) * 255
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), mask)
    evaluate_folders(tmp_path / "masks", tmp_path / "masks", work / "none" / "seed0" / "report", n_examples=0)
    (work / "none" / "seed0" / "checkpoints").mkdir()
    (work / "none" / "seed0" / "checkpoints" / "last.ckpt").write_bytes(b"x" * 100)
    (work / "none" / "seed1" / "report").mkdir(parents=True)
    (work / "none" / "seed1" / "report" / "summary.json").write_text("{}")  # killed before per_image.csv
    (work / "ablation.json").write_text("{}")
    (work / "compare").mkdir()
    (work / "compare" / "compare.json").write_text("{}")

    kept = tmp_path / "kept"
    copy_small(work, kept)
    files = sorted(str(p.relative_to(kept)) for p in kept.rglob("*") if p.is_file())
    assert files == ["ablation.json", "none/seed0/report/per_image.csv", "none/seed0/report/summary.json"]
    back = tmp_path / "new_machine"
    copy_small(kept, back)
    assert load_run(back / "none", "none").names == ["a"]
