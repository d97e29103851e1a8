"""INT8/FP16 rewrites and static input shapes, checked against Keras on a small real model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from runtime_testkit import write_image

import compiler
from compiler.static_shapes import fix_batch, fix_input_shapes, parse_input_shapes
from runtime.errors import RuntimeInputError
from runtime.quantize import (
    PRECISION_KEY,
    batchnorm_as_depthwise_conv,
    convert_fp16,
    cosine,
    quantize_int8,
    share_concat_quantization,
)


@pytest.fixture(scope="module")
def keras_cnn(tmp_path_factory: pytest.TempPathFactory):
    """A small conv net with an open input size, saved as .keras, and the Keras model itself."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from keras import layers

    keras.utils.set_random_seed(7)
    inp = keras.Input((None, None, 3), name="image")
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="c1")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="c2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(10, name="logits")(x)
    model = keras.Model(inp, out, name="cnn")
    folder = tmp_path_factory.mktemp("quant")
    model.save(folder / "cnn.keras")
    rng = np.random.default_rng(1)
    calib = folder / "calib"
    calib.mkdir()
    for i in range(12):  # smooth colour gradients with noise: natural-ish statistics
        yy, xx = np.mgrid[0:24, 0:24] / 24.0
        base = np.stack([yy, xx, (yy + xx) / 2], -1) * rng.uniform(80, 255, 3) + rng.normal(0, 12, (24, 24, 3))
        write_image(calib / f"{i:02d}.png", np.clip(base, 0, 255).astype(np.uint8))
    return model, folder


def _compiled(folder: Path, shapes: list[str] | None = None) -> onnx.ModelProto:
    graph = compiler.load(folder / "cnn.keras")
    fixed = fix_input_shapes(graph, parse_input_shapes(shapes)) if shapes else {}
    proto = compiler.compile(graph).onnx
    return fix_batch(proto, fixed) if fixed else proto


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _images(folder: Path) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.open(p), np.float32) for p in sorted((folder / "calib").glob("*.png"))])


def test_int8_is_qdq_and_agrees_with_keras(keras_cnn):
    keras_model, folder = keras_cnn
    fp32 = _compiled(folder)
    int8, report = quantize_int8(fp32, folder / "calib", limit=None)
    ops = {n.op_type for n in int8.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    per_channel = [
        i for i in int8.graph.initializer if i.name.endswith("_scale") and len(i.dims) == 1 and i.dims[0] > 1
    ]
    assert per_channel, "weights should have one scale per output channel"
    meta = {p.key: p.value for p in int8.metadata_props}
    assert meta[PRECISION_KEY].startswith("int8") and meta["kerascc.preprocess"] == "none"
    assert report.images == 12 and report.outputs[0].name == "logits"
    assert report.outputs[0].cosine_min >= 0.99
    x = _images(folder)
    expected = keras_model.predict(x, verbose=0)
    got = _run(int8, x)
    assert min(cosine(a, b) for a, b in zip(expected, got, strict=True)) >= 0.99
    assert (expected.argmax(1) == got.argmax(1)).mean() >= 0.75


def test_a_batchnorm_between_a_concatenation_and_a_relu_is_quantized(keras_cnn, tmp_path: Path):
    """DenseNet's pattern: no convolution can absorb the BatchNorm, which fp32 keeps as one
    BatchNormalization; int8 makes it a quantized per-channel convolution, and still agrees."""
    import keras
    from keras import layers

    _, folder = keras_cnn
    keras.utils.set_random_seed(3)
    inp = keras.Input((None, None, 3), name="image")
    a = layers.Conv2D(8, 3, padding="same", activation="relu", name="a")(inp)
    b = layers.Conv2D(8, 1, activation="relu", name="b")(a)
    x = layers.Concatenate(name="concat")([a, b])
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.Conv2D(16, 1, name="c")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inp, layers.Dense(10, name="logits")(x))
    bn = model.get_layer("bn")
    rng = np.random.default_rng(0)
    bn.set_weights([rng.uniform(0.5, 2, 16), rng.normal(0, 0.5, 16), rng.normal(0, 0.5, 16), rng.uniform(0.5, 2, 16)])
    model.save(tmp_path / "dense.keras")
    fp32 = compiler.compile(tmp_path / "dense.keras").onnx
    assert "BatchNormalization" in {n.op_type for n in fp32.graph.node}
    int8, report = quantize_int8(fp32, folder / "calib", limit=None)
    assert "BatchNormalization" not in {n.op_type for n in int8.graph.node}
    # two ReLU outputs of like range: one scale costs nothing measurable, so the Concat shares it
    assert report.lines()[-1].startswith("concatenations share one int8 scale")
    (concat,) = [n for n in int8.graph.node if n.op_type == "Concat"]
    producer = {o: n for n in int8.graph.node for o in n.output}
    after = [n for n in int8.graph.node if concat.output[0] in n.input]
    assert len({_qparams(int8, n) for n in [*(producer[i] for i in concat.input), *after]}) == 1
    assert report.outputs[0].cosine_min >= 0.99
    x = _images(folder)
    expected = model.predict(x, verbose=0)
    got = _run(int8, x)
    assert min(cosine(a, b) for a, b in zip(expected, got, strict=True)) >= 0.99


