"""Lowerings of the recurrent ops: LSTM, GRU and SimpleRNN as ONNX ``LSTM``/``GRU``/``RNN``,
ConvLSTM as unrolled convolutions, and ``RecurrentOutput`` as the part of them a model reads.

Gate orders. Keras keeps a cell's gates side by side in its kernel's columns: LSTM ``i, f, c, o``,
GRU ``z, r, h``. ONNX keeps them in the rows of ``W`` (gates·units, features): LSTM ``i, o, f, c``,
GRU ``z, r, h``; so ``W = reorder(kernel)ᵀ``, ``R = reorder(recurrent_kernel)ᵀ`` and
``B = [input bias, recurrent bias]``. Keras's GRU ``reset_after=True`` applies the reset gate to
``h·R_h + b_rh`` — ONNX's ``linear_before_reset=1`` — and keeps its biases as rows (input, recurrent)
of a (2, 3·units) array; ``reset_after=False`` has the input bias alone.

Layout. ONNX's recurrent ops take time-major data (steps, batch, features) (onnxruntime has no
``layout=1`` kernels), and a time-major tensor is the physical layout ``perm=(1, 0, 2)`` of the
emitter: the input is transposed once, the sequence outputs stay time-major, and a stack of
recurrent layers has no transpose between them.

Masks. Keras skips a masked step: the states carry over and the step outputs the previous
output (zeros with ``zero_output_for_mask``). ONNX's ``sequence_lens`` only skips the steps at the
end, so the valid steps of each row are first moved to the front in their order (a ``TopK`` on
``(1 - m)·T + t`` gives the gather order; for a right-padded mask it is the identity), the op runs
with ``sequence_lens = Σ m``, which gives exact final states for any mask, and each step's output
is gathered back: at step ``t`` the forward half outputs compacted step ``Σ_{s≤t} m_s - 1``, the
backward half compacted step ``Σ_{s<t} m_s``, zero where no such valid step exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto, helper

from ...errors import UnsupportedLayerError
from ...ir import Node
from ...ops import recurrent_path, same_pads, spatial_pads
from ..emitter import Emitter, Value, emitter

TIME_MAJOR = (1, 0, 2)
#: Keras LSTM gate i, f, c, o → ONNX i, o, f, c.
LSTM_ORDER = (0, 3, 1, 2)
ONNX_OP = {"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "RNN"}


def part_key(node: Node, part: str, half: int) -> str:
    """Where a recurrent node's lowering leaves one of its parts among the emitter's values."""
    return f"{node.name}\x00{part}\x00{half}"


def _multi(em: Emitter, op_type: str, inputs: list[str], base: str, outputs: list[bool], **attrs: Any) -> list[str]:
    """An ONNX node with several outputs; those not ``wanted`` are left unnamed."""
    names = [em.fresh(f"{base}_{i}") if want else "" for i, want in enumerate(outputs)]
    while names and names[-1] == "":
        names.pop()
    em.nodes.append(helper.make_node(op_type, inputs, names, name=em.fresh(base), **attrs))
    return names + [""] * (len(outputs) - len(names))


def _ints(em: Emitter, base: str, values: Any) -> str:
    return em.const(base, np.asarray(values, np.int64))


def _reverse_time(em: Emitter, x: str, base: str) -> str:
    """The steps of a time-major tensor, last first."""
    big = np.iinfo(np.int64).min
    args = [x, _ints(em, "rev.start", [-1]), _ints(em, "rev.end", [big]), _ints(em, "axis0", [0])]
    return em.op("Slice", [*args, _ints(em, "rev.step", [-1])], base)


# -- weights ---------------------------------------------------------------------------------------
def _gates(array: np.ndarray, gates: int, order: tuple[int, ...] | None) -> np.ndarray:
    """(…, gates·units) in Keras's gate order → the same in ONNX's."""
    if order is None:
        return array
    split = array.reshape(*array.shape[:-1], gates, -1)
    return split[..., list(order), :].reshape(array.shape)


def onnx_weights(node: Node, half: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One half's (W, R, B) as ONNX wants them: (gates·units, features), (gates·units, units), (2·gates·units)."""
    p, a = node.params, node.attrs
    gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[node.op]
    order = LSTM_ORDER if node.op == "LSTM" else None
    w = _gates(p[f"kernel{half}"], gates, order).T
    r = _gates(p[f"recurrent_kernel{half}"], gates, order).T
    bias = p.get(f"bias{half}")
    if bias is None:
        return w, r, None
    bias = np.asarray(bias, np.float32)
    if bias.ndim == 1:  # an input bias alone (LSTM, SimpleRNN, GRU with reset_after=False)
        bias = np.stack([bias, np.zeros_like(bias)])
    elif node.op == "GRU" and not a["reset_after"]:
        raise UnsupportedLayerError("a GRU with reset_after=False has one bias row", layer=node.layer)
    b = np.concatenate([_gates(bias[0], gates, order), _gates(bias[1], gates, order)])
    return w, r, b


