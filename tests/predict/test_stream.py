"""The tile stream's batches: full tiles normalised in place into their batch slot equal the plain path bit for bit."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
import pytest
import torch

from segattn.data.preprocess import EvalPreprocess
from segattn.predict.inputs import InputImage, OutputPaths
from segattn.predict.stream import TileStream

from .helpers import write_image


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("channels_last", [False, True])
def test_array_into_is_bit_identical_to_array(channels: int, channels_last: bool) -> None:
    pre = EvalPreprocess(channels, (0.485, 0.456, 0.406)[:channels], (0.229, 0.224, 0.225)[:channels])
    image = np.random.default_rng(0).random((40, 24, channels), dtype=np.float32)  # (H, W, C) in [0, 1]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    batch = torch.full((2, channels, 40, 24), float("nan")).contiguous(memory_format=fmt)
    pre.array_into(image, batch[1])
    expected = pre.array(image)  # (C, H, W): the training path (numpy normalise + layout copy)
    assert torch.equal(batch[1], expected)
    assert torch.isnan(batch[0]).all()  # only its own slot is written


class _Plain:
    """The same preprocessing without ``to_input_into``: the stream falls back to ``to_input`` + copy."""

    def __init__(self, pre: EvalPreprocess) -> None:
        self.pre, self.in_channels = pre, pre.in_channels

    def read(self, path: Path) -> np.ndarray:
        from segattn.data.io import read_image

        return read_image(path, self.in_channels)

    def to_input(self, array: np.ndarray) -> torch.Tensor:
        return self.pre.array(array)


class _InPlace(_Plain):
    def to_input_into(self, array: np.ndarray, out: torch.Tensor) -> None:
        self.pre.array_into(array, out)


@pytest.mark.parametrize("channels_last", [False, True])
def test_in_place_batches_equal_the_plain_path(tmp_path: Path, channels_last: bool) -> None:
    sizes = {"big.png": (70, 53), "small.png": (20, 9), "tile.png": (32, 32)}  # edge tiles, a padded one, exact
    images = []
    for i, (name, (h, w)) in enumerate(sizes.items()):
        write_image(tmp_path / name, h, w, seed=i)
        images.append(InputImage(tmp_path / name, PurePosixPath(name)))
    outputs = [OutputPaths(tmp_path / "out" / f"{i}.png", (), None) for i in range(len(images))]
    pre = EvalPreprocess(3, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

    def batches(prep: object, fmt: bool) -> list[dict]:
        stream = TileStream(images, outputs, prep, tile=32, stride=24, batch_size=3, channels_last=fmt)
        return list(stream)

    plain, fast = batches(_Plain(pre), False), batches(_InPlace(pre), channels_last)
    assert len(plain) == len(fast) and sum(b["tile_pos"].shape[0] for b in fast) == 3 * 2 + 1 + 1  # 70 x 53: 3 x 2
    assert all(b["image"].shape[0] == 3 for b in fast)  # always a full batch: the model sees one batch size
    last = fast[-1]
    assert torch.equal(last["image"][last["tile_pos"].shape[0] :], torch.zeros_like(last["image"][2:]))
    for a, b in zip(plain, fast, strict=True):
        assert torch.equal(a["tile_pos"], b["tile_pos"])
        assert [e._replace(seconds=0.0) for e in a["events"]] == [e._replace(seconds=0.0) for e in b["events"]]
        assert torch.equal(a["image"], b["image"])
        if channels_last and b["image"].shape[0]:
            assert b["image"].is_contiguous(memory_format=torch.channels_last)
