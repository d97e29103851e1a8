"""Where a layer's weights come from: a Keras weights file, or the layer's own initializer.

Keras 3 ``.weights.h5`` files (also inside ``.keras`` archives) key layers by attribute path
(``layers/dense_3/vars/0``) and record the real layer name in the ``vars`` group's ``name``
attribute; variables are numbered in the order the layer creates them. Legacy Keras 2 / tf.keras
HDF5 files list each layer's variables under ``model_weights/<layer>`` in the ``weight_names``
attribute. Both are read into one map: layer scope (the layer name, prefixed by enclosing model
names for nested models) → ordered list of arrays.

With no file, weights are drawn from the initializer named in the layer config, seeded per layer
(seed, layer scope) so that the same model and seed always give the same bytes, whatever order
layers are visited in.

An HDF5 file can point outside itself: an *external link* names another HDF5 file, a dataset's
*external storage* names raw files (any path, ``/etc/passwd`` or a FIFO), a *virtual dataset* maps
other files, and a filter may need a plugin library. Keras writes none of these, and a weights
file must never make kerascc read a file it was not given, so :func:`check_hdf5` walks every link
(looked at before it is followed) and every dataset's storage, and refuses any of them, in the
child process that reads the file first (:func:`probe_h5`) and again in this one.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import inspect
import json
import math
import os
import re
import selectors
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compiler.errors import CompileError, WeightsError
from compiler.limits import DEFAULT_LIMITS, Limits, ResourceLimitError

Scope = tuple[str, ...]


class WeightStore:
    """Ordered arrays per layer scope, and a check that every one was used."""

    def __init__(
        self,
        arrays: dict[Scope, list[np.ndarray]],
        source: str,
        saved: set[Scope] | None = None,
        attributes: dict[tuple[str, ...], list[np.ndarray]] | None = None,
    ) -> None:
        self.arrays = arrays
        # Keras 3 files: variables saved under a layer's attributes rather than its ``layers`` list
        # (a custom layer's sublayers, a subclassed model's), keyed by their group path; the
        # traced layers (frontends.traced) adopt them
        self.attributes = attributes or {}
        self.source = source
        self.used: set[Scope] = set()
        # Keras 3's layout writes a group for every object it saves, by name and by attribute
        # path, and saves an object shared by several models once: a layer with no group of its
        # own was saved where Keras met it first. None for legacy files, which repeat the
        # weights of a shared layer under every top-level layer that uses it.
        self.saved = saved

    def holds(self, *scopes: Scope) -> bool:
        """Whether Keras saved an object at one of these paths (always, for legacy files)."""
        return self.saved is None or any(s in self.saved for s in scopes)

    def get(self, scope: Scope) -> list[np.ndarray] | None:
        """The arrays of one layer; legacy files may key nested layers without their model's name."""
        candidates = [scope]
        if len(scope) > 1:
            candidates.append(scope[-1:])
        if len(scope) > 2:  # legacy: a model nested two deep lists its layers under the top one
            candidates.append((scope[0], scope[-1]))
        for key in candidates:
            if key in self.arrays:
                self.used.add(key)
                return self.arrays[key]
        if len(scope) == 1:  # a layer whose variables were saved under other name scopes
            parts = [k for k in self.arrays if k[0] == scope[0]]
            if parts:
                self.used.update(parts)
                return [a for k in parts for a in self.arrays[k]]
        return None

    def unused(self) -> list[str]:
        return ["/".join(s) for s, arrs in self.arrays.items() if arrs and s not in self.used]


