"""Tensor operations against Keras: ``keras.ops`` calls recorded as operation nodes (from JSON
and ``.keras``) and tf.keras's TFOpLambda functions (from ``.h5`` and JSON), each compiled and run
with onnxruntime, and the number of Transposes each model costs stated."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers, ops

import compiler
from compiler.errors import UnsupportedLayerError

from .harness import (
    check,
    check_tf_keras,
    compile_error,
    randomize,
    randomize_tf_keras,
    tf_keras_sources,
)

#: the parametrized cases compile the .keras archive; test_every_case_from_json the JSON of all at once
ONE_FORM = ("keras",)


def conv_model(fn, shape=(6, 8, 4), extra_inputs: int = 0):
    """A convolution (so the data is NCHW inside), then ``fn``, on an image input."""
    inp = keras.Input(shape, name="image")
    more = [keras.Input(shape, name=f"other{i}") for i in range(extra_inputs)]
    x = layers.Conv2D(shape[-1], 3, padding="same", name="conv")(inp)
    return randomize(keras.Model([inp, *more], fn(x, *more)), 3)


SLICES = {
    "last_channel": lambda x: x[..., -1],
    "steps": lambda x: x[:, ::2, 1:7:3, :],
    "negative": lambda x: x[:, -3:, :-2, ::-1],
    "newaxis": lambda x: x[:, None, 2, ..., None, 1:3],
    "ellipsis_int": lambda x: x[..., 1, :],
}


@pytest.mark.covers("keras.ops.GetItem", "ints, slices with steps, Ellipsis, None, negative")
@pytest.mark.parametrize("fn", list(SLICES.values()), ids=list(SLICES))
def test_getitem(fn, tmp_path):
    result = check(conv_model(fn), tmp_path, forms=ONE_FORM)
    # one Transpose into the convolution's NCHW and one back to NHWC at the output, none for the slice;
    # x[..., -1] drops the channels, which leaves (N, H, W) in Keras order already
    result.assert_ops(Conv=1, Slice=1, Transpose=1 if fn is SLICES["last_channel"] else 2)
    assert result.transposes_inside == 0


SHAPE_OPS = {
    "reshape": lambda x: ops.reshape(x, (-1, 12, 16)),
    "transpose": lambda x: ops.transpose(x, (0, 3, 1, 2)),
    "expand_squeeze": lambda x: ops.squeeze(ops.expand_dims(x, 2), axis=2) + ops.expand_dims(x, -1)[..., 0],
    "tile": lambda x: ops.tile(x, (1, 1, 2, 1)),
    "repeat": lambda x: ops.repeat(x, 3, axis=2),
    "pad": lambda x: ops.pad(x, ((0, 0), (1, 2), (0, 1), (0, 0))),
    "pad_reflect": lambda x: ops.pad(x, ((0, 0), (1, 1), (2, 2), (0, 0)), mode="reflect"),
    "split": lambda x: ops.split(x, 2, axis=3)[1] * ops.split(x, [1, 3], axis=3)[2],
    "concat_self": lambda x: ops.concatenate([x, -x], axis=-1),
    "stack": lambda x: ops.stack([x, x * 2.0], axis=1),
}


@pytest.mark.covers("keras.ops.Reshape", "batch first (-1), from a convolution's NCHW output")
@pytest.mark.covers("keras.ops.Transpose", "axes keeping the batch first (a relabelling, no data moved)")
@pytest.mark.covers("keras.ops.ExpandDims", "any axis but the batch")
@pytest.mark.covers("keras.ops.Squeeze", "axis")
@pytest.mark.covers("keras.ops.Tile", "repeats")
@pytest.mark.covers("keras.ops.Repeat", "repeats, axis")
@pytest.mark.covers("keras.ops.Pad", "pad_width, mode constant/reflect")
@pytest.mark.covers("keras.ops.Split", "sections and indices, several outputs")
@pytest.mark.covers("keras.ops.Concatenate", "any axis but the batch")
@pytest.mark.covers("keras.ops.Stack", "axis")
@pytest.mark.parametrize("fn", list(SHAPE_OPS.values()), ids=list(SHAPE_OPS))
def test_shape_ops(fn, tmp_path):
    result = check(conv_model(fn), tmp_path, forms=ONE_FORM)
    # One Transpose into the convolution's NCHW and one back at the output: the ops index the NCHW data
    # where it is, and Reshape, which needs Keras order, takes the output's place (its result is 3-D).
    # keras.ops.transpose to NCHW needs none at the output: the data already is NCHW.
    result.assert_ops(Conv=1, Transpose=1 if fn is SHAPE_OPS["transpose"] else 2)


@pytest.mark.covers("keras.ops in Keras 3 legacy .h5", "operations written without their module")
def test_every_case_from_json(tmp_path):
    """Every slicing, shape, math and reduction case above as the outputs of one model, from
    JSON + weights and from Keras 3's legacy .h5 (which writes operations without their module,
    and which Keras itself cannot load back): the same IR as from .keras."""
    cases = [*SLICES.values(), *SHAPE_OPS.values(), *MATH.values(), *REDUCTIONS.values()]
    model = conv_model(lambda x: [fn(x) for fn in cases])
    result = check(model, tmp_path, forms=("json+weights", "h5"))
    again = compiler.compile(tmp_path / "h5" / "model.h5")
    assert again.serialize() == result["h5"].compiled.serialize()  # deterministic, byte for byte


def test_transpose_costs_no_data_movement(tmp_path):
    """A keras.ops.transpose that turns NHWC into NCHW right after a convolution is free."""
    result = check(conv_model(lambda x: ops.transpose(x, (0, 3, 1, 2))), tmp_path)
    result.assert_ops(Conv=1, Transpose=1)  # the input's; the output already is NCHW


def test_channel_slice_after_conv_has_no_inner_transposes(tmp_path):
    """x[..., :2] then another convolution: the slice runs on NCHW data."""

    def fn(x):
        return layers.Conv2D(3, 1, name="conv2")(x[..., :2])

    result = check(conv_model(fn), tmp_path)
    result.assert_ops(Conv=2, Slice=1, Transpose=2)
    assert result.transposes_inside == 0


MATH = {
    "power": lambda x: x**2 + ops.power(ops.abs(x), 0.5) + ops.power(ops.abs(x) + 1.0, 1.7),
    "unary": lambda x: ops.sqrt(ops.abs(x)) + ops.rsqrt(ops.abs(x) + 1.0) + ops.log(ops.abs(x) + 1.0),
    "erf_tanh_sigmoid": lambda x: ops.erf(x) + ops.tanh(x) * ops.sigmoid(x),
    "rounding": lambda x: ops.floor(x * 3.0) + ops.ceil(x) + ops.round(x * 2.0) + ops.sign(x),
    "square_negative": lambda x: ops.square(x) - ops.negative(x) + ops.exp(-ops.abs(x)),
    "clip": lambda x: ops.clip(x, -0.5, 0.7),
    "where": lambda x: ops.where(x > 0.2, x, ops.where(ops.less_equal(x, -0.3), -x, 0.0)),
    "max_min": lambda x: ops.maximum(x, x * 0.5) + ops.minimum(x, -x),
    "divide": lambda x: x / (ops.abs(x) + 1.0) + 2.0 / (ops.abs(x) + 1.0),
    "array_constant": lambda x: x * np.arange(4, dtype="float32") + np.ones((6, 8, 1), "float32"),
    "arange": lambda x: x + ops.arange(4, dtype="float32") + ops.ones((4,)) + ops.zeros((8, 1)),
}


def test_constants_along_the_channels_fold_into_the_convolution(tmp_path):
    """x · arange(4) + ones(4): per-channel scale and shift, folded into the kernel and bias."""
    result = check(conv_model(lambda x: x * ops.arange(1, 5, dtype="float32") + ops.ones((4,))), tmp_path)
    result.assert_ops(Conv=1, Transpose=2, Mul=0, Add=0)


@pytest.mark.covers("keras.ops element-wise", "power, sqrt, rsqrt, log, erf, tanh, sigmoid, abs, square")
@pytest.mark.covers("keras.ops element-wise", "floor, ceil, round, sign, clip, where, maximum, minimum, divide")
@pytest.mark.covers("keras.ops.arange/ones/zeros", "static sizes, as constants (folded)")
@pytest.mark.parametrize("fn", list(MATH.values()), ids=list(MATH))
def test_elementwise_math(fn, tmp_path):
    result = check(conv_model(fn), tmp_path, forms=ONE_FORM)
    result.assert_ops(Conv=1, Transpose=2)  # into and out of the convolution's NCHW; constants are laid out so
    assert result.transposes_inside == 0


REDUCTIONS = {
    "mean_keepdims": lambda x: x * ops.mean(x, axis=(1, 2), keepdims=True),
    "sum": lambda x: ops.sum(x, axis=-1),
    "max": lambda x: ops.max(x, axis=1),
    "min_keep": lambda x: ops.min(x, axis=2, keepdims=True),
    "prod": lambda x: ops.prod(ops.tanh(x) + 1.5, axis=(1, 3)),
    "argmax": lambda x: ops.argmax(x, axis=-1),
    "argmin_keep": lambda x: ops.argmin(x, axis=1, keepdims=True),
    "softmax_axis1": lambda x: ops.softmax(x, axis=1),
    "log_softmax": lambda x: ops.log_softmax(x, axis=2),
}


@pytest.mark.covers("keras.ops reductions", "mean, sum, max, min, prod, argmax, argmin: axis, keepdims")
@pytest.mark.covers("keras.ops.softmax", "softmax, log_softmax on any axis")
@pytest.mark.parametrize("fn", list(REDUCTIONS.values()), ids=list(REDUCTIONS))
def test_reductions(fn, tmp_path):
    result = check(conv_model(fn), tmp_path, forms=ONE_FORM)
    # reducing the channels (or channels and height) of NCHW data leaves Keras order: no output Transpose
    keras_order = fn in (REDUCTIONS["sum"], REDUCTIONS["prod"], REDUCTIONS["argmax"])
    result.assert_ops(Conv=1, Transpose=1 if keras_order else 2)
    assert result.transposes_inside == 0


def test_squeeze_excite_mean_has_no_transposes_inside(tmp_path):
    def fn(x):
        s = ops.mean(x, axis=(1, 2), keepdims=True)
        s = layers.Conv2D(4, 1, activation="sigmoid", name="excite")(s)
        return layers.Conv2D(5, 3, name="conv2")(x * s)

    result = check(conv_model(fn), tmp_path)
    result.assert_ops(Conv=3, ReduceMean=1, Transpose=2)
    assert result.transposes_inside == 0


@pytest.mark.covers("keras.ops.Matmul", "batched, the leading axes broadcast")
@pytest.mark.covers("keras.ops.Einsum", "explicit equations: attention scores, weighted sums")
def test_matmul_and_einsum(tmp_path):
    a = keras.Input((5, 8), name="a")
    b = keras.Input((5, 8), name="b")
    scores = ops.softmax(ops.matmul(a, ops.transpose(b, (0, 2, 1))) / 4.0, axis=-1)
    mixed = ops.einsum("bqk,bkd->bqd", scores, b)
    outer = ops.einsum("bid,bjd->bij", a, mixed)
    model = keras.Model([a, b], [mixed, outer])
    result = check(model, tmp_path)
    result.assert_ops(MatMul=1, Einsum=2)


@pytest.mark.covers("keras.ops.Matmul", "by a constant matrix: a Dense (a 1×1 convolution on feature maps)")
def test_matmul_with_a_constant_matrix(tmp_path):
    a = keras.Input((5, 8), name="a")
    w = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    check(keras.Model(a, ops.matmul(a, w)), tmp_path)
    v = np.random.default_rng(1).normal(size=(4, 5)).astype("float32")
    result = check(conv_model(lambda x: ops.matmul(x, v)), tmp_path / "maps")
    result.assert_ops(Conv=2, Transpose=2, MatMul=0)  # the product runs on the NCHW data as a convolution


@pytest.mark.covers("keras.ops.image.resize", "bilinear, nearest, to a fixed size")
@pytest.mark.covers("keras.ops.nn.depth_to_space", "block_size (TensorFlow's channel order)")
@pytest.mark.covers("keras.ops.nn.space_to_depth", "block_size")
@pytest.mark.parametrize("which", ["bilinear", "nearest", "depth_to_space", "space_to_depth"])
def test_image_ops(which, tmp_path):
    fns = {
        "bilinear": lambda x: ops.image.resize(x, (9, 5)),
        "nearest": lambda x: ops.image.resize(x, (12, 16), interpolation="nearest"),
        "depth_to_space": lambda x: ops.nn.depth_to_space(x, 2),
        "space_to_depth": lambda x: ops.nn.space_to_depth(x, 2),
    }
    result = check(conv_model(fns[which], shape=(6, 8, 8)), tmp_path)
    assert result.transposes_inside == 0


@pytest.mark.covers("keras.ops.Cast", "to int32 and back, bool from comparisons")
def test_cast_and_comparisons(tmp_path):
    def fn(x):
        return ops.cast(ops.cast(x * 3.0, "int32"), "float32") + ops.cast(x > 0, "float32")

    check(conv_model(fn), tmp_path)


@pytest.mark.parametrize(
    "fn, words",
    [
        (lambda x: ops.einsum("bhwc", x), "einsum equation"),
        (lambda x: ops.einsum("...c,c->...", x, np.ones(4, "float32")), "einsum equation"),
        (lambda x: ops.sum(x), "batch axis included"),
        (lambda x: x[0], "batch axis"),
        (lambda x: ops.reshape(x, (2, -1)), "changes the batch axis"),
        (lambda x: ops.transpose(x, (1, 0, 2, 3)), "move the batch axis"),
        (lambda x: ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="symmetric"), "pad mode 'symmetric'"),
        (lambda x: ops.image.resize(x, (4, 4), interpolation="bicubic"), "interpolation 'bicubic'"),
        (lambda x: ops.cumsum(x, axis=1), "operation 'Cumsum' (keras.src.ops.numpy) is not supported"),
    ],
    ids=[
        "einsum_implicit",
        "einsum_ellipsis",
        "sum_all",
        "index_batch",
        "reshape_batch",
        "transpose_batch",
        "pad_symmetric",
        "resize_bicubic",
        "cumsum",
    ],
)
def test_refused_operations_name_themselves(fn, words, tmp_path):
    inp = keras.Input((6, 8, 4), name="image")
    err = compile_error(keras.Model(inp, fn(inp)), tmp_path, UnsupportedLayerError)
    assert words in str(err), str(err)
    assert "\n" not in str(err)


# --------------------------------------------------------------------------
# tf.keras (Keras 2): TFOpLambda and SlicingOpLambda layers, read from .h5 and JSON


def tf_keras_model(fn, shape=(6, 8, 4)):
    import tensorflow as tf  # the Keras 2 tests only
    import tf_keras as k2

    inp = k2.Input(shape, name="image")
    x = k2.layers.Conv2D(shape[-1], 3, padding="same", name="conv")(inp)
    model = k2.Model(inp, fn(tf, x))
    randomize_tf_keras(model, 5)
    return model


TF_FUNCTIONS = {
    "getitem": lambda tf, x: x[..., ::2, tf.newaxis, -1] + x[:, 1:3, 0, :, None][:, :1, :, 0][..., None],
    "reshape_transpose": lambda tf, x: tf.transpose(tf.reshape(x, (-1, 12, 16)), (0, 2, 1)),
    "expand_squeeze": lambda tf, x: tf.squeeze(tf.expand_dims(x, 1), axis=1),
    "concat_split": lambda tf, x: tf.concat(tf.split(x, 2, axis=3)[::-1], axis=-1) * tf.split(x, [1, 3], axis=-1)[0],
    "reductions": lambda tf, x: (
        x * tf.math.reduce_mean(x, axis=[1, 2], keepdims=True) + tf.reduce_max(x, axis=-1)[..., None]
    ),
    "sum_min": lambda tf, x: tf.math.reduce_sum(x, axis=1) - tf.math.reduce_min(x, axis=1),
    "depth_to_space": lambda tf, x: tf.nn.depth_to_space(tf.concat([x, x, -x, x * 2.0], axis=-1), 2),
    "space_to_depth": lambda tf, x: tf.nn.space_to_depth(x, 2),
    "resize": lambda tf, x: tf.image.resize(x, (9, 12)),
    "softmax": lambda tf, x: tf.nn.softmax(x, axis=1),
    "matmul": lambda tf, x: tf.matmul(x, x, transpose_b=True),
    "stack_pad_tile": lambda tf, x: tf.tile(
        tf.pad(tf.stack([x, x], axis=1), [[0, 0], [0, 0], [1, 1], [2, 0], [0, 0]]), [1, 1, 1, 2, 1]
    ),
    "math": lambda tf, x: (
        tf.sqrt(tf.abs(x)) + tf.math.rsqrt(tf.abs(x) + 1.0) + x**2 + tf.square(x) - tf.clip_by_value(x, -0.5, 0.5)
    ),
    "where_cast": lambda tf, x: tf.where(x > 0.1, x, -x) + tf.cast(tf.cast(x * 3.0, tf.int32), tf.float32),
    "argmax": lambda tf, x: tf.cast(tf.math.argmax(x, axis=-1), tf.float32),
}


@pytest.mark.covers("TFOpLambda tf.reshape, tf.transpose, tf.expand_dims, tf.squeeze", "tf.keras .h5 and JSON")
@pytest.mark.covers("TFOpLambda tf.concat, tf.split, tf.stack, tf.pad, tf.tile", "tf.keras .h5 and JSON")
@pytest.mark.covers("TFOpLambda tf.math.reduce_mean/max/sum/min, tf.math.argmax", "axis, keepdims")
@pytest.mark.covers("TFOpLambda tf.nn.depth_to_space, tf.nn.space_to_depth, tf.image.resize", "block_size, size")
@pytest.mark.covers("TFOpLambda tf.nn.softmax, tf.matmul, element-wise tf.math", "axis, transpose_b")
@pytest.mark.covers("SlicingOpLambda __operators__.getitem", "ints, slices with steps, Ellipsis, tf.newaxis")
@pytest.mark.parametrize("fn", list(TF_FUNCTIONS.values()), ids=list(TF_FUNCTIONS))
def test_tf_keras_tensor_functions(fn, tmp_path):
    model = tf_keras_model(fn, shape=(6, 8, 4))
    result = check_tf_keras(model, tf_keras_sources(model, tmp_path))
    assert result.ops["Conv"] == 1


def test_tf_keras_einsum_is_refused_with_the_reason(tmp_path):
    import tensorflow as tf
    import tf_keras as k2

    inp = k2.Input((5, 4), name="a")
    model = k2.Model(inp, tf.einsum("bij,bkj->bik", inp, inp))
    (tmp_path / "model.json").write_text(model.to_json())
    with pytest.raises(UnsupportedLayerError, match="does not record its operands") as info:
        compiler.compile(tmp_path / "model.json")
    assert "\n" not in str(info.value)


@pytest.mark.covers("TFOpLambda tf.math.reduce_mean", "a squeeze-excite block, no Transpose inside")
def test_tf_keras_squeeze_excite(tmp_path):
    import tensorflow as tf
    import tf_keras as k2

    inp = k2.Input((8, 8, 6), name="image")
    x = k2.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(inp)
    s = tf.math.reduce_mean(x, axis=[1, 2], keepdims=True)
    s = k2.layers.Conv2D(3, 1, activation="relu", name="squeeze")(s)
    s = k2.layers.Conv2D(6, 1, activation="sigmoid", name="excite")(s)
    model = k2.Model(inp, k2.layers.Conv2D(4, 3, name="head")(x * s))
    randomize_tf_keras(model, 7)
    result = check_tf_keras(model, tf_keras_sources(model, tmp_path))
    result.assert_ops(Conv=4, ReduceMean=1, Transpose=2)
    assert result.transposes_inside == 0


@pytest.mark.covers("TFOpLambda tf.nn.depth_to_space", "a super-resolution head (ESPCN-style)")
def test_tf_keras_super_resolution_depth_to_space(tmp_path):
    import tensorflow as tf
    import tf_keras as k2

    inp = k2.Input((7, 9, 3), name="image")
    x = k2.layers.Conv2D(8, 3, padding="same", activation="relu", name="features")(inp)
    x = k2.layers.Conv2D(3 * 4, 3, padding="same", name="subpixel")(x)
    model = k2.Model(inp, tf.clip_by_value(tf.nn.depth_to_space(x, 2), 0.0, 1.0))
    randomize_tf_keras(model, 8)
    result = check_tf_keras(model, tf_keras_sources(model, tmp_path))
    result.assert_ops(Conv=2, DepthToSpace=1, Transpose=2)
    assert result.transposes_inside == 0
