"""Reading images into the batch layout Keras models expect.

Keras's own loaders give float32 RGB pixels in 0..255, NHWC; so do we, and every model-specific
scaling is left to :mod:`runtime.preprocess`. Photos from phones store their rotation in EXIF
rather than in the pixels, so the orientation tag is applied before anything else; otherwise a
portrait photo reaches the model sideways.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import RuntimeInputError


def load_images(
    paths: Sequence[str | Path], height: int | None = None, width: int | None = None
) -> np.ndarray:
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
    """Open one image as upright RGB; any failure is one error naming the file."""
    try:
        with Image.open(path) as im:
            im.load()  # decode now, so truncated files fail here and not later
            upright = ImageOps.exif_transpose(im)
            return _to_rgb(upright)
    except FileNotFoundError as exc:
        raise RuntimeInputError("no such image file", file=str(path)) from exc
    except IsADirectoryError as exc:
        raise RuntimeInputError("is a directory, not an image", file=str(path)) from exc
    except UnidentifiedImageError as exc:
        raise RuntimeInputError(
            "cannot read image: not a format Pillow recognizes",
            file=str(path),
            hint="use JPEG, PNG, BMP, GIF, TIFF or WebP",
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise RuntimeInputError(
            f"cannot read image: {exc}", file=str(path), hint="the file may be truncated or corrupt"
        ) from exc


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
    return im if im.size == size else im.resize(size, Image.Resampling.BILINEAR)


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