class _Reader:
    """Reads datasets as float32 after checking their declared size against the weight budget.

    An HDF5 header can claim any shape; the check happens before h5py allocates anything.
    """

    def __init__(self, label: str, limits: Limits) -> None:
        self.label = label
        self.limits = limits
        self.total = 0
        self.layers = 0

    def array(self, dataset: Any, where: str) -> np.ndarray:
        shape = getattr(dataset, "shape", None)
        if shape is None:  # a group where a dataset belongs
            raise WeightsError(f"'{where}' is not an array", file=self.label, hint="is this a Keras weights file?")
        problem = _storage_problem(dataset)  # checked by check_hdf5 already; the read must not depend on it
        if problem is not None:
            raise WeightsError(f"{where!r} {problem}", file=self.label, hint=OUTSIDE_HINT)
        self.total += int(math.prod(shape)) * 4
        self.limits.check("the weights in this file", self.total, "max_weight_bytes", file=self.label)
        try:
            return np.asarray(dataset[()], dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise WeightsError(f"'{where}' does not hold numbers ({exc})", file=self.label) from None


def _sorted_vars(group: Any, reader: _Reader) -> list[np.ndarray]:
    keys = sorted(group.keys(), key=lambda k: int(k) if str(k).isdigit() else 1 << 30)
    return [reader.array(group[k], f"{group.name}/{k}") for k in keys]


def _read_keras3(
    root: Any, scope: Scope, out: dict[Scope, list[np.ndarray]], reader: _Reader, saved: set[Scope], path: Scope = ()
) -> None:
    layers = root.get("layers")
    if layers is None:
        return
    for key in layers:
        child = layers[key]
        reader.layers += 1  # each layer's scope is kept: their number is bounded like the model's layers
        reader.limits.check("the weights file", reader.layers, "max_layers", file=reader.label)
        vars_group = child.get("vars")
        # Keras 3 records the layer name; tf-keras does not, and the builder then matches the
        # attribute path ("#conv2d_3") that Keras derives from the layer order.
        name = vars_group.attrs.get("name", None) if vars_group is not None else None
        name = "#" + key if name is None else name
        name = name.decode() if isinstance(name, bytes) else str(name)
        child_scope = (*scope, name)
        child_path = (*path, "#" + key)
        saved.update((child_scope, child_path))
        wrapped = child.get("layer")  # a wrapper (TimeDistributed) saves its layer's variables under "layer"
        nested = wrapped is not None or any(k in child for k in _RECURRENT_SUBOBJECTS)
        if vars_group is not None and len(vars_group):
            out[child_scope] = _sorted_vars(vars_group, reader)
        elif nested:  # an RNN's cell, Bidirectional's halves, a wrapper's layer: their variables are the layer's
            inner = _sublayer_vars(child, reader)
            if inner:
                out[child_scope] = inner
        wrapped_vars = wrapped.get("vars") if wrapped is not None and hasattr(wrapped, "get") else None
        if wrapped_vars is not None and len(wrapped_vars) and child_scope not in out:
            out[child_scope] = _sorted_vars(wrapped_vars, reader)
        if not nested:  # sublayers of their own (MultiHeadAttention's query_dense …), each under its name
            _read_sublayers(child, child_scope, out, reader)
        _read_keras3(child, child_scope, out, reader, saved, child_path)


def _read_attributes(root: Any, out: dict[tuple[str, ...], list[np.ndarray]], reader: _Reader) -> None:
    """The ``vars`` of every group that is not an entry of a ``layers`` list (those are read by
    :func:`_read_keras3`): the file's top, and objects saved under attribute names."""
    # ``held``: below an attribute (a custom layer's ``self.mlp = keras.Sequential([...])``), where
    # the entries of a ``layers`` list are not reached by _read_keras3 and are read here too
    stack: list[tuple[Any, tuple[str, ...], bool, bool]] = [(root, (), False, False)]
    while stack:
        group, path, listed, held = stack.pop()
        vars_group = group.get("vars")
        if (held or not listed) and vars_group is not None and hasattr(vars_group, "keys") and len(vars_group):
            out[path] = _sorted_vars(vars_group, reader)
        if len(path) >= HDF5_MAX_DEPTH:
            continue
        for key in group:
            child = group[key]
            if key != "vars" and hasattr(child, "keys"):
                attribute = bool(path) and key != "layers" and path[-1] != "layers"
                stack.append((child, (*path, str(key)), path[-1:] == ("layers",), held or attribute))


#: Sub-objects a wrapper creates first (Keras lists the forward layer's weights before the backward's).
_FIRST_SUBLAYERS = ("forward_layer", "backward_layer")
#: Sub-objects whose variables Keras counts as the recurrent layer's own (read by :func:`_sublayer_vars`).
_RECURRENT_SUBOBJECTS = ("cell", *_FIRST_SUBLAYERS)


def _sublayer_vars(group: Any, reader: _Reader, depth: int = 0) -> list[np.ndarray]:
    """The variables of a layer that keeps them in sub-objects (an RNN's ``cell``, Bidirectional's
    ``forward_layer``/``backward_layer``, a wrapper's ``layer``), in Keras's variable order."""
    if depth > 4:
        return []
    keys = [k for k in group.keys() if k not in ("vars", "layers") and hasattr(group[k], "keys")]
    keys.sort(key=lambda k: (_FIRST_SUBLAYERS.index(k) if k in _FIRST_SUBLAYERS else len(_FIRST_SUBLAYERS), k))
    found: list[np.ndarray] = []
    for key in keys:
        sub = group[key]
        own = sub.get("vars")
        if own is not None and len(own):
            found += _sorted_vars(own, reader)
        found += _sublayer_vars(sub, reader, depth + 1)
    return found


def _read_sublayers(group: Any, scope: Scope, out: dict[Scope, list[np.ndarray]], reader: _Reader) -> None:
    """A layer's own sublayers, saved beside its ``vars`` under their attribute names
    (MultiHeadAttention's ``query_dense/vars``): keyed by the sublayer's name under the layer's
    scope, ``(layer, "query")``, as legacy files key ``layer/query/kernel``; tf-keras records no
    names, and its sublayers are keyed by attribute, ``(#layer, "#_query_dense")``."""
    for key in sorted(group.keys()):
        if key in ("vars", "layers"):
            continue
        child = group[key]
        vars_group = child.get("vars") if hasattr(child, "get") else None
        if vars_group is None:
            continue
        name = vars_group.attrs.get("name", None)
        name = "#" + key if name is None else (name.decode() if isinstance(name, bytes) else str(name))
        sub = (*scope, name)
        if len(vars_group):
            out[sub] = _sorted_vars(vars_group, reader)
        _read_sublayers(child, sub, out, reader)


def _read_legacy(root: Any, out: dict[Scope, list[np.ndarray]], reader: _Reader) -> None:
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in root.attrs.get("layer_names", [])]
    for layer in names:
        group = root[layer]
        for weight_name in group.attrs.get("weight_names", []):
            weight_name = weight_name.decode() if isinstance(weight_name, bytes) else str(weight_name)
            parts = weight_name.split("/")
            # "conv/kernel:0" belongs to the layer itself; "inner/dense/kernel:0" or, as tf.keras
            # writes nested models, "dense/kernel:0" under layer "inner" belongs to a sublayer.
            own = parts[-2] == layer if len(parts) >= 2 else True
            scope: Scope = (layer,) if own or len(parts) < 2 else (layer, parts[-2])
            if weight_name not in group:
                raise WeightsError(
                    f"lists weight '{weight_name}' but does not hold it",
                    file=reader.label,
                    layer=layer,
                    hint="the file is damaged or was not written by Keras",
                )
            out.setdefault(scope, []).append(reader.array(group[weight_name], f"{layer}/{weight_name}"))


