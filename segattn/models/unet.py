"""``AttentionUnet``: an smp encoder, a UNet decoder with attention in every block, smp's segmentation head.

With ``attention=None`` it is smp 0.6's ``Unet`` (same parameter names and count; an ``smp.Unet`` state dict loads
with ``strict=True`` and gives the same outputs). Differences, all on purpose:

- pretrained weights come from a local file or, for a tag such as ``imagenet``, through smp / timm's own caches
  (see :mod:`segattn.models.weights`); nothing else downloads;
- any input size: the input is padded on the bottom and right to a multiple of ``2 ** encoder_depth`` with
  ``"replicate"`` padding (repeats the border pixels: no artificial edge such as a black frame, which a wall or
  crack model would segment, and unlike ``"reflect"`` it works for inputs smaller than the padding), and the
  logits are cropped back. Inputs already a multiple are not touched. While a graph is recorded for export
  (``torch.onnx`` / ``torch.jit.trace``, see :func:`~segattn.attention.helpers.exporting`) the padding and the crop
  always run, by 0 where none is needed, so one exported graph serves every input size.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any, Literal, get_args

import torch.nn.functional as F
from segmentation_models_pytorch.base import SegmentationHead
from segmentation_models_pytorch.base.initialization import initialize_head
from segmentation_models_pytorch.base.modules import get_norm_layer
from segmentation_models_pytorch.encoders import get_encoder
from torch import Tensor, nn

from segattn.attention.helpers import exporting

from .block import NormSpec
from .decoder import AttentionUnetDecoder
from .spec import AttentionSpec, normalize_attention
from .weights import is_weights_tag, load_encoder_weights, pretrained_encoder, resolve_encoder_weights

Interpolation = Literal["nearest", "bilinear", "bicubic", "area", "nearest-exact"]
PAD_MODE = "replicate"


class AttentionUnet(nn.Module):
    """UNet on an smp encoder whose decoder blocks carry attention.

    Args:
        encoder_name: any name ``smp.encoders.get_encoder`` accepts ("resnet34", "efficientnet-b0", "tu-resnet18" ...).
        encoder_depth: number of encoder stages used (= decoder blocks); smp encoders accept 1..5.
        encoder_weights: ``None`` (random initialisation), a tag smp / timm know (``"imagenet"``: fetched through
            their caches when online, a one-line error offline) or the path of a local ``.pth``/``.pt``/
            ``.safetensors`` file with the encoder's state dict (see :mod:`segattn.models.weights`).
        in_channels: image channels.
        classes: output channels (1 for binary segmentation with a sigmoid).
        decoder_channels: output channels of each decoder block, deepest first; one per stage.
        decoder_use_norm: smp's ``use_norm``: True/False, "batchnorm", "identity", "layernorm", "instancenorm",
            or a dict such as ``{"type": "layernorm", "eps": 1e-2}``.
        decoder_interpolation: upsampling mode of every decoder block.
        attention: one spec for every stage or a list with one spec per stage (deepest first); a spec is ``None``,
            an attention name or an :class:`~segattn.models.spec.AttentionConfig` (name, position, options).

    ``model.config`` gives these arguments as a JSON-serialisable dict (with ``encoder_weights=None``), so
    ``AttentionUnet(**model.config)`` rebuilds the same architecture.
    """

    def __init__(
        self,
        encoder_name: str = "resnet34",
        *,
        encoder_depth: int = 5,
        encoder_weights: str | None = None,
        in_channels: int = 3,
        classes: int = 1,
        decoder_channels: Sequence[int] = (256, 128, 64, 32, 16),
        decoder_use_norm: NormSpec = "batchnorm",
        decoder_interpolation: Interpolation = "nearest",
        attention: AttentionSpec | list[AttentionSpec] = None,
    ) -> None:
        super().__init__()
        _check_positive_int("encoder_depth", encoder_depth)
        _check_positive_int("in_channels", in_channels)
        _check_positive_int("classes", classes)
        decoder_channels = list(decoder_channels)
        if len(decoder_channels) != encoder_depth:
            raise ValueError(
                f"decoder_channels needs one width per decoder stage: encoder_depth={encoder_depth}, "
                f"got {len(decoder_channels)} widths {decoder_channels}"
            )
        for i, width in enumerate(decoder_channels):
            _check_positive_int(f"decoder_channels[{i}]", width)
        if decoder_interpolation not in get_args(Interpolation):
            raise ValueError(
                f"decoder_interpolation={decoder_interpolation!r}; choose from {list(get_args(Interpolation))}"
            )
        try:
            get_norm_layer(decoder_use_norm, 1)
        except ValueError as err:
            raise ValueError(f"decoder_use_norm={decoder_use_norm!r}: {err}") from err
        stages = normalize_attention(attention, encoder_depth)
        weights_path = resolve_encoder_weights(encoder_weights)  # before building: fail fast, never download

        self._config: dict[str, Any] = {
            "encoder_name": encoder_name,
            "encoder_depth": encoder_depth,
            "encoder_weights": None,  # the architecture only: a checkpoint's state dict carries the weights
            "in_channels": in_channels,
            "classes": classes,
            "decoder_channels": decoder_channels,
            "decoder_use_norm": copy.deepcopy(decoder_use_norm),
            "decoder_interpolation": decoder_interpolation,
            "attention": copy.deepcopy(list(attention) if isinstance(attention, (list, tuple)) else attention),
        }
        self.pad_multiple = 2**encoder_depth

        try:
            self.encoder = get_encoder(encoder_name, in_channels=in_channels, depth=encoder_depth, weights=None)
        except (KeyError, RuntimeError) as err:  # smp: KeyError listing its encoders; timm: RuntimeError
            raise ValueError(f"encoder_name={encoder_name!r}: {err.args[0] if err.args else err}") from err
        if weights_path is not None:
            load_encoder_weights(self.encoder, weights_path)
        elif is_weights_tag(encoder_weights):  # the name was checked above with random weights
            self.encoder = pretrained_encoder(
                encoder_name, encoder_weights, in_channels=in_channels, depth=encoder_depth
            )
        self.decoder = AttentionUnetDecoder(
            self.encoder.out_channels,
            decoder_channels,
            attention=stages,
            use_norm=decoder_use_norm,
            add_center_block=encoder_name.startswith("vgg"),  # as smp's Unet
            interpolation_mode=decoder_interpolation,
        )
        self.segmentation_head = SegmentationHead(decoder_channels[-1], classes, kernel_size=3)
        initialize_head(self.segmentation_head)

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-serialisable dict: ``AttentionUnet(**model.config)`` rebuilds the model.

        ``encoder_weights`` is always ``None``: the config describes the architecture, and rebuilding from a
        checkpoint must not need the original weights file (the checkpoint's state dict holds the weights).
        """
        try:
            return json.loads(json.dumps(self._config))
        except TypeError as err:
            raise ValueError(f"AttentionUnet config is not JSON-serialisable ({err}): {self._config!r}") from err

    def forward(self, x: Tensor) -> Tensor:
        """Images (B, in_channels, H, W), any H and W -> logits (B, classes, H, W)."""
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % self.pad_multiple, -width % self.pad_multiple
        traced = exporting()  # no branch on the size while exporting: pad and crop by 0 where none is needed
        if traced or pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=PAD_MODE)  # (B, C, H + pad_h, W + pad_w)
        features = self.encoder(x)
        logits = self.segmentation_head(self.decoder(features))  # (B, classes, H + pad_h, W + pad_w)
        if traced:  # a crop as negative padding: slicing to a symbolic size makes torch.export guard on it
            return F.pad(logits, (0, -pad_w, 0, -pad_h))  # (B, classes, H, W)
        return logits[..., :height, :width]


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
