"""The tensor operations both Keras generations record, written once: slicing, reshapes,
transposes, squeezes, joins, splits, tiles, pads, reductions, matrix products and constants.

Keras 3's operation entries (:mod:`.numpy_ops`, :mod:`.nn_ops`) and tf.keras's TFOpLambda entries
(:mod:`.tf_functions`) read their own spellings of the arguments and call these builders, so
``keras.ops.reshape`` and ``tf.reshape`` become the very same IR. Axes are Keras axes, the batch
axis 0 included; an operation that would move, index or reduce the batch axis is refused, since
a compiled model keeps a free batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from compiler.ir import Node
from compiler.ops import DTYPES
from compiler.ops import einsum_terms as _einsum_terms

from ..layers.base import LayerContext, is_int

#: how Keras 3 writes a constant argument (a backend tensor, a NumPy array) in an operation call
CONSTANT_CLASSES = ("__tensor__", "__numpy__")


# -- arguments ----------------------------------------------------------------------------------
def is_constant(value: Any) -> bool:
    """A number, a nested list of numbers or Keras's serialized array (not a tensor)."""
    if isinstance(value, dict):
        return value.get("class_name") in CONSTANT_CLASSES
    if isinstance(value, bool | int | float):
        return True
    if isinstance(value, list | tuple) and value:
        return all(is_constant(v) and not isinstance(v, dict) for v in value)
    return False


def constant_array(ctx: LayerContext, value: Any) -> np.ndarray:
    """A constant argument as an array (float32 unless Keras wrote another dtype)."""
    if isinstance(value, dict) and value.get("class_name") in CONSTANT_CLASSES:
        cfg = value.get("config") or {}
        dtype = str(cfg.get("dtype") or "float32")
        if dtype not in DTYPES:
            raise ctx.unsupported(f"a constant of dtype {dtype}")
        return np.asarray(cfg.get("value"), dtype=dtype)
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise ctx.unsupported(f"constant argument {value!r:.60}")
    return array.astype(np.float32) if array.dtype.kind == "f" or array.dtype == np.int64 else array


def constant_node(ctx: LayerContext, array: np.ndarray) -> Node:
    return ctx.add("Constant", [], params={"value": np.ascontiguousarray(array)})


def as_node(ctx: LayerContext, value: Any) -> Node:
    """A tensor argument, or a constant one as a ``Constant`` node."""
    if isinstance(value, Node):
        return value
    if not is_constant(value):
        raise ctx.unsupported(f"argument {value!r:.60} (expects a tensor or a constant)")
    array = constant_array(ctx, value)
    return constant_node(ctx, array.astype(np.float32) if array.dtype.kind in "iu" else array)


def tensor(ctx: LayerContext, value: Any, what: str = "argument") -> Node:
    if not isinstance(value, Node):
        raise ctx.unsupported(f"{what} {value!r:.60} is not a tensor")
    return value


def batched(x: Node) -> bool:
    """Whether the first axis is the model's free batch (a constant's is a fixed size)."""
    return bool(x.shape) and x.shape[0] is None


def axis_of(ctx: LayerContext, axis: Any, rank: int, x: Node | None = None, what: str = "axis") -> int:
    """A Keras axis in [0, rank); the batch axis of a batched tensor is refused."""
    if not is_int(axis) or not -rank <= int(axis) < rank:
        raise ctx.unsupported(f"{what} {axis!r:.40} for a tensor of rank {rank}")
    a = int(axis) % rank
    if a == 0 and (x is None or batched(x)):
        raise ctx.unsupported(
            f"{what} {axis} is the batch axis", hint="operate on the other axes; the batch stays free"
        )
    return a


def axes_of(ctx: LayerContext, axes: Any, rank: int, x: Node, what: str = "axis") -> tuple[int, ...]:
    if axes is None:
        raise ctx.unsupported(f"{what} None (every axis, the batch axis included)", hint="name the axes")
    items = list(axes) if isinstance(axes, list | tuple) else [axes]
    out = tuple(sorted({axis_of(ctx, a, rank, x, what) for a in items}))
    if len(out) != len(items):
        raise ctx.unsupported(f"repeated {what} {axes}")
    return out


# -- slicing --------------------------------------------------------------------------------------
def _index_item(item: Any) -> Any:
    """One index item, in either generation's spelling: an int, None, Ellipsis or a slice triple."""
    if isinstance(item, dict):
        if item.get("class_name") == "__ellipsis__":
            return Ellipsis
        cfg = item.get("config", item) if item.get("class_name") == "__slice__" else item
        if set(cfg) <= {"start", "stop", "step"} and cfg:
            return slice(cfg.get("start"), cfg.get("stop"), cfg.get("step"))
    if item is None or is_int(item) and not isinstance(item, bool):
        return item
    return ValueError


