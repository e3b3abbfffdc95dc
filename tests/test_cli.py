"""The ``segattn`` command: every config parses, typos fail at parse time, a one-batch fit + test, extra commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from segattn.attention import ATTENTION_NAMES
from segattn.commands import COMMANDS
from segattn.commands import main as cli_main
from segattn.commands.train import SegAttnCLI, lightning_cli
from segattn.models import AttentionUnet
from segattn.module import SegmentationModule
from segattn.reports.writer import RUN_INFO, SUMMARY

REPO = Path(__file__).resolve().parents[1]
# Overlays (no model: section, e.g. ddp.yaml) are meant as a second --config and are parsed on top of the quickstart.
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
OVERLAYS = {c.name for c in CONFIGS if "model" not in (yaml.safe_load(c.read_text()) or {})}
VARIANTS = sorted((REPO / "configs").glob("unet_*.yaml"))

# One batch of 64x64 synthetic plans through timm's resnet18 cut to 3 stages (as tests/ddp/helpers.py BASE).
TINY = """\
seed_everything: 0
trainer:
  max_epochs: 1
  limit_train_batches: 1
  limit_val_batches: 1
  num_sanity_val_steps: 0
  logger: false
  enable_progress_bar: false
  enable_model_summary: false
model:
  net:
    class_path: segattn.models.AttentionUnet
    init_args: {encoder_name: tu-resnet18, encoder_depth: 3, decoder_channels: [16, 8, 8], attention: [se, null, cbam]}
  optimizer: {class_path: torch.optim.AdamW, init_args: {lr: 0.01}}
data:
  class_path: segattn.data.FloorplanData
  init_args: {image_size: 64, crop_size: 64, batch_size: 2, train_samples: 2, val_samples: 2, test_samples: 2}
