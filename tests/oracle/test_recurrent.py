"""Recurrent layers against Keras: LSTM, GRU, SimpleRNN, Bidirectional, ConvLSTM, states and masks.

Keras starts recurrent biases at zero (the LSTM's forget gate at one): ``randomize`` draws them,
and the inputs are standard normal, so every gate is exercised away from its trivial point.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

import compiler
from compiler.errors import UnsupportedLayerError

from .harness import at_most, check, randomize, rel_error, run_onnx

STEPS, FEATURES = 6, 5


def named(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    """A layer's second or third output as a model output of its own name (ONNX names are unique)."""
    return layers.Activation("linear", name=name)(x)


def seq_input(name: str = "seq", steps: int | None = STEPS, features: int = FEATURES) -> keras.KerasTensor:
    return keras.Input((steps, features), name=name)


@pytest.mark.covers("LSTM", "units, return_sequences, go_backwards, use_bias, recurrent_activation, unroll")
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"return_sequences": True},
        {"go_backwards": True, "return_sequences": True},
        {"go_backwards": True, "use_bias": False},
        {"recurrent_activation": "hard_sigmoid", "activation": "relu", "unroll": True, "dropout": 0.3},
    ],
    ids=["last", "sequences", "backwards", "nobias", "hardsigmoid"],
)
def test_lstm(options, tmp_path):
    inp = seq_input()
    out = layers.LSTM(7, name="lstm", **options)(inp)
    result = check(randomize(keras.Model(inp, out), 1), tmp_path, batch=3)
    result.assert_ops(LSTM=1, Transpose=at_most_edges(options))
    assert path_report(result) == "lstm: ONNX LSTM"


def path_report(result) -> str:
    """What the compile report says of the recurrent layers' lowering."""
    (report,) = [r for r in result["keras"].compiled.report if r.name == "recurrent_paths"]
    return report.summary


def at_most_edges(options: dict) -> range:
    """The input's transpose to time-major, and the sequence's back (the edges only)."""
    return range(0, 3 if options.get("return_sequences") else 2)


@pytest.mark.covers("GRU", "units, reset_after, return_sequences, go_backwards, activation")
@pytest.mark.parametrize(
    "options",
    [
        {"reset_after": False, "return_sequences": True},
        {"reset_after": False, "go_backwards": True},
        {"return_sequences": True, "go_backwards": True, "activation": "softsign", "recurrent_dropout": 0.2},
    ],
    ids=["reset_before", "backwards", "softsign"],
)
def test_gru(options, tmp_path):
    inp = seq_input()
    out = layers.GRU(6, name="gru", **options)(inp)
    result = check(randomize(keras.Model(inp, out), 2), tmp_path, batch=3)
    result.assert_ops(GRU=1)


@pytest.mark.covers("SimpleRNN", "units, activation, return_sequences, go_backwards, use_bias")
@pytest.mark.parametrize(
    "options",
    [{"return_sequences": True, "activation": "relu"}, {"go_backwards": True, "use_bias": False}],
    ids=["relu", "backwards"],
)
def test_simple_rnn(options, tmp_path):
    inp = seq_input()
    out = layers.SimpleRNN(4, name="rnn", **options)(inp)
    result = check(randomize(keras.Model(inp, out), 3), tmp_path, batch=3)
    result.assert_ops(RNN=1)


@pytest.mark.covers("LSTM", "return_state, stacked layers, initial_state (encoder-decoder)")
def test_lstm_encoder_decoder(tmp_path):
    """A seq2seq model: the encoder's final states start the decoder; states are outputs too."""
    enc_in = seq_input("encoder")
    dec_in = keras.Input((4, 3), name="decoder")
    x = layers.LSTM(8, return_sequences=True, name="enc1")(enc_in)
    _, h, c = layers.LSTM(8, return_state=True, name="enc2")(x)
    y, dh, _ = layers.LSTM(8, return_sequences=True, return_state=True, name="dec")(dec_in, initial_state=[h, c])
    out = layers.Dense(3, name="head")(y)
    result = check(randomize(keras.Model([enc_in, dec_in], [out, dh]), 4), tmp_path, batch=3)
    # the decoder's final c is read by nobody: no output for it; no transposes between the layers
    result.assert_ops(LSTM=3)
    assert result.transposes_inside == 0