def _activations(node: Node, slots: int) -> dict[str, Any]:
    """The ``activations`` attribute and the alphas/betas of the functions that take them, per direction."""
    act, rec = node.attrs["activation"], node.attrs["recurrent_activation"]
    funcs = {"LSTM": [rec, act, act], "GRU": [rec, act], "SimpleRNN": [act]}[node.op] * slots
    attrs: dict[str, Any] = {"activations": [f[0] for f in funcs]}
    alphas = [f[1] for f in funcs if f[1] is not None]
    betas = [f[2] for f in funcs if f[2] is not None]
    if alphas:
        attrs["activation_alpha"] = [float(v) for v in alphas]
    if betas:
        attrs["activation_beta"] = [float(v) for v in betas]
    return attrs


# -- the ONNX recurrent ops ------------------------------------------------------------------------
def _slot(node: Node, half: int) -> int:
    """Which ONNX direction a half runs in: 0 forward, 1 reverse (one half alone: 0)."""
    halves = node.attrs["halves"]
    return 0 if len(halves) == 1 else int(halves[half])


def _direction(node: Node) -> str:
    halves = node.attrs["halves"]
    if len(halves) == 2:
        return "bidirectional"
    return "reverse" if halves[0] else "forward"


def _pick(em: Emitter, tensor: str, axis: int, index: int, slots: int, base: str) -> str:
    if slots == 1:
        return em.op("Squeeze", [tensor, _ints(em, f"axis{axis}", [axis])], base)
    return em.op("Gather", [tensor, em.const("index", np.asarray(index, np.int64))], base, axis=axis)


