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
import os
import signal
import struct
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import compiler
from frontends.layers import LAYERS

LIMITS = compiler.Limits(max_weight_bytes=64 << 20, max_layers=2_000, max_config_bytes=8 << 20)
FUZZ = settings(deadline=timedelta(seconds=20), suppress_health_check=list(HealthCheck), derandomize=True)
WORK = Path(tempfile.mkdtemp(prefix="kerascc-fuzz-"))

CLASS_NAMES = sorted(k for k in LAYERS if not k.startswith("ops.")) + [
    "Lambda",
    "Functional",
    "Sequential",
    "InputLayer",
    "NoSuchLayer",
]
hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, -1, 1, 2, 3, 7, 2**31, 10**12, -(10**9)]),
    st.integers(min_value=-5, max_value=64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "",
            "same",
            "valid",
            "causal",
            "relu",
            "channels_first",
            "linear",
            "x" * 300,
            "__keras_tensor__",
            "float16",
            "int32",
        ]
    ),
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
    path.write_text(text[:cut] + junk + text[cut + len(junk) :], encoding="utf-8")
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
@given(
    blob=st.one_of(
        st.binary(max_size=2048),
        st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM"]).flatmap(
            lambda head: st.binary(max_size=512).map(lambda tail: head + tail)
        ),
    )
)
def test_images_that_are_not_images(blob):
    from runtime.images import load_images

    path = WORK / "image.jpg"
    path.write_bytes(blob)
    try:
        load_images([path], 32, 32)
    except compiler.CompileError as err:
        assert "image.jpg" in str(err)


# -- HDF5 storage kinds ---------------------------------------------------------------------------------
OUTSIDE = WORK / "outside"  # what hostile HDF5 files point at; the FIFO would block any reader
STORAGE = [
    "plain",
    "gzip",
    "alias",
    "external",
    "external_fifo",
    "link",
    "link_fifo",
    "virtual",
    "soft",
    "soft_dangling",
]
EXTRAS = ["none", "nested", "cycle", "soft_group", "link_group", "empty_groups"]
REFUSED = {
    "external",
    "external_fifo",
    "link",
    "link_fifo",
    "virtual",
    "soft",
    "soft_dangling",
    "soft_group",
    "link_group",
}


def _outside() -> dict[str, Path]:
    OUTSIDE.mkdir(exist_ok=True)
    paths = {"secret": OUTSIDE / "secret.bin", "fifo": OUTSIDE / "pipe", "other": OUTSIDE / "other.h5"}
    if not paths["secret"].exists():
        paths["secret"].write_bytes(b"\x7f" * (1 << 20))  # as float32, every value is NaN-like junk
    if not paths["fifo"].exists():
        os.mkfifo(paths["fifo"])
    if not paths["other"].exists():
        import h5py

        with h5py.File(paths["other"], "w") as f:
            f["x"] = np.ones(64, np.float32)
    return paths


@contextmanager
def _no_hang(seconds: int = 120) -> Iterator[None]:
    """A read of the FIFO would block forever: fail instead."""

    def hung(signum: int, frame: Any) -> None:
        raise AssertionError(f"blocked for {seconds} s: something opened a file outside the HDF5 file")

    # pytest-timeout's own alarm for the test, if armed, is put back as it was left
    started, (remaining, _) = time.monotonic(), signal.getitimer(signal.ITIMER_REAL)
    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining:
            signal.setitimer(signal.ITIMER_REAL, max(remaining - (time.monotonic() - started), 0.001))


def _replace_dataset(f: Any, name: str, kind: str, paths: dict[str, Path], data: st.DataObject) -> None:
    import h5py

    old = f[name]
    shape, dtype, values = old.shape, old.dtype, old[()]
    parent, leaf = f[name.rsplit("/", 1)[0] or "/"], name.rsplit("/", 1)[-1]
    del parent[leaf]
    size = int(np.prod(shape)) * dtype.itemsize
    if kind == "plain":
        parent[leaf] = values
    elif kind == "gzip":
        parent.create_dataset(
            leaf,
            data=values,
            compression="gzip",
            shuffle=data.draw(st.booleans(), label="shuffle"),
            chunks=True if shape else None,
        ) if shape else parent.create_dataset(leaf, data=values)
    elif kind == "alias":  # a second hard link to another dataset: inside the file, allowed
        others = [n for n in _datasets(f) if n != name]
        if others:
            parent[leaf] = f[data.draw(st.sampled_from(others), label="alias")]
        else:
            parent[leaf] = values
    elif kind in ("external", "external_fifo"):
        target = paths["secret" if kind == "external" else "fifo"]
        parent.create_dataset(leaf, shape=shape, dtype=dtype, external=[(str(target), 0, max(size, 1))])
    elif kind in ("link", "link_fifo"):
        parent[leaf] = h5py.ExternalLink(str(paths["other" if kind == "link" else "fifo"]), "/x")
    elif kind == "virtual":
        layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
        layout[...] = h5py.VirtualSource(
            str(paths[data.draw(st.sampled_from(["other", "fifo"]), label="vds")]), "x", shape=shape
        )
        parent.create_virtual_dataset(leaf, layout, fillvalue=0)
    elif kind == "soft":
        parent[leaf] = h5py.SoftLink(data.draw(st.sampled_from(["/" + n for n in _datasets(f)] or ["/"]), label="soft"))
    else:  # soft_dangling
        parent[leaf] = h5py.SoftLink("/no/such/object")


