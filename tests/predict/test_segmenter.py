"""The Python API: ``Segmenter.from_checkpoint(path).predict(array)`` and ``.predict_folder`` take one path."""

from __future__ import annotations

from pathlib import Path

import cv2
import lightning as L
import numpy as np
import pytest
import torch

from segattn.models import AttentionUnet
from segattn.predict import Segmenter

from .helpers import write_image


def test_from_checkpoint_reads_the_file_once_and_builds_the_bare_network(
    tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k.get("weights_only")) or real_load(*a, **k))
    seg = Segmenter.from_checkpoint(tiny_ckpt)
    assert calls == [True]  # one safe read; no LightningModule, loss or metric rebuilt
    assert type(seg.net) is AttentionUnet and not isinstance(seg.net, L.LightningModule)
    assert seg.num_classes == 2 and seg.config.tile == 32


def test_an_array_and_the_folder_command_give_the_same_mask(tiny_ckpt: Path, tmp_path: Path) -> None:
    image = (write_image(tmp_path / "in" / "a.png", 70, 45, seed=4) * 255).round().astype(np.uint8)  # RGB
    seg = Segmenter.from_checkpoint(tiny_ckpt)
    result = seg.predict_folder(tmp_path / "in", tmp_path / "out", tta="flip", progress=False)
    assert (result.ok, result.failed) == (1, 0)
    on_disk = cv2.imread(str(tmp_path / "out" / "masks" / "a.png"), cv2.IMREAD_UNCHANGED)
    in_memory = seg.predict(image, tta="flip")
    assert in_memory.shape == (70, 45) and in_memory.dtype == np.uint8
    np.testing.assert_array_equal(in_memory * 255, on_disk)
    assert 0 < in_memory.mean() < 1  # not a trivial all-background or all-wall mask
    # the same pixels as float in [0, 1], as a file path, and in another batch size: the same probabilities
    probs = seg.probabilities(image, batch_size=1)
    torch.testing.assert_close(seg.probabilities(image.astype(np.float32) / 255, batch_size=5), probs)
    torch.testing.assert_close(seg.probabilities(tmp_path / "in" / "a.png"), probs)
    assert probs.shape == (1, 70, 45)


@pytest.mark.parametrize("size", [(1, 1), (5, 300), (33, 31)])
def test_images_smaller_or_thinner_than_a_tile(tiny_ckpt: Path, size: tuple[int, int]) -> None:
    seg = Segmenter.from_checkpoint(tiny_ckpt)
    gray = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8)  # gray for an RGB model
    assert seg.predict(gray).shape == size


def test_the_checkpoint_carries_the_training_thickness(tiny_ckpt: Path) -> None:
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    assert ckpt["FloorplanData"]["structure_px"] > 0  # measured on the train plans at fit's setup
    assert Segmenter.from_checkpoint(tiny_ckpt).config.structure_px == ckpt["FloorplanData"]["structure_px"]


def test_scale_resizes_before_tiling_and_outputs_come_back_at_the_input_size(tiny_ckpt: Path, tmp_path: Path) -> None:
    write_image(tmp_path / "in" / "a.png", 90, 70, seed=2)
    seg = Segmenter.from_checkpoint(tiny_ckpt)
    for scale in (0.5, 2.0, "auto"):
        out = tmp_path / f"out_{scale}"
        result = seg.predict_folder(tmp_path / "in", out, scale=scale, probs="png8", progress=False)
        assert result.ok == 1
        assert cv2.imread(str(out / "masks" / "a.png"), cv2.IMREAD_UNCHANGED).shape == (90, 70)
        assert cv2.imread(str(out / "probs" / "a.png"), cv2.IMREAD_UNCHANGED).shape == (90, 70)
        with open(result.manifest) as f:
            row = f.read().splitlines()[-1]
        assert row.endswith(",0.5" if scale == 0.5 else ",2" if scale == 2.0 else "")
        assert seg.probabilities(tmp_path / "in" / "a.png", scale=scale).shape == (1, 90, 70)
    # a factor is a real resize: the probabilities differ from the unscaled run's
    assert not torch.allclose(
        seg.probabilities(tmp_path / "in" / "a.png", scale=0.5), seg.probabilities(tmp_path / "in" / "a.png")
    )


def test_a_resumed_run_writes_bit_identical_outputs(tiny_ckpt: Path, tmp_path: Path) -> None:
    # images whose tiles end in a part-filled batch in one run and not in the other (issue 11: resumed predictions
    # must equal an uninterrupted run bit for bit; a kernel picked for another batch size differs in the last bits)
    import numpy as np

    for i, (h, w) in enumerate([(100, 100), (60, 70), (40, 40), (90, 41)]):
        write_image(tmp_path / "in" / f"im{i}.png", h, w, seed=i)
    seg = Segmenter.from_checkpoint(tiny_ckpt)
    seg.predict_folder(tmp_path / "in", tmp_path / "ref", probs="npy", progress=False, batch_size=4)
    for gone in (["im1"], ["im0", "im3"], ["im2"]):
        out = tmp_path / f"resumed_{'_'.join(gone)}"
        seg.predict_folder(tmp_path / "in", out, probs="npy", progress=False, batch_size=4)
        for name in gone:  # as if the run had been killed before these
            (out / "masks" / f"{name}.png").unlink()
            (out / "probs" / f"{name}.npy").unlink()
        seg.predict_folder(tmp_path / "in", out, probs="npy", progress=False, batch_size=4)
        for name in gone:
            ref, got = np.load(tmp_path / "ref" / "probs" / f"{name}.npy"), np.load(out / "probs" / f"{name}.npy")
            assert np.array_equal(ref, got), (gone, name, float(np.abs(ref - got).max()))
    # in memory, one image alone in its batches, the same bits as the folder run, where it shared batches
    in_memory = seg.probabilities(tmp_path / "in" / "im1.png", batch_size=4)[0].numpy()
    assert np.array_equal(in_memory, np.load(tmp_path / "ref" / "probs" / "im1.npy"))
