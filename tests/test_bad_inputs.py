"""Every class of bad input, the exact line a user sees for it, and the README table that lists them.

Each case builds its broken input in a fresh folder, runs the real command line there (so messages
name files as a user typed them), and requires one line on stderr, exit code 2, no traceback, no
raw control character and no file left or changed in the folder. The README's table between
``<!-- errors:start -->`` and ``<!-- errors:end -->`` is rendered from these cases; a stale table
fails :func:`test_readme_table_is_current` (rewrite it with
``KERASCC_UPDATE_README=1 pytest tests/test_bad_inputs.py``).

Hostile inputs prove what did not happen with markers: data files hold code that would create a
file if it ran (the folder check catches it), HDF5 files point at FIFOs that would block a reader
(the command would time out) and Python model files count their own executions.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cli_process
import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START, END = "<!-- errors:start -->", "<!-- errors:end -->"


# -- a tiny Keras 3 model JSON, written the way model.to_json() writes it ----------------------------
def tensor(layer: str, node: int = 0, index: int = 0) -> dict:
    return {
        "class_name": "__keras_tensor__",
        "config": {"shape": None, "dtype": "float32", "keras_history": [layer, node, index]},
    }


def layer(cls: str, name: str, inputs: list[str] | None = None, **config) -> dict:
    entry = {
        "module": "keras.layers",
        "class_name": cls,
        "config": {"name": name, **config},
        "registered_name": None,
        "name": name,
        "inbound_nodes": [],
    }
    if inputs is not None:
        args = [tensor(i) for i in inputs]
        entry["inbound_nodes"] = [{"args": [args] if len(args) > 1 else args, "kwargs": {}}]
    return entry


def model_doc(
    *layers: dict, inputs: tuple[str, ...] = ("image",), output: str | None = None, shape: tuple = (None, 16, 16, 3)
) -> dict:
    ins = [
        {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "registered_name": None,
            "name": n,
            "config": {"batch_shape": list(shape), "dtype": "float32", "name": n},
            "inbound_nodes": [],
        }
        for n in inputs
    ]
    out = output or layers[-1]["name"]
    return {
        "module": "keras",
        "class_name": "Functional",
        "registered_name": "Functional",
        "config": {
            "name": "model",
            "layers": [*ins, *layers],
            "input_layers": [[n, 0, 0] for n in inputs],
            "output_layers": [[out, 0, 0]],
        },
    }


def conv(name: str = "conv", src: str = "image", **overrides) -> dict:
    return layer(
        "Conv2D",
        name,
        [src],
        **{
            "filters": 4,
            "kernel_size": [3, 3],
            "strides": [1, 1],
            "padding": "same",
            "activation": "relu",
            **overrides,
        },
    )


def write_json(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc))


def good_model(d: Path) -> None:
    write_json(d / "model.json", model_doc(conv(), layer("GlobalAveragePooling2D", "gap", ["conv"])))


# -- the catalogue ------------------------------------------------------------------------------------
@dataclass
class Case:
    what: str  # the README's description of the bad input
    make: Callable[[Path], None]  # writes the input files into the folder
    args: tuple[str, ...]  # the command line, run in that folder
    expect: str  # the message (after "error: ") the user sees


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)


def _zip_bomb(d: Path) -> None:
    """A 600 MB config.json of spaces that deflates to well under a megabyte."""
    with zipfile.ZipFile(d / "bomb.keras", "w", zipfile.ZIP_DEFLATED) as zf, zf.open("config.json", "w") as f:
        chunk = b" " * (1 << 24)
        for _ in range(36):
            f.write(chunk)


def _huge_h5(d: Path) -> None:
    good_model(d)
    with h5py.File(d / "huge.weights.h5", "w") as f:
        g = f.create_group("layers/conv/vars")
        g.attrs["name"] = "conv"
        g.create_dataset("0", shape=(1 << 20, 1 << 20), dtype="f4", chunks=(64, 64))  # 4 TB declared


def _wrong_weights(d: Path) -> None:
    good_model(d)
    with h5py.File(d / "wrong.weights.h5", "w") as f:
        g = f.create_group("layers/conv/vars")
        g.attrs["name"] = "conv"
        g["0"] = np.zeros((5, 5, 3, 4), np.float32)
        g["1"] = np.zeros((4,), np.float32)


def _other_weights(d: Path) -> None:
    good_model(d)
    with h5py.File(d / "other.weights.h5", "w") as f:
        g = f.create_group("layers/dense/vars")
        g.attrs["name"] = "dense"
        g["0"] = np.zeros((8, 2), np.float32)


def _million_layers(d: Path) -> None:
    layers = [layer("ReLU", f"r{i}", [f"r{i - 1}" if i else "image"]) for i in range(100_001)]
    write_json(d / "deep.json", model_doc(*layers))


def _cycle(d: Path) -> None:
    write_json(d / "cycle.json", model_doc(conv("a", src="b"), conv("b", src="a")))


def _add_mismatch(d: Path) -> None:
    write_json(d / "add.json", model_doc(conv("a"), conv("b", filters=8), layer("Add", "join", ["a", "b"])))


def _concat_mismatch(d: Path) -> None:
    write_json(
        d / "cat.json",
        model_doc(conv("a"), conv("b", strides=[2, 2]), layer("Concatenate", "join", ["a", "b"], axis=-1)),
    )


def _image_model(d: Path) -> None:
    write_json(
        d / "vec.json", model_doc(layer("Dense", "dense", ["vector"], units=3), inputs=("vector",), shape=(None, 10))
    )
    subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "compile", "vec.json"], cwd=d, check=True, capture_output=True
    )
    (d / "photo.png").write_bytes((ROOT / "examples" / "cat.jpg").read_bytes())


def _not_an_image(d: Path) -> None:
    good_model(d)
    subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "compile", "model.json"], cwd=d, check=True, capture_output=True
    )
    (d / "notes.jpg").write_text("shopping list: eggs, milk")


def _json_to_run(d: Path) -> None:
    good_model(d)
    (d / "photo.png").write_bytes((ROOT / "examples" / "cat.jpg").read_bytes())


# -- HDF5 files that point outside themselves ----------------------------------------------------------
def _weights_with(d: Path, name: str, kernel: Callable[[h5py.Group], None]) -> None:
    """A Keras 3 weights file for good_model() whose kernel is made by ``kernel(vars_group)``."""
    good_model(d)
    with h5py.File(d / name, "w") as f:
        g = f.create_group("layers/conv/vars")
        g.attrs["name"] = "conv"
        kernel(g)
        g["1"] = np.zeros(4, np.float32)


def _secret(d: Path) -> None:
    (d / "secret.bin").write_bytes(np.arange(108, dtype=np.float32).tobytes())


def _external_storage(d: Path) -> None:
    _secret(d)
    _weights_with(
        d,
        "ext.weights.h5",
        lambda g: g.create_dataset("0", shape=(3, 3, 3, 4), dtype="f4", external=[("secret.bin", 0, 432)]),
    )


def _external_fifo(d: Path) -> None:
    os.mkfifo(d / "pipe")  # reading it would block: the command would time out
    _weights_with(
        d,
        "fifo.weights.h5",
        lambda g: g.create_dataset("0", shape=(3, 3, 3, 4), dtype="f4", external=[("pipe", 0, 432)]),
    )


def _external_link(d: Path) -> None:
    os.mkfifo(d / "other.h5")  # opening it would block
    _weights_with(d, "link.weights.h5", lambda g: g.__setitem__("0", h5py.ExternalLink("other.h5", "/kernel")))


def _virtual(d: Path) -> None:
    os.mkfifo(d / "source.h5")

    def make(g: h5py.Group) -> None:
        layout = h5py.VirtualLayout(shape=(3, 3, 3, 4), dtype="f4")
        layout[...] = h5py.VirtualSource("source.h5", "kernel", shape=(3, 3, 3, 4))
        g.create_virtual_dataset("0", layout)

    _weights_with(d, "vds.weights.h5", make)


def _soft_link(d: Path) -> None:
    def make(g: h5py.Group) -> None:
        g.file["elsewhere"] = np.zeros((3, 3, 3, 4), np.float32)
        g["0"] = h5py.SoftLink("/elsewhere")

    _weights_with(d, "soft.weights.h5", make)


def _nested_groups(d: Path) -> None:
    good_model(d)
    with h5py.File(d / "deep.weights.h5", "w") as f:
        group = f
        for _ in range(3000):
            group = group.create_group("layers")


def _many_objects(d: Path) -> None:
    good_model(d)
    with h5py.File(d / "many.weights.h5", "w") as f:
        g = f.create_group("junk")
        for i in range(400):
            g.create_group(str(i))


def _archive_with_link(d: Path) -> None:
    os.mkfifo(d / "other.h5")
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        g = f.create_group("layers/conv/vars")
        g.attrs["name"] = "conv"
        g["0"] = h5py.ExternalLink("other.h5", "/kernel")
    doc = model_doc(conv(), layer("GlobalAveragePooling2D", "gap", ["conv"]))
    _zip(d / "model.keras", {"config.json": json.dumps(doc).encode(), "model.weights.h5": buf.getvalue()})


def _legacy_model_with_external_storage(d: Path) -> None:
    _secret(d)
    doc = model_doc(conv(), layer("GlobalAveragePooling2D", "gap", ["conv"]))
    with h5py.File(d / "legacy.h5", "w") as f:
        f.attrs["model_config"] = json.dumps(doc)
        weights = f.create_group("model_weights")
        weights.attrs["layer_names"] = [b"conv"]
        g = weights.create_group("conv")
        g.attrs["weight_names"] = [b"conv/kernel:0", b"conv/bias:0"]
        g.create_dataset("conv/kernel:0", shape=(3, 3, 3, 4), dtype="f4", external=[("secret.bin", 0, 432)])
        g["conv/bias:0"] = np.zeros(4, np.float32)


# -- data files that hold code ---------------------------------------------------------------------------
RUN_MARKER = "import pathlib\npathlib.Path(__file__).with_name('RAN').write_text('executed')\n"


def _python_in_json(d: Path) -> None:
    (d / "code.json").write_text(RUN_MARKER + "from keras import Input, Model\ni = Input((3,))\nmodel = Model(i, i)\n")


# -- images ------------------------------------------------------------------------------------------------
def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares a size (and holds no pixels): a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nnewpath 0 0 moveto 8 8 lineto stroke showpage\n%%EOF\n"


def _compiled(d: Path) -> None:
    good_model(d)
    subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "compile", "model.json"], cwd=d, check=True, capture_output=True
    )


def _with_compiled(extra: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda d: (_compiled(d), extra(d))


CASES = [
    Case("missing file", lambda d: None, ("compile", "nothing.json"), "nothing.json: no such file"),
    Case(
        "a directory",
        lambda d: (d / "models").mkdir(),
        ("compile", "models"),
        "models: is a directory, not a model file",
    ),
    Case(
        "empty JSON",
        lambda d: (d / "empty.json").write_text(""),
        ("compile", "empty.json"),
        "empty.json: not valid JSON (Expecting value: line 1 column 1 (char 0))",
    ),
    Case(
        "truncated JSON",
        lambda d: (d / "cut.json").write_text(json.dumps(model_doc(conv()))[:120]),
        ("compile", "cut.json"),
        "cut.json: not valid JSON (Expecting value: line 1 column 121 (char 120))",
    ),
    Case(
        "binary file given as JSON",
        lambda d: (d / "blob.json").write_bytes(bytes(range(256))),
        ("compile", "blob.json"),
        "blob.json: not a text file, so not model JSON (hint: pass model.to_json() output, "
        "a .keras archive or an .h5 model)",
    ),
    Case(
        "JSON that is not a Keras model",
        lambda d: write_json(d / "settings.json", {"theme": "dark"}),
        ("compile", "settings.json"),
        "settings.json: not a Keras model: the JSON has no top-level 'class_name' and "
        "'config' (hint: pass the output of model.to_json(), a .keras archive or an .h5 model)",
    ),
    Case(
        "unknown layer class (a typo)",
        lambda d: write_json(d / "typo.json", model_doc({**conv(), "class_name": "Conv2d"})),
        ("compile", "typo.json"),
        "typo.json: layer 'conv': layer class 'Conv2d' is not supported (hint: did you mean Conv2D",
    ),
    Case(
        "Lambda layer",
        lambda d: write_json(
            d / "lambda.json",
            model_doc(
                layer(
                    "Lambda", "scale", ["image"], function={"class_name": "__lambda__", "config": {"code": "4wEAAA=="}}
                )
            ),
        ),
        ("compile", "lambda.json"),
        "lambda.json: layer 'scale': Lambda: not supported: a Lambda holds Python code, which kerascc never runs "
        "from a model file",
    ),
    Case(
        "custom layer class",
        lambda d: write_json(
            d / "custom.json",
            model_doc(
                {
                    **layer("Antialias", "blur", ["image"]),
                    "module": "my_layers",
                    "registered_name": "my_layers>Antialias",
                }
            ),
        ),
        ("compile", "custom.json"),
        "custom.json: layer 'blur': custom layer class 'my_layers>Antialias' is not "
        "supported: its code is not part of the model file (hint: pass its .py file with --custom-objects, use "
        "built-in layers, or register a converter with frontends.keras_layer)",
    ),
    Case(
        "zero or negative filters",
        lambda d: write_json(d / "zero.json", model_doc(conv(filters=0))),
        ("compile", "zero.json"),
        "zero.json: layer 'conv': Conv2D: filters must be a positive integer, got 0",
    ),
    Case(
        "strides of 0",
        lambda d: write_json(d / "stride.json", model_doc(conv(strides=[0, 1]))),
        ("compile", "stride.json"),
        "stride.json: layer 'conv': strides must be at least 1, got [0, 1]",
    ),
    Case(
        "kernel larger than the input",
        lambda d: write_json(d / "kernel.json", model_doc(conv(kernel_size=[20, 20], padding="valid"))),
        ("compile", "kernel.json"),
        "kernel.json: layer 'conv': kernel 20 (dilation 1) is larger than the padded input 16",
    ),
    Case(
        "unknown padding",
        lambda d: write_json(d / "pad.json", model_doc(conv(padding="full"))),
        ("compile", "pad.json"),
        "pad.json: layer 'conv': Conv2D: padding 'full' (hint: Conv2D/pooling take 'valid' or 'same')",
    ),
    Case(
        "unknown activation",
        lambda d: write_json(d / "act.json", model_doc(conv(activation="rleu"))),
        ("compile", "act.json"),
        "act.json: layer 'conv': Conv2D: activation 'rleu' (hint: supported: ",
    ),
    Case(
        "dangling inbound node",
        lambda d: write_json(d / "dangling.json", model_doc(conv(src="stem"))),
        ("compile", "dangling.json"),
        "dangling.json: layer 'conv': reads the output of layer 'stem', which is not "
        "in the model (hint: the model JSON is inconsistent)",
    ),
    Case(
        "cycle",
        _cycle,
        ("compile", "cycle.json"),
        "cycle.json: layers feed each other in a cycle: a → b → a "
        "(hint: a Keras model is acyclic; the JSON is inconsistent)",
    ),
    Case(
        "Add of different shapes",
        _add_mismatch,
        ("compile", "add.json"),
        "add.json: layer 'join': Add inputs have incompatible shapes [(None, 16, 16, 4), (None, 16, 16, 8)]",
    ),
    Case(
        "Concatenate of different sizes",
        _concat_mismatch,
        ("compile", "cat.json"),
        "cat.json: layer 'join': Concatenate inputs do not match except on axis 3: "
        "[(None, 16, 16, 4), (None, 8, 8, 4)]",
    ),
    Case(
        "weights of the wrong shape",
        _wrong_weights,
        ("compile", "model.json", "--weights", "wrong.weights.h5"),
        "wrong.weights.h5: layer 'conv': weight 'kernel' has shape (5, 5, 3, 4), the layer config needs (3, 3, 3, 4)",
    ),
    Case(
        "weights of another model",
        _other_weights,
        ("compile", "model.json", "--weights", "other.weights.h5"),
        "other.weights.h5: layer 'conv': the weights file has no weights for this layer (it needs kernel, bias) "
        "(hint: were the weights saved from this model?)",
    ),
    Case(
        "weights file that is not HDF5",
        lambda d: (good_model(d), (d / "w.h5").write_text("weights")),
        ("compile", "model.json", "--weights", "w.h5"),
        "w.h5: cannot read HDF5 weights: ",
    ),
    Case(
        "HDF5 file that crashes the HDF5 library",
        lambda d: (d / "damaged.h5").write_bytes((ROOT / "tests" / "data" / "hdf5_segfault.h5").read_bytes()),
        ("compile", "damaged.h5"),
        "damaged.h5: damaged HDF5 file: the HDF5 library crashed reading it (hint: save the model or weights again)",
    ),
    Case(
        ".keras file that is not a zip",
        lambda d: (d / "model.keras").write_text("not a zip"),
        ("compile", "model.keras"),
        "model.keras: broken .keras archive (File is not a zip file)",
    ),
    Case(
        ".keras archive without config.json",
        lambda d: _zip(d / "empty.keras", {"metadata.json": b"{}"}),
        ("compile", "empty.keras"),
        "empty.keras: archive has no config.json (is it a .keras file?)",
    ),
    Case(
        "zip bomb in a .keras archive",
        _zip_bomb,
        ("compile", "bomb.keras"),
        "bomb.keras: config.json in the archive would take 576.0 MB, over the limit of 512.0 MB "
        "(hint: raise it with --max-config if this is intended)",
    ),
    Case(
        "10^9 filters",
        lambda d: write_json(d / "wide.json", model_doc(conv(filters=10**9))),
        ("compile", "wide.json"),
        "wide.json: layer 'conv': the model's weights would take 104.3 GB, over the "
        "limit of 8.0 GB (hint: raise it with --max-weights if this is intended)",
    ),
    Case(
        "10^5+ layers",
        _million_layers,
        ("compile", "deep.json"),
        "deep.json: the model has 100,002 layers, over "
        "the limit of 100,000 (hint: raise it with --max-layers if this is intended)",
    ),
    Case(
        "HDF5 dataset claiming terabytes",
        _huge_h5,
        ("compile", "model.json", "--weights", "huge.weights.h5"),
        "huge.weights.h5: the weights in this file would take 4.0 TB, over the limit of 8.0 GB "
        "(hint: raise it with --max-weights if this is intended)",
    ),
    Case(
        "Python model file with a syntax error",
        lambda d: (d / "net.py").write_text("import keras\nx = keras.Input((8, 8, 3)\ny = 2\n"),
        ("compile", "net.py"),
        "net.py:2: syntax error: '(' was never closed",
    ),
    Case(
        "Python file that builds no model",
        lambda d: (d / "util.py").write_text("import math\nSIZE = 3\n"),
        ("compile", "util.py"),
        "util.py: no model found: the file defines no Model and no function that returns "
        "one (hint: assign the model to a module-level variable, e.g. model = Model(...))",
    ),
    Case(
        "Python model adding tensors of different shapes",
        lambda d: (d / "net.py").write_text(
            "from keras import layers, Input, Model\ni = Input((8, 8, 3))\n"
            "a = layers.Conv2D(4, 3, padding='same')(i)\nb = layers.Conv2D(8, 3, padding='same')(i)\n"
            "model = Model(i, layers.add([a, b]))\n"
        ),
        ("compile", "net.py"),
        "net.py:5: Add: Add inputs have incompatible shapes [(None, 8, 8, 4), (None, 8, 8, 8)]",
    ),
    Case(
        "an image that is not an image",
        _not_an_image,
        ("run", "model.onnx", "notes.jpg"),
        "notes.jpg: cannot read image: not an image format kerascc reads",
    ),
    Case(
        "a model whose input is not an image",
        _image_model,
        ("run", "vec.onnx", "photo.png"),
        "vec.onnx: input 'vector' has shape (?, 10); an image batch needs 4 dimensions",
    ),
    Case(
        "model JSON given to run",
        _json_to_run,
        ("run", "model.json", "photo.png"),
        "model.json: is a Keras model description, not a compiled ONNX model (hint: compile it first: "
        "python cli.py compile model.json)",
    ),
    # HDF5 storage outside the file: never opened, never read (the FIFOs would block a reader)
    Case(
        "HDF5 dataset stored in another file (external storage)",
        _external_storage,
        ("compile", "model.json", "--weights", "ext.weights.h5"),
        "ext.weights.h5: '/layers/conv/vars/0' keeps its data in another file ('secret.bin'), which kerascc never "
        "reads (hint: Keras writes every array inside the file itself; save the weights again with Keras)",
    ),
    Case(
        "HDF5 external storage on a FIFO",
        _external_fifo,
        ("compile", "model.json", "--weights", "fifo.weights.h5"),
        "fifo.weights.h5: '/layers/conv/vars/0' keeps its data in another file ('pipe'), which kerascc never reads",
    ),
    Case(
        "HDF5 external link",
        _external_link,
        ("compile", "model.json", "--weights", "link.weights.h5"),
        "link.weights.h5: '/layers/conv/vars/0' is a link to another file ('other.h5'), which kerascc never opens",
    ),
    Case(
        "HDF5 virtual dataset",
        _virtual,
        ("compile", "model.json", "--weights", "vds.weights.h5"),
        "vds.weights.h5: '/layers/conv/vars/0' is a virtual dataset, made of data in other files, which kerascc "
        "never reads",
    ),
    Case(
        "HDF5 soft link",
        _soft_link,
        ("compile", "model.json", "--weights", "soft.weights.h5"),
        "soft.weights.h5: '/layers/conv/vars/0' is a soft link (to '/elsewhere'); Keras files hold none",
    ),
    Case(
        "external link in a .keras archive's weights",
        _archive_with_link,
        ("compile", "model.keras"),
        "model.keras:model.weights.h5: '/layers/conv/vars/0' is a link to another file ('other.h5')",
    ),
    Case(
        "external storage in a legacy .h5 model",
        _legacy_model_with_external_storage,
        ("compile", "legacy.h5"),
        "legacy.h5: '/model_weights/conv/conv/kernel:0' keeps its data in another file ('secret.bin')",
    ),
    Case(
        "3,000 nested HDF5 groups",
        _nested_groups,
        ("compile", "model.json", "--weights", "deep.weights.h5"),
        "deep.weights.h5: groups are nested over 256 deep (hint: was the file written by Keras? save it again "
        "with Keras)",
    ),
    Case(
        "HDF5 file with more objects than --max-layers allows",
        _many_objects,
        ("compile", "model.json", "--weights", "many.weights.h5", "--max-layers", "10"),
        "many.weights.h5: the HDF5 file holds over 320 groups and datasets, more than a model of 10 layers has "
        "(hint: raise it with --max-layers if this is intended)",
    ),
    # code in data files never runs; a .py file's own end is its error
    Case(
        "export-json of a .json file holding Python",
        _python_in_json,
        ("export-json", "code.json"),
        "code.json: only a .py file is run as Keras model code, and this one is not run",
    ),
    Case(
        "Python model raising a BaseException subclass",
        lambda d: (d / "stop.py").write_text("class Stop(BaseException):\n    pass\nraise Stop('halt')\n"),
        ("compile", "stop.py"),
        "stop.py:3: Stop: halt",
    ),
    Case(
        "Python model raising GeneratorExit",
        lambda d: (d / "gen.py").write_text("raise GeneratorExit\n"),
        ("compile", "gen.py"),
        "gen.py:1: GeneratorExit",
    ),
    Case(
        "Python model calling sys.exit(0)",
        lambda d: (d / "quit.py").write_text(
            "import sys\nfrom keras import Input, Model\ni = Input((3,))\nmodel = Model(i, i)\nsys.exit(0)\n"
        ),
        ("compile", "quit.py"),
        "quit.py:5: SystemExit: the file called exit(0)",
    ),
    Case(
        "Python model calling os._exit(0)",
        lambda d: (d / "bye.py").write_text(
            "import os\nfrom keras import Input, Model\ni = Input((3,))\nmodel = Model(i, i)\nos._exit(0)\n"
        ),
        ("compile", "bye.py"),
        "bye.py: running the model file ended the process (exit code 0) before the model was described",
    ),
    # images: only the formats Pillow decodes itself, and no bombs
    Case(
        "PostScript named .jpg",
        _with_compiled(lambda d: (d / "eps.jpg").write_bytes(EPS)),
        ("run", "model.onnx", "eps.jpg"),
        "eps.jpg: cannot read image: not an image format kerascc reads "
        "(hint: use JPEG, PNG, BMP, GIF, TIFF, WebP or PPM)",
    ),
    Case(
        "decompression bomb (a PNG declaring 60000x60000)",
        _with_compiled(lambda d: (d / "bomb.png").write_bytes(_png_header(60000, 60000))),
        ("run", "model.onnx", "bomb.png"),
        "bomb.png: cannot read image: it declares more pixels than Pillow's decompression-bomb limit",
    ),
    Case(
        "a FIFO named as an image",
        _with_compiled(lambda d: os.mkfifo(d / "pipe.jpg")),
        ("run", "model.onnx", "pipe.jpg"),
        "pipe.jpg: is not a regular file (a FIFO or a device?), so not an image",
    ),
    # Triton repositories: the model stays inside, and is an ONNX model
    Case(
        "export-triton --name ..",
        _compiled,
        ("export-triton", "model.onnx", "repo", "--name", ".."),
        "model name '..' must be one folder name of letters, digits, '.', '-' or '_', and not '.' or '..'",
    ),
    Case(
        "export-triton --name with a separator",
        _compiled,
        ("export-triton", "model.onnx", "repo", "--name", "../x"),
        "model name '../x' must be one folder name",
    ),
    Case(
        "export-triton of an empty .onnx",
        lambda d: (d / "empty.onnx").write_bytes(b""),
        ("export-triton", "empty.onnx", "repo"),
        "empty.onnx: not a readable ONNX file (an empty file)",
    ),
    Case(
        "export-triton of a file that is not ONNX",
        lambda d: good_model(d) or os.rename(d / "model.json", d / "model.onnx"),
        ("export-triton", "model.onnx", "repo"),
        "model.onnx: not a readable ONNX file",
    ),
    # -- the command line's own outputs: never over an input, never over a device, checked before the work --
    Case(
        "compile model.onnx that is really JSON (no -o)",
        lambda d: good_model(d) or os.rename(d / "model.json", d / "model.onnx"),
        ("compile", "model.onnx"),
        "model.onnx: is the output and also an input ('model.onnx'): writing it would destroy that input",
    ),
    Case(
        "-o a symlink to the model",
        lambda d: good_model(d) or os.symlink("model.json", d / "out.onnx"),
        ("compile", "model.json", "-o", "out.onnx"),
        "out.onnx: is the output and also an input ('model.json')",
    ),
    Case(
        "-o the weights file",
        _wrong_weights,
        ("compile", "model.json", "-w", "wrong.weights.h5", "-o", "wrong.weights.h5"),
        "wrong.weights.h5: is the output and also an input",
    ),
    Case(
        "inspect --dot naming the model",
        good_model,
        ("inspect", "model.json", "--dot", "model.json"),
        "model.json: is the output and also an input ('model.json')",
    ),
    Case(
        "run --save naming an image",
        _with_compiled(lambda d: (d / "photo.png").write_bytes((ROOT / "examples" / "cat.jpg").read_bytes())),
        ("run", "model.onnx", "photo.png", "--save", "photo.png"),
        "photo.png: is the output and also an input ('photo.png')",
    ),
    Case(
        "-o naming a FIFO",
        lambda d: good_model(d) or os.mkfifo(d / "pipe.onnx"),
        ("compile", "model.json", "-o", "pipe.onnx"),
        "pipe.onnx: cannot write output (it is a device, FIFO or socket, not a regular file)",
    ),
    Case(
        "-o naming a character device",
        good_model,
        ("compile", "model.json", "-o", "/dev/null"),
        "/dev/null: cannot write output (it is a device, FIFO or socket, not a regular file)",
    ),
    Case(
        "run -o under a file, found before inference",
        _with_compiled(lambda d: (d / "photo.png").write_bytes((ROOT / "examples" / "cat.jpg").read_bytes())),
        ("run", "model.onnx", "photo.png", "-o", "photo.png/r.csv"),
        "photo.png/r.csv: cannot write output (Not a directory)",
    ),
    Case(
        "run --masks naming a file",
        _with_compiled(lambda d: (d / "photo.png").write_bytes((ROOT / "examples" / "cat.jpg").read_bytes())),
        ("run", "model.onnx", "photo.png", "--masks", "photo.png"),
        "photo.png: is not a folder",
    ),
    # -- inputs that are not regular files: refused before opening (a FIFO would block, /dev/zero never ends) --
    Case(
        "a FIFO as the model to compile",
        lambda d: os.mkfifo(d / "pipe.json"),
        ("compile", "pipe.json"),
        "pipe.json: is not a regular file (a FIFO or a device?), so not a model file",
    ),
    Case(
        "a device as the model to compile",
        lambda d: None,
        ("compile", "/dev/zero"),
        "/dev/zero: is not a regular file (a FIFO or a device?), so not a model file",
    ),
    Case(
        "a FIFO as the weights",
        lambda d: good_model(d) or os.mkfifo(d / "pipe.weights.h5"),
        ("compile", "model.json", "-w", "pipe.weights.h5"),
        "pipe.weights.h5: is not a regular file",
    ),
    Case(
        "a FIFO as the ONNX model to run",
        lambda d: os.mkfifo(d / "pipe.onnx"),
        ("run", "pipe.onnx", "x.png"),
        "pipe.onnx: is not a regular file (a FIFO or a device?), so not a model file",
    ),
    Case(
        "a FIFO as the ONNX model to bench",
        lambda d: os.mkfifo(d / "pipe.onnx"),
        ("bench", "pipe.onnx"),
        "pipe.onnx: is not a regular file (a FIFO or a device?), so not a model file",
    ),
    Case(
        "a FIFO as the ONNX model to inspect",
        lambda d: os.mkfifo(d / "pipe.onnx"),
        ("inspect", "pipe.onnx"),
        "pipe.onnx: is not a regular file (a FIFO or a device?), so not a model file",
    ),
    Case(
        "a directory as the ONNX model to run",
        lambda d: (d / "m.onnx").mkdir(),
        ("run", "m.onnx", "x.png"),
        "m.onnx: is a directory, not a model file",
    ),
    Case(
        "--threads 0",
        _compiled,
        ("run", "model.onnx", "x.png", "--threads", "0"),
        "--threads must be at least 1, not 0",
    ),
    # -- options out of range: one line before any work --
    Case(
        "--opset 99999",
        good_model,
        ("compile", "model.json", "--opset", "99999"),
        "opset 99999 is newer than the installed onnx knows (hint: use an opset from 17 to",
    ),
    Case(
        "a 400-digit --max-weights",
        good_model,
        ("compile", "model.json", "--max-weights", "9" * 400),
        "--max-weights 99999999999999999999… is too large a size",
    ),
    Case(
        "--trt-workspace-gb nan",
        _compiled,
        ("run", "model.onnx", "x.png", "--trt-workspace-gb", "nan"),
        "--trt-workspace-gb must be a positive number of GB, not nan",
    ),
    Case(
        "--trt-workspace-gb -1 for export-triton",
        _compiled,
        ("export-triton", "model.onnx", "repo", "--trt-workspace-gb", "-1"),
        "--trt-workspace-gb must be a positive number of GB, not -1.0",
    ),
    Case(
        "inspect of an empty .onnx",
        lambda d: (d / "empty.onnx").write_bytes(b""),
        ("inspect", "empty.onnx"),
        "empty.onnx: not a readable ONNX file (an empty file)",
    ),
    Case(
        "inspect of a garbage .onnx",
        lambda d: (d / "junk.onnx").write_bytes(b"\xff\xfe garbage " * 9),
        ("inspect", "junk.onnx"),
        "junk.onnx: not a readable ONNX file",
    ),
    Case(
        "an unknown option",
        good_model,
        ("compile", "model.json", "--bogus"),
        "No such option: --bogus (see: cli.py compile --help)",
    ),
    Case("a missing argument", lambda d: None, ("compile",), "Missing argument 'model'."),
]


# -- Keras's own validity rules, and descriptions built to exhaust the parser -------------------------
def _nested_sequentials(depth: int) -> str:
    """``depth`` Sequentials, each the only layer of the next, written as text (json.dumps recurses)."""
    text = json.dumps(
        {
            "class_name": "Sequential",
            "config": {
                "name": "s0",
                "layers": [
                    {"class_name": "InputLayer", "config": {"batch_shape": [None, 3], "name": "in0"}},
                    {"class_name": "Dense", "config": {"name": "d", "units": 2}},
                ],
            },
        }
    )
    for i in range(1, depth):
        text = (
            f'{{"class_name": "Sequential", "config": {{"name": "s{i}", "layers": [{{"class_name": "InputLayer", '
            f'"config": {{"batch_shape": [null, 3], "name": "in{i}"}}}}, {text}]}}}}'
        )
    return text


def _with_text(name: str, make_text: Callable[[], str]) -> Callable[[Path], None]:
    return lambda d: (d / name).write_text(make_text())


def _replaced(name: str, doc: dict, old: str, new: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        text = json.dumps(doc)
        assert old in text
        (d / name).write_text(text.replace(old, new))

    return make


CASES += [
    Case(
        "two layers with one name",
        lambda d: write_json(d / "dup.json", model_doc(conv("c"), layer("ReLU", "c", ["c"]))),
        ("compile", "dup.json"),
        "dup.json: layer 'c': two layers are named 'c': Conv2D (layer 1) and ReLU (layer 2)",
    ),
    Case(
        "an unknown data_format",
        lambda d: write_json(d / "fmt.json", model_doc(conv(data_format="channels_middle"))),
        ("compile", "fmt.json"),
        "fmt.json: layer 'conv': Conv2D: unknown data_format 'channels_middle'",
    ),
    Case(
        "a string dimension in an input shape",
        lambda d: write_json(d / "str.json", model_doc(conv(), shape=(None, "16", 16, 3))),
        ("compile", "str.json"),
        "str.json: layer 'image': input 'image' has the dimension '16' in its shape",
    ),
    Case(
        "a float count (units: 2.0)",
        lambda d: write_json(d / "units.json", model_doc(layer("Dense", "dense", ["image"], units=2.0))),
        ("compile", "units.json"),
        "units.json: layer 'dense': Dense: units must be a positive integer, got 2.0",
    ),
    Case(
        "a bool count (filters: true)",
        lambda d: write_json(d / "bool.json", model_doc(conv(filters=True))),
        ("compile", "bool.json"),
        "bool.json: layer 'conv': Conv2D: filters must be a positive integer, got True",
    ),
    Case(
        "a string in target_shape",
        lambda d: write_json(
            d / "reshape.json", model_doc(layer("Reshape", "reshape", ["image"], target_shape=["768"]))
        ),
        ("compile", "reshape.json"),
        "reshape.json: layer 'reshape': target_shape must be an integer, got '768'",
    ),
    Case(
        "JSON nested 100,000 deep",
        _with_text("deep.json", lambda: "[" * 100_000 + "]" * 100_000),
        ("compile", "deep.json"),
        "deep.json: the JSON is nested too deeply to be a model description",
    ),
    Case(
        "a 5,000-digit integer",
        _replaced("digits.json", model_doc(conv(filters=7)), '"filters": 7', '"filters": ' + "9" * 5000),
        ("compile", "digits.json"),
        "digits.json: the JSON holds a number too long to read",
    ),
    Case(
        "1e999 in a shape",
        _replaced("inf.json", model_doc(conv()), "[null, 16, 16, 3]", "[null, 1e999, 16, 3]"),
        ("compile", "inf.json"),
        "inf.json: layer 'image': input 'image' has the dimension inf in its shape",
    ),
    Case(
        "10**30 in a shape",
        lambda d: write_json(d / "huge.json", model_doc(conv(), shape=(None, 10**30, 16, 3))),
        ("compile", "huge.json"),
        f"huge.json: layer 'image': input 'image' has the dimension {10**30}",
    ),
    Case(
        "a lone surrogate in an input name",
        _replaced("sur.json", model_doc(conv(src="pic"), inputs=("pic",)), '"pic"', '"p\\ud800"'),
        ("compile", "sur.json"),
        "sur.json: layer 'model': the text 'p\\ud800' holds a lone UTF-16 surrogate",
    ),
    Case(
        "a lone surrogate in the model name",
        _replaced("surm.json", model_doc(conv()), '"name": "model"', '"name": "m\\udc00"'),
        ("compile", "surm.json"),
        "surm.json: the text 'm\\udc00' holds a lone UTF-16 surrogate",
    ),
    Case(
        "2,000 nested Sequentials",
        _with_text("nest.json", lambda: _nested_sequentials(2000)),
        ("compile", "nest.json"),
        "nest.json: the JSON is nested too deeply to be a model description",
    ),
    Case(
        "150 nested Sequentials",
        _with_text("nest.json", lambda: _nested_sequentials(150)),
        ("compile", "nest.json"),
        "nest.json: layer 's48': models are nested more than 100 deep",
    ),
]


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def run_cli(
    args: tuple[str, ...], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return cli_process.run_cli(*args, cwd=cwd, env=env, timeout=timeout)


def _message(case: Case, folder: Path) -> str:
    case.make(folder)
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    proc = run_cli(case.args, folder)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert not CONTROL.search(proc.stderr), "raw control characters reached the terminal"
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    after = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    assert after == before, "a failed command left or changed files"
    assert lines[0].startswith("error: ")
    return lines[0][len("error: ") :]


SEEN: dict[str, str] = {}  # messages of the cases run so far, for the README check


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_bad_input_gives_one_clear_line(case: Case, tmp_path: Path) -> None:
    SEEN[case.what] = message = _message(case, tmp_path)
    assert message.startswith(case.expect)


def _render(messages: dict[str, str]) -> str:
    rows = ["| bad input | what you see (after `error: `) |", "|---|---|"]
    for case in CASES:
        shown = messages[case.what].replace("|", "\\|")
        rows.append(f"| {case.what} | `{shown}` |")
    return "\n".join(rows)


def test_readme_table_is_current(tmp_path_factory: pytest.TempPathFactory) -> None:
    text = README.read_text(encoding="utf-8")
    assert START in text and END in text, "README lacks the bad-input table markers"
    messages = {c.what: SEEN.get(c.what) or _message(c, tmp_path_factory.mktemp("readme")) for c in CASES}
    # the activation list and decoder texts are long: the table shows what the test pins down
    messages = {
        c.what: m if len(m) <= 260 else c.expect.rstrip(" :") + " …"
        for c, m in zip(CASES, messages.values(), strict=False)
    }
    table = _render(messages)
    begin, end = text.index(START) + len(START), text.index(END)
    current = text[begin:end].strip()
    if os.environ.get("KERASCC_UPDATE_README") == "1":
        README.write_text(f"{text[:begin]}\n{table}\n{text[end:]}", encoding="utf-8")
        return
    assert current == table, (
        "README's bad-input table is stale: KERASCC_UPDATE_README=1 pytest tests/test_bad_inputs.py"
    )
    assert re.search(r"\| missing file \|", current)


def test_failed_compile_keeps_the_good_model_it_would_replace(tmp_path: Path) -> None:
    good_model(tmp_path)
    assert run_cli(("compile", "model.json", "-o", "model.onnx"), tmp_path).returncode == 0
    before = (tmp_path / "model.onnx").read_bytes()
    write_json(tmp_path / "model.json", model_doc(conv(filters=-1)))
    proc = run_cli(("compile", "model.json", "-o", "model.onnx"), tmp_path)
    assert proc.returncode == 2 and "filters must be a positive integer" in proc.stderr
    assert (tmp_path / "model.onnx").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.onnx"]


# -- hostile inputs that are not a table row -------------------------------------------------------------
HOSTILE_MODEL = """
import pathlib
MARKS = pathlib.Path(__file__).resolve().parent.parent / "marks"
def mark(name):
    with open(MARKS / name, "a") as f:
        f.write("x")
