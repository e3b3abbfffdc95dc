"""Synthetic scanned floor plans with an exact wall mask, generated on the fly from a seed.

``generate_floorplan(seed, size, noise_level)`` returns an RGB uint8 image and a {0, 1} wall mask. The
geometry comes from ``layout`` (rooms by recursive partition of a rectangular or L-shaped outline, exterior walls
thicker than interior ones, doors and windows as gaps; the whole building on the canvas, or a real-scale page seen
through the canvas), the wall ink from ``styles`` (solid, grey, hatched, outlined or hollow walls; inked or CAD
drawings), the rest from ``draw`` / ``text`` / ``decor``; this file puts it on paper and scans it:

- paper white, cream, grey or lightly tinted, with a lighting gradient, sometimes an edge shadow, fibre texture;
- ink near-black, blue-black, brown or pencil grey, partly faded;
- a slight rotation, blur, sensor noise, specks and JPEG artefacts, all scaled by ``noise_level``
  (0 = a clean digital drawing, 1 = default scan, 2 = a bad photocopy).

The mask is the drawn wall layer thresholded at half coverage after the same rotation as the ink, so it is
exactly what is drawn as wall: solid, grey, hatched, outlined or hollow walls are class 1; doors, windows, text,
furniture, stairs, hatched non-wall areas and stray lines are class 0. ``write_floorplans`` writes a set to
disk in the folder layout ``images/`` + ``masks/`` and never overwrites a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .decor import draw_hatched_area, draw_marks, draw_stairs, furnish
from .draw import OpeningStyle, draw_openings
from .layout import DPI, REAL_SCALE_SHARE, door_swings, make_layout
from .styles import TWO_LINE_STYLES, Pens, assign_wall_styles, draw_walls
from .text import draw_dimensions, draw_room_labels, draw_sheet, random_style

Seed = int | Sequence[int] | np.random.SeedSequence


def _size(size: int | Sequence[int]) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if min(h, w) < 64:
        raise ValueError(f"floor plan size must be at least 64 x 64 pixels, got {h} x {w}")
    return int(h), int(w)


CAD_SHARE = 0.05  # share of CAD drawings: one thin pen for everything (``styles.py``)
DENSE_DIMENSIONS = 0.4  # share of plans with dimensioned sides that stack chains and dimension rooms (``text.py``)


def draw_plan(
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    real_scale: float = REAL_SCALE_SHARE,
    dpi: float = DPI,
    cad: float = CAD_SHARE,
) -> tuple[np.ndarray, np.ndarray]:
    """Unrotated ink (H, W) uint8 (255 = full ink) and wall layer (H, W) uint8 (>= 128 = wall).

    ``real_scale`` and ``dpi``: the share and resolution of real-scale pages (``layout.py``); ``cad``: the share of
    CAD drawings (``styles.py``).
    """
    plan = make_layout(rng, height, width, real_scale=real_scale, dpi=dpi)
    is_cad = bool(rng.random() < cad)
    assign_wall_styles(plan, rng, is_cad)
    lw = 1 if plan.px_per_m < 28 or is_cad else 2
    # cut walls carry the heaviest line weight, as in drafting: heavier than window and door lines
    wall_ink, wall_layer = draw_walls(plan, (height, width), rng, Pens(wall=1 if is_cad else lw + 1, cad=is_cad))
    ink = np.zeros((height, width), np.uint8)
    draw_openings(ink, plan, OpeningStyle.random(rng, plan, lw, is_cad), two_line=TWO_LINE_STYLES)
    style = random_style(rng)
    text_height = float(np.clip(plan.px_per_m * rng.uniform(0.22, 0.4), 5.0, 16.0))
    taken = door_swings(plan)
    if rng.random() < 0.85:
        for room, rect in draw_room_labels(ink, plan, rng, style, text_height).items():
            taken.setdefault(room, []).extend(rect)
    if rng.random() < 0.3:
        draw_stairs(ink, plan, rng, taken)
    if rng.random() < 0.35:
        draw_hatched_area(ink, plan, rng, taken)
    furnish(ink, plan, rng, taken)
    if rng.random() < 0.8:
        draw_dimensions(ink, plan, rng, style, max(5.0, 0.8 * text_height), dense=bool(rng.random() < DENSE_DIMENSIONS))
    draw_sheet(ink, plan, rng, style, lw)
    draw_marks(ink, plan, rng, style)
    return np.maximum(ink, wall_ink), wall_layer


def _smooth_field(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """(H, W) float32 low-frequency noise in about [-1, 1]."""
    coarse = rng.uniform(-1, 1, size=(cells, cells)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """A fixed (1024, 1024) float32 standard-normal field; a random window of it is much cheaper than new draws."""
    return np.random.default_rng(0x5E6A77).standard_normal((1024, 1024), dtype=np.float32)


def _gaussian_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    bank = _noise_bank()
    if height > bank.shape[0] or width > bank.shape[1]:
        return rng.standard_normal((height, width), dtype=np.float32)
    y, x = int(rng.integers(bank.shape[0] - height + 1)), int(rng.integers(bank.shape[1] - width + 1))
    return bank[y : y + height, x : x + width]


def _paper(rng: np.random.Generator, height: int, width: int, noise_level: float) -> tuple[np.ndarray, np.ndarray]:
    """The page as lighting (H, W) float32 times an RGB base colour (3,)."""
    kind = rng.choice(["white", "cream", "grey", "tint"], p=[0.35, 0.3, 0.25, 0.1])
    if kind == "white":
        base = np.full(3, rng.uniform(0.9, 1.0))
    elif kind == "cream":
        base = np.array([1.0, rng.uniform(0.93, 0.98), rng.uniform(0.78, 0.92)]) * rng.uniform(0.88, 1.0)
    elif kind == "grey":
        base = rng.uniform(0.68, 0.88) * rng.uniform(0.97, 1.03, size=3)
    else:
        base = rng.uniform(0.82, 0.98, size=3)
    xx = np.linspace(0, 1, width, dtype=np.float32)[None, :]  # (1, W)
    yy = np.linspace(0, 1, height, dtype=np.float32)[:, None]  # (H, 1)
    light = 1.0 + rng.uniform(-0.12, 0.12) * (xx - 0.5) + rng.uniform(-0.12, 0.12) * (yy - 0.5)  # (H, W)
    if rng.random() < 0.3:  # a shadow falling on one edge of a photographed page
        edge = [xx, 1 - xx, yy, 1 - yy][int(rng.integers(4))]
        light = light - rng.uniform(0.1, 0.35) * np.exp(-edge / rng.uniform(0.05, 0.25))
    light += (0.025 * noise_level) * _smooth_field(rng, height, width, 12)
    return light.astype(np.float32), np.clip(base, 0, 1).astype(np.float32)


def _scan(ink: np.ndarray, paper_rng: np.random.Generator, rng: np.random.Generator, noise_level: float) -> np.ndarray:
    """Put ink (H, W) uint8 on paper and degrade it like a scan; returns (H, W, 3) uint8 RGB.

    ``paper_rng`` picks paper and ink, ``rng`` the degradation, so one seed gives the same page at every
    ``noise_level``.
    """
    height, width = ink.shape
    light, base = _paper(paper_rng, height, width, noise_level)
    colour = [
        np.full(3, paper_rng.uniform(0.0, 0.15)),
        np.array([0.08, 0.1, 0.28]) * paper_rng.uniform(0.5, 1.2),
        np.array([0.25, 0.17, 0.1]) * paper_rng.uniform(0.5, 1.2),
        np.full(3, paper_rng.uniform(0.25, 0.4)),
    ][int(paper_rng.choice(4, p=[0.65, 0.15, 0.1, 0.1]))]
    alpha = ink.astype(np.float32) * np.float32(paper_rng.uniform(0.8, 1.0) / 255.0)  # (H, W)
    if noise_level > 0 and rng.random() < 0.5:  # faded patches
        alpha *= 1.0 - 0.25 * min(noise_level, 1.5) * (0.5 + 0.5 * _smooth_field(rng, height, width, 6))
    page = light * (1.0 - alpha)  # (H, W): paper showing through
    if noise_level > 0 and rng.random() < 0.7:
        page += _gaussian_noise(rng, height, width) * np.float32(rng.uniform(0.005, 0.03 * noise_level))
    # channels one by one: OpenCV's merge of 2-D planes is far cheaper than numpy broadcasting over (H, W, 3)
    planes = [page * np.float32(b) + alpha * np.float32(c) for b, c in zip(base, colour, strict=True)]
    image = cv2.merge(planes)  # 3 x (H, W) -> (H, W, 3)
    if noise_level > 0:
        if rng.random() < 0.6:
            image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 0.3 + 0.6 * noise_level))
        for _ in range(int(rng.poisson(8 * noise_level))):  # dust and toner specks
            centre = (int(rng.integers(width)), int(rng.integers(height)))
            cv2.circle(image, centre, int(rng.integers(0, 2)), colour.tolist(), -1)
    out = cv2.convertScaleAbs(image, alpha=255.0)  # (H, W, 3) uint8, saturating
    if noise_level > 0 and rng.random() < 0.5:
        quality = int(rng.uniform(max(15, 90 - 35 * noise_level), 96))
        ok, buf = cv2.imencode(".jpg", out[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])
    return out


def check_style_options(*, real_scale: float, cad: float, dpi: float) -> None:
    """``ValueError`` naming the option unless the shares are in [0, 1] and ``dpi`` is positive."""
    for name, share in (("real_scale", real_scale), ("cad", cad)):
        if not 0 <= share <= 1:
            raise ValueError(f"{name} must be a share in [0, 1], got {share}")
    if dpi <= 0:
        raise ValueError(f"dpi must be > 0, got {dpi}")


def generate_floorplan(
    seed: Seed,
    size: int | Sequence[int] = 256,
    noise_level: float = 1.0,
    *,
    real_scale: float = REAL_SCALE_SHARE,
    dpi: float = DPI,
    cad: float = CAD_SHARE,
) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic plan: image (H, W, 3) uint8 RGB and wall mask (H, W) uint8 in {0, 1}.

    ``seed`` is an int, a sequence of ints or a ``np.random.SeedSequence``; equal seeds give identical arrays.
    ``size`` is an int (square) or (height, width). The plan and its paper depend on the seed only;
    ``noise_level`` changes only how badly it is scanned. ``real_scale`` is the share of pages drawn at the size
    a ``dpi`` scan has (the others fit the whole building on the canvas), ``cad`` the share of CAD drawings (one
    thin pen for walls and furniture alike).
    """
    if noise_level < 0:
        raise ValueError(f"noise_level must be >= 0, got {noise_level}")
    check_style_options(real_scale=real_scale, cad=cad, dpi=dpi)
    height, width = _size(size)
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    # three independent streams, derived without mutating ``seq`` (unlike ``seq.spawn``)
    draw_rng, paper_rng, rng = (
        np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, k))) for k in range(3)
    )
    ink, wall = draw_plan(draw_rng, height, width, real_scale=real_scale, dpi=dpi, cad=cad)
    if noise_level > 0 and rng.random() < 0.6:  # slightly skewed on the scanner
        angle = rng.uniform(-2.5, 2.5) * min(1.0, noise_level)
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        ink = cv2.warpAffine(ink, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)
        wall = cv2.warpAffine(wall, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)
    mask = (wall >= 128).astype(np.uint8)
    return _scan(ink, paper_rng, rng, noise_level), mask