@pytest.mark.covers("GRU", "initial_state, return_state")
def test_gru_initial_state(tmp_path):
    inp = seq_input()
    state = keras.Input((5,), name="state")
    y, h = layers.GRU(5, return_sequences=True, return_state=True, name="gru")(inp, initial_state=[state])
    check(randomize(keras.Model([inp, state], [y, named(h, "h")]), 5), tmp_path, batch=3)


@pytest.mark.covers("Bidirectional", "merge_mode concat/sum/mul/ave/None, return_sequences")
def test_bidirectional_merge_modes(tmp_path):
    inp = seq_input()
    outs = []
    for merge in ("concat", "sum", "mul", "ave"):
        outs.append(layers.Bidirectional(layers.LSTM(4, return_sequences=True), merge_mode=merge, name=merge)(inp))
    forward, backward = layers.Bidirectional(layers.GRU(3), merge_mode=None, name="none")(inp)
    result = check(randomize(keras.Model(inp, [*outs, forward, named(backward, "backward")]), 6), tmp_path, batch=3)
    result.assert_ops(LSTM=4, GRU=1)  # one ONNX op per layer, direction="bidirectional"


@pytest.mark.covers("Bidirectional", "backward_layer, GRU, return_state")
def test_bidirectional_backward_layer(tmp_path):
    inp = seq_input()
    forward = layers.GRU(4, reset_after=False, return_state=True)
    backward = layers.GRU(4, reset_after=False, go_backwards=True, return_state=True)
    y, hf, hb = layers.Bidirectional(forward, backward_layer=backward, name="bi")(inp)
    result = check(randomize(keras.Model(inp, [y, named(hf, "hf"), named(hb, "hb")]), 7), tmp_path, batch=3)
    result.assert_ops(GRU=1)


@pytest.mark.covers("Bidirectional", "unlike halves (LSTM forward, SimpleRNN backward)")
def test_bidirectional_unlike_halves(tmp_path):
    inp = seq_input()
    out = layers.Bidirectional(
        layers.LSTM(3, return_sequences=True),
        backward_layer=layers.SimpleRNN(3, return_sequences=True, go_backwards=True),
        name="bi",
    )(inp)
    result = check(randomize(keras.Model(inp, out), 8), tmp_path, batch=3)
    result.assert_ops(LSTM=1, RNN=1)


@pytest.mark.covers("LSTM", "stateful=True is refused")
def test_stateful_refused(tmp_path):
    inp = keras.Input((STEPS, FEATURES), batch_size=2, name="seq")
    model = keras.Model(inp, layers.LSTM(3, stateful=True, name="lstm")(inp))
    path = tmp_path / "model.json"
    path.write_text(model.to_json())
    with pytest.raises(UnsupportedLayerError, match="stateful=True"):
        compiler.compile(path)


@pytest.mark.covers("ConvLSTM2D", "filters, kernel_size, padding, return_sequences (next-frame model)")
def test_conv_lstm2d_next_frame(tmp_path):
    """The shape of Keras's next-frame example: stacked ConvLSTM2D over frames, a Conv3D head."""
    inp = keras.Input((4, 7, 7, 1), name="frames")
    x = layers.ConvLSTM2D(6, 3, padding="same", return_sequences=True, name="clstm1")(inp)
    x = layers.ConvLSTM2D(4, (3, 2), padding="same", return_sequences=True, name="clstm2")(x)
    out = layers.Conv3D(1, 3, padding="same", activation="sigmoid", name="head")(x)
    result = check(randomize(keras.Model(inp, out), 9), tmp_path, batch=2)
    result.assert_ops(Conv=2 + 2 * 3 + 1)  # per layer: the frames in one Conv, one per step after the first


