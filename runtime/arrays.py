"""Running a model on arrays instead of images: token ids, time series, any non-image input.

``run`` takes, for such a model, ``.npy``/``.npz`` arrays or a text file of ids:

* ``.npz``: one array per model input, keyed by the input's name (as ``np.savez(f, tokens=x)``
  writes it); an archive of unnamed arrays (``arr_0``, ``arr_1``…) feeds the inputs in order;
* ``.npy``: one file per input, in the model's input order;
* ``.txt``: for a model with one integer input of shape (batch, length): one sequence a line,
  ids separated by whitespace, padded with 0 (Keras's ``pad_sequences`` default, and the id
  ``mask_zero`` masks) to the model's length.

Every array is checked against its input before anything runs: its rank and fixed dimensions,
and its kind (integer ids for an integer input, numbers for a float one, booleans for a bool one);
a mismatch is one line naming the file, the input and both shapes or types. The samples then run
in batches; ``describe`` turns each sample's outputs into a line of text.

``bench`` feeds random valid inputs (:func:`random_inputs`): ids below the vocabulary size the
compiler recorded for an input that feeds an Embedding, else 0 and 1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .batch import shape_text
from .engines import open_session
from .errors import RuntimeInputError

#: The suffixes ``run`` reads as arrays rather than images.
ARRAY_SUFFIXES = (".npy", ".npz", ".txt")
#: The metadata key, per input, of the vocabulary size (an Embedding's input_dim) its ids index.
VOCABULARY_KEY = "kerascc.vocabulary."
#: onnxruntime's type names and their numpy types, for every input type a compiled model may have.
ORT_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}


@dataclass(frozen=True)
class ArrayInput:
    """One model input as arrays must match it: name, dimensions (None where dynamic), type."""

    name: str
    dims: tuple[int | None, ...]
    dtype: np.dtype

    @property
    def shown(self) -> str:
        return f"{shape_text(self.dims)} {self.dtype}"


def model_inputs(session: Any, file: str | Path) -> list[ArrayInput]:
    """The session's inputs, with onnxruntime's symbolic dimensions as None."""
    found = []
    for inp in session.get_inputs():
        dtype = ORT_TYPES.get(inp.type)
        if dtype is None:
            raise RuntimeInputError(
                f"input '{inp.name}' has the type {inp.type}, which arrays cannot feed", file=str(file)
            )
        dims = tuple(d if isinstance(d, int) and d > 0 else None for d in inp.shape)
        found.append(ArrayInput(inp.name, dims, np.dtype(dtype)))
    return found


def is_array_source(args: Sequence[str | Path]) -> bool:
    """Whether ``run``'s inputs are arrays (every argument a .npy, .npz or .txt file)."""
    return bool(args) and all(Path(str(a)).suffix.lower() in ARRAY_SUFFIXES for a in args)


def is_image_model(inputs: Sequence[ArrayInput]) -> bool:
    """One float input of rank 4: what ``run`` feeds with images."""
    return len(inputs) == 1 and len(inputs[0].dims) == 4 and inputs[0].dtype.kind == "f"


def load_arrays(args: Sequence[str | Path], inputs: Sequence[ArrayInput]) -> list[np.ndarray]:
    """One checked array per model input, read from ``args`` (see the module docstring)."""
    paths = [Path(str(a)) for a in args]
    for path in paths:
        if not path.is_file():
            raise RuntimeInputError("no such file", file=str(path))
    suffixes = {p.suffix.lower() for p in paths}
    if len(suffixes) > 1:
        raise RuntimeInputError("mixes .npy, .npz and .txt inputs", file=str(paths[0]), hint="pass one kind")
    suffix = suffixes.pop()
    if suffix == ".npz":
        if len(paths) != 1:
            raise RuntimeInputError("pass one .npz archive (it holds every input)", file=str(paths[1]))
        named = _read_npz(paths[0], inputs)
        return [check_array(named[i.name], i, paths[0]) for i in inputs]
    if suffix == ".txt":
        if len(paths) != 1 or len(inputs) != 1:
            raise RuntimeInputError(
                "a text file of ids feeds a model with one integer input",
                file=str(paths[0]),
                hint="save the arrays with numpy.savez, one per input name",
            )
        return [check_array(read_ids(paths[0], inputs[0]), inputs[0], paths[0])]
    if len(paths) != len(inputs):
        names = ", ".join(i.name for i in inputs)
        raise RuntimeInputError(
            f"the model has {len(inputs)} inputs ({names}), {len(paths)} .npy files were given",
            file=str(paths[0]),
            hint="pass one .npy per input in this order, or one .npz keyed by input name",
        )
    return [check_array(_read_npy(p), i, p) for p, i in zip(paths, inputs, strict=True)]


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise RuntimeInputError(f"not a readable .npy array ({exc})", file=str(path)) from None


