"""Small datasets written by the tests themselves (never downloaded)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np


def write(path: Path, array: np.ndarray) -> Path:
    """Write an array with OpenCV (BGR order for colour), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), array):
        raise OSError(f"could not write {path}")
    return path


def blocky_mask(
    rng: np.random.Generator, h: int, w: int, classes: tuple[int, ...] = (0, 1), block: int = 8
) -> np.ndarray:
    """(H, W) uint8 made of ``block``-pixel squares of the given class values."""
    coarse = rng.choice(classes, size=(-(-h // block), -(-w // block))).astype(np.uint8)
    return np.kron(coarse, np.ones((block, block), np.uint8))[:h, :w]


def make_pairs(root: Path, n: int, size: tuple[int, int] = (40, 56), seed: int = 0, prefix: str = "p") -> list[str]:
    """``n`` RGB images with class-index masks {0, 1}; the image is dark where the mask is 1."""
    rng = np.random.default_rng(seed)
    stems = []
    for i in range(n):
        stem = f"{prefix}{i:03d}"
        mask = blocky_mask(rng, *size)
        image = np.where(mask[:, :, None] == 1, 30, 220).astype(np.uint8).repeat(3, axis=2)
        write(root / "images" / f"{stem}.png", image)
        write(root / "masks" / f"{stem}.png", mask)
        stems.append(stem)
    return stems


def tree_digest(root: Path) -> str:
    """Hash of every path, size, mtime and content under ``root`` (any change, addition or removal shows)."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        st = path.stat()
        h.update(f"{path.relative_to(root)}|{path.is_dir()}|{st.st_mtime_ns}".encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()
