"""MultiHeadAttention, Attention and AdditiveAttention against Keras, option by option, with the
attention fusion on and off, for every target; tf.keras files; the Python frontend.

Biases (Keras starts them at zero) and the attention layers' scalar weights are drawn at random
so every weight's place is exercised. Masks have a row with nothing to attend to, where Keras's
two softmax paths differ (uniform or zero).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from keras import layers

import compiler

from .harness import EVERY_FORM, check, check_tf_keras, keras_predict, rel_error, run_onnx, tf_keras_sources


def randomize_attention(model: keras.Model, seed: int = 0) -> keras.Model:
    """Random biases, scales and score weights (Keras starts them at zero or one)."""
    rng = np.random.default_rng(seed)
    for var in model.weights:
        path = var.path
        if any(key in path for key in ("bias", "scale", "concat_score_weight")):
            var.assign(rng.normal(0.0 if "bias" in path else 1.0, 0.5, tuple(var.shape)).astype("float32"))
    return model


def named(x: Any, name: str) -> Any:
    """A model output under its own name (a layer's second output shares the layer's name)."""
    return layers.Activation("linear", name=name)(x)


def seq_inputs(*shapes: tuple[int, ...], seed: int = 0, batch: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, *s)).astype(np.float32) for s in shapes]


def padding_mask(t: int, s: int, batch: int = 2, seed: int = 1) -> np.ndarray:
    """A (batch, T, S) 0/1 mask with one query row that may attend to nothing."""
    mask = (np.random.default_rng(seed).random((batch, t, s)) > 0.35).astype(np.float32)
    mask[:, :, 0] = 1.0
    mask[0, 1, :] = 0.0
    return mask


# -- MultiHeadAttention, option by option ------------------------------------------------------------
MHA_CASES = {
    "self": ({"num_heads": 2, "key_dim": 4}, (6, 8), None, None),
    "cross_key_value_dim_no_bias": (
        {"num_heads": 3, "key_dim": 4, "value_dim": 5, "use_bias": False, "output_shape": 7},
        (5, 8),
        (7, 6),
        (7, 3),
    ),
    "output_shape_tuple_dropout": (
        {"num_heads": 2, "key_dim": 3, "output_shape": (2, 3), "dropout": 0.3},
        (4, 6),
        (5, 6),
        None,
    ),
    "gate": ({"num_heads": 2, "key_dim": 4, "use_gate": True}, (5, 8), (6, 8), None),
}


@pytest.mark.covers(
    "MultiHeadAttention", "num_heads, key_dim, value_dim, use_bias, output_shape, dropout, use_gate, key, lengths"
)
@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multi_head_attention_options(case: str, tmp_path: Path) -> None:
    cfg, q_shape, v_shape, k_shape = MHA_CASES[case]
    q = keras.Input(q_shape, name="query")
    ins = [q]
    v = q
    if v_shape is not None:
        v = keras.Input(v_shape, name="value")
        ins.append(v)
    kwargs = {}
    if k_shape is not None:
        kwargs["key"] = keras.Input(k_shape, name="key")
        ins.append(kwargs["key"])
    out = layers.MultiHeadAttention(**cfg, name="mha")(q, v, **kwargs)
    model = randomize_attention(keras.Model(ins, out))
    result = check(model, tmp_path / "onnx", forms=EVERY_FORM)
    result.assert_ops(MatMul=6 if not cfg.get("use_gate") else 7, Softmax=1, MultiHeadAttention=0)
    fused = check(model, tmp_path / "ort", forms=("keras",), target="ort")
    fused.assert_ops(MultiHeadAttention=1, Softmax=0)


@pytest.mark.covers("MultiHeadAttention", "attention_axes (2-D attention over image axes, one inner axis)")
@pytest.mark.parametrize("axes", [(1, 2), 2, None])
def test_multi_head_attention_axes(axes: Any, tmp_path: Path) -> None:
    x = keras.Input((3, 4, 6), name="image")
    out = layers.MultiHeadAttention(2, 4, attention_axes=axes, name="mha")(x, x)
    model = randomize_attention(keras.Model(x, out))
    result = check(model, tmp_path, forms=EVERY_FORM)
    result.assert_ops(Softmax=1)
    check(model, tmp_path / "ort", forms=("keras",), target="ort").assert_ops(MultiHeadAttention=1)


@pytest.mark.covers("MultiHeadAttention", "attention_mask input, return_attention_scores")
@pytest.mark.parametrize("scores", [False, True], ids=["output", "scores"])
def test_multi_head_attention_mask(scores: bool, tmp_path: Path) -> None:
    """Keras 3 gives a row with nothing to attend to uniform weights on its fast path (no scores
    returned) and zeros on its Softmax-layer path (scores returned); both are matched."""
    q, v = keras.Input((5, 8), name="query"), keras.Input((6, 8), name="value")
    m = keras.Input((5, 6), name="mask")
    mha = layers.MultiHeadAttention(2, 4, name="mha")
    if scores:
        out, probs = mha(q, v, attention_mask=m, return_attention_scores=True)
        outputs = [out, named(probs, "scores")]
    else:
        outputs = mha(q, v, attention_mask=m)
    model = randomize_attention(keras.Model([q, v, m], outputs))
    arrays = [*seq_inputs((5, 8), (6, 8)), padding_mask(5, 6)]
    if scores:  # Keras's symbolic shape of the scores says (T, T); compare the values
        return _compare_values(model, arrays, tmp_path)
    check(model, tmp_path, inputs=arrays, forms=EVERY_FORM).assert_ops(Where=1, Softmax=1)
    check(model, tmp_path / "ort", inputs=arrays, forms=("keras",), target="ort").assert_ops(MultiHeadAttention=1)


def _compare_values(model: keras.Model, arrays: list[np.ndarray], tmp_path: Path, **options: Any) -> None:
    """Compile the .keras file and compare every output with Keras by value and shape."""
    path = tmp_path / "model.keras"
    model.save(path)
    want = keras_predict(model, arrays)
    for target in ("onnx", "ort"):
        res = compiler.compile(path, target=target, **options)
        onnx_path = compiler.save(res, tmp_path / f"{target}.onnx")
        names = [i.name for i in model.inputs]
        _, got = run_onnx(str(onnx_path), dict(zip(names, arrays, strict=True)))
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape
            assert rel_error(g, w) <= 1e-4, f"{target}: {rel_error(g, w):.2e}"


@pytest.mark.covers("MultiHeadAttention", "use_causal_mask (self and cross attention)")
@pytest.mark.parametrize("value_steps", [6, 4])
def test_multi_head_attention_causal(value_steps: int, tmp_path: Path) -> None:
    q, v = keras.Input((6, 8), name="query"), keras.Input((value_steps, 8), name="value")
    out = layers.MultiHeadAttention(2, 4, name="mha")(q, v, use_causal_mask=True)
    model = randomize_attention(keras.Model([q, v], out))
    check(model, tmp_path, forms=EVERY_FORM).assert_ops(Where=1, Softmax=1)
    check(model, tmp_path / "ort", forms=("keras",), target="ort").assert_ops(MultiHeadAttention=1, Softmax=0)


@pytest.mark.covers("MultiHeadAttention", "fuse_attention on and off, every target")
@pytest.mark.parametrize("target", ["onnx", "ort", "tensorrt"])
@pytest.mark.parametrize("fusion", ["on", "off"])
def test_attention_fusion_on_and_off(target: str, fusion: str, tmp_path: Path) -> None:
    x = keras.Input((6, 8), name="tokens")
    y = layers.MultiHeadAttention(2, 4, name="mha")(x, x, use_causal_mask=True)
    model = randomize_attention(keras.Model(x, layers.Add()([x, y])))
    options = {"passes": "-fuse_attention"} if fusion == "off" else {}
    result = check(model, tmp_path, forms=("keras",), target=target, **options)
    fused = target == "ort" and fusion == "on"
    result.assert_ops(MultiHeadAttention=int(fused), Softmax=0 if fused else 1)
    if not fused:  # the portable form: the head split and merge, nothing a weight reorder removes
        result.assert_ops(MatMul=6, Transpose=4, Reshape=4)
    passes = {r.name: r for r in result["keras"].compiled.report}
    assert ("fuse_attention" in passes) == (fusion == "on")


# -- Attention and AdditiveAttention -------------------------------------------------------------------
ATTENTION_CASES = {
    "dot": (layers.Attention, {}),
    "dot_scale": (layers.Attention, {"use_scale": True, "dropout": 0.2}),
    "concat": (layers.Attention, {"score_mode": "concat"}),
    "concat_scale": (layers.Attention, {"score_mode": "concat", "use_scale": True}),
    "additive": (layers.AdditiveAttention, {}),
    "additive_no_scale": (layers.AdditiveAttention, {"use_scale": False}),
}


@pytest.mark.covers("Attention", "use_scale, score_mode dot/concat, dropout, key, use_causal_mask")
@pytest.mark.covers("AdditiveAttention", "use_scale, key, use_causal_mask")
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("case", list(ATTENTION_CASES))
def test_attention_layers(case: str, causal: bool, tmp_path: Path) -> None:
    cls, cfg = ATTENTION_CASES[case]
    q, v, k = keras.Input((5, 4), name="query"), keras.Input((5, 3), name="value"), keras.Input((5, 4), name="key")
    out = cls(**cfg, name="att")([q, v, k], use_causal_mask=causal)
    model = randomize_attention(keras.Model([q, v, k], out))
    check(model, tmp_path, forms=EVERY_FORM)


@pytest.mark.covers("Attention", "return_attention_scores")
@pytest.mark.covers("AdditiveAttention", "return_attention_scores")
@pytest.mark.parametrize("cls", [layers.Attention, layers.AdditiveAttention])
def test_attention_scores_output(cls: type, tmp_path: Path) -> None:
    q, v = keras.Input((5, 4), name="query"), keras.Input((6, 4), name="value")
    out, scores = cls(name="att")([q, v], return_attention_scores=True)
    model = randomize_attention(keras.Model([q, v], [out, named(scores, "scores")]))
    check(model, tmp_path, forms=EVERY_FORM)


# -- tf.keras files and the Python frontend -----------------------------------------------------------------
@pytest.mark.covers("MultiHeadAttention", "tf.keras .h5, JSON + weights, with attention_mask and causal")
def test_tf_keras_multi_head_attention(tmp_path: Path) -> None:
    import tf_keras  # heavy and only needed here

    q = tf_keras.Input((5, 8), name="query")
    v = tf_keras.Input((5, 6), name="value")
    m = tf_keras.Input((5, 5), name="mask")
    x = tf_keras.layers.MultiHeadAttention(2, 4, value_dim=3, name="mha")(q, v, attention_mask=m)
    y = tf_keras.layers.MultiHeadAttention(2, 3, name="causal")(x, x, use_causal_mask=True)
    model = tf_keras.Model([q, v, m], [y, tf_keras.layers.Attention(name="att")([y, q])])
    rng = np.random.default_rng(0)
    for w in model.weights:
        if "bias" in w.name:
            w.assign(rng.normal(0, 0.5, tuple(w.shape)).astype("float32"))
    check_tf_keras(model, tf_keras_sources(model, tmp_path))


PY_MODEL = """
import keras
from keras import layers

