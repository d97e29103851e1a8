"""The same models through every source format the compiler reads:

* a Keras 3 ``.keras`` archive;
* Keras 3 ``model.to_json()`` plus ``model.save_weights`` (``.weights.h5``);
* a legacy full-model ``.h5`` as Keras 3 writes it;
* hand-written Keras 2 / tf.keras JSON (``"Functional"``, the older ``"Model"``,
  ``"Sequential"``), with weights from a Keras 3 ``.weights.h5``, a Keras 2
  style ``.h5`` weights file, or a Keras 2 full-model ``.h5``;
* JSON alone, compiled with seeded random weights;
* ``input_layout="nchw"``.
"""

from __future__ import annotations

import copy
import json
import warnings

import h5py
import keras
import numpy as np
import onnx
import pytest
from keras import layers

import compiler

from .harness import (
    EVERY_FORM,
    check,
    graph_inputs,
    io_names,
    keras_predict,
    make_inputs,
    op_types,
    randomize,
    run_onnx,
    save_source,
    to_layout,
    verify,
)


def _small_functional():
    inp = keras.Input((12, 10, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(inp)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    y = layers.Conv2D(8, 3, padding="same", activation="relu", name="branch")(x)
    x = layers.Add(name="residual")([x, y])
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Dropout(0.2, name="drop")(x)
    feat = layers.Flatten(name="flatten")(x)
    logits = layers.Dense(5, activation="softmax", name="probs")(feat)
    return keras.Model(inp, [logits, x], name="small_functional")


def test_keras_archive(tmp_path):
    model = randomize(_small_functional(), 1)
    check(model, tmp_path, forms=("keras",))


def test_json_plus_weights(tmp_path):
    model = randomize(_small_functional(), 2)
    check(model, tmp_path, forms=("json+weights",))


def test_legacy_h5_written_by_keras3(tmp_path):
    model = randomize(_small_functional(), 3)
    check(model, tmp_path, forms=("h5",))


def test_sequential_in_every_format(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((9, 9, 2), name="pixels"),
            layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False, name="c1"),
            layers.BatchNormalization(name="bn1"),
            layers.Activation("relu", name="a1"),
            layers.Conv2DTranspose(3, 3, strides=2, padding="same", name="up"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(3, name="out"),
        ],
        name="small_sequential",
    )
    randomize(model, 4)
    check(model, tmp_path, forms=EVERY_FORM)


def test_model_without_weights(tmp_path):
    # A valid model with no trainable layer at all: its archive and weights file
    # hold no variables, which is not an error.
    inp = keras.Input((7, 8, 3), name="image")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="maxpool")(inp)
    x = layers.AveragePooling2D(2, padding="same", name="avgpool")(x)
    out = layers.Activation("softmax", name="softmax")(x)
    model = keras.Model(inp, out)
    check(model, tmp_path, forms=EVERY_FORM)


def _nested_model(return_features=False):
    inner_seq = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv"),
            layers.BatchNormalization(name="bn"),
            layers.ReLU(name="relu"),
        ],
        name="inner_seq",
    )
    fn_in = keras.Input((8, 8, 4))
    fn_out = layers.Conv2D(6, 3, strides=2, padding="same", name="conv")(fn_in)
    fn_out = layers.BatchNormalization(name="bn")(fn_out)
    # Two BatchNormalization layers: legacy .h5 lists a nested model's weights
    # trainable-first (k, gamma, beta, k, gamma, beta, mean, var, mean, var),
    # not layer by layer.
    fn_out = layers.Conv2D(6, 1, name="conv_b")(fn_out)
    fn_out = layers.BatchNormalization(name="bn_b")(fn_out)
    inner_fn = keras.Model(fn_in, fn_out, name="inner_fn")

    # Outer layers reuse the inner names "conv" and "bn": the weights must be
    # found by scope, not by bare layer name.
    inp = keras.Input((8, 8, 3), name="image")
    x = inner_seq(inp)
    features = inner_fn(x)
    y = layers.Conv2D(3, 1, name="conv")(features)
    y = layers.BatchNormalization(name="bn")(y)
    out = layers.Dense(2, name="head")(layers.GlobalAveragePooling2D(name="gap")(y))
    return keras.Model(inp, [out, features] if return_features else out, name="outer")