def _datasets(f: Any) -> list[str]:
    import h5py

    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def _add_extra(f: Any, kind: str, paths: dict[str, Path], data: st.DataObject) -> None:
    import h5py

    groups: list[str] = ["/"]
    f.visititems(lambda name, obj: groups.append("/" + name) if isinstance(obj, h5py.Group) else None)
    at = f[data.draw(st.sampled_from(groups), label="at")]
    name = data.draw(st.sampled_from(["extra", "layers", "vars", "0", "../x", "a b", "\u00e9\u00df"]), label="name")
    if name in at or "/" in name:
        name = "extra_object"
    if kind == "nested":
        g = at.create_group(name)
        for _ in range(data.draw(st.integers(1, 400), label="depth")):
            g = g.create_group(data.draw(st.sampled_from(["layers", "vars", "g"]), label="level"))
    elif kind == "cycle":
        at[name] = f[data.draw(st.sampled_from(groups), label="up")]  # a hard link: may point up the tree
    elif kind == "soft_group":
        at[name] = h5py.SoftLink(data.draw(st.sampled_from(groups), label="to"))
    elif kind == "link_group":
        at[name] = h5py.ExternalLink(str(paths[data.draw(st.sampled_from(["other", "fifo"]), label="file")]), "/")
    elif kind == "empty_groups":
        for i in range(data.draw(st.integers(1, 50), label="count")):
            at.create_group(f"{name}_{i}")


@pytest.mark.parametrize("kind", ["model.h5", "model.weights.h5", "model.keras"])
@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_hdf5_storage_kinds(kind, seed_h5, seed_archive, data):
    """Datasets stored outside the file (external storage, external links, virtual datasets), soft
    links, hard-link cycles and deep nesting, in a weights file, a legacy model or a .keras archive:
    whatever points outside the file is refused, and nothing outside it is ever opened."""
    import h5py

    paths = _outside()
    folder = WORK / "storage"
    folder.mkdir(exist_ok=True)
    if kind == "model.keras":
        with zipfile.ZipFile(io.BytesIO(seed_archive)) as zf:
            members = {name: zf.read(name) for name in zf.namelist()}
        blob = io.BytesIO(members["model.weights.h5"])
    else:
        blob = io.BytesIO(seed_h5[kind])
    used: set[str] = set()
    with h5py.File(blob, "a") as f:
        names = _datasets(f)
        for name in data.draw(st.lists(st.sampled_from(names), max_size=3, unique=True), label="datasets"):
            storage = data.draw(st.sampled_from(STORAGE), label="storage")
            _replace_dataset(f, name, storage, paths, data)
            used.add(storage)
        extra = data.draw(st.sampled_from(EXTRAS), label="extra")
        _add_extra(f, extra, paths, data)
        used.add(extra)
    event(", ".join(sorted(used)))
    if kind == "model.keras":
        members["model.weights.h5"] = blob.getvalue()
        target = folder / "model.keras"
        _zip_members(target, members)
        call: dict[str, Any] = {}
    elif kind == "model.h5":
        target = folder / "model.h5"
        target.write_bytes(blob.getvalue())
        call = {}
    else:
        (folder / "model.weights.h5").write_bytes(blob.getvalue())
        target = folder / "model.json"
        target.write_bytes(seed_h5["model.json"])
        call = {"weights": folder / "model.weights.h5"}
    with _no_hang():
        try:
            model = compiler.compile(target, limits=LIMITS, **call)
        except compiler.CompileError as err:
            assert str(err) and "\n" not in str(err)
            event(f"refused: {type(err).__name__}")
            return
    assert not used & REFUSED, f"compiled although the file points outside itself ({sorted(used & REFUSED)})"
    assert b"\x7f\x7f\x7f\x7f" not in model.serialize()
    event("compiled")


# -- zip flags and member names ----------------------------------------------------------------------------
ODD_NAMES = [
    "config.json/",
    "./config.json",
    "CONFIG.JSON",
    "config.json\u202e",
    "\u00e9t\u00e9.json",
    "a" * 2000,
    "dir/../config.json",
    "/config.json",
    "..\\config.json",
    "con\tfig.json",
    "\x1b[31mred",
    "model.weights.h5",
    "config.json",
]


