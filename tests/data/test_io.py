"""read_image / read_mask: formats, bit depths, channel conversions and the three mask encodings."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from segattn.data.io import BadFileError, read_image, read_mask
from tests.data.helpers import write


def test_rgb_png_is_returned_in_rgb_order(tmp_path: Path) -> None:
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[0, 0] = (0, 0, 255)  # red in OpenCV's BGR
    img = read_image(write(tmp_path / "red.png", bgr))
    assert img.shape == (2, 3, 3) and img.dtype == np.float32
    np.testing.assert_allclose(img[0, 0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(img[1, 1], [0.0, 0.0, 0.0])


def test_16bit_gray_scales_by_65535_and_repeats_to_rgb(tmp_path: Path) -> None:
    gray16 = np.array([[0, 65535], [32768, 1000]], np.uint16)
    img = read_image(write(tmp_path / "g16.png", gray16), in_channels=3)
    expected = gray16.astype(np.float32) / 65535
    for c in range(3):
        np.testing.assert_allclose(img[:, :, c], expected, rtol=1e-6)


def test_16bit_rgb_tiff(tmp_path: Path) -> None:
    bgr16 = np.zeros((4, 5, 3), np.uint16)
    bgr16[..., 0] = 65535  # blue
    img = read_image(write(tmp_path / "b16.tif", bgr16))
    np.testing.assert_allclose(img[0, 0], [0.0, 0.0, 1.0])


def test_rgba_composited_over_white_or_kept(tmp_path: Path) -> None:
    bgra = np.zeros((1, 2, 4), np.uint8)  # both pixels black ...
    bgra[0, 0, 3] = 0  # ... the first fully transparent
    bgra[0, 1, 3] = 255  # ... the second opaque
    path = write(tmp_path / "rgba.png", bgra)
    np.testing.assert_allclose(read_image(path, 3)[0], [[1, 1, 1], [0, 0, 0]])
    kept = read_image(path, 4)
    assert kept.shape == (1, 2, 4)
    np.testing.assert_allclose(kept[0, :, 3], [0.0, 1.0])


def test_gray_and_rgb_to_one_channel(tmp_path: Path) -> None:
    gray = np.array([[10, 200]], np.uint8)
    np.testing.assert_allclose(read_image(write(tmp_path / "g.png", gray), 1)[..., 0], gray / 255, rtol=1e-6)
    bgr = np.array([[[0, 0, 255]]], np.uint8)  # pure red -> luma 0.299
    assert read_image(write(tmp_path / "r.bmp", bgr), 1)[0, 0, 0] == pytest.approx(0.299, abs=2e-3)


def test_gray_image_gets_opaque_alpha(tmp_path: Path) -> None:
    img = read_image(write(tmp_path / "g.png", np.full((2, 2), 128, np.uint8)), 4)
    assert img.shape == (2, 2, 4)
    np.testing.assert_allclose(img[..., 3], 1.0)


def test_jpeg_reads(tmp_path: Path) -> None:
    img = read_image(write(tmp_path / "a.jpg", np.full((8, 8, 3), 200, np.uint8)))
    assert img.shape == (8, 8, 3) and abs(float(img.mean()) - 200 / 255) < 0.02


@pytest.mark.parametrize("content", [b"", b"not an image at all"])
def test_unreadable_file_names_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="broken.png.*unreadable"):
        read_image(path)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(BadFileError, match="nope.png"):
        read_image(tmp_path / "nope.png")


def test_index_mask(tmp_path: Path) -> None:
    mask = np.array([[0, 1, 2, 255]], np.uint8)
    np.testing.assert_array_equal(read_mask(write(tmp_path / "m.png", mask), "index", num_classes=3), mask)
    with pytest.raises(BadFileError, match=r"m.png: mask values \{2\} outside classes 0..1"):
        read_mask(tmp_path / "m.png", "index", num_classes=2)


def test_binary_mask_0_255(tmp_path: Path) -> None:
    path = write(tmp_path / "m.png", np.array([[0, 255, 255, 0]], np.uint8))
    np.testing.assert_array_equal(read_mask(path, "binary"), [[0, 1, 1, 0]])
    bad = write(tmp_path / "bad.png", np.array([[0, 255, 7]], np.uint8))
    with pytest.raises(BadFileError, match=r"bad.png: binary mask has values \{7\}"):
        read_mask(bad, "binary")


def test_16bit_binary_mask(tmp_path: Path) -> None:
    path = write(tmp_path / "m16.png", np.array([[0, 65535]], np.uint16))
    np.testing.assert_array_equal(read_mask(path, "binary"), [[0, 1]])


def test_auto_detects_0_255_and_index(tmp_path: Path) -> None:
    np.testing.assert_array_equal(
        read_mask(write(tmp_path / "b.png", np.array([[0, 255]], np.uint8)), "auto"), [[0, 1]]
    )
    np.testing.assert_array_equal(read_mask(write(tmp_path / "i.png", np.array([[0, 1]], np.uint8)), "auto"), [[0, 1]])


def test_rgb_mask_with_equal_channels_is_accepted_but_colour_needs_palette(tmp_path: Path) -> None:
    gray3 = np.array([[[1, 1, 1], [0, 0, 0]]], np.uint8)
    np.testing.assert_array_equal(read_mask(write(tmp_path / "g3.png", gray3), "index"), [[1, 0]])
    colour = np.array([[[0, 0, 255], [0, 0, 0]]], np.uint8)
    with pytest.raises(BadFileError, match="palette"):
        read_mask(write(tmp_path / "c.png", colour), "index")


def test_palette_mask(tmp_path: Path) -> None:
    palette = [[0, 0, 0], [255, 0, 0], [0, 128, 255]]
    rgb = np.array([[[0, 0, 0], [255, 0, 0], [0, 128, 255], [255, 0, 0]]], np.uint8)
    path = write(tmp_path / "p.png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(read_mask(path, "palette", palette, 3), [[0, 1, 2, 1]])
    with pytest.raises(BadFileError, match=r"p.png: colours not in the palette: \(0, 128, 255\) x1"):
        read_mask(path, "palette", palette[:2], 2)


ASYMMETRIC = np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_gives_what_a_viewer_shows(tmp_path: Path, orientation: int) -> None:
    from PIL import Image, ImageOps

    from segattn.data.io import apply_orientation, read_raw
    from tests.data.helpers import write_oriented

    # JPEG (a phone photo): OpenCV's colour-converting read applies the tag, as viewers do; IMREAD_UNCHANGED does not
    jpg = write_oriented(tmp_path / "phone.jpg", ASYMMETRIC, orientation, quality=95)
    viewer = cv2.imread(str(jpg), cv2.IMREAD_COLOR)[:, :, ::-1]
    got = (read_image(jpg) * 255).round().astype(np.uint8)
    assert got.shape == viewer.shape == ((10, 6, 3) if orientation >= 5 else (6, 10, 3))
    np.testing.assert_array_equal(got, viewer)
    # PNG with an eXIf chunk: Pillow's exif_transpose is the reference; lossless, so exact
    png = write_oriented(tmp_path / "scan.png", ASYMMETRIC, orientation)
    want = np.asarray(ImageOps.exif_transpose(Image.open(png)))
    np.testing.assert_array_equal((read_image(png) * 255).round().astype(np.uint8), want)
    # TIFF: libtiff turns the pixels itself; nothing may be applied twice
    for array in (ASYMMETRIC, ASYMMETRIC[:, :, 0], ASYMMETRIC[:, :, 0].astype(np.uint16) * 257):
        tif = write_oriented(tmp_path / "scan.tif", array, orientation)
        raw = read_raw(tif)
        np.testing.assert_array_equal(raw[:, :, ::-1] if raw.ndim == 3 else raw, apply_orientation(array, orientation))


def test_max_pixels_refuses_a_huge_image_from_its_header_before_decoding(tmp_path: Path) -> None:
    import resource

    from segattn.data.io import read_header, read_raw
    from tests.data.helpers import png_header_only

    bomb = png_header_only(tmp_path / "bomb.png", 20000, 20000)  # would be 4.5 GiB as float32 RGB
    assert read_header(bomb.read_bytes()).pixels == 400_000_000 == read_header(bomb).pixels
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(BadFileError, match=r"bomb.png: 20000x20000 is 400.0 M pixels, above the limit of 150.0 M"):
        read_image(bomb, max_pixels=150_000_000)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: nothing was allocated
    small = write(tmp_path / "small.png", np.zeros((30, 40), np.uint8))
    assert read_raw(small, max_pixels=1200).shape == (30, 40)
    with pytest.raises(BadFileError, match="30 is 0.0 M pixels, above"):
        read_raw(small, max_pixels=1199)
