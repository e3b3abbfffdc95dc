"""``segattn ablate``: the commands it would run (checked against the training CLI), resuming, one tiny real run."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
import yaml

from segattn.commands import main as cli_main
from segattn.commands.ablate import ablate, parse_attention, parse_seeds
from segattn.commands.ablate import main as ablate_main
from segattn.reports.writer import prepare_out_dir, write_report
from segattn.scoring.table import ScoreTable

TINY = """\
seed_everything: 0
trainer:
  max_steps: 2
  logger: false
  enable_progress_bar: false
  enable_model_summary: false
  num_sanity_val_steps: 0
  limit_val_batches: 1
model:
  net:
    class_path: segattn.models.AttentionUnet
    init_args: {encoder_name: resnet18, encoder_depth: 3, decoder_channels: [16, 8, 8]}
  lr_scheduler: null
data:
  class_path: segattn.data.FloorplanData
  init_args:
    num_classes: 2
    image_size: 64
    crop_size: 64
    batch_size: 2
    train_samples: 4
    val_samples: 2
    test_samples: 4
"""


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_parse_seeds_and_attention() -> None:
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("0,5,7") == [0, 5, 7]
    assert parse_seeds("4,") == [4]
    for bad in ("0", "x", "1,1"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)
    assert parse_attention("none, se,cbam") == ["none", "se", "cbam"]
    with pytest.raises(ValueError, match="unknown attention"):
        parse_attention("none,cbma")
    with pytest.raises(ValueError, match="at least two"):
        parse_attention("se")


def test_dry_run_prints_commands_that_the_training_cli_accepts(config, tmp_path, capsys) -> None:
    out = tmp_path / "abl"
    ablate_main(
        [
            "--config",
            str(config),
            "--attention",
            "none,cbam",
            "--seeds",
            "2",
            "--out",
            str(out),
            "--dry-run",
            "--",
            "--trainer.max_steps",
            "5",
        ]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 * 2 * 2 + 1 and not out.exists()  # nothing run, nothing written
    cmds = [shlex.split(line) for line in lines]
    fit, test = cmds[2], cmds[3]  # none, seed 1
    assert fit[:2] == ["segattn", "fit"] and test[:2] == ["segattn", "test"]
    for cmd in (fit, test):
        s = " ".join(cmd)
        assert "--model.net.attention none --seed_everything 1" in s and "--trainer.max_steps 5" in s
    assert f"--checkpoint.dirpath {out}/none/seed1/checkpoints" in " ".join(fit)
    assert f"--ckpt_path {out}/none/seed1/checkpoints/last.ckpt" in " ".join(test)
    assert f"--report.report_dir {out}/none/seed1/report" in " ".join(test)
    assert cmds[-1] == [
        "segattn",
        "compare",
        f"{out}/none",
        f"{out}/cbam",
        "--baseline",
        f"{out}/none",
        "--out",
        f"{out}/compare",
    ]
    # the override keys exist in the training CLI: both commands parse (print_config exits 0 after parsing)
    for cmd in (fit, test):
        with pytest.raises(SystemExit) as exc:
            cli_main([*cmd[1:], "--print_config"])
        assert exc.value.code == 0
    assert "attention: none" in capsys.readouterr().out


def test_stages_put_the_attention_on_those_stages_only(config, tmp_path, capsys) -> None:
    out = tmp_path / "abl"
    ablate_main(
        [
            "--config",
            str(config),
            "--attention",
            "none,self_attention",
            "--stages",
            "0,1",
            "--seeds",
            "1",
            "--out",
            str(out),
            "--dry-run",
        ]
    )
    cmds = [shlex.split(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert "--model.net.attention none " in " ".join(cmds[0])  # the baseline stays without attention
    fit = cmds[2]
    assert fit[fit.index("--model.net.attention") + 1] == "[self_attention, self_attention, null]"  # depth 3
    assert fit[fit.index("--trainer.default_root_dir") + 1] == f"{out}/self_attention/seed0"
    with pytest.raises(SystemExit) as exc:
        cli_main([*fit[1:], "--print_config"])
    assert exc.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["net"]["init_args"]["attention"] == ["self_attention", "self_attention", None]
    with pytest.raises(SystemExit):  # stage 3 does not exist at encoder_depth 3: a usage error, nothing run
        ablate_main(
            ["--config", str(config), "--attention", "none,se", "--stages", "3", "--out", str(out), "--dry-run"]
        )
    assert "stage 3" in capsys.readouterr().err


def _fake_report(folder: Path, seed: int, overwrite: bool) -> None:
    rng = np.random.default_rng(seed)
    tp = rng.integers(50, 100, 6)
    counts = np.stack([np.stack([np.full(6, 900), 100 - tp, 100 - tp], 1), np.stack([tp, 100 - tp, 100 - tp], 1)], 1)
    table = ScoreTable([f"i{k}" for k in range(6)], counts, np.zeros((6, 2, 4), np.int64), ["background", "wall"])
    prepare_out_dir(folder, reads={}, overwrite=overwrite)
    write_report(folder, table, empty="exclude", tolerance=2, source={"fake": "yes"})


def test_runs_in_order_resumes_and_refuses_mixing(config, tmp_path) -> None:
    calls: list[list[str]] = []

    def fake_run(args: list[str]) -> None:
        calls.append(args)
        if args[0] == "fit":
            ckpt = Path(args[args.index("--checkpoint.dirpath") + 1]) / "last.ckpt"
            ckpt.parent.mkdir(parents=True)
            ckpt.write_text("weights")
        else:
            overwrite = args[args.index("--report.overwrite") + 1] == "true"
            _fake_report(Path(args[args.index("--report.report_dir") + 1]), len(calls), overwrite)

    def fake_run_resumable(args: list[str]) -> None:
        if args[0] == "fit" and "--ckpt_path" in args:
            calls.append(args)  # resumes: writes last.ckpt over the one it resumed from
            Path(args[args.index("--ckpt_path") + 1]).write_text("weights")
        else:
            fake_run(args)

    out = tmp_path / "abl"
    ablate(config, ["none", "se"], [0, 1], out, run=fake_run, echo=lambda _: None)
    assert [(c[0], c[c.index("--model.net.attention") + 1], c[c.index("--seed_everything") + 1]) for c in calls] == [
        ("fit", "none", "0"),
        ("test", "none", "0"),
        ("fit", "none", "1"),
        ("test", "none", "1"),
        ("fit", "se", "0"),
        ("test", "se", "0"),
        ("fit", "se", "1"),
        ("test", "se", "1"),
    ]
    res = json.loads((out / "compare" / "compare.json").read_text())
    assert [r["label"] for r in res["runs"]] == ["none", "se"] and res["runs"][1]["n_seeds"] == 2
    assert json.loads((out / "ablation.json").read_text())["seeds"] == [0, 1]

    calls.clear()
    (out / "se" / "seed1" / "report" / "summary.json").unlink()  # an interrupted test: only it reruns
    (out / "se" / "seed1" / "report" / "per_image.csv").unlink()
    ablate(config, ["none", "se"], [0, 1], out, run=fake_run, echo=lambda _: None)
    assert [c[0] for c in calls] == ["test"]

    calls.clear()
    run = out / "se" / "seed1"
    for name in ("fit.done", "report/summary.json", "report/per_image.csv"):
        (run / name).unlink()  # a fit killed after writing last.ckpt: resumed from it, not started over beside it
    ablate(config, ["none", "se"], [0, 1], out, run=fake_run_resumable, echo=lambda _: None)
    assert [c[0] for c in calls] == ["fit", "test"]
    assert calls[0][-2:] == ["--ckpt_path", str(run / "checkpoints" / "last.ckpt")] and (run / "fit.done").is_file()

    calls.clear()
    (run / "checkpoints" / "last-v1.ckpt").write_text("a fresh fit's weights beside the stale last.ckpt")
    with pytest.raises(ValueError, match=r"last-v1\.ckpt beside last\.ckpt / best\.ckpt: a fit was restarted"):
        ablate(config, ["none", "se"], [0, 1], out, run=fake_run, echo=lambda _: None)
    assert calls == []  # refused before anything ran, although the run has a report

    (run / "checkpoints" / "last-v1.ckpt").unlink()
    config.write_text(TINY.replace("max_steps: 2", "max_steps: 3"))
    with pytest.raises(ValueError, match="different config"):
        ablate(config, ["none", "se"], [0, 1], out, run=fake_run, echo=lambda _: None)

    config.write_text(TINY)
    record = json.loads((out / "ablation.json").read_text())
    del record["tested_with"]  # an ablation made when runs were tested with best.ckpt
    (out / "ablation.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="different test checkpoint"):
        ablate(config, ["none", "se"], [0, 1], out, run=fake_run, echo=lambda _: None)


@pytest.mark.slow
def test_tiny_real_ablation(config, tmp_path) -> None:
    out = tmp_path / "abl"
    ablate(config, ["none", "se"], [0], out, echo=lambda _: None)  # the default: each fit / test in a child process
    res = json.loads((out / "compare" / "compare.json").read_text())
    none, se = res["runs"]
    assert res["n_images"] == 4 and none["n_images_scored"] + se["n_images_scored"] > 0
    assert se["difference"]["n_pairs"] <= 4
    run = json.loads((out / "se" / "seed0" / "report" / "run.json").read_text())
    assert run["params"] > 0 and run["flops"] > 0
    assert run["hparams"]["net"]["attention"] == "se"  # the variant really differed
    assert json.loads((out / "none" / "seed0" / "report" / "run.json").read_text())["hparams"]["net"]["attention"] in (
        None,
        "none",
    )

    # an interrupted fit resumes from its last.ckpt: Lightning writes no last-v1.ckpt beside it, the test reruns
    run = out / "none" / "seed0"
    (run / "fit.done").unlink()
    (run / "report" / "summary.json").unlink()
    ablate(config, ["none", "se"], [0], out, run=cli_main, echo=lambda _: None)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert (run / "fit.done").is_file() and (run / "report" / "summary.json").is_file()


def test_a_failed_run_stops_the_ablation_in_one_line(config, tmp_path, capfd) -> None:
    out = tmp_path / "abl"
    args = ["--config", str(config), "--attention", "none,se", "--seeds", "1", "--out", str(out)]
    with pytest.raises(SystemExit) as exc:
        ablate_main([*args, "--", "--trainer.max_stepz", "2"])  # a typo the child process rejects
    assert exc.value.code == 2
    err = capfd.readouterr().err
    assert "max_stepz" in err  # the child's own error line
    last = err.strip().splitlines()[-1]
    assert last.startswith("segattn ablate: error: fit of none seed 0 failed: `segattn fit` exited with status 2")
    assert f"--out {out}" in last and "Traceback" not in err
    assert not (out / "none" / "seed0" / "fit.done").exists()
