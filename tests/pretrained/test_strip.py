"""A stripped checkpoint predicts like its source, carries the training thickness, and holds nothing to resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from segattn.predict import Segmenter
from segattn.pretrained.strip import RESUME_ONLY, main, strip_checkpoint


def test_stripped_checkpoint_predicts_like_the_source(tiny_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "walls.ckpt"
    info = strip_checkpoint(tiny_ckpt, out)
    packed = torch.load(out, weights_only=True)
    assert not set(RESUME_ONLY) & set(packed) and packed["hyper_parameters"]["init_from"] is None
    assert info["pretrained"]["source_sha256"] and "state_dict" not in info
    source, stripped = Segmenter.from_checkpoint(tiny_ckpt), Segmenter.from_checkpoint(out)
    assert stripped.config == source.config  # structure_px included
    image = np.random.default_rng(0).random((40, 56, 3), dtype=np.float32)
    np.testing.assert_array_equal(source.probabilities(image), stripped.probabilities(image))


def test_an_existing_file_is_kept_without_overwrite(tiny_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "walls.ckpt"
    out.write_bytes(b"mine")
    with pytest.raises(SystemExit) as exit_:
        main([str(tiny_ckpt), str(out)])
    assert exit_.value.code == 2 and out.read_bytes() == b"mine"
    assert main([str(tiny_ckpt), str(out), "--overwrite"]) == 0 and out.stat().st_size > 4


def test_a_file_that_is_not_a_training_checkpoint_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "weights.pt"
    torch.save({"state_dict": {}}, bad)
    with pytest.raises(ValueError, match="not a checkpoint written by `segattn fit`"):
        strip_checkpoint(bad, tmp_path / "out.ckpt")


@pytest.mark.parametrize("content", [None, b"", b"\x00" * 64, b"PK\x03\x04 not a zip"])
def test_a_missing_or_unreadable_source_is_one_line(tmp_path: Path, capsys, content: bytes | None) -> None:
    source = tmp_path / "x.ckpt"
    if content is not None:
        source.write_bytes(content)
    with pytest.raises(SystemExit) as exit_:
        main([str(source), str(tmp_path / "out.ckpt")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and err[-1].startswith("python -m segattn.pretrained.strip: error:") and len(err) == 2
    assert str(source) in err[-1] and not (tmp_path / "out.ckpt").exists()