def _qparams(model: onnx.ModelProto, node: onnx.NodeProto) -> tuple[float, int]:
    from onnx import numpy_helper

    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return float(inits[node.input[1]]), int(inits[node.input[2]])


def test_a_dense_block_shares_one_quantization_and_runs_int8_throughout(keras_cnn, tmp_path: Path):
    """DenseNet's dense block, a chain of concatenations: every input of every Concat is quantized
    as its output is (so onnxruntime's QLinearConcat copies bytes instead of requantizing), the
    convolutions reading the shared tensors keep int8 kernels (their int32 biases follow the new
    input scale), and the model still agrees with Keras."""
    import keras
    from keras import layers
    from onnx import numpy_helper

    _, folder = keras_cnn
    keras.utils.set_random_seed(5)
    inp = keras.Input((None, None, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inp)
    for i in range(3):
        y = layers.BatchNormalization(name=f"bn{i}")(x)
        y = layers.ReLU(name=f"relu{i}")(y)
        y = layers.Conv2D(4, 3, padding="same", name=f"grow{i}")(y)  # a raw output: its own range
        x = layers.Concatenate(name=f"concat{i}")([x, y])
    x = layers.Conv2D(16, 1, name="transition")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inp, layers.Dense(10, name="logits")(x))
    rng = np.random.default_rng(0)
    for i in range(3):
        c = 8 + 4 * i
        model.get_layer(f"bn{i}").set_weights(
            [rng.uniform(0.5, 2, c), rng.normal(0, 0.5, c), rng.normal(0, 0.5, c), rng.uniform(0.5, 2, c)]
        )
    model.save(tmp_path / "dense_block.keras")
    fp32 = compiler.compile(tmp_path / "dense_block.keras").onnx
    separate, report = quantize_int8(fp32, folder / "calib", limit=None)
    # here the raw growth outputs span far more than the stem's ReLU: one scale costs accuracy on
    # these images, so compile keeps the separate scales and says so
    assert "keep their own int8 scales" in report.lines()[-1]
    assert len({_qparams(separate, n) for n in separate.graph.node if n.op_type == "QuantizeLinear"}) > 2
    int8 = share_concat_quantization(separate)

    producer = {o: n for n in int8.graph.node for o in n.output}
    consumers = {}
    for n in int8.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    concats = [n for n in int8.graph.node if n.op_type == "Concat"]
    assert len(concats) == 3
    shared = set()
    for concat in concats:
        ends = [producer[i] for i in concat.input] + consumers[concat.output[0]]
        assert {n.op_type for n in ends} == {"DequantizeLinear", "QuantizeLinear"}
        shared |= {_qparams(int8, n) for n in ends}
    assert len(shared) == 1, "one scale and zero point for the whole block"
    # each convolution's int32 bias is quantized with its input scale times its weight scale
    inits = {t.name: numpy_helper.to_array(t) for t in int8.graph.initializer}
    for conv in (n for n in int8.graph.node if n.op_type == "Conv"):
        x_dq, w_dq, b_dq = (producer[i] for i in conv.input)
        expected = (inits[x_dq.input[1]] * inits[w_dq.input[1]]).astype(np.float32)
        np.testing.assert_array_equal(inits[b_dq.input[1]], expected)
    # onnxruntime runs every convolution and concatenation as an int8 kernel
    options = onnxruntime.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    onnxruntime.InferenceSession(int8.SerializeToString(), options, providers=["CPUExecutionProvider"])
    ran = {n.op_type for n in onnx.load(tmp_path / "optimized.onnx").graph.node}
    assert {"QLinearConv", "QLinearConcat"} <= ran and not {"Conv", "Concat"} & ran
    x = _images(folder)
    expected = model.predict(x, verbose=0)
    got = _run(int8, x)
    assert min(cosine(a, b) for a, b in zip(expected, got, strict=True)) >= 0.95  # coarser, as measured


