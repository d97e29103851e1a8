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


def load_images(paths: Sequence[str | Path], height: int | None = None, width: int | None = None) -> np.ndarray:
    """Decode ``paths`` into one float32 array of shape (N, H, W, 3), RGB, values 0..255.

    ``height``/``width`` are the model's input size; each image is resized to it with bilinear
    filtering. A dimension given as None (a dynamic model input) keeps the image's own size, and
    then all images must agree on it, since they share one batch.
    """
    if not paths:
        raise RuntimeInputError("no images given", hint="pass at least one image file")
    images = [_resized(read_rgb(p), height, width) for p in paths]
    _check_same_size(images, paths)
    return np.stack([np.asarray(im, dtype=np.float32) for im in images])


def read_rgb(path: str | Path) -> Image.Image:
    """Open one image as upright RGB; any failure is one error naming the file.

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
                return _to_rgb(upright)
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


def _to_rgb(im: Image.Image) -> Image.Image:
    """Grayscale, palette and alpha images become plain RGB, as Keras's ``load_img`` makes them.

    Palette images go through RGBA first so their transparency entry is honoured by Pillow
    instead of producing a warning.
    """
    if im.mode == "P":
        im = im.convert("RGBA")
    return im if im.mode == "RGB" else im.convert("RGB")


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
