"""Input scaling of the Keras application families, applied outside the model.

Keras models from ``keras.applications`` expect their inputs scaled by
``keras.applications.imagenet_utils.preprocess_input`` with one of three modes, and that
scaling is not part of the saved model. A compiled model records its mode in the ONNX metadata
(``kerascc.preprocess``) and the runtime applies it here, so results match Keras. The modes, on
0..255 RGB input:

* ``caffe``: RGB→BGR, then subtract the ImageNet mean per channel, B,G,R = 103.939, 116.779,
  123.68 (no scaling). ResNet50, VGG16/19.
* ``tf``: ``x / 127.5 - 1``, into -1..1. MobileNet, Inception, Xception.
* ``torch``: ``x / 255``, then ``(x - mean) / std`` per RGB channel with mean 0.485, 0.456, 0.406
  and std 0.229, 0.224, 0.225. DenseNet.
* ``none``: unchanged (models with their own Rescaling/Normalization layers, e.g. EfficientNet).

The arithmetic is done in float32 in the same order as Keras, so the results are bit-identical.
"""

from __future__ import annotations

import numpy as np

from .errors import RuntimeInputError

MODES = ("caffe", "tf", "torch", "none")
LAYOUTS = ("nhwc", "nchw")

_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
_TORCH_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_TORCH_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def apply(x: np.ndarray, mode: str, layout: str = "nhwc") -> np.ndarray:
    """Scale a batch (or one image) of 0..255 RGB pixels for a model trained with ``mode``.

    Returns a new float32 array; the input is left untouched (Keras's version writes over it).
    """
    check_mode(mode)
    axis = channel_axis(x.ndim, layout)
    x = np.array(x, dtype=np.float32)  # always a copy
    if mode == "none":
        return x
    if mode == "tf":
        return x / np.float32(127.5) - np.float32(1.0)
    _check_channels(x, axis, mode)
    if mode == "torch":
        return (x / np.float32(255.0) - _along(_TORCH_MEAN, axis, x.ndim)) / _along(_TORCH_STD, axis, x.ndim)
    return np.flip(x, axis=axis) - _along(_CAFFE_MEAN_BGR, axis, x.ndim)


def check_mode(mode: str) -> None:
    """Reject a mode we do not know, listing the ones we do."""
    if mode not in MODES:
        raise RuntimeInputError(f"unknown preprocessing mode '{mode}'", hint=f"choose one of: {', '.join(MODES)}")


def channel_axis(ndim: int, layout: str) -> int:
    """The channel axis of an image (3-D) or batch (4-D) in ``layout``."""
    if layout not in LAYOUTS:
        raise RuntimeInputError(f"unknown layout '{layout}'", hint=f"choose one of: {', '.join(LAYOUTS)}")
    if ndim not in (3, 4):
        raise RuntimeInputError(f"expected an image or a batch of images, got {ndim}-D data")
    return ndim - 1 if layout == "nhwc" else ndim - 3


def _check_channels(x: np.ndarray, axis: int, mode: str) -> None:
    if x.shape[axis] != 3:
        raise RuntimeInputError(f"preprocessing mode '{mode}' needs 3 colour channels, got {x.shape[axis]}")


def _along(values: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """Shape per-channel constants so they broadcast along ``axis``."""
    shape = [1] * ndim
    shape[axis] = values.size
    return values.reshape(shape)