def test_sharing_leaves_models_without_quantized_concatenations_alone(keras_cnn):
    _, folder = keras_cnn
    int8, _ = quantize_int8(_compiled(folder), folder / "calib", limit=None)
    assert share_concat_quantization(int8) is int8  # no Concat at all
    from onnx import TensorProto, helper, numpy_helper

    # a Concat with a constant input: its bytes would need requantizing, so nothing changes
    q = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"])
    dq = helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"])
    cdq = helper.make_node("DequantizeLinear", ["cq", "cs", "z"], ["cd"])
    cat = helper.make_node("Concat", ["xd", "cd"], ["y"], axis=1)
    oq = helper.make_node("QuantizeLinear", ["y", "ys", "z"], ["yq"])
    odq = helper.make_node("DequantizeLinear", ["yq", "ys", "z"], ["out"])
    graph = helper.make_graph(
        [q, dq, cdq, cat, oq, odq],
        "const_concat",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4])],
        [
            numpy_helper.from_array(np.asarray(0.1, np.float32), "s"),
            numpy_helper.from_array(np.asarray(0.2, np.float32), "cs"),
            numpy_helper.from_array(np.asarray(0.3, np.float32), "ys"),
            numpy_helper.from_array(np.asarray(0, np.uint8), "z"),
            numpy_helper.from_array(np.asarray([[3, 9]], np.uint8), "cq"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    assert share_concat_quantization(model) is model

    # activations quantized as uint8 and int8 side by side: no one zero point serves both
    mixed = onnx.ModelProto()
    mixed.CopyFrom(model)
    nodes = mixed.graph.node
    nodes.insert(2, helper.make_node("QuantizeLinear", ["x", "cs", "zs"], ["cq"]))
    nodes[3].input[2] = "zs"
    del mixed.graph.initializer[-1]  # cq is now computed
    mixed.graph.initializer.append(numpy_helper.from_array(np.asarray(0, np.int8), "zs"))
    onnx.checker.check_model(mixed)
    assert share_concat_quantization(mixed) is mixed


def test_int8_without_readable_images_is_an_error(keras_cnn, tmp_path: Path):
    _, folder = keras_cnn
    (tmp_path / "bad.png").write_bytes(b"x")
    with pytest.raises(RuntimeInputError, match="no readable calibration images"):
        quantize_int8(_compiled(folder), tmp_path)


def test_fp16_keeps_float32_io_and_agrees(keras_cnn):
    keras_model, folder = keras_cnn
    fp16 = convert_fp16(_compiled(folder))
    assert fp16.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in fp16.graph.initializer)
    x = _images(folder)[:4]
    np.testing.assert_allclose(_run(fp16, x), keras_model.predict(x, verbose=0), rtol=2e-2, atol=2e-2)


def test_static_input_shape_fixes_every_dimension_and_matches_keras(keras_cnn):
    keras_model, folder = keras_cnn
    model = _compiled(folder, ["2,17,17,3"])
    dims = [[d.dim_value for d in v.type.tensor_type.shape.dim] for v in (*model.graph.input, *model.graph.output)]
    assert dims == [[2, 17, 17, 3], [2, 10]]
    x = _images(folder)[:2, :17, :17]
    np.testing.assert_allclose(_run(model, x), keras_model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["1,-2,3"], "not a list of positive sizes"),
        (["1,a,3"], "not a list of positive sizes"),
        (["other:1,8,8,3"], "names no input 'other'"),
        (["1,8,8"], "gives 3 dimensions"),
        (["1,8,8,4"], "conflicts with input"),
        (["1,8,8,3", "1,8,8,3"], "given twice"),
    ],
)
def test_bad_input_shapes(keras_cnn, specs, message):
    _, folder = keras_cnn
    with pytest.raises(compiler.CompileError, match=message):
        fix_input_shapes(compiler.load(folder / "cnn.keras"), parse_input_shapes(specs))


def _batchnorm_model(rank: int, channels: int = 5) -> onnx.ModelProto:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(rank)
    params = {
        "scale": rng.uniform(0.5, 2, channels),
        "bias": rng.normal(0, 1, channels),
        "mean": rng.normal(0, 1, channels),
        "var": rng.uniform(0.1, 3, channels),
    }
    spatial = [4, 3, 6][: rank - 2]
    graph = helper.make_graph(
        [
            helper.make_node("BatchNormalization", ["x", *params], ["y"], name="bn", epsilon=1e-3),
            helper.make_node("Relu", ["y"], ["out"], name="relu"),
        ],
        "bn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", channels, *spatial])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", channels, *spatial])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in params.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("rank", [3, 4, 5])
def test_a_batchnorm_becomes_the_per_channel_convolution_it_is(rank):
    model = _batchnorm_model(rank)
    rewritten = batchnorm_as_depthwise_conv(model)
    onnx.checker.check_model(rewritten, full_check=True)
    (conv,) = [n for n in rewritten.graph.node if n.op_type != "Relu"]
    assert conv.op_type == "Conv" and onnx.helper.get_attribute_value(conv.attribute[0]) == 5
    assert sorted(i.name for i in rewritten.graph.initializer) == ["y.dw_bias", "y.dw_kernel"]
    x = np.random.default_rng(0).normal(0, 2, (2, 5, *[4, 3, 6][: rank - 2])).astype(np.float32)
    np.testing.assert_allclose(_run(rewritten, x), _run(model, x), rtol=1e-5, atol=1e-5)


def test_a_batchnorm_of_unknown_rank_or_on_rank_two_is_left_alone():
    model = _batchnorm_model(4)
    model.graph.input[0].type.tensor_type.ClearField("shape")
    assert batchnorm_as_depthwise_conv(model) is model
    from onnx import TensorProto, helper

    flat = _batchnorm_model(3)
    flat.graph.input[0].CopyFrom(helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 5]))
    assert batchnorm_as_depthwise_conv(flat) is flat
