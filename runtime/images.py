"""Reading images into the batch layout Keras models expect.

Keras's own loaders give float32 RGB pixels in 0..255, NHWC; so do we, and every model-specific
scaling is left to :mod:`runtime.preprocess`. Photos from phones store their rotation in EXIF
rather than in the pixels, so the orientation tag is applied before anything else; otherwise a
portrait photo reaches the model sideways.

Every image is opened by :func:`read_rgb`, and only as one of :data:`FORMATS`: Pillow would
otherwise identify a file by its content among all its plugins, and its EPS plugin hands
PostScript (even in a file named ``.jpg``) to Ghostscript, an external program. A file that
declares more pixels than Pillow's decompression-bomb limit is refused before it is decoded.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from .errors import RuntimeInputError

if TYPE_CHECKING:
    from PIL import Image

#: The formats an image may be in: each is decoded inside Pillow's own (or its bundled) code.
#: (Multi-picture JPEGs from cameras, MPO, open as JPEG.)
FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
FORMAT_HINT = "use JPEG, PNG, BMP, GIF, TIFF, WebP or PPM"


#: The Pillow mode a photo is read in for a model with this many channels, as Keras's
#: ``load_img(color_mode=...)`` reads it: "grayscale" (Pillow's L, 0.299 R + 0.587 G + 0.114 B),
#: "rgb", "rgba" (opaque alpha, 255, for a photo without one).
CHANNEL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_MODE_NAMES = {"L": "grayscale", "RGB": "RGB", "RGBA": "RGBA"}


def image_mode(channels: int | None) -> str:
    """The Pillow mode photos are converted to for a model input of ``channels`` (None: RGB)."""
    if channels is None:
        return "RGB"
    if channels not in CHANNEL_MODES:
        raise RuntimeInputError(
            f"the model takes {channels} channels; photos can be read as grayscale (1), RGB (3) or RGBA (4)"
        )
    return CHANNEL_MODES[channels]


def conversion_text(channels: int | None, dtype: type | np.dtype) -> str:
    """How photos are converted for the model, for the run header ("photos as grayscale, uint8")."""
    mode = image_mode(channels)
    return f"photos as {_MODE_NAMES[mode]}, {np.dtype(dtype).name}"


def pixel_array(images: Sequence[Image.Image], mode: str = "RGB") -> np.ndarray:
    """Images of one size → float32 (N, H, W, C) pixels 0..255 in ``mode`` (C = 1, 3 or 4)."""
    arrays = [np.asarray(to_mode(im, mode), dtype=np.float32) for im in images]
    batch = np.stack(arrays)
    return batch[..., None] if batch.ndim == 3 else batch


def load_images(
    paths: Sequence[str | Path], height: int | None = None, width: int | None = None, channels: int | None = 3
) -> np.ndarray:
    """Decode ``paths`` into one float32 array of shape (N, H, W, C), values 0..255: RGB, or
    grayscale or RGBA for a model of 1 or 4 channels (see :data:`CHANNEL_MODES`).

    ``height``/``width`` are the model's input size; each image is resized to it with bilinear
    filtering. A dimension given as None (a dynamic model input) keeps the image's own size, and
    then all images must agree on it, since they share one batch.
    """
    if not paths:
        raise RuntimeInputError("no images given", hint="pass at least one image file")
    mode = image_mode(channels)
    images = [_resized(read_image(p, mode), height, width) for p in paths]
    _check_same_size(images, paths)
    return pixel_array(images, mode)


def read_rgb(path: str | Path) -> Image.Image:
    """Open one image as upright RGB; any failure is one error naming the file."""
    return read_image(path, "RGB")


def read_image(path: str | Path, mode: str = "RGB") -> Image.Image:
    """Open one image upright in ``mode`` (RGB, L or RGBA); any failure is one error naming the file.

    Pillow's warnings (a large image, damaged EXIF data) are not shown: the image either
    decodes, or this raises.
    """
    # lazy: Pillow is needed to read images, not to compile (it costs every `compile` start-up)
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with _open_regular(path) as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(f, formats=FORMATS) as im:
                im.load()  # decode now, so truncated files fail here and not later
                upright = ImageOps.exif_transpose(im)
                return to_mode(upright, mode)
    except FileNotFoundError as exc:
        raise RuntimeInputError("no such image file", file=str(path)) from exc
    except IsADirectoryError as exc:
        raise RuntimeInputError("is a directory, not an image", file=str(path)) from exc
    except PermissionError as exc:
        raise RuntimeInputError("cannot read image: permission denied", file=str(path)) from exc
    except UnidentifiedImageError as exc:
        raise RuntimeInputError(
            "cannot read image: not an image format kerascc reads", file=str(path), hint=FORMAT_HINT
        ) from exc
    except Image.DecompressionBombError as exc:
        raise RuntimeInputError(
            f"cannot read image: it declares more pixels than Pillow's decompression-bomb limit "
            f"({2 * Image.MAX_IMAGE_PIXELS:,})",
            file=str(path),
            hint="resize it to a sensible size first",
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise RuntimeInputError(
            f"cannot read image: {exc}", file=str(path), hint="the file may be truncated or corrupt"
        ) from exc


def _open_regular(path: str | Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file.

    A FIFO would block the open itself and a device can be read forever, so the file is opened
    without blocking and checked before a byte is read.
    """
    nonblock = getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, os.O_RDONLY | nonblock | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(mode):
            raise RuntimeInputError("is not a regular file (a FIFO or a device?), so not an image", file=str(path))
        if nonblock:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def to_mode(im: Image.Image, mode: str = "RGB") -> Image.Image:
    """Any image in ``mode``: grayscale, palette and alpha images become plain RGB, as Keras's
    ``load_img`` makes them; RGB photos become grayscale (L) or RGBA (alpha 255) for models of
    1 or 4 channels, as ``load_img(color_mode="grayscale" | "rgba")`` does.

    Palette images go through RGBA first so their transparency entry is honoured by Pillow
    instead of producing a warning.
    """
    if im.mode == "P":
        im = im.convert("RGBA")
    return im if im.mode == mode else im.convert(mode)


def _resized(im: Image.Image, height: int | None, width: int | None) -> Image.Image:
    size = (width or im.width, height or im.height)
    return im if im.size == size else im.resize(size, _bilinear())


def _bilinear() -> int:
    from PIL import Image  # lazy, as in read_rgb

    return Image.Resampling.BILINEAR


def _check_same_size(images: list[Image.Image], paths: Sequence[str | Path]) -> None:
    first = images[0].size
    for im, path in zip(images, paths, strict=True):
        if im.size != first:
            raise RuntimeInputError(
                f"image is {im.width}x{im.height} but {Path(paths[0]).name} is "
                f"{first[0]}x{first[1]}; images in one run must share a size "
                "because the model's input size is dynamic",
                file=str(path),
                hint="resize the images to one size, or give the model a fixed input shape",
            )