@pytest.mark.covers("ConvLSTM2D", "strides, padding valid, go_backwards, return_state")
def test_conv_lstm2d_states(tmp_path):
    inp = keras.Input((3, 8, 7, 2), name="frames")
    y, h, c = layers.ConvLSTM2D(3, 3, strides=2, go_backwards=True, return_state=True, name="clstm")(inp)
    check(randomize(keras.Model(inp, [y, named(h, "h"), named(c, "c")]), 10), tmp_path, batch=2)


@pytest.mark.covers("ConvLSTM1D", "filters, kernel_size, dilation_rate, return_sequences")
def test_conv_lstm1d(tmp_path):
    inp = keras.Input((4, 11, 3), name="signal")
    out = layers.ConvLSTM1D(5, 3, dilation_rate=2, return_sequences=True, name="clstm")(inp)
    check(randomize(keras.Model(inp, out), 11), tmp_path, batch=2)


@pytest.mark.covers("LSTM", "tf.keras (Keras 2) .h5, hard_sigmoid")
@pytest.mark.covers("GRU", "tf.keras (Keras 2) .h5, reset_after=False")
@pytest.mark.covers("Bidirectional", "tf.keras (Keras 2) .h5")
def test_tf_keras_h5(tmp_path):
    """A Keras 2 model: legacy .h5, JSON + .h5 weights, JSON + .weights.h5; Keras 2's hard_sigmoid
    is clip(0.2·x + 0.5, 0, 1)."""
    import tf_keras

    from .harness import check_tf_keras, randomize_tf_keras, tf_keras_sources

    tl = tf_keras.layers
    inp = tf_keras.Input((STEPS, FEATURES), name="seq")
    x = tl.Bidirectional(tl.LSTM(6, return_sequences=True, recurrent_activation="hard_sigmoid"), name="bi")(inp)
    x = tl.GRU(4, reset_after=False, go_backwards=True, name="gru")(x)
    model = tf_keras.Model(inp, tl.Dense(2, name="head")(x))
    randomize_tf_keras(model, 12)
    result = check_tf_keras(model, tf_keras_sources(model, tmp_path))
    assert result.max_error < 1e-4


@pytest.mark.covers("LSTM", "activations the ONNX op lacks (gelu, swish, selu, relu6, mish): a Scan of the cell")
@pytest.mark.covers("GRU", "activation gelu, reset_after True/False: a Scan of the cell")
@pytest.mark.parametrize(
    "layer",
    [
        lambda: layers.LSTM(5, activation="gelu", return_sequences=True, name="rec"),
        lambda: layers.LSTM(5, recurrent_activation="swish", go_backwards=True, name="rec"),
        lambda: layers.GRU(5, activation="gelu", return_sequences=True, name="rec"),
        lambda: layers.GRU(5, activation="mish", reset_after=False, go_backwards=True, name="rec"),
        lambda: layers.SimpleRNN(5, activation="selu", return_sequences=True, name="rec"),
        lambda: layers.Bidirectional(layers.LSTM(3, activation="relu6", return_sequences=True), name="rec"),
    ],
    ids=["lstm_gelu", "lstm_swish_backwards", "gru_gelu", "gru_mish_reset_before", "rnn_selu", "bi_relu6"],
)
def test_scan_fallback(layer, tmp_path):
    inp = seq_input()
    result = check(randomize(keras.Model(inp, layer()(inp)), 13), tmp_path, batch=3)
    result.assert_ops(Scan=range(1, 3), LSTM=0, GRU=0, RNN=0)
    assert "rec: Scan of the Keras cell" in path_report(result)


# --------------------------------------------------------------------------
# masks: Keras skips masked steps (states carried, the previous output repeated or zeros)

STACK_VOCAB = 17


def token_stack() -> keras.Model:
    """The issue's stack: masked Embedding → Bidirectional(LSTM, sequences) → GRU(reset_after=False,
    go_backwards) → Dense."""
    tokens = keras.Input((7,), dtype="int32", name="tokens")
    x = layers.Embedding(STACK_VOCAB, 6, mask_zero=True, name="embed")(tokens)
    x = layers.Bidirectional(layers.LSTM(5, return_sequences=True), name="bi")(x)
    x = layers.GRU(4, reset_after=False, go_backwards=True, name="gru")(x)
    return keras.Model(tokens, layers.Dense(3, name="head")(x))


