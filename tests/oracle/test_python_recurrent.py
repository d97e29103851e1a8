"""Recurrent layers in ``.py`` model files: ``Bidirectional`` (merge modes, ``backward_layer``),
``RNN(cell)``, ``return_state`` and ``initial_state``. The Python frontend must record the very
document Keras 3's ``to_json()`` writes for the same code (compared key for key), that document
must load in Keras, and the compiled file, given the Keras model's weights, must match
``model.predict``.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import keras
import numpy as np
import pytest

import compiler
from frontends.keras_python import export_json

from .harness import keras_predict, randomize, rel_error, run_onnx

# keras.io's "Bidirectional LSTM on IMDB", cut to a small vocabulary and width.
IMDB_BIDIRECTIONAL = """
import keras
from keras import layers

max_features = 50
inputs = keras.Input(shape=(None,), dtype="int32")
x = layers.Embedding(max_features, 8)(inputs)
x = layers.Bidirectional(layers.LSTM(6, return_sequences=True))(x)
x = layers.Bidirectional(layers.LSTM(6))(x)
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
"""

# The same classifier as tutorials write it with Sequential, input_shape on its first layer.
SEQUENTIAL_STACK = """
from tensorflow import keras
from tensorflow.keras.layers import LSTM, GRU, Bidirectional, Dense, Dropout

model = keras.Sequential()
model.add(Bidirectional(LSTM(5, return_sequences=True), input_shape=(7, 3)))
model.add(Dropout(0.2))
model.add(Bidirectional(GRU(4, reset_after=False), merge_mode="concat"))
model.add(Dense(2, activation="softmax"))
"""

# keras.io's "Character-level recurrent sequence-to-sequence model": the training model.
CHAR_SEQ2SEQ = """
import keras

num_encoder_tokens, num_decoder_tokens, latent_dim = 7, 9, 8
encoder_inputs = keras.Input(shape=(None, num_encoder_tokens))
encoder = keras.layers.LSTM(latent_dim, return_state=True)
encoder_outputs, state_h, state_c = encoder(encoder_inputs)
encoder_states = [state_h, state_c]
decoder_inputs = keras.Input(shape=(None, num_decoder_tokens))
decoder_lstm = keras.layers.LSTM(latent_dim, return_sequences=True, return_state=True)
decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
decoder_dense = keras.layers.Dense(num_decoder_tokens, activation="softmax")
decoder_outputs = decoder_dense(decoder_outputs)
model = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)
"""

# Every wrapper form at once: merge modes, a backward_layer, RNN around each cell, states out of a
# Bidirectional and into another, a GRU given one state tensor positionally, training= and mask=.
WRAPPERS = """
import tensorflow as tf
from tensorflow.keras import layers, Model, Input

seq = Input((5, 3), name="seq")
h0 = Input((4,), name="h0")
a = layers.Bidirectional(layers.GRU(4, return_sequences=True), merge_mode="ave")(seq)
b = layers.Bidirectional(
    layers.LSTM(4, return_sequences=True), merge_mode="mul", backward_layer=layers.LSTM(4, go_backwards=True,
                                                                                       return_sequences=True)
)(a, training=False)
out, fh, fc, bh, bc = layers.Bidirectional(layers.LSTM(4, return_state=True), merge_mode="sum")(b)
both = layers.Bidirectional(layers.SimpleRNN(4, return_sequences=True), merge_mode=None)(seq, mask=None)
c = layers.Bidirectional(layers.LSTM(4))(seq, initial_state=[fh, fc, bh, bc])
d = layers.RNN(layers.LSTMCell(4), return_sequences=True)(b)
e, e_h = layers.RNN(layers.GRUCell(4, reset_after=False), return_state=True, go_backwards=True)(d)
f = layers.RNN(layers.SimpleRNNCell(4, activation="relu"))(d, initial_state=[h0])
g = layers.GRU(4)(seq, h0)
h = layers.Bidirectional(layers.RNN(layers.LSTMCell(3), return_sequences=True))(d)
model = Model([seq, h0], [out, *both, c, e, e_h, f, g, h, fh])
"""

# The seq2seq example's inference models: the same layers called again on new state inputs.
SEQ2SEQ_INFERENCE = (
    CHAR_SEQ2SEQ
    + """
