"""Data sources by class_path: YAML parsing, early errors, hyperparameters -> eval preprocessing, real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from jsonargparse import ArgumentParser

from segattn.data import FloorplanData, FolderData, SegData, eval_preprocess_from_hparams
from segattn.data.preprocess import IMAGENET_MEAN
from tests.data.helpers import make_pairs

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "datasets"

YAML = """
data:
  class_path: segattn.data.FolderData
  init_args:
    root: {root}
    num_classes: 2
    in_channels: 3
    mask_encoding: index
    crop_size: 32
    batch_size: 2
    mean: [0.5, 0.5, 0.5]
    std: [0.25, 0.25, 0.25]
    train_transforms:
      - {{name: HorizontalFlip, params: {{p: 0.5}}}}
      - name: OneOf
        params: {{p: 0.5}}
        transforms:
          - {{name: GaussianBlur, params: {{sigma_limit: [0.3, 1.2]}}}}
          - {{name: ImageCompression, params: {{quality_range: [30, 90]}}}}
"""


def parser() -> ArgumentParser:
    p = ArgumentParser(exit_on_error=False)
    p.add_argument("--config", action="config")
    p.add_subclass_arguments(SegData, "data")
    return p


def test_yaml_section_builds_the_datamodule(tmp_path: Path) -> None:
    make_pairs(tmp_path / "d", 4)
    (tmp_path / "c.yaml").write_text(YAML.format(root=tmp_path / "d"))
    p = parser()
    cfg = p.parse_args(["--config", str(tmp_path / "c.yaml")])
    module = p.instantiate_classes(cfg).data
    assert isinstance(module, FolderData)
    assert module.hparams.mean == (0.5, 0.5, 0.5) and module.hparams.train_transforms[1]["name"] == "OneOf"
    module.setup("fit")
    assert next(iter(module.train_dataloader()))["image"].shape == (2, 3, 32, 32)


def test_yaml_typo_in_encoding_fails_at_parse_time(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(YAML.format(root=tmp_path).replace("mask_encoding: index", "mask_encoding: idx"))
    with pytest.raises(Exception, match="mask_encoding"):
        parser().parse_args(["--config", str(tmp_path / "c.yaml")])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"root": ""}, "needs root"),
        ({"root": "x", "val_fraction": 0.6, "test_fraction": 0.5}, "sum < 1"),
        ({"root": "x", "num_classes": 256}, "2..255"),
        ({"root": "x", "palette": [[0, 0, 0], [1, 1, 1]]}, "set mask_encoding: palette"),
        ({"root": "x", "mask_encoding": "palette"}, "needs a palette"),
        ({"root": "x", "mask_encoding": "palette", "palette": [[0, 0, 0]]}, "one per class"),
        ({"root": "x", "mask_encoding": "palette", "palette": [[0, 0, 0], [0, 0, 300]]}, r"palette\[1\]"),
        ({"root": "x", "train_transforms": [{"name": "Flip"}]}, "unknown albumentations transform 'Flip'"),
        ({"root": "x", "in_channels": 4}, "mean has 3 values but in_channels is 4"),
    ],
)
def test_configuration_errors_are_raised_when_built(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FolderData(**kwargs)


def test_floor_plans_have_two_classes_and_no_root() -> None:
    with pytest.raises(ValueError, match="2 classes"):
        FloorplanData(num_classes=3)
    with pytest.raises(TypeError, match="root"):
        FloorplanData(root="x")  # not a FloorplanData argument: jsonargparse refuses it at parse time too


def test_hparams_rebuild_the_eval_preprocessing(tmp_path: Path) -> None:
    make_pairs(tmp_path, 4, size=(40, 56))
    module = FolderData(root=str(tmp_path), mean=(0.3, 0.4, 0.5), std=(0.2,), val_fraction=0.5, batch_size=1)
    module.setup("validate")
    checkpoint = {"datamodule_hyper_parameters": dict(module.hparams)}  # what Lightning stores
    pre = eval_preprocess_from_hparams(checkpoint["datamodule_hyper_parameters"])
    assert pre.mean == (0.3, 0.4, 0.5) and pre.std == (0.2, 0.2, 0.2) and pre.pad_multiple == 32
    batch = next(iter(module.val_dataloader()))
    h, w = batch["orig_size"][0].tolist()
    x = pre(tmp_path / batch["name"][0])  # (C, H, W), not padded
    assert x.shape == (3, 40, 56)
    torch.testing.assert_close(x, batch["image"][0, :, :h, :w])


def test_defaults_of_eval_preprocessing() -> None:
    pre = eval_preprocess_from_hparams({})
    assert pre.in_channels == 3 and pre.mean == IMAGENET_MEAN
    gray = eval_preprocess_from_hparams({"in_channels": 1})
    assert gray.mean == (pytest.approx(sum(IMAGENET_MEAN) / 3),)
    out = gray.array(np.ones((4, 5, 1), np.float32))
    assert out.shape == (1, 4, 5)


@pytest.mark.shared_data
@pytest.mark.skipif(not (SHARED / "crackforest").is_dir(), reason=f"{SHARED} is absent")
def test_crackforest_validates_and_loads() -> None:
    module = FolderData(root=str(SHARED / "crackforest"), mask_encoding="auto", crop_size=64, batch_size=4)
    module.setup("fit")  # raises if any of the 118 pairs has a problem
    assert module.mask_encoding == "index"
    assert len(module.splits["train"]) + len(module.splits["val"]) == 118
    train = next(iter(module.train_dataloader()))
    assert train["image"].shape == (4, 3, 64, 64) and set(train["mask"].unique().tolist()) <= {0, 1, 255}
    val = next(iter(module.val_dataloader()))
    assert val["orig_size"][0].tolist() == [320, 480] and val["image"].shape[-2:] == (320, 480)
    assert (val["mask"] == 1).any()
