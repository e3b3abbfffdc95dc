"""AttentionUnet: shapes, smp parity, every parameter trained, config round trip, channels_last."""

from __future__ import annotations

import json

import pytest
import segmentation_models_pytorch as smp
import torch
from torch import nn

from segattn.attention import ATTENTION_NAMES, get_attention_class
from segattn.models import AttentionUnet
from segattn.models import unet as unet_module
from tests.models.utils import parameters_without_gradient, perturb_zero_parameters

SMALL = (64, 32, 16, 16, 8)  # decoder widths that keep the tests fast


@pytest.mark.parametrize(
    ("encoder_name", "classes"),
    [("resnet18", 1), ("resnet18", 3), ("mobilenet_v2", 3), ("efficientnet-b0", 1), ("tu-resnet18", 3)],
)
def test_output_shape_any_input_size(encoder_name: str, classes: int) -> None:
    model = AttentionUnet(encoder_name, classes=classes, decoder_channels=SMALL).eval()
    with torch.no_grad():
        for height, width in [(64, 64), (50, 70), (33, 33), (1, 17)]:
            out = model(torch.randn(2, 3, height, width))
            assert out.shape == (2, classes, height, width)
            assert torch.isfinite(out).all()


def test_encoder_depth_and_in_channels() -> None:
    model = AttentionUnet("resnet18", encoder_depth=3, in_channels=1, decoder_channels=(32, 16, 8), attention="se")
    assert len(model.decoder.blocks) == 3 and model.pad_multiple == 8
    assert model(torch.randn(2, 1, 21, 30)).shape == (2, 1, 21, 30)


def test_padding_leaves_valid_sizes_alone_and_crops_back() -> None:
    torch.manual_seed(0)
    model = AttentionUnet("resnet18", decoder_channels=SMALL).eval()
    x = torch.rand(1, 3, 40, 64)
    with torch.no_grad():
        padded_by_hand = torch.nn.functional.pad(x, (0, 0, 0, 24), mode="replicate")
        assert torch.equal(model(x), model(padded_by_hand)[..., :40, :])