def padded_ids(batch: int = 4, steps: int = 7) -> np.ndarray:
    """Right padding, left padding (pad_sequences' default), a gap inside, and a row of padding only."""
    rng = np.random.default_rng(3)
    x = rng.integers(1, STACK_VOCAB, (batch, steps)).astype(np.int32)
    x[0, 5:] = 0
    x[1, :3] = 0
    x[2, [1, 4]] = 0
    x[3, :] = 0
    return x


@pytest.mark.covers(
    "Bidirectional", "masked Embedding → Bidirectional(LSTM, return_sequences) → GRU(reset_after=False, go_backwards)"
)
@pytest.mark.covers("LSTM", "masks: right/left padded, gaps, all masked (sequence_lens on compacted steps)")
def test_masked_token_stack(tmp_path):
    from .test_sequence import check_every_form

    model = randomize(token_stack(), 14)
    result = check_every_form(model, tmp_path, [padded_ids()])
    result.assert_ops(LSTM=1, GRU=1, Transpose=at_most(2), Scan=0)
    report = path_report(result)
    assert "bi: ONNX bidirectional LSTM, mask → sequence_lens" in report
    print("stack nodes:", sum(result.ops.values()), dict(sorted(result.ops.items())))


MASKED_CODE = """
import keras
from keras import layers

tokens = keras.Input((6,), dtype="int32", name="tokens")
x = layers.Embedding(11, 4, mask_zero=True, name="embed")(tokens)
x = layers.LSTM(5, return_sequences=True, name="lstm")(x)
x = layers.SimpleRNN(3, return_sequences=True, go_backwards=True, name="rnn")(x)
x = layers.GRU(4, return_sequences=True, name="gru")(x)
model = keras.Model(tokens, layers.GlobalAveragePooling1D(name="pool")(x))
"""


@pytest.mark.covers("GRU", "masks through return_sequences to GlobalAveragePooling1D; JSON alone, .py")
@pytest.mark.covers("SimpleRNN", "masks, go_backwards with return_sequences; JSON alone, .py")
def test_masked_sequences_every_form(tmp_path):
    """Masked sequences keep their mask (the pooling skips masked steps); from .keras, JSON + weights,
    JSON alone with drawn weights and the Keras code itself."""
    import runpy

    from .test_sequence import check_every_form

    src = tmp_path / "src.py"
    src.write_text(MASKED_CODE)
    model = randomize(runpy.run_path(str(src))["model"], 15)
    x = padded_ids(4, 6) % 11
    x[3, 2] = 5  # GlobalAveragePooling1D of a row with no valid step is 0/0 in Keras
    check_every_form(model, tmp_path, [x], code=MASKED_CODE)


@pytest.mark.covers("LSTM", "masked input with initial_state (Keras 3 then runs every step); zero_output_for_mask")
def test_masked_states(tmp_path):
    """Keras 3 passes a mask only to a call with one tensor argument, so an LSTM given initial
    states runs unmasked (its sequences keep the mask); the GRU beside it skips the masked steps."""
    tokens = keras.Input((7,), dtype="int32", name="tokens")
    h0, c0 = keras.Input((4,), name="h0"), keras.Input((4,), name="c0")
    x = layers.Embedding(STACK_VOCAB, 5, mask_zero=True, name="embed")(tokens)
    y, h, c = layers.LSTM(4, return_sequences=True, return_state=True, name="lstm")(x, initial_state=[h0, c0])
    z = layers.GRU(3, zero_output_for_mask=True, return_sequences=True, go_backwards=True, name="gru")(x)
    model = keras.Model([tokens, h0, c0], [y, named(h, "h"), named(c, "c"), z])
    rng = np.random.default_rng(4)
    states = [rng.standard_normal((4, 4)).astype(np.float32) for _ in range(2)]
    check(randomize(model, 16), tmp_path, inputs=[padded_ids(), *states])