def test_nested_models_in_every_format(tmp_path):
    model = randomize(_nested_model(), 14)
    check(model, tmp_path, forms=EVERY_FORM)


def test_nested_functional_model_output(tmp_path):
    # Keras 3 writes output_layers entries of a nested Functional model with
    # the node index shifted by one (its built-in node comes first):
    # ["inner_fn", 1, 0] here, while inbound_nodes refer to the same call as
    # node 0. The output is named after the nested model.
    model = randomize(_nested_model(return_features=True), 14)
    assert io_names(model)[1] == ["head", "inner_fn"]
    check(model, tmp_path, forms=("keras", "json+weights"))


def test_nested_model_called_twice(tmp_path):
    tower = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            layers.Conv2D(4, 3, use_bias=False, name="conv"),
            layers.BatchNormalization(name="bn"),
            layers.Activation("relu", name="relu"),
            layers.Flatten(name="flat"),
            layers.Dense(5, name="embed"),
        ],
        name="tower",
    )
    left = keras.Input((6, 6, 2), name="left")
    right = keras.Input((6, 6, 2), name="right")
    both = layers.Concatenate(name="both")([tower(left), tower(right)])
    out = layers.Dense(1, activation="sigmoid", name="same")(both)
    model = keras.Model([left, right], out)
    randomize(model, 15)
    check(model, tmp_path, forms=EVERY_FORM)


# --------------------------------------------------------------------------
# Keras 2 / tf.keras JSON, written by hand


def _initializer(name):
    return {"class_name": name, "config": {"seed": None} if name.startswith("Glorot") else {}}


def _k2_conv(
    name, filters, kernel, *, strides=(1, 1), padding="valid", activation="linear", use_bias=True, groups=True
):
    config = {
        "name": name,
        "trainable": True,
        "dtype": "float32",
        "filters": filters,
        "kernel_size": [kernel, kernel],
        "strides": list(strides),
        "padding": padding,
        "data_format": "channels_last",
        "dilation_rate": [1, 1],
        "activation": activation,
        "use_bias": use_bias,
        "kernel_initializer": _initializer("GlorotUniform"),
        "bias_initializer": _initializer("Zeros"),
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    }
    if groups:  # tf.keras >= 2.3 writes it, Keras 2.2 did not
        config["groups"] = 1
    return {"class_name": "Conv2D", "config": config}


def _k2_bn(name, axis):
    return {
        "class_name": "BatchNormalization",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "axis": axis,
            "momentum": 0.99,
            "epsilon": 0.001,
            "center": True,
            "scale": True,
            "beta_initializer": _initializer("Zeros"),
            "gamma_initializer": _initializer("Ones"),
            "moving_mean_initializer": _initializer("Zeros"),
            "moving_variance_initializer": _initializer("Ones"),
            "beta_regularizer": None,
            "gamma_regularizer": None,
            "beta_constraint": None,
            "gamma_constraint": None,
        },
    }


def _k2_dense(name, units, activation="linear"):
    return {
        "class_name": "Dense",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "units": units,
            "activation": activation,
            "use_bias": True,
            "kernel_initializer": _initializer("GlorotUniform"),
            "bias_initializer": _initializer("Zeros"),
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
    }


def _k2_simple(class_name, name, **config):
    return {"class_name": class_name, "config": {"name": name, "trainable": True, "dtype": "float32", **config}}


def _k2_input(name, batch_input_shape, *, ragged=True):
    config = {"batch_input_shape": batch_input_shape, "dtype": "float32", "sparse": False, "name": name}
    if ragged:
        config["ragged"] = False
    return {"class_name": "InputLayer", "config": config}


def _node(layer, *inbound):
    """Functional layer entry with Keras 2 inbound_nodes [[[name, 0, 0, {}], ...]]."""
    entry = dict(layer)
    entry["name"] = layer["config"]["name"]
    entry["inbound_nodes"] = [[[src, 0, 0, {}] for src in inbound]] if inbound else []
    return entry


