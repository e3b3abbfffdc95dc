"""The preprocessing contract written into an exported file reads back as the same PredictConfig."""

from __future__ import annotations

import dataclasses

import pytest

from segattn.export import ModelFileError, read_contract, write_contract
from tests.export.helpers import BINARY, THREE_CLASSES


@pytest.mark.parametrize("structure_px", [None, 2.75])
@pytest.mark.parametrize("base", [BINARY, THREE_CLASSES], ids=["binary", "three"])
def test_the_contract_round_trips_what_prediction_uses(base, structure_px: float | None) -> None:
    config = dataclasses.replace(base, structure_px=structure_px)
    contract = read_contract(write_contract(config, min_side=33, network={"attention": "cbam"}), "x.onnx")
    assert contract.config == config  # structure_px included: --scale auto works on exported files
    assert contract.min_side == 33 and contract.network == {"attention": "cbam"}


def test_a_damaged_contract_is_named() -> None:
    props = write_contract(BINARY, min_side=33, network=None)
    with pytest.raises(ModelFileError, match="x.onnx: the segattn metadata is damaged"):
        read_contract({**props, "structure_px": "[1"}, "x.onnx")