def write_floorplans(
    out_dir: str | Path, n: int, seed: int = 0, size: int | Sequence[int] = 512, noise_level: float = 1.0
) -> list[str]:
    """Write ``n`` plans as ``out_dir/images/floorplan_00000.png`` + ``out_dir/masks/floorplan_00000.png``.

    Masks are class-index PNGs (0 background, 1 wall: ``mask_encoding: index``). Plan ``i`` uses the seed
    ``(seed, i)``, so the same call writes the same files. Refuses to start (``FileExistsError`` naming the
    files) if any of the files it would write already exists. Returns the written stems.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    out = Path(out_dir)
    stems = [f"floorplan_{i:05d}" for i in range(n)]
    targets = [(out / "images" / f"{s}.png", out / "masks" / f"{s}.png") for s in stems]
    existing = [str(p) for pair in targets for p in pair if p.exists()]
    if existing:
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        listed = ", ".join(existing[:5])
        raise FileExistsError(f"refusing to overwrite {len(existing)} existing file(s): {listed}{more}")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    for i, (image_path, mask_path) in enumerate(targets):
        image, mask = generate_floorplan((seed, i), size, noise_level)
        for path, array in ((image_path, image[:, :, ::-1]), (mask_path, mask)):
            ok, buf = cv2.imencode(".png", array)
            if not ok:
                raise OSError(f"could not encode {path}")
            with open(path, "xb") as fh:  # "x": fail rather than overwrite a file that appeared meanwhile
                fh.write(buf.tobytes())
    return stems
