"""Samplers for DDP, without processes: each is built for every rank of a world and the shards compared."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from torch.utils.data import DistributedSampler

from segattn.data import FloorplanData
from segattn.data.floorplans.dataset import EpochSampler
from segattn.data.samplers import (
    DistributedEpochSampler,
    UnpaddedDistributedSampler,
    epoch_sampler,
    eval_sampler,
    world_size,
)


def fake_trainer(num_replicas: int, rank: int = 0, *, use_distributed_sampler: bool = True) -> SimpleNamespace:
    """The two things the samplers read from a Lightning ``Trainer``."""
    return SimpleNamespace(
        distributed_sampler_kwargs={"num_replicas": num_replicas, "rank": rank},
        _accelerator_connector=SimpleNamespace(use_distributed_sampler=use_distributed_sampler),
    )


@pytest.mark.parametrize(("n", "world"), [(1, 1), (5, 2), (3, 2), (4, 2), (7, 3), (3, 3), (10, 4)])
def test_eval_shards_hold_every_image_exactly_once(n: int, world: int) -> None:
    shards = [list(UnpaddedDistributedSampler(range(n), num_replicas=world, rank=r)) for r in range(world)]
    assert sorted(i for shard in shards for i in shard) == list(range(n))  # no image repeated, none missing
    assert shards == [list(range(r, n, world)) for r in range(world)]  # r, r + W, ...: in order, not shuffled
    assert [len(UnpaddedDistributedSampler(range(n), num_replicas=world, rank=r)) for r in range(world)] == [
        len(s) for s in shards
    ]
    assert all(shards)  # every process evaluates something (DDP syncs buffers on its first eval batch)


def test_eval_shards_refuse_a_split_smaller_than_the_world() -> None:
    with pytest.raises(ValueError, match=r"the val split has 2 image\(s\) but the run has 3 processes"):
        UnpaddedDistributedSampler(range(2), num_replicas=3, rank=0, split="val")


def test_lightning_keeps_these_samplers() -> None:
    # lightning/pytorch/trainer/connectors/data_connector.py (_requires_distributed_sampler) replaces a loader's
    # sampler unless it already is a DistributedSampler
    assert isinstance(UnpaddedDistributedSampler(range(3), num_replicas=2, rank=0), DistributedSampler)
    assert isinstance(DistributedEpochSampler(3, num_replicas=2, rank=0), DistributedSampler)


def test_epoch_shards_key_plans_by_epoch_and_cover_them() -> None:
    n, world = 5, 2
    samplers = [DistributedEpochSampler(n, num_replicas=world, rank=r) for r in range(world)]
    for epoch in (0, 3):
        for s in samplers:
            s.set_epoch(epoch)
        shards = [list(s) for s in samplers]
        assert shards == [[epoch * n + i for i in (0, 2, 4)], [epoch * n + i for i in (1, 3, 0)]]  # padded
        assert {k for shard in shards for k in shard} == {epoch * n + i for i in range(n)}
        assert list(samplers[0]) == shards[0]  # iterating again does not advance the epoch: set_epoch does
    assert [len(s) for s in samplers] == [3, 3]  # equal shares: every process runs the same train steps


def test_one_process_gets_the_plain_samplers() -> None:
    for trainer in (None, SimpleNamespace(distributed_sampler_kwargs=None), fake_trainer(1)):
        assert eval_sampler(range(3), trainer, "val") is None
        assert type(epoch_sampler(4, trainer)) is EpochSampler
        assert world_size(trainer) == 1


def test_several_processes_get_the_distributed_samplers() -> None:
    trainer = fake_trainer(3, rank=2)
    sampler = eval_sampler(range(7), trainer, "test")
    assert isinstance(sampler, UnpaddedDistributedSampler) and list(sampler) == [2, 5]
    sampler = epoch_sampler(6, trainer)
    assert isinstance(sampler, DistributedEpochSampler) and list(sampler) == [2, 5]
    assert world_size(trainer) == 3


def test_use_distributed_sampler_false_leaves_sharding_to_the_user() -> None:
    trainer = fake_trainer(2, rank=1, use_distributed_sampler=False)
    assert eval_sampler(range(3), trainer, "val") is None
    assert type(epoch_sampler(4, trainer)) is EpochSampler
    assert world_size(trainer) == 1


def _floorplans(**kwargs) -> FloorplanData:
    dm = FloorplanData(image_size=64, crop_size=64, val_samples=3, test_samples=3, **kwargs)
    dm.setup()
    return dm


def test_datamodule_loaders_under_ddp() -> None:
    dm = _floorplans(train_samples=8, batch_size=2)
    dm.trainer = fake_trainer(2, rank=1)
    assert list(dm.val_dataloader().sampler) == [1]
    assert list(dm.test_dataloader().sampler) == [1]
    train = dm.train_dataloader()
    assert isinstance(train.sampler, DistributedEpochSampler) and list(train.sampler) == [1, 3, 5, 7]
    assert not train.sampler.shuffle


def test_datamodule_drops_the_last_batch_by_what_one_process_sees() -> None:
    # 5 plans on 2 processes = 3 each: with batch_size 4, drop_last over the whole dataset would leave no batch
    dm = _floorplans(train_samples=5, batch_size=4)
    dm.trainer = fake_trainer(2, rank=0)
    train = dm.train_dataloader()
    assert not train.drop_last and len(train) == 1
    dm = _floorplans(train_samples=5, batch_size=2)
    dm.trainer = fake_trainer(2, rank=0)
    assert dm.train_dataloader().drop_last  # 3 per process: one batch of 2, the lone third dropped


def test_datamodule_without_trainer_is_single_process() -> None:
    dm = _floorplans(train_samples=4, batch_size=2)
    assert dm.val_dataloader().sampler.__class__.__name__ == "SequentialSampler"
    assert type(dm.train_dataloader().sampler) is EpochSampler
