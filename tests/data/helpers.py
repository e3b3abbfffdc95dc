"""Small datasets written by the tests themselves (never downloaded)."""

from __future__ import annotations

import hashlib
import os
import stat
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
        st = path.lstat()  # links themselves: a dangling or looping link is part of the tree too
        h.update(f"{path.relative_to(root)}|{stat.S_IFMT(st.st_mode)}|{st.st_mtime_ns}".encode())
        if path.is_symlink():
            h.update(os.readlink(path).encode())
        elif stat.S_ISREG(st.st_mode):  # never read a FIFO (it would block)
            h.update(path.read_bytes())
    return h.hexdigest()


def write_oriented(path: Path, rgb_or_gray: np.ndarray, orientation: int, **save: object) -> Path:
    """Save with Pillow and an EXIF orientation tag, as a phone or scanner does (the pixels stay as stored)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgb_or_gray).save(path, exif=exif.tobytes(), **save)
    return path


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` gray pixels and whose pixel data is missing (a few bytes)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path
