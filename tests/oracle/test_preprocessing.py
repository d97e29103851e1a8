"""Preprocessing layers against Keras: Rescaling and Normalization (folded into the convolution or
Dense next to them where that is exact), Resizing, the augmentation layers (nothing at inference,
RandomCrop as each Keras computes it), and the options that are refused by name."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from .harness import channels_last_twin, check, check_tf_keras, compile_error, randomize, tf_keras_sources

# --------------------------------------------------------------------------
# Rescaling


@pytest.mark.covers("Rescaling", "scale, offset (scalars and per channel)")
@pytest.mark.parametrize(
    "scale, offset",
    [
        (1 / 255.0, 0.0),
        (1 / 127.5, -1.0),
        ([0.5, 2.0, -1.0], [0.1, 0.0, -0.3]),
        (np.array([0.5, 2.0, -1.0], np.float32), np.array([0.1, 0.0, -0.3], np.float32)),
    ],
    ids=["scalar", "scalar_offset", "per_channel_list", "per_channel_numpy"],
)
def test_rescaling(scale, offset, tmp_path):
    inp = keras.Input((9, 8, 3), name="image")
    x = layers.Rescaling(scale, offset=offset, name="rescale")(inp)
    a = layers.Conv2D(4, 3, name="conv_valid")(x)  # folds: no border
    b = layers.Conv2D(4, 3, padding="same", name="conv_same")(layers.ReLU(name="relu")(x))
    model = randomize(keras.Model(inp, [a, b]), 41)
    pixels = np.random.default_rng(41).uniform(0, 255, (2, 9, 8, 3)).astype("float32")
    check(model, tmp_path, inputs=[pixels])


def test_rescaling_folds_into_neighbouring_convs(tmp_path):
    inp = keras.Input((10, 10, 3), name="image")
    x = layers.Rescaling([1 / 255.0, 1 / 128.0, 1 / 64.0], offset=[-0.5, 0.25, 1.0], name="pre")(inp)
    x = layers.Conv2D(6, 3, name="conv1")(x)  # 'valid': input scale and offset fold in
    x = layers.Rescaling(0.5, offset=2.0, name="post")(x)  # folds into conv1's output
    x = layers.Conv2D(4, 3, padding="same", name="conv2")(layers.ReLU(name="relu")(x))
    x = layers.Rescaling([2.0, -1.0, 0.5, 3.0], name="scale_only")(x)  # no offset: folds into conv2
    model = randomize(keras.Model(inp, x), 42)
    pixels = np.random.default_rng(42).uniform(0, 255, (2, 10, 10, 3)).astype("float32")
    check(model, tmp_path, inputs=[pixels]).assert_ops(Conv=2, Mul=0, Add=0)


def test_rescaling_on_features(tmp_path):
    inp = keras.Input((6,), name="features")
    x = layers.Rescaling([1.0, 2.0, 3.0, 0.5, -1.0, 0.1], offset=0.5, name="rescale")(inp)
    out = layers.Dense(3, name="dense")(x)
    model = randomize(keras.Model(inp, out), 43)
    check(model, tmp_path).assert_ops(Gemm=1, only=True)


# --------------------------------------------------------------------------
# Normalization


@pytest.mark.covers("Normalization", "mean/variance in the config")
@pytest.mark.parametrize(
    "mean, variance",
    [(0.5, 4.0), ([120.0, 110.0, 100.0], [3600.0, 2500.0, 4900.0])],
    ids=["scalar", "per_channel"],
)
def test_normalization_from_config(mean, variance, tmp_path):
    inp = keras.Input((9, 9, 3), name="image")
    x = layers.Normalization(mean=mean, variance=variance, name="norm")(inp)
    a = layers.Conv2D(5, 3, strides=2, name="conv")(x)
    b = layers.GlobalAveragePooling2D(name="gap")(x)
    model = randomize(keras.Model(inp, [a, b]), 44)
    pixels = np.random.default_rng(44).uniform(0, 255, (2, 9, 9, 3)).astype("float32")
    check(model, tmp_path, inputs=[pixels])


@pytest.mark.covers("Normalization", "adapted statistics (weights)")
def test_normalization_adapted_on_images(tmp_path):
    data = np.random.default_rng(45).normal([10.0, -3.0, 0.5], [2.0, 0.5, 4.0], (32, 8, 8, 3)).astype("float32")
    norm = layers.Normalization(name="norm")
    norm.adapt(data)
    inp = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(4, 3, name="conv")(norm(inp))
    model = randomize(keras.Model(inp, x), 45)
    check(model, tmp_path, inputs=[data[:3]]).assert_ops(Conv=1, Mul=0, Add=0)


@pytest.mark.covers("Normalization", "invert")
def test_normalization_invert(tmp_path):
    """invert=True maps normalized values back: x·σ + μ, after a Dense it folds into it."""
    inp = keras.Input((7,), name="features")
    x = layers.Dense(4, name="dense")(inp)
    out = layers.Normalization(
        mean=[1.0, -2.0, 3.0, 0.0], variance=[0.25, 4.0, 9.0, 1e-16], invert=True, name="denorm"
    )(x)
    plain = layers.Normalization(
        mean=[1.0, -2.0, 3.0, 0.0], variance=[0.25, 4.0, 9.0, 1.0], invert=True, name="denorm_input"
    )(layers.Dense(4, name="d2")(inp))
    model = randomize(keras.Model(inp, [out, plain]), 46)
    check(model, tmp_path).assert_ops(Gemm=2, only=True)


NORM_AXES = {
    "axis1": (1, [0.5, -1.0, 2.0, 0.0, 1.5]),
    "axis_neg2": (-2, [0.5, -1.0, 2.0, 0.0, 1.5, -0.5]),
    "axes_1_3": ((1, 3), np.linspace(-1, 1, 15).reshape(5, 3).tolist()),
    "axes_2_3": ((2, 3), np.linspace(-1, 1, 18).reshape(6, 3).tolist()),
    "none": (None, 0.25),
}


@pytest.mark.covers(
    "Normalization", "axis other than the last, several axes, axis=None (mean/variance given or adapted)"
)
@pytest.mark.parametrize("axis, mean", list(NORM_AXES.values()), ids=list(NORM_AXES))
@pytest.mark.parametrize("adapted", [False, True], ids=["given", "adapted"])
def test_normalization_axes(axis, mean, adapted, tmp_path):
    inp = keras.Input((5, 6, 3), name="image")
    if adapted:
        norm = layers.Normalization(axis=axis, name="norm")
        norm.adapt(np.random.default_rng(79).normal(1.0, 2.0, (16, 5, 6, 3)).astype("float32"))
    else:
        variance = (np.abs(np.asarray(mean)) + 0.5).tolist()
        norm = layers.Normalization(axis=axis, mean=mean, variance=variance, name="norm")
    x = norm(layers.Conv2D(3, 1, name="pre")(inp))  # on a channels-first tensor inside
    out = layers.Conv2D(2, 3, name="conv")(x)
    den_mean = mean if not adapted else 0.5
    den_variance = (np.abs(np.asarray(den_mean)) + 1.0).tolist()
    inverted = layers.Normalization(axis=axis, mean=den_mean, variance=den_variance, invert=True, name="denorm")(x)
    model = randomize(keras.Model(inp, [out, inverted]), 79)
    check(model, tmp_path)


# --------------------------------------------------------------------------
# Resizing

RESIZING = {
    "bilinear_up": {"height": 11, "width": 13},
    "bilinear_down": {"height": 4, "width": 3},
    "nearest_up": {"height": 10, "width": 17, "interpolation": "nearest"},
    "nearest_down": {"height": 3, "width": 5, "interpolation": "nearest"},
    "crop_to_aspect": {"height": 8, "width": 4, "crop_to_aspect_ratio": True},
    "pad_to_aspect": {"height": 5, "width": 12, "pad_to_aspect_ratio": True},
}


@pytest.mark.covers(
    "Resizing",
    "height, width, interpolation nearest/bilinear, crop_to_aspect_ratio, pad_to_aspect_ratio (fill 0)",
)
@pytest.mark.parametrize("kwargs", list(RESIZING.values()), ids=list(RESIZING))
def test_resizing(kwargs, tmp_path):
    inp = keras.Input((7, 6, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = layers.Resizing(name="resize", **kwargs)(x)
    out = layers.Conv2D(2, 3, name="head")(x)
    model = randomize(keras.Model(inp, [out, x]), 64)
    check(model, tmp_path)


def _resizing_net(first: bool) -> keras.Model:
    inp = keras.Input((3, 5, 7), name="image")
    fmt = "channels_first" if first else "channels_last"
    x = inp if first else layers.Permute((2, 3, 1), name="to_nhwc")(inp)
    x = layers.Resizing(8, 9, data_format=fmt, name="resize")(x)
    x = layers.Conv2D(2, 3, data_format=fmt, name="conv")(x)
    return keras.Model(inp, x if first else layers.Permute((3, 1, 2), name="to_nchw")(x))


@pytest.mark.covers("Resizing", "data_format channels_first, on the input")
def test_resizing_channels_first_on_input(tmp_path):
    model = randomize(_resizing_net(True), 65)
    check(model, tmp_path, reference=channels_last_twin(model, lambda: _resizing_net(False)))


# --------------------------------------------------------------------------
# what is refused, clearly

REFUSED = {
    "resizing_area": (lambda: layers.Resizing(4, 4, interpolation="area", name="r"), "interpolation 'area'"),
    "resizing_bicubic": (lambda: layers.Resizing(4, 4, interpolation="bicubic", name="r"), "interpolation 'bicubic'"),
    "resizing_antialias": (lambda: layers.Resizing(4, 4, antialias=True, name="r"), "antialias"),
}


@pytest.mark.covers(
    "unsupported options",
    "Resizing area/bicubic/antialias: refused by name",
)
@pytest.mark.parametrize("make, words", list(REFUSED.values()), ids=list(REFUSED))
def test_unsupported_options_are_refused(make, words, tmp_path):
    inp = keras.Input((6, 6, 3), name="image")
    err = compile_error(keras.Model(inp, make()(inp)), tmp_path)
    assert "'r'" in str(err) and words in str(err), str(err)


# --------------------------------------------------------------------------
# Augmentation: nothing at inference


def noop_report(result) -> str:
    """What the pass that removes inference no-ops said, from every compiled form."""
    reports = {str(r) for form in result for r in form.compiled.report if r.name == "remove_identity"}
    assert len(reports) == 1, reports
    return reports.pop()


AUGMENTATIONS = [
    lambda: layers.RandomFlip("horizontal", seed=3),
    lambda: layers.RandomRotation(0.2, fill_mode="nearest", interpolation="nearest", seed=4),
    lambda: layers.RandomZoom(0.1, (-0.2, 0.1), fill_mode="reflect", fill_value=0.5),
    lambda: layers.RandomTranslation(0.1, 0.2, fill_mode="constant"),
    lambda: layers.RandomContrast(0.3, value_range=(0, 1)),
    lambda: layers.RandomBrightness(0.2, value_range=(0, 1), seed=5),
    lambda: layers.RandomGrayscale(0.5),
    lambda: layers.RandomHue(0.2, value_range=(0, 1)),
    lambda: layers.RandomSaturation(0.3, value_range=(0, 1)),
    lambda: layers.RandomSharpness(0.3, value_range=(0, 1)),
    lambda: layers.RandomShear(0.2),
    lambda: layers.RandomPerspective(),
    lambda: layers.RandomErasing(value_range=(0, 1)),
    lambda: layers.RandomGaussianBlur(value_range=(0, 1)),
    lambda: layers.RandomColorJitter(value_range=(0, 1), brightness_factor=0.2),
    lambda: layers.RandomColorDegeneration(0.3, value_range=(0, 1)),
    lambda: layers.RandomInvert(value_range=(0, 1)),
    lambda: layers.RandomPosterization(4, value_range=(0, 1)),
    lambda: layers.RandomElasticTransform(value_range=(0, 1)),
    lambda: layers.RandAugment(value_range=(0, 1)),
    lambda: layers.AugMix(value_range=(0, 1)),
    lambda: layers.CutMix(),
    lambda: layers.MixUp(),
]


@pytest.mark.covers(
    "RandomFlip, RandomRotation, RandomZoom, RandomTranslation, RandomContrast, RandomBrightness, RandomGrayscale, "
    "RandomHue, RandomSaturation, RandomSharpness, RandomShear, RandomPerspective, RandomErasing, RandomGaussianBlur, "
    "RandomColorJitter, RandomColorDegeneration, RandomInvert, RandomPosterization, RandomElasticTransform, "
    "RandAugment, AugMix, CutMix, MixUp",
    "nothing at inference (seed, factor, value_range, fill_mode, interpolation…), named in the report",
)
def test_augmentation_layers_compile_to_nothing(tmp_path):
    inp = keras.Input((8, 8, 3), name="image")
    x = inp
    for make in AUGMENTATIONS:
        x = make()(x)
    x = layers.Conv2D(4, 3, name="conv")(x)
    out = layers.RandomFlip(name="flip_after_conv")(x)
    model = randomize(keras.Model(inp, out), 60)
    rng = np.random.default_rng(60)
    result = check(model, tmp_path, inputs=[rng.uniform(0, 1, (2, 8, 8, 3)).astype("float32")])
    result.assert_ops(only=True, Conv=1, Transpose=2)
    report = noop_report(result)
    for name in ("RandomFlip: inference no-op (×2)", "RandAugment: inference no-op", "MixUp: inference no-op"):
        assert name in report, report


@pytest.mark.covers("RandomCrop", "Keras 3: the identity at inference (predict returns the uncropped image)")
def test_random_crop_keras3_is_identity_at_inference(tmp_path):
    inp = keras.Input((9, 7, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = layers.RandomCrop(5, 4, seed=2, name="crop")(x)
    out = layers.GlobalAveragePooling2D(name="gap")(layers.Conv2D(3, 3, name="conv2")(x))
    model = randomize(keras.Model(inp, out), 61)
    result = check(model, tmp_path)
    result.assert_ops(Slice=0, Resize=0)
    assert "RandomCrop: inference no-op" in noop_report(result)


@pytest.mark.covers("RandomCrop", "tf.keras: centred crop to the target's aspect ratio, then a bilinear resize")
@pytest.mark.parametrize("size", [(6, 6), (5, 8), (12, 12), (10, 8)], ids=["crop_resize", "crop", "grow", "same"])
def test_random_crop_keras2_centre_crop(size, tmp_path):
    import tf_keras as k2  # heavy, and only the Keras 2 tests need it

    inp = k2.Input((10, 8, 3))
    x = k2.layers.RandomCrop(*size, seed=1)(inp)
    out = k2.layers.Conv2D(2, 1)(x)
    model = k2.Model(inp, out)
    check_tf_keras(model, tf_keras_sources(model, tmp_path))


@pytest.mark.covers("RandomHeight, RandomWidth (tf.keras)", "nothing at inference, with tf.keras's other augmentations")
def test_keras2_augmentations_compile_to_nothing(tmp_path):
    import tf_keras as k2  # heavy, and only the Keras 2 tests need it

    inp = k2.Input((8, 8, 3))
    x = k2.layers.RandomFlip(seed=1)(inp)
    x = k2.layers.RandomRotation(0.1, fill_mode="wrap")(x)
    x = k2.layers.RandomZoom(0.2)(x)
    x = k2.layers.RandomTranslation(0.1, 0.1)(x)
    x = k2.layers.RandomContrast(0.2)(x)
    x = k2.layers.RandomBrightness(0.1)(x)
    x = k2.layers.RandomHeight(0.2)(x)
    x = k2.layers.RandomWidth(0.2, interpolation="nearest")(x)
    out = k2.layers.GlobalAveragePooling2D()(k2.layers.Conv2D(3, 3)(x))
    model = k2.Model(inp, out)
    result = check_tf_keras(model, tf_keras_sources(model, tmp_path))
    result.assert_ops(Conv=1, Resize=0)
