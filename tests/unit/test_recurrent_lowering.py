"""The recurrent lowering on hand-made graphs, against a numpy transcription of Keras's LSTM loop
(keras/src/backend/tensorflow/rnn.py: a masked step keeps the states and repeats the previous
output), and the dead-code removal of the states nobody reads."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from compiler.ops import recurrent_path
from unit_kit import onnx_ops, rand, run_graph

UNITS, FEATURES, STEPS = 3, 2, 6


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def keras_lstm(x, mask, kernel, recurrent, bias, backwards=False, zero_masked=False):
    """Keras's LSTM with a mask: (outputs in processing order, h, c)."""
    batch = x.shape[0]
    h = np.zeros((batch, UNITS))
    c = np.zeros((batch, UNITS))
    out = np.zeros((batch, UNITS))
    outputs = []
    order = range(STEPS - 1, -1, -1) if backwards else range(STEPS)
    for t in order:
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = np.split(z, 4, axis=1)  # Keras's gate order i, f, c, o
        c2 = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h2 = sigmoid(o) * np.tanh(c2)
        m = mask[:, t : t + 1]
        h, c = np.where(m, h2, h), np.where(m, c2, c)
        out = np.where(m, h2, 0.0 if zero_masked else out)
        outputs.append(out)
    return np.stack(outputs, axis=1), h, c


def lstm_graph(parts: list[str], go_backwards: bool = False, masked: bool = True) -> compiler.Graph:
    g = compiler.Graph()
    x = g.add_input("x", (None, STEPS, FEATURES))
    ins = [x]
    if masked:
        ins.append(g.add_input("mask", (None, STEPS), dtype="bool"))
    params = {
        "kernel0": rand((FEATURES, 4 * UNITS), 1),
        "recurrent_kernel0": rand((UNITS, 4 * UNITS), 2),
        "bias0": rand((4 * UNITS,), 3),
    }
    attrs = {
        "units": UNITS,
        "activation": ("Tanh", None, None),
        "recurrent_activation": ("Sigmoid", None, None),
        "use_bias": True,
        "reset_after": False,
        "zero_output_for_mask": False,
        "halves": (go_backwards,),
        "flips": (False,),
        "masked": masked,
        "initial_states": 0,
    }
    node = g.add("LSTM", ins, name="lstm", attrs=attrs, params=params)
    outs = [g.add("RecurrentOutput", [node], name=p, attrs={"part": p, "half": 0}) for p in parts]
    g.set_outputs(outs)
    return g


def gapped_mask(batch: int = 4) -> np.ndarray:
    mask = np.ones((batch, STEPS), bool)
    mask[0, 4:] = False  # right padded
    mask[1, :2] = False  # left padded
    mask[2, [1, 3]] = False  # gaps
    mask[3, :] = False  # nothing valid
    return mask


@pytest.mark.parametrize("go_backwards", [False, True])
def test_masked_lstm_matches_keras_loop(go_backwards):
    g = lstm_graph(["sequences", "h", "c"], go_backwards)
    lstm = g.node("lstm")
    x, mask = rand((4, STEPS, FEATURES), 4), gapped_mask()
    got = run_graph(g, {"x": x, "mask": mask})
    want = keras_lstm(
        x, mask, lstm.params["kernel0"], lstm.params["recurrent_kernel0"], lstm.params["bias0"], go_backwards
    )
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert recurrent_path(lstm) == ("onnx", "ONNX LSTM, mask → sequence_lens")


def test_unread_states_are_dead_code():
    """Only h is read: the selectors of the sequence and of c go, and the ONNX LSTM names neither Y nor Y_c."""
    g = lstm_graph(["h"], masked=False)
    g.add("RecurrentOutput", [g.node("lstm")], name="c", attrs={"part": "c", "half": 0})  # read by nobody
    graph, _ = compiler.run_passes(g, ["remove_dead"], check=True)
    assert [n.attrs["part"] for n in graph.nodes("RecurrentOutput")] == ["h"]
    proto = compiler.to_onnx(graph)
    (lstm,) = [n for n in proto.graph.node if n.op_type == "LSTM"]
    assert list(lstm.output) == ["", lstm.output[1]] and lstm.output[1]
    assert "Transpose" in onnx_ops(proto)  # the input to time-major, the only layout change
    x = rand((2, STEPS, FEATURES), 5)
    node = graph.node("lstm")
    want = keras_lstm(
        x, np.ones((2, STEPS), bool), node.params["kernel0"], node.params["recurrent_kernel0"], node.params["bias0"]
    )
    np.testing.assert_allclose(run_graph(graph, {"x": x})[0], want[1], rtol=1e-5, atol=1e-6)
