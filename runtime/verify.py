"""``verify``: does the ONNX model give what Keras gives, on the same inputs?

The check every converter user does by hand, as one step: Keras loads the model (``.keras``,
``.h5``, JSON with or without weights, or a ``.py`` file's exported JSON), onnxruntime runs the
ONNX model, both see the same inputs (seeded random ones shaped and typed for each input, or the
user's ``.npz``), and each output's largest absolute and relative difference is compared with
``rtol``.

A description without weights is verified with the weights Keras draws for it: they are saved
(in a temporary folder the caller owns) and the ONNX model is compiled with them, so both sides
compute with the same numbers. Compiling is the driver's work; this module only loads, runs and
compares (it builds on the compiler's core errors, like the rest of the runtime).

Keras is an optional dependency: without it, one line names the extra that installs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RuntimeInputError
from .providers import create_session

#: What to install when Keras is missing (the ``verify`` extra of pyproject.toml).
INSTALL_KERAS_HINT = "pip install 'kerascc[verify]' (Keras 3, TensorFlow and tf-keras)"


@dataclass(frozen=True)
class OutputCheck:
    """One output's agreement: the largest absolute difference, and that relative to the output's scale."""

    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    passed: bool


@dataclass
class Verification:
    """The comparison of one model: per output, and where the inputs and weights came from."""

    outputs: list[OutputCheck]
    rtol: float
    batch: int
    inputs_from: str
    keras_version: str
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)


def import_keras(generation: int = 3) -> Any:
    """Keras 3 (``keras``) or Keras 2 (``tf_keras``); missing, a one-line error naming the extra."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up lines are noise here
    try:
        # heavy optional dependencies, imported only when verify runs
        with _start_up_lines_held():
            if generation == 2:
                import tf_keras as keras
            else:
                import keras
    except ImportError:
        name = "tf-keras" if generation == 2 else "Keras"
        raise RuntimeInputError(f"verify needs {name}, which is not installed", hint=INSTALL_KERAS_HINT) from None
    return keras


