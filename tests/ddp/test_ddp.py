"""DDP on CPU (gloo): every image scored once under any world size, exact resume, no unused parameter anywhere.

The multi-process tests share one 2-process ``fit`` of the tiny ``BASE`` run (3 attentions, 5 val / 3 test images:
odd, so 2 processes cannot split them evenly), started the way a user types it (Lightning's launcher). The other
2-process runs go through ``torchrun``, the multi-node path (and faster here: both processes import at once). Each
2-process run costs two imports of torch, Lightning and smp, so there are four; single-process runs happen in this
process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from segattn.attention import ATTENTION_NAMES
from segattn.models import AttentionUnet
from segattn.scoring.table import read_table
from tests.ddp.helpers import (
    last_metrics,
    merge,
    read_eval,
    run_cli,
    run_here,
    run_torchrun,
    run_two_nodes,
    write_config,
)

DDP2 = {"trainer": {"strategy": "ddp", "devices": 2}}
SCORES = ("dice", "dice_per_image", "iou", "iou_per_image", "dice_torchmetrics")


def _report(run_dir: Path) -> dict:
    return {"report": {"report_dir": str(run_dir / "report"), "examples": 0}}


def _seen_once(record: dict, n: int, world: int) -> None:
    """Every one of the ``n`` images was evaluated by exactly one of the ``world`` processes."""
    assert len(record["seen"]) == world and all(record["seen"])
    assert sorted(i for rank in record["seen"] for i in rank) == list(range(n))
    assert record["index"] == list(range(n))


def _checkpoints(run_dir: Path) -> list[str]:
    return sorted(p.name for p in (run_dir / "checkpoints").iterdir())


@pytest.fixture(scope="module")
def ddp_fit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``train.py fit --trainer.strategy ddp --trainer.devices 2``: 2 epochs of the tiny run."""
    run = tmp_path_factory.mktemp("ddp_fit")
    args = ["fit", "--config", str(write_config(run)), "--trainer.strategy", "ddp", "--trainer.devices", "2"]
    run_cli(args, hash_seed=1)
    return run


@pytest.mark.slow
def test_two_processes_score_every_image_once_and_like_one_process(ddp_fit: Path, tmp_path: Path) -> None:
    ckpt = ddp_fit / "checkpoints" / "last.ckpt"
    names = _checkpoints(ddp_fit)  # saved once, by rank 0: a second writer would leave "-v1" copies
    assert len(names) == 2 and names[0].startswith("best-epoch") and names[1] == "last.ckpt", names

    # val: the 2-process numbers are the ones fit logged after its last epoch, with the weights last.ckpt holds
    ddp = {"val": read_eval(ddp_fit, "val"), "val_metrics": last_metrics(ddp_fit)}
    test_dir = tmp_path / "ddp_test"
    run_torchrun(
        ["test", "--config", str(write_config(test_dir, merge(DDP2, _report(test_dir)))), "--ckpt_path", str(ckpt)]
    )
    ddp["test"], ddp["test_metrics"] = read_eval(test_dir, "test"), last_metrics(test_dir)
    one: dict = {}
    for stage, command in (("val", "validate"), ("test", "test")):
        run_dir = tmp_path / f"one_{stage}"
        run_here([command, "--config", str(write_config(run_dir, _report(run_dir))), "--ckpt_path", str(ckpt)])
        one[stage], one[f"{stage}_metrics"] = read_eval(run_dir, stage), last_metrics(run_dir)

    for stage, n in (("val", 5), ("test", 3)):
        _seen_once(ddp[stage], n, world=2)
        _seen_once(one[stage], n, world=1)
        assert ddp[stage]["counts"] == one[stage]["counts"]  # the same [tp, fp, fn] per image and class
        for score in SCORES:
            key = f"{stage}/{score}"
            assert ddp[f"{stage}_metrics"][key] == pytest.approx(one[f"{stage}_metrics"][key], abs=1e-6), key
    assert 0 < one["val_metrics"]["val/dice"] < 1  # not a degenerate score that any run would match

    # the test report: one row per image and class, gathered from both processes without a duplicate
    tables = [read_table(d / "report" / "per_image.csv") for d in (test_dir, tmp_path / "one_test")]
    assert tables[0].names == tables[1].names and len(tables[0].names) == 3
    np.testing.assert_array_equal(tables[0].counts, tables[1].counts)
    np.testing.assert_array_equal(tables[0].boundary, tables[1].boundary)
    np.testing.assert_array_equal(tables[0].counts, np.array(one["test"]["counts"]))