def read_h5(file: Any, label: str, limits: Limits = DEFAULT_LIMITS) -> WeightStore:
    """Read weights from an open h5py File/Group in either Keras layout."""
    arrays: dict[Scope, list[np.ndarray]] = {}
    attributes: dict[tuple[str, ...], list[np.ndarray]] = {}
    reader = _Reader(label, limits)
    saved: set[Scope] | None = None
    check_hdf5(file, label, limits)
    try:
        if "model_weights" in file:
            _read_legacy(file["model_weights"], arrays, reader)
        elif "layer_names" in file.attrs:
            _read_legacy(file, arrays, reader)
        else:
            saved = set()
            _read_keras3(file, (), arrays, reader, saved)
            _read_attributes(file, attributes, reader)
    except (KeyError, AttributeError, TypeError, ValueError, RuntimeError, OSError) as exc:
        raise WeightsError(
            f"not laid out like a Keras weights file ({type(exc).__name__}: {exc})", file=label
        ) from None
    return WeightStore(arrays, label, saved, attributes)


# -- what an HDF5 file may hold ---------------------------------------------------------------------
#: Groups nested deeper than this are refused: Keras nests two groups per nested model, so this
#: admits models nested 127 deep, and it bounds the work per object of a file built to be deep.
HDF5_MAX_DEPTH = 256
#: Groups and datasets per layer of ``--max-layers`` (a layer, its variables, optimizer slots).
HDF5_OBJECTS_PER_LAYER = 32
OUTSIDE_HINT = "Keras writes every array inside the file itself; save the weights again with Keras"