class _Mask:
    """The step mask, time-major, and what the compaction and its inverse need of it.

    Computed once per mask: the recurrent layers of a stack that share a mask share these
    tensors (kept among the emitter's values under the mask's name)."""

    FIELDS = ("mf", "steps", "lens_f", "lens", "cin", "last_step", "order")

    def __init__(self, em: Emitter, mask: Node, base: str) -> None:
        self.em = em
        self.base = base
        key = f"{mask.name}\x00mask\x00"
        if key + "mf" in em.values:
            for name in self.FIELDS:
                setattr(self, name, em.values[key + name].name)
            return
        m = em.ensure(em.value(mask), (1, 0))
        self.mf = em.op("Cast", [m], f"{base}_maskf", to=TensorProto.FLOAT)
        self.steps = em.op("Shape", [m], f"{base}_steps", start=0, end=1)
        self.lens_f = em.op("ReduceSum", [self.mf, _ints(em, "axis0", [0])], f"{base}_lensf", keepdims=0)
        self.lens = em.op("Cast", [self.lens_f], f"{base}_lens", to=TensorProto.INT32)
        self.cin = em.op("CumSum", [self.mf, em.const("axis0s", np.asarray(0, np.int64))], f"{base}_cumsum")
        steps_f = em.op("Cast", [self.steps], f"{base}_stepsf", to=TensorProto.FLOAT)
        self.last_step = em.op("Sub", [steps_f, em.scalar(1.0)], f"{base}_tm1")
        # the gather order that puts each row's valid steps first: ascending (1 - m)·T + t
        t = em.op("Squeeze", [self.steps, _ints(em, "axis0", [0])], f"{base}_t")
        index = em.op(
            "Range", [em.const("zero64", np.asarray(0, np.int64)), t, em.const("one64", np.asarray(1, np.int64))], base
        )
        index_f = em.op("Cast", [index], f"{base}_idxf", to=TensorProto.FLOAT)
        index_f = em.op("Unsqueeze", [index_f, _ints(em, "axis1", [1])], f"{base}_col")
        masked = em.op("Sub", [em.scalar(1.0), self.mf], f"{base}_masked")
        late = em.op("Add", [em.op("Mul", [masked, steps_f], f"{base}_late"), index_f], f"{base}_key")
        _, self.order = _multi(
            em, "TopK", [late, self.steps], f"{base}_order", [True, True], axis=0, largest=0, sorted=1
        )
        for name in self.FIELDS:
            em.values[key + name] = Value(getattr(self, name), 2)

    def compact(self, x: str) -> str:
        """The valid steps of each row first, in their order (time-major x)."""
        return self._gather(x, self.order, f"{self.base}_compact")

    def _gather(self, x: str, index: str, base: str) -> str:
        em = self.em
        wide = em.op("Unsqueeze", [index, _ints(em, "axis2", [2])], f"{base}_idx")
        wide = em.op("Expand", [wide, em.op("Shape", [x], f"{base}_shape")], f"{base}_wide")
        return em.op("GatherElements", [x, wide], base, axis=0)

    def expand(self, y: str, backward: bool, zero_masked: bool, base: str) -> str:
        """Compacted outputs (time-major) back at each step, as Keras outputs them."""
        em = self.em
        if backward:  # the next valid step at or after t
            j = em.op("Sub", [self.cin, self.mf], f"{base}_j")
            valid = em.op("Less", [j, self.lens_f], f"{base}_valid")
        else:  # the last valid step at or before t
            j = em.op("Sub", [self.cin, em.scalar(1.0)], f"{base}_j")
            valid = em.op("Greater", [self.cin, em.scalar(0.5)], f"{base}_valid")
        j = em.op("Min", [em.op("Max", [j, em.scalar(0.0)], f"{base}_j0"), self.last_step], f"{base}_jc")
        index = em.op("Cast", [j], f"{base}_index", to=TensorProto.INT64)
        gathered = self._gather(y, index, f"{base}_back")
        keep = em.op("Cast", [valid], f"{base}_keep", to=TensorProto.FLOAT)
        if zero_masked:
            keep = em.op("Mul", [keep, self.mf], f"{base}_keepm")
        return em.op("Mul", [gathered, em.op("Unsqueeze", [keep, _ints(em, "axis2", [2])], f"{base}_k3")], base)

    def at(self, step: int, base: str) -> str:
        """The mask of one step, (batch, 1) float."""
        em = self.em
        m = em.op("Gather", [self.mf, em.const("index", np.asarray(step, np.int64))], f"{base}_m", axis=0)
        return em.op("Unsqueeze", [m, _ints(em, "axis1", [1])], f"{base}_m2")


