"""How the backend moves between Keras's NHWC and ONNX's NCHW: relabelling Reshapes, LayerNorm,
Crop and MaxPool over a kept Pad, each checked against numpy at both onnxruntime levels."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from compiler import Graph, to_onnx
from compiler.backend.emitter import NCHW, Emitter, Value
from compiler.pipeline import run_passes
from unit_kit import assert_close, conv2d, max_pool, onnx_ops, pad_nhwc, rand


def conv_attrs(padding="valid"):
    return {"strides": (1, 1), "dilations": (1, 1), "padding": padding}


def initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def node(model: onnx.ModelProto, op_type: str) -> onnx.NodeProto:
    (found,) = [n for n in model.graph.node if n.op_type == op_type]
    return found


def source_op(model: onnx.ModelProto, tensor: str) -> str:
    """The op that produces ``tensor``, looking through layout Transposes."""
    (producer,) = [n for n in model.graph.node if tensor in n.output]
    return source_op(model, producer.input[0]) if producer.op_type == "Transpose" else producer.op_type


def attr(n: onnx.NodeProto, name: str):
    (a,) = [a for a in n.attribute if a.name == name]
    return onnx.helper.get_attribute_value(a)


# -- Emitter.ensure: a Reshape when only size-1 axes move --------------------------------------------
def test_ensure_relabels_with_a_reshape_when_only_unit_axes_move():
    em = Emitter(Graph(), 17, "nhwc")
    v = Value("v", 4, None, shape=(None, 1, 1, 5))
    out = em.ensure(v, NCHW)
    (n,) = em.nodes
    assert n.op_type == "Reshape" and n.input[0] == "v" and list(n.output) == [out]
    (dims,) = [a for k, a in em.initializers if k == n.input[1]]
    assert dims.tolist() == [0, 5, 1, 1]
    assert em.ensure(v, NCHW) == out and len(em.nodes) == 1  # cached
    assert em.ensure(v, None) == "v" and len(em.nodes) == 1  # already in that layout


def test_ensure_transposes_when_real_axes_change_order():
    em = Emitter(Graph(), 17, "nhwc")
    out = em.ensure(Value("v", 4, None, shape=(None, 2, 1, 3)), NCHW)
    (n,) = em.nodes
    assert n.op_type == "Transpose" and list(n.output) == [out]
    assert attr(n, "perm") == [0, 3, 1, 2]
    back = em.ensure(Value(out, 4, NCHW, shape=(None, 2, 1, 3)), None)
    assert em.nodes[-1].op_type == "Transpose" and attr(em.nodes[-1], "perm") == [0, 2, 3, 1]
    assert back != out


@pytest.mark.parametrize(
    "shape, reshapes, transposes",
    [
        ((1, 1, 5), 2, 0),  # (N, 1, 1, C) in and (N, 1, 1, 3) out: only size-1 axes move
        ((1, 4, 1), 1, 1),  # (N, 1, W, 1) in
        ((2, 3, 1), 1, 1),  # one channel: NHWC and NCHW hold the same bytes
        ((2, 1, 3), 0, 2),
        ((3, 4, 2), 0, 2),
        ((None, None, 1), 0, 2),  # unknown sizes: a Reshape could not name them
    ],
)
def test_conv_input_and_output_layout_changes(shape, reshapes, transposes):
    cin = shape[2]
    kernel, bias = rand((1, 1, cin, 3), 1), rand((3,), 2)
    g = Graph()
    x = g.add_input("x", (None, *shape))
    g.set_outputs([g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": kernel, "bias": bias})])
    model = to_onnx(g)
    ops = onnx_ops(model)
    assert (ops.count("Reshape"), ops.count("Transpose")) == (reshapes, transposes)
    concrete = tuple(4 if d is None else d for d in shape)
    x_ = rand((2, *concrete), 3)
    assert_close(model, {"x": x_}, [conv2d(x_, kernel, bias)])


def test_one_by_one_map_costs_no_transpose_at_all():
    # (N, 1, 1, C) → 1x1 conv → (N, 1, 1, C'): both layout changes are Reshapes.
    kernel = rand((1, 1, 6, 4), 4)
    g = Graph()
    x = g.add_input("x", (None, 1, 1, 6))
    c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": kernel})
    g.set_outputs([g.add("Sigmoid", [c])], ["gate"])
    model = to_onnx(g)
    assert onnx_ops(model).count("Transpose") == 0
    assert onnx_ops(model).count("Reshape") == 2
    x_ = rand((3, 1, 1, 6), 5)
    assert_close(model, {"x": x_}, [1 / (1 + np.exp(-conv2d(x_, kernel)))])


def test_keepdims_pool_feeding_dense_and_returned_as_nhwc():
    kernel = rand((1, 1, 3, 5), 6)
    wd = rand((5, 2), 7)
    g = Graph()
    x = g.add_input("x", (None, 4, 3, 3))
    c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": kernel})
    p = g.add("GlobalAveragePool", [c], attrs={"keepdims": True})
    g.set_outputs([p, g.add("Dense", [p], params={"kernel": wd})], ["pooled", "scores"])
    model = to_onnx(g)
    assert onnx_ops(model).count("Transpose") == 1  # the input only
    x_ = rand((2, 4, 3, 3), 8)
    pooled = conv2d(x_, kernel).mean(axis=(1, 2), keepdims=True)
    assert_close(model, {"x": x_}, [pooled, (pooled.astype(np.float64) @ wd).astype(np.float32)])


# -- LayerNorm ------------------------------------------------------------------------------------------
def layer_norm(x, gamma, beta, eps, axis=-1):
    x = x.astype(np.float64)
    mean = x.mean(axis=axis, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axis, keepdims=True)
    shape = [1] * x.ndim
    shape[axis] = -1
    return ((x - mean) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)).astype(np.float32)


def ln_params(c, seed):
    return {"gamma": rand((c,), seed, 0.5, 1.0), "beta": rand((c,), seed + 1)}


@pytest.mark.parametrize("eps", [1e-3, 0.05])
@pytest.mark.parametrize("shape", [(6,), (3, 5), (2, 3, 4)])
def test_layer_norm_on_a_physically_last_axis_is_layer_normalization(shape, eps):
    p = ln_params(shape[-1], 10)
    g = Graph()
    x = g.add_input("x", (None, *shape))
    g.set_outputs([g.add("LayerNorm", [x], attrs={"axis": len(shape), "epsilon": eps}, params=p)])
    model = to_onnx(g)
    assert onnx_ops(model) == ["LayerNormalization"]
    ln = node(model, "LayerNormalization")
    assert attr(ln, "axis") == -1
    assert attr(ln, "epsilon") == pytest.approx(eps, rel=1e-6)
    x_ = rand((3, *shape), 11, scale=0.2)  # small variance: epsilon matters
    expected = layer_norm(x_, **p, eps=eps)
    assert not np.allclose(expected, layer_norm(x_, **p, eps=eps * 10), atol=1e-3)
    assert_close(model, {"x": x_}, [expected])


@pytest.mark.parametrize("eps, opset", [(1e-3, 17), (0.05, 17), (0.05, 18)])
def test_layer_norm_over_channels_of_nchw_data_uses_reduce_mean(eps, opset):
    kernel = rand((1, 1, 3, 4), 12)
    p = ln_params(4, 13)
    g = Graph()
    x = g.add_input("x", (None, 5, 3, 3))
    c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": kernel})
    ln = g.add("LayerNorm", [c], attrs={"axis": 3, "epsilon": eps}, params=p)
    g.set_outputs([g.add("Conv", [ln], attrs=conv_attrs(), params={"kernel": rand((1, 1, 4, 2), 14)})])
    model = to_onnx(g, opset=opset)
    ops = onnx_ops(model)
    assert "LayerNormalization" not in ops
    assert ops.count("ReduceMean") == 2
    assert ops.count("Transpose") == 2  # into the first conv, out of the last: none around the norm
    weights = initializers(model)
    assert weights["layernorm.gamma"].shape == (1, 4, 1, 1)
    assert weights["layernorm.beta"].shape == (1, 4, 1, 1)
    x_ = rand((2, 5, 3, 3), 15, scale=0.3)
    expected = conv2d(layer_norm(conv2d(x_, kernel), **p, eps=eps), rand((1, 1, 4, 2), 14))
    assert_close(model, {"x": x_}, [expected])


def test_layer_norm_as_a_4d_output_comes_back_in_keras_layout():
    kernel = rand((1, 1, 2, 3), 16)
    p = ln_params(3, 17)
    g = Graph()
    x = g.add_input("x", (None, 4, 5, 2))
    c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": kernel})
    g.set_outputs([g.add("LayerNorm", [c], attrs={"axis": 3, "epsilon": 0.02}, params=p)], ["normed"])
    model = to_onnx(g)
    assert [o.name for o in model.graph.output] == ["normed"]
    x_ = rand((2, 4, 5, 2), 18)
    assert_close(model, {"x": x_}, [layer_norm(conv2d(x_, kernel), **p, eps=0.02)])


# -- Crop ------------------------------------------------------------------------------------------------------
CROPS = [((1, 2), (0, 3)), ((0, 0), (2, 1)), ((3, 0), (0, 0)), ((1, 1), (1, 1))]


def crop_nhwc(x, crops):
    (t, b), (left, right) = crops
    return x[:, t : x.shape[1] - b, left : x.shape[2] - right, :]


@pytest.mark.parametrize("crops", CROPS)
def test_crop_of_nhwc_data_slices_axes_1_and_2(crops):
    g = Graph()
    x = g.add_input("x", (None, 6, 7, 2))
    g.set_outputs([g.add("Crop", [x], name="crop", attrs={"crops": crops})])
    model = to_onnx(g)
    assert onnx_ops(model) == ["Slice"]
    assert initializers(model)["crop.axes"].tolist() == [1, 2]
    x_ = rand((2, 6, 7, 2), 20)
    assert_close(model, {"x": x_}, [crop_nhwc(x_, crops)])


@pytest.mark.parametrize("crops", CROPS)
def test_crop_of_nchw_data_slices_axes_2_and_3(crops):
    k1, k2 = rand((1, 1, 2, 3), 21), rand((2, 2, 3, 2), 22)
    g = Graph()
    x = g.add_input("x", (None, 6, 7, 2))
    c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": k1})
    cropped = g.add("Crop", [c], name="crop", attrs={"crops": crops})
    g.set_outputs([cropped, g.add("Conv", [cropped], attrs=conv_attrs(), params={"kernel": k2})], ["cropped", "next"])
    model = to_onnx(g)
    assert initializers(model)["crop.axes"].tolist() == [2, 3]
    assert onnx_ops(model).count("Transpose") == 3  # the input and the two outputs
    x_ = rand((2, 6, 7, 2), 23)
    y = crop_nhwc(conv2d(x_, k1), crops)
    assert_close(model, {"x": x_}, [y, conv2d(y, k2)])


# -- MaxPool over a kept Pad -------------------------------------------------------------------------------------
def pad_max_pool(source: str, pads, kernel, strides) -> Graph:
    g = Graph()
    x = g.add_input("x", (None, 6, 5, 2))
    s = (
        x
        if source == "Input"
        else g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": np.eye(2, dtype=np.float32).reshape(1, 1, 2, 2)})
    )
    p = g.add("Pad", [s], attrs={"pads": pads})
    g.set_outputs(
        [g.add("MaxPool", [p], name="pool", attrs={"window": kernel, "strides": strides, "padding": "valid"})],
        ["pooled"],
    )
    return g


@pytest.mark.parametrize(
    "pads, kernel, strides",
    [
        (((1, 1), (1, 1)), (3, 3), (2, 2)),  # fusable by size: onnxruntime would drop the zeros
        (((1, 2), (2, 1)), (2, 2), (2, 1)),  # pads as large as the window
    ],
)
@pytest.mark.parametrize("source", ["Input", "Conv"])
@pytest.mark.parametrize("target", ["onnx", "ort", "tensorrt"])
def test_max_pool_reading_a_pad_is_kept_from_onnxruntime_pad_fusion(target, source, pads, kernel, strides):
    model = to_onnx(pad_max_pool(source, pads, kernel, strides), target=target)
    pool = node(model, "MaxPool")
    if target == "tensorrt":
        assert len(pool.output) == 1
        barrier = node(model, "Max")
        assert list(pool.input) == list(barrier.output)
        (lowest,) = [initializers(model)[i] for i in barrier.input if i in initializers(model)]
        assert lowest.size == 1 and np.isneginf(lowest).all()
        assert source_op(model, barrier.input[0]) == "Pad"
    else:
        assert len(pool.output) == 2
        assert "Max" not in onnx_ops(model)
        assert source_op(model, pool.input[0]) == "Pad"
    x_ = rand((2, 6, 5, 2), 30, shift=-1.5)  # mostly negative: padded zeros win at the border
    expected = max_pool(pad_nhwc(x_, pads), kernel, strides)
    assert (expected == 0).any() and (expected < 0).any()
    assert_close(model, {"x": x_}, [expected])


@pytest.mark.parametrize("target", ["onnx", "ort", "tensorrt"])
def test_pad_reaching_the_pool_size_stays_and_pools_exactly_after_the_passes(target):
    pads, kernel, strides = ((2, 0), (0, 2)), (2, 2), (2, 2)
    graph, _ = run_passes(
        pad_max_pool("Conv", pads, kernel, strides), ["resolve_padding", "fold_affine", "fuse_conv"], check=True
    )
    assert graph.op_counts()["Pad"] == 1
    model = to_onnx(graph, target=target)
    assert len(node(model, "MaxPool").output) == (1 if target == "tensorrt" else 2)
    assert ("Max" in onnx_ops(model)) == (target == "tensorrt")
    x_ = rand((3, 6, 5, 2), 31, shift=-1.0)
    expected = max_pool(pad_nhwc(x_, pads), kernel, strides)
    assert (expected == 0).any()
    assert_close(model, {"x": x_}, [expected])


def test_max_pool_not_reading_a_pad_has_no_indices_or_barrier():
    for target in ("onnx", "ort", "tensorrt"):
        g = Graph()
        x = g.add_input("x", (None, 6, 6, 2))
        g.set_outputs([g.add("MaxPool", [x], attrs={"window": (3, 3), "strides": (2, 2), "padding": ((1, 1), (1, 1))})])
        model = to_onnx(g, target=target)
        assert len(node(model, "MaxPool").output) == 1
        assert "Max" not in onnx_ops(model)
        x_ = rand((2, 6, 6, 2), 32, shift=-2.0)
        assert_close(model, {"x": x_}, [max_pool(x_, (3, 3), (2, 2), ((1, 1), (1, 1)))])
