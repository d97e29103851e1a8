"""Array inputs for ``run``: reading .npy/.npz/.txt, the checks against the model input, batching
and the per-sample text, on a stand-in session (no model needed)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from runtime.arrays import (
    ArrayInput,
    batches,
    check_array,
    describe,
    is_array_source,
    load_arrays,
    model_inputs,
    random_inputs,
    read_ids,
)
from runtime.errors import RuntimeInputError

IDS = ArrayInput("tokens", (None, 5), np.dtype(np.int32))
SERIES = ArrayInput("series", (None, 4, 2), np.dtype(np.float32))


def test_model_inputs_read_onnxruntime_types() -> None:
    session = SimpleNamespace(
        get_inputs=lambda: [
            SimpleNamespace(name="tokens", shape=["batch", 5], type="tensor(int64)"),
            SimpleNamespace(name="flags", shape=["batch", "n"], type="tensor(bool)"),
        ]
    )
    found = model_inputs(session, "m.onnx")
    assert found == [
        ArrayInput("tokens", (None, 5), np.dtype(np.int64)),
        ArrayInput("flags", (None, None), np.dtype(np.bool_)),
    ]


def test_sources_are_arrays_by_suffix() -> None:
    assert is_array_source(["a.npy", "b.NPZ"]) and is_array_source(["ids.txt"])
    assert not is_array_source(["a.npy", "cat.jpg"]) and not is_array_source([])


def test_integer_ids_are_converted_when_they_fit() -> None:
    out = check_array(np.arange(10, dtype=np.int64).reshape(2, 5), IDS, "x.npy")
    assert out.dtype == np.int32 and out.tolist() == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    with pytest.raises(RuntimeInputError, match="do not fit"):
        check_array(np.full((1, 5), 2**40, np.int64), IDS, "x.npy")
    with pytest.raises(RuntimeInputError, match="takes integer ids"):
        check_array(np.zeros((1, 5), np.float32), IDS, "x.npy")
    with pytest.raises(RuntimeInputError, match=r"shape \(1, 4\)"):
        check_array(np.zeros((1, 4), np.int32), IDS, "x.npy")
    assert check_array(np.ones((3, 4, 2), np.float64), SERIES, "s.npy").dtype == np.float32


def test_text_ids_are_padded_with_zero(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("4 5 6\n\n  7\n1 2 3 4 5\n")
    assert read_ids(path, IDS).tolist() == [[4, 5, 6, 0, 0], [7, 0, 0, 0, 0], [1, 2, 3, 4, 5]]
    dynamic = ArrayInput("tokens", (None, None), np.dtype(np.int64))
    assert read_ids(path, dynamic).shape == (3, 5)
    with pytest.raises(RuntimeInputError, match="integer input"):
        read_ids(path, SERIES)


def test_npz_by_name_or_in_order(tmp_path: Path) -> None:
    two = [IDS, SERIES]
    a, b = np.zeros((2, 5), np.int32), np.ones((2, 4, 2), np.float32)
    np.savez(tmp_path / "named.npz", series=b, tokens=a)
    np.savez(tmp_path / "order.npz", a, b)
    for name in ("named.npz", "order.npz"):
        got = load_arrays([tmp_path / name], two)
        assert [g.shape for g in got] == [(2, 5), (2, 4, 2)]
    np.savez(tmp_path / "extra.npz", tokens=a, series=b, other=a)
    with pytest.raises(RuntimeInputError, match="'other'"):
        load_arrays([tmp_path / "extra.npz"], two)
    np.save(tmp_path / "a.npy", a)
    with pytest.raises(RuntimeInputError, match="2 inputs"):
        load_arrays([tmp_path / "a.npy"], two)


def test_batches_and_descriptions() -> None:
    arrays = [np.arange(7), np.arange(7) * 2]
    assert [(start, len(chunk[0])) for start, chunk in batches(arrays, 3)] == [(0, 3), (3, 3), (6, 1)]
    outputs = {"classes": np.array([[0.1, 0.7, 0.2]], np.float32), "code": np.zeros((1, 4, 2), np.float32)}
    text = describe(outputs, 0, k=2)
    assert text["classes"] == "1: 0.7000  2: 0.2000"
    assert text["code"].startswith("shape (4, 2)")


def test_random_inputs_stay_below_the_vocabulary() -> None:
    feeds, notes = random_inputs([IDS], 64, {"kerascc.vocabulary.tokens": "7"})
    assert feeds["tokens"].shape == (64, 5) and 0 <= feeds["tokens"].min() and feeds["tokens"].max() <= 6
    assert notes == ["input 'tokens': random ids 0..6 (the Embedding's input_dim)"]
    feeds, notes = random_inputs([IDS], 8, {})
    assert feeds["tokens"].max() <= 1 and "unknown" in notes[0]