def _read_npz(path: Path, inputs: Sequence[ArrayInput]) -> dict[str, np.ndarray]:
    """The archive's arrays by input name; unnamed arrays (arr_0, …) in input order."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError) as exc:
        raise RuntimeInputError(f"not a readable .npz archive ({exc})", file=str(path)) from None
    names = [i.name for i in inputs]
    positional = [f"arr_{k}" for k in range(len(names))]
    if sorted(arrays) == sorted(positional) and not set(names) & set(arrays):
        return {name: arrays[key] for name, key in zip(names, positional, strict=True)}
    missing = [n for n in names if n not in arrays]
    if missing:
        raise RuntimeInputError(
            f"has no array named {', '.join(repr(m) for m in missing)}"
            f" (it holds {', '.join(sorted(arrays)) or 'none'})",
            file=str(path),
            hint=f"key the arrays by the model's input names: {', '.join(names)}",
        )
    extra = sorted(set(arrays) - set(names))
    if extra:
        raise RuntimeInputError(
            f"holds {', '.join(repr(e) for e in extra)}, which the model has no input for",
            file=str(path),
            hint=f"the inputs are {', '.join(names)}",
        )
    return arrays


def read_ids(path: Path, inp: ArrayInput) -> np.ndarray:
    """Token ids from text: one sequence a line, whitespace separated, padded with 0 at the end
    to the model's length (to the longest line when the length is dynamic)."""
    if inp.dtype.kind not in "iu" or len(inp.dims) != 2:
        raise RuntimeInputError(
            f"a text file of ids feeds an integer input of shape (batch, length); input '{inp.name}' is {inp.shown}",
            file=str(path),
            hint="save the array with numpy.save and pass the .npy",
        )
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RuntimeInputError(f"cannot read the ids ({exc})", file=str(path)) from None
    rows: list[list[int]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append([int(tok) for tok in line.split()])
        except ValueError:
            bad = next(t for t in line.split() if not t.lstrip("+-").isdigit())
            raise RuntimeInputError(f"line {number}: {bad[:20]!r} is not an integer id", file=str(path)) from None
    if not rows:
        raise RuntimeInputError("holds no sequences", file=str(path), hint="one sequence of ids a line")
    length = inp.dims[1] if inp.dims[1] is not None else max(len(r) for r in rows)
    for number, row in enumerate(rows, 1):
        if len(row) > length:
            raise RuntimeInputError(
                f"sequence {number} has {len(row)} ids; input '{inp.name}' takes {length}",
                file=str(path),
                hint="truncate it, as the model was trained",
            )
    out = np.zeros((len(rows), length), np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def check_array(array: np.ndarray, inp: ArrayInput, file: str | Path) -> np.ndarray:
    """``array`` as input ``inp`` takes it, or a one-line error: rank, fixed dimensions and kind
    must agree; integers are converted to the input's integer type when every value fits."""
    array = np.asarray(array)
    fixed = zip(inp.dims[1:], array.shape[1:], strict=False)
    if array.ndim != len(inp.dims) or any(d is not None and d != a for d, a in fixed):
        raise RuntimeInputError(
            f"array of shape {tuple(array.shape)} for input '{inp.name}', which takes {inp.shown}", file=str(file)
        )
    if len(array) == 0:
        raise RuntimeInputError(f"the array for input '{inp.name}' holds no samples", file=str(file))
    want = inp.dtype
    kinds = {"i": "integer ids", "u": "integer ids", "f": "numbers", "b": "booleans"}
    if want.kind in "iu":
        if array.dtype.kind not in "iu":
            raise RuntimeInputError(
                f"array of {array.dtype} for input '{inp.name}', which takes integer ids ({want})",
                file=str(file),
                hint="save the ids as an integer array",
            )
        info = np.iinfo(want)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise RuntimeInputError(
                f"ids from {array.min()} to {array.max()} do not fit input '{inp.name}' ({want})", file=str(file)
            )
        return np.ascontiguousarray(array, dtype=want)
    if want.kind == "f" and array.dtype.kind in "iuf":
        return np.ascontiguousarray(array, dtype=want)
    if want.kind == "b" and array.dtype.kind == "b":
        return np.ascontiguousarray(array)
    raise RuntimeInputError(
        f"array of {array.dtype} for input '{inp.name}', which takes {kinds.get(want.kind, str(want))} ({want})",
        file=str(file),
    )


def check_vocabulary(array: np.ndarray, inp: ArrayInput, metadata: dict[str, str], file: str | Path) -> None:
    """Ids an Embedding has no row for are refused before the run, in one line: onnxruntime would
    stop at the first batch holding one (ids in [-input_dim, input_dim) are rows)."""
    vocabulary = metadata.get(VOCABULARY_KEY + inp.name, "")
    if inp.dtype.kind not in "iu" or not vocabulary.isdigit() or array.size == 0:
        return
    size = int(vocabulary)
    bad = (array >= size) | (array < -size)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise RuntimeInputError(
            f"id {array[where]} at {where} of input '{inp.name}' is outside the Embedding's {size} rows",
            file=str(file),
            hint=f"ids run from 0 to {size - 1} (negative ones count from the end)",
        )


def batches(arrays: Sequence[np.ndarray], size: int) -> Iterator[tuple[int, list[np.ndarray]]]:
    """(first sample index, one slice per input) for every run of ``size`` samples."""
    if size < 1:
        raise RuntimeInputError(f"batch size must be at least 1, got {size}")
    counts = {len(a) for a in arrays}
    if len(counts) != 1:
        raise RuntimeInputError(f"the inputs hold different numbers of samples: {sorted(counts)}")
    total = counts.pop()
    for start in range(0, total, size):
        yield start, [a[start : start + size] for a in arrays]


def run_arrays(
    session: Any, inputs: Sequence[ArrayInput], arrays: Sequence[np.ndarray], batch_size: int, file: str | Path
) -> dict[str, np.ndarray]:
    """Every output for every sample, run ``batch_size`` samples at a time."""
    names = [o.name for o in session.get_outputs()]
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for _, chunk in batches(arrays, batch_size):
        try:
            outs = session.run(None, {i.name: a for i, a in zip(inputs, chunk, strict=True)})
        except Exception as exc:  # onnxruntime's own errors (an id outside the table) end the run in one line
            text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise RuntimeInputError(f"onnxruntime failed to run the model: {text[:300]}", file=str(file)) from None
        for name, out in zip(names, outs, strict=True):
            parts[name].append(np.asarray(out))
    return {n: np.concatenate(p) for n, p in parts.items()}


def describe(outputs: dict[str, np.ndarray], index: int, k: int = 5) -> dict[str, str]:
    """One sample's outputs as text: the top ``k`` classes of a class vector, else the shape and
    a summary of the values."""
    text = {}
    for name, out in outputs.items():
        row = out[index]
        if row.ndim == 1 and row.size > 1 and row.dtype.kind == "f":
            best = np.argsort(-row, kind="stable")[: max(k, 1)]
            text[name] = "  ".join(f"{int(c)}: {float(row[c]):.4f}" for c in best)
        elif row.size == 1:
            text[name] = f"{row.reshape(-1)[0]:.6g}"
        else:
            values = row.astype(np.float64)
            text[name] = (
                f"shape {tuple(row.shape)}  min {values.min():.4g}  max {values.max():.4g}  mean {values.mean():.4g}"
            )
    return text


def random_inputs(
    inputs: Sequence[ArrayInput], batch: int, metadata: dict[str, str], seed: int = 0
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Random valid feeds for ``bench`` and notes on what was used: ids below the vocabulary the
    compiler recorded (an Embedding's input_dim), else 0 and 1; floats uniform in [0, 255)."""
    rng = np.random.default_rng(seed)
    feeds, notes = {}, []
    for inp in inputs:
        dims = [batch, *inp.dims[1:]]
        if any(d is None for d in dims):
            raise RuntimeInputError(
                f"input '{inp.name}' has dynamic dimensions {inp.shown}", hint="benchmark a model with fixed sizes"
            )
        if inp.dtype.kind in "iu":
            vocabulary = metadata.get(VOCABULARY_KEY + inp.name)
            high = int(vocabulary) if vocabulary is not None and vocabulary.isdigit() and int(vocabulary) > 0 else 2
            feeds[inp.name] = rng.integers(0, high, dims).astype(inp.dtype)
            where = "the Embedding's input_dim" if vocabulary is not None else "the vocabulary size is unknown"
            notes.append(f"input '{inp.name}': random ids 0..{high - 1} ({where})")
        elif inp.dtype.kind == "b":
            feeds[inp.name] = rng.random(dims) < 0.5
        else:
            feeds[inp.name] = (rng.random(dims, dtype=np.float32) * 255).astype(inp.dtype)
    return feeds, notes


@dataclass
class ArrayRun:
    """One ``run`` over array files: the session used, the inputs fed and every output."""

    info: Any  # providers.SessionInfo
    inputs: list[ArrayInput]
    outputs: dict[str, np.ndarray]
    samples: int
    seconds: float


def run_array_files(
    model: str | Path,
    args: Sequence[str | Path],
    *,
    provider: str | None = None,
    batch_size: int = 8,
    threads: int | None = None,
    settings: Any = None,
    engine: str = "auto",
    precision: str = "fp32",
) -> ArrayRun:
    """Load ``args`` as the model's inputs (checked before anything runs), run them in batches on the
    engine and precision asked for (the same choice as for images)."""
    info = open_session(
        model, engine=engine, precision=precision, provider=provider, threads=threads, settings=settings
    )
    inputs = model_inputs(info.session, model)
    arrays = load_arrays(args, inputs)
    meta = dict(info.session.get_modelmeta().custom_metadata_map)
    for inp, array in zip(inputs, arrays, strict=True):
        check_vocabulary(array, inp, meta, args[0] if len(args) == 1 else args[inputs.index(inp)])
    start = time.perf_counter()
    outputs = run_arrays(info.session, inputs, arrays, batch_size, model)
    return ArrayRun(info, inputs, outputs, len(arrays[0]), time.perf_counter() - start)