def keras2_functional_json(class_name="Functional", keras_version="2.12.0"):
    old = keras_version.startswith("2.2")
    layer_list = [
        _node(_k2_input("input_1", [None, 12, 10, 3], ragged=not old)),
        _node(_k2_conv("conv2d", 8, 3, padding="same", use_bias=False, groups=not old), "input_1"),
        _node(_k2_bn("batch_normalization", 3 if old else [3]), "conv2d"),
        _node(_k2_simple("Activation", "activation", activation="relu"), "batch_normalization"),
        _node(_k2_conv("conv2d_1", 8, 3, padding="same", activation="relu", groups=not old), "activation"),
        _node(_k2_simple("Add", "add"), "activation", "conv2d_1"),
        _node(
            _k2_simple(
                "MaxPooling2D",
                "max_pooling2d",
                pool_size=[2, 2],
                padding="valid",
                strides=[2, 2],
                data_format="channels_last",
            ),
            "add",
        ),
        _node(_k2_conv("conv2d_2", 4, 1, groups=not old), "max_pooling2d"),
        _node(_k2_simple("Concatenate", "concatenate", axis=-1), "max_pooling2d", "conv2d_2"),
        _node(_k2_simple("Dropout", "dropout", rate=0.5, noise_shape=None, seed=None), "concatenate"),
        _node(_k2_simple("Flatten", "flatten", data_format="channels_last"), "dropout"),
        _node(_k2_dense("dense", 5, "softmax"), "flatten"),
        _node(
            _k2_simple(
                "GlobalAveragePooling2D",
                "global_average_pooling2d",
                data_format="channels_last",
                **({} if old else {"keepdims": False}),
            ),
            "concatenate",
        ),
        _node(_k2_dense("dense_1", 3), "global_average_pooling2d"),
    ]
    return {
        "class_name": class_name,
        "config": {
            "name": "model",
            "layers": layer_list,
            "input_layers": [["input_1", 0, 0]],
            "output_layers": [["dense", 0, 0], ["dense_1", 0, 0]],
        },
        "keras_version": keras_version,
        "backend": "tensorflow",
    }


def keras3_equivalent_functional():
    """The same network as keras2_functional_json, built with Keras 3."""
    inp = keras.Input(batch_shape=(None, 12, 10, 3), name="input_1")
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv2d")(inp)
    x = layers.BatchNormalization(name="batch_normalization")(x)
    a = layers.Activation("relu", name="activation")(x)
    c = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2d_1")(a)
    x = layers.Add(name="add")([a, c])
    p = layers.MaxPooling2D(2, name="max_pooling2d")(x)
    q = layers.Conv2D(4, 1, name="conv2d_2")(p)
    cat = layers.Concatenate(axis=-1, name="concatenate")([p, q])
    x = layers.Dropout(0.5, name="dropout")(cat)
    x = layers.Flatten(name="flatten")(x)
    out1 = layers.Dense(5, activation="softmax", name="dense")(x)
    g = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(cat)
    out2 = layers.Dense(3, name="dense_1")(g)
    return keras.Model(inp, [out1, out2], name="model")


def keras2_sequential_json():
    return {
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                _k2_input("conv2d_input", [None, 10, 9, 3]),
                _k2_conv("conv2d", 6, 3, strides=(2, 2), padding="same", use_bias=False),
                _k2_bn("batch_normalization", -1),
                _k2_simple("ReLU", "re_lu", max_value=6.0, negative_slope=0.0, threshold=0.0),
                _k2_simple("ZeroPadding2D", "zero_padding2d", padding=[[1, 0], [0, 1]], data_format="channels_last"),
                _k2_conv("conv2d_1", 4, 2),
                _k2_simple("LeakyReLU", "leaky_re_lu", alpha=0.1),
                _k2_simple("Flatten", "flatten", data_format="channels_last"),
                _k2_dense("dense", 4, "tanh"),
            ],
        },
        "keras_version": "2.12.0",
        "backend": "tensorflow",
    }


def keras22_sequential_json_without_input_layer():
    """Keras 2.2 wrote Sequential models without an InputLayer entry: the first
    layer carries batch_input_shape, and Keras named the implicit input
    ``<first layer name>_input``."""
    config = keras2_sequential_json()
    first = config["config"]["layers"][0]["config"]
    del config["config"]["layers"][0]
    config["config"]["layers"][0]["config"]["batch_input_shape"] = first["batch_input_shape"]
    config["keras_version"] = "2.2.4"
    return config


