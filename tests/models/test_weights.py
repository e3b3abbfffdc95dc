"""encoder_weights: local files only, loaded strictly, with errors that name the file and the keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import segmentation_models_pytorch as smp
import torch
from safetensors.torch import save_file

from segattn.models import AttentionUnet

SMALL = (16, 16, 8, 8, 8)


def _trained_encoder_state(encoder_name: str = "resnet18", in_channels: int = 3) -> dict[str, torch.Tensor]:
    torch.manual_seed(123)
    encoder = smp.encoders.get_encoder(encoder_name, in_channels=in_channels)
    return {k: v.clone() for k, v in encoder.state_dict().items()}


def _assert_encoder_equals(model: AttentionUnet, state: dict[str, torch.Tensor]) -> None:
    own = model.encoder.state_dict()
    assert own.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(own[key], value), key


@pytest.mark.parametrize(
    ("filename", "prefix"),
    [("encoder.pth", ""), ("unet_encoder.pt", "encoder."), ("model.safetensors", ""), ("full.safetensors", "encoder.")],
)
def test_local_file_round_trip(tmp_path: Path, filename: str, prefix: str) -> None:
    state = _trained_encoder_state()
    path = tmp_path / filename
    stored = {prefix + k: v for k, v in state.items()}
    save_file(stored, str(path)) if path.suffix == ".safetensors" else torch.save(stored, path)

    torch.manual_seed(0)
    model = AttentionUnet("resnet18", encoder_weights=str(path), decoder_channels=SMALL)
    _assert_encoder_equals(model, state)
    torch.manual_seed(0)  # the same seed without the file gives other weights: the file did the work
    fresh = AttentionUnet("resnet18", decoder_channels=SMALL)
    assert not torch.equal(fresh.encoder.conv1.weight, state["conv1.weight"])
    assert model.config["encoder_weights"] is None  # a rebuild from config never needs the file again


def test_classifier_head_in_the_file_is_dropped_like_smp_does(tmp_path: Path) -> None:
    # smp's own pretrained files (e.g. smp-hub/resnet18.imagenet model.safetensors) still carry the ImageNet head
    state = _trained_encoder_state()
    save_file(
        {**state, "fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}, str(tmp_path / "hub.safetensors")
    )
    model = AttentionUnet("resnet18", encoder_weights=str(tmp_path / "hub.safetensors"), decoder_channels=SMALL)
    _assert_encoder_equals(model, state)


def test_path_object_and_timm_encoder(tmp_path: Path) -> None:
    state = _trained_encoder_state("tu-resnet18")
    torch.save(state, tmp_path / "tu.pth")
    model = AttentionUnet("tu-resnet18", encoder_weights=tmp_path / "tu.pth", decoder_channels=SMALL)
    _assert_encoder_equals(model, state)


def test_a_tag_loads_through_smps_own_download_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # what smp fetches for resnet18 / imagenet, served from this folder instead of the hub (no test may download)
    state = _trained_encoder_state()
    save_file(state, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text("{}")
    asked = []

    def from_cache(repo_id: str, filename: str, revision: str | None = None, **kwargs: object) -> str:
        asked.append((repo_id, filename))
        return str(tmp_path / filename)

    monkeypatch.setattr(smp.encoders, "hf_hub_download", from_cache)
    model = AttentionUnet("resnet18", encoder_weights="imagenet", decoder_channels=SMALL)
    _assert_encoder_equals(model, state)
    assert ("smp-hub/resnet18.imagenet", "model.safetensors") in asked
    assert model.config["encoder_weights"] is None  # the architecture only; checkpoints carry the weights


@pytest.mark.parametrize("encoder", ["resnet18", "tu-resnet18"])
def test_offline_a_tag_fails_in_one_line_naming_the_cache_and_the_file_alternative(encoder: str) -> None:
    with pytest.raises(ValueError) as info:  # tests run offline: the network is cut (tests/conftest.py)
        AttentionUnet(encoder, encoder_weights="imagenet", decoder_channels=SMALL)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    for part in (f"encoder_weights='imagenet' for encoder {encoder}", "not in the cache", "hub", "local .pth"):
        assert part in message, (part, message)


def test_an_unknown_tag_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"'imagenett' is not a tag smp knows for resnet18; it knows \[.*'imagenet'"):
        AttentionUnet("resnet18", encoder_weights="imagenett")


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(ValueError, match=f"encoder_weights='{missing}' is not an existing file"):
        AttentionUnet("resnet18", encoder_weights=str(missing))


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "weights.npz"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match=r"weights.npz'.*unsupported suffix '.npz'"):
        AttentionUnet("resnet18", encoder_weights=str(path))


def test_missing_and_unexpected_keys_are_named(tmp_path: Path) -> None:
    state = _trained_encoder_state()
    del state["layer4.1.bn2.weight"]
    state["fc.weight"] = torch.zeros(3)
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(ValueError) as info:
        AttentionUnet("resnet18", encoder_weights=str(path), decoder_channels=SMALL)
    message = str(info.value)
    assert str(path) in message
    assert "1 missing key(s) [layer4.1.bn2.weight]" in message
    assert "1 unexpected key(s) [fc.weight]" in message


def test_other_encoder_or_in_channels_is_named(tmp_path: Path) -> None:
    path = tmp_path / "rgb.pth"
    torch.save(_trained_encoder_state(in_channels=3), path)
    expected = r"rgb.pth'.*shape mismatch.*conv1.weight: file \(64, 3, 7, 7\), model \(64, 1, 7, 7\)"
    with pytest.raises(ValueError, match=expected):
        AttentionUnet("resnet18", in_channels=1, encoder_weights=str(path), decoder_channels=SMALL)
    with pytest.raises(ValueError, match=r"rgb.pth' does not match encoder MobileNetV2Encoder: \d+ missing key"):
        AttentionUnet("mobilenet_v2", encoder_weights=str(path), decoder_channels=SMALL)


def test_file_that_is_not_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(ValueError, match=r"list.pt' holds list, not a state dict"):
        AttentionUnet("resnet18", encoder_weights=str(path))
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match=r"corrupt.safetensors' could not be read"):
        AttentionUnet("resnet18", encoder_weights=str(corrupt))