def getitem(ctx: LayerContext, x: Node, spec: Any) -> Node:
    """``x[spec]``: ints, slices with steps, Ellipsis and None (new axes), negative indices."""
    items = [_index_item(i) for i in (spec if isinstance(spec, list | tuple) else [spec])]
    if ValueError in items:
        raise ctx.unsupported(f"the index {spec!r:.80}", hint="index with ints, slices, ... and None")
    if items.count(Ellipsis) > 1:
        raise ctx.unsupported("an index with more than one Ellipsis")
    consuming = sum(1 for i in items if i is not None and i is not Ellipsis)
    rank = len(x.shape)
    if consuming > rank:
        raise ctx.unsupported(f"{consuming} indices for a tensor of rank {rank}")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at : at + 1] = [slice(None)] * (rank - consuming)
    else:
        items += [slice(None)] * (rank - consuming)
    slices, squeeze, new_axes, axis, out_rank = [], [], [], 0, 0
    for item in items:
        if item is None:
            new_axes.append(out_rank)
            out_rank += 1
            continue
        size = x.shape[axis]
        if isinstance(item, slice):
            triple = (item.start, item.stop, item.step)
            if any(v is not None and not is_int(v) for v in triple):
                raise ctx.unsupported(f"the slice {item} (its bounds must be whole numbers)")
            slices.append(tuple(None if v is None else int(v) for v in triple))
            out_rank += 1
        else:
            i = int(item)
            if size is not None and not -size <= i < size:
                raise ctx.unsupported(f"index {i} is out of range for axis {axis} of size {size}")
            if size is not None:
                i %= size
            slices.append((i, None if i == -1 else i + 1, None))
            squeeze.append(axis)
        axis += 1
    if batched(x) and (slices[0] not in ((None, None, None), (None, None, 1)) or 0 in new_axes):
        raise ctx.unsupported(f"the index {spec!r:.80} indexes the batch axis", hint="keep ':' first")
    steps: list[tuple[str, dict[str, Any]]] = []
    if any(s not in ((None, None, None), (None, None, 1)) for s in slices):
        steps.append(("Slice", {"slices": tuple(slices)}))
    if squeeze:
        steps.append(("Squeeze", {"axes": tuple(squeeze)}))
    if new_axes:
        steps.append(("Unsqueeze", {"axes": tuple(new_axes)}))
    return chain(ctx, x, steps or [("Identity", {})])


def chain(ctx: LayerContext, x: Node, steps: Sequence[tuple[str, dict[str, Any]]]) -> Node:
    """Ops applied in turn, the last one named as the operation."""
    for i, (op, attrs) in enumerate(steps):
        x = ctx.add(op, [x], attrs=attrs, main=i == len(steps) - 1)
    return x


# -- shapes ---------------------------------------------------------------------------------------
def reshape(ctx: LayerContext, x: Node, shape: Any) -> Node:
    """NumPy's reshape with the batch first: (-1, …) or (None, …) keeps the batch free."""
    target = [-1 if d is None else d for d in (list(shape) if isinstance(shape, list | tuple) else [shape])]
    if any(not is_int(d) for d in target):
        raise ctx.unsupported(f"the target shape {shape!r:.60}")
    if not batched(x):
        return ctx.add("ReshapeAll", [x], attrs={"shape": tuple(int(d) for d in target)}, main=True)
    rest = [int(d) for d in target[1:]]
    given = list(shape) if isinstance(shape, list | tuple) else [shape]
    if sum(d is None for d in given[1:]) > 1:  # ops.shape(x) of a tensor whose height and width are free
        raise ctx.unsupported(
            f"the target shape {tuple(given)} has several unknown sizes (None)",
            hint="give the model input a fixed height and width, or use keras.ops.nn.depth_to_space",
        )
    if target[0] != -1 and target[0] != x.shape[0] or target.count(-1) > 1 and target[0] == -1 and -1 in rest:
        raise ctx.unsupported(
            f"the target shape {tuple(shape)} changes the batch axis", hint="keep -1 (or None) first for the batch"
        )
    return ctx.add("Reshape", [x], attrs={"shape": tuple(rest)}, main=True)


