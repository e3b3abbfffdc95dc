"""Samplers for several processes (DDP): evaluation without repeated images, synthetic train plans per epoch.

**Evaluation.** With ``use_distributed_sampler=True`` (the default) Lightning gives every validation / test loader
a ``DistributedSampler``, which pads the dataset by repeating images until every process has as many: with 2
processes and 5 images one image is scored twice and any metric that does not de-duplicate moves. Lightning keeps
a loader's own sampler when it already is a ``DistributedSampler``, so :func:`eval_sampler` hands the eval loaders
:class:`UnpaddedDistributedSampler` instead: process ``r`` of ``W`` gets images ``r, r + W, r + 2W, ...`` and every
image is seen exactly once. Processes may then run one batch more or fewer than each other, which is fine for
evaluation (no gradient to synchronise; DDP synchronises buffers on the first eval batch only, so every process
needs at least one image -- checked here with an error rather than a hang).

**Synthetic train plans.** ``EpochSampler`` keys train plans by epoch (``epoch * n + i``). Lightning would wrap it in
a ``DistributedSamplerWrapper`` whose ``set_epoch`` never reaches the inner sampler, so after ``--ckpt_path last`` the
plans would restart at epoch 0. :class:`DistributedEpochSampler` is the DDP form: Lightning calls its ``set_epoch``
(also after a resume), and the processes share the epoch's plans between them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any

from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DistributedSampler, Sampler

from segattn.data.floorplans.dataset import EpochSampler


class UnpaddedDistributedSampler(UnrepeatedDistributedSampler):
    """Every image on exactly one process (``r, r + W, ...``), no padding, no shuffling; for validation and test.

    Args:
        dataset: anything with ``len``.
        num_replicas / rank: the world size and this process's global rank.
        split: the split's name, for the error message.

    Raises:
        ValueError: the split has fewer images than there are processes (a process without any would hang DDP).
    """

    def __init__(self, dataset: Sized, *, num_replicas: int, rank: int, split: str = "eval") -> None:
        if len(dataset) < num_replicas:
            raise ValueError(
                f"the {split} split has {len(dataset)} image(s) but the run has {num_replicas} processes: every "
                "process needs at least one image to evaluate; use fewer devices or more images"
            )
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)


class DistributedEpochSampler(DistributedSampler):
    """``EpochSampler`` sharded over processes: yields ``epoch * n + i`` for this process's share of ``range(n)``.

    Shares are taken as ``DistributedSampler`` takes them (``r, r + W, ...``, padded by repetition so every process
    runs the same number of train steps); ``set_epoch`` is called by Lightning every epoch.
    """

    def __init__(self, n: int, *, num_replicas: int, rank: int) -> None:
        super().__init__(range(n), num_replicas=num_replicas, rank=rank, shuffle=False)
        self.n = n

    def __iter__(self) -> Iterator[int]:
        return (self.epoch * self.n + i for i in super().__iter__())


def _world(trainer: Any) -> dict[str, int] | None:
    """``{"num_replicas", "rank"}`` when ``trainer`` shards data over several processes, else ``None``.

    ``None`` too when the trainer was built with ``use_distributed_sampler=False``: then, as Lightning documents it,
    every process iterates the whole loader and sharding is left to the user.
    """
    kwargs = getattr(trainer, "distributed_sampler_kwargs", None) if trainer is not None else None
    if not kwargs or kwargs.get("num_replicas", 1) <= 1:
        return None
    connector = getattr(trainer, "_accelerator_connector", None)  # Lightning keeps the flag only here
    if not getattr(connector, "use_distributed_sampler", True):
        return None
    return {"num_replicas": int(kwargs["num_replicas"]), "rank": int(kwargs["rank"])}


def world_size(trainer: Any) -> int:
    """How many processes share each loader's data under ``trainer`` (1 without DDP or without a trainer)."""
    world = _world(trainer)
    return 1 if world is None else world["num_replicas"]


def eval_sampler(dataset: Sized, trainer: Any, split: str) -> Sampler[int] | None:
    """The sampler of a validation / test loader: ``None`` (sequential) for one process, else unpadded shards."""
    world = _world(trainer)
    return None if world is None else UnpaddedDistributedSampler(dataset, split=split, **world)


def epoch_sampler(n: int, trainer: Any) -> Sampler[int]:
    """The sampler of synthetic train plans: ``EpochSampler`` for one process, ``DistributedEpochSampler`` for more."""
    world = _world(trainer)
    return EpochSampler(n) if world is None else DistributedEpochSampler(n, **world)