@emitter("LSTM", "GRU", "SimpleRNN")
def _recurrent(em: Emitter, node: Node) -> Value:
    if recurrent_path(node)[0] == "scan":
        return _scan(em, node)
    a = node.attrs
    halves, flips = a["halves"], a["flips"]
    slots = len(halves)
    ins = node.inputs
    x = em.ensure(em.value(ins[0]), TIME_MAJOR)
    mask = _Mask(em, ins[1], node.name) if a["masked"] else None
    states = [em.ensure(em.value(s), None) for s in ins[1 + int(a["masked"]) :]]
    per_half = 2 if node.op == "LSTM" else 1

    wanted = {(u.attrs["part"], u.attrs["half"]) for u in node.users if u.op == "RecurrentOutput"}
    need_y = any(p == "sequences" for p, _ in wanted)
    need_h = any(p in ("h", "last") for p, _ in wanted)
    need_c = any(p == "c" for p, _ in wanted)

    by_slot = sorted(range(slots), key=lambda k: _slot(node, k))
    weights = [onnx_weights(node, k) for k in by_slot]
    w = em.const(f"{node.name}.W", np.stack([wt[0] for wt in weights]).astype(np.float32))
    r = em.const(f"{node.name}.R", np.stack([wt[1] for wt in weights]).astype(np.float32))
    b = ""
    if weights[0][2] is not None:
        b = em.const(f"{node.name}.B", np.stack([wt[2] for wt in weights]).astype(np.float32))
    initial = ["", ""]
    if states:
        for which in range(per_half):
            parts = [
                em.op("Unsqueeze", [states[k * per_half + which], _ints(em, "axis0", [0])], f"{node.name}_s{which}{k}")
                for k in by_slot
            ]
            initial[which] = parts[0] if len(parts) == 1 else em.op("Concat", parts, f"{node.name}_s{which}", axis=0)
    x_in = mask.compact(x) if mask is not None else x
    inputs = [x_in, w, r, b, mask.lens if mask is not None else "", initial[0]]
    if node.op == "LSTM":
        inputs.append(initial[1])
    attrs = {"hidden_size": a["units"], "direction": _direction(node), **_activations(node, slots)}
    if node.op == "GRU":
        attrs["linear_before_reset"] = int(a["reset_after"])
    while inputs and inputs[-1] == "":
        inputs.pop()
    outputs = [need_y, need_h or not (need_y or need_c)] + ([need_c] if node.op == "LSTM" else [])
    names = _multi(em, ONNX_OP[node.op], inputs, node.name, outputs, **attrs)
    y, y_h = names[0], names[1]
    y_c = names[2] if node.op == "LSTM" else ""

    for part, k in sorted(wanted):
        d = _slot(node, k)
        base = f"{node.name}_{part}{k}"
        if part == "sequences":
            seq = _pick(em, y, 1, d, slots, base)
            backward = bool(halves[k])
            if mask is not None:
                seq = mask.expand(seq, backward, bool(a["zero_output_for_mask"]), f"{base}_masked")
            if backward != bool(flips[k]):
                seq = _reverse_time(em, seq, f"{base}_keras")
            value = Value(seq, 3, TIME_MAJOR)
        else:
            state = _pick(em, y_c if part == "c" else y_h, 0, d, slots, base)
            if mask is not None and part != "last" and states:
                # onnxruntime zeroes the states of a row with no valid step; Keras keeps the initial ones
                some = em.op("Greater", [mask.lens_f, em.scalar(0.5)], f"{base}_any")
                some = em.op("Unsqueeze", [some, _ints(em, "axis1", [1])], f"{base}_any2")
                state = em.op("Where", [some, state, states[k * per_half + (part == "c")]], f"{base}_kept")
            if mask is not None and part == "last" and a["zero_output_for_mask"]:
                state = em.op("Mul", [state, mask.at(0 if halves[k] else -1, base)], f"{base}_zeroed")
            value = Value(state, 2)
        em.values[part_key(node, part, k)] = value
    return Value(y or y_h, 4)


@emitter("RecurrentOutput")
def _recurrent_output(em: Emitter, node: Node) -> Value:
    source = node.inputs[0]
    return em.values[part_key(source, node.attrs["part"], node.attrs["half"])]


# -- ConvLSTM: unrolled convolutions ----------------------------------------------------------------
def _act(em: Emitter, x: str, spec: tuple, base: str) -> str:
    """One of the recurrent activations (:data:`frontends.layers.rnn.ONNX_ACTIVATIONS`) as its own ONNX op."""
    name, alpha, beta = spec
    if name == "Affine":
        return em.op("Add", [em.op("Mul", [x, em.scalar(alpha)], f"{base}_a"), em.scalar(beta)], base)
    attrs = {k: float(v) for k, v in (("alpha", alpha), ("beta", beta)) if v is not None}
    return em.op(name, [x], base, **attrs)


def _onnx_conv_kernel(kernel: np.ndarray) -> np.ndarray:
    """A Keras kernel (…spatial, cin, cout) as ONNX's (cout, cin, kh, kw); 1-D kernels get height 1."""
    spatial = kernel.ndim - 2
    k = kernel.transpose(spatial + 1, spatial, *range(spatial))
    return np.ascontiguousarray(k.reshape(k.shape[0], k.shape[1], 1, *k.shape[2:]) if spatial == 1 else k, np.float32)