def transpose(ctx: LayerContext, x: Node, axes: Any) -> Node:
    rank = len(x.shape)
    perm = list(range(rank))[::-1] if axes is None else [int(a) % rank for a in axes]
    if sorted(perm) != list(range(rank)):
        raise ctx.unsupported(f"axes {axes} are not a permutation of {rank} axes")
    if batched(x) and perm[0] != 0:
        raise ctx.unsupported(f"axes {tuple(perm)} move the batch axis", hint="keep 0 first")
    return ctx.add("Transpose", [x], attrs={"perm": tuple(perm)}, main=True)


def expand_dims(ctx: LayerContext, x: Node, axis: Any, main: bool = True) -> Node:
    items = list(axis) if isinstance(axis, list | tuple) else [axis]
    rank = len(x.shape) + len(items)
    axes = axes_of(ctx, items, rank, x)
    return ctx.add("Unsqueeze", [x], attrs={"axes": axes}, main=main)


def squeeze(ctx: LayerContext, x: Node, axis: Any) -> Node:
    rank = len(x.shape)
    if axis is None or axis == []:
        axes = tuple(a for a in range(1 if batched(x) else 0, rank) if x.shape[a] == 1)
    else:
        axes = axes_of(ctx, axis, rank, x)
    if any(x.shape[a] != 1 for a in axes):
        raise ctx.unsupported(f"cannot squeeze axis {axis} of shape {x.shape}: its size is not 1")
    if not axes:
        return ctx.add("Identity", [x], main=True)
    return ctx.add("Squeeze", [x], attrs={"axes": axes}, main=True)


def concatenate(ctx: LayerContext, xs: Any, axis: Any) -> Node:
    nodes = [as_node(ctx, v) for v in (xs if isinstance(xs, list | tuple) else [xs])]
    first = next((n for n in nodes if batched(n)), nodes[0])
    a = axis_of(ctx, axis, len(first.shape), first)
    return ctx.add("Concat", nodes, attrs={"axis": a}, main=True)


def stack(ctx: LayerContext, xs: Any, axis: Any) -> Node:
    nodes = [as_node(ctx, v) for v in (xs if isinstance(xs, list | tuple) else [xs])]
    first = next((n for n in nodes if batched(n)), nodes[0])
    a = axis_of(ctx, axis, len(first.shape) + 1, first)
    expanded = [ctx.add("Unsqueeze", [n], attrs={"axes": (a,)}) for n in nodes]
    return ctx.add("Concat", expanded, attrs={"axis": a}, main=True)


