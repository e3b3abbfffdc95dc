"""``segattn compare`` on reports made here from known per-image counts."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from segattn.commands.compare import main as compare_main
from segattn.reports.compare import compare_runs
from segattn.reports.writer import prepare_out_dir, write_report
from segattn.scoring.table import ScoreTable

N = 30


def _counts(dice: np.ndarray) -> np.ndarray:
    """(M, 2, 3) counts whose foreground Dice is exactly ``dice`` (tp = 1000 d, fp = fn = 1000 (1 - d))."""
    tp = np.round(1000 * dice).astype(np.int64)
    rest = 1000 - tp
    fg = np.stack([tp, rest, rest], axis=1)  # 2tp / (2tp + 2 rest) = tp / 1000
    bg = np.stack([np.full_like(tp, 5000), rest, rest], axis=1)
    return np.stack([bg, fg], axis=1)


def _report(folder: Path, dice: np.ndarray, names: list[str], run_info: dict | None = None, empty="exclude") -> None:
    counts = _counts(dice)
    table = ScoreTable(names, counts, np.zeros((len(names), 2, 4), np.int64), ["background", "wall"])
    prepare_out_dir(folder, reads={}, overwrite=False)
    write_report(folder, table, empty=empty, tolerance=2, source={"test": "synthetic"}, examples=None)
    if run_info is not None:
        (folder / "run.json").write_text(json.dumps(run_info))


@pytest.fixture()
def runs(tmp_path: Path) -> dict[str, object]:
    rng = np.random.default_rng(0)
    names = [f"img_{i:02d}" for i in range(N)]
    base = rng.uniform(0.6, 0.8, N).round(3)
    better = (base + rng.uniform(0.02, 0.06, N)).round(3)  # every image gains
    noise = (base + rng.normal(0, 0.03, N)).round(3)
    _report(
        tmp_path / "unet",
        base,
        names,
        {"params": 1000, "flops": 5e6, "train_step_ms": 12.5, "inference_ms_per_image": 3.0},
    )
    order = rng.permutation(N)  # the same images written in another order: pairing is by name
    _report(tmp_path / "cbam", better[order], [names[i] for i in order], {"params": 1100, "flops": "n/a"})
    for s in range(2):  # a run with two seeds
        _report(tmp_path / "sa" / f"seed{s}" / "report", noise + (0.01 if s else -0.01), names)
    return {"root": tmp_path, "names": names, "base": base, "better": better, "noise": noise}


def test_compare_numbers_against_scipy(runs, capsys) -> None:
    root = runs["root"]
    compare_main(
        [
            str(root / "unet"),
            str(root / "cbam"),
            str(root / "sa"),
            "--baseline",
            str(root / "unet"),
            "--out",
            str(root / "cmp"),
        ]
    )
    assert "cbam" in capsys.readouterr().out
    res = json.loads((root / "cmp" / "compare.json").read_text())
    by = {r["label"]: r for r in res["runs"]}
    assert res["baseline"] == "unet" and res["n_images"] == N
    assert by["unet"]["dice_mean"] == pytest.approx(runs["base"].mean())
    assert by["unet"]["ci95_low"] < runs["base"].mean() < by["unet"]["ci95_high"]
    d = by["cbam"]["difference"]
    assert d["mean"] == pytest.approx((runs["better"] - runs["base"]).mean())
    assert d["low"] > 0  # every image improved: the interval excludes 0
    assert d["p_value"] == pytest.approx(stats.wilcoxon(runs["better"] - runs["base"]).pvalue)
    # the two-seed run: per-image mean over seeds (= noise), seed means and their spread listed
    sa = by["sa"]
    assert sa["n_seeds"] == 2 and sa["dice_mean"] == pytest.approx(runs["noise"].mean())
    assert sa["seed_means"] == pytest.approx([runs["noise"].mean() - 0.01, runs["noise"].mean() + 0.01])
    assert sa["difference"]["p_value"] == pytest.approx(stats.wilcoxon(runs["noise"] - runs["base"]).pvalue)
    ps = [by["cbam"]["difference"]["p_value"], sa["difference"]["p_value"]]
    assert sorted([by["cbam"]["difference"]["p_holm"], sa["difference"]["p_holm"]]) == pytest.approx(
        sorted([min(1, 2 * min(ps)), max(min(1, 2 * min(ps)), max(ps))])
    )
    # costs: measured values carried, unmeasured ones "n/a", never invented
    assert (by["unet"]["params"], by["unet"]["train_step_ms"]) == (1000, 12.5)
    assert by["cbam"]["flops"] == "n/a" and by["cbam"]["train_step_ms"] == "n/a"
    assert by["sa"]["params"] == "n/a"

    class Tags(HTMLParser):
        seen: list[str] = []

        def handle_starttag(self, tag, attrs) -> None:
            self.seen.append(tag)
            assert tag != "img" or dict(attrs)["src"].startswith("data:")

    p = Tags()
    p.feed((root / "cmp" / "compare.html").read_text())
    assert p.seen.count("svg") == 2 and "table" in p.seen
    for rel in res["files"]:
        assert (root / "cmp" / rel).is_file()


def test_different_image_sets_are_refused_unless_intersect(runs, capsys) -> None:
    root, names = runs["root"], runs["names"]
    _report(root / "short", runs["base"][:-2], names[:-2])
    args = [str(root / "unet"), str(root / "short"), "--out", str(root / "cmp")]
    with pytest.raises(SystemExit):
        compare_main(args)
    err = capsys.readouterr().err
    assert "different images" in err and "img_29" in err and "--intersect" in err
    assert not (root / "cmp").exists()
    res = compare_runs([root / "unet", root / "short"], root / "cmp", intersect=True)
    assert res["n_images"] == N - 2
    assert [r["images_dropped"] for r in res["runs"]] == [2, 0]
    assert res["runs"][1]["difference"]["mean"] == pytest.approx(0.0)
    assert res["runs"][1]["difference"]["p_value"] is None  # identical scores: no test to run


def _source(report: Path, checkpoint: str) -> None:
    summary = json.loads((report / "summary.json").read_text())
    summary["source"] = {"checkpoint": checkpoint, "stage": "test"}
    (report / "summary.json").write_text(json.dumps(summary))


def test_reports_of_one_fit_are_not_counted_as_two_seeds(runs, capsys) -> None:
    root, names = runs["root"], runs["names"]
    sa = root / "sa"
    _source(sa / "seed0" / "report", "/r/sa/seed0/checkpoints/last.ckpt")
    _source(sa / "seed1" / "report", "/r/sa/seed1/checkpoints/last.ckpt")
    assert compare_runs([root / "unet", sa], root / "ok")["runs"][1]["n_seeds"] == 2  # two fits: two seeds
    _report(sa / "seed1" / "report_best", runs["noise"], names)  # the same fit's best.ckpt, tested beside it
    _source(sa / "seed1" / "report_best", "/r/sa/seed1/checkpoints/best.ckpt")
    with pytest.raises(SystemExit):
        compare_main([str(root / "unet"), str(sa), "--out", str(root / "cmp")])
    err = capsys.readouterr().err
    assert "score one fit" in err and "report_best" in err and "best.ckpt" in err
    assert not (root / "cmp").exists()
    # checkpoints of different fits gathered in one folder, none named last: still seeds
    _source(sa / "seed0" / "report", "/r/ckpts/seed0.ckpt")
    _source(sa / "seed1" / "report", "/r/ckpts/seed1.ckpt")
    _source(sa / "seed1" / "report_best", "/r/ckpts/seed2.ckpt")
    assert compare_runs([root / "unet", sa], root / "ok2")["runs"][1]["n_seeds"] == 3
    _source(sa / "seed1" / "report_best", "/r/ckpts/seed1.ckpt")  # one checkpoint tested twice
    with pytest.raises(ValueError, match="score one fit"):
        compare_runs([root / "unet", sa], root / "cmp")


def test_rules_must_agree_and_existing_output_is_kept(runs) -> None:
    root, names = runs["root"], runs["names"]
    _report(root / "one", runs["base"], names, empty="one")
    with pytest.raises(ValueError, match="empty-mask rules"):
        compare_runs([root / "unet", root / "one"], root / "cmp")
    compare_runs([root / "unet", root / "one"], root / "cmp", empty="exclude")
    with pytest.raises(FileExistsError, match="--overwrite"):
        compare_runs([root / "unet", root / "one"], root / "cmp", empty="exclude")
    with pytest.raises(ValueError, match="at least two"):
        compare_runs([root / "unet"], root / "cmp2")
