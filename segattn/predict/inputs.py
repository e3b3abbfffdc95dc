"""Collect the images to predict and map each one to its output paths, mirroring the input tree.

``--input`` is a folder (searched recursively), a glob (``**`` allowed), a text file with one image
path per line (relative paths are relative to the list file; blank lines and ``#`` comments are
skipped), or a single image. Each image keeps its path relative to a root — the folder, the glob's
fixed prefix, or the deepest folder shared by the listed files — and its outputs go to the same
relative place under ``--output``.

Nothing is ever written outside ``--output``: a relative path never holds ``..`` (glob matches are normalised
first; a match outside the glob's fixed prefix is placed relative to the deepest folder the matches share), and
:func:`output_paths` resolves every output path (symbolic links included) and refuses the whole run, before any
file is written, if one would land outside ``--output`` or on an input image.
"""

from __future__ import annotations

import glob
import os
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from segattn.data.io import IMAGE_EXTENSIONS

_GLOB_MAGIC = ("*", "?", "[")


@dataclass(frozen=True)
class InputImage:
    path: Path  # where to read it
    rel: PurePosixPath  # path relative to the input root, used to name outputs


@dataclass(frozen=True)
class OutputPaths:
    mask: Path
    probs: tuple[Path, ...]  # empty unless probabilities are saved
    overlay: Path | None

    @property
    def all(self) -> tuple[Path, ...]:
        return (self.mask, *self.probs, *((self.overlay,) if self.overlay else ()))


def _is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS


def _inside(p: Path, folder: Path | None) -> bool:
    return folder is not None and (p == folder or folder in p.parents)


def collect_inputs(spec: str, *, exclude: str | Path | None = None) -> list[InputImage]:
    """Images named by ``spec`` (folder, glob, list file or one image), sorted by relative path.

    Files under ``exclude`` (the output folder) are skipped, so predicting into a folder inside the
    input folder never feeds earlier outputs back in. Raises ``FileNotFoundError`` naming ``spec``
    when it matches nothing.
    """
    excl = Path(exclude).resolve() if exclude is not None else None
    p = Path(spec)
    if p.is_dir():
        root = p
        files = [
            f
            for f in p.rglob("*")
            if f.is_file() and _is_image(f) and not any(part.startswith(".") for part in f.relative_to(p).parts)
        ]
    elif p.is_file() and _is_image(p):
        root, files = p.parent, [p]
    elif p.is_file():
        files = _read_list(p)
        dirs = [str(f.parent.resolve()) for f in files]
        root = Path(os.path.commonpath(dirs)) if dirs else p.parent
        files = list(dict.fromkeys(f.resolve() for f in files))  # an image listed twice is predicted once
    elif any(m in spec for m in _GLOB_MAGIC):
        # normalised lexically ("in/sub*/../x.png" -> "x.png"): a ".." must never reach the relative output path
        files = [
            Path(os.path.normpath(os.path.abspath(f)))
            for f in glob.glob(spec, recursive=True)
            if Path(f).is_file() and _is_image(Path(f))
        ]
        root = Path(os.path.normpath(os.path.abspath(_glob_root(spec))))
        if any(root not in f.parents for f in files):
            root = Path(os.path.commonpath([str(f.parent) for f in files]))
    else:
        raise FileNotFoundError(f"--input {spec!r}: no such folder, image, list file or glob pattern")
    images = [InputImage(f, _relative(f, root)) for f in files if not _inside(f.resolve(), excl)]
    if not images:
        raise FileNotFoundError(
            f"--input {spec!r}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)}"
            + (f", outside the output folder {excl}" if excl else "")
            + ")"
        )
    return sorted(images, key=lambda im: im.rel.as_posix())


def _relative(path: Path, root: Path) -> PurePosixPath:
    rel = PurePosixPath(path.relative_to(root).as_posix())
    if rel.is_absolute() or ".." in rel.parts or rel == PurePosixPath("."):
        raise ValueError(f"--input: cannot name the output of {path} (relative path {rel} under {root})")
    return rel


