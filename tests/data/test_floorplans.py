"""Synthetic floor plans: determinism, mask sanity, write_floorplans, and the floorplans DataModule."""

from __future__ import annotations

from pathlib import Path

import cv2
import lightning as L
import numpy as np
import pytest
import torch

from segattn.data import FloorplanData, FolderData, generate_floorplan, write_floorplans
from segattn.data.floorplans.dataset import EpochSampler
from segattn.data.floorplans.layout import make_layout
from segattn.data.floorplans.styles import WALL_STYLES, Pens, draw_walls
from segattn.data.io import read_image, read_mask
from tests.data.helpers import tree_digest


def test_same_seed_same_plan_different_seed_different_plan() -> None:
    a_img, a_mask = generate_floorplan(3, 128)
    b_img, b_mask = generate_floorplan(3, 128)
    c_img, c_mask = generate_floorplan(4, 128)
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_mask, b_mask)
    assert not np.array_equal(a_img, c_img) and not np.array_equal(a_mask, c_mask)
    seq = np.random.SeedSequence([1, 2, 3])  # a SeedSequence is not consumed by generating from it
    np.testing.assert_array_equal(generate_floorplan(seq, 96)[0], generate_floorplan(seq, 96)[0])


@pytest.mark.parametrize("size", [128, (96, 160)])
def test_shapes_classes_and_wall_fraction(size: int | tuple[int, int]) -> None:
    h, w = (size, size) if isinstance(size, int) else size
    for seed in range(20):
        image, mask = generate_floorplan(seed, size)
        assert image.shape == (h, w, 3) and image.dtype == np.uint8
        assert mask.shape == (h, w) and mask.dtype == np.uint8
        assert set(np.unique(mask).tolist()) <= {0, 1}
        assert 0.02 < mask.mean() < 0.3, f"seed {seed}: wall fraction {mask.mean():.3f}"


def test_walls_are_drawn_where_the_mask_says() -> None:
    """On clean plans (noise_level 0) ink covers wall pixels far more than the rest of the page."""
    for seed in range(30):
        image, mask = generate_floorplan(seed, 128, noise_level=0.0)
        gray = image.mean(axis=2) / 255
        darkness = np.median(gray[mask == 0]) - gray  # ink darkness relative to the paper
        ratio = darkness[mask == 1].mean() / max(darkness[mask == 0].mean(), 1e-3)
        assert ratio > 2, f"seed {seed}: walls only {ratio:.1f}x darker than background"


def test_noise_level_changes_only_the_scan() -> None:
    clean, _ = generate_floorplan(5, 128, noise_level=0.0)
    noisy, _ = generate_floorplan(5, 128, noise_level=2.0)
    assert not np.array_equal(clean, noisy)
    # same page: the images still correlate strongly (unlike two different plans)
    other, _ = generate_floorplan(6, 128, noise_level=2.0)
    corr = np.corrcoef(clean.mean(2).ravel(), noisy.mean(2).ravel())[0, 1]
    assert corr > np.corrcoef(clean.mean(2).ravel(), other.mean(2).ravel())[0, 1] + 0.2


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least 64"):
        generate_floorplan(0, 32)
    with pytest.raises(ValueError, match="noise_level"):
        generate_floorplan(0, 128, noise_level=-1)


def test_write_floorplans_writes_a_readable_dataset_and_refuses_to_overwrite(tmp_path: Path) -> None:
    stems = write_floorplans(tmp_path / "fp", 4, seed=1, size=96)
    assert stems == [f"floorplan_{i:05d}" for i in range(4)]
    module = FolderData(root=str(tmp_path / "fp"), crop_size=64, batch_size=2, val_fraction=0.25)
    module.setup("fit")  # validation passes: pairs complete, sizes equal, masks {0, 1}
    assert module.mask_encoding == "index"
    before = tree_digest(tmp_path / "fp")
    with pytest.raises(FileExistsError, match="refusing to overwrite 2 existing file"):
        write_floorplans(tmp_path / "fp", 1, seed=9, size=96)
    assert tree_digest(tmp_path / "fp") == before
    image, mask = generate_floorplan((1, 2), 96)  # what plan 2 should hold
    np.testing.assert_array_equal(read_mask(tmp_path / "fp" / "masks" / "floorplan_00002.png", "index"), mask)
    np.testing.assert_allclose(read_image(tmp_path / "fp" / "images" / "floorplan_00002.png"), image / 255, atol=1e-6)