def keras3_equivalent_sequential():
    return keras.Sequential(
        [
            keras.Input(batch_shape=(None, 10, 9, 3), name="conv2d_input"),
            layers.Conv2D(6, 3, strides=2, padding="same", use_bias=False, name="conv2d"),
            layers.BatchNormalization(name="batch_normalization"),
            layers.ReLU(max_value=6.0, name="re_lu"),
            layers.ZeroPadding2D(((1, 0), (0, 1)), name="zero_padding2d"),
            layers.Conv2D(4, 2, name="conv2d_1"),
            layers.LeakyReLU(negative_slope=0.1, name="leaky_re_lu"),
            layers.Flatten(name="flatten"),
            layers.Dense(4, activation="tanh", name="dense"),
        ],
        name="sequential",
    )


# Keras 2 weight names, in the order Keras 2 stored them per layer.
_K2_WEIGHT_NAMES = {
    "Conv2D": ["kernel", "bias"],
    "Conv2DTranspose": ["kernel", "bias"],
    "Dense": ["kernel", "bias"],
    "BatchNormalization": ["gamma", "beta", "moving_mean", "moving_variance"],
}


def _k2_weight_names(layer):
    names = list(_K2_WEIGHT_NAMES.get(type(layer).__name__, []))
    if isinstance(layer, layers.BatchNormalization):
        if not layer.scale:
            names.remove("gamma")
        if not layer.center:
            names.remove("beta")
    elif names and not getattr(layer, "use_bias", True):
        names.remove("bias")
    assert len(names) == len(layer.get_weights()), layer.name
    return names


def write_keras2_weights(group, model):
    """Write ``model``'s weights in the Keras 2 HDF5 layout into ``group``:
    attrs layer_names / backend / keras_version, one group per layer with a
    weight_names attr and datasets ``<layer>/<weight>:0``."""
    group.attrs["layer_names"] = np.array([layer.name.encode("utf8") for layer in model.layers])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = b"2.12.0"
    for layer in model.layers:
        lg = group.create_group(layer.name)
        names = [f"{layer.name}/{w}:0" for w in _k2_weight_names(layer)]
        lg.attrs["weight_names"] = np.array([n.encode("utf8") for n in names])
        for wname, value in zip(names, layer.get_weights(), strict=True):
            lg.create_dataset(wname, data=value)


def write_keras2_h5(path, config, model, weights_only=False):
    with h5py.File(path, "w") as f:
        if weights_only:
            write_keras2_weights(f, model)
            return
        f.attrs["keras_version"] = b"2.12.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        write_keras2_weights(f.create_group("model_weights"), model)


def _run_keras2_case(tmp_path, config, model, weight_kind):
    json_path = tmp_path / "model_k2.json"
    json_path.write_text(json.dumps(config))
    if weight_kind == "weights.h5":
        weights = tmp_path / "model.weights.h5"
        model.save_weights(weights)
        source = json_path
    elif weight_kind == "legacy-weights.h5":
        weights = tmp_path / "legacy_weights.h5"
        write_keras2_h5(weights, config, model, weights_only=True)
        source = json_path
    elif weight_kind == "full.h5":
        weights = None
        source = tmp_path / "model_k2.h5"
        write_keras2_h5(source, config, model)
    else:
        raise AssertionError(weight_kind)

    res = compiler.compile(source, weights=weights)
    assert res.random_weights is False
    out = tmp_path / "model.onnx"
    compiler.save(res, out)
    arrays = make_inputs(model, batch=3, seed=7)
    expected = keras_predict(model, arrays)
    print(verify(out, model, arrays, expected, label=weight_kind))


WEIGHT_KINDS = ["weights.h5", "legacy-weights.h5", "full.h5"]


@pytest.mark.parametrize("weight_kind", WEIGHT_KINDS)
def test_keras2_functional_json(tmp_path, weight_kind):
    model = randomize(keras3_equivalent_functional(), 10)
    _run_keras2_case(tmp_path, keras2_functional_json(), model, weight_kind)


@pytest.mark.parametrize("weight_kind", ["weights.h5", "legacy-weights.h5"])
def test_keras22_model_json(tmp_path, weight_kind):
    # Keras 2.2-era files: class_name "Model", no "groups"/"ragged"/"keepdims",
    # BatchNormalization axis as a bare int.
    model = randomize(keras3_equivalent_functional(), 11)
    config = keras2_functional_json(class_name="Model", keras_version="2.2.4")
    _run_keras2_case(tmp_path, config, model, weight_kind)


