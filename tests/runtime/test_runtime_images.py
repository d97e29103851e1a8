from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from runtime_testkit import one_line, write_image

from runtime.errors import RuntimeInputError
from runtime.images import load_images

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cat.jpg"


def test_rgb_png_pixels_are_exact(noise_png):
    path = noise_png("noise.png", 5, 6)
    x = load_images([path])
    assert x.dtype == np.float32 and x.shape == (1, 5, 6, 3)
    np.testing.assert_array_equal(x[0], np.asarray(Image.open(path), dtype=np.float32))


def test_batch_keeps_order(tmp_path: Path):
    red = write_image(tmp_path / "red.png", (255, 0, 0))
    blue = write_image(tmp_path / "blue.png", (0, 0, 255))
    x = load_images([blue, red, blue])
    assert x.shape == (3, 5, 6, 3)
    assert x[:, 0, 0].tolist() == [[0, 0, 255], [255, 0, 0], [0, 0, 255]]


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("L", 100, (100, 100, 100)),
        ("LA", (100, 7), (100, 100, 100)),
        ("RGBA", (10, 20, 30, 0), (10, 20, 30)),
        ("CMYK", (0, 0, 0, 0), (255, 255, 255)),
    ],
)
def test_other_modes_become_rgb(tmp_path: Path, mode, value, expected):
    path = tmp_path / f"{mode}.png" if mode != "CMYK" else tmp_path / "cmyk.jpg"
    Image.new(mode, (3, 2), value).save(path)
    x = load_images([path])
    assert x.shape == (1, 2, 3, 3)
    np.testing.assert_allclose(x[0, 0, 0], expected, atol=1)


def test_palette_image_uses_palette_colours(tmp_path: Path):
    im = Image.new("P", (2, 1))
    im.putpalette([0, 0, 0, 200, 50, 25] + [0] * 762)
    im.putpixel((1, 0), 1)
    im.info["transparency"] = 0
    im.save(tmp_path / "palette.png")
    x = load_images([tmp_path / "palette.png"])
    assert x[0, 0, 1].tolist() == [200, 50, 25]


def test_exif_orientation_is_applied(tmp_path: Path):
    # Stored 40 wide and 20 high, left half red and right half blue; orientation 6 says
    # "rotate 90 degrees clockwise to display", which puts red on top of a 20x40 image.
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)
    pixels[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = write_image(tmp_path / "phone.jpg", pixels, exif=exif, quality=95)
    x = load_images([path])
    assert x.shape == (1, 40, 20, 3)
    top, bottom = x[0, 5, 10], x[0, 35, 10]
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_resize_to_model_size(tmp_path: Path):
    path = write_image(tmp_path / "big.png", (10, 20, 30), size=(10, 6))
    x = load_images([path], height=4, width=5)
    assert x.shape == (1, 4, 5, 3)
    assert np.all(x == np.array([10, 20, 30], np.float32))


def test_resize_is_bilinear(tmp_path: Path):
    # A left-to-right ramp halved in width: bilinear averages neighbours, nearest would not.
    ramp = np.repeat(np.repeat(np.arange(0, 256, 32, dtype=np.uint8)[None, :, None], 2, 0), 3, 2)
    path = write_image(tmp_path / "ramp.png", ramp)
    x = load_images([path], height=2, width=4)
    values = x[0, 0, :, 0]
    assert np.all(np.diff(values) > 0)
    assert not set(values.tolist()) <= set(ramp[0, :, 0].tolist())


def test_one_dynamic_dimension_keeps_image_size(tmp_path: Path):
    path = write_image(tmp_path / "a.png", (1, 2, 3), size=(10, 6))
    assert load_images([path], height=4, width=None).shape == (1, 4, 10, 3)
    assert load_images([path], height=None, width=3).shape == (1, 6, 3, 3)


def test_dynamic_size_requires_one_size(tmp_path: Path):
    a = write_image(tmp_path / "a.png", (0, 0, 0), size=(6, 5))
    b = write_image(tmp_path / "b.png", (0, 0, 0), size=(7, 5))
    with pytest.raises(RuntimeInputError) as err:
        load_images([a, b])
    text = one_line(err.value)
    assert text.startswith(f"{b}: image is 7x5 but a.png is 6x5")
    assert load_images([a, b], height=5, width=6).shape == (2, 5, 6, 3)


def test_missing_file_is_named(tmp_path: Path):
    ok = write_image(tmp_path / "ok.png", (0, 0, 0))
    with pytest.raises(RuntimeInputError) as err:
        load_images([ok, tmp_path / "missing.jpg"])
    assert one_line(err.value) == f"{tmp_path / 'missing.jpg'}: no such image file"


def test_directory_is_named(tmp_path: Path):
    with pytest.raises(RuntimeInputError) as err:
        load_images([tmp_path])
    assert one_line(err.value).startswith(f"{tmp_path}: is a directory")


def test_not_an_image_is_named(tmp_path: Path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is text\nover two lines\n")
    with pytest.raises(RuntimeInputError) as err:
        load_images([bad])
    text = one_line(err.value)
    assert text.startswith(f"{bad}: cannot read image")
    assert "hint:" in text


def test_truncated_jpeg_is_named(tmp_path: Path, noise_png):
    full = tmp_path / "full.jpg"
    Image.open(noise_png("src.png", 64, 64)).save(full, quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(RuntimeInputError) as err:
        load_images([cut])
    text = one_line(err.value)
    assert text.startswith(f"{cut}: cannot read image")
    assert "truncated" in text


def test_no_images():
    with pytest.raises(RuntimeInputError, match="no images given"):
        load_images([])


def test_example_photo_is_shipped_and_small():
    assert EXAMPLE.stat().st_size < 100_000
    x = load_images([EXAMPLE], 224, 224)
    assert x.shape == (1, 224, 224, 3)
    assert x.min() >= 0 and x.max() <= 255 and x.std() > 10