def _read_list(list_file: Path) -> list[Path]:
    try:
        text = list_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"--input {list_file}: expected an image, a folder, a glob or a list of paths: {e}") from e
    files = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        f = Path(line).expanduser()
        files.append(f if f.is_absolute() else list_file.parent / f)
    # Missing or unreadable listed files are kept: they are reported as failed rows in the manifest.
    return files


def _glob_root(spec: str) -> Path:
    parts = Path(spec).parts
    fixed = []
    for part in parts:
        if any(m in part for m in _GLOB_MAGIC):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


MASKS, PROBS, OVERLAYS = "masks", "probs", "overlays"  # sibling folders under --output


def output_paths(
    images: list[InputImage],
    output: Path,
    *,
    probs: str | None = None,
    num_prob_channels: int = 1,
    overlay: bool = False,
) -> list[OutputPaths]:
    """Output paths for each image, in the same order, in sibling folders under ``output``.

    Mask: ``masks/<rel without suffix>.png``, so ``masks/`` holds nothing but masks and ``segattn evaluate --pred
    OUT/masks`` scores it as it is. Probabilities (``probs`` = ``png8`` | ``png16`` | ``npy``): ``probs/<stem>.png``
    for one channel, ``probs/<stem>_c<k>.png`` per class otherwise (PNG has no K-channel form), or one
    ``probs/<stem>.npy`` (H, W[, K]). Overlay: ``overlays/<stem>.jpg``. Two inputs that would share a stem
    (``a.jpg`` and ``a.png``) keep their full names instead (``a.jpg.png``, ``a.png.png``) so neither output
    overwrites the other.
    """
    stems = [im.rel.with_suffix("").as_posix() for im in images]
    seen: dict[str, int] = {}
    for s in stems:
        seen[s.lower()] = seen.get(s.lower(), 0) + 1
    clashes = {s for s, n in seen.items() if n > 1}
    if clashes:
        warnings.warn(
            f"{len(clashes)} input names differ only by extension (e.g. {sorted(clashes)[0]!r}); "
            "their outputs keep the full input name",
            stacklevel=2,
        )
    result = []
    for im, stem in zip(images, stems, strict=True):
        name = im.rel.as_posix() if stem.lower() in clashes else stem
        prob = output / PROBS / name
        if probs is None:
            prob_paths: tuple[Path, ...] = ()
        elif probs == "npy":
            prob_paths = (prob.with_name(prob.name + ".npy"),)
        elif num_prob_channels == 1:
            prob_paths = (prob.with_name(prob.name + ".png"),)
        else:
            prob_paths = tuple(prob.with_name(f"{prob.name}_c{k}.png") for k in range(num_prob_channels))
        overlay_path = output / OVERLAYS / name
        result.append(
            OutputPaths(
                mask=output / MASKS / (name + ".png"),
                probs=prob_paths,
                overlay=overlay_path.with_name(overlay_path.name + ".jpg") if overlay else None,
            )
        )
    _check_unique(images, result)
    _check_inside(images, result, output)
    return result


def _check_inside(images: list[InputImage], outputs: list[OutputPaths], output: Path) -> None:
    """Every output path, resolved through symbolic links, lies inside ``output`` and is no input image."""
    root = os.path.realpath(output)
    inputs = {os.path.realpath(im.path) for im in images}
    for im, out in zip(images, outputs, strict=True):
        for path in out.all:
            real = os.path.realpath(path)
            if os.path.commonpath([root, real]) != root or real == root:
                raise ValueError(
                    f"refusing to write {path} for {im.path}: it resolves to {real}, outside --output {output} "
                    "(a '..' or a symbolic link in the input or output tree); nothing was written"
                )
            if real in inputs:
                raise ValueError(f"refusing to write {path}: it is the input image {real}; choose another --output")


def _check_unique(images: list[InputImage], outputs: list[OutputPaths]) -> None:
    owner: dict[str, Path] = {}
    for im, out in zip(images, outputs, strict=True):
        for path in out.all:
            key = path.as_posix().lower()
            if key in owner:
                raise ValueError(f"inputs {owner[key]} and {im.path} would both write {path}; rename one of them")
            owner[key] = im.path