mark("module")
import helpers  # a module of the user's next to the model: imported, leaves no __pycache__
from keras import layers, Input, Model

def cleanup_outputs():
    mark("cleanup_outputs")

def download_dataset(url="https://example.com/data.zip"):
    mark("download_dataset")
    return url

def build_model(units=3):
    mark("build_model")
    i = Input((4,))
    model = Model(i, layers.Dense(units)(i))
    return model

def main():
    mark("main")
    download_dataset()
    model = build_model()
    model.summary()
    cleanup_outputs()
    return model

if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize("command, output", [("compile", "net.onnx"), ("inspect", None), ("export-json", "net.json")])
def test_python_model_runs_once_and_calls_only_its_builder(command: str, output: str | None, tmp_path: Path) -> None:
    work, marks = tmp_path / "work", tmp_path / "marks"
    work.mkdir()
    marks.mkdir()
    (work / "net.py").write_text(HOSTILE_MODEL)
    (work / "helpers.py").write_text("VALUE = 1\n")
    proc = run_cli((command, "net.py"), work)
    assert proc.returncode == 0, proc.stderr
    assert {p.name: p.read_text() for p in marks.iterdir()} == {"module": "x", "build_model": "x"}
    made = {"net.py", "helpers.py", *([output] if output else [])}
    assert {p.name for p in work.iterdir()} == made  # no __pycache__, nothing else


