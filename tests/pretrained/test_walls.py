"""The packaged wall model: found by name, predicts walls with no training, starts a fine-tune, follows scale."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segattn.commands import main
from segattn.data.floorplans import generate_floorplan
from segattn.models import AttentionUnet
from segattn.module import SegmentationModule
from segattn.predict import Segmenter
from segattn.pretrained import FOLDER, PRETRAINED, resolve

SIZE = 256


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return 2 * (a & b).sum() / max(a.sum() + b.sum(), 1)


@pytest.fixture(scope="module")
def walls() -> Segmenter:
    return Segmenter.from_checkpoint("walls")


def test_the_packaged_model_is_small_and_found_by_name() -> None:
    path = resolve("walls")
    assert path == FOLDER / PRETRAINED["walls"] and path.stat().st_size <= 10 * 2**20
    meta = torch.load(path, weights_only=True)
    assert "optimizer_states" not in meta and meta["pretrained"]["source_sha256"]


def test_segattn_predict_ckpt_walls_segments_unseen_plans(tmp_path: Path, capsys) -> None:
    (tmp_path / "in").mkdir()
    truth = {}
    for i in range(3):  # seeds no training run uses (train plans come from (seed, 0, epoch, i))
        image, mask = generate_floorplan(10_000 + i, SIZE, 1.0)
        cv2.imwrite(str(tmp_path / "in" / f"plan{i}.png"), image[..., ::-1])
        truth[f"plan{i}"] = mask
    assert (
        main(
            [
                "predict",
                "--ckpt_path",
                "walls",
                "--input",
                str(tmp_path / "in"),
                "--output",
                str(tmp_path / "out"),
                "--no_progress",
            ]
        )
        == 0
    )
    scores = [
        dice(cv2.imread(str(tmp_path / "out" / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE) > 0, m)
        for name, m in truth.items()
    ]
    assert min(scores) > 0.75, scores  # a random network scores about 0.1 (wall share) or 0


def test_init_from_walls_starts_from_every_tensor(walls: Segmenter) -> None:
    config = torch.load(resolve("walls"), weights_only=True)["hyper_parameters"]["net"]
    module = SegmentationModule(AttentionUnet(**config), num_classes=2, init_from="walls")
    loaded, missing = module.load_matching("walls")  # what setup("fit") calls
    assert loaded and not missing
    ours, theirs = module.net.state_dict(), walls.net.state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], msg=key)


def test_a_plan_at_three_times_the_size_gives_the_same_walls_with_scale_auto(walls: Segmenter) -> None:
    image, _ = generate_floorplan(20_000, SIZE, 0.5)
    big = cv2.resize(image, (3 * SIZE, 3 * SIZE), interpolation=cv2.INTER_CUBIC)
    small_mask = walls.predict(image, scale="auto")
    big_probs = walls.probabilities(big, scale="auto")[0].numpy()
    big_mask = cv2.resize(big_probs, (SIZE, SIZE), interpolation=cv2.INTER_AREA) > walls.config.threshold
    assert dice(small_mask, big_mask) >= 0.9
    fixed = walls.probabilities(big, scale=1.0)[0].numpy()  # without rescaling the walls are 3x too thick
    fixed_mask = cv2.resize(fixed, (SIZE, SIZE), interpolation=cv2.INTER_AREA) > walls.config.threshold
    assert dice(small_mask, fixed_mask) < dice(small_mask, big_mask)


def test_scale_auto_over_a_folder_measures_each_image_and_leaves_no_probe(walls: Segmenter, tmp_path: Path) -> None:
    """The folder path (what `segattn predict --scale auto` runs): per-image factors in the manifest, about 3x
    apart for the same plan at 1x and 3x, the same factors as in memory, and nothing of the probe left behind."""
    image, _ = generate_floorplan(20_001, SIZE, 0.5)
    big = cv2.resize(image, (3 * SIZE, 3 * SIZE), interpolation=cv2.INTER_CUBIC)
    (tmp_path / "in").mkdir()
    for name, array in (("small", image), ("big", big)):
        cv2.imwrite(str(tmp_path / "in" / f"{name}.png"), array[:, :, ::-1])
    out = tmp_path / "out"
    result = walls.predict_folder(tmp_path / "in", out, scale="auto", progress=False)
    assert result.ok == 2 and sorted(p.name for p in out.iterdir()) == ["manifest.csv", "masks"]
    import csv

    with open(result.manifest) as f:
        rows = {Path(r["input"]).stem: float(r["scale"]) for r in csv.DictReader(f)}
    assert rows.keys() == {"small", "big"}  # the probe's own rows are not in the user's manifest
    assert rows["small"] / rows["big"] == pytest.approx(3, rel=0.2)
    masks = {k: cv2.imread(str(out / "masks" / f"{k}.png"), cv2.IMREAD_UNCHANGED) > 0 for k in rows}
    assert dice(masks["small"], cv2.resize(masks["big"].astype(np.uint8), (SIZE, SIZE)) > 0) >= 0.9
    in_memory = walls.predict(tmp_path / "in" / "small.png", scale="auto")
    assert dice(in_memory, masks["small"]) >= 0.99


def test_validate_and_test_take_the_name_and_fit_points_to_init_from(tmp_path: Path, capsys) -> None:
    common = ["--config", "walls", "--ckpt_path", "walls", "--trainer.default_root_dir", str(tmp_path)]
    small = ["--data.init_args.val_samples", "2", "--data.init_args.num_workers", "0", "--trainer.logger", "false"]
    assert main(["validate", *common, *small, "--trainer.enable_progress_bar", "false"]) in (0, None)
    with pytest.raises(SystemExit) as exit_:
        main(["fit", *common])
    assert exit_.value.code == 2
    assert "use --model.init_from walls" in capsys.readouterr().err
