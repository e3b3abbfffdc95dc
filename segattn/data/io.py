"""Reading images and masks from disk, whatever their format.

``read_image`` returns (H, W, C) float32 in [0, 1] for PNG, JPEG, TIFF and BMP files, gray, RGB or RGBA,
8- or 16-bit, converted to the requested channel count (RGB order, not OpenCV's BGR). ``read_mask`` returns
(H, W) uint8 class indices, with 255 (``IGNORE_INDEX``) for ignored pixels, from one of three encodings:

- ``"index"``: the pixel value is the class (0 background, 1, 2, ...); 255 means "ignore".
- ``"binary"``: 0 is background and 255 (65535 in 16-bit files) is class 1; nothing else is allowed.
- ``"palette"``: an RGB mask whose colours are listed in ``palette`` (one ``[r, g, b]`` per class).
- ``"auto"`` (single file): ``"binary"`` when ``num_classes == 2`` and the values are exactly {0, 255}
  (or {0, 65535}), else ``"index"``. The folder dataset resolves "auto" once for the whole dataset and logs it.

Every problem a user's file can have raises ``BadFileError`` (a ``ValueError``) naming the file and the problem.
Files are read through ``np.fromfile`` + ``cv2.imdecode`` so that non-ASCII paths work on every platform.

Pixels are returned as an image viewer shows them: an EXIF orientation tag (phone JPEGs, some TIFFs) is applied
to images and masks alike, so training, prediction and evaluation all see the upright picture a user drew
masks on. OpenCV applies the tag only in its colour-converting modes and never with ``IMREAD_UNCHANGED``, which
is needed to keep 16-bit values and alpha (TIFF is the exception: libtiff turns its pixels itself), so the
header is read with Pillow, a small fraction of decoding (bench/README.md), for the tag and for the pixel count,
which ``max_pixels`` checks *before* decoding.
"""

from __future__ import annotations

import io
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from segattn.labels import IGNORE_INDEX

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
# Prediction's default --max-pixels: an A0 sheet at 300 dpi (9933 x 14043, 139 M) fits; at about 17 bytes per pixel
# while predicting (the float32 RGB copy, the raw decode, the mask) that is 2.5 GB of memory at most.
DEFAULT_MAX_PIXELS = 150_000_000

MaskEncoding = Literal["auto", "index", "binary", "palette"]
Palette = Sequence[Sequence[int]]


class BadFileError(ValueError):
    """A user's file cannot be used; ``str(err)`` is ``"<path>: <problem>"``."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


_EXIF_ORIENTATION = 0x0112
_PIL_LOCK = threading.Lock()


@dataclass(frozen=True)
class Header:
    """What a file's header says, before any pixel is decoded."""

    width: int
    height: int
    orientation: int = 1  # EXIF: 1 upright, 2..8 flips and quarter turns (6: rotate 90° clockwise to view)

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_header(data: bytes | np.ndarray | Path) -> Header | None:
    """Size and EXIF orientation from a file's bytes, or its path, without decoding pixels; None if Pillow cannot tell.

    Given a path, Pillow reads only as far as the header, not the whole file.
    """
    from PIL import Image, UnidentifiedImageError

    with _PIL_LOCK:  # Pillow refuses to even describe a huge image unless its module-wide limit is lifted
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(data if isinstance(data, Path) else io.BytesIO(bytes(data))) as im:
                width, height = im.size
                if im.format == "PNG":  # a PNG's eXIf chunk, when it comes before the pixels (no decode)
                    exif = Image.Exif()
                    if im.info.get("exif"):
                        exif.load(im.info["exif"])
                else:
                    exif = im.getexif()
                # libtiff, inside OpenCV's TIFF decoder, already turns TIFF pixels by their orientation tag
                orientation = 1 if im.format == "TIFF" else int(exif.get(_EXIF_ORIENTATION, 1) or 1)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, TypeError, struct.error):
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    return Header(width, height, orientation if 1 <= orientation <= 8 else 1)


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """``array`` (H, W[, C]) as a viewer shows it given the EXIF ``orientation`` (Pillow's exif_transpose)."""
    if orientation == 2:
        array = array[:, ::-1]
    elif orientation == 3:
        array = array[::-1, ::-1]
    elif orientation == 4:
        array = array[::-1]
    elif orientation == 5:
        array = array.swapaxes(0, 1)
    elif orientation == 6:
        array = np.rot90(array, k=-1)
    elif orientation == 7:
        array = array[::-1, ::-1].swapaxes(0, 1)
    elif orientation == 8:
        array = np.rot90(array, k=1)
    return np.ascontiguousarray(array)