@emitter("ConvLSTM")
def _conv_lstm(em: Emitter, node: Node) -> Value:
    """Keras's ConvLSTMCell: the frame convolutions of every step are one Conv on (steps·batch)
    frames; then each step adds the state's convolution and applies the gates, unrolled when
    the number of steps is known, in a Scan when it is not."""
    a = node.attrs
    src = node.inputs[0].shape
    rank = len(src) - 3
    steps, sizes = src[1], src[2:-1]
    if None in sizes:
        raise UnsupportedLayerError(
            f"ConvLSTM{rank}D with unknown frame sizes {tuple(sizes)}",
            layer=node.layer,
            hint="fix the input shape (compile with --input-shape, e.g. 1,10,64,64,1)",
        )
    filters = a["filters"]
    kernel = node.params["kernel0"]
    window = kernel.shape[:-2]
    channels = src[-1]
    # (steps, batch, channels, *frame) physically, then every step's frame as one batch of images
    x = em.ensure(em.value(node.inputs[0]), (1, 0, rank + 2, *range(2, rank + 2)))
    flat = [-1, channels, *([1] if rank == 1 else []), *sizes]
    frames = em.op("Reshape", [x, _ints(em, f"{node.name}.frames", flat)], f"{node.name}_frames")
    pads = spatial_pads(a["padding"], sizes, window, a["strides"], a["dilations"])
    out_sizes = node.shape[3:-1]
    pads2 = [(0, 0), *pads] if rank == 1 else pads
    conv_attrs = {
        "kernel_shape": [1, *window] if rank == 1 else list(window),
        "strides": [1, *a["strides"]] if rank == 1 else list(a["strides"]),
        "dilations": [1, *a["dilations"]] if rank == 1 else list(a["dilations"]),
        "pads": [p[0] for p in pads2] + [p[1] for p in pads2],
    }
    conv_in = [frames, em.const(f"{node.name}.kernel", _onnx_conv_kernel(kernel))]
    if "bias0" in node.params:
        conv_in.append(em.const(f"{node.name}.bias", np.asarray(node.params["bias0"], np.float32)))
    xz = em.op("Conv", conv_in, f"{node.name}_xconv", **conv_attrs)
    frame = [*([1] if rank == 1 else []), *out_sizes]
    lead = em.op("Shape", [x], f"{node.name}_lead", start=0, end=2)  # (steps, batch)
    dims = em.op("Concat", [lead, _ints(em, f"{node.name}.gates", [4 * filters, *frame])], f"{node.name}_dims", axis=0)
    xz = em.op("Reshape", [xz, dims], f"{node.name}_xz")

    rpads = [(0, 0)] * (2 - rank) + [same_pads(s, k, 1) for s, k in zip(out_sizes, window, strict=True)]
    rec_attrs = {
        "kernel_shape": [1, *window] if rank == 1 else list(window),
        "pads": [p[0] for p in rpads] + [p[1] for p in rpads],
    }
    rk = em.const(f"{node.name}.recurrent_kernel", _onnx_conv_kernel(node.params["recurrent_kernel0"]))
    split = _ints(em, f"{node.name}.split", [filters] * 4)
    act, rec = a["activation"], a["recurrent_activation"]

    def step(z: str, h: str, c: str, base: str) -> tuple[str, str]:
        """One step from the frame's gate convolutions ``z``; no ``h``/``c``: the zero state."""
        if h:
            z = em.op("Add", [z, em.op("Conv", [h, rk], f"{base}_hconv", **rec_attrs)], f"{base}_z")
        gi, gf, gc, go = _multi(em, "Split", [z, split], f"{base}_gates", [True] * 4, axis=1)
        i_, o_ = _act(em, gi, rec, f"{base}_i"), _act(em, go, rec, f"{base}_o")
        new = em.op("Mul", [i_, _act(em, gc, act, f"{base}_g")], f"{base}_ig")
        if c:
            new = em.op("Add", [em.op("Mul", [_act(em, gf, rec, f"{base}_f"), c], f"{base}_fc"), new], f"{base}_c")
        return em.op("Mul", [o_, _act(em, new, act, f"{base}_ac")], f"{base}_h"), new

    wanted = {u.attrs["part"] for u in node.users if u.op == "RecurrentOutput"}
    backward = bool(a["halves"][0])
    if steps is not None:
        h = c = ""
        hs = []
        for i, t in enumerate(range(steps - 1, -1, -1) if backward else range(steps)):
            z = em.op("Gather", [xz, em.const("index", np.asarray(t, np.int64))], f"{node.name}_t{i}_x", axis=0)
            h, c = step(z, h, c, f"{node.name}_t{i}")
            hs.append(h)
        seq = ""
        if "sequences" in wanted:
            stacked = [em.op("Unsqueeze", [t, _ints(em, "axis0", [0])], f"{node.name}_y{i}") for i, t in enumerate(hs)]
            seq = em.op("Concat", stacked, f"{node.name}_seq", axis=0) if len(stacked) > 1 else stacked[0]
    else:
        batch = em.op("Shape", [x], f"{node.name}_batch", start=1, end=2)
        state = em.op("Concat", [batch, _ints(em, f"{node.name}.state", [filters, *frame])], f"{node.name}_s", axis=0)
        zeros = em.op("ConstantOfShape", [state], f"{node.name}_zeros")
        outer, em.nodes = em.nodes, []
        h_in, c_in, z_in = (em.fresh(f"{node.name}_{n}") for n in ("h_in", "c_in", "z_in"))
        h2, c2 = step(z_in, h_in, c_in, f"{node.name}_step")
        outs = [em.op("Identity", [h2], f"{node.name}_ho"), em.op("Identity", [c2], f"{node.name}_co")]
        outs.append(em.op("Identity", [h2], f"{node.name}_yo"))
        body_nodes, em.nodes = em.nodes, outer
        info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in (h_in, c_in, z_in)]
        body = helper.make_graph(
            body_nodes,
            f"{node.name}_body",
            info,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outs],
        )
        h, c, seq = _multi(
            em,
            "Scan",
            [zeros, zeros, xz],
            f"{node.name}_scan",
            [True] * 3,
            body=body,
            num_scan_inputs=1,
            scan_input_directions=[int(backward)],
        )

    def frame_value(t: str, base: str) -> Value:
        if rank == 1:  # (batch, filters, 1, width) → (batch, filters, width): NCW of (batch, width, filters)
            t = em.op("Squeeze", [t, _ints(em, "axis2", [2])], base)
            return Value(t, 3, (0, 2, 1))
        return Value(t, 4, (0, 3, 1, 2))

    if "sequences" in wanted:
        if rank == 1:
            seq = em.op("Squeeze", [seq, _ints(em, "axis3", [3])], f"{node.name}_seq1")
            value = Value(seq, 4, (1, 0, 3, 2))
        else:
            value = Value(seq, 5, (1, 0, 4, 2, 3))
        em.values[part_key(node, "sequences", 0)] = value
    for part, t in (("last", h), ("h", h), ("c", c)):
        if part in wanted:
            em.values[part_key(node, part, 0)] = frame_value(t, f"{node.name}_{part}")
    return Value(h, 4)