@contextlib.contextmanager
def _start_up_lines_held() -> Iterator[None]:
    """Standard error, at the file-descriptor level, sent aside while TensorFlow loads.

    TensorFlow 2.21 writes its C++ start-up lines (absl's "All log messages before
    absl::InitializeLog()", oneDNN's note, "Could not find cuda drivers") before it reads
    TF_CPP_MIN_LOG_LEVEL; `verify` reports in its own lines, a failed import in one.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real standard error (an embedding host): nothing to hold
        yield
        return
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _generation_of_doc(doc: Any) -> int:
    """Keras 3 JSON records each object's ``module``; Keras 2's (tf.keras) does not."""
    if isinstance(doc, dict) and ("module" in doc or str(doc.get("keras_version", "3")).startswith("3")):
        return 3
    return 2


@dataclass
class Reference:
    """The Keras side: the model, and the weights file to compile the ONNX model with (None: the file's own)."""

    model: Any
    weights: Path | None
    generation: int
    notes: list[str] = field(default_factory=list)


def load_reference(path: Path, weights: Path | None, scratch: Path, label: str | None = None) -> Reference:
    """Load ``path`` with Keras; a description without weights gets Keras's own, saved into ``scratch``."""
    label = label or str(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RuntimeInputError(f"cannot read the model JSON ({exc})", file=label) from None
        generation = _generation_of_doc(doc)
        keras = import_keras(generation)
        try:
            model = keras.models.model_from_json(json.dumps(doc))
        except Exception as exc:  # noqa: BLE001  (Keras raises anything for a config it cannot build)
            raise RuntimeInputError(f"Keras cannot build the model: {_one_line(exc)}", file=label) from None
        if weights is not None:
            _load_weights(model, weights, label)
            return Reference(model, weights, generation)
        drawn = scratch / ("keras.weights.h5" if generation == 3 else "keras_weights.h5")
        model.save_weights(str(drawn))
        note = "no weights given: both sides use the random weights Keras drew"
        return Reference(model, drawn, generation, [note])
    if suffix in (".keras", ".h5", ".hdf5"):
        return _load_saved(path, weights, label)
    raise RuntimeInputError(
        "verify reads .keras, .h5, Keras JSON or a .py model file",
        file=label,
        hint="pass the Keras model, not the ONNX",
    )


def _load_saved(path: Path, weights: Path | None, label: str) -> Reference:
    errors = []
    for generation in (3, 2):
        try:
            keras = import_keras(generation)
        except RuntimeInputError:
            if generation == 3:
                raise
            break
        try:
            model = keras.models.load_model(str(path), compile=False)
        except Exception as exc:  # noqa: BLE001  (a file of the other Keras generation, or a broken one)
            errors.append(_one_line(exc))
            continue
        if weights is not None:
            _load_weights(model, weights, label)
        return Reference(model, weights, generation)
    raise RuntimeInputError(f"Keras cannot load the model: {errors[0] if errors else 'unknown error'}", file=label)


def _load_weights(model: Any, weights: Path, label: str) -> None:
    try:
        model.load_weights(str(weights))
    except Exception as exc:  # noqa: BLE001
        raise RuntimeInputError(f"Keras cannot load the weights: {_one_line(exc)}", file=str(weights)) from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def _layer_of(tensor: Any) -> str:
    history = tensor._keras_history  # (operation or layer, node index, tensor index) in both generations
    return str(history[0].name)


def _dtype(tensor: Any) -> np.dtype:
    dtype = getattr(tensor.dtype, "name", tensor.dtype)
    return np.dtype(str(dtype))


def input_specs(model: Any) -> list[tuple[str, tuple[int | None, ...], np.dtype]]:
    """(name, shape without batch, dtype) of each Keras input, in ``model.inputs`` order."""
    return [(_layer_of(t), tuple(t.shape[1:]), _dtype(t)) for t in model.inputs]


def random_inputs(model: Any, batch: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded inputs for each Keras input: standard normal floats, small non-negative integers
    (valid indices for an Embedding), random booleans."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for name, shape, dtype in input_specs(model):
        if any(d is None for d in shape):
            raise RuntimeInputError(
                f"input '{name}' has a dimension of unknown size {tuple(shape)}",
                hint="give the inputs with --inputs x.npz (one array per input name)",
            )
        full = (batch, *(int(d) for d in shape))
        if dtype.kind == "f":
            arrays[name] = rng.standard_normal(full).astype(dtype)
        elif dtype.kind in "iu":
            arrays[name] = rng.integers(0, 10, full).astype(dtype)
        elif dtype.kind == "b":
            arrays[name] = rng.integers(0, 2, full).astype(bool)
        else:
            raise RuntimeInputError(f"input '{name}' has dtype {dtype}, which verify cannot draw", hint="use --inputs")
    return arrays


def read_inputs(path: Path, model: Any) -> dict[str, np.ndarray]:
    """The user's inputs: an ``.npz`` keyed by input name (or ``arr_0``… in input order)."""
    specs = input_specs(model)
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError) as exc:
        hint = "save them with np.savez"
        raise RuntimeInputError(f"cannot read the inputs ({exc})", file=str(path), hint=hint) from None
    names = [name for name, _, _ in specs]
    if set(names) <= set(stored):
        chosen = {name: stored[name] for name in names}
    elif len(stored) == len(names) and all(k.startswith("arr_") for k in stored):
        chosen = {name: stored[f"arr_{i}"] for i, name in enumerate(names)}
    else:
        raise RuntimeInputError(
            f"the inputs are named {', '.join(sorted(stored)) or 'nothing'}, the model's {', '.join(names)}",
            file=str(path),
            hint="np.savez(path, **{input_name: array})",
        )
    for name, shape, dtype in specs:
        array = chosen[name]
        if not _fits((None, *shape), array.shape):
            raise RuntimeInputError(
                f"input '{name}' is {array.shape}, the model takes (batch, {', '.join(str(d) for d in shape)})",
                file=str(path),
            )
        chosen[name] = array.astype(dtype) if array.dtype != dtype else array
    return chosen


def keras_outputs(model: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras's outputs by the name of the layer that produces each."""
    arrays = [inputs[name] for name, _, _ in input_specs(model)]
    result = model.predict(arrays if len(arrays) > 1 else arrays[0], verbose=0)
    if isinstance(result, dict):
        result = [result[k] for k in result]
    if not isinstance(result, list | tuple):
        result = [result]
    return {_layer_of(t): np.asarray(r) for t, r in zip(model.outputs, result, strict=True)}


def onnx_outputs(onnx_model: Path | bytes, inputs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    """onnxruntime's outputs (CPU) by name; inputs matched by name, else by order, NCHW ones transposed."""
    info = create_session(onnx_model, "cpu")
    session = info.session
    declared = session.get_inputs()
    notes: list[str] = []
    names = list(inputs)
    if {d.name for d in declared} == set(names):
        order = [d.name for d in declared]
    elif len(declared) == len(names):
        order = names
        notes.append("ONNX inputs matched to Keras's by order: " + ", ".join(d.name for d in declared))
    else:
        raise RuntimeInputError(
            f"the ONNX model has {len(declared)} inputs, the Keras model {len(names)}",
            hint="was it converted from this model?",
        )
    feeds: dict[str, np.ndarray] = {}
    for value, keras_name in zip(declared, order, strict=True):
        array = _to_declared_layout(inputs[keras_name], value.shape, value.name, notes)
        static = [d if isinstance(d, int) else None for d in value.shape]
        if not _fits(static, array.shape):
            shown = ", ".join("?" if d is None else str(d) for d in static)
            raise RuntimeInputError(
                f"ONNX input '{value.name}' is [{shown}], Keras's '{keras_name}' gives {tuple(array.shape)}",
                hint="was the ONNX model converted from this Keras model?",
            )
        feeds[value.name] = array
    try:
        results = session.run(None, feeds)
    except Exception as exc:  # noqa: BLE001  (onnxruntime's pybind errors)
        raise RuntimeInputError(f"onnxruntime could not run the model: {_one_line(exc)}") from None
    return {o.name: r for o, r in zip(session.get_outputs(), results, strict=True)}, notes


def _fits(declared: Sequence[int | None], shape: Sequence[int]) -> bool:
    """Does an array of ``shape`` fit ``declared`` (batch and None dimensions free)?"""
    if len(declared) != len(shape):
        return False
    return all(d is None or d == a for d, a in zip(declared[1:], shape[1:], strict=True))


def _to_declared_layout(array: np.ndarray, shape: Sequence[Any], name: str, notes: list[str]) -> np.ndarray:
    """An NHWC array for an input declared NCHW (``--input-layout nchw``) is transposed."""
    static = [d if isinstance(d, int) else None for d in shape]
    if array.ndim != 4 or len(static) != 4:
        return array
    fits = all(s is None or s == a for s, a in zip(static[1:], array.shape[1:], strict=False))
    nchw = array.transpose(0, 3, 1, 2)
    if not fits and all(s is None or s == a for s, a in zip(static[1:], nchw.shape[1:], strict=False)):
        notes.append(f"input '{name}' is NCHW in the ONNX model: transposed from Keras's NHWC")
        return np.ascontiguousarray(nchw)
    return array


def compare(
    want: dict[str, np.ndarray], got: dict[str, np.ndarray], rtol: float
) -> tuple[list[OutputCheck], list[str]]:
    """Each Keras output against the ONNX output of the same name (or the same position)."""
    notes: list[str] = []
    if set(want) <= set(got):
        pairs = [(name, got[name]) for name in want]
    elif len(want) == len(got):
        pairs = list(zip(want, got.values(), strict=True))
        notes.append("ONNX outputs matched to Keras's by order: " + ", ".join(got))
    else:
        raise RuntimeInputError(f"the ONNX model has {len(got)} outputs, the Keras model {len(want)}")
    checks = []
    for name, value in pairs:
        ref = np.asarray(want[name], np.float64)
        out = np.asarray(value, np.float64)
        if out.shape != ref.shape:
            checks.append(OutputCheck(name, tuple(out.shape), float("inf"), float("inf"), False))
            notes.append(f"output '{name}' is {out.shape} in ONNX, {ref.shape} in Keras")
            continue
        diff = float(np.max(np.abs(out - ref))) if ref.size else 0.0
        scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-6)
        rel = diff / scale
        checks.append(OutputCheck(name, tuple(ref.shape), diff, rel, bool(np.isfinite(rel) and rel <= rtol)))
    return checks, notes


def verify(
    reference: Reference,
    onnx_model: Path | bytes,
    *,
    inputs: Path | None = None,
    batch: int = 2,
    seed: int = 0,
    rtol: float = 1e-4,
) -> Verification:
    """Run Keras and onnxruntime on the same inputs and compare every output."""
    if batch < 1:
        raise RuntimeInputError(f"--batch must be at least 1, not {batch}")
    if not (np.isfinite(rtol) and rtol >= 0):
        raise RuntimeInputError(f"--rtol must be a non-negative number, not {rtol}")
    model = reference.model
    if inputs is not None:
        arrays = read_inputs(inputs, model)
        where = f"from {inputs.name}"
        batch = next(iter(arrays.values())).shape[0] if arrays else batch
    else:
        arrays = random_inputs(model, batch, seed)
        where = f"random, seed {seed}"
    want = keras_outputs(model, arrays)
    got, notes = onnx_outputs(onnx_model, arrays)
    checks, more = compare(want, got, rtol)
    keras = import_keras(reference.generation)
    version = f"{'Keras' if reference.generation == 3 else 'tf-keras'} {getattr(keras, '__version__', '?')}"
    return Verification(checks, rtol, batch, where, version, [*reference.notes, *notes, *more])
