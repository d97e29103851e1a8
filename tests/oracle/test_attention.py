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

from .harness import EVERY_FORM, FORMS, check, check_tf_keras, keras_predict, rel_error, run_onnx, tf_keras_sources


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
ATTENTION_CASES = {  # (class, config, use_causal_mask)
    "dot": (layers.Attention, {}, False),
    "dot_scale_causal": (layers.Attention, {"use_scale": True, "dropout": 0.2}, True),
    "concat_causal": (layers.Attention, {"score_mode": "concat"}, True),
    "concat_scale": (layers.Attention, {"score_mode": "concat", "use_scale": True}, False),
    "additive_causal": (layers.AdditiveAttention, {}, True),
    "additive_no_scale": (layers.AdditiveAttention, {"use_scale": False}, False),
}


@pytest.mark.covers("Attention", "use_scale, score_mode dot/concat, dropout, key, use_causal_mask")
@pytest.mark.covers("AdditiveAttention", "use_scale, key, use_causal_mask")
@pytest.mark.parametrize("case", list(ATTENTION_CASES))
def test_attention_layers(case: str, tmp_path: Path) -> None:
    cls, cfg, causal = ATTENTION_CASES[case]
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


@pytest.mark.covers("MultiHeadAttention", "masks propagated from Embedding(mask_zero=True), kept on the output")
@pytest.mark.covers("Attention", "masks propagated from Embedding (value mask, masked queries zeroed)")
@pytest.mark.covers("AdditiveAttention", "masks propagated from Embedding")
@pytest.mark.parametrize("kind", ["mha", "mha_scores", "cross_mha", "attention", "additive"])
def test_masks_from_embedding(kind: str, tmp_path: Path) -> None:
    """Padding masks reach the attention as Keras's query/value masks; the second block sees the
    mask the first one's output keeps (through the residual Add)."""
    tokens = keras.Input((7,), dtype="int32", name="tokens")
    ins = [tokens]
    x = layers.Embedding(20, 8, mask_zero=True, name="embed")(tokens)
    outputs: Any
    if kind.endswith("mha"):
        other = x
        if kind == "cross_mha":
            ins.append(keras.Input((5,), dtype="int32", name="context"))
            other = layers.Embedding(20, 8, mask_zero=True, name="other")(ins[1])
        h = layers.MultiHeadAttention(2, 4, name="mha")(x, other)
        x = layers.Add()([x, h])
        outputs = layers.MultiHeadAttention(2, 4, name="mha2")(x, x)
    elif kind == "mha_scores":
        out, probs = layers.MultiHeadAttention(2, 4, name="mha")(x, x, return_attention_scores=True)
        outputs = [out, named(probs, "scores")]
    else:
        cls = layers.Attention if kind == "attention" else layers.AdditiveAttention
        outputs = cls(name="att")([x, x])
    model = randomize_attention(keras.Model(ins, outputs))
    rng = np.random.default_rng(0)
    ids = [rng.integers(1, 20, (2, t.shape[1])).astype(np.int32) for t in ins]
    ids[0][0, 4:] = 0
    ids[0][1, :2] = 0
    ids[-1][1, 3:] = 0
    check(model, tmp_path, inputs=ids, forms=EVERY_FORM)
    if kind != "mha_scores":
        check(model, tmp_path / "ort", inputs=ids, forms=("keras",), target="ort")


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


