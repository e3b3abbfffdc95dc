"""``trainer.test`` with ``ReportCallback`` writes the ``evaluate`` report, with the same per-image numbers;
``StepTimer`` times training and carries the figure in the checkpoint."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from segattn.callbacks import ReportCallback, StepTimer
from segattn.callbacks.report import prediction_path, report_name
from segattn.reports.evaluate import evaluate_folders
from segattn.scoring.table import read_table
from tests.reports.helpers import FolderData, make_folder, tiny_module


def _trainer(root: Path, *callbacks: L.Callback, **kw) -> L.Trainer:
    return L.Trainer(
        default_root_dir=root,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=list(callbacks),
        **kw,
    )


def test_test_report_equals_evaluate_on_the_written_predictions(tmp_path: Path) -> None:
    L.seed_everything(0)
    data_root = make_folder(tmp_path / "data")
    module = tiny_module()
    cb = ReportCallback(str(tmp_path / "report"), tolerance=1)
    trainer = _trainer(tmp_path, cb, StepTimer(warmup_steps=1), max_steps=4, enable_checkpointing=False)
    trainer.fit(module, FolderData(data_root))
    trainer.test(module, FolderData(data_root))

    report = tmp_path / "report"
    test_table = read_table(report / "per_image.csv")
    assert sorted(test_table.names) == [f"plan_{i}" for i in range(5)]  # named as `evaluate` names them
    preds = sorted((report / "predictions").glob("*.png"))
    assert [p.stem for p in preds] == [f"plan_{i}" for i in range(5)]
    predicted = test_table.counts[..., :2].sum(axis=(0, 2))  # (K,) tp + fp: pixels predicted per class
    assert predicted.min() > 0  # both classes predicted somewhere, so the equality below is not trivial

    evaluate_folders(report / "predictions", data_root / "masks", tmp_path / "eval", tolerance=1)
    eval_table = read_table(tmp_path / "eval" / "per_image.csv")
    assert eval_table.names == test_table.names
    np.testing.assert_array_equal(eval_table.counts, test_table.counts)
    np.testing.assert_array_equal(eval_table.boundary, test_table.boundary)
    s_test = json.loads((report / "summary.json").read_text())
    s_eval = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert s_test["classes"] == s_eval["classes"]
    assert s_test["per_image_foreground"] == s_eval["per_image_foreground"]
    # ... and the callback's pooled Dice is the module's own test/dice
    assert s_test["foreground"]["dice_dataset"] == pytest.approx(trainer.callback_metrics["test/dice"].item())

    run = json.loads((report / "run.json").read_text())
    assert run["params"] == sum(p.numel() for p in module.parameters())
    assert isinstance(run["flops"], int) and run["flops"] > 0
    assert run["flops_input_shape"][:2] == [1, 3]
    assert isinstance(run["train_step_ms"], float) and run["train_steps_timed"] == 3  # 4 steps - 1 warm-up
    assert isinstance(run["inference_ms_per_image"], float) and run["inference_images_timed"] == 3  # batches 2, 3
    with open(report / "per_image.csv") as f:
        assert len(list(csv.DictReader(f))) == 5 * 2


def test_refuses_existing_report_and_carries_train_time_in_the_checkpoint(tmp_path: Path) -> None:
    L.seed_everything(0)
    data_root = make_folder(tmp_path / "data", sizes=[(32, 32)] * 4)
    trainer = _trainer(tmp_path, ReportCallback(str(tmp_path / "r1")), StepTimer(warmup_steps=0), max_steps=2)
    trainer.fit(tiny_module(), FolderData(data_root))
    ckpt = trainer.checkpoint_callback.best_model_path
    assert ckpt

    # a new process: fresh module and callback, the checkpoint brings weights and the training step time
    cb = ReportCallback(str(tmp_path / "r1"))
    _trainer(tmp_path, cb, StepTimer()).test(tiny_module(), FolderData(data_root), ckpt_path=ckpt)
    run = json.loads((tmp_path / "r1" / "run.json").read_text())
    assert run["train_steps_timed"] == 2
    summary = json.loads((tmp_path / "r1" / "summary.json").read_text())
    assert summary["source"]["checkpoint"] == ckpt

    # only the window of timed_steps batches after warm-up is timed (and synchronised on a GPU)
    windowed = StepTimer(warmup_steps=1, timed_steps=2)
    _trainer(tmp_path, windowed, max_steps=4).fit(tiny_module(), FolderData(data_root))
    assert windowed.timed == 2 and windowed.train_step_ms > 0

    with pytest.raises(FileExistsError, match="--overwrite"):
        _trainer(tmp_path, ReportCallback(str(tmp_path / "r1"))).test(tiny_module(), FolderData(data_root))
    _trainer(tmp_path, ReportCallback(str(tmp_path / "r1"), overwrite=True)).test(tiny_module(), FolderData(data_root))
    assert json.loads((tmp_path / "r1" / "run.json").read_text())["train_step_ms"] == "n/a"  # never invented


def test_run_json_counts_the_cpu_self_attention_kernel(tmp_path: Path) -> None:
    # issue 12: FlopCounterMode alone missed the fused CPU self-attention, so run.json under-reported its FLOPs
    from segattn.models import AttentionUnet
    from segattn.models.flops import count_flops

    kw = {"encoder_depth": 3, "decoder_channels": (16, 8, 8), "classes": 1}
    plain, attended = AttentionUnet("resnet18", **kw), AttentionUnet("resnet18", attention="self_attention", **kw)
    x = torch.randn(1, 3, 64, 64)
    n = [64 // 4 * 64 // 4, 64 // 2 * 64 // 2, 64 * 64]  # positions per stage, deepest first
    channels = [16, 8, 8]
    attention = sum(2 * 2 * p * p * c for p, c in zip(n, channels, strict=True))  # q·k and a·v, 2 FLOPs per MAC
    assert count_flops(attended.eval(), x) - count_flops(plain.eval(), x) >= attention


def test_names_match_evaluate_names() -> None:
    assert report_name("images/sub/001.jpg") == "sub/001"  # folder datasets: relative to the dataset root
    assert report_name("001.png") == "001"
    assert report_name("floorplan_test_00003") == "floorplan_test_00003"
    assert report_name("images.png") == "images"


def test_prediction_path_stays_inside_the_report() -> None:
    assert str(prediction_path("sub/a.jpg")) == "sub/a.png"
    assert str(prediction_path("floorplan_val_00012")) == "floorplan_val_00012.png"
    with pytest.raises(ValueError, match="cannot be used"):
        prediction_path("../escape.png")


def test_same_seed_gives_the_same_dice(tmp_path: Path) -> None:
    data_root = make_folder(tmp_path / "data", sizes=[(32, 48)] * 4)
    tables = []
    for run in ("a", "b"):
        L.seed_everything(7)
        cb = ReportCallback(str(tmp_path / run), examples=0)
        trainer = _trainer(tmp_path / f"logs_{run}", cb, max_steps=3, enable_checkpointing=False)
        module = tiny_module("se")
        trainer.fit(module, FolderData(data_root))
        trainer.test(module, FolderData(data_root))
        tables.append(read_table(tmp_path / run / "per_image.csv"))
    np.testing.assert_array_equal(tables[0].counts, tables[1].counts)
    np.testing.assert_array_equal(tables[0].boundary, tables[1].boundary)


@pytest.mark.slow
def test_two_process_ddp_report_equals_single_process(tmp_path: Path) -> None:
    # 5 images on 2 processes: the distributed sampler repeats one image; the report must count it once
    data_root = make_folder(tmp_path / "data")
    tables = {}
    for name, kw in [("single", {"devices": 1}), ("ddp", {"devices": 2, "strategy": "ddp_spawn"})]:
        L.seed_everything(0)
        cb = ReportCallback(str(tmp_path / name), examples=1)
        _trainer(tmp_path, cb, accelerator="cpu", **kw).test(tiny_module(), FolderData(data_root))
        tables[name] = read_table(tmp_path / name / "per_image.csv")
    assert tables["ddp"].names == tables["single"].names == [f"plan_{i}" for i in range(5)]
    np.testing.assert_array_equal(tables["ddp"].counts, tables["single"].counts)
    np.testing.assert_array_equal(tables["ddp"].boundary, tables["single"].boundary)
    assert len(list((tmp_path / "ddp" / "predictions").glob("*.png"))) == 5