@pytest.mark.slow
def test_resume_from_last_under_ddp_equals_the_uninterrupted_run(ddp_fit: Path, tmp_path: Path) -> None:
    run = tmp_path / "resumed"
    stop = {"trainer": {"callbacks": [{"class_path": "tests.ddp.helpers.StopAfterEpochs", "init_args": {"epochs": 1}}]}}
    # new processes, so another PYTHONHASHSEED than ddp_fit's: set order must not reach the plans or the model
    run_torchrun(["fit", "--config", str(write_config(run, merge(DDP2, stop), recorder=False))], hash_seed=3)
    assert "last.ckpt" in _checkpoints(run)  # the job, cut off after epoch 0, is resubmitted:
    run_torchrun(["fit", "--config", str(write_config(run, DDP2)), "--ckpt_path", "last"], hash_seed=3)
    assert _checkpoints(run)[-1] == "last.ckpt" and not any("-v" in name for name in _checkpoints(run))

    resumed = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    full = torch.load(ddp_fit / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert resumed["epoch"] == full["epoch"] == 1 and resumed["global_step"] == full["global_step"] == 4
    assert resumed["state_dict"].keys() == full["state_dict"].keys()
    for key, value in full["state_dict"].items():  # bit for bit: the same plans, order and optimizer state
        assert torch.equal(resumed["state_dict"][key], value), key
    assert read_eval(run, "val")["counts"] == read_eval(ddp_fit, "val")["counts"]
    got, want = last_metrics(run), last_metrics(ddp_fit)
    for key in ("val/dice", "val/loss", "train/loss_epoch"):
        assert got[key] == want[key], key


@pytest.mark.slow
def test_two_nodes_of_two_processes_fit_and_validate_like_one_process(tmp_path: Path) -> None:
    """torchrun --nnodes 2 with two local node ranks over gloo (4 processes), as far as one machine allows."""
    nodes = {"trainer": {"strategy": "ddp", "devices": 2, "num_nodes": 2}}
    fit_dir = tmp_path / "fit4"
    run_two_nodes(["fit", "--config", str(write_config(fit_dir, merge(nodes, {"trainer": {"max_epochs": 1}})))])
    ckpt = fit_dir / "checkpoints" / "last.ckpt"
    assert _checkpoints(fit_dir)[-1] == "last.ckpt" and not any("-v" in n for n in _checkpoints(fit_dir))
    val_dir = tmp_path / "val4"
    run_two_nodes(["validate", "--config", str(write_config(val_dir, nodes)), "--ckpt_path", str(ckpt)])
    one_dir = tmp_path / "val1"
    run_here(["validate", "--config", str(write_config(one_dir)), "--ckpt_path", str(ckpt)])
    four, one = read_eval(val_dir, "val"), read_eval(one_dir, "val")
    _seen_once(four, 5, world=4)  # 5 images over 4 processes: one process has two, each image once
    assert four["counts"] == one["counts"]
    got, want = last_metrics(val_dir), last_metrics(one_dir)
    for score in SCORES:
        assert got[f"val/{score}"] == pytest.approx(want[f"val/{score}"], abs=1e-6), score
    fit_logged = last_metrics(fit_dir)  # what the 4-process fit logged after its epoch, with these weights
    assert fit_logged["val/dice"] == pytest.approx(want["val/dice"], abs=1e-6)
    assert 0 < want["val/dice"] < 1


@pytest.fixture
def process_group(tmp_path: Path) -> Iterator[None]:
    """A 1-process gloo group in this process: enough for DDP's reducer to report unused parameters."""
    if dist.is_initialized():
        pytest.skip("a process group is already initialised in this process")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def _two_ddp_steps(net: torch.nn.Module) -> None:
    model = DistributedDataParallel(net, find_unused_parameters=False)  # Lightning's "ddp" default
    for _ in range(2):  # a parameter left out of step 1 makes the forward of step 2 raise
        out = model(torch.randn(2, 3, 32, 32))  # (2, 1, 32, 32)
        (out * torch.randn_like(out)).sum().backward()


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_every_attention_trains_under_ddp_without_unused_parameters(name: str, process_group: None) -> None:
    torch.manual_seed(0)
    spec = name if name == "gate" else {"name": name, "position": "both"}  # pre and post, the last block too
    _two_ddp_steps(AttentionUnet("tu-resnet18", encoder_depth=3, decoder_channels=(16, 8, 8), attention=spec))


@pytest.mark.xfail(
    strict=True,
    raises=RuntimeError,
    reason="smp's own resnet encoders keep the stages below encoder_depth < 5 (timm 'tu-' encoders drop them); "
    "plain DDP rejects those unused parameters",
)
def test_smp_encoder_cut_short_trains_under_ddp(process_group: None) -> None:
    torch.manual_seed(0)
    _two_ddp_steps(AttentionUnet("resnet18", encoder_depth=3, decoder_channels=(16, 8, 8)))