# -- whole models --------------------------------------------------------------------------------------------
def encoder_block(x: Any, heads: int, dim: int, mlp: int, name: str, causal: bool = False) -> Any:
    """Pre-norm transformer encoder block: x + MHA(LN(x)), then x + MLP(LN(x)) with gelu."""
    h = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln1")(x)
    h = layers.MultiHeadAttention(heads, dim // heads, dropout=0.1, name=f"{name}_mha")(h, h, use_causal_mask=causal)
    x = layers.Add(name=f"{name}_res1")([x, h])
    h = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln2")(x)
    h = layers.Dense(mlp, activation="gelu", name=f"{name}_mlp1")(h)
    h = layers.Dense(dim, name=f"{name}_mlp2")(layers.Dropout(0.1)(h))
    return layers.Add(name=f"{name}_res2")([x, h])


def vit(image: int = 16, patch: int = 4, dim: int = 32, heads: int = 4, blocks: int = 4) -> keras.Model:
    """A small ViT: Conv2D patchify + Reshape, a learned class token joined by Concatenate, learned
    position embeddings, pre-norm encoder blocks, the class token's LayerNorm and a head.

    The class token and the position table are learned constants written with standard layers:
    the bias of a Dense applied to zeros (a patch rescaled by 0), reshaped to the token or the table."""
    n = (image // patch) ** 2
    inp = keras.Input((image, image, 3), name="image")
    x = layers.Conv2D(dim, patch, strides=patch, name="patchify")(inp)
    x = layers.Reshape((n, dim), name="patches")(x)
    zeros = layers.Rescaling(0.0, name="zeros")(layers.Cropping1D((0, n - 1), name="first_patch")(x))
    cls = layers.Dense(dim, name="class_token")(zeros)
    x = layers.Concatenate(axis=1, name="with_class")([cls, x])
    table = layers.Dense((n + 1) * dim, name="position_table")(layers.Flatten()(zeros))
    x = layers.Add(name="positions")([x, layers.Reshape((n + 1, dim))(table)])
    for i in range(blocks):
        x = encoder_block(x, heads, dim, 2 * dim, f"block{i}")
    x = layers.LayerNormalization(epsilon=1e-6, name="final_ln")(x)
    token = layers.Flatten()(layers.Cropping1D((0, n), name="class_out")(x))
    return keras.Model(inp, layers.Dense(10, name="head")(token), name="vit")


def text_transformer(vocab: int = 50, steps: int = 12, dim: int = 32, heads: int = 4, blocks: int = 2) -> keras.Model:
    """A causal language model on token ids: Embedding(mask_zero) plus an Embedding over a
    positions input, causal pre-norm blocks (padding and causal masks combined), logits per step."""
    tokens = keras.Input((steps,), dtype="int32", name="tokens")
    positions = keras.Input((steps,), dtype="int32", name="positions")
    x = layers.Embedding(vocab, dim, mask_zero=True, name="token_embedding")(tokens)
    x = layers.Add(name="embed")([x, layers.Embedding(steps, dim, name="position_embedding")(positions)])
    for i in range(blocks):
        x = encoder_block(x, heads, dim, 2 * dim, f"block{i}", causal=True)
    x = layers.LayerNormalization(epsilon=1e-6, name="final_ln")(x)
    return keras.Model([tokens, positions], layers.Dense(vocab, name="logits")(x), name="text")


def token_inputs(vocab: int = 50, steps: int = 12, batch: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Token ids with zero padding at the end of the first sequence, and the positions 0…steps-1."""
    ids = np.random.default_rng(seed).integers(1, vocab, (batch, steps)).astype(np.int32)
    ids[0, -3:] = 0
    return [ids, np.tile(np.arange(steps, dtype=np.int32), (batch, 1))]


def time_series_transformer(steps: int = 16, features: int = 5, dim: int = 16, blocks: int = 2) -> keras.Model:
    """Keras's time-series classification transformer: post-norm blocks whose feed-forward is two
    Conv1D of kernel 1, global average pooling over time, a softmax head."""
    inp = keras.Input((steps, features), name="series")
    x = layers.Dense(dim, name="embed")(inp)
    for i in range(blocks):
        h = layers.MultiHeadAttention(2, 8, dropout=0.1, name=f"block{i}_mha")(x, x)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln1")(layers.Add()([x, h]))
        h = layers.Conv1D(32, 1, activation="relu", name=f"block{i}_ff1")(x)
        h = layers.Conv1D(dim, 1, name=f"block{i}_ff2")(layers.Dropout(0.1)(h))
        x = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln2")(layers.Add()([x, h]))
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(inp, layers.Dense(3, activation="softmax", name="head")(x), name="series_transformer")


def mobilevit_block(size: int = 8, channels: int = 16, dim: int = 24, patch: int = 2) -> keras.Model:
    """A MobileViT block: local 3×3 and 1×1 convolutions, the map unfolded into patches (pixels
    at one position within every patch form a sequence), a transformer over each such sequence
    (attention over the inner axis), folded back, a 1×1 projection, concatenated with the input
    and fused by a 3×3 convolution."""
    p, n = patch * patch, (size // patch) ** 2
    inp = keras.Input((size, size, channels), name="features")
    x = layers.Conv2D(channels, 3, padding="same", activation="swish", name="local3")(inp)
    x = layers.Conv2D(dim, 1, name="local1")(x)
    g = size // patch
    x = layers.Reshape((g, patch, g, patch, dim), name="unfold_split")(x)
    x = layers.Permute((2, 4, 1, 3, 5), name="unfold_order")(x)
    x = layers.Reshape((p, n, dim), name="unfold")(x)  # (batch, pixel in patch, patch, dim)
    for i in range(2):
        h = layers.LayerNormalization(epsilon=1e-6, name=f"t{i}_ln1")(x)
        h = layers.MultiHeadAttention(2, 8, attention_axes=2, name=f"t{i}_mha")(h, h)
        x = layers.Add()([x, h])
        h = layers.LayerNormalization(epsilon=1e-6, name=f"t{i}_ln2")(x)
        h = layers.Dense(2 * dim, activation="swish", name=f"t{i}_mlp1")(h)
        x = layers.Add()([x, layers.Dense(dim, name=f"t{i}_mlp2")(h)])
    x = layers.Reshape((patch, patch, g, g, dim), name="fold_split")(x)
    x = layers.Permute((3, 1, 4, 2, 5), name="fold_order")(x)
    x = layers.Reshape((size, size, dim), name="fold")(x)
    x = layers.Conv2D(channels, 1, name="project")(x)
    x = layers.Concatenate(name="join")([inp, x])
    return keras.Model(inp, layers.Conv2D(channels, 3, padding="same", name="fuse")(x), name="mobilevit")


def randomize_model(model: keras.Model, seed: int = 0) -> keras.Model:
    from .harness import randomize_norms

    return randomize_norms(randomize_attention(model, seed), seed)


WHOLE_MODELS = {  # (builder, inputs, source forms)
    "vit": (vit, None, EVERY_FORM),
    "text_transformer": (text_transformer, token_inputs, EVERY_FORM),
    "time_series_transformer": (time_series_transformer, None, FORMS),
    "mobilevit_block": (mobilevit_block, None, FORMS),
}


@pytest.mark.covers("transformer models", "WHOLE_MODELS")
@pytest.mark.parametrize("name", list(WHOLE_MODELS))
def test_whole_transformer_models(name: str, tmp_path: Path) -> None:
    build, inputs, forms = WHOLE_MODELS[name]
    model = randomize_model(build())
    arrays = inputs() if inputs is not None else None
    result = check(model, tmp_path / "onnx", inputs=arrays, forms=forms)
    blocks = sum(isinstance(layer, layers.MultiHeadAttention) for layer in model.layers)
    head = int(name == "time_series_transformer")  # its classifier's softmax
    result.assert_ops(Softmax=blocks + head, MultiHeadAttention=0)
    fused = check(model, tmp_path / "ort", inputs=arrays, forms=("keras",), target="ort")
    fused.assert_ops(MultiHeadAttention=blocks, Softmax=head)