@pytest.mark.covers("LSTM", "masked, activation gelu (Scan), go_backwards")
def test_masked_scan(tmp_path):
    tokens = keras.Input((7,), dtype="int32", name="tokens")
    x = layers.Embedding(STACK_VOCAB, 5, mask_zero=True, name="embed")(tokens)
    x = layers.Bidirectional(layers.LSTM(4, activation="gelu", return_sequences=True), name="bi")(x)
    out = layers.LSTM(3, recurrent_activation="hard_silu", go_backwards=True, name="lstm")(x)
    result = check(randomize(keras.Model(tokens, out), 17), tmp_path, inputs=[padded_ids()])
    result.assert_ops(Scan=3)


@pytest.mark.covers(
    "ConvLSTM2D", "steps unknown (None, as in Keras's next-frame example): a Scan; with BatchNormalization"
)
def test_conv_lstm2d_any_steps(tmp_path):
    """Keras's next-frame model: Input((None, h, w, 1)), ConvLSTM2D + BatchNormalization blocks, a
    Conv3D head; one compiled file serves every number of frames."""
    from .harness import check_inputs

    inp = keras.Input((None, 6, 6, 1), name="frames")
    x = layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True, name="clstm1")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ConvLSTM2D(3, 1, padding="same", return_sequences=True, go_backwards=True, name="clstm2")(x)
    out = layers.Conv3D(1, 3, padding="same", activation="sigmoid", name="head")(x)
    model = randomize(keras.Model(inp, out), 18)
    rng = np.random.default_rng(5)
    frames = [[rng.standard_normal((2, t, 6, 6, 1)).astype(np.float32)] for t in (3, 5)]
    result = check_inputs(model, tmp_path, frames)
    ops = next(iter(result.forms.values())).ops
    assert ops["Scan"] == 2 and "BatchNormalization" not in ops


@pytest.mark.covers("LSTM", "CuDNNLSTM (tf.keras 1.x): bias for the input and for the recurrent product")
@pytest.mark.covers("GRU", "CuDNNGRU (tf.keras 1.x)")
def test_cudnn_layers(tmp_path):
    """A file of tf.keras 1.x's CuDNN layers (no TensorFlow today builds them on a CPU): the JSON
    and HDF5 weights of a tf-keras LSTM/GRU model, rewritten as CuDNNLSTM/CuDNNGRU wrote them
    (8·units and 6·units biases, the input's and the recurrent product's), against that model."""
    import json

    import h5py
    import tf_keras

    from .harness import randomize_tf_keras

    tl = tf_keras.layers
    inp = tf_keras.Input((STEPS, FEATURES), name="seq")
    x = tl.LSTM(4, return_sequences=True, name="lstm")(inp)
    model = tf_keras.Model(inp, tl.GRU(3, name="gru")(x))
    randomize_tf_keras(model, 19)
    doc = json.loads(model.to_json())
    for layer in doc["config"]["layers"]:
        if layer["class_name"] in ("LSTM", "GRU"):
            cfg = layer["config"]
            keep = ("name", "trainable", "dtype", "units", "return_sequences", "return_state", "go_backwards")
            layer["class_name"] = "CuDNN" + layer["class_name"]
            layer["config"] = {k: v for k, v in cfg.items() if k in keep} | {"stateful": False}
    (tmp_path / "model.json").write_text(json.dumps(doc))
    model.save_weights(tmp_path / "weights.h5")
    with h5py.File(tmp_path / "weights.h5", "r+") as f:
        for layer in ("lstm", "gru"):
            group = f[layer]
            (name,) = [
                n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"] if "bias" in str(n)
            ]
            bias = np.asarray(group[name])
            share = np.random.default_rng(20).uniform(0, 1, bias.shape[-1])
            split = np.concatenate([bias * share, bias * (1 - share)]) if bias.ndim == 1 else bias.reshape(-1)
            del group[name]
            group[name] = split.astype(np.float32)
    rng = np.random.default_rng(21)
    x = rng.standard_normal((3, STEPS, FEATURES)).astype(np.float32)
    res = compiler.compile(tmp_path / "model.json", weights=tmp_path / "weights.h5")
    (got,) = run_onnx(res.onnx, {"seq": x})[1]
    want = model.predict(x, verbose=0)
    assert rel_error(got, want) < 1e-4