def test_epoch_sampler_keys() -> None:
    sampler = EpochSampler(3)
    assert list(sampler) == [0, 1, 2] and list(sampler) == [3, 4, 5]  # counts its own passes
    sampler.set_epoch(5)
    assert list(sampler) == [15, 16, 17] and len(sampler) == 3


def fp_module(**kwargs) -> FloorplanData:
    args = dict(image_size=96, crop_size=64, train_samples=4, val_samples=3, test_samples=2)
    return FloorplanData(**{**args, **kwargs})


def test_train_plans_change_each_epoch_and_are_reproducible() -> None:
    module = fp_module()
    module.setup("fit")
    train = module.datasets["train"]
    first, again, next_epoch = train[1], train[1], train[1 + 4]  # key = epoch * train_samples + index
    torch.testing.assert_close(first["image"], again["image"])
    torch.testing.assert_close(first["mask"], again["mask"])
    assert first["image"].shape == (3, 64, 64) and next_epoch["index"] == 1
    assert not torch.equal(first["image"], next_epoch["image"])
    assert first["name"] == "floorplan_train_e000_00001" and next_epoch["name"] == "floorplan_train_e001_00001"
    other = fp_module()
    other.setup("fit")
    torch.testing.assert_close(other.datasets["train"][1]["image"], first["image"])
    loader = module.train_dataloader()
    loader.sampler.set_epoch(1)
    batch = next(iter(loader))
    assert batch["name"][0] == "floorplan_train_e001_00000"
    assert set(batch["mask"].unique().tolist()) <= {0, 1, 255}


def test_val_and_test_plans_are_fixed_and_distinct() -> None:
    module = fp_module()
    module.setup("fit")
    module.setup("test")
    val = next(iter(module.val_dataloader()))
    assert val["name"] == ["floorplan_val_00000", "floorplan_val_00001", "floorplan_val_00002"]
    assert val["image"].shape == (3, 3, 96, 96) and val["orig_size"].tolist() == [[96, 96]] * 3
    torch.testing.assert_close(next(iter(module.val_dataloader()))["image"], val["image"])
    test = next(iter(module.test_dataloader()))
    assert not torch.equal(test["image"][0], val["image"][0])
    train_plan = module.datasets["train"][0]["mask"]
    assert all(not torch.equal(train_plan, m[:64, :64]) for m in val["mask"])


def test_style_options_reach_the_plans_and_are_checked_when_the_module_is_built() -> None:
    from segattn.data.floorplans.dataset import plan_seed

    module = fp_module(real_scale=1.0, cad=1.0, dpi=100.0)
    module.setup("validate")
    _, expected = generate_floorplan(plan_seed(0, "val", 0, 1), 96, 1.0, real_scale=1.0, cad=1.0, dpi=100.0)
    np.testing.assert_array_equal(module.datasets["val"][1]["mask"].numpy(), expected)
    default = fp_module()
    default.setup("validate")
    assert not np.array_equal(default.datasets["val"][1]["mask"].numpy(), expected)
    with pytest.raises(ValueError, match="cad must be a share"):
        fp_module(cad=2.0)
    with pytest.raises(ValueError, match="dpi"):
        fp_module(dpi=0.0)


def test_gray_input_for_floorplans() -> None:
    module = fp_module(in_channels=1)
    module.setup("validate")
    assert next(iter(module.val_dataloader()))["image"].shape == (3, 1, 96, 96)


