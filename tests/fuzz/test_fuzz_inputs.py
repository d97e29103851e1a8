"""Fuzzing: whatever a model file, weights file or image holds, only CompileError escapes.

Hypothesis mutates real Keras serializations (values swapped for hostile ones, keys dropped,
list items duplicated or removed, class names exchanged, text truncated, archive bytes flipped)
and random bytes stand in for images. Each case must either compile (and then lower to a valid
ONNX model) or fail with a :class:`compiler.CompileError`, within a bounded time. Limits are set
low so a mutation that asks for absurd sizes is refused quickly, as the limits promise.
"""
from __future__ import annotations

import copy
import io
import json
import math
import tempfile
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import compiler
from frontends.layers import LAYERS

LIMITS = compiler.Limits(max_weight_bytes=64 << 20, max_layers=2_000, max_config_bytes=8 << 20)
FUZZ = settings(deadline=timedelta(seconds=20), suppress_health_check=list(HealthCheck), derandomize=True)
WORK = Path(tempfile.mkdtemp(prefix="kerascc-fuzz-"))

CLASS_NAMES = sorted(k for k in LAYERS if not k.startswith("ops.")) + ["Lambda", "Functional", "Sequential",
                                                                         "InputLayer", "NoSuchLayer"]
hostile_scalars = st.one_of(
    st.none(), st.booleans(),
    st.sampled_from([0, -1, 1, 2, 3, 7, 2**31, 10**12, -(10**9)]),
    st.integers(min_value=-5, max_value=64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "same", "valid", "causal", "relu", "channels_first", "linear", "x" * 300,
                     "__keras_tensor__", "float16", "int32"]),
    st.sampled_from(CLASS_NAMES),
    st.text(max_size=12),
)
hostile_values = st.recursive(
    hostile_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every location in a JSON document (container items and dict entries)."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _mutate(doc: Any, data: st.DataObject) -> Any:
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        paths = _paths(doc)
        path = data.draw(st.sampled_from(paths), label="path")
        op = data.draw(st.sampled_from(["replace", "delete", "duplicate", "class"]), label="op")
        if not path:
            if op == "replace":
                doc = data.draw(hostile_values, label="document")
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if op == "replace" or (op == "class" and not isinstance(parent, dict)):
            parent[key] = data.draw(hostile_values, label="value")
        elif op == "class":
            parent["class_name"] = data.draw(st.sampled_from(CLASS_NAMES), label="class")
        elif op == "delete":
            del parent[key]
        elif isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        else:
            parent[key] = copy.deepcopy(parent)  # a dict entry replaced by a copy of its parent
    return doc


def _compile_file(path: Path, **kwargs: Any) -> None:
    """Compile and lower: must succeed or raise CompileError, nothing else."""
    try:
        model = compiler.compile(path, limits=LIMITS, **kwargs)
    except compiler.CompileError as err:
        text = str(err)
        assert text and "\n" not in text
        event(f"refused: {type(err).__name__}")
        return
    assert math.isfinite(len(model.serialize()))  # the whole file can be produced
    event("compiled")


@pytest.mark.parametrize("seed", ["functional", "sequential", "nested", "keras2"])
@settings(FUZZ, max_examples=1000)
@given(data=st.data())
def test_mutated_model_json(seed, seed_docs, data):
    doc = _mutate(copy.deepcopy(seed_docs[seed]), data)
    path = WORK / f"{seed}.json"
    path.write_text(json.dumps(doc, allow_nan=True))
    _compile_file(path)


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_truncated_and_garbled_json_text(seed_docs, data):
    text = json.dumps(seed_docs[data.draw(st.sampled_from(sorted(seed_docs)), label="seed")])
    cut = data.draw(st.integers(0, len(text)), label="cut")
    junk = data.draw(st.text(max_size=6), label="junk")
    path = WORK / "text.json"
    path.write_text(text[:cut] + junk + text[cut + len(junk):], encoding="utf-8")
    _compile_file(path)


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_damaged_keras_archive(seed_archive, data):
    raw = bytearray(seed_archive)
    for _ in range(data.draw(st.integers(1, 8), label="flips")):
        i = data.draw(st.integers(0, len(raw) - 1), label="offset")
        raw[i] = data.draw(st.integers(0, 255), label="byte")
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[: data.draw(st.integers(0, len(raw)), label="length")]
    path = WORK / "damaged.keras"
    path.write_bytes(bytes(raw))
    _compile_file(path)


@settings(FUZZ, max_examples=200)
@given(data=st.data())
def test_archive_with_mutated_config(seed_archive, data):
    """A well-formed zip whose config.json is mutated, plus hostile member names."""
    with zipfile.ZipFile(io.BytesIO(seed_archive)) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    doc = _mutate(json.loads(members["config.json"]), data)
    members["config.json"] = json.dumps(doc).encode()
    members[data.draw(st.sampled_from(["../../evil.txt", "/abs/evil", "a/../../b"]), label="name")] = b"x"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    path = WORK / "mutated.keras"
    path.write_bytes(buf.getvalue())
    _compile_file(path)
    assert not (WORK.parent / "evil.txt").exists() and not Path("/abs/evil").exists()


def _damaged(raw: bytes, data: st.DataObject) -> bytes:
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 16), label="flips")):
        out[data.draw(st.integers(0, len(out) - 1), label="offset")] = data.draw(st.integers(0, 255), label="byte")
    if data.draw(st.integers(0, 3), label="truncate") == 0:
        out = out[: data.draw(st.integers(0, len(out)), label="length")]
    return bytes(out)


@pytest.mark.parametrize("kind", ["model.h5", "model.weights.h5"])
@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_damaged_hdf5(kind, seed_h5, data):
    """The HDF5 C library can crash on a damaged file; the compiler must still answer in one line."""
    (WORK / "h5").mkdir(exist_ok=True)
    path = WORK / "h5" / kind
    path.write_bytes(_damaged(seed_h5[kind], data))
    if kind == "model.h5":
        _compile_file(path)
    else:
        (WORK / "h5" / "model.json").write_bytes(seed_h5["model.json"])
        _compile_file(WORK / "h5" / "model.json", weights=path)


@settings(FUZZ, max_examples=300)
@given(blob=st.one_of(st.binary(max_size=2048),
                      st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM"]).flatmap(
                          lambda head: st.binary(max_size=512).map(lambda tail: head + tail))))
def test_images_that_are_not_images(blob):
    from runtime.images import load_images

    path = WORK / "image.jpg"
    path.write_bytes(blob)
    try:
        load_images([path], 32, 32)
    except compiler.CompileError as err:
        assert "image.jpg" in str(err)