@pytest.mark.covers("LSTM", "refused in one line: an activation no lowering has, a wrapped ConvLSTM")
def test_refusals_name_layer_and_option(tmp_path):
    from .harness import compile_error

    inp = seq_input()
    err = compile_error(keras.Model(inp, layers.LSTM(3, activation="softmax", name="lstm")(inp)), tmp_path)
    assert err.layer == "lstm" and "activation 'softmax'" in str(err) and "gelu" in (err.hint or "")
    frames = keras.Input((3, 5, 5, 1), name="frames")
    wrapped = layers.Bidirectional(layers.ConvLSTM2D(2, 3), name="bi")(frames)
    err = compile_error(keras.Model(frames, wrapped), tmp_path)
    assert err.layer == "bi" and "ConvLSTM2D" in str(err)


@pytest.mark.covers("RNN", "one LSTMCell, GRUCell or SimpleRNNCell; inside Bidirectional; stacked cells refused")
def test_generic_rnn_with_a_cell(tmp_path):
    from .harness import compile_error

    inp = seq_input()
    x = layers.RNN(layers.GRUCell(4, reset_after=False), return_sequences=True, name="rnn_gru")(inp)
    x = layers.Bidirectional(layers.RNN(layers.LSTMCell(3), return_sequences=True), name="bi")(x)
    out = layers.RNN(layers.SimpleRNNCell(2, activation="relu"), go_backwards=True, name="rnn_simple")(x)
    result = check(randomize(keras.Model(inp, out), 22), tmp_path, batch=3)
    result.assert_ops(GRU=1, LSTM=1, RNN=1)
    stacked = layers.RNN([layers.LSTMCell(2), layers.LSTMCell(2)], name="stacked")(inp)
    err = compile_error(keras.Model(inp, stacked), tmp_path)
    assert err.layer == "stacked" and "StackedRNNCells" in str(err)


@pytest.mark.covers("GRU", "tf.keras (Keras 2) .h5: masked, initial_state (tf.keras masks such a call), go_backwards")
def test_tf_keras_masked_h5(tmp_path):
    """A tf.keras token model: masked Embedding → Bidirectional(LSTM) → GRU given an initial state
    (tf.keras, unlike Keras 3, passes it the mask) → masked average."""
    import tf_keras

    tl = tf_keras.layers
    tokens = tf_keras.Input((7,), dtype="int32", name="tokens")
    h0 = tf_keras.Input((4,), name="h0")
    x = tl.Embedding(STACK_VOCAB, 6, mask_zero=True, name="embed")(tokens)
    x = tl.Bidirectional(tl.LSTM(5, return_sequences=True), name="bi")(x)
    x = tl.GRU(4, go_backwards=True, return_sequences=True, name="gru")(x, initial_state=[h0])
    model = tf_keras.Model([tokens, h0], tl.GlobalAveragePooling1D(name="pool")(x))
    rng = np.random.default_rng(23)
    model.set_weights([rng.normal(0, 0.4, w.shape) for w in model.get_weights()])
    model.save(tmp_path / "model.h5")
    ids = padded_ids()
    ids[3, 2] = 4  # a masked average of a row with no valid step is 0/0
    state = rng.standard_normal((4, 4)).astype(np.float32)
    want = model.predict([ids, state], verbose=0)
    res = compiler.compile(tmp_path / "model.h5")
    (got,) = run_onnx(res.onnx, {"tokens": ids, "h0": state})[1]
    assert rel_error(got, want) < 1e-4


@pytest.mark.covers("TimeDistributed", "an LSTM over each group of steps (the cell's weights under the wrapper)")
def test_time_distributed_lstm(tmp_path):
    inp = keras.Input((3, 5, 4), name="groups")
    x = layers.TimeDistributed(layers.LSTM(6), name="td")(inp)
    result = check(randomize(keras.Model(inp, layers.GRU(3, name="gru")(x)), 24), tmp_path, batch=2)
    result.assert_ops(LSTM=1, GRU=1)