# -- the exact fallback: Keras's cell in an ONNX Scan ----------------------------------------------
def _keras_act(em: Emitter, x: str, spec: tuple, base: str) -> str:
    """A recurrent activation, the ONNX ops' own or one of those they lack (Keras's definitions)."""
    name = spec[0]
    if name[0].isupper():
        return _act(em, x, spec, base)
    if name == "gelu":  # Keras's default gelu is the exact one: x·(1 + erf(x/√2))/2
        erf = em.op("Erf", [em.op("Mul", [x, em.scalar(2**-0.5)], f"{base}_s")], f"{base}_erf")
        half = em.op("Mul", [x, em.scalar(0.5)], f"{base}_h")
        return em.op("Mul", [half, em.op("Add", [erf, em.scalar(1.0)], f"{base}_1")], base)
    if name == "silu":
        return em.op("Mul", [x, em.op("Sigmoid", [x], f"{base}_sig")], base)
    if name == "hard_silu":
        return em.op("Mul", [x, em.op("HardSigmoid", [x], f"{base}_hs", alpha=1 / 6, beta=0.5)], base)
    if name == "mish":
        return em.op("Mul", [x, em.op("Tanh", [em.op("Softplus", [x], f"{base}_sp")], f"{base}_t")], base)
    if name in ("relu6", "hard_tanh"):
        low, high = (0.0, 6.0) if name == "relu6" else (-1.0, 1.0)
        return em.op("Clip", [x, em.scalar(low), em.scalar(high)], base)
    if name == "selu":
        return em.op("Selu", [x], base, alpha=1.6732632423543772, gamma=1.0507009873554805)
    if name == "exponential":
        return em.op("Exp", [x], base)
    raise UnsupportedLayerError(f"no lowering for the recurrent activation {name}")