encoder_model = keras.Model(encoder_inputs, encoder_states)
decoder_state_input_h = keras.Input(shape=(latent_dim,))
decoder_state_input_c = keras.Input(shape=(latent_dim,))
decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
decoder_outputs, state_h, state_c = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)
decoder_outputs = decoder_dense(decoder_outputs)
decoder_model = keras.Model([decoder_inputs] + decoder_states_inputs, [decoder_outputs, state_h, state_c])
"""
)

CASES = {
    "imdb_bidirectional": (IMDB_BIDIRECTIONAL, "model"),
    "sequential_stack": (SEQUENTIAL_STACK, "model"),
    "char_seq2seq": (CHAR_SEQ2SEQ, "model"),
    "wrappers": (WRAPPERS, "model"),
    "seq2seq_encoder_model": (SEQ2SEQ_INFERENCE, "encoder_model"),
    "seq2seq_decoder_model": (SEQ2SEQ_INFERENCE, "decoder_model"),
}


def _keras_model(source: Path, entry: str) -> keras.Model:
    keras.backend.clear_session()  # Keras's automatic names restart, as in a fresh process
    return runpy.run_path(str(source), run_name="__kerascc_model__")[entry]


def _inputs(model: keras.Model, steps: int = 6, batch: int = 3) -> list[np.ndarray]:
    """Seeded inputs for the model, ``steps`` long where Keras leaves the number of steps open;
    token ids below the smallest vocabulary of the cases."""
    rng = np.random.default_rng(0)
    arrays = []
    for t in model.inputs:
        shape = (batch, *(steps if d is None else d for d in t.shape[1:]))
        if "int" in str(t.dtype):
            arrays.append(rng.integers(0, 50, shape).astype(str(t.dtype)))
        else:
            arrays.append(rng.standard_normal(shape).astype(np.float32))
    return arrays


@pytest.mark.covers("Bidirectional", ".py files: merge_mode, backward_layer, return_state, initial_state")
@pytest.mark.covers("RNN", ".py files: LSTMCell, GRUCell, SimpleRNNCell, return_state, initial_state")
@pytest.mark.covers("LSTM", ".py files: return_state, initial_state (keras.io seq2seq, its inference models)")
@pytest.mark.parametrize("case", list(CASES))
def test_python_recurrent_models_are_keras_documents_and_outputs(case: str, tmp_path: Path) -> None:
    text, entry = CASES[case]
    source = tmp_path / f"{case}.py"
    source.write_text(text)
    doc = json.loads(export_json(source, tmp_path / "model.json", entry).read_text())
    model = _keras_model(source, entry)
    theirs = json.loads(model.to_json())
    theirs["compile_config"] = {}  # the training setup (model.compile) is not part of what kerascc records
    assert doc == theirs  # the very document Keras writes, key for key
    keras.backend.clear_session()
    loaded = keras.models.model_from_json(json.dumps(doc))
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.count_params() == model.count_params()

    randomize(model, 3)
    weights = tmp_path / "model.weights.h5"
    model.save_weights(weights)
    arrays = _inputs(model)
    want = keras_predict(model, arrays)
    result = compiler.compile(source, weights=weights, entry=entry)
    feeds = {t._keras_history.operation.name: a for t, a in zip(model.inputs, arrays, strict=True)}
    _, got = run_onnx(result.serialize(), feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        assert rel_error(g, w) <= 1e-4


@pytest.mark.parametrize(
    "code, message",
    [
        ("layers.RNN([layers.LSTMCell(2), layers.LSTMCell(2)])", r":\d+: RNN: the cell must be one LSTMCell"),
        ("layers.LSTMCell(2)(seq)", r":\d+: LSTMCell 'lstm_cell' is called on one step.*RNN\(LSTMCell"),
        ("layers.Bidirectional(layers.LSTM(2, go_backwards=True))(seq)", r"different `go_backwards` value"),
        ("layers.Bidirectional(layers.ConvLSTM1D(2, 3))(seq)", r":\d+: Bidirectional: .*ConvLSTM1D"),
        ("layers.LSTM(2)([seq, seq])", r"takes its sequences as one Keras tensor.*initial_state=\[h, c\]"),
        ("layers.LSTM(2)(seq, initial_state=[seq])", r":\d+: LSTM: 1 initial states given, the layer has 2"),
        ("layers.GRU(2)(seq, initial_state=seq)", r":\d+: GRU: .*initial state of shape"),
    ],
)
def test_recurrent_mistakes_are_one_line_at_the_users_line(code: str, message: str, tmp_path: Path) -> None:
    source = tmp_path / "bad.py"
    source.write_text(f"import keras\nfrom keras import layers\nseq = keras.Input((5, 3))\ny = {code}\n")
    with pytest.raises(compiler.CompileError, match=message) as info:
        compiler.compile(source)
    assert "\n" not in str(info.value) and f"{source}:4" in str(info.value)
