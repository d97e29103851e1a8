"""Preprocessing must equal Keras's own ``preprocess_input``, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from keras.applications.imagenet_utils import preprocess_input
from runtime_testkit import one_line

from runtime.errors import RuntimeInputError
from runtime.preprocess import MODES, apply

KERAS_FORMAT = {"nhwc": "channels_last", "nchw": "channels_first"}


def random_pixels(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, size=shape).astype(np.float32)


def test_modes():
    assert MODES == ("caffe", "tf", "torch", "none")


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize(
    ("layout", "shape"),
    [("nhwc", (2, 5, 7, 3)), ("nchw", (2, 3, 5, 7)), ("nhwc", (5, 7, 3)), ("nchw", (3, 5, 7))],
)
def test_matches_keras(mode, layout, shape):
    x = random_pixels(shape)
    expected = preprocess_input(x.copy(), data_format=KERAS_FORMAT[layout], mode=mode)
    got = apply(x, mode, layout)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_integer_pixels_match_keras(mode):
    x = np.random.default_rng(1).integers(0, 256, size=(1, 4, 4, 3)).astype(np.uint8)
    expected = preprocess_input(x.copy(), data_format="channels_last", mode=mode)
    np.testing.assert_array_equal(apply(x, mode), expected)


def test_caffe_reference_values():
    # A pure red pixel becomes BGR (0, 0, 255) minus the BGR mean.
    x = np.array([[[[255.0, 0.0, 0.0]]]], np.float32)
    np.testing.assert_allclose(apply(x, "caffe")[0, 0, 0], [-103.939, -116.779, 255 - 123.68], rtol=1e-6)
    np.testing.assert_allclose(apply(x, "tf")[0, 0, 0], [1, -1, -1])
    np.testing.assert_allclose(
        apply(x, "torch")[0, 0, 0],
        [(1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225],
        rtol=1e-6,
    )


@pytest.mark.parametrize("mode", MODES)
def test_input_is_not_modified(mode):
    x = random_pixels((1, 3, 3, 3))
    before = x.copy()
    out = apply(x, mode)
    np.testing.assert_array_equal(x, before)
    assert out is not x


def test_none_is_identity():
    x = random_pixels((2, 3, 3, 3))
    np.testing.assert_array_equal(apply(x, "none"), x)


def test_unknown_mode():
    with pytest.raises(RuntimeInputError) as err:
        apply(random_pixels((1, 2, 2, 3)), "imagenet")
    text = one_line(err.value)
    assert "unknown preprocessing mode 'imagenet'" in text and "caffe, tf, torch, none" in text


def test_unknown_layout():
    with pytest.raises(RuntimeInputError, match="unknown layout 'hwcn'"):
        apply(random_pixels((1, 2, 2, 3)), "tf", "hwcn")


def test_channel_count_checked():
    with pytest.raises(RuntimeInputError, match="needs 3 colour channels, got 4"):
        apply(random_pixels((1, 2, 2, 4)), "caffe")
    with pytest.raises(RuntimeInputError, match="needs 3 colour channels, got 2"):
        apply(random_pixels((1, 3, 2, 2)), "torch", "nhwc")
