"""Augmentation specs from YAML, label safety of the pipelines, eval padding and batch collation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segattn.data.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    make_sample,
    pad_collate,
    resolve_normalization,
)
from segattn.data.transforms import build_eval_transform, build_steps, build_train_transform
from tests.data.helpers import blocky_mask

GEOMETRIC = [
    {"name": "PadIfNeeded", "params": {"min_height": 96, "min_width": 96, "fill_mask": 255}},
    {"name": "RandomSizedCrop", "params": {"min_max_height": [40, 90], "size": [64, 64]}},
    {"name": "HorizontalFlip", "params": {"p": 0.5}},
    {"name": "RandomRotate90", "params": {"p": 0.5}},
    {"name": "Affine", "params": {"rotate": [-20, 20], "fill_mask": 255, "p": 1.0}},
]


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(
        ValueError, match=r"train_transforms\[1\]: unknown albumentations transform 'HorizontalFlp'.*HorizontalFlip"
    ):
        build_steps([{"name": "VerticalFlip"}, {"name": "HorizontalFlp"}], "train_transforms")


def test_unknown_parameter_lists_the_valid_ones() -> None:
    with pytest.raises(
        ValueError, match=r"t\[0\]: GaussianBlur has no parameter\(s\) \['sigma'\]; valid: .*sigma_limit"
    ):
        build_steps([{"name": "GaussianBlur", "params": {"sigma": 1.0}}], "t")


def test_bad_value_is_reported_with_its_position() -> None:
    with pytest.raises(ValueError, match=r"t\[0\]: GaussNoise: .*std_range"):
        build_steps([{"name": "GaussNoise", "params": {"std_range": [0.5, 0.1]}}], "t")


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"name": "Normalize"}], "normalisation is done by the DataModule"),
        ([{"name": "OneOf", "params": {"p": 1}}], "needs a 'transforms' list"),
        ([{"name": "HorizontalFlip", "transforms": []}], "takes no 'transforms'"),
        ([{"name": "HorizontalFlip", "p": 0.5}], r"unknown key\(s\) \['p'\]"),
        (["HorizontalFlip"], "expected a step like"),
        ([{"params": {}}], "needs a 'name'"),
    ],
)
def test_malformed_steps_are_refused(steps: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_steps(steps, "t")


def test_nested_composition_builds() -> None:
    spec = [{"name": "OneOf", "params": {"p": 1.0}, "transforms": [{"name": "GaussianBlur"}, {"name": "ToGray"}]}]
    (one_of,) = build_steps(spec, "t")
    assert type(one_of).__name__ == "OneOf" and len(one_of.transforms) == 2


@pytest.mark.parametrize(
    ("specs", "augment"), [(None, "flips"), (None, "scan"), (GEOMETRIC, "flips")], ids=["flips", "scan", "geometric"]
)
def test_train_pipeline_keeps_labels_and_moves_mask_with_image(specs: list | None, augment: str) -> None:
    """The image encodes the mask (dark = class 2); after every transform the two must still agree."""
    transform = build_train_transform(specs, crop_size=64, fill=IMAGENET_MEAN, augment=augment)
    transform.set_random_seed(0)
    rng = np.random.default_rng(0)
    for _ in range(30):
        mask = blocky_mask(rng, 80, 104, classes=(0, 2), block=12)  # classes 0 and 2 only: 1 would mean linear resize
        image = np.where(mask[:, :, None] == 2, 0.1, 0.9).astype(np.float32).repeat(3, axis=2)
        out = transform(image=image, mask=mask)
        img, m = out["image"], out["mask"]
        assert img.shape == (64, 64, 3) and m.shape == (64, 64)
        assert set(np.unique(m).tolist()) <= {0, 2, 255}
        valid = m != 255
        assert valid.mean() > 0.3
        # pixels darker than the page's middle grey are class 2; edges and photometric noise allow a few misses
        gray = img.mean(axis=2)
        middle = (np.percentile(gray[valid], 5) + np.percentile(gray[valid], 95)) / 2
        agree = ((gray < middle) == (m == 2))[valid].mean()
        assert agree > 0.9, f"image and mask disagree on {1 - agree:.1%} of pixels"


def test_default_augmentation_is_flips_and_scan_is_named() -> None:
    """``augment`` picks the default pipeline: flips / rot90 only unless ``scan`` is asked for; a typo lists both."""
    names = lambda augment: [type(t).__name__ for t in build_train_transform(None, 64, augment=augment)]  # noqa: E731
    assert names("flips") == ["HorizontalFlip", "VerticalFlip", "RandomRotate90", "PadIfNeeded", "RandomCrop"]
    assert {"RandomSizedCrop", "Affine", "RandomBrightnessContrast", "OneOf"} <= set(names("scan"))
    assert names("flips") == [type(t).__name__ for t in build_train_transform(None, 64)]
    with pytest.raises(ValueError, match=r"augment must be one of 'flips' .*'scan'.*got 'strong'"):
        build_train_transform(None, 64, augment="strong")


def test_agreement_check_catches_a_mask_left_behind() -> None:
    """Counter-check for the test above: a flip applied to the image only breaks the agreement."""
    rng = np.random.default_rng(1)
    mask = blocky_mask(rng, 64, 64, classes=(0, 2), block=8)
    image = np.where(mask == 2, 0.1, 0.9).astype(np.float32)
    assert ((image[:, ::-1] < 0.5) == (mask == 2)).mean() < 0.8


def test_eval_sample_is_padded_to_multiple_of_32_with_ignore() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((50, 70, 3), dtype=np.float32)
    mask = rng.integers(0, 2, (50, 70)).astype(np.uint8)
    mean, std = resolve_normalization(IMAGENET_MEAN, IMAGENET_STD, 3)
    s = make_sample(image, mask, build_eval_transform(None), mean, std, name="x", index=3, pad_multiple=32)
    assert s["orig_size"] == (50, 70)
    assert s["image"].shape == (3, 64, 96) and s["mask"].shape == (64, 96) and s["mask"].dtype == torch.int64
    assert (s["mask"][50:] == 255).all() and (s["mask"][:, 70:] == 255).all()
    assert (s["image"][:, 50:] == 0).all() and (s["image"][:, :, 70:] == 0).all()
    expected = (image - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    torch.testing.assert_close(s["image"][:, :50, :70], torch.from_numpy(expected.transpose(2, 0, 1)))
    torch.testing.assert_close(s["mask"][:50, :70], torch.from_numpy(mask.astype(np.int64)))


def test_eval_transform_that_resizes_is_refused() -> None:
    resize = build_eval_transform([{"name": "Resize", "params": {"height": 32, "width": 32}}])
    image, mask = np.zeros((40, 40, 3), np.float32), np.zeros((40, 40), np.uint8)
    with pytest.raises(ValueError, match="eval_transforms changed the size of x"):
        make_sample(image, mask, resize, (0.5,) * 3, (0.5,) * 3, name="x", index=0, pad_multiple=32)


def test_pad_collate_pads_to_the_largest_and_keeps_metadata() -> None:
    samples = [
        {
            "image": torch.ones(3, 32, 64),
            "mask": torch.ones(32, 64, dtype=torch.int64),
            "name": "a",
            "index": 0,
            "orig_size": (30, 60),
        },
        {
            "image": torch.ones(3, 64, 32),
            "mask": torch.zeros(64, 32, dtype=torch.int64),
            "name": "b",
            "index": 5,
            "orig_size": (64, 20),
        },
    ]
    batch = pad_collate(samples)
    assert batch["image"].shape == (2, 3, 64, 64) and batch["mask"].shape == (2, 64, 64)
    assert batch["name"] == ["a", "b"] and batch["index"].tolist() == [0, 5]
    assert batch["orig_size"].tolist() == [[30, 60], [64, 20]] and batch["orig_size"].dtype == torch.int64
    assert (batch["mask"][0, 32:] == 255).all() and (batch["image"][0, :, 32:] == 0).all()
    assert (batch["mask"][1, :, 32:] == 255).all() and (batch["mask"][1, :, :32] == 0).all()


def test_normalisation_resolution() -> None:
    assert resolve_normalization(IMAGENET_MEAN, IMAGENET_STD, 1) == (
        (sum(IMAGENET_MEAN) / 3,),
        (sum(IMAGENET_STD) / 3,),
    )
    assert resolve_normalization((0.5,), (0.25,), 4) == ((0.5,) * 4, (0.25,) * 4)
    with pytest.raises(ValueError, match="mean has 3 values but in_channels is 4"):
        resolve_normalization(IMAGENET_MEAN, IMAGENET_STD, 4)
