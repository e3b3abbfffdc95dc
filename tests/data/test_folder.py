"""Folder datasets through FolderData: validation before training, skip_bad, splits, read-only access."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segattn.data import DatasetError, FolderData
from tests.data.helpers import blocky_mask, make_pairs, tree_digest, write


def dm(root: Path, **kwargs) -> FolderData:
    kwargs.setdefault("crop_size", 32)
    kwargs.setdefault("batch_size", 2)
    return FolderData(root=str(root), **kwargs)


def names(module: FolderData, split: str) -> list[str]:
    return [p.key for p in module.splits[split]]


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """Three good pairs plus one of every problem a folder can have."""
    root = tmp_path / "broken"
    make_pairs(root, 3)
    write(root / "images" / "lonely_image.png", np.zeros((40, 56, 3), np.uint8))
    write(root / "masks" / "lonely_mask.png", np.zeros((40, 56), np.uint8))
    write(root / "images" / "wrong_size.png", np.zeros((40, 56, 3), np.uint8))
    write(root / "masks" / "wrong_size.png", np.zeros((41, 56), np.uint8))
    (root / "images" / "garbage.png").write_bytes(b"this is not a png")
    write(root / "masks" / "garbage.png", np.zeros((40, 56), np.uint8))
    write(root / "images" / "bad_values.png", np.zeros((40, 56, 3), np.uint8))
    write(root / "masks" / "bad_values.png", np.full((40, 56), 7, np.uint8))
    return root


def test_every_problem_in_one_error(broken: Path) -> None:
    module = dm(broken, mask_encoding="index")
    with pytest.raises(DatasetError) as info:
        module.setup("fit")
    text = str(info.value)
    assert "5 problem(s)" in text
    for fragment in (
        "lonely_image.png: image without mask",
        "lonely_mask.png: mask without image",
        "wrong_size.png: size mismatch: image is 40x56 (HxW) but mask is 41x56",
        "garbage.png: unreadable",
        "bad_values.png: mask values {7} outside classes 0..1",
        "skip_bad: true",
    ):
        assert fragment in text, fragment


def test_skip_bad_warns_and_keeps_only_good_pairs(broken: Path) -> None:
    module = dm(broken, mask_encoding="index", skip_bad=True, val_fraction=0.34)
    with pytest.warns(UserWarning, match="5 problem"):
        module.setup("fit")
    assert sorted(names(module, "train") + names(module, "val")) == ["p000", "p001", "p002"]
    batch = next(iter(module.train_dataloader()))
    assert batch["image"].shape == (2, 3, 32, 32)


def test_listing_is_capped(tmp_path: Path) -> None:
    make_pairs(tmp_path, 2)
    for i in range(60):
        write(tmp_path / "masks" / f"orphan{i:02d}.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DatasetError) as info:
        dm(tmp_path).setup("fit")
    assert "60 problem(s)" in str(info.value) and "... and 10 more" in str(info.value)
    assert str(info.value).count("mask without image") == 50


def test_palette_colour_not_found(tmp_path: Path) -> None:
    palette = [[0, 0, 0], [255, 0, 0]]
    for stem, colour in (("ok", (255, 0, 0)), ("odd", (0, 255, 0))):
        rgb = np.zeros((8, 8, 3), np.uint8)
        rgb[2:5, 2:5] = colour
        write(tmp_path / "images" / f"{stem}.png", np.zeros((8, 8, 3), np.uint8))
        write(tmp_path / "masks" / f"{stem}.png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    with pytest.raises(DatasetError, match=r"odd.png: colours not in the palette: \(0, 255, 0\) x9"):
        dm(tmp_path, mask_encoding="palette", palette=palette).setup("fit")


def test_palette_dataset_decodes(tmp_path: Path) -> None:
    palette = [[0, 0, 0], [255, 0, 0], [0, 0, 255]]
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[:, 16:] = (255, 0, 0)
    rgb[20:, :] = (0, 0, 255)
    for stem in ("a", "b"):
        write(tmp_path / "images" / f"{stem}.png", np.zeros((32, 32, 3), np.uint8))
        write(tmp_path / "masks" / f"{stem}.png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    module = dm(tmp_path, num_classes=3, mask_encoding="palette", palette=palette, val_fraction=0.5)
    module.setup("validate")
    mask = next(iter(module.val_dataloader()))["mask"][0]
    assert mask[0, 0] == 0 and mask[0, 20] == 1 and mask[25, 5] == 2 and mask[25, 25] == 2


def test_auto_resolves_0_255_to_binary(tmp_path: Path) -> None:
    make_pairs(tmp_path, 4)
    for path in (tmp_path / "masks").iterdir():
        write(path, cv2.imread(str(path), cv2.IMREAD_UNCHANGED) * 255)
    module = dm(tmp_path, val_fraction=0.25)
    module.setup("validate")
    assert module.mask_encoding == "binary"
    mask = next(iter(module.val_dataloader()))["mask"][:, :40, :56]  # inside the eval padding
    assert set(mask.unique().tolist()) == {0, 1}


def _binary_masks(root: Path) -> None:
    for path in (root / "masks").iterdir():
        write(path, cv2.imread(str(path), cv2.IMREAD_UNCHANGED) * 255)


def test_auto_with_mixed_encodings_is_an_error_naming_each_kind(tmp_path: Path) -> None:
    # issue 11: six 0/255 masks and one 0/1 mask resolved to "index", where 255 is ignore: no foreground at all
    make_pairs(tmp_path, 7)
    _binary_masks(tmp_path)
    write(tmp_path / "masks" / "p006.png", blocky_mask(np.random.default_rng(1), 40, 56))  # 0/1
    for skip_bad in (False, True):
        with pytest.raises(DatasetError, match="two encodings") as info:
            dm(tmp_path, skip_bad=skip_bad).setup("fit")
        assert "6 0/255 masks (binary)" in str(info.value) and "p006.png {0, 1}" in str(info.value)


def test_auto_is_decided_after_bad_pairs_are_left_out(tmp_path: Path) -> None:
    # a 0..7 mask (bad for 2 classes) used to switch all to "index"; skip_bad drops it and the rest stay binary
    make_pairs(tmp_path, 7)
    _binary_masks(tmp_path)
    write(tmp_path / "masks" / "p006.png", blocky_mask(np.random.default_rng(1), 40, 56, classes=tuple(range(8))))
    with pytest.raises(DatasetError, match="p006.png"):
        dm(tmp_path).setup("fit")
    module = dm(tmp_path, skip_bad=True, val_fraction=0.2)
    with pytest.warns(UserWarning, match="p006.png"):
        module.setup("fit")
    assert module.mask_encoding == "binary"
    masks = torch.cat([b["mask"] for b in module.val_dataloader()])
    assert 1 in masks.unique().tolist()  # foreground survives, not read as ignore (255)
    # an unreadable image beside a 0/1 mask: the pair is dropped, so its mask does not vote either
    write(tmp_path / "masks" / "p006.png", blocky_mask(np.random.default_rng(1), 40, 56))
    (tmp_path / "images" / "p006.png").write_bytes(b"not a png")
    module = dm(tmp_path, skip_bad=True)
    with pytest.warns(UserWarning, match="p006.png"):
        module.setup("fit")
    assert module.mask_encoding == "binary"


def test_missing_root_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere does not exist"):
        dm(tmp_path / "nowhere").setup("fit")
    (tmp_path / "empty" / "images").mkdir(parents=True)
    (tmp_path / "empty" / "masks").mkdir()
    with pytest.raises(DatasetError, match="images holds no image files"):
        dm(tmp_path / "empty").setup("fit")
    (tmp_path / "nomasks" / "images").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="masks not found"):
        dm(tmp_path / "nomasks").setup("fit")


def test_nested_folders_pair_by_relative_path(tmp_path: Path) -> None:
    for sub, ext in (("a", "png"), ("b", "jpg"), ("b/c", "tif")):
        write(tmp_path / "images" / sub / f"x.{ext}", np.full((32, 32, 3), 200, np.uint8))
        write(tmp_path / "masks" / sub / "x.png", np.zeros((32, 32), np.uint8))
    module = dm(tmp_path, val_fraction=0.34)
    module.setup("fit")
    assert sorted(names(module, "train") + names(module, "val")) == ["a/x", "b/c/x", "b/x"]
    batch = next(iter(module.val_dataloader()))
    assert batch["name"][0].startswith("images/") and batch["name"][0].endswith(("x.png", "x.jpg", "x.tif"))


def test_split_files_are_honoured(tmp_path: Path) -> None:
    make_pairs(tmp_path, 6)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.txt").write_text("p000\np001\n# a comment\n\np002.png\n")
    (tmp_path / "splits" / "val.txt").write_text("p003\n")
    (tmp_path / "splits" / "test.txt").write_text("images/p004.png\n")
    module = dm(tmp_path)
    module.setup("fit")
    module.setup("test")
    assert names(module, "train") == ["p000", "p001", "p002"]
    assert names(module, "val") == ["p003"] and names(module, "test") == ["p004"]
    assert next(iter(module.test_dataloader()))["name"] == ["images/p004.png"]


def test_split_file_problems_join_the_one_error(tmp_path: Path) -> None:
    make_pairs(tmp_path, 3)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.txt").write_text("p000\nghost\n")
    (tmp_path / "splits" / "val.txt").write_text("p001\np000\n")
    with pytest.raises(DatasetError) as info:
        dm(tmp_path).setup("fit")
    assert "train.txt:2: 'ghost' matches no image / mask pair" in str(info.value)
    assert "val.txt:2: 'p000' is already in train.txt" in str(info.value)


def test_seeded_split_is_reproducible(tmp_path: Path) -> None:
    make_pairs(tmp_path, 20)
    first, again, other = (dm(tmp_path, split_seed=s, val_fraction=0.25, test_fraction=0.1) for s in (7, 7, 8))
    for module in (first, again, other):
        module.setup("fit")
    assert names(first, "val") == names(again, "val") and names(first, "test") == names(again, "test")
    assert len(names(first, "val")) == 5 and len(names(first, "test")) == 2 and len(names(first, "train")) == 13
    assert names(first, "val") != names(other, "val")
    assert not set(names(first, "val")) & set(names(first, "train"))


def test_user_folder_is_never_written(tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_pairs(root, 6, size=(48, 40))
    write(root / "images" / "odd.png", np.zeros((40, 40, 3), np.uint8))  # a bad pair, skipped
    before = tree_digest(root)
    module = dm(root, skip_bad=True, val_fraction=0.34)
    with pytest.warns(UserWarning):
        module.setup("fit")
    module.setup("test")
    for loader in (module.train_dataloader(), module.val_dataloader(), module.test_dataloader()):
        for _ in loader:
            pass
    assert tree_digest(root) == before


def test_eval_batches_are_padded_and_carry_orig_size(tmp_path: Path) -> None:
    make_pairs(tmp_path, 4, size=(40, 56))
    module = dm(tmp_path, val_fraction=0.5, eval_batch_size=2)
    module.setup("validate")
    batch = next(iter(module.val_dataloader()))
    assert batch["image"].shape == (2, 3, 64, 64) and batch["mask"].shape == (2, 64, 64)
    assert batch["orig_size"].tolist() == [[40, 56], [40, 56]]
    assert (batch["mask"][:, 40:] == 255).all() and (batch["mask"][:, :, 56:] == 255).all()
    assert set(batch["mask"][:, :40, :56].unique().tolist()) <= {0, 1}
    assert batch["index"].tolist() == [0, 1]


@pytest.mark.parametrize(
    ("sizes", "batch_size", "expected"),
    [
        ([(40, 56)], 8, 3),  # 8 x 32² = 8192 pixels of a training batch hold 3 images of 2240
        ([(40, 56), (128, 96)], 8, 1),  # the largest image decides: 12288 pixels, more than a training batch
        ([(16, 16)], 4, 4),  # small images: never more than batch_size
    ],
)
def test_eval_batches_hold_no_more_pixels_than_a_training_batch(
    tmp_path: Path, sizes: list[tuple[int, int]], batch_size: int, expected: int
) -> None:
    # 8 whole plans of about 1240 x 1750 in one validation batch took 20 GB and the kernel killed the run
    for i, size in enumerate(sizes):
        make_pairs(tmp_path, 4, size=size, prefix=f"s{i}_")
    module = dm(tmp_path, val_fraction=0.5, batch_size=batch_size)
    module.setup("validate")
    assert module.eval_batch("val") == expected
    assert next(iter(module.val_dataloader()))["image"].shape[0] == min(expected, len(module.splits["val"]))
    assert dm(tmp_path, val_fraction=0.5, batch_size=batch_size, eval_batch_size=5).eval_batch("val") == 5


def test_image_pixels_reads_each_header_once_and_never_a_whole_file(tmp_path: Path, monkeypatch) -> None:
    # the eval batch size and the validation cadence both ask; a split of thousands of files was read whole twice
    import segattn.data.sources as sources

    make_pairs(tmp_path, 4, size=(40, 56))
    module = dm(tmp_path, val_fraction=0.5)
    module.prepare_splits()
    calls: list[Path] = []
    real = sources.read_header
    monkeypatch.setattr(sources, "read_header", lambda data: calls.append(data) or real(data))

    def no_whole_reads(self: Path) -> bytes:
        raise AssertionError(f"{self} was read whole")

    monkeypatch.setattr(Path, "read_bytes", no_whole_reads)
    assert module.image_pixels("val") == [40 * 56] * 2
    assert module.largest_image_pixels("val") == 40 * 56 and module.image_pixels("val") == [40 * 56] * 2
    assert calls == [pair.image for pair in module.splits["val"]]


def test_a_rotated_phone_jpeg_pairs_with_the_mask_drawn_on_what_a_viewer_shows(tmp_path: Path) -> None:
    # issue 11: IMREAD_UNCHANGED ignored the EXIF orientation, so image and mask disagreed (size or content)
    from segattn.data.io import apply_orientation
    from tests.data.helpers import write_oriented

    rng = np.random.default_rng(0)
    for i in range(4):
        upright_mask = blocky_mask(rng, 56, 40)  # (H, W) as the user sees the photo
        upright = np.where(upright_mask[:, :, None] == 1, 30, 220).astype(np.uint8).repeat(3, axis=2)
        stored = apply_orientation(upright, 8)  # the sensor's pixels; tag 6 turns them back upright
        write_oriented(tmp_path / "images" / f"p{i}.jpg", stored, 6, quality=100)
        write(tmp_path / "masks" / f"p{i}.png", upright_mask)
    module = dm(tmp_path, val_fraction=0.5, crop_size=None)
    module.setup("validate")
    batch = next(iter(module.val_dataloader()))
    h, w = batch["orig_size"][0].tolist()
    assert (h, w) == (56, 40)
    dark = batch["image"][0, 0, :h, :w] < 0  # below the mean: the dark (wall) pixels
    assert (dark == (batch["mask"][0, :h, :w] == 1)).float().mean() > 0.99