def _cell_step(em: Emitter, node: Node, k: int, xz: str, h: str, c: str, base: str) -> tuple[str, str]:
    """One step of Keras's cell: ``xz`` is the input's projection (x·kernel + input bias), already
    computed for every step; returns the new (h, c)."""
    a, p = node.attrs, node.params
    units = a["units"]
    act, rec = a["activation"], a["recurrent_activation"]
    kernel = np.asarray(p[f"recurrent_kernel{k}"], np.float32)
    bias = p.get(f"bias{k}")
    rec_bias = np.asarray(bias[1], np.float32) if bias is not None and np.ndim(bias) == 2 else None
    if node.op == "SimpleRNN":
        z = em.op("Add", [xz, em.op("MatMul", [h, em.const(f"{node.name}.R{k}", kernel)], f"{base}_hr")], f"{base}_z")
        return _keras_act(em, z, act, f"{base}_h"), ""
    if node.op == "LSTM":
        hz = em.op("MatMul", [h, em.const(f"{node.name}.R{k}", kernel)], f"{base}_hr")
        if rec_bias is not None:  # CuDNN's second bias
            hz = em.op("Add", [hz, em.const(f"{node.name}.Rb{k}", rec_bias)], f"{base}_hrb")
        z = em.op("Add", [xz, hz], f"{base}_z")
        gi, gf, gc, go = _multi(em, "Split", [z, _ints(em, "split4", [units] * 4)], f"{base}_g", [True] * 4, axis=1)
        i_ = _keras_act(em, gi, rec, f"{base}_i")
        f_ = _keras_act(em, gf, rec, f"{base}_f")
        o_ = _keras_act(em, go, rec, f"{base}_o")
        g_ = _keras_act(em, gc, act, f"{base}_c")
        c2 = em.op("Add", [em.op("Mul", [f_, c], f"{base}_fc"), em.op("Mul", [i_, g_], f"{base}_ig")], f"{base}_cn")
        return em.op("Mul", [o_, _keras_act(em, c2, act, f"{base}_ac")], f"{base}_hn"), c2
    # GRU
    xs = _multi(em, "Split", [xz, _ints(em, "split3", [units] * 3)], f"{base}_xs", [True] * 3, axis=1)
    if a["reset_after"]:
        hz = em.op("MatMul", [h, em.const(f"{node.name}.R{k}", kernel)], f"{base}_hr")
        if rec_bias is not None:
            hz = em.op("Add", [hz, em.const(f"{node.name}.Rb{k}", rec_bias)], f"{base}_hrb")
        hs = _multi(em, "Split", [hz, _ints(em, "split3", [units] * 3)], f"{base}_hs", [True] * 3, axis=1)
        z = _keras_act(em, em.op("Add", [xs[0], hs[0]], f"{base}_zz"), rec, f"{base}_z")
        r = _keras_act(em, em.op("Add", [xs[1], hs[1]], f"{base}_rr"), rec, f"{base}_r")
        cand = em.op("Add", [xs[2], em.op("Mul", [r, hs[2]], f"{base}_rh")], f"{base}_hh")
    else:
        zr = em.op("MatMul", [h, em.const(f"{node.name}.Rzr{k}", kernel[:, : 2 * units])], f"{base}_hzr")
        hz, hr = _multi(em, "Split", [zr, _ints(em, "split2", [units] * 2)], f"{base}_hs", [True] * 2, axis=1)
        z = _keras_act(em, em.op("Add", [xs[0], hz], f"{base}_zz"), rec, f"{base}_z")
        r = _keras_act(em, em.op("Add", [xs[1], hr], f"{base}_rr"), rec, f"{base}_r")
        rh = em.op(
            "MatMul",
            [em.op("Mul", [r, h], f"{base}_rxh"), em.const(f"{node.name}.Rh{k}", kernel[:, 2 * units :])],
            f"{base}_rhr",
        )
        cand = em.op("Add", [xs[2], rh], f"{base}_hh")
    hh = _keras_act(em, cand, act, f"{base}_cand")
    # h = z·h_prev + (1 - z)·hh = hh + z·(h_prev - hh)
    return em.op("Add", [hh, em.op("Mul", [z, em.op("Sub", [h, hh], f"{base}_d")], f"{base}_zd")], f"{base}_hn"), ""