def test_a_thread_left_running_does_not_keep_the_cli_alive(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(3600,)).start()\n"
        "from keras import Input, Model, layers\ni = Input((3,))\n"
        "model = Model(i, layers.Dense(2)(i))\n"
    )
    start = time.perf_counter()
    proc = run_cli(("compile", "net.py"), tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "net.onnx").is_file()
    assert time.perf_counter() - start < 100


def test_postscript_never_reaches_ghostscript(tmp_path: Path) -> None:
    """Pillow would run `gs` on a PostScript file, whatever its name: a stand-in gs leaves a marker."""
    _compiled(tmp_path)
    (tmp_path / "bin").mkdir()
    gs = tmp_path / "bin" / "gs"
    gs.write_text(f"#!/bin/sh\necho ran >> {tmp_path / 'GS_RAN'}\nexit 1\n")
    gs.chmod(0o755)
    (tmp_path / "photo.jpg").write_bytes(EPS)
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "page.jpg").write_bytes(EPS)
    (tmp_path / "folder" / "cat.jpg").write_bytes((ROOT / "examples" / "cat.jpg").read_bytes())
    env = {"PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    named = run_cli(("run", "model.onnx", "photo.jpg"), tmp_path, env)
    assert named.returncode == 2 and "not an image format kerascc reads" in named.stderr
    found = run_cli(("run", "model.onnx", "folder"), tmp_path, env)
    assert found.returncode == 0 and "1 unreadable skipped" in found.stdout
    assert not (tmp_path / "GS_RAN").exists()


def test_a_decompression_bomb_in_a_folder_is_skipped_and_counted(tmp_path: Path) -> None:
    _compiled(tmp_path)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "bomb.png").write_bytes(_png_header(60000, 60000))
    (tmp_path / "photos" / "cat.jpg").write_bytes((ROOT / "examples" / "cat.jpg").read_bytes())
    proc = run_cli(("run", "model.onnx", "photos"), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 image in" in proc.stdout and "1 unreadable skipped" in proc.stdout
    assert "Warning" not in proc.stderr and "Traceback" not in proc.stderr
    skipped = [line for line in proc.stderr.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 1 and "bomb.png" in skipped[0] and "decompression-bomb" in skipped[0]


def test_calibration_skips_a_decompression_bomb(tmp_path: Path) -> None:
    good_model(tmp_path)
    (tmp_path / "calib").mkdir()
    (tmp_path / "calib" / "bomb.png").write_bytes(_png_header(60000, 60000))
    (tmp_path / "calib" / "cat.jpg").write_bytes((ROOT / "examples" / "cat.jpg").read_bytes())
    proc = run_cli(("compile", "model.json", "--int8", "--calibrate", "calib"), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 unreadable skipped" in proc.stdout
    assert "Warning" not in proc.stderr


def test_a_large_orthogonal_initializer_compiles_in_seconds(tmp_path: Path) -> None:
    """Dense(8000) with an Orthogonal kernel: a 400-byte file that took four minutes to draw."""
    write_json(
        tmp_path / "wide.json",
        model_doc(
            layer(
                "Dense",
                "dense",
                ["vector"],
                units=8000,
                use_bias=False,
                kernel_initializer={"class_name": "Orthogonal", "config": {"gain": 1.0}},
            ),
            inputs=("vector",),
            shape=(None, 8000),
        ),
    )
    assert (tmp_path / "wide.json").stat().st_size < 1000
    start = time.perf_counter()
    proc = run_cli(("compile", "wide.json"), tmp_path, timeout=200)
    assert proc.returncode == 0, proc.stderr
    assert time.perf_counter() - start < 150


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "a\x00b", "../repo", "/abs"])
def test_triton_names_are_one_plain_folder_name(name: str, tmp_path: Path) -> None:
    from compiler import CompileError
    from runtime.triton import TritonConfig, check_name, export

    with pytest.raises(CompileError, match="must be one folder name"):
        check_name(name)
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    with pytest.raises(CompileError, match="must be one folder name"):
        export(model, tmp_path / "repo", TritonConfig(name, 0, [], []))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


CHOOSING_MODEL = """
import pathlib
MARKS = pathlib.Path(__file__).resolve().parent.parent / "marks"
class Sneaky:
    '''Runs code when asked what it is, or for any attribute: the search must not ask.'''
    @property
    def __class__(self):
        (MARKS / "asked_class").write_text("x")
        return Sneaky
    def __getattribute__(self, name):
        (MARKS / "asked_attribute").write_text(name)
        return object.__getattribute__(self, name)
thing = Sneaky()
from keras import Input, Model, layers

def build_encoder():
    i = Input((8,))
    return Model(i, layers.Dense(4)(i), name="encoder")

def build_autoencoder():
    encoder = build_encoder()
    i = Input((8,))
    return Model(i, layers.Dense(8)(encoder(i)), name="autoencoder")

def make_other():
    return thing()

if __name__ == "__main__":
    model = build_autoencoder()
"""


def test_of_several_builders_the_one_the_file_keeps_is_chosen(tmp_path: Path) -> None:
    work, marks = tmp_path / "work", tmp_path / "marks"
    work.mkdir()
    marks.mkdir()
    (work / "ae.py").write_text(CHOOSING_MODEL)
    proc = run_cli(("export-json", "ae.py"), work)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((work / "ae.json").read_text())["config"]["name"] == "autoencoder"
    assert list(marks.iterdir()) == []
    (work / "ae.py").write_text(CHOOSING_MODEL.replace("    model = build_autoencoder()", "    pass"))
    proc = run_cli(("compile", "ae.py"), work)
    assert proc.returncode == 2
    assert "several functions build a model: build_encoder(), build_autoencoder()" in proc.stderr
    assert list(marks.iterdir()) == []


def test_a_reverse_listed_deep_model_compiles_in_seconds(tmp_path: Path) -> None:
    """20,000 layers listed last to first: ordering them once took minutes (a sweep per layer)."""
    layers = [layer("ReLU", f"r{i}", [f"r{i - 1}" if i else "image"]) for i in range(20_000)]
    write_json(tmp_path / "reverse.json", model_doc(*reversed(layers), output="r19999", shape=(None, 4)))
    start = time.perf_counter()
    proc = run_cli(("compile", "reverse.json"), tmp_path, timeout=200)
    assert proc.returncode == 0, proc.stderr
    assert time.perf_counter() - start < 120


KERAS_IDENTITY = """
import json, sys
import keras
inp = keras.Input((5,), name="x")
models = {
    "identity": keras.Model(inp, inp),
    "odd": keras.Model(inp, keras.layers.Dense(3, name="out: é ü")(inp)),
    "clash": keras.Sequential([keras.Input((5,)), keras.layers.ReLU(name="relu_input"), keras.layers.ReLU(name="x")]),
}
for name, model in models.items():
    open(name + ".json", "w").write(model.to_json())
"""


def test_models_returning_their_input_or_oddly_named_outputs_compile(tmp_path: Path) -> None:
    """keras.Model(x, x) is valid Keras; its ONNX returns the input. Output names with spaces, colons
    or non-ASCII letters, or equal to an input's, are SSA-valid too."""
    import onnxruntime as ort  # heavy: only this test needs it

    (tmp_path / "make.py").write_text(KERAS_IDENTITY)
    subprocess.run(
        [sys.executable, "make.py"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )
    x = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)
    for name in ("identity", "odd", "clash"):
        proc = run_cli(("compile", f"{name}.json"), tmp_path)
        assert proc.returncode == 0, proc.stderr
        session = ort.InferenceSession(str(tmp_path / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        (result,) = session.run(None, {session.get_inputs()[0].name: x})
        if name == "identity":
            np.testing.assert_array_equal(result, x)
        elif name == "clash":
            np.testing.assert_array_equal(result, np.maximum(x, 0))
        else:
            assert result.shape == (2, 3)


# -- the command line's own promises: inert names, nothing lost, no hangs, one line ------------------------
HOSTILE_NAME = "n[/]\x1b[2J\x1b]0;owned\x07:smile:"


def _hostile_names(d: Path) -> None:
    """A model whose model, input, layer and output names hold rich markup and terminal escapes."""
    doc = model_doc(
        conv(name="c" + HOSTILE_NAME),
        layer("GlobalAveragePooling2D", "g" + HOSTILE_NAME, ["c" + HOSTILE_NAME]),
        inputs=("i" + HOSTILE_NAME,),
    )
    doc["config"]["name"] = "m" + HOSTILE_NAME
    doc["config"]["layers"][1]["inbound_nodes"] = [{"args": [tensor("i" + HOSTILE_NAME)], "kwargs": {}}]
    write_json(d / "model.json", doc)


def _assert_inert(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert not CONTROL.search(proc.stdout + proc.stderr), "raw control characters reached the terminal"


def test_names_from_files_are_shown_inert(tmp_path: Path) -> None:
    from PIL import Image

    _hostile_names(tmp_path)
    Image.new("RGB", (16, 16)).save(tmp_path / "a[bold]\x1b[1m.png")
    (tmp_path / "labels.txt").write_text("".join(f"l{i}{HOSTILE_NAME}\n" for i in range(4)))
    for args in (
        ("compile", "model.json"),
        ("inspect", "model.json"),
        ("inspect", "model.onnx"),
        ("run", "model.onnx", "a[bold]\x1b[1m.png", "--labels", "labels.txt"),
    ):
        proc = run_cli(args, tmp_path)
        _assert_inert(proc)
        assert "[/]" in proc.stdout and "\\x1b" in proc.stdout and ":smile:" in proc.stdout, args
        assert "[bold]" in proc.stdout or args[0] != "run"


def test_masks_never_overwrite_a_file_of_the_folder(tmp_path: Path) -> None:
    from runtime.outputs import MaskWriter

    (tmp_path / "a.png").write_bytes((ROOT / "examples" / "cat.jpg").read_bytes())
    (tmp_path / "a_mask.png").write_bytes(b"a photo of its own")
    writer = MaskWriter(tmp_path)
    first = writer.write(tmp_path / "a.png", np.zeros((4, 4), np.int64))
    second = writer.write(tmp_path / "a.png", np.zeros((4, 4), np.int64))
    assert (tmp_path / "a_mask.png").read_bytes() == b"a photo of its own"
    assert first.name == "a_2_mask.png" and second.name == "a_3_mask.png"


def test_a_file_name_that_is_not_utf8_keeps_the_results(tmp_path: Path) -> None:
    _compiled(tmp_path)
    (tmp_path / "imgs").mkdir()
    odd = os.fsdecode(b"\xff\x1b[31m.png")
    (tmp_path / "imgs" / odd).write_bytes((ROOT / "examples" / "cat.jpg").read_bytes())
    for out in ("r.csv", "r.json"):
        proc = run_cli(("run", "model.onnx", "imgs", "-o", out), tmp_path)
        _assert_inert(proc)
        assert (tmp_path / out).stat().st_size > 0
    assert b"\xff\x1b[31m.png" in (tmp_path / "r.csv").read_bytes()


def test_a_model_and_its_weights_file_are_replaced_together_or_not_at_all(tmp_path: Path) -> None:
    from compiler.errors import CompileError
    from compiler.io import save_together

    model, side = tmp_path / "m.onnx", tmp_path / "m.onnx.data"
    model.write_bytes(b"old model")
    side.write_bytes(b"old weights")

    def full_disk():
        yield b"new model, half"
        raise OSError(28, "No space left on device")

    with pytest.raises(CompileError, match="No space left"):
        save_together([(b"new weights", side), (full_disk(), model)])
    assert model.read_bytes() == b"old model" and side.read_bytes() == b"old weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGQUIT"])
def test_a_signal_during_a_write_leaves_no_temporary_file(signame: str, tmp_path: Path) -> None:
    """The plugin stops its own process with the signal just before the finished file is renamed."""
    good_model(tmp_path)
    (tmp_path / "stop.py").write_text(
        "import os, signal\nimport compiler.io\nreal = compiler.io.os.replace\n"
        "def replace(src, dst):\n"
        f"    os.kill(os.getpid(), signal.{signame})\n"
        "    real(src, dst)\n"
        "compiler.io.os.replace = replace\n"
    )
    proc = run_cli(("compile", "model.json", "--plugin", "stop.py"), tmp_path)
    signo = getattr(__import__("signal"), signame)
    assert proc.returncode == 128 + signo, proc.stderr
    assert proc.stderr.strip() == f"error: stopped by {signame}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "stop.py"]


def test_threads_beyond_the_cores_are_clamped_with_a_note() -> None:
    from runtime.providers import usable_threads

    threads, note = usable_threads(2000)
    assert threads is not None and threads <= (os.cpu_count() or 1)
    assert note is not None and "--threads 2000" in note
    assert usable_threads(1) == (1, None)


def test_ctrl_c_is_one_line_and_exit_130(tmp_path: Path) -> None:
    good_model(tmp_path)
    # Python's own Ctrl-C handler first: a process started in the background (`cmd &` in a script)
    # inherits SIGINT ignored, and then no Ctrl-C would reach the command at all
    (tmp_path / "int.py").write_text(
        "import os, signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
    )
    proc = run_cli(("compile", "model.json", "--plugin", "int.py"), tmp_path)
    assert proc.returncode == 130 and proc.stderr.strip() == "error: interrupted", proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int.py", "model.json"]


def test_library_warnings_are_one_line_each(tmp_path: Path) -> None:
    good_model(tmp_path)
    (tmp_path / "noisy.py").write_text(
        "import warnings\nimport numpy as np\nnp.array([1 + 2j]).astype(float)\n"
        "warnings.warn('two\\nlines \\x1b[31m')\n"
    )
    proc = run_cli(("compile", "model.json", "--plugin", "noisy.py"), tmp_path)
    _assert_inert(proc)
    lines = proc.stderr.splitlines()
    assert lines == [
        "warning: ComplexWarning: Casting complex values to real discards the imaginary part",
        "warning: UserWarning: two lines \\x1b[31m",
    ], proc.stderr


def test_a_model_in_a_folder_that_may_not_be_entered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tests run as root, who may enter any folder: the refusal the kernel gives a user is simulated."""
    import warnings

    import cli

    monkeypatch.setattr(cli, "_catch_signals", lambda: None)  # the test process keeps its own handlers
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # restored afterwards
    locked = tmp_path / "locked"
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if str(path).startswith(str(locked)):
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    for command in ("compile", "inspect", "run", "bench"):
        argv = [command, str(locked / ("model.json" if command in ("compile", "inspect") else "model.onnx"))]
        monkeypatch.setattr(sys, "argv", ["cli.py", *argv, *(["x.png"] if command == "run" else [])])
        with pytest.raises(SystemExit) as done:
            cli.main()
        assert done.value.code == 2
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1 and "cannot read it (permission denied" in lines[0], lines
