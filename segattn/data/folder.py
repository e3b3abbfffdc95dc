"""A folder of image / mask pairs: pairing, validation before training, splits, and the Dataset.

Layout (see data/README.md): ``root/images/**/<stem>.<ext>`` and ``root/masks/**/<stem>.<ext>``, paired by
path relative to ``images/`` / ``masks/`` without the extension (so ``images/a/b.jpg`` pairs with
``masks/a/b.png``). Optional ``root/splits/{train,val,test}.txt`` list one such key per line.

``validate_pairs`` reads every file once and reports ALL problems in one ``DatasetError`` (image without
mask, mask without image, unreadable file, size mismatch, mask values outside the classes, colours not in
the palette, split entries without a pair), or with ``skip_bad`` warns and leaves the bad pairs out.
Nothing under ``root`` is ever written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from segattn.data.io import (
    IGNORE_INDEX,
    IMAGE_EXTENSIONS,
    BadFileError,
    MaskEncoding,
    Palette,
    check_mask_values,
    decode_mask,
    mask_values,
    read_image,
    read_mask,
    read_raw,
)
from segattn.data.preprocess import make_sample

MAX_LISTED = 50
SPLIT_NAMES = ("train", "val", "test")


class DatasetError(ValueError):
    """The dataset cannot be used as it is; the message lists every problem found."""


@dataclass(frozen=True)
class Pair:
    key: str  # path relative to images/ (and masks/) without extension, "/"-separated
    image: Path
    mask: Path


@dataclass(frozen=True)
class Problem:
    path: str
    problem: str
    key: str | None = None  # the pair it disqualifies, if any


def format_problems(problems: Sequence[Problem], header: str) -> str:
    lines = [f"  {p.path}: {p.problem}" for p in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f"  ... and {len(problems) - MAX_LISTED} more")
    return "\n".join([header, *lines])


def scan_folder(folder: Path) -> tuple[dict[str, Path], list[Problem]]:
    """{key: file} for every image file under ``folder`` (hidden files and folders skipped)."""
    files: dict[str, Path] = {}
    problems: list[Problem] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in sorted(filenames):
            path = Path(dirpath) / fname
            if fname.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            key = path.relative_to(folder).with_suffix("").as_posix()
            if key in files:
                problem = f"two files for the same stem {key!r}: {files[key].name} and {fname}"
                problems.append(Problem(str(path), problem, key))
            else:
                files[key] = path
    return files, problems


def find_pairs(root: str | Path) -> tuple[list[Pair], list[Problem]]:
    """Pair ``root/images`` with ``root/masks`` by key; unpaired files become problems."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"dataset root {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"dataset root {root} is not a folder")
    for sub in ("images", "masks"):
        if not (root / sub).is_dir():
            raise FileNotFoundError(f"{root / sub} not found: a dataset folder holds images/ and masks/")
    images, problems = scan_folder(root / "images")
    masks, mask_problems = scan_folder(root / "masks")
    problems += mask_problems
    if not images:
        raise DatasetError(f"{root / 'images'} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
    for key in sorted(set(images) - set(masks)):
        problems.append(Problem(str(images[key]), f"image without mask (expected masks/{key}.png or similar)", key))
    for key in sorted(set(masks) - set(images)):
        problems.append(Problem(str(masks[key]), f"mask without image (expected images/{key}.<ext>)", key))
    pairs = [Pair(key, images[key], masks[key]) for key in sorted(set(images) & set(masks))]
    return pairs, problems


def check_image(raw: np.ndarray, path: Path) -> None:
    if raw.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise BadFileError(path, f"unsupported pixel type {raw.dtype}")
    if raw.ndim == 3 and raw.shape[2] not in (1, 2, 3, 4):
        raise BadFileError(path, f"unsupported channel count {raw.shape[2]}")


def mask_kind(values: np.ndarray, num_classes: int, max_value: int) -> str:
    """What one mask's values say about its encoding under ``auto``.

    ``"binary"``: exactly {0, max} (0/255 or 0/65535); ``"index"``: a foreground class 1..K-1 appears and every
    value is a class or 255 (ignore); ``"empty"``: only 0 (fits either); ``"neither"``: fits no encoding.
    """
    vals = set(np.asarray(values).tolist())
    if num_classes == 2 and vals == {0, max_value}:
        return "binary"
    if vals <= {0}:
        return "empty"
    if all(v < num_classes or v == IGNORE_INDEX for v in vals) and any(0 < v < num_classes for v in vals):
        return "index"
    if vals <= {0, IGNORE_INDEX}:  # background and ignore only: index by definition (255 = ignore)
        return "index"
    return "neither"


def resolve_encoding(
    seen: Sequence[tuple[Pair, np.ndarray, int]], num_classes: int, root: Path | str = "dataset"
) -> str:
    """``auto`` for a whole dataset from each good mask's values (see :func:`mask_kind`).

    All masks 0/255 -> ``binary``; otherwise ``index``. Masks of both kinds are a ``DatasetError`` listing which
    file holds what: resolving them to one encoding would silently turn one kind into something else (0/255 read
    as index makes every foreground pixel "ignore").
    """
    kinds: dict[str, list[tuple[Pair, np.ndarray]]] = {}
    for pair, values, max_value in seen:
        kinds.setdefault(mask_kind(values, num_classes, max_value), []).append((pair, values))
    if "binary" in kinds and "index" in kinds:
        lines = []
        for kind, meaning in (("binary", "0/255 masks (binary)"), ("index", "class-index masks (index)")):
            listed = ", ".join(f"{p.mask.name} {_values(v)}" for p, v in kinds[kind][:5])
            more = f" and {len(kinds[kind]) - 5} more" if len(kinds[kind]) > 5 else ""
            lines.append(f"  {len(kinds[kind])} {meaning}: {listed}{more}")
        raise DatasetError(
            f"dataset {root}: mask_encoding auto found two encodings in one dataset:\n" + "\n".join(lines) + "\n"
            "Convert the masks to one encoding, or set mask_encoding: binary or index (255 = ignore in index masks)."
        )
    return "binary" if "binary" in kinds else "index"


def _values(values: np.ndarray, limit: int = 6) -> str:
    vals = [int(v) for v in np.asarray(values)[:limit]]
    return "{" + ", ".join(map(str, vals)) + (", ..." if len(values) > limit else "") + "}"


def validate_pairs(
    pairs: Sequence[Pair], encoding: MaskEncoding, palette: Palette | None, num_classes: int, root: Path | str = ""
) -> tuple[list[Problem], str]:
    """Read every pair once; returns (problems, resolved encoding: 'auto' becomes 'index' or 'binary').

    ``auto`` is decided from the masks of pairs with no other problem, so a mask dropped by ``skip_bad`` (or any
    unusable pair) never changes how the others are read.
    """
    problems: list[Problem] = []
    seen: list[tuple[Pair, np.ndarray, int]] = []  # (pair, mask values, max value) for the value check
    for pair in pairs:
        bad = False
        try:
            raw_image = read_raw(pair.image)
            check_image(raw_image, pair.image)
        except BadFileError as err:
            problems.append(Problem(err.path, err.problem, pair.key))
            raw_image, bad = None, True
        try:
            raw_mask = read_raw(pair.mask)
            if raw_image is not None and raw_image.shape[:2] != raw_mask.shape[:2]:
                (ih, iw), (mh, mw) = raw_image.shape[:2], raw_mask.shape[:2]
                raise BadFileError(pair.mask, f"size mismatch: image is {ih}x{iw} (HxW) but mask is {mh}x{mw}")
            if encoding == "palette":
                decode_mask(raw_mask, encoding, palette, num_classes, pair.mask)
            else:
                _, values, max_value = mask_values(raw_mask, pair.mask)
                if encoding == "auto" and mask_kind(values, num_classes, max_value) == "neither":
                    check_mask_values(values, "index", num_classes, max_value, pair.mask)  # raises, naming the values
                if not bad:
                    seen.append((pair, values, max_value))
        except BadFileError as err:
            problems.append(Problem(err.path, err.problem, pair.key))
    resolved = str(encoding)
    if encoding == "auto":
        resolved = resolve_encoding(seen, num_classes, root or "dataset")
    for pair, values, max_value in seen:
        try:
            check_mask_values(values, resolved, num_classes, max_value, pair.mask)
        except BadFileError as err:
            problems.append(Problem(err.path, err.problem, pair.key))
    return problems, resolved


def _split_key(line: str, keys: set[str]) -> str:
    key = line.replace("\\", "/").removeprefix("./")
    for prefix in ("images/", "masks/"):
        if key not in keys and key.startswith(prefix):
            key = key[len(prefix) :]
    if key not in keys and Path(key).suffix.lower() in IMAGE_EXTENSIONS:
        key = str(Path(key).with_suffix("").as_posix())
    return key


def read_splits(root: Path, keys: set[str]) -> tuple[dict[str, list[str]] | None, list[Problem]]:
    """Keys per split from ``root/splits/*.txt`` (None when there is no such file); unknown / repeated keys
    are problems. ``train.txt`` and ``val.txt`` are required once any split file exists; ``test.txt`` is not."""
    folder = root / "splits"
    files = {name: folder / f"{name}.txt" for name in SPLIT_NAMES if (folder / f"{name}.txt").is_file()}
    if not files:
        return None, []
    missing = [f"{name}.txt" for name in ("train", "val") if name not in files]
    if missing:
        present = ", ".join(f"{name}.txt" for name in files)
        raise DatasetError(f"{folder} has {present} but no {' / '.join(missing)}: add it, or remove the split files")
    splits: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    problems: list[Problem] = []
    for name, path in files.items():
        splits[name] = []
        for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key = _split_key(line, keys)
            if key not in keys:
                problems.append(Problem(f"{path}:{lineno}", f"{line!r} matches no image / mask pair"))
            elif key in owner:
                problems.append(Problem(f"{path}:{lineno}", f"{line!r} is already in {owner[key]}.txt"))
            else:
                owner[key] = name
                splits[name].append(key)
    return splits, problems


def seeded_split(keys: Sequence[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[str]]:
    """Shuffle the sorted keys with ``seed`` and cut val / test / train; the same inputs give the same split."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"val_fraction {val_fraction} and test_fraction {test_fraction} must be >= 0 with sum < 1")
    keys = sorted(keys)
    order = [keys[i] for i in np.random.default_rng(seed).permutation(len(keys))]
    n_val = max(1, round(val_fraction * len(keys))) if val_fraction > 0 else 0
    n_test = max(1, round(test_fraction * len(keys))) if test_fraction > 0 else 0
    if len(keys) - n_val - n_test < 1:
        fractions = f"val_fraction {val_fraction}, test_fraction {test_fraction}"
        raise DatasetError(f"{len(keys)} pairs are too few for {fractions}: no pair left for training")
    return {
        "val": sorted(order[:n_val]),
        "test": sorted(order[n_val : n_val + n_test]),
        "train": sorted(order[n_val + n_test :]),
    }


class FolderDataset(Dataset):
    """Pairs read from disk on each access; ``pad_multiple`` set makes it an eval dataset (see make_sample)."""

    def __init__(
        self,
        root: Path,
        pairs: Sequence[Pair],
        *,
        in_channels: int,
        encoding: str,
        palette: Palette | None,
        num_classes: int,
        transform: Any,
        mean: Sequence[float],
        std: Sequence[float],
        pad_multiple: int | None = None,
    ) -> None:
        self.root, self.pairs = Path(root), list(pairs)
        self.in_channels, self.encoding, self.palette, self.num_classes = in_channels, encoding, palette, num_classes
        self.transform, self.mean, self.std, self.pad_multiple = transform, mean, std, pad_multiple
        self._seed: int | None = None

    def __len__(self) -> int:
        return len(self.pairs)

    def _sync_seed(self) -> None:
        """Seed albumentations from torch's per-worker seed (set by Lightning's seed_everything), once per worker."""
        seed = torch.initial_seed() % 2**32
        if self.transform is not None and seed != self._seed:
            self.transform.set_random_seed(seed)
            self._seed = seed

    def __getitem__(self, index: int) -> dict[str, Any]:
        pair = self.pairs[index]
        image = read_image(pair.image, self.in_channels)  # (H, W, C) float32 in [0, 1]
        mask = read_mask(pair.mask, self.encoding, self.palette, self.num_classes)  # (H, W) uint8
        self._sync_seed()
        name = pair.image.relative_to(self.root).as_posix()
        return make_sample(
            image, mask, self.transform, self.mean, self.std, name=name, index=index, pad_multiple=self.pad_multiple
        )