def _zip_members(path: Path, members: dict[str, bytes], methods: dict[str, int] | None = None) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, blob in members.items():
            zf.writestr(zipfile.ZipInfo(name), blob, compress_type=(methods or {}).get(name, zipfile.ZIP_DEFLATED))


def _patch_member(
    raw: bytearray, info: zipfile.ZipInfo, central: int, flags: int | None, method: int | None, where: str
) -> None:
    """Set a member's flag bits and compression method in its local header, its central entry or both."""
    if where in ("local", "both"):
        at = info.header_offset
        if flags is not None:
            raw[at + 6 : at + 8] = struct.pack("<H", flags)
        if method is not None:
            raw[at + 8 : at + 10] = struct.pack("<H", method)
    if where in ("central", "both"):
        if flags is not None:
            raw[central + 8 : central + 10] = struct.pack("<H", flags)
        if method is not None:
            raw[central + 10 : central + 12] = struct.pack("<H", method)


def _central_offsets(raw: bytes) -> list[int]:
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        at, count = zf.start_dir, len(zf.infolist())
    offsets = []
    for _ in range(count):
        offsets.append(at)
        name_len, extra_len, comment_len = struct.unpack("<HHH", raw[at + 28 : at + 34])
        at += 46 + name_len + extra_len + comment_len
    return offsets


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_zip_flags_and_member_names(seed_archive, data):
    """Encrypted bits, data descriptors, compression methods that lie about the data, and odd member
    names (duplicates, separators, control characters, 2,000 characters) in a .keras archive."""
    with zipfile.ZipFile(io.BytesIO(seed_archive)) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    for _ in range(data.draw(st.integers(0, 3), label="extra names")):
        name = data.draw(st.sampled_from(ODD_NAMES), label="odd name")
        source = data.draw(st.sampled_from(sorted(members)), label="content")
        members = {**members, name: members[source]} if name not in members else members
    methods = {
        name: data.draw(
            st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]),
            label="method",
        )
        for name in members
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, blob in members.items():
            zf.writestr(zipfile.ZipInfo(name), blob, compress_type=methods[name])
        if data.draw(st.booleans(), label="duplicate"):  # a second config.json, as a careless tool writes
            with pytest.warns(UserWarning):
                zf.writestr(zipfile.ZipInfo("config.json"), b'{"class_name": "Sequential", "config": {}}')
    raw = bytearray(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as zf:
        infos = zf.infolist()
    centrals = _central_offsets(bytes(raw))
    for _ in range(data.draw(st.integers(1, 4), label="patches")):
        i = data.draw(st.integers(0, len(infos) - 1), label="member")
        bits = data.draw(st.sampled_from([0x1, 0x8, 0x1 | 0x8, 0x40, 0x800, 0x2000, 0xFFFF, 0]), label="flags")
        method = data.draw(st.sampled_from([None, 0, 8, 12, 14, 1, 6, 9, 99, 0xFFFF]), label="method")
        where = data.draw(st.sampled_from(["local", "central", "both"]), label="where")
        _patch_member(raw, infos[i], centrals[i], infos[i].flag_bits | bits if bits else None, method, where)
        event(f"flags {bits:#x}, method {method}, {where}")
    path = WORK / "flags.keras"
    path.write_bytes(bytes(raw))
    _compile_file(path)


# -- names are data: any text in a layer, model or input name compiles or is one clean line ------------------------
hostile_names = st.one_of(
    st.text(min_size=1, max_size=24),
    st.sampled_from(["[/]", "[bold]x[/bold]", "\x1b[2J", "\x1b]0;t\x07", ":smile:", "a/b", "a:0", " ", "..", "\u202e"]),
)


def _rename(doc: Any, data: st.DataObject) -> Any:
    """Replace every ``name`` value (and references to it stay as they were: dangling ones must be refused)."""
    if isinstance(doc, dict):
        return {
            k: (
                data.draw(hostile_names)
                if k == "name" and isinstance(v, str) and data.draw(st.booleans())
                else _rename(v, data)
            )
            for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [_rename(v, data) for v in doc]
    return doc


@pytest.mark.parametrize("seed", ["functional", "sequential"])
@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_hostile_names(seed, seed_docs, data):
    import cli  # the terminal-escaping the command line applies to every name it prints

    doc = _rename(copy.deepcopy(seed_docs[seed]), data)
    path = WORK / f"names_{seed}.json"
    path.write_text(json.dumps(doc))
    _compile_file(path)
    for name in _names(doc):
        text = cli.plain(name)
        assert not any(ord(ch) < 32 or ord(ch) == 127 or 0x202A <= ord(ch) <= 0x202E for ch in text), repr(text)


def _names(doc: Any) -> Iterator[str]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == "name" and isinstance(v, str):
                yield v
            else:
                yield from _names(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _names(v)
