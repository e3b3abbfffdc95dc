"""A corpus of bad and odd inputs through dataset setup, prediction and evaluation (issue 11).

Every kind gets either the right result or a named, one-line error; no input tree is ever written (its hash
before and after is compared). The kinds are made here, with OpenCV, Pillow and raw bytes.
"""

from __future__ import annotations

import csv
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from segattn.commands import main
from segattn.data.io import read_raw
from tests.data.helpers import png_header_only, tree_digest, write_oriented

H, W = 24, 32
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
MASK = (RNG.random((H, W)) > 0.7).astype(np.uint8)  # 0/1


def _cv(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array), path


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def _truncated(ext: str) -> Callable[[Path], None]:
    ok, buf = cv2.imencode(ext, RGB)
    return _bytes(buf.tobytes()[: len(buf) // 3])


def _png_0xn(path: Path) -> None:
    ihdr = struct.pack(">IIBBBBB", 0, 7, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk)


def _pil(mode: str, **save) -> Callable[[Path], None]:
    return lambda p: Image.fromarray(RGB).convert(mode).save(p, **save)


def _multipage(path: Path) -> None:
    Image.fromarray(RGB).save(path, save_all=True, append_images=[Image.fromarray(RGB[::-1])])


def _loop(path: Path) -> None:
    other = path.with_name("loop_b.png")
    path.symlink_to(other)
    other.symlink_to(path)


# name -> (how to write it, what prediction does: "ok" or a text the failed row's error holds)
IMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "zero_byte.png": (_bytes(b""), "unreadable"),
    "truncated.png": (_truncated(".png"), "unreadable"),
    "truncated.jpg": (_truncated(".jpg"), "unreadable"),
    "truncated.tif": (_truncated(".tif"), "unreadable"),
    "wrong_magic.png": (_bytes(b"GIF89a this is not a png"), "unreadable"),
    "text_as.jpg": (_bytes(b"hello\n" * 50), "unreadable"),
    "zero_width.png": (_png_0xn, "unreadable"),
    "huge_header.png": (lambda p: png_header_only(p, 20000, 20000), "400.0 M pixels, above the limit"),
    "one_row.png": (lambda p: _cv(p, RGB[:1]), "ok"),
    "one_column.png": (lambda p: _cv(p, RGB[:, :1]), "ok"),
    "one_pixel.bmp": (lambda p: _cv(p, RGB[:1, :1]), "ok"),
    "sixteen_bit.png": (lambda p: _cv(p, RGB.astype(np.uint16) * 257), "ok"),
    "sixteen_bit_gray.tif": (lambda p: _cv(p, RGB[:, :, 0].astype(np.uint16) * 257), "ok"),
    "float32.tiff": (lambda p: _cv(p, RGB.astype(np.float32) / 255), "ok"),
    "palette.png": (_pil("P"), "ok"),
    "cmyk.jpg": (_pil("CMYK"), "ok"),
    "gray_alpha.png": (_pil("LA"), "ok"),
    "rgba.png": (_pil("RGBA"), "ok"),
    "exif_rotated.jpg": (lambda p: write_oriented(p, RGB, 6), "ok"),
    "multipage.tif": (_multipage, "ok"),
    "UPPER.PNG": (lambda p: _cv(p, RGB), "ok"),
    "spaces in name.png": (lambda p: _cv(p, RGB), "ok"),
    "unicode_ü_图.png": (lambda p: _cv(p, RGB), "ok"),
    "new\nline.png": (lambda p: _cv(p, RGB), "ok"),
    "gray.jpg": (lambda p: _cv(p, RGB[:, :, 0]), "ok"),
    "loop_a.png": (_loop, "skip"),  # a symbolic link loop: not a file, never read
    "dangling.png": (lambda p: p.symlink_to(p.with_name("nowhere.png")), "skip"),
}


def _write_images(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (write, _) in IMAGES.items():
        write(folder / name)
    (folder / "a_folder.png").mkdir()  # a folder named like an image: not an input
    os.mkfifo(folder / "fifo.png")  # reading it would block forever: must never be opened


def test_prediction_gives_each_kind_its_result_or_a_named_failure(tiny_ckpt: Path, tmp_path: Path) -> None:
    images = tmp_path / "in"
    _write_images(images)
    before = tree_digest(images)
    out = str(tmp_path / "o")
    code = main(["predict", "--ckpt_path", str(tiny_ckpt), "--input", str(images), "--output", out, "--no_progress"])
    assert code == 1  # some inputs failed, the run went on
    with open(tmp_path / "o" / "manifest.csv", newline="") as f:
        rows = {Path(r["input"]).name: r for r in csv.DictReader(f)}
    expected = {n: e for n, (_, e) in IMAGES.items() if e != "skip"}
    assert sorted(rows) == sorted(expected)  # the newline in a name is quoted by the CSV writer, as CSV does
    for name, want in expected.items():
        row = rows[name]
        if want == "ok":
            assert row["status"] == "ok", (name, row["error"])
            mask = cv2.imdecode(np.fromfile(row["output"], np.uint8), cv2.IMREAD_UNCHANGED)
            assert mask.shape == read_raw(images / name).shape[:2], name  # the input's size, as a viewer shows it
        else:
            assert row["status"] == "failed" and want in row["error"] and name.split()[0] in row["error"], row
    assert cv2.imread(str(tmp_path / "o" / "masks" / "exif_rotated.png"), cv2.IMREAD_UNCHANGED).shape == (W, H)
    assert tree_digest(images) == before


def _pairs(root: Path) -> None:
    for i in range(4):
        _cv(root / "images" / f"good{i}.png", RGB)
        _cv(root / "masks" / f"good{i}.png", MASK)


# name -> (image writer or None for a good image, mask writer or None for a good mask, text the problem names)
PAIRS: dict[str, tuple[Callable[[Path], None] | None, Callable[[Path], None] | None, str]] = {
    "size_mismatch": (None, lambda p: _cv(p, MASK[:-1]), "size mismatch"),
    "values_out_of_range": (None, lambda p: _cv(p, MASK * 7), "outside classes 0..1"),
    "colour_mask": (None, lambda p: _cv(p, np.dstack([MASK, MASK * 0, MASK])), "different R, G, B"),
    "lossy_jpeg_mask": (None, lambda p: _cv(p.with_suffix(".jpg"), MASK * 255), "values"),
    "truncated_image": (_truncated(".png"), None, "unreadable"),
    "zero_byte_mask": (None, _bytes(b""), "unreadable"),
    "mask_without_image": ("skip", None, "mask without image"),
    "image_without_mask": (None, "skip", "image without mask"),
    "float_mask": (None, lambda p: _cv(p.with_suffix(".tiff"), MASK.astype(np.float32)), "not 8- or 16-bit"),
}


def test_dataset_setup_lists_every_bad_pair_in_one_error(tmp_path: Path, capsys) -> None:
    root = tmp_path / "data"
    _pairs(root)
    for name, (image, mask, _) in PAIRS.items():
        if image != "skip":
            (image or (lambda p: _cv(p, RGB)))(root / "images" / f"{name}.png")
        if mask != "skip":
            (mask or (lambda p: _cv(p, MASK)))(root / "masks" / f"{name}.png")
    before = tree_digest(root)
    config = tmp_path / "c.yaml"
    config.write_text(
        "trainer: {max_epochs: 1, logger: false, enable_checkpointing: false}\n"
        "model: {net: {class_path: segattn.models.AttentionUnet, init_args: {encoder_name: resnet18, "
        "encoder_depth: 3, decoder_channels: [8, 8, 8]}}}\n"
        f"data: {{class_path: segattn.data.FolderData, init_args: {{root: {root}, crop_size: 16}}}}\n"
    )
    with pytest.raises(SystemExit) as info:
        main(["fit", "--config", str(config)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err
    assert err.startswith("segattn fit: error: dataset") and f"{len(PAIRS)} problem(s)" in err
    for name, (_, _, problem) in PAIRS.items():
        line = next((line for line in err.splitlines() if name in line), "")
        assert problem in line, (name, line)
    assert tree_digest(root) == before


def test_evaluate_lists_every_unusable_mask_before_writing_anything(tmp_path: Path, capsys) -> None:
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    for i in range(3):
        _cv(pred / f"m{i}.png", MASK * 255)
        _cv(gt / f"m{i}.png", MASK)
    _cv(pred / "bad_values.png", MASK * 3)  # neither 0/255 nor 0/1
    _cv(gt / "bad_values.png", MASK)
    _cv(pred / "small.png", MASK[:-2] * 255)
    _cv(gt / "small.png", MASK)
    (pred / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    _cv(gt / "broken.png", MASK)
    before = tree_digest(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--pred", str(pred), "--gt", str(gt), "--out", str(tmp_path / "report")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "3 of 6 mask pairs cannot be scored" in err
    assert all(name in err for name in ("bad_values.png", "small.png", "broken.png"))
    assert tree_digest(tmp_path) == before and not (tmp_path / "report").exists()