"""


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def exit_code(args: list[str]) -> int | str | None:
    with pytest.raises(SystemExit) as exc:
        cli_main(args)
    return exc.value.code


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_config_parses_and_its_printed_config_reparses(config: Path, tmp_path: Path, capsys) -> None:
    first = ["--config", str(REPO / "configs/quickstart.yaml")] if config.name in OVERLAYS else []
    assert exit_code(["fit", *first, "--config", str(config), "--print_config"]) == 0
    printed = capsys.readouterr().out
    parsed = yaml.safe_load(printed)
    assert "report" in parsed and "checkpoint" in parsed  # the callbacks are wired, not only in the tests
    assert parsed["validation"] == {"max_fraction": 0.5}  # ValidationCadence: every epoch unless validation is big
    with torch.device("meta"):  # the attention spec is valid for this network (list length, options); no weights
        AttentionUnet(**parsed["model"]["net"]["init_args"])

    again = tmp_path / "printed.yaml"
    again.write_text(printed)
    assert exit_code(["fit", "--config", str(again), "--print_config"]) == 0
    assert capsys.readouterr().out == printed


def _without_variant_keys(config: dict) -> tuple[dict, object, object]:
    attention = config["model"]["net"]["init_args"].pop("attention")
    root = config["trainer"].pop("default_root_dir", None)
    return config, attention, root


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.stem for v in VARIANTS])
def test_variant_differs_from_unet_only_in_attention(variant: Path) -> None:
    base, base_attention, _ = _without_variant_keys(yaml.safe_load((REPO / "configs/unet.yaml").read_text()))
    config, attention, root = _without_variant_keys(yaml.safe_load(variant.read_text()))
    name = variant.stem.removeprefix("unet_")
    assert base_attention is None and name in ATTENTION_NAMES
    assert config == base
    assert attention == name or (isinstance(attention, list) and set(attention) == {name, None})
    assert root in (None, f"runs/{variant.stem}")


def test_attention_variants_are_the_documented_set() -> None:
    assert {v.stem.removeprefix("unet_") for v in VARIANTS} == {"se", "eca", "cbam", "scse", "self_attention", "psa"}


@pytest.mark.parametrize(
    "value", ["sqeeze", "[null, null, sqeeze, se, se]", "{name: sqeeze}"], ids=["name", "per-stage", "mapping"]
)
def test_bad_attention_name_exits_at_parse_time(value: str, capsys, monkeypatch) -> None:
    def build(self) -> None:
        raise AssertionError("classes were instantiated: the bad name was not rejected while parsing")

    monkeypatch.setattr(SegAttnCLI, "instantiate_classes", build)
    code = exit_code(["fit", "--config", str(REPO / "configs/unet.yaml"), "--model.net.init_args.attention", value])
    assert code not in (0, None)
    err = capsys.readouterr().err
    assert "sqeeze" in err and "attention" in err


def test_one_batch_fit_checkpoint_round_trip_and_test_report(tiny: Path, tmp_path: Path) -> None:
    # a report already in the report folder must not stop a fit (the callback only times steps during fit)
    old_report = tmp_path / "old_report"
    old_report.mkdir()
    (old_report / SUMMARY).write_text("{}")
    root = tmp_path / "run"
    cli = lightning_cli(
        [
            "fit",
            "--config",
            str(tiny),
            "--trainer.default_root_dir",
            str(root),
            "--report.report_dir",
            str(old_report),
            "--timer.warmup_steps",
            "0",
        ]
    )
    assert (old_report / SUMMARY).read_text() == "{}" and sorted(p.name for p in old_report.iterdir()) == [SUMMARY]
    best = Path(cli.trainer.checkpoint_callback.best_model_path)
    assert best.is_file() and best.parent == root / "checkpoints" and (root / "checkpoints" / "last.ckpt").is_file()

    loaded = SegmentationModule.load_from_checkpoint(best)  # no arguments: the CLI saved what rebuilds it
    assert loaded.net.config == cli.model.net.config
    x = torch.randn(2, 3, 48, 40)
    loaded.eval(), cli.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), cli.model(x))

    report = tmp_path / "report"
    cli_main(
        [
            "test",
            "--config",
            str(tiny),
            "--trainer.default_root_dir",
            str(tmp_path / "test"),
            "--ckpt_path",
            str(best),
            "--report.report_dir",
            str(report),
        ]
    )
    assert (report / SUMMARY).is_file() and (report / "per_image.csv").is_file()
    run = json.loads((report / RUN_INFO).read_text())
    # the training step was timed during fit and carried to test in the checkpoint
    assert run["train_steps_timed"] == 1 and run["train_step_ms"] > 0


def test_ckpt_path_best_and_last_are_found_on_disk_in_a_new_process(tiny: Path, tmp_path: Path, capsys) -> None:
    """Lightning knows ``best`` / ``last`` only in the process that fitted; ``segattn test`` finds them on disk."""
    root = tmp_path / "run"
    logged = ["--trainer.default_root_dir", str(root), "--trainer.logger", "true"]  # runs in version_N folders
    cli = lightning_cli(["fit", "--config", str(tiny), *logged])
    best = Path(cli.trainer.checkpoint_callback.best_model_path)
    assert best.parent == root / "lightning_logs" / "version_0" / "checkpoints"
    capsys.readouterr()
    for command, name, expected in (("test", "best", best), ("validate", "last", best.parent / "last.ckpt")):
        cli_main([command, "--config", str(tiny), *logged, "--ckpt_path", name])
        assert f"--ckpt_path {name}: {expected}" in capsys.readouterr().out
    code = exit_code(
        ["test", "--config", str(tiny), "--trainer.default_root_dir", str(tmp_path / "empty"), "--ckpt_path", "best"]
    )
    assert code == 2 and "no best checkpoint found in" in capsys.readouterr().err


def test_fit_says_which_precision_it_runs_in(tiny: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """Issue 15: fp32 stays the default (bf16's Dice cost not ruled out); the run's log says which precision ran."""
    from segattn.commands import train

    lightning_cli(["fit", "--config", str(tiny), "--trainer.default_root_dir", str(tmp_path / "a")])
    assert "precision: 32-true, float32 (the default;" in capsys.readouterr().out
    lightning_cli(
        [
            "fit",
            "--config",
            str(tiny),
            "--trainer.precision",
            "bf16-mixed",
            "--trainer.default_root_dir",
            str(tmp_path / "b"),
        ]
    )
    assert "precision: bf16-mixed (--trainer.precision)" in capsys.readouterr().out

    class CPUAccelerator:  # named as Lightning's: the device in the line comes from the class name
        pass

    class Trainer:
        precision, accelerator = "32-true", CPUAccelerator()

    monkeypatch.setattr(train, "native_bf16", lambda accelerator: True)
    assert "bf16-mixed is faster on this cpu" in train.precision_line(Trainer())
    monkeypatch.setattr(train, "native_bf16", lambda accelerator: False)
    assert train.precision_line(Trainer()).endswith("this cpu has no native bf16)")


def test_a_setting_the_checkpoint_overrides_is_named_not_silently_dropped(tiny: Path, tmp_path: Path, capsys) -> None:
    # issue 11: `test --ckpt_path X --model.net.init_args.attention cbam` on a checkpoint without it exited 0
    root = tmp_path / "run"
    best = Path(
        lightning_cli(
            ["fit", "--config", str(tiny), "--trainer.default_root_dir", str(root)]
        ).trainer.checkpoint_callback.best_model_path
    )
    capsys.readouterr()
    common = ["test", "--config", str(tiny), "--trainer.default_root_dir", str(tmp_path / "t"), "--ckpt_path"]
    code = exit_code([*common, str(best), "--model.net.init_args.attention", "cbam"])
    err = capsys.readouterr().err
    assert code == 2 and "--model.net.init_args.attention is cbam but" in err and str(best) in err
    assert (
        exit_code(
            [
                *common,
                "last",
                "--trainer.default_root_dir",
                str(root),
                "--model.net.init_args.encoder_depth",
                "2",
                "--model.net.init_args.decoder_channels",
                "[16, 8]",
            ]
        )
        == 2
    )
    assert "encoder_depth is 2 but 3 in the checkpoint" in capsys.readouterr().err
    # a setting that does not change the network: a warning, and the checkpoint's value is what runs
    cli = lightning_cli([*common, str(best), "--model.empty", "one", "--report.report_dir", str(tmp_path / "r")])
    assert "--model.empty one is replaced by the checkpoint's exclude" in capsys.readouterr().err
    assert cli.model.empty == "exclude"


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated zip", b"\x80\x02random pickle bytes", b"hello"])
def test_an_unusable_ckpt_path_is_one_line(tiny: Path, tmp_path: Path, capsys, content: bytes) -> None:
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(content)
    for command in ("fit", "validate", "test"):
        assert exit_code([command, "--config", str(tiny), "--ckpt_path", str(bad)]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and str(bad) in err.splitlines()[-1]
    assert exit_code(["test", "--config", str(tiny), "--ckpt_path", str(tmp_path / "missing.ckpt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_fit_ckpt_path_last_resumes_the_newest_run_without_a_fixed_dirpath(tiny: Path, tmp_path: Path, capsys) -> None:
    logged = ["--config", str(tiny), "--trainer.default_root_dir", str(tmp_path), "--trainer.logger", "true"]
    first = lightning_cli(["fit", *logged])
    last = tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    assert first.trainer.global_step == 1 and last.is_file()
    resumed = lightning_cli(["fit", *logged, "--trainer.max_epochs", "2", "--ckpt_path", "last"])
    assert f"--ckpt_path last: {last}" in capsys.readouterr().out
    assert resumed.trainer.global_step == 2  # one more epoch of one step, not a new run of two


def test_a_resumed_run_in_the_same_folder_keeps_the_earlier_config(tiny: Path, tmp_path: Path) -> None:
    # LightningCLI refused to start (a traceback) when config.yaml was already in the log folder
    fixed = [
        "--config",
        str(tiny),
        "--trainer.default_root_dir",
        str(tmp_path),
        "--checkpoint.dirpath",
        str(tmp_path / "ckpt"),
    ]
    lightning_cli(["fit", *fixed])
    first = (tmp_path / "config.yaml").read_text()
    lightning_cli(["fit", *fixed, "--trainer.max_epochs", "2", "--ckpt_path", "last"])
    assert (tmp_path / "config.yaml").read_text() == first  # the first run's record is kept
    assert "max_epochs: 2" in (tmp_path / "config-1.yaml").read_text()


def test_test_refuses_an_existing_report_with_a_usage_error(tiny: Path, tmp_path: Path, capsys) -> None:
    report = tmp_path / "report"
    report.mkdir()
    (report / SUMMARY).write_text("{}")
    code = exit_code(
        [
            "test",
            "--config",
            str(tiny),
            "--trainer.default_root_dir",
            str(tmp_path / "test"),
            "--report.report_dir",
            str(report),
        ]
    )
    assert code == 2
    assert "already holds a report" in capsys.readouterr().err
    assert (report / SUMMARY).read_text() == "{}"


def test_train_py_is_the_same_cli() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "train.py", "fit", "--help"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--trainer.max_epochs" in proc.stdout and "--data.help" in proc.stdout


def test_top_level_help_lists_every_command(capsys) -> None:
    assert cli_main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in COMMANDS)
    assert cli_main([]) == 2  # no command: the same help, as a usage error
    assert capsys.readouterr().err.strip() == out.strip()
    assert cli_main(["fitt"]) == 2 and "unknown command 'fitt'" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command: str, capsys) -> None:
    assert exit_code([command, "--help"]) == 0
    usage = capsys.readouterr().out.splitlines()[0]
    assert usage.startswith("usage: segattn") and f" {command}" in usage


def test_floorplans_writes_pairs_and_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    out = tmp_path / "plans"
    assert cli_main(["floorplans", "--out", str(out), "--n", "3", "--size", "64"]) == 0
    images, masks = sorted((out / "images").iterdir()), sorted((out / "masks").iterdir())
    assert len(images) == len(masks) == 3 and [p.stem for p in images] == [p.stem for p in masks]
    before = {p: p.read_bytes() for p in images + masks}
    capsys.readouterr()
    assert exit_code(["floorplans", "--out", str(out), "--n", "3", "--size", "64", "--seed", "1"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in images + masks} == before


def test_a_run_prints_none_of_lightnings_notices(tiny: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "segattn",
            "fit",
            "--config",
            str(tiny),
            "--trainer.logger",
            "true",
            "--trainer.default_root_dir",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    for notice in ("litlogger", "tensorboardX", "LeafSpec", "args parameter is intended"):
        assert notice not in out, notice
    assert "best checkpoint (val/dice" in out  # the run's own lines are still there
    assert out.index("last checkpoint (end of training") < out.index("best checkpoint (")  # the one to use first