class _Refused(Exception):
    """An HDF5 file holds something kerascc will not open or read (raised by :func:`_walk_hdf5`).

    ``kind`` is "outside" (data or links in other files), "layout" (not how Keras writes files)
    or "limit" (too many objects).
    """

    def __init__(self, message: str, kind: str = "outside") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


def _storage_problem(dataset: Any) -> str | None:
    """Why a dataset's bytes are not (only) inside this file, or None when they are."""
    if dataset.is_virtual:
        return "is a virtual dataset, made of data in other files, which kerascc never reads"
    external = dataset.external
    if external:
        target = str(external[0][0])
        target = target if len(target) <= 200 else target[:200] + "…"
        return f"keeps its data in another file ({target!r}), which kerascc never reads"
    plist = dataset.id.get_create_plist()
    # deflate, shuffle, fletcher32, szip, nbit, scaleoffset (built into HDF5) and lzf (into h5py)
    for index in range(plist.get_nfilters()):
        code = plist.get_filter(index)[0]
        if code not in (1, 2, 3, 4, 5, 6, 32000):
            return f"needs HDF5 filter {code}, which HDF5 would load from a plugin library"
    return None


def _walk_hdf5(root: Any, max_objects: int, max_depth: int, visit: Callable[[Any], None] | None = None) -> int:
    """Visit every group and dataset of an open HDF5 file once, refusing what points outside it.

    Each link is looked at (``get(name, getlink=True)``) before it is followed: only hard links
    are, so an external link's target is never opened; a dataset's storage is checked before
    ``visit`` may read it. Iterative and counted, so work is linear in the file and bounded.
    """
    import h5py  # heavy and optional until an HDF5 file is read

    def shown(text: str) -> str:  # names are data: quoted, control characters escaped, kept short
        return repr(text if len(text) <= 200 else text[:200] + "…")

    def key(obj: Any) -> tuple[int, int]:
        info = h5py.h5o.get_info(obj.id)
        return info.fileno, info.addr

    seen = {key(root)}
    stack = [(root, "", 0)]
    if visit is not None:
        visit(root)
    while stack:
        group, path, depth = stack.pop()
        for name in group:  # link names only: iterating resolves nothing
            where = f"{path}/{name}"
            try:
                link = group.get(name, getlink=True)
            except TypeError:  # a user-defined link class
                raise _Refused(f"{shown(where)} is a link of a kind kerascc does not follow", "layout") from None
            if isinstance(link, h5py.ExternalLink):
                raise _Refused(
                    f"{shown(where)} is a link to another file ({shown(link.filename)}), which kerascc never opens"
                )
            if isinstance(link, h5py.SoftLink):
                raise _Refused(
                    f"{shown(where)} is a soft link (to {shown(link.path)}); Keras files hold none", "layout"
                )
            obj = group[name]
            if key(obj) in seen:  # a second hard link to an object already visited
                continue
            seen.add(key(obj))
            if len(seen) > max_objects:
                raise _Refused(f"holds over {max_objects:,} groups and datasets", "limit")
            if isinstance(obj, h5py.Dataset):
                problem = _storage_problem(obj)
                if problem is not None:
                    raise _Refused(f"{shown(where)} {problem}")
            elif isinstance(obj, h5py.Group):
                if depth >= max_depth:
                    raise _Refused(f"groups are nested over {max_depth} deep", "layout")
                stack.append((obj, where, depth + 1))
            if visit is not None:
                visit(obj)
    return len(seen)