def split(ctx: LayerContext, x: Node, pieces: Any, axis: Any, *, sizes: bool) -> list[Node]:
    """``pieces``: a number of equal parts, or the split points (NumPy, ``sizes=False``) or part
    sizes (TensorFlow's ``num_or_size_splits``, ``sizes=True``)."""
    rank = len(x.shape)
    a = axis_of(ctx, axis, rank, x)
    n = x.shape[a]
    if n is None:
        raise ctx.unsupported(f"splitting axis {a} of unknown size")
    if is_int(pieces):
        k = int(pieces)
        if k < 1 or n % k:
            raise ctx.unsupported(f"{n} values on axis {a} do not split into {k} equal parts")
        bounds = [i * (n // k) for i in range(k + 1)]
    elif isinstance(pieces, list | tuple) and all(is_int(p) for p in pieces):
        if sizes:
            parts = [int(p) for p in pieces]
            if parts.count(-1) == 1:
                parts[parts.index(-1)] = n - (sum(parts) + 1)
            if sum(parts) != n or min(parts) < 0:
                raise ctx.unsupported(f"part sizes {list(pieces)} do not add up to {n}")
            bounds = list(np.cumsum([0, *parts]))
        else:
            bounds = [0, *[min(max(int(p) % (n + 1) if int(p) < 0 else int(p), 0), n) for p in pieces], n]
    else:
        raise ctx.unsupported(f"split by {pieces!r:.40}")
    outs = []
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        if hi <= lo:
            raise ctx.unsupported(f"an empty part ({lo}:{hi}) of axis {a}")
        slices = [(None, None, None)] * rank
        slices[a] = (int(lo), int(hi), None)
        name = ctx.name if i == 0 else f"{ctx.name}/part{i}"
        outs.append(ctx.graph.add("Slice", [x], name=name, layer=ctx.name, attrs={"slices": tuple(slices)}))
    return outs


def tile(ctx: LayerContext, x: Node, repeats: Any) -> Node:
    reps = [int(r) for r in (repeats if isinstance(repeats, list | tuple) else [repeats])]
    rank = len(x.shape)
    if len(reps) > rank:
        raise ctx.unsupported(f"repeats {reps} for a tensor of rank {rank} (would add axes before the batch)")
    reps = [1] * (rank - len(reps)) + reps
    if batched(x) and reps[0] != 1:
        raise ctx.unsupported(f"repeats {reps} repeat the batch", hint="keep 1 first")
    return ctx.add("Tile", [x], attrs={"repeats": tuple(reps)}, main=True)


def repeat(ctx: LayerContext, x: Node, repeats: Any, axis: Any) -> Node:
    if not is_int(repeats) or int(repeats) < 1:
        raise ctx.unsupported(f"repeats {repeats!r:.40} (one positive count is supported)")
    if axis is None:
        raise ctx.unsupported("repeat with axis None (it flattens the batch)", hint="give an axis")
    a = axis_of(ctx, axis, len(x.shape), x)
    return ctx.add("Repeat", [x], attrs={"repeats": int(repeats), "axis": a}, main=True)


PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge"}


def pad(ctx: LayerContext, x: Node, width: Any, mode: str, value: Any) -> Node:
    rank = len(x.shape)
    try:
        pairs = np.broadcast_to(np.asarray(width, dtype=np.int64), (rank, 2)).tolist()
    except (ValueError, TypeError):
        raise ctx.unsupported(f"pad width {width!r:.60} for a tensor of rank {rank}") from None
    mode = str(mode).lower()
    if mode not in PAD_MODES:
        raise ctx.unsupported(f"pad mode '{mode}'", hint="supported: constant, reflect, edge")
    if batched(x) and tuple(pairs[0]) != (0, 0):
        raise ctx.unsupported(f"padding {pairs[0]} on the batch axis")
    if min(min(p) for p in pairs) < 0:
        raise ctx.unsupported(f"negative pad width {pairs}")
    fill = 0.0 if value is None else float(value)
    attrs = {"pads": tuple(tuple(int(v) for v in p) for p in pairs), "mode": PAD_MODES[mode], "value": fill}
    return ctx.add("PadAxes", [x], attrs=attrs, main=True)


# -- math -----------------------------------------------------------------------------------------
def _same_dtype(ctx: LayerContext, args: Sequence[Any]) -> list[Node]:
    """The operands of an element-wise op as nodes of one element type, as ONNX requires: integer
    and bool tensors (token ids, masks) keep theirs when every constant is a whole number
    (``ids != 0``), and are compared as float32 otherwise, as Keras promotes them."""
    tensors = [a for a in args if isinstance(a, Node)]
    kinds = {t.dtype for t in tensors}
    if len(kinds) == 1 and not next(iter(kinds)).startswith("float"):
        kind = next(iter(kinds))
        arrays = [None if isinstance(a, Node) else constant_array(ctx, a) for a in args]
        if all(a is None or np.array_equal(a, np.round(a)) for a in arrays):
            pairs = zip(args, arrays, strict=True)
            return [a if arr is None else constant_node(ctx, arr.astype(kind)) for a, arr in pairs]
    nodes = [as_node(ctx, a) for a in args]
    if len({n.dtype for n in nodes}) > 1:
        nodes = [n if n.dtype == "float32" else ctx.add("Cast", [n], attrs={"dtype": "float32"}) for n in nodes]
    return nodes


def elementwise(ctx: LayerContext, op: str, args: Sequence[Any], *, dtype: str | None = None) -> Node:
    """An element-wise IR op over tensors and constants (NumPy broadcasting)."""
    if not any(isinstance(a, Node) for a in args):
        raise ctx.unsupported("an operation on constants only")
    # operands that are all Constant nodes (a traced layer's weights) fold when compiling
    if op == "Where":  # the condition stays bool; the two branches share one type
        nodes = [as_node(ctx, args[0]), *_same_dtype(ctx, args[1:])]
    else:
        nodes = _same_dtype(ctx, args)
    kwargs = {"dtype": dtype} if dtype else {}
    return ctx.add(op, nodes, main=True, **kwargs)


def power(ctx: LayerContext, base: Any, exponent: Any) -> Node:
    if isinstance(base, Node) and isinstance(exponent, int | float) and not isinstance(exponent, bool):
        special = {2: "Square", 0.5: "Sqrt", -1: "Reciprocal", -0.5: "Rsqrt"}
        if exponent == 1:
            return ctx.add("Identity", [base], main=True)
        if exponent in special:
            return ctx.add(special[exponent], [base], main=True)
    return elementwise(ctx, "Pow", [base, exponent])


def clip(ctx: LayerContext, x: Node, low: Any, high: Any) -> Node:
    lo = -np.inf if low is None else low
    hi = np.inf if high is None else high
    if not isinstance(lo, int | float) or not isinstance(hi, int | float):
        raise ctx.unsupported("clip bounds that are tensors", hint="use keras.ops.maximum and minimum")
    return ctx.add("Clip", [x], attrs={"min": float(lo), "max": float(hi)}, main=True)


def cast(ctx: LayerContext, x: Node, dtype: Any) -> Node:
    name = str(dtype)
    if name not in DTYPES:
        raise ctx.unsupported(f"cast to {name}", hint="supported: " + ", ".join(DTYPES))
    if name == x.dtype:
        return ctx.add("Identity", [x], main=True)
    return ctx.add("Cast", [x], attrs={"dtype": name}, dtype=name, main=True)


REDUCTIONS = {"mean": "ReduceMean", "sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin", "prod": "ReduceProd"}


def reduce(ctx: LayerContext, kind: str, x: Node, axis: Any, keepdims: Any) -> Node:
    axes = axes_of(ctx, axis, len(x.shape), x)
    return ctx.add(REDUCTIONS[kind], [x], attrs={"axes": axes, "keepdims": bool(keepdims)}, main=True)


def arg_extreme(ctx: LayerContext, op: str, x: Node, axis: Any, keepdims: Any, dtype: str) -> Node:
    if axis is None:
        raise ctx.unsupported(f"{op} over every axis (axis None flattens the batch)", hint="give an axis")
    a = axis_of(ctx, axis, len(x.shape), x)
    return ctx.add(op, [x], attrs={"axes": (a,), "keepdims": bool(keepdims), "dtype": dtype}, main=True)


def matmul(ctx: LayerContext, a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False) -> Node:
    x, y = as_node(ctx, a), as_node(ctx, b)
    if len(x.shape) < 2 or len(y.shape) < 2:
        raise ctx.unsupported(f"matmul of shapes {x.shape} and {y.shape} (rank 2 or more is supported)")
    if y.op == "Constant" and len(y.shape) == 2 and x.op != "Constant" and not transpose_a:
        # x @ W with W known: a Dense on the last axis, which BatchNorm and Affine fold into and
        # which runs on NCHW feature maps as a 1×1 convolution
        kernel = y.params["value"].T if transpose_b else y.params["value"]
        kernel = np.ascontiguousarray(kernel.astype(np.float32))
        return ctx.add("Dense", [x], params={"kernel": kernel}, main=True)
    if transpose_a:
        x = _swap_last(ctx, x)
    if transpose_b:
        y = _swap_last(ctx, y)
    return ctx.add("MatMul", [x, y], main=True)


def _swap_last(ctx: LayerContext, x: Node) -> Node:
    rank = len(x.shape)
    return ctx.add("Transpose", [x], attrs={"perm": (*range(rank - 2), rank - 1, rank - 2)})


def einsum(ctx: LayerContext, equation: Any, operands: Sequence[Any]) -> Node:
    eq = str(equation).replace(" ", "")
    try:
        terms, out = _einsum_terms(eq)
    except Exception as err:
        raise ctx.unsupported(
            f"einsum equation '{equation}'",
            hint="supported: explicit equations with '->', one letter per axis, no '...' or repeated letters",
        ) from err
    nodes = [as_node(ctx, o) for o in operands]
    if any(batched(n) and t[0] != out[0] for n, t in zip(nodes, terms, strict=False)) or not out:
        raise ctx.unsupported(f"einsum equation '{equation}' does not keep the batch axis first")
    return ctx.add("Einsum", nodes, attrs={"equation": eq}, main=True)


def resize(ctx: LayerContext, x: Node, size: Any, method: str, antialias: Any = False) -> Node:
    if len(x.shape) != 4:
        raise ctx.unsupported(f"resizing a tensor of shape {x.shape} (expects NHWC images)")
    if antialias:
        raise ctx.unsupported("antialias=True", hint="resize without antialiasing")
    modes = {"bilinear": "bilinear", "nearest": "nearest"}
    if str(method) not in modes:
        raise ctx.unsupported(f"interpolation '{method}'", hint="supported: bilinear, nearest")
    h, w = (int(s) for s in size)
    return ctx.add("Resize", [x], attrs={"size": (h, w), "mode": modes[str(method)]}, main=True)


def depth_space(ctx: LayerContext, op: str, x: Node, block: Any, data_format: Any) -> Node:
    if str(data_format) not in ("channels_last", "NHWC", "None"):
        raise ctx.unsupported(f"data_format {data_format}", hint="channels_last (NHWC)")
    if not is_int(block) or int(block) < 2:
        raise ctx.unsupported(f"block size {block!r:.20}")
    return ctx.add(op, [x], attrs={"block_size": int(block)}, main=True)
