"""SegmentationModule: scores at the original size, the empty-mask rule, torchmetrics agreement, checkpoints."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torch.utils.hooks import RemovableHandle

from segattn.labels import output_channels
from segattn.models import AttentionUnet
from segattn.models.tiling import TileGrid, sliding_window, stride_for
from segattn.module import EVAL_OVERLAP, AttentionUnetConfig, SegmentationModule
from segattn.scoring.counts import confusion_counts, dice_from_counts

# validation_step / test_step are called here without a Trainer: their self.log calls are no-ops
pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")


def tiny_net(num_classes: int = 2, attention: str | None = None) -> AttentionUnet:
    return AttentionUnet(
        "resnet18",
        encoder_depth=3,
        decoder_channels=(32, 16, 8),
        classes=output_channels(num_classes),
        attention=attention,
    )


def fixed_logits(module: SegmentationModule, logits: Tensor) -> RemovableHandle:
    """Make the network output ``logits`` whatever the input (a forward hook replacing the output), in eval mode."""
    module.eval()
    return module.net.register_forward_hook(lambda mod, args, out: logits)


def batch_of(mask: Tensor, orig_size: list[tuple[int, int]] | None = None, index: list[int] | None = None) -> dict:
    b, h, w = mask.shape
    batch = {
        "image": torch.randn(b, 3, h, w),
        "mask": mask,
        "name": [f"img_{i}" for i in range(b)],
        "index": torch.tensor(index if index is not None else list(range(b))),
    }
    if orig_size is not None:
        batch["orig_size"] = torch.tensor(orig_size)
    return batch


def binary_logits(pred: Tensor) -> Tensor:
    """A (B, H, W) {0, 1} prediction as (B, 1, H, W) logits."""
    return (pred.float() * 2 - 1).unsqueeze(1) * 5


def test_output_channels_follow_num_classes() -> None:
    assert output_channels(2) == 1
    assert output_channels(5) == 5
    net = SegmentationModule(tiny_net(4).config, num_classes=4).net
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 4, 32, 32)
    with pytest.raises(ValueError, match="num_classes=3 needs 3"):
        SegmentationModule(tiny_net(2), num_classes=3)


def test_empty_mask_rule_through_the_module() -> None:
    """Image 0: no wall in reference or prediction. Image 1: Dice 2·2/(2·2+2+0) = 2/3."""
    mask = torch.zeros(2, 8, 8, dtype=torch.long)
    pred = torch.zeros(2, 8, 8, dtype=torch.long)
    mask[1, 0, :2] = 1
    pred[1, 0, :4] = 1
    results = {}
    for rule in ("exclude", "one", "zero"):
        module = SegmentationModule(tiny_net(), empty=rule)
        fixed_logits(module, binary_logits(pred))
        module.validation_step(batch_of(mask), 0)
        results[rule] = module.scores("val")
    assert results["exclude"]["val/dice_per_image"] == pytest.approx(2 / 3)  # image 0 left out
    assert results["one"]["val/dice_per_image"] == pytest.approx((1 + 2 / 3) / 2)
    assert results["zero"]["val/dice_per_image"] == pytest.approx((0 + 2 / 3) / 2)
    for rule in results:  # pooled counts do not depend on the rule
        assert results[rule]["val/dice"] == pytest.approx(2 / 3)
        assert results[rule]["val/iou"] == pytest.approx(2 / 4)


def test_scored_at_original_size() -> None:
    """Padding (outside orig_size) never counts, even when its mask is 0 and the prediction there is wall."""
    mask = torch.zeros(2, 16, 16, dtype=torch.long)
    mask[0, 2:6, 2:6] = 1
    mask[1, 1:3, 1:9] = 1
    pred = torch.ones(2, 16, 16, dtype=torch.long)  # predicts wall everywhere, padding included
    sizes = [(10, 12), (4, 9)]
    module = SegmentationModule(tiny_net())
    fixed_logits(module, binary_logits(pred))
    out = module.test_step(batch_of(mask, sizes, index=[7, 3]), 0)

    cropped = [confusion_counts(pred[i, :h, :w], mask[i, :h, :w], 2) for i, (h, w) in enumerate(sizes)]
    expected = dice_from_counts(torch.stack(cropped).sum(0))[1].item()
    assert module.scores("test")["test/dice"] == pytest.approx(expected)
    assert [tuple(p.shape) for p in out["pred"]] == sizes
    assert all(p.dtype == torch.uint8 for p in out["pred"])
    assert out["name"] == ["img_0", "img_1"]
    assert out["index"].tolist() == [7, 3]


def test_repeated_index_counts_once() -> None:
    """A DDP padding sampler repeats images; the repeat must not move the score."""
    mask = torch.zeros(2, 8, 8, dtype=torch.long)
    mask[:, :4] = 1
    pred = torch.zeros(2, 8, 8, dtype=torch.long)
    pred[0, :4] = 1  # image 0 perfect, image 1 missed
    module = SegmentationModule(tiny_net())
    hook = fixed_logits(module, binary_logits(pred))
    module.validation_step(batch_of(mask, index=[0, 1]), 0)
    once = module.scores("val")
    assert once["val/dice_per_image"] == pytest.approx(0.5)
    hook.remove()
    fixed_logits(module, binary_logits(pred[:1]))
    module.validation_step(batch_of(mask[:1], index=[0]), 1)  # image 0 again
    assert module.scores("val") == once


@pytest.mark.parametrize("num_classes", [2, 4])
def test_torchmetrics_dice_agrees(num_classes: int) -> None:
    torch.manual_seed(num_classes)
    module = SegmentationModule(tiny_net(num_classes), num_classes=num_classes)
    for step in range(3):
        mask = torch.randint(0, num_classes, (2, 16, 16))
        mask[:, 12:] = 255
        logits = torch.randn(2, output_channels(num_classes), 16, 16)
        hook = fixed_logits(module, logits)
        module.validation_step(batch_of(mask, [(16, 14), (10, 16)], index=[2 * step, 2 * step + 1]), step)
        hook.remove()
    ours = module.scores("val")
    theirs = module.dice_torchmetrics["val"].compute().item()
    assert theirs == pytest.approx(ours["val/dice"], abs=1e-6)
    if num_classes > 2:
        fg = [ours[f"val/dice_c{k}"] for k in range(1, num_classes)]
        assert ours["val/dice"] == pytest.approx(sum(fg) / len(fg))


class RandomSquares(Dataset):
    def __init__(self, n: int, size: int = 32) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, 3, size, size, generator=g)
        self.masks = (self.images[:, 0] > 0.5).long()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "mask": self.masks[i], "name": f"sq_{i}", "index": i}


def fit_one_batch(module: SegmentationModule, root: Path) -> L.Trainer:
    loader = DataLoader(RandomSquares(4), batch_size=2)
    trainer = L.Trainer(
        default_root_dir=root,
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, loader, loader)
    return trainer


def test_checkpoint_round_trip_from_python(tmp_path: Path) -> None:
    module = SegmentationModule(
        tiny_net(attention="se"), optimizer=functools.partial(torch.optim.AdamW, lr=1e-2), dice_weight=0.5
    )
    trainer = fit_one_batch(module, tmp_path)
    assert "val/dice" in trainer.callback_metrics and "val/dice_torchmetrics" in trainer.callback_metrics
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)

    loaded = SegmentationModule.load_from_checkpoint(path)  # no arguments: the architecture is in the hparams
    assert loaded.net.config == module.net.config
    assert loaded.hparams.dice_weight == 0.5
    assert "optimizer" not in loaded.hparams  # a Python object would need torch.load(weights_only=False)
    x = torch.randn(2, 3, 32, 32)
    module.eval(), loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), module(x))


def test_the_dict_form_of_net_is_validated_key_by_key_at_parse_time() -> None:
    # AttentionUnetConfig is read from AttentionUnet's signature: every argument is typed, typos are refused
    import jsonargparse

    params = list(inspect.signature(AttentionUnet.__init__).parameters)[1:]  # drop self
    assert list(AttentionUnetConfig.__annotations__) == params
    parser = jsonargparse.ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(SegmentationModule, "model", skip={"optimizer", "lr_scheduler"})
    ok = parser.parse_args(["--model.net", '{"encoder_name": "resnet18", "attention": ["cbam", null, null, null, se]}'])
    assert "cbam" in str(ok.model.net)
    bad_nets = ('{"encoder_name": "resnet18", "attention": "cbma"}', '{"encoder_nmae": "r"}', '{"encoder_depth": "x"}')
    for bad in bad_nets:
        with pytest.raises(jsonargparse.ArgumentError):
            parser.parse_args(["--model.net", bad])


def test_val_dice_is_on_the_progress_bar_and_the_learning_rate_is_logged(tmp_path: Path) -> None:
    import lightning as L

    from segattn.data import FloorplanData

    L.seed_everything(0, verbose=False)
    net = AttentionUnet("resnet18", encoder_depth=3, decoder_channels=(8, 8, 8), classes=1)
    module = SegmentationModule(net, num_classes=2, optimizer=lambda p: torch.optim.SGD(p, lr=0.25))
    data = FloorplanData(image_size=64, crop_size=32, batch_size=2, train_samples=4, val_samples=2, test_samples=2)
    trainer = L.Trainer(
        max_steps=2, logger=False, enable_checkpointing=False, enable_model_summary=False, default_root_dir=tmp_path
    )
    trainer.fit(module, datamodule=data)
    assert "val/dice" in trainer.progress_bar_metrics and "val/iou" not in trainer.progress_bar_metrics
    assert "train/lr" in trainer.callback_metrics and "train/lr" not in trainer.progress_bar_metrics


def test_init_from_copies_matching_tensors_and_names_the_rest(tmp_path: Path, capsys) -> None:
    kw = {"encoder_depth": 3, "decoder_channels": (8, 8, 8), "classes": 1}
    source = SegmentationModule(AttentionUnet("resnet18", **kw), num_classes=2)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(torch.randn_like(p))  # not the default initialisation of a fresh network
    ckpt = tmp_path / "source.ckpt"
    torch.save({"state_dict": source.state_dict()}, ckpt)

    target = SegmentationModule(AttentionUnet("resnet18", attention="cbam", **kw), num_classes=2, init_from=str(ckpt))
    assert target.hparams.init_from == str(ckpt)
    before = {k: v.clone() for k, v in target.net.state_dict().items()}
    target.setup("validate")  # only fit starts from other weights
    assert all(torch.equal(before[k], v) for k, v in target.net.state_dict().items())
    loaded, missing = target.load_matching(str(ckpt))
    state = target.net.state_dict()
    assert all(torch.equal(state[k[4:]], source.net.state_dict()[k[4:]]) for k in loaded)
    assert missing and all("attention2" in k for k in missing)  # CBAM is new: kept its own initialisation
    torch.save({"state_dict": {"head.weight": torch.zeros(3)}}, tmp_path / "foreign.ckpt")
    with pytest.raises(ValueError, match="no tensor"):
        target.load_matching(str(tmp_path / "foreign.ckpt"))


def forward_shapes(module: SegmentationModule) -> list[tuple[int, ...]]:
    """The input shape of every forward pass of the network from now on."""
    seen: list[tuple[int, ...]] = []
    module.net.register_forward_pre_hook(lambda mod, args: seen.append(tuple(args[0].shape)))
    return seen


def test_large_eval_batches_are_scored_in_tiles_of_bounded_size() -> None:
    torch.manual_seed(0)
    module = SegmentationModule(tiny_net(), eval_tile=64, eval_max_pixels=2 * 64 * 64).eval()
    seen = forward_shapes(module)
    batch = batch_of(torch.randint(0, 2, (2, 96, 160)))
    with torch.no_grad():
        module.validation_step(batch, 0)
        logits = module.eval_logits(batch["image"])
    tiles = len(TileGrid(96, 160, 64, stride_for(64, EVAL_OVERLAP)).positions)
    assert {s[1:] for s in seen} == {(3, 64, 64)} and max(s[0] for s in seen) == 2
    assert sum(s[0] for s in seen) == 2 * 2 * tiles  # both images, in validation_step and eval_logits
    assert logits.shape == (2, 1, 96, 160)
    # the class map validation scored is the blend's
    pred = module.predict_classes(logits)
    mask = batch["mask"]
    tp, fp, fn = ((pred == 1) & (mask == 1)).sum(), ((pred == 1) & (mask == 0)).sum(), ((pred == 0) & (mask == 1)).sum()
    assert module.scores("val")["val/dice"] == pytest.approx((2 * tp / (2 * tp + fp + fn)).item())
    with torch.no_grad():
        blend = sliding_window(lambda t: module(t).sigmoid(), batch["image"][1], tile=64, tiles_per_forward=2)
    torch.testing.assert_close(logits[1].sigmoid(), blend, atol=1e-5, rtol=0)


def test_eval_batches_up_to_the_limit_are_one_forward_pass() -> None:
    module = SegmentationModule(tiny_net(), eval_tile=64, eval_max_pixels=2 * 96 * 160).eval()
    seen = forward_shapes(module)
    x = torch.randn(2, 3, 96, 160)
    with torch.no_grad():
        torch.testing.assert_close(module.eval_logits(x), module(x))
    assert seen == [(2, 3, 96, 160)] * 2


@pytest.mark.parametrize("num_classes", [2, 4])
def test_one_tile_over_the_whole_image_scores_as_the_whole_image(num_classes: int) -> None:
    # the probabilities -> logits round trip loses nothing the class map or the loss uses
    torch.manual_seed(0)
    module = SegmentationModule(tiny_net(num_classes), num_classes=num_classes, eval_tile=64, eval_max_pixels=1)
    module.eval()
    x, mask = torch.randn(1, 3, 64, 64), torch.randint(0, num_classes, (1, 64, 64))
    with torch.no_grad():
        tiled, whole = module.eval_logits(x), module(x)
    assert torch.equal(module.predict_classes(tiled), module.predict_classes(whole))
    assert module.loss(tiled, mask).item() == pytest.approx(module.loss(whole, mask).item(), abs=1e-4)


def test_eval_tiles_are_checked() -> None:
    with pytest.raises(ValueError, match="eval_tile must be >= 32"):
        SegmentationModule(tiny_net(), eval_tile=16)
    with pytest.raises(ValueError, match="eval_max_pixels >= 1"):
        SegmentationModule(tiny_net(), eval_max_pixels=0)