class _Recorder(L.LightningModule):
    """A one-conv model that records the names of the train plans it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 1)
        self.seen: list[list[str]] = []

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        if batch_idx == 0:
            self.seen.append([])
        self.seen[-1] += batch["name"]
        return self.conv(batch["image"]).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_lightning_fit_sees_new_plans_every_epoch(tmp_path: Path) -> None:
    model = _Recorder()
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=fp_module(batch_size=2))
    assert model.seen == [[f"floorplan_train_e{e:03d}_{i:05d}" for i in range(4)] for e in range(2)]


@pytest.mark.parametrize("style", WALL_STYLES)
def test_every_drawn_wall_pixel_is_in_the_mask(style: str) -> None:
    """A wall's mask covers all of its ink, outline included (the outline stroke straddles the wall's edge; before
    this was tested its outer half was ink but not wall, a 1-2 px label error along every outlined wall)."""
    for seed in range(10):
        rng = np.random.default_rng(seed)
        plan = make_layout(rng, 192, 192, real_scale=0.5)
        for wall in plan.walls:
            wall.style = style
        ink, layer = draw_walls(plan, (192, 192), rng, Pens(wall=3, cad=seed % 2 == 1))
        drawn, wall_mask = ink >= 128, layer >= 128
        assert (ink > 0).any()
        outside = drawn & ~wall_mask
        assert not outside.any(), f"seed {seed}: {int(outside.sum())} wall-ink pixels outside the mask ({style})"
        # faint ink too (light hatch and grey, anti-aliased edges): none of it beyond the mask's 1 px border
        faint = (ink > 0) & ~cv2.dilate(wall_mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert not faint.any(), f"seed {seed}: {int(faint.sum())} faint wall-ink pixels off the mask ({style})"


def _clear_of_other_walls(plan, wall, x: float, y: float) -> bool:
    """True if (x, y) is farther than a wall thickness from every other wall (no junction there)."""
    for other in plan.walls:
        if other is wall:
            continue
        x0, y0, x1, y1 = other.rect(other.a - other.thickness, other.b + other.thickness)
        m = wall.thickness + other.thickness
        if x0 - m <= x <= x1 + m and y0 - m <= y <= y1 + m:
            return False
    return True


def test_hollow_walls_are_wall_between_their_two_lines() -> None:
    """Across a hollow wall: a line near each face, no dark ink between them, and the mask covers the whole wall.
    (A lined wall's heavy inner face, 3 px wide here, reaches 6 px into the profile.)"""
    checked = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        plan = make_layout(rng, 256, 256, real_scale=1.0)
        for wall in plan.walls:
            wall.style = "hollow"
        ink, layer = draw_walls(plan, (256, 256), rng, Pens(wall=3))
        for wall in plan.walls:
            half = wall.thickness / 2
            if wall.thickness < 14:
                continue
            for start, end in wall.solid_spans():
                for run in np.arange(start + wall.thickness, end - wall.thickness, wall.thickness):
                    x, y = wall.xy(run, 0.0)
                    on_canvas = half + 2 < x < 253 - half and half + 2 < y < 253 - half
                    if not on_canvas or not _clear_of_other_walls(plan, wall, x, y):
                        continue
                    r, lo, hi = round(run), round(wall.c - half) - 1, round(wall.c + half) + 2
                    across_ink = ink[lo:hi, r] if wall.horizontal else ink[r, lo:hi]
                    across_wall = layer[lo + 2 : hi - 2, r] if wall.horizontal else layer[r, lo + 2 : hi - 2]
                    assert (across_wall >= 128).all(), f"seed {seed}: the gap between the lines is not all wall"
                    assert across_ink[7:-7].max() < 160, f"seed {seed}: dark ink between the lines of a hollow wall"
                    assert across_ink[:4].max() >= 100 and across_ink[-4:].max() >= 100, f"seed {seed}: a line missing"
                    checked += 1
    assert checked >= 10


@pytest.mark.parametrize("cad", [False, True])
def test_doors_and_windows_are_background(cad: bool) -> None:
    """Openings cut the wall and its outline: inside the gap the mask is background, and a window's lines or sash
    are drawn there (CVC-FP labels doors and windows background too)."""
    from segattn.data.floorplans.draw import OpeningStyle, draw_openings
    from segattn.data.floorplans.styles import assign_wall_styles

    windows = doors = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        plan = make_layout(rng, 256, 256, real_scale=0.5)
        assign_wall_styles(plan, rng, cad)
        _, layer = draw_walls(plan, (256, 256), rng, Pens(wall=1 if cad else 3, cad=cad))
        ink = np.zeros_like(layer)
        draw_openings(ink, plan, OpeningStyle.random(rng, plan, 2, cad))
        for wall in plan.walls:
            for op in wall.openings:
                x0, y0, x1, y1 = wall.rect(op.start + 5, op.end - 5)  # the gap, off the outline of its jambs
                if min(x0, y0) < 0 or max(x1, y1) > 256 or x1 - x0 < 2 or y1 - y0 < 2:  # wholly on the canvas
                    continue
                ix0, iy0, ix1, iy1 = round(x0), round(y0), round(x1), round(y1)
                assert (layer[iy0:iy1, ix0:ix1] < 128).all(), f"seed {seed}: wall drawn across a {op.kind}"
                if op.kind == "window":
                    assert ink[iy0:iy1, ix0:ix1].max() >= 64, f"seed {seed}: a window without its lines"
                    windows += 1
                else:
                    doors += 1
    assert windows >= 5 and doors >= 5


def test_cad_walls_have_light_fills_only() -> None:
    """In a CAD drawing (one thin pen) grey and hatched walls stay light inside their thin outline."""
    for style in ("grey", "hatch"):
        for seed in range(6):
            rng = np.random.default_rng(seed)
            plan = make_layout(rng, 256, 256, real_scale=1.0)
            for wall in plan.walls:
                wall.style = style
            ink, layer = draw_walls(plan, (256, 256), rng, Pens(wall=1, cad=True))
            inside = cv2.erode((layer >= 128).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
            if inside.any():
                assert ink[inside].max() < 200, f"seed {seed}: a dark {style} fill in a CAD drawing"


def test_real_scale_plans_have_the_same_size_in_pixels_on_any_canvas() -> None:
    """Real-scale pages keep pixels per metre (so wall thickness in pixels) whatever the canvas and follow ``dpi``;
    whole pages scale with the canvas."""

    def median_ppm(size: int, real_scale: float, dpi: float = 150.0) -> float:
        plans = [make_layout(np.random.default_rng(s), size, size, real_scale=real_scale, dpi=dpi) for s in range(60)]
        assert all(p.real_scale == (real_scale == 1.0) for p in plans)
        return float(np.median([p.px_per_m for p in plans]))

    assert median_ppm(512, 1.0) == pytest.approx(median_ppm(256, 1.0), rel=0.15)
    assert median_ppm(256, 1.0, dpi=300) == pytest.approx(2 * median_ppm(256, 1.0), rel=0.15)
    assert median_ppm(512, 0.0) == pytest.approx(2 * median_ppm(256, 0.0), rel=0.15)
    assert 150 * 0.8 / 0.0254 / 200 <= median_ppm(256, 1.0) <= 150 * 1.25 / 0.0254 / 50


def test_dense_dimensions_draw_more_chains() -> None:
    from segattn.data.floorplans.text import draw_dimensions, random_style

    more = 0
    for seed in range(10):
        plan = make_layout(np.random.default_rng(seed), 256, 256, real_scale=0.0)
        drawn = []
        for dense in (False, True):
            ink = np.zeros((256, 256), np.uint8)
            style = random_style(np.random.default_rng(0))
            draw_dimensions(ink, plan, np.random.default_rng(seed), style, 7.0, dense=dense)
            drawn.append(int((ink > 0).sum()))
        more += drawn[1] > 1.2 * drawn[0]
    assert more >= 7


def test_bad_style_arguments() -> None:
    with pytest.raises(ValueError, match="real_scale"):
        generate_floorplan(0, 128, real_scale=1.5)
    with pytest.raises(ValueError, match="cad"):
        generate_floorplan(0, 128, cad=-0.1)
    with pytest.raises(ValueError, match="dpi"):
        generate_floorplan(0, 128, dpi=0)


def test_windows_in_two_line_walls_have_three_lines() -> None:
    """A two-line window in a hollow wall would look like the wall running on; there it gets three lines."""
    from segattn.data.floorplans.draw import OpeningStyle, draw_openings
    from segattn.data.floorplans.styles import TWO_LINE_STYLES

    style = OpeningStyle(leaf=1, arc_value=255, window="lines", window_lines=2, jambs=False)
    checked = 0
    for seed in range(6):
        plan = make_layout(np.random.default_rng(seed), 256, 256, real_scale=1.0)
        for two_line in ((), TWO_LINE_STYLES):
            for wall in plan.walls:
                wall.style = "hollow"
            ink = np.zeros((256, 256), np.uint8)
            draw_openings(ink, plan, style, two_line=two_line)
            for wall in plan.walls:
                for op in (op for op in wall.openings if op.kind == "window" and wall.thickness >= 10):
                    run, half = round((op.start + op.end) / 2), wall.thickness / 2
                    lo, hi = round(wall.c - half) - 2, round(wall.c + half) + 3
                    if not (0 <= lo and hi <= 256 and 0 <= run < 256):
                        continue
                    across = (ink[lo:hi, run] if wall.horizontal else ink[run, lo:hi]) >= 64
                    lines = int(across[0]) + int(np.count_nonzero(across[1:] & ~across[:-1]))  # runs of ink
                    assert lines == (3 if two_line else 2), f"seed {seed}: {lines} window lines"
                    checked += 1
    assert checked >= 4