def _refusal(refused: _Refused, label: str, limits: Limits) -> CompileError:
    if refused.kind == "limit":
        return ResourceLimitError(
            f"the HDF5 file {refused.message}, more than a model of {limits.max_layers:,} layers has",
            file=label,
            hint=f"raise it with {Limits.FLAGS['max_layers']} if this is intended",
        )
    hint = OUTSIDE_HINT if refused.kind == "outside" else "was the file written by Keras? save it again with Keras"
    return WeightsError(refused.message, file=label, hint=hint)


def _max_objects(limits: Limits) -> int:
    return HDF5_OBJECTS_PER_LAYER * max(limits.max_layers, 1)


def check_hdf5(file: Any, label: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse an open HDF5 file that links or stores data outside itself, or is absurdly big or deep."""
    try:
        _walk_hdf5(file, _max_objects(limits), HDF5_MAX_DEPTH)
    except _Refused as refused:
        raise _refusal(refused, label, limits) from None


# Run in the child, for each request the parent writes on its stdin (a JSON header line, then the
# file's bytes when it sends them): the walk above (its own source, so the child imports h5py and
# nothing of kerascc), touching every attribute and, within the weight budget, every dataset's
# data. One JSON line answers: ["ok"] (also for a Python error: the parent then opens the file
# itself and reports what h5py says) or ["refused", message, kind].
_PROBE_MAIN = """
def touch_all(f, budget):
    total = 0
    def touch(obj):
        nonlocal total
        for key in obj.attrs:
            obj.attrs[key]
        if isinstance(obj, h5py.Dataset):
            total += obj.size * obj.dtype.itemsize
            if total <= budget:
                obj[()]
    return touch

requests, replies = sys.stdin.buffer, sys.stdout.buffer
for header in requests:
    src, size, budget, max_objects, max_depth = json.loads(header)
    data = requests.read(size) if size >= 0 else None
    try:
        with h5py.File(io.BytesIO(data) if data is not None else src, "r") as f:
            _walk_hdf5(f, max_objects, max_depth, touch_all(f, budget))
        reply = ["ok"]
    except _Refused as refused:
        reply = ["refused", refused.message, refused.kind]
    except Exception:
        reply = ["ok"]
    replies.write(json.dumps(reply).encode() + b"\\n")
    replies.flush()
"""
PROBE_SECONDS = 300


@functools.cache
def _probe_script() -> str:
    parts = [inspect.getsource(obj) for obj in (_Refused, _storage_problem, _walk_hdf5)]
    return "\n".join(
        [
            "from __future__ import annotations",
            "import io, json, sys",
            "from typing import Any",
            "import h5py",
            *parts,
            _PROBE_MAIN,
        ]
    )


class _Prober:
    """The child process that reads HDF5 files before this process opens them (see :func:`probe_h5`).

    Started at the first probe and kept for the next ones, so a process that compiles many models
    (a notebook, ``verify``, a test run) pays one interpreter start, not one per file. A child that
    crashed or timed out is gone, and the next probe starts a new one; so does a forked process,
    which must not share its parent's pipes. The child ends when this process closes its stdin.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = 0

    def _child(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._pid != os.getpid() or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _probe_script()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # HDF5 prints its error stack on damaged files
            )
            self._pid = os.getpid()
        return self._proc

    def _end(self, grace: float = 0.0) -> int | None:
        """Forget the child and end it: its stdin closes, so it leaves its loop, and it is killed if
        it still runs after ``grace`` seconds. Its exit status (None if there was none to end)."""
        proc, self._proc = self._proc, None
        if proc is None or self._pid != os.getpid():  # a forked process leaves its parent's child alone
            return None
        assert proc.stdin is not None and proc.stdout is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            code = proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        proc.stdout.close()
        return code

    def probe(self, request: list[Any], data: bytes | None, timeout: float) -> list[Any] | int | None:
        """The child's reply to ``request``; the exit status instead if it died, None on timeout."""
        with self._lock:
            proc = self._child()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                if data is not None:
                    proc.stdin.write(data)
                proc.stdin.flush()
                line = self._read_line(proc.stdout.fileno(), timeout)
            except BrokenPipeError:
                line = b""
            except BaseException:  # Ctrl-C while the child reads: it goes too
                self._end()
                raise
            if line is None:
                self._end()
                return None
            if not line.endswith(b"\n"):  # the child died before it answered: its status says how
                return self._end(grace=5)
            try:
                reply = json.loads(line)
            except ValueError:
                reply = None
            if not isinstance(reply, list) or not reply:
                self._end()
                return ["ok"]
            return reply

    @staticmethod
    def _read_line(fd: int, timeout: float) -> bytes | None:
        """Bytes up to and including a newline (fewer at end of file); None when ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        chunks: list[bytes] = []
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                chunk = os.read(fd, 65536)
                chunks.append(chunk)
                if not chunk or chunk.endswith(b"\n"):
                    return b"".join(chunks)

    def close(self) -> None:
        """End the child at exit."""
        self._end(grace=5)


_PROBER = _Prober()
atexit.register(_PROBER.close)


def probe_h5(source: str | Path | bytes, label: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Read an HDF5 file once in a child process before this process opens it.

    A damaged HDF5 file can crash the HDF5 C library itself (a segmentation fault reading an
    attribute, found by fuzzing), which no Python code can catch; in a child the crash becomes
    a one-line error. The child refuses what :func:`check_hdf5` refuses, before reading any of
    it. Costs a second read of the file, and the first probe of a process one interpreter start.
    """
    data = source if isinstance(source, bytes) else None
    request = [
        "-" if data is not None else str(source),
        len(data) if data is not None else -1,
        limits.max_weight_bytes,
        _max_objects(limits),
        HDF5_MAX_DEPTH,
    ]
    reply = _PROBER.probe(request, data, PROBE_SECONDS)
    if reply is None:
        raise WeightsError(
            f"reading this HDF5 file took over {PROBE_SECONDS} s",
            file=label,
            hint="the file is damaged or far larger than a model's weights",
        )
    if isinstance(reply, int):
        if reply < 0:  # killed by a signal: the HDF5 library crashed
            raise WeightsError(
                "damaged HDF5 file: the HDF5 library crashed reading it",
                file=label,
                hint="save the model or weights again",
            )
        return  # the child exited without crashing: this process opens the file and reports what h5py says
    if reply[0] == "refused":
        message = reply[1] if len(reply) > 1 else "holds something kerascc does not read"
        kind = reply[2] if len(reply) > 2 else "layout"
        raise _refusal(_Refused(str(message), str(kind)), label, limits)


def load_weights(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> WeightStore:
    import h5py

    if not Path(path).exists():
        raise WeightsError("no such weights file", file=path)
    if not Path(path).is_file():
        raise WeightsError("is not a regular file, so not a weights file", file=path)
    probe_h5(path, str(path), limits)
    try:
        with h5py.File(path, "r") as f:
            return read_h5(f, str(path), limits)
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:  # h5py, on damaged files
        raise WeightsError(f"cannot read HDF5 weights: {exc}", file=path) from None


# -- initializers --------------------------------------------------------------------------------
def _fans(shape: Sequence[int]) -> tuple[float, float]:
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


# Draws are float32 from the start: a 25M-parameter model initializes in a fraction of a second.
F32 = np.float32


#: Arrays of more values than this are drawn in blocks of this many, each block from its own
#: generator seeded by the array's, on every core (numpy's generators release the GIL while they
#: fill): ResNet50's 25M random weights take half the time on two cores. The blocks do not depend
#: on the core count, so the same seed gives the same bytes on any machine.
DRAW_BLOCK = 1 << 18


def _draw_pool() -> Any:
    """Threads for one array's blocks, gone once it is drawn: compiling leaves no threads behind
    (and a forked child never inherits a pool whose threads it lacks)."""
    from concurrent.futures import ThreadPoolExecutor

    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return ThreadPoolExecutor(max_workers=max(1, min(cores, 8)), thread_name_prefix="kerascc-init")


def _draw(
    rng: np.random.Generator, shape: Sequence[int], fill: Callable[[np.random.Generator, np.ndarray], None]
) -> np.ndarray:
    """A float32 array of ``shape`` whose flat blocks ``fill`` writes in place."""
    out = np.empty(tuple(shape), dtype=F32)
    flat = out.reshape(-1)
    if flat.size <= DRAW_BLOCK:
        fill(rng, flat)
        return out
    starts = range(0, flat.size, DRAW_BLOCK)
    seeds = rng.integers(0, 1 << 63, size=len(starts), dtype=np.int64)

    def block(i: int) -> None:
        fill(np.random.default_rng(int(seeds[i])), flat[starts[i] : starts[i] + DRAW_BLOCK])

    with _draw_pool() as pool:
        for done in pool.map(block, range(len(starts))):
            del done  # map re-raises a block's error here
    return out


def _fill_normal(rng: np.random.Generator, out: np.ndarray) -> None:
    rng.standard_normal(dtype=F32, out=out)


def _fill_uniform(rng: np.random.Generator, out: np.ndarray) -> None:
    rng.random(dtype=F32, out=out)


def _fill_truncated(rng: np.random.Generator, out: np.ndarray) -> None:
    """Unit normal values redrawn until within two standard deviations, as Keras's TruncatedNormal."""
    rng.standard_normal(dtype=F32, out=out)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(size=int(bad.sum()), dtype=F32)
        bad = np.abs(out) > 2


def _scaled(out: np.ndarray, scale: float, shift: float) -> np.ndarray:
    out *= F32(scale)
    if shift:
        out += F32(shift)
    return out


def _normal(rng: np.random.Generator, shape: Sequence[int], mean: float, std: float) -> np.ndarray:
    return _scaled(_draw(rng, shape, _fill_normal), std, mean)


def _uniform(rng: np.random.Generator, shape: Sequence[int], low: float, high: float) -> np.ndarray:
    return _scaled(_draw(rng, shape, _fill_uniform), high - low, low)


def _truncated_normal(rng: np.random.Generator, shape: Sequence[int], mean: float, std: float) -> np.ndarray:
    """Normal values within two standard deviations of the mean, as Keras's TruncatedNormal."""
    return _scaled(_draw(rng, shape, _fill_truncated), std, mean)


def _variance_scaling(
    rng: np.random.Generator, shape: Sequence[int], scale: float, mode: str, distribution: str
) -> np.ndarray:
    fan_in, fan_out = _fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    variance = scale / max(1.0, n)
    if distribution in ("truncated_normal", "normal"):
        # 0.879... is the stddev of a unit normal truncated to [-2, 2]
        return _truncated_normal(rng, shape, 0.0, math.sqrt(variance) / 0.87962566103423978)
    if distribution == "untruncated_normal":
        return _normal(rng, shape, 0.0, math.sqrt(variance))
    limit = math.sqrt(3.0 * variance)
    return _uniform(rng, shape, -limit, limit)


#: Orthogonal matrices up to this much QR work (rows x columns², about 650 x 650) are drawn exactly
#: as Keras draws them; larger ones as in :func:`_mixed_orthonormal`, in seconds instead of minutes.
EXACT_QR_WORK = 1 << 28
#: Rows :func:`_mixed_orthonormal` rotates together.
ORTHOGONAL_BLOCK = 32


def _orthonormal_columns(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """An n x k matrix (n >= k) with orthonormal columns, distributed as Keras's Orthogonal draws it.

    Keras takes the QR decomposition of an n x k normal matrix and corrects the signs so the
    result is uniformly (Haar) distributed. That costs O(n·k²): minutes for Dense(8000) from a
    file of a few hundred bytes, so past :data:`EXACT_QR_WORK` the matrix is built by
    :func:`_mixed_orthonormal` instead.
    """
    if n * k * k <= EXACT_QR_WORK:
        q, r = np.linalg.qr(rng.normal(size=(n, k)))
        return q * np.sign(np.diag(r))
    return _mixed_orthonormal(rng, n, k)


def _haar(rng: np.random.Generator, size: int) -> np.ndarray:
    """A uniformly distributed orthogonal ``size`` x ``size`` matrix (QR of a normal one, signs corrected)."""
    q, r = np.linalg.qr(rng.standard_normal((size, size)))
    return (q * np.sign(np.diag(r))).astype(F32)


def _mixed_orthonormal(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """The first k columns of a product of random orthogonal transforms, in O(n·k·b·log n).

    Each level shuffles the rows and rotates every group of b = :data:`ORTHOGONAL_BLOCK` rows
    (rows ``c``, ``c + n/b``, ``c + 2n/b``… after the shuffle) by one uniformly drawn orthogonal
    b x b matrix: one matrix product over the whole array, and every level orthogonal, so the
    result is exactly orthonormal. After log_b(n) levels every row depends on every other; two
    more make the entries as close to the Haar distribution's (normal with variance 1/n: same
    spread, kurtosis and row norms) as a test can tell at these sizes.
    """
    b = ORTHOGONAL_BLOCK
    x = np.zeros((n, k), F32)
    x[np.arange(k), np.arange(k)] = 1
    count = n // b
    full = count * b
    for _ in range(math.ceil(math.log(n) / math.log(b)) + 2):
        x = x[rng.permutation(n)]
        x[:full] = (_haar(rng, b) @ x[:full].reshape(b, count * k)).reshape(full, k)
        if n > full:
            x[full:] = _haar(rng, n - full) @ x[full:]
    return x


_PRESETS: dict[str, tuple[float, str, str]] = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}


def keras_snake_case(name: str) -> str:
    """Keras's own to_snake_case (keras.src.utils.naming): initializer names, weight-file groups."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def initialize(spec: Any, shape: Sequence[int], seed: int, scope: Scope, label: str) -> np.ndarray:
    """Draw an array as the Keras initializer ``spec`` would (same distribution, our RNG)."""
    if spec is None:
        spec = "zeros"
    if isinstance(spec, str):
        kind, cfg = spec, {}
    else:
        kind, cfg = spec.get("class_name", ""), dict(spec.get("config") or {})
    kind = keras_snake_case(kind)
    rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32("/".join(scope).encode()), zlib.crc32(label.encode())])
    shape = tuple(int(s) for s in shape)
    if kind in ("zeros", "zero"):
        out = np.zeros(shape)
    elif kind in ("ones", "one"):
        out = np.ones(shape)
    elif kind == "constant":
        value = cfg.get("value", 0.0)
        if isinstance(value, dict) and value.get("class_name") in ("__numpy__", "__tensor__"):
            value = (value.get("config") or {}).get("value")  # Constant(np.eye(k).flatten()): an array
        out = np.broadcast_to(np.asarray(value, dtype=np.float64), shape).copy()
    elif kind in ("random_normal", "normal"):
        out = _normal(rng, shape, cfg.get("mean", 0.0), cfg.get("stddev", 0.05))
    elif kind in ("random_uniform", "uniform"):
        out = _uniform(rng, shape, cfg.get("minval", -0.05), cfg.get("maxval", 0.05))
    elif kind == "truncated_normal":
        out = _truncated_normal(rng, shape, cfg.get("mean", 0.0), cfg.get("stddev", 0.05))
    elif kind in _PRESETS:
        out = _variance_scaling(rng, shape, *_PRESETS[kind])
    elif kind == "variance_scaling":
        out = _variance_scaling(
            rng, shape, cfg.get("scale", 1.0), cfg.get("mode", "fan_in"), cfg.get("distribution", "truncated_normal")
        )
    elif kind in ("orthogonal", "identity"):
        rows, cols = math.prod(shape[:-1]) if len(shape) > 1 else 1, shape[-1]
        if kind == "identity":
            flat = np.eye(rows, cols)
        else:
            q = _orthonormal_columns(rng, max(rows, cols), min(rows, cols))
            flat = q if rows >= cols else q.T
        out = float(cfg.get("gain", 1.0)) * flat.reshape(shape)
    else:
        raise WeightsError(
            f"unknown initializer '{kind}' for {label}",
            file=None,
            layer="/".join(scope),
            hint="pass the trained weights with --weights",
        )
    return np.ascontiguousarray(out, dtype=np.float32).reshape(shape)