tokens = keras.Input((6, 8), name="tokens")
context = keras.Input((4, 6), name="context")
mask = keras.Input((6, 4), name="mask")
x = layers.MultiHeadAttention(2, 4, name="self_attention")(tokens, tokens, use_causal_mask=True)
x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([tokens, x]))
y, scores = layers.MultiHeadAttention(2, 4, value_dim=3, name="cross")(
    x, context, key=context, attention_mask=mask, return_attention_scores=True
)
z = layers.AdditiveAttention(name="additive")([y, x])
model = keras.Model([tokens, context, mask], [z, layers.Activation("linear", name="scores")(scores)])
"""


@pytest.mark.covers("MultiHeadAttention", "Python model file (.py)")
def test_python_file_with_attention(tmp_path: Path) -> None:
    import runpy

    path = tmp_path / "model.py"
    path.write_text(PY_MODEL)
    keras.backend.clear_session()
    model = randomize_attention(runpy.run_path(str(path), run_name="__kerascc_model__")["model"])
    weights = tmp_path / "model.weights.h5"
    model.save_weights(weights)
    arrays = [*seq_inputs((6, 8), (4, 6)), padding_mask(6, 4)]
    want = keras_predict(model, arrays)
    res = compiler.compile(path, weights=weights)
    _, got = run_onnx(res.serialize(), dict(zip(["tokens", "context", "mask"], arrays, strict=True)))
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and rel_error(g, w) <= 1e-4


# -- refusals -------------------------------------------------------------------------------------------
def test_refusals_name_the_layer(tmp_path: Path) -> None:
    x = keras.Input((6, 8), name="tokens")
    out = layers.MultiHeadAttention(2, 4, sliding_window=2, name="band")(x, x)
    path = tmp_path / "model.keras"
    keras.Model(x, out).save(path)
    with pytest.raises(compiler.CompileError) as err:
        compiler.compile(path)
    assert "band" in str(err.value) and "sliding_window" in str(err.value)