def read_raw(path: str | Path, *, max_pixels: int | None = None) -> np.ndarray:
    """Decode a file with its values as stored (``cv2.IMREAD_UNCHANGED``: BGR(A) order, native dtype), turned
    upright by its EXIF orientation; ``max_pixels`` refuses larger images before decoding them."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as err:
        raise BadFileError(path, f"cannot open ({err.strerror or err})") from err
    header = read_header(data) if data.size else None
    if max_pixels is not None and header is not None and header.pixels > max_pixels:
        raise BadFileError(path, _too_large(header.width, header.height, max_pixels))
    raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    del data
    if raw is None:
        raise BadFileError(path, "unreadable: empty, truncated or not a PNG/JPEG/TIFF/BMP image")
    if max_pixels is not None and raw.shape[0] * raw.shape[1] > max_pixels:  # a header Pillow could not read
        raise BadFileError(path, _too_large(raw.shape[1], raw.shape[0], max_pixels))
    if header is not None and header.orientation != 1:
        raw = apply_orientation(raw, header.orientation)
    return raw


def _too_large(width: int, height: int, max_pixels: int) -> str:
    return (
        f"{width}x{height} is {width * height / 1e6:.1f} M pixels, above the limit of {max_pixels / 1e6:.1f} M "
        "(--max-pixels); raise it if the machine has the memory (about 17 bytes per pixel), or downscale the image"
    )


def _to_unit_float(raw: np.ndarray, path: str | Path) -> np.ndarray:
    # one float32 copy, divided in place: a large scan is gigabytes as float32, so every temporary counts
    if raw.dtype in (np.uint8, np.uint16):
        img = raw.astype(np.float32)
        return np.divide(img, 255.0 if raw.dtype == np.uint8 else 65535.0, out=img)
    if raw.dtype in (np.float32, np.float64):
        return np.clip(raw.astype(np.float32), 0.0, 1.0)
    raise BadFileError(path, f"unsupported pixel type {raw.dtype} (expected 8-bit, 16-bit or float in [0, 1])")


def read_image(path: str | Path, in_channels: int = 3, *, max_pixels: int | None = None) -> np.ndarray:
    """Read an image as (H, W, in_channels) float32 in [0, 1], channels in RGB(A) order (see :func:`image_array`)."""
    if in_channels not in (1, 3, 4):
        raise ValueError(f"in_channels must be 1, 3 or 4, got {in_channels}")
    raw = read_raw(path, max_pixels=max_pixels)
    if raw.ndim == 3 and raw.shape[2] in (3, 4) and raw.dtype in (np.uint8, np.uint16, np.float32):
        # BGR(A) -> RGB(A) on the integer image (a quarter of the bytes); OpenCV's swap gives the same values as
        # numpy's fancy indexing, far faster (bench/README.md)
        raw = cv2.cvtColor(raw, cv2.COLOR_BGR2RGB if raw.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    elif raw.ndim == 3 and raw.shape[2] in (3, 4):  # other depths (float64 TIFF): numpy
        raw = np.ascontiguousarray(raw[:, :, [2, 1, 0] if raw.shape[2] == 3 else [2, 1, 0, 3]])
    return image_array(raw, in_channels, path)


def image_array(array: np.ndarray, in_channels: int = 3, path: str | Path = "<array>") -> np.ndarray:
    """An image array in RGB(A) order -> (H, W, in_channels) float32 in [0, 1]: what files and arrays become.

    8-bit values are divided by 255, 16-bit by 65535, float values are clipped to [0, 1]. Gray is repeated to RGB;
    RGB becomes gray with ``cv2.COLOR_RGB2GRAY``. Transparency is composited over a white page when the result has
    no alpha channel (plans exported with a transparent background store black in their transparent pixels); with
    ``in_channels=4`` the alpha channel is kept and images without one get an opaque alpha.
    """
    if in_channels not in (1, 3, 4):
        raise ValueError(f"in_channels must be 1, 3 or 4, got {in_channels}")
    if array.ndim not in (2, 3) or min(array.shape[:2]) < 1:
        raise BadFileError(path, f"an image must be (H, W) or (H, W, C) with H, W >= 1, got shape {array.shape}")
    img = _to_unit_float(array, path)
    if img.ndim == 2:
        img = img[:, :, None]
    channels = img.shape[2]
    if channels in (1, 2):  # gray or gray + alpha
        color, alpha = np.repeat(img[:, :, :1], 3, axis=2), (img[:, :, 1:2] if channels == 2 else None)
    elif channels in (3, 4):
        color = img[:, :, :3]  # already RGB
        alpha = img[:, :, 3:4] if channels == 4 else None
    else:
        raise BadFileError(path, f"unsupported channel count {channels} (expected gray, RGB or RGBA)")

    if in_channels == 4:
        alpha = np.ones_like(color[:, :, :1]) if alpha is None else alpha
        return np.ascontiguousarray(np.concatenate([color, alpha], axis=2))  # (H, W, 4)
    if alpha is not None:
        color = color * alpha + (1.0 - alpha)  # over white paper
    if in_channels == 1:
        return cv2.cvtColor(np.ascontiguousarray(color), cv2.COLOR_RGB2GRAY)[:, :, None]  # (H, W, 1)
    return np.ascontiguousarray(color, dtype=np.float32)  # (H, W, 3)


def _values_text(values: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(int(v)) for v in values[:limit])
    return "{" + shown + (f", ... ({len(values)} values)" if len(values) > limit else "") + "}"


def _single_channel(raw: np.ndarray, path: str | Path) -> np.ndarray:
    if raw.ndim == 2:
        return raw
    channels = raw.shape[2]
    color = raw[:, :, :1] if channels <= 2 else raw[:, :, :3]  # drop alpha
    gray = color.shape[2] == 1 or (
        np.array_equal(color[:, :, 0], color[:, :, 1]) and np.array_equal(color[:, :, 0], color[:, :, 2])
    )
    if not gray:
        raise BadFileError(path, "mask has different R, G, B values; for a colour mask set mask_encoding: palette")
    return color[:, :, 0]


def resolve_auto_encoding(values: np.ndarray, num_classes: int, max_value: int = 255) -> str:
    """'binary' when there are two classes and the mask values are exactly {0, max_value}, else 'index'."""
    return "binary" if num_classes == 2 and set(np.asarray(values).tolist()) == {0, max_value} else "index"


def mask_values(raw: np.ndarray, path: str | Path = "<mask>") -> tuple[np.ndarray, np.ndarray, int]:
    """A non-palette mask as (mask (H, W), sorted unique values, the dtype's max value 255 / 65535)."""
    if raw.dtype not in (np.uint8, np.uint16):
        raise BadFileError(path, f"mask pixel type {raw.dtype} is not 8- or 16-bit integer")
    mask = _single_channel(raw, path)
    values = np.flatnonzero(np.bincount(mask.ravel(), minlength=1))
    return mask, values, (255 if mask.dtype == np.uint8 else 65535)


def check_mask_values(
    values: np.ndarray, encoding: str, num_classes: int, max_value: int = 255, path: str | Path = "<mask>"
) -> None:
    """Raise ``BadFileError`` when ``values`` are not valid for ``encoding`` ('index' or 'binary')."""
    values = np.asarray(values)
    if encoding == "binary":
        bad = values[(values != 0) & (values != max_value)]
        if bad.size:
            hint = "; these look like class indices: use mask_encoding: index" if values.max() < num_classes else ""
            problem = f"binary mask has values {_values_text(bad)}, expected only 0 and {max_value}{hint}"
            raise BadFileError(path, problem)
        return
    bad = values[(values >= num_classes) & (values != IGNORE_INDEX)]
    if bad.size:
        hint = "; 0/255 masks need mask_encoding: binary (or auto)" if set(values.tolist()) <= {0, 255} else ""
        raise BadFileError(
            path, f"mask values {_values_text(bad)} outside classes 0..{num_classes - 1} (255 = ignore){hint}"
        )


def decode_mask(
    raw: np.ndarray, encoding: MaskEncoding, palette: Palette | None, num_classes: int, path: str | Path = "<mask>"
) -> np.ndarray:
    """Turn a decoded mask file (as from ``read_raw``) into (H, W) uint8 classes; see the module docstring."""
    if encoding == "palette":
        return _decode_palette(raw, palette, path)
    if encoding not in ("auto", "index", "binary"):
        raise ValueError(f"unknown mask encoding {encoding!r}; choose from auto, index, binary, palette")
    mask, values, max_value = mask_values(raw, path)
    if encoding == "auto":
        encoding = resolve_auto_encoding(values, num_classes, max_value)
    check_mask_values(values, encoding, num_classes, max_value, path)
    return (mask == max_value).astype(np.uint8) if encoding == "binary" else mask.astype(np.uint8)


def check_palette(palette: Palette | None, num_classes: int) -> list[tuple[int, int, int]]:
    """Validate a YAML palette: ``num_classes`` distinct [r, g, b] triples of ints in 0..255."""
    if not palette:
        raise ValueError("mask_encoding 'palette' needs a palette: a list of [r, g, b], one per class")
    out = []
    for i, colour in enumerate(palette):
        rgb = tuple(colour) if isinstance(colour, (list, tuple)) else ()
        if len(rgb) != 3 or not all(isinstance(v, int) and 0 <= v <= 255 for v in rgb):
            raise ValueError(f"palette[{i}] = {colour!r}: expected [r, g, b] with integers 0..255")
        out.append(rgb)
    if len(out) != num_classes:
        raise ValueError(f"palette has {len(out)} colours but num_classes is {num_classes}; give one per class")
    if len(set(out)) != len(out):
        raise ValueError(f"palette has repeated colours: {out}")
    return out


def _decode_palette(raw: np.ndarray, palette: Palette | None, path: str | Path) -> np.ndarray:
    if not palette:
        raise ValueError("mask_encoding 'palette' needs a palette: a list of [r, g, b], one per class")
    if raw.dtype != np.uint8:
        raise BadFileError(path, f"palette masks must be 8-bit, got {raw.dtype}")
    rgb = np.repeat(raw[:, :, None], 3, axis=2) if raw.ndim == 2 else raw[:, :, 2::-1] if raw.shape[2] >= 3 else None
    if rgb is None:
        raise BadFileError(path, f"palette mask has {raw.shape[2]} channels, expected RGB")
    rgb = rgb.astype(np.int32)
    keys = (rgb[:, :, 0] << 16) | (rgb[:, :, 1] << 8) | rgb[:, :, 2]  # (H, W) one int per colour
    colours, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    lookup = {(int(r) << 16) | (int(g) << 8) | int(b): cls for cls, (r, g, b) in enumerate(palette)}
    classes = np.array([lookup.get(int(c), -1) for c in colours])
    if (classes < 0).any():
        unknown = sorted(zip(counts[classes < 0].tolist(), colours[classes < 0].tolist(), strict=True), reverse=True)
        shown = ", ".join(f"({c >> 16}, {(c >> 8) & 255}, {c & 255}) x{n}" for n, c in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise BadFileError(path, f"colours not in the palette: {shown}{more}")
    return classes.astype(np.uint8)[inverse.reshape(keys.shape)]


def read_mask(
    path: str | Path, encoding: MaskEncoding = "index", palette: Palette | None = None, num_classes: int = 2
) -> np.ndarray:
    """Read a mask file as (H, W) uint8 class indices (255 = ignore); see the module docstring for encodings."""
    return decode_mask(read_raw(path), encoding, palette, num_classes, path)


def image_size(raw: np.ndarray) -> tuple[int, int]:
    """(H, W) of a decoded array."""
    return int(raw.shape[0]), int(raw.shape[1])