def _scan(em: Emitter, node: Node) -> Value:
    """Each half as a Scan over the steps whose body is Keras's cell; a mask is applied as Keras
    does (states carried over, the previous output or zeros at a masked step)."""
    a = node.attrs
    units = a["units"]
    ins = node.inputs
    x = em.ensure(em.value(ins[0]), TIME_MAJOR)
    masked = a["masked"]
    m = ""
    if masked:
        mb = em.ensure(em.value(ins[1]), (1, 0))
        m = em.op(
            "Unsqueeze",
            [em.op("Cast", [mb], f"{node.name}_mf", to=TensorProto.FLOAT), _ints(em, "axis2", [2])],
            f"{node.name}_m3",
        )
    states = [em.ensure(em.value(s), None) for s in ins[1 + int(masked) :]]
    per_half = 2 if node.op == "LSTM" else 1
    batch = em.op("Shape", [x], f"{node.name}_batch", start=1, end=2)
    zeros = em.op(
        "ConstantOfShape",
        [em.op("Concat", [batch, _ints(em, f"{node.name}.units", [units])], f"{node.name}_zshape", axis=0)],
        f"{node.name}_zeros",
    )
    wanted = {(u.attrs["part"], u.attrs["half"]) for u in node.users if u.op == "RecurrentOutput"}
    for k, backward in enumerate(a["halves"]):
        base = f"{node.name}_scan{k}"
        kernel = np.asarray(node.params[f"kernel{k}"], np.float32)
        xz = em.op("MatMul", [x, em.const(f"{node.name}.K{k}", kernel)], f"{base}_xk")
        bias = node.params.get(f"bias{k}")
        if bias is not None:
            in_bias = np.asarray(bias[0] if np.ndim(bias) == 2 else bias, np.float32)
            xz = em.op("Add", [xz, em.const(f"{node.name}.b{k}", in_bias)], f"{base}_xz")
        own = states[k * per_half : (k + 1) * per_half] if states else [zeros] * per_half
        init = list(own) + ([zeros] if masked else [])

        # the body, built in a list of its own; constants stay in the main graph (outer scope)
        outer = em.nodes
        em.nodes = []
        h_in, c_in = em.fresh(f"{base}_h"), em.fresh(f"{base}_c") if per_half == 2 else ""
        out_in = em.fresh(f"{base}_out") if masked else ""
        x_in = em.fresh(f"{base}_xt")
        m_in = em.fresh(f"{base}_mt") if masked else ""
        h2, c2 = _cell_step(em, node, k, x_in, h_in, c_in, f"{base}_step")
        out = h2
        if masked:
            keep = em.op("Cast", [m_in], f"{base}_keep", to=TensorProto.BOOL)
            h2 = em.op("Where", [keep, h2, h_in], f"{base}_hk")
            if c2:
                c2 = em.op("Where", [keep, c2, c_in], f"{base}_ck")
            zero = a["zero_output_for_mask"]
            fill = em.op("Mul", [out_in, em.scalar(0.0)], f"{base}_zero") if zero else out_in
            out = em.op("Where", [keep, out, fill], f"{base}_ok")
        body_outputs = [em.op("Identity", [h2], f"{base}_ho")]
        if c2:
            body_outputs.append(em.op("Identity", [c2], f"{base}_co"))
        if masked:
            body_outputs.append(em.op("Identity", [out], f"{base}_oo"))
        body_outputs.append(em.op("Identity", [out], f"{base}_yo"))
        body_nodes, em.nodes = em.nodes, outer
        value_info = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, None)  # noqa: E731
        body_in = [h_in] + ([c_in] if c_in else []) + ([out_in] if masked else []) + [x_in] + ([m_in] if masked else [])
        body = helper.make_graph(
            body_nodes, f"{base}_body", [value_info(n) for n in body_in], [value_info(n) for n in body_outputs]
        )
        n_states = len(init)
        scan_in = [xz] + ([m] if masked else [])
        flip = bool(a["flips"][k])
        results = _multi(
            em,
            "Scan",
            [*init, *scan_in],
            base,
            [True] * (n_states + 1),
            body=body,
            num_scan_inputs=len(scan_in),
            scan_input_directions=[int(backward)] * len(scan_in),
            scan_output_directions=[int(flip)],
        )
        finals, seq = results[:n_states], results[n_states]
        parts = {"h": finals[0], "sequences": seq, "last": finals[-1] if masked else finals[0]}
        if per_half == 2:
            parts["c"] = finals[1]
        for part, name in parts.items():
            if (part, k) in wanted:
                em.values[part_key(node, part, k)] = (
                    Value(name, 3, TIME_MAJOR) if part == "sequences" else Value(name, 2)
                )
    return Value(x, 3, TIME_MAJOR)
