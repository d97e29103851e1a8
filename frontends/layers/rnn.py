"""Recurrent layers (keras/src/layers/rnn/): LSTM, GRU, SimpleRNN, their CuDNN-era names,
Bidirectional and ConvLSTM1D/2D.

One Keras recurrent layer becomes one recurrent IR node (``LSTM``, ``GRU``, ``SimpleRNN``,
``ConvLSTM``) whose value holds every step of every half; the layer's outputs (the sequence or
the last output, and with ``return_state`` the final ``h`` and ``c``) are ``RecurrentOutput``
nodes that pick a part, so a state nobody reads is dead code. A Bidirectional layer whose two
halves are alike is one node with two halves (one ONNX op with ``direction="bidirectional"``);
unlike halves (an LSTM forward, a GRU backward) are two nodes. Keras's merge modes are the
merging ops (Concat, Add, Mul, Mean) on the halves' outputs.

Keras's semantics this follows (``keras/src/layers/rnn/rnn.py``, ``bidirectional.py``,
``backend/tensorflow/rnn.py``): a masked step carries the states over and outputs the previous
step's output (zeros with ``zero_output_for_mask``, which Bidirectional forces on for sequences);
``go_backwards`` processes the steps last to first and returns the outputs in that order;
Bidirectional flips its backward half's sequence back into the input's order. Dropout is the
identity at inference; ``unroll`` changes how Keras runs the loop, not what it computes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from compiler.errors import ShapeError
from compiler.ir import Node

from .base import LayerContext, hard_sigmoid_attrs, ints, keras_layer, known_channels, positive

#: How many gates each cell has (the kernel is (features, gates · units)).
GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}
#: Keras class names → the cell they run; the CuDNN classes of tf.keras 1.x run the same cells with
#: tanh/sigmoid and a bias for the input and one for the recurrent product.
CELLS = {
    "LSTM": "LSTM",
    "GRU": "GRU",
    "SimpleRNN": "SimpleRNN",
    "CuDNNLSTM": "LSTM",
    "CuDNNGRU": "GRU",
}
#: Keras activations the ONNX recurrent ops run, as (ONNX name, alpha, beta); None for no parameter.
ONNX_ACTIVATIONS: dict[str, tuple[str, float | None, float | None]] = {
    "tanh": ("Tanh", None, None),
    "sigmoid": ("Sigmoid", None, None),
    "relu": ("Relu", None, None),
    "linear": ("Affine", 1.0, 0.0),
    "softsign": ("Softsign", None, None),
    "softplus": ("Softplus", None, None),
    "elu": ("Elu", 1.0, None),
    "leaky_relu": ("LeakyRelu", 0.2, None),
}

#: Keras activations the ONNX recurrent ops lack: a layer using one runs its cell in a Scan.
SCAN_ACTIVATIONS = ("gelu", "silu", "selu", "relu6", "exponential", "mish", "hard_tanh", "hard_silu")


@dataclass(frozen=True)
class Half:
    """One direction of a recurrent layer: its cell, its config and how Keras orders its steps."""

    cell: str  # LSTM, GRU or SimpleRNN
    class_name: str
    cfg: dict[str, Any]
    go_backwards: bool
    flip: bool = False  # Bidirectional flips the backward half's sequence back into input order

    @property
    def states(self) -> int:
        return 2 if self.cell == "LSTM" else 1

    @property
    def cudnn(self) -> bool:
        return self.class_name.startswith("CuDNN")


def activation_spec(ctx: LayerContext, spec: Any, key: str) -> tuple[str, float | None, float | None]:
    """A Keras activation as the ONNX recurrent ops spell it; refused when they have no such function."""
    if spec is None:
        name = "linear"
    elif isinstance(spec, dict):
        inner = spec.get("config")
        name = str(inner if isinstance(inner, str) else spec.get("class_name", "")).lower()
    else:
        name = str(spec).lower()
    if name == "hard_sigmoid":  # Keras 2: clip(0.2x + 0.5); Keras 3: relu6(x + 3) / 6
        attrs = hard_sigmoid_attrs(ctx)
        return ("HardSigmoid", attrs["alpha"], attrs["beta"])
    name = {"swish": "silu", "hard_swish": "hard_silu"}.get(name, name)
    if name in SCAN_ACTIVATIONS:
        return (name, None, None)  # the ONNX ops lack it: the layer runs as a Scan of its cell
    if name not in ONNX_ACTIVATIONS:
        raise ctx.unsupported(
            f"{key} '{name}' in a recurrent layer",
            hint="supported: hard_sigmoid, " + ", ".join(sorted((*ONNX_ACTIVATIONS, *SCAN_ACTIVATIONS))),
        )
    return ONNX_ACTIVATIONS[name]


def _flag(ctx: LayerContext, cfg: dict[str, Any], key: str, default: bool = False) -> bool:
    value = cfg.get(key, default)
    if not isinstance(value, bool):
        raise ctx.unsupported(f"{key} must be true or false, got {value!r:.40}")
    return value


def _check_half(ctx: LayerContext, half: Half) -> None:
    """What Keras serializes that kerascc cannot express."""
    cfg = half.cfg
    if _flag(ctx, cfg, "stateful"):
        raise ctx.unsupported(
            "stateful=True is not supported: the states carried from one batch to the next live outside the model",
            hint="save the model with stateful=False (the same weights) and pass the states as initial_state inputs",
        )
    if _flag(ctx, cfg, "time_major"):
        raise ctx.unsupported("time_major=True is not supported", hint="use batch-major inputs (batch, steps, ...)")


def _cell_attrs(ctx: LayerContext, half: Half, conv: bool = False) -> dict[str, Any]:
    cfg = half.cfg
    units = 0 if conv else positive(replace(ctx, cfg=cfg), "units")
    if half.cudnn:
        act, rec = ("Tanh", None, None), ("Sigmoid", None, None)
    else:
        act = activation_spec(ctx, cfg.get("activation", "tanh"), "activation")
        rec = activation_spec(ctx, cfg.get("recurrent_activation", "sigmoid"), "recurrent_activation")
    reset_after = half.cell == "GRU" and (half.cudnn or _flag(ctx, cfg, "reset_after", True))
    return {
        "units": units,
        "activation": act,
        "recurrent_activation": rec,
        "use_bias": half.cudnn or _flag(ctx, cfg, "use_bias", True),
        "reset_after": reset_after,
        "zero_output_for_mask": _flag(ctx, cfg, "zero_output_for_mask"),
    }


def _weight_specs(half: Half, attrs: dict[str, Any], fan_in: int, prefix: str) -> list[tuple[str, tuple, Any]]:
    """The cell's variables in Keras's order: kernel, recurrent_kernel, bias."""
    units, gates, cfg = attrs["units"], GATES[half.cell], half.cfg
    specs = [
        (f"{prefix}kernel", (fan_in, gates * units), cfg.get("kernel_initializer", "glorot_uniform")),
        (f"{prefix}recurrent_kernel", (units, gates * units), cfg.get("recurrent_initializer", "orthogonal")),
    ]
    if attrs["use_bias"]:
        if half.cudnn:
            shape: tuple[int, ...] = (2 * gates * units,)
        elif attrs["reset_after"]:
            shape = (2, gates * units)
        else:
            shape = (gates * units,)
        specs.append((f"{prefix}bias", shape, cfg.get("bias_initializer", "zeros")))
    return specs


def _kernels(ctx: LayerContext, halves: Sequence[Half], attrs: Sequence[dict[str, Any]], fan_in: int) -> list:
    """Every half's weights, forward half first (Keras's variable order), in IR names kernel0, …"""
    prefixes = ["", "backward/"] if len(halves) == 2 else [""]
    specs = [s for h, a, p in zip(halves, attrs, prefixes, strict=True) for s in _weight_specs(h, a, fan_in, p)]
    arrays = ctx.params(specs)
    out = []
    for k, (half, a, prefix) in enumerate(zip(halves, attrs, prefixes, strict=True)):
        params = {
            f"kernel{k}": arrays[f"{prefix}kernel"],
            f"recurrent_kernel{k}": arrays[f"{prefix}recurrent_kernel"],
        }
        if a["use_bias"]:
            bias = arrays[f"{prefix}bias"]
            units = a["units"]
            if ctx.weights.random and half.cell == "LSTM" and _flag(ctx, half.cfg, "unit_forget_bias", True):
                bias[..., units : 2 * units] = 1.0  # Keras's unit_forget_bias: the forget gate starts at one
            if half.cudnn:
                bias = bias.reshape(2, -1)  # the input's bias, then the recurrent product's
            params[f"bias{k}"] = bias
        out.append(params)
    return out


def _halves_alike(halves: Sequence[Half], attrs: Sequence[dict[str, Any]]) -> bool:
    a, b = attrs
    keys = ("units", "activation", "recurrent_activation", "use_bias", "reset_after", "zero_output_for_mask")
    return halves[0].cell == halves[1].cell and all(a[k] == b[k] for k in keys)


def _mask(ctx: LayerContext) -> Node | None:
    """The mask of the steps (the first input's); initial states carry none."""
    return ctx.masks[0] if ctx.masks else None


def _set_masks(ctx: LayerContext, outputs: int, sequences: int) -> None:
    """Keras's ``compute_mask`` of a recurrent layer: the steps' mask stays on the sequences it
    returns (``sequences`` of them, first), no mask on last outputs and states."""
    mask = _mask(ctx) if sequences else None
    ctx.output_masks = [mask] * sequences + [None] * (outputs - sequences)


def _recurrent_node(
    ctx: LayerContext, x: Node, mask: Node | None, halves: Sequence[Half], attrs: dict, params: dict, states: list[Node]
) -> Node:
    node_attrs = {
        **attrs,
        "halves": tuple(h.go_backwards for h in halves),
        "flips": tuple(h.flip for h in halves),
        "masked": mask is not None,
        "initial_states": len(states),
    }
    inputs = [x] + ([mask] if mask is not None else []) + states
    return ctx.add(halves[0].cell, inputs, attrs=node_attrs, params=params)


def _part(ctx: LayerContext, node: Node, part: str, half: int, main: bool = False) -> Node:
    return ctx.add("RecurrentOutput", [node], attrs={"part": part, "half": half}, main=main)


def _run(
    ctx: LayerContext, inputs: list[Node], halves: list[Half], merge: str | None = "concat"
) -> tuple[list[Node], list[Node]]:
    """The halves' outputs (sequences or last outputs, one per half) and their final states."""
    x, *initial = inputs
    if len(x.shape) != 3:
        raise ShapeError(
            f"{ctx.class_name} expects a 3-D input (batch, steps, features), got shape {x.shape}",
            file=ctx.file,
            layer=ctx.name,
        )
    for half in halves:
        _check_half(ctx, half)
    fan_in = known_channels(ctx, x)
    attrs = [_cell_attrs(ctx, h) for h in halves]
    params = _kernels(ctx, halves, attrs, fan_in)
    wanted = sum(h.states for h in halves)
    if initial and len(initial) != wanted:
        raise ctx.unsupported(f"{len(initial)} initial states given, the layer has {wanted}")
    sizes = [a["units"] for h, a in zip(halves, attrs, strict=True) for _ in range(h.states)]
    for state, units in zip(initial, sizes, strict=False):
        if len(state.shape) != 2 or state.shape[-1] not in (None, units):
            raise ShapeError(
                f"an initial state of shape {state.shape}, the layer's states are (batch, {units})",
                file=ctx.file,
                layer=ctx.name,
            )
    mask = _mask(ctx)
    if initial and ctx.keras_major >= 3:
        # Keras 3's Layer.__call__ passes the input's mask only to a call with one tensor argument:
        # given initial states, the layer runs on every step (tf.keras masks it).
        mask = None
    sequences = _flag(ctx, halves[0].cfg, "return_sequences")
    part = "sequences" if sequences else "last"
    if len(halves) == 1 or _halves_alike(halves, attrs):
        merged = {k: v for p in params for k, v in p.items()}
        node = _recurrent_node(ctx, x, mask, halves, attrs[0], merged, list(initial))
        nodes = [(node, k) for k in range(len(halves))]
    else:
        nodes, at = [], 0
        for k, half in enumerate(halves):
            own = initial[at : at + half.states] if initial else []
            at += half.states
            renamed = {key[:-1] + "0": v for key, v in params[k].items()}
            node = _recurrent_node(ctx, x, mask, [half], attrs[k], renamed, list(own))
            nodes.append((node, 0))
    single = len(halves) == 1 or merge is None
    outs = [_part(ctx, n, part, k, main=single and i == 0) for i, (n, k) in enumerate(nodes)]
    states = []
    for (n, k), half in zip(nodes, halves, strict=True):
        states.append(_part(ctx, n, "h", k))
        if half.states == 2:
            states.append(_part(ctx, n, "c", k))
    return outs, states


def _layer_config(ctx: LayerContext, spec: Any, what: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise ctx.unsupported(f"the {what} is not a serialized Keras layer")
    cls = str(spec.get("class_name"))
    if cls == "RNN":
        return _generic_rnn(ctx, spec["config"])
    if cls not in CELLS:
        raise ctx.unsupported(
            f"the {what} is a {cls}", hint="Bidirectional wraps LSTM, GRU or SimpleRNN (ConvLSTM: not yet)"
        )
    return cls, spec["config"]


@keras_layer(*CELLS)
def recurrent(ctx: LayerContext, inputs: list[Node]) -> Node | list[Node]:
    return _single(ctx, inputs, ctx.class_name, ctx.cfg)


def _single(ctx: LayerContext, inputs: list[Node], class_name: str, cfg: dict[str, Any]) -> Node | list[Node]:
    half = Half(CELLS[class_name], class_name, cfg, _flag(ctx, cfg, "go_backwards"))
    outs, states = _run(ctx, inputs, [half])
    result = [outs[0], *states] if _flag(ctx, cfg, "return_state") else [outs[0]]
    _set_masks(ctx, len(result), int(_flag(ctx, cfg, "return_sequences")))
    return result if len(result) > 1 else result[0]


#: Keras's cell classes, for the generic ``RNN`` layer around one of them.
CELL_CLASSES = {"LSTMCell": "LSTM", "GRUCell": "GRU", "SimpleRNNCell": "SimpleRNN"}
#: What the ``RNN`` wrapper decides itself (the rest of the config is the cell's).
RNN_FLAGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask")


def _generic_rnn(ctx: LayerContext, cfg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``RNN(LSTMCell(…))`` and its kin: the cell's config with the wrapper's flags, as the layer the
    cell's own class (LSTM, GRU, SimpleRNN) would be."""
    cell = cfg.get("cell")
    cls = cell.get("class_name") if isinstance(cell, dict) else None
    if cls not in CELL_CLASSES or not isinstance(cell.get("config"), dict):
        what = "a list of cells (StackedRNNCells)" if isinstance(cell, list) else f"a {cls or 'custom'} cell"
        raise ctx.unsupported(f"an RNN layer with {what}", hint="RNN wraps one LSTMCell, GRUCell or SimpleRNNCell")
    return CELL_CLASSES[cls], {**cell["config"], **{k: cfg[k] for k in RNN_FLAGS if k in cfg}}


@keras_layer("RNN")
def generic_rnn(ctx: LayerContext, inputs: list[Node]) -> Node | list[Node]:
    cls, cfg = _generic_rnn(ctx, ctx.cfg)
    return _single(ctx, inputs, cls, cfg)


@keras_layer("Bidirectional")
def bidirectional(ctx: LayerContext, inputs: list[Node]) -> Node | list[Node]:
    merge = ctx.get("merge_mode", "concat")
    if merge not in ("concat", "sum", "mul", "ave", None):
        raise ctx.unsupported(f"merge_mode {merge!r:.40}", hint="Keras takes concat, sum, mul, ave or None")
    fcls, fcfg = _layer_config(ctx, ctx.get("layer"), "wrapped layer")
    backward = ctx.get("backward_layer")
    if backward is None:
        bcls, bcfg = fcls, {**fcfg, "go_backwards": not _flag(ctx, fcfg, "go_backwards")}
    else:
        bcls, bcfg = _layer_config(ctx, backward, "backward_layer")
    sequences = _flag(ctx, fcfg, "return_sequences")
    if _flag(ctx, bcfg, "return_sequences") != sequences or _flag(ctx, bcfg, "return_state") != _flag(
        ctx, fcfg, "return_state"
    ):
        raise ctx.unsupported("the forward and backward layers differ in return_sequences or return_state")
    fgo, bgo = _flag(ctx, fcfg, "go_backwards"), _flag(ctx, bcfg, "go_backwards")
    if fgo == bgo:
        raise ctx.unsupported("the forward and backward layers must differ in go_backwards (as Keras requires)")
    halves = [
        Half(CELLS[fcls], fcls, fcfg, fgo),
        Half(CELLS[bcls], bcls, bcfg, bgo, flip=sequences),
    ]
    # Keras forces zero_output_for_mask = return_sequences on both halves.
    halves = [replace(h, cfg={**h.cfg, "zero_output_for_mask": sequences}) for h in halves]
    outs, states = _run(ctx, inputs, halves, merge)
    if merge is None:
        merged: list[Node] = outs
    else:
        y, y_rev = outs
        if merge == "concat":
            merged = [ctx.add("Concat", [y, y_rev], attrs={"axis": len(y.shape) - 1}, main=True)]
        else:
            merged = [ctx.add({"sum": "Add", "mul": "Mul", "ave": "Mean"}[merge], [y, y_rev], main=True)]
    result = [*merged, *states] if _flag(ctx, fcfg, "return_state") else merged
    _set_masks(ctx, len(result), len(merged) if sequences else 0)
    return result if len(result) > 1 else result[0]


# -- ConvLSTM ------------------------------------------------------------------------------------
@keras_layer("ConvLSTM1D", "ConvLSTM2D")
def conv_lstm(ctx: LayerContext, inputs: list[Node]) -> Node | list[Node]:
    """A convolutional LSTM: the gates are convolutions of the frame (the layer's padding, strides
    and dilation) and of the state ('same', stride 1, as Keras's ConvLSTMCell)."""
    rank = 1 if ctx.class_name == "ConvLSTM1D" else 2
    x, *initial = inputs
    if len(x.shape) != rank + 3:
        raise ShapeError(
            f"{ctx.class_name} expects a {rank + 3}-D input (batch, steps, {'width' if rank == 1 else 'rows, cols'}, "
            f"channels), got shape {x.shape}",
            file=ctx.file,
            layer=ctx.name,
        )
    half = Half("LSTM", ctx.class_name, ctx.cfg, _flag(ctx, ctx.cfg, "go_backwards"))
    _check_half(ctx, half)
    if initial:
        raise ctx.unsupported("initial_state for a ConvLSTM layer")
    if _mask(ctx) is not None:
        raise ctx.unsupported("a mask on a ConvLSTM layer")
    first = ctx.get("data_format", "channels_last") == "channels_first"
    if first:
        perm = (0, 1, *range(3, rank + 3), 2)
        x = ctx.add("Transpose", [x], attrs={"perm": perm})
    filters = positive(ctx, "filters")
    kernel = ints(ctx.get("kernel_size"), rank, "kernel_size", minimum=1)
    strides = ints(ctx.get("strides", 1), rank, "strides", minimum=1)
    dilations = ints(ctx.get("dilation_rate", 1), rank, "dilation_rate", minimum=1)
    padding = str(ctx.get("padding", "valid")).lower()
    if padding not in ("valid", "same"):
        raise ctx.unsupported(f"padding '{padding}'", hint="ConvLSTM takes 'valid' or 'same'")
    if padding == "same" and max(strides) > 1:
        raise ctx.unsupported("padding='same' with strides > 1", hint="Keras itself computes a wrong shape here")
    channels = known_channels(ctx, x)
    attrs = _cell_attrs(ctx, half, conv=True)
    attrs = {k: v for k, v in attrs.items() if k not in ("units", "reset_after")}
    cfg = ctx.cfg
    specs = [
        ("kernel", (*kernel, channels, 4 * filters), cfg.get("kernel_initializer", "glorot_uniform")),
        ("recurrent_kernel", (*kernel, filters, 4 * filters), cfg.get("recurrent_initializer", "orthogonal")),
    ]
    if attrs["use_bias"]:
        specs.append(("bias", (4 * filters,), cfg.get("bias_initializer", "zeros")))
    arrays = ctx.params(specs)
    params = {f"{k}0": v for k, v in arrays.items()}
    if "bias0" in params and ctx.weights.random and _flag(ctx, cfg, "unit_forget_bias", True):
        params["bias0"][filters : 2 * filters] = 1.0  # drawn arrays: the cache shows what is compiled
    # The spatial rank of the IR's convolutions is 2: a 1-D ConvLSTM runs on frames of height 1.
    node = ctx.add(
        "ConvLSTM",
        [x],
        attrs={
            **attrs,
            "filters": filters,
            "strides": strides,
            "dilations": dilations,
            "padding": padding,
            "halves": (half.go_backwards,),
            "flips": (False,),
            "masked": False,
            "initial_states": 0,
        },
        params={k: np.asarray(v, np.float32) for k, v in params.items()},
    )
    sequences = _flag(ctx, cfg, "return_sequences")
    outs = [_part(ctx, node, "sequences" if sequences else "last", 0, main=not first)]
    if first:
        rank_out = len(outs[0].shape)
        back = (0, *((1,) if sequences else ()), rank_out - 1, *range(2 if sequences else 1, rank_out - 1))
        outs = [ctx.add("Transpose", outs, attrs={"perm": back}, main=True)]
    ctx.output_masks = [None, None, None]
    if _flag(ctx, cfg, "return_state"):
        states = [_part(ctx, node, "h", 0), _part(ctx, node, "c", 0)]
        if first:
            r = len(states[0].shape)
            states = [ctx.add("Transpose", [s], attrs={"perm": (0, r - 1, *range(1, r - 1))}) for s in states]
        return [outs[0], *states]
    return outs[0]