@pytest.mark.parametrize("weight_kind", WEIGHT_KINDS)
def test_keras2_sequential_json(tmp_path, weight_kind):
    model = randomize(keras3_equivalent_sequential(), 12)
    _run_keras2_case(tmp_path, keras2_sequential_json(), model, weight_kind)


@pytest.mark.parametrize("weight_kind", ["weights.h5", "legacy-weights.h5"])
def test_keras22_sequential_without_input_layer(tmp_path, weight_kind):
    model = randomize(keras3_equivalent_sequential(), 16)
    assert io_names(model)[0] == ["conv2d_input"]
    config = keras22_sequential_json_without_input_layer()
    _run_keras2_case(tmp_path, config, model, weight_kind)


def test_keras2_json_is_what_keras_legacy_loader_reads():
    """Sanity check of the hand-written Keras 2 configs: Keras's own legacy
    loader rebuilds them into the same architecture as the Keras 3 twins."""
    from keras.src.legacy.saving.saving_utils import model_from_config

    for config, twin in [
        (keras2_functional_json(), keras3_equivalent_functional()),
        (keras2_functional_json("Model", "2.2.4"), keras3_equivalent_functional()),
        (keras2_sequential_json(), keras3_equivalent_sequential()),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # LeakyReLU's deprecated "alpha"
            loaded = model_from_config(copy.deepcopy(config))
        assert [layer.name for layer in loaded.layers] == [layer.name for layer in twin.layers]
        assert [tuple(w.shape) for w in loaded.weights] == [tuple(w.shape) for w in twin.weights]
        assert [tuple(t.shape) for t in loaded.outputs] == [tuple(t.shape) for t in twin.outputs]


# --------------------------------------------------------------------------
# Random weights from JSON alone


def _compile_bytes(source, tmp_path, name, **kwargs):
    res = compiler.compile(source, **kwargs)
    path = tmp_path / name
    compiler.save(res, path)
    return res, path, path.read_bytes()


def test_random_weights_from_json_alone(tmp_path):
    model = _small_functional()
    json_path = tmp_path / "model.json"
    json_path.write_text(model.to_json())

    res, path, first = _compile_bytes(json_path, tmp_path, "a.onnx", seed=0)
    assert res.random_weights is True
    onnx.checker.check_model(str(path), full_check=True)
    ops = op_types(onnx.load(str(path)))
    assert "BatchNormalization" not in ops and "Dropout" not in ops

    in_names, out_names = io_names(model)
    proto = onnx.load(str(path))
    assert [i.name for i in graph_inputs(proto)] == in_names
    assert [o.name for o in proto.graph.output] == out_names

    arrays = make_inputs(model, batch=4, seed=1)
    names, outputs = run_onnx(path, dict(zip(in_names, arrays, strict=True)))
    assert names == out_names
    for got, t in zip(outputs, model.outputs, strict=True):
        assert got.shape == (4,) + tuple(t.shape[1:])
        assert np.all(np.isfinite(got))
        assert np.any(got != 0)
    # probabilities from the softmax head
    np.testing.assert_allclose(outputs[0].sum(axis=1), 1.0, rtol=1e-5)

    _, _, again = _compile_bytes(json_path, tmp_path, "b.onnx", seed=0)
    assert again == first, "same JSON and seed must give byte-identical ONNX"
    _, _, other = _compile_bytes(json_path, tmp_path, "c.onnx", seed=1)
    assert other != first, "a different seed must give different weights"


def test_random_weights_default_seed_is_deterministic(tmp_path):
    model = _small_functional()
    json_path = tmp_path / "model.json"
    json_path.write_text(model.to_json())
    _, _, a = _compile_bytes(json_path, tmp_path, "a.onnx")
    _, _, b = _compile_bytes(json_path, tmp_path, "b.onnx")
    assert a == b


def test_real_weights_compile_is_deterministic(tmp_path):
    model = randomize(_small_functional(), 5)
    path = tmp_path / "model.keras"
    model.save(path)
    _, _, a = _compile_bytes(path, tmp_path, "a.onnx")
    _, _, b = _compile_bytes(path, tmp_path, "b.onnx")
    assert a == b


def test_seed_is_ignored_when_weights_are_given(tmp_path):
    model = randomize(_small_functional(), 6)
    path = tmp_path / "model.keras"
    model.save(path)
    res0, _, a = _compile_bytes(path, tmp_path, "a.onnx", seed=0)
    res1, _, b = _compile_bytes(path, tmp_path, "b.onnx", seed=123)
    assert res0.random_weights is False and res1.random_weights is False
    assert a == b


# --------------------------------------------------------------------------
# input_layout="nchw"


def test_nchw_input_layout(tmp_path):
    model = randomize(_small_functional(), 7)
    check(model, tmp_path, input_layout="nchw", forms=("keras", "json+weights"))


def test_nchw_matches_nhwc_numbers(tmp_path):
    model = randomize(_small_functional(), 8)
    source, weights = save_source(model, "json+weights", tmp_path / "src")
    arrays = make_inputs(model, batch=2, seed=3)
    in_names, _ = io_names(model)
    results = {}
    for layout in ("nhwc", "nchw"):
        res = compiler.compile(source, weights=weights, input_layout=layout)
        path = tmp_path / f"{layout}.onnx"
        compiler.save(res, path)
        feeds = {n: to_layout(a, layout) for n, a in zip(in_names, arrays, strict=True)}
        results[layout] = run_onnx(path, feeds)[1]
    for a, b in zip(results["nhwc"], results["nchw"], strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_nchw_multi_input_only_transposes_images(tmp_path):
    img = keras.Input((6, 8, 3), name="image")
    vec = keras.Input((4,), name="vector")
    seq = keras.Input((5, 2), name="sequence")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(img)
    g = layers.GlobalAveragePooling2D(name="gap")(x)
    s = layers.Flatten(name="seq_flat")(layers.Dense(3, name="seq_dense")(seq))
    h = layers.Concatenate(name="cat")([g, vec, s])
    out = layers.Dense(2, name="head")(h)
    model = keras.Model([img, vec, seq], [out, x])
    randomize(model, 9)
    check(model, tmp_path, input_layout="nchw", forms=("json+weights",))


def test_nchw_input_feeding_flatten_and_dense(tmp_path):
    # The NHWC flatten order must hold even though the caller feeds NCHW.
    inp = keras.Input((3, 4, 2), name="image")
    x = layers.Flatten(name="flat")(inp)
    out = layers.Dense(3, name="head")(x)
    model = keras.Model(inp, out)
    randomize(model, 10)
    check(model, tmp_path, input_layout="nchw", forms=("json+weights",))


# --------------------------------------------------------------------------
# Reports and errors


def test_report_lists_passes(tmp_path):
    model = randomize(_small_functional(), 13)
    path = tmp_path / "model.keras"
    model.save(path)
    res = compiler.compile(path)
    assert isinstance(res.report, list) and res.report
    for entry in res.report:
        assert isinstance(entry.name, str) and entry.name
        assert isinstance(entry.summary, str)


def test_unbuilt_sequential_is_a_compile_error(tmp_path):
    model = keras.Sequential([layers.Dense(3, name="d")], name="unbuilt")
    json_path = tmp_path / "model.json"
    json_path.write_text(model.to_json())
    with pytest.raises(compiler.CompileError):
        compiler.compile(json_path)


def test_weights_missing_a_layer_is_a_compile_error(tmp_path):
    model = _small_functional()
    json_path = tmp_path / "model.json"
    json_path.write_text(model.to_json())
    # weights of a different model: layer names do not line up
    inp = keras.Input((12, 10, 3), name="image")
    other = keras.Model(inp, layers.Conv2D(8, 3, padding="same", name="something_else")(inp))
    weights = tmp_path / "other.weights.h5"
    other.save_weights(weights)
    with pytest.raises(compiler.CompileError):
        compiler.compile(json_path, weights=weights)


def test_weights_of_wrong_shape_is_a_compile_error(tmp_path):
    def build(filters):
        inp = keras.Input((6, 6, 3), name="image")
        x = layers.Conv2D(filters, 3, name="conv")(inp)
        return keras.Model(inp, layers.Dense(2, name="head")(x))

    json_path = tmp_path / "model.json"
    json_path.write_text(build(4).to_json())
    weights = tmp_path / "model.weights.h5"
    build(5).save_weights(weights)
    with pytest.raises(compiler.CompileError):
        compiler.compile(json_path, weights=weights)