@pytest.mark.parametrize("size", [(40, 64), (33, 17), (64, 64)])
def test_the_export_path_pads_and_crops_always_with_the_same_result(
    size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While exporting, padding and cropping run unconditionally (by 0 where none is needed): same logits."""
    torch.manual_seed(0)
    model = AttentionUnet("resnet18", encoder_depth=3, decoder_channels=(16, 8, 8), attention="cbam").eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        eager = model(x)
        monkeypatch.setattr(unet_module, "exporting", lambda: True)
        pads = []
        real_pad = unet_module.F.pad
        monkeypatch.setattr(unet_module.F, "pad", lambda t, p, **kw: pads.append(tuple(p)) or real_pad(t, p, **kw))
        exported_path = model(x)
    assert len(pads) == 2 and pads[1] == tuple(-v for v in pads[0])  # pad, then crop by the same amounts
    torch.testing.assert_close(exported_path, eager, atol=0, rtol=0)


@pytest.mark.parametrize(
    ("encoder_name", "kwargs", "size"),
    [
        ("resnet18", {}, 64),
        ("mobilenet_v2", {"encoder_depth": 4, "decoder_channels": SMALL[1:], "decoder_interpolation": "bilinear"}, 48),
        ("vgg11", {"decoder_use_norm": "identity", "classes": 2}, 32),  # smp adds a center block for VGG
    ],
)
def test_no_attention_equals_smp_unet(encoder_name: str, kwargs: dict, size: int) -> None:
    torch.manual_seed(0)
    ours = AttentionUnet(encoder_name, **kwargs)
    reference = smp.Unet(encoder_name, encoder_weights=None, **kwargs)
    ours_names = [name for name, _ in ours.named_parameters()]
    assert ours_names == [name for name, _ in reference.named_parameters()]
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())

    ours.load_state_dict(reference.state_dict(), strict=True)
    ours.eval(), reference.eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=1e-6)


GRADIENT_CASES = [
    pytest.param(name, position, id=f"{name}-{position}")
    for name in ATTENTION_NAMES
    for position in (["post", "pre", "both"] if name != "gate" else [None])  # gate always gates the skip
]


@pytest.mark.parametrize(("name", "position"), GRADIENT_CASES)
def test_every_parameter_gets_a_gradient(name: str, position: str | None) -> None:
    torch.manual_seed(0)
    spec = {"name": name} if position is None else {"name": name, "position": position}
    model = AttentionUnet("resnet18", decoder_channels=SMALL, attention=spec)
    attention_modules = [m for m in model.decoder.modules() if isinstance(m, get_attention_class(name))]
    # pre/post: one module per block and slot (the last block too); gate: every block with a skip
    expected = {"post": 5, "pre": 5, "both": 10, None: 4}[position]
    assert len(attention_modules) == expected

    perturb_zero_parameters(model)
    out = model(torch.randn(2, 3, 64, 64))
    (out * torch.randn_like(out)).sum().backward()  # random weights: a plain sum cancels in BatchNorm
    assert parameters_without_gradient(model) == []


def test_per_stage_list_builds_each_stage() -> None:
    attention = [None, "se", {"name": "cbam", "position": "pre"}, {"name": "eca", "position": "both"}, "gate"]
    model = AttentionUnet("resnet18", decoder_channels=SMALL, attention=attention)
    blocks = model.decoder.blocks
    se, cbam, eca, gate = (get_attention_class(n) for n in ("se", "cbam", "eca", "gate"))
    assert all(isinstance(m, nn.Identity) for m in (blocks[0].attention1, blocks[0].attention2))
    assert blocks[0].skip_gate is None
    assert isinstance(blocks[1].attention2, se) and isinstance(blocks[1].attention1, nn.Identity)
    assert isinstance(blocks[2].attention1, cbam) and isinstance(blocks[2].attention2, nn.Identity)
    assert isinstance(blocks[3].attention1, eca) and isinstance(blocks[3].attention2, eca)
    assert blocks[4].skip_gate is None  # last block: no skip to gate (resnet's full-resolution feature is never one)
    assert not isinstance(blocks[3].skip_gate, gate)
    assert model(torch.randn(2, 3, 33, 33)).shape == (2, 1, 33, 33)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"decoder_channels": (16, 8)}, r"encoder_depth=5, got 2 widths"),
        ({"decoder_channels": (16, 8, 0, 8, 8)}, r"decoder_channels\[2\] must be a positive int, got 0"),
        ({"classes": 0}, r"classes must be a positive int"),
        ({"decoder_interpolation": "linear"}, r"decoder_interpolation='linear'; choose from"),
        ({"attention": ["se", "se"]}, r"expected 5 entries"),
        ({"decoder_use_norm": "groupnorm"}, r"decoder_use_norm='groupnorm': Unrecognized normalization"),
        ({"encoder_name": "resnet19"}, r"encoder_name='resnet19': Wrong encoder name `resnet19`, supported encoders"),
        ({"encoder_name": "tu-nonexistent_net"}, r"encoder_name='tu-nonexistent_net': .*nonexistent_net"),
    ],
)
def test_bad_arguments_are_rejected_at_construction(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AttentionUnet(**{"encoder_name": "resnet18", **kwargs})


def test_config_round_trip_rebuilds_the_same_model() -> None:
    torch.manual_seed(0)
    attention = [None, "scse", {"name": "cbam", "position": "both", "kernel_size": 3}, "eca", {"name": "se"}]
    model = AttentionUnet(
        "resnet18",
        in_channels=1,
        classes=3,
        decoder_channels=SMALL,
        decoder_use_norm={"type": "batchnorm"},
        attention=attention,
    )
    config = json.loads(json.dumps(model.config))  # what a checkpoint stores
    assert config["attention"] == attention and config["encoder_weights"] is None
    rebuilt = AttentionUnet(**config)
    assert rebuilt.config == config
    assert {n: p.shape for n, p in rebuilt.state_dict().items()} == {n: p.shape for n, p in model.state_dict().items()}
    perturb_zero_parameters(model)
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 1, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), model.eval()(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["none", *ATTENTION_NAMES])
def test_channels_last_equals_contiguous(name: str) -> None:
    torch.manual_seed(0)
    spec = {"name": name, "position": "both"} if name not in ("none", "gate") else name
    model = AttentionUnet("resnet18", decoder_channels=SMALL, attention=spec).eval()
    perturb_zero_parameters(model)
    x = torch.randn(2, 3, 50, 70)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        out = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
