"""The Python frontend without running Keras: discovery, naming, legacy spellings, errors.

The stand-ins' signature table is also checked against the installed Keras, so a Keras upgrade
that changes an argument order or a default shows up here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import frontends
from compiler.errors import CompileError
from frontends.keras_python import find_model, model_config, parse_args
from frontends.keras_shim import build_modules, tablegen
from frontends.keras_shim.table import LAYER_TABLE, NOT_TABULATED

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "model.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def layer_names(path: Path, **kwargs) -> list[str]:
    model, _ = find_model(path, **kwargs)
    return [layer.name for layer in model.layers]


def test_automatic_names_count_per_class_from_construction(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
from keras import layers, Input, Model
unused = layers.Conv2D(4, 1)          # takes "conv2d" although the model never uses it
i = Input((8, 8, 3))
x = layers.Conv2D(4, 3, padding="same")(i)
x = layers.Conv2D(4, 3, padding="same", name="mine")(x)
x = layers.Conv2D(4, 3, padding="same")(x)
x = layers.BatchNormalization()(x)
y = layers.add([x, layers.Conv2D(4, 1)(i)])
model = Model(i, layers.Activation("relu")(y))
""",
    )
    import runpy

    import keras

    keras.backend.clear_session()
    want = [layer.name for layer in runpy.run_path(str(path))["model"].layers]
    assert layer_names(path) == want
    assert "conv2d" not in want and "mine" in want


def test_each_load_starts_a_fresh_naming_scope(tmp_path: Path) -> None:
    path = write(tmp_path, "import keras\nmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n")
    assert layer_names(path) == layer_names(path) == ["dense"]


def test_function_with_defaults_is_found_and_args_configure_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
import tensorflow as tf
def helper(x, n):
    return tf.keras.layers.Dense(n)(x)
def build(units=3, input_dim=5):
    i = tf.keras.Input((input_dim,))
    return tf.keras.Model(i, helper(i, units))
""",
    )
    model, _ = find_model(path)
    assert model.output_shape == (None, 3)
    model, _ = find_model(path, args={"units": 7})
    assert model.output_shape == (None, 7)
    model, _ = find_model(path, entry="build", args=parse_args(["input_dim=9"]))
    assert model.input_shape == (None, 9)


def test_ambiguous_files_list_the_candidates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
from keras.layers import Input, Dense
from keras.models import Model
def small(n=2):
    i = Input((4,)); return Model(i, Dense(n)(i))
def large(n=8):
    i = Input((4,)); return Model(i, Dense(n)(i))
""",
    )
    with pytest.raises(CompileError, match=r"small\(\), large\(\).*--entry"):
        find_model(path)
    model, _ = find_model(path, entry="large")
    assert model.output_shape == (None, 8)


def test_several_module_models_prefer_the_one_named_model(tmp_path: Path) -> None:
    text = """
from keras.layers import Input, Dense
from keras.models import Model
i = Input((4,))
{a} = Model(i, Dense(2)(i))
{b} = Model(i, Dense(3)(i))
"""
    model, _ = find_model(write(tmp_path, text.format(a="model", b="other")))
    assert model.output_shape == (None, 2)
    with pytest.raises(CompileError, match="2 models: a, b"):
        find_model(write(tmp_path, text.format(a="a", b="b"), "two.py"))


def test_keras1_and_keras2_spellings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
from keras.layers import Input, Convolution2D, MaxPooling2D, Dense, Flatten, merge
from keras.models import Model
i = Input(shape=(16, 16, 3))
a = Convolution2D(8, 3, 3, border_mode='same', subsample=(2, 2), init='he_normal', activation='relu')(i)
b = Convolution2D(nb_filter=8, nb_row=1, nb_col=1, subsample=(2, 2))(i)
x = merge([a, b], mode='concat', concat_axis=3)
x = MaxPooling2D(pool_size=(2, 2), border_mode='valid')(x)
model = Model(i, Dense(output_dim=5)(Flatten()(x)))
""",
    )
    doc, notes = model_config(path)
    conv = doc["config"]["layers"][1]["config"]
    assert (conv["kernel_size"], conv["strides"], conv["padding"]) == ([3, 3], [2, 2], "same")
    assert conv["kernel_initializer"]["class_name"] == "HeNormal"
    model, _ = find_model(path)
    assert model.output_shape == (None, 5)
    assert any("Keras 1" in n for n in notes)


def test_shape_errors_name_the_users_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """from keras import layers, Input
i = Input((56, 56, 64))
wide = layers.Conv2D(256, 1)(i)
x = layers.add([wide, i])
""",
    )
    with pytest.raises(CompileError) as info:
        find_model(path)
    text = str(info.value)
    assert text.startswith(f"{path}:4: Add: ")
    assert "(None, 56, 56, 256)" in text.replace("?", "None") or "256" in text


def test_seed_decoder_as_printed_fails_at_its_concatenate(tmp_path: Path) -> None:
    """Seed 004 as printed concatenates 64x64 with 32x32; the error points at that line."""
    source = (ROOT / "examples/python/encoder_decoder.py").read_text().replace("(conv6)  # fixed: was pool3", "(pool3)")
    path = write(tmp_path, source)
    line = next(n for n, text in enumerate(source.splitlines(), 1) if "merge1 = " in text)
    with pytest.raises(CompileError, match=rf"^{path}:{line}: Concatenate: "):
        find_model(path)


@pytest.mark.parametrize(
    "code, message",
    [
        ("import tensorflow as tf\nx = tf.nn.conv2d\n", r":2: .*tensorflow.nn.conv2d is not available"),
        ("from keras.layers import StackedRNNCells\n", r":1: .*keras.layers.StackedRNNCells is not available"),
        (
            "import keras\nm = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\nh = m.fit([], [])\n"
            "keras.layers.Dense(int(h))\n",
            r":4: the model needs a value from model.fit\(\), which does not run",
        ),
        ("import keras\nkeras.layers.Dense()\n", r":2: Dense\(\) missing required argument: 'units'"),
        ("import keras\nkeras.layers.Dense(3, colour=1)\n", r":2: Unrecognized keyword arguments passed to Dense"),
        ("def f(:\n", r":1: syntax error"),
        ("x = 1 / 0\n", r":1: ZeroDivisionError"),
        ("import keras\nclass M(keras.Model):\n    pass\nmodel = M()\n", r":4: subclassed models"),
    ],
)
def test_errors_are_one_line_at_the_users_line(tmp_path: Path, code: str, message: str) -> None:
    with pytest.raises(CompileError, match=message) as info:
        find_model(write(tmp_path, code))
    assert "\n" not in str(info.value)


def test_real_keras_is_untouched_afterwards(tmp_path: Path) -> None:
    import keras  # the real one, imported by this process

    find_model(write(tmp_path, "import keras\nmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"))
    assert sys.modules["keras"] is keras
    assert keras.layers.Dense.__module__.startswith("keras.src")


def test_frontends_load_builds_the_ir_and_records_notes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
from tensorflow.keras.applications import ResNet50
from keras.utils import plot_model
model = ResNet50(weights='imagenet', input_shape=(64, 64, 3), classes=10)
plot_model(model)
""",
    )
    graph = frontends.load(path)
    assert graph.name == "resnet50"
    assert graph.num_params() == 23_608_202
    assert "imagenet" in graph.meta["kerascc.notes"] and "plot_model" in graph.meta["kerascc.notes"]


def test_table_covers_every_keras_class_of_the_layer_table() -> None:
    """A class the layer table compiles and Keras has must be offered by the stand-ins, so the
    two tables cannot drift apart again when ``LAYERS`` grows."""
    import keras

    from frontends.layers import LAYERS

    missing = [name for name in tablegen.table_names(keras.layers) if name not in LAYER_TABLE]
    assert not missing, f"run `python -m frontends.keras_shim.tablegen --write` to add {missing}"
    assert set(NOT_TABULATED) <= set(LAYERS)
    modules = build_modules()
    for name in LAYER_TABLE:
        assert getattr(modules["keras.layers"], name) is getattr(modules["tensorflow.keras.layers"], name)


def test_table_is_what_the_generator_reads_from_installed_keras() -> None:
    """Signatures, default configs, build configs and call arguments, as the installed Keras has them."""
    from frontends.keras_shim import table

    data = tablegen.read_keras()
    assert data["layers"] == table.LAYER_TABLE
    assert list(data["layers"]) == list(table.LAYER_TABLE)
    assert data["initializers"] == table.INITIALIZER_TABLE
    assert data["aliases"] == table.INITIALIZER_ALIASES
    assert set(data["no_build"]) == table.NO_BUILD_CONFIG
    assert data["call_kwargs"] == table.CALL_KWARGS
    source = Path(table.__file__).read_text()
    assert tablegen.replace_block(source, tablegen.render(data)) == source  # --write would change nothing


def _keras_json_and_shapes(path: Path) -> tuple[dict, list[tuple]]:
    import json
    import runpy

    import keras

    keras.backend.clear_session()
    model = runpy.run_path(str(path), run_name="__kerascc_model__")["model"]
    return json.loads(model.to_json()), [tuple(t.shape) for t in model.outputs]


#: Classes whose input is not of the rank their name suggests (recurrent layers read sequences).
RANK_OF = {
    "LSTM": "seq",
    "GRU": "seq",
    "SimpleRNN": "seq",
    "Bidirectional": "seq",
    "RNN": "seq",
    "ConvLSTM1D": "img",
    "ConvLSTM2D": "vol",
}


def _all_layers_file() -> str:
    """Every class of the table once, under each import path in turn, on an input of its rank."""
    args = {
        "filters": "2",
        "kernel_size": "3",
        "units": "2",
        "activation": "'relu'",
        "rate": "0.2",
        "stddev": "0.1",
        "pool_size": "2",
        "dims": "(2, 1, 3)",
        "scale": "0.5",
        "target_shape": "(108,)",
        "height": "3",
        "width": "4",
        "input_dim": "10",
        "output_dim": "3",
        "n": "2",
        "axes": "-1",
        "layer": "keras.layers.Dense(2)",
        "num_heads": "2",
        "key_dim": "4",
        "factor": "(0.2, 0.5)",  # Keras writes a single factor as a range of its own choosing
        "height_factor": "0.2",
        "width_factor": "0.2",
    }
    extra = {"Normalization": ["mean=0.5", "variance=2.0"], "GroupNormalization": ["groups=3"]}
    merges = {"Add", "Average", "Maximum", "Minimum", "Multiply", "Subtract", "Concatenate", "Dot"}
    lines = [
        "import keras",
        "import tensorflow as tf",
        "from keras import layers",
        "seq = keras.Input((8, 4))",
        "img = keras.Input((6, 6, 3))",
        "vol = keras.Input((4, 6, 6, 3))",
        "vec = keras.Input((5,))",
        "outs = []",
    ]
    own = {
        "RandomPosterization": {"factor": "(1, 4)"},  # bits, not a fraction
        "Bidirectional": {"layer": "keras.layers.GRU(2)"},  # it wraps a recurrent layer
        "RNN": {"cell": "keras.layers.SimpleRNNCell(2)"},
    }
    cells = ("LSTMCell", "GRUCell", "SimpleRNNCell")  # run by an RNN layer, not called on tensors
    attention = {"Attention": "[seq, seq]", "AdditiveAttention": "[seq, seq]", "MultiHeadAttention": "seq, seq"}
    for name, operands in attention.items():
        call_args = ", ".join(args[p] for p in LAYER_TABLE[name]["required"])
        lines.append(f"outs.append(layers.{name}({call_args})({operands}))")
    # RandAugment and AugMix build augmentation layers of their own, which take Keras's automatic
    # names; Keras 3 declares RandomCrop's output the crop but returns the whole image at inference
    skipped = ("RandAugment", "AugMix", "RandomCrop", *attention)
    table = {name: spec for name, spec in LAYER_TABLE.items() if name not in skipped}
    for k, (name, spec) in enumerate(table.items()):
        call_args = ", ".join([{**args, **own.get(name, {})}[p] for p in spec["required"]] + extra.get(name, []))
        x = "vec" if name in ("RepeatVector", "Dot") else "seq" if "1D" in name else "vol" if "3D" in name else "img"
        x = RANK_OF.get(name, x)
        ref = [f"keras.layers.{name}", f"tf.keras.layers.{name}", name, f"layers.{name}", name][k % 5]
        if k % 5 == 2:
            lines.append(f"from keras.layers import {name}")
        elif k % 5 == 4:
            lines.append(f"from tensorflow.keras.layers import {name}")
        if name in cells:
            lines.append(f"outs.append(layers.RNN({ref}({call_args}))(seq))")
            continue
        lines.append(f"outs.append({ref}({call_args})({f'[{x}, {x}]' if name in merges else x}))")
    return "\n".join([*lines, "model = keras.Model([seq, img, vol, vec], outs)", ""])


ARGUMENT_FORMS = """
import keras
from tensorflow.keras.layers import Convolution1D, MaxPool1D, AvgPool3D, GlobalMaxPool3D
from keras.layers import SeparableConvolution1D, Convolution3D, GlobalAvgPool1D
seq = keras.Input((16, 4))
vol = keras.Input((4, 6, 6, 3))
img = keras.Input((6, 6, 3))
L = keras.layers
outs = [
    Convolution1D(4, 3, 2, "causal", dilation_rate=1)(seq),
    L.Conv1D(4, kernel_size=(3,), strides=1, padding="SAME", groups=2, use_bias=False)(seq),
    MaxPool1D(3, 2, "same")(seq), L.AveragePooling1D(pool_size=(2,), strides=1)(seq),
    GlobalAvgPool1D(keepdims=True)(seq), L.GlobalMaxPooling1D()(seq),
    L.DepthwiseConv1D(3, depth_multiplier=2, padding="same")(seq),
    SeparableConvolution1D(5, 3, strides=2, activation="relu")(seq),
    L.ZeroPadding1D(2)(seq), L.ZeroPadding1D((1, 2))(seq), L.Cropping1D(3)(seq), L.Cropping1D((1, 2))(seq),
    L.UpSampling1D(3)(seq), L.PReLU(shared_axes=1)(seq), L.PReLU(alpha_initializer="ones")(seq),
    Convolution3D(2, (1, 2, 3), strides=(1, 2, 1), padding="same")(vol), L.Conv3D(2, 3, dilation_rate=1)(vol),
    L.MaxPooling3D(2, strides=1, padding="same")(vol), AvgPool3D((1, 2, 2))(vol), GlobalMaxPool3D()(vol),
    L.GlobalAveragePooling3D(keepdims=True)(vol),
    L.ZeroPadding3D(1)(vol), L.ZeroPadding3D((1, 2, 0))(vol), L.ZeroPadding3D(((1, 0), (0, 1), (2, 2)))(vol),
    L.Cropping3D((1, 0, 1))(vol), L.Cropping3D(((1, 0), (2, 1), (0, 3)))(vol),
    L.UpSampling3D(2)(vol), L.UpSampling3D((1, 2, 2))(vol),
    L.Resizing(3, 4, interpolation="nearest")(img), L.Resizing(12, 9, crop_to_aspect_ratio=True)(img),
    L.LayerNormalization(axis=3)(img), L.SpatialDropout1D(0.1)(seq),
    -img, -L.Dense(2)(img), keras.ops.negative(seq), 1.0 - -seq,
]
model = keras.Model([seq, vol, img], outs)
"""


@pytest.mark.parametrize("source", ["every_table_class", "argument_forms"])
def test_layers_record_what_keras_records(tmp_path: Path, source: str) -> None:
    """Each layer class of the table, its aliases, import paths and argument spellings (ints
    for tuples, 1-D and 3-D padding amounts, ``-x``): the document is Keras's ``to_json()``
    key for key, and the output shapes are Keras's."""
    path = write(tmp_path, _all_layers_file() if source == "every_table_class" else ARGUMENT_FORMS)
    want, shapes = _keras_json_and_shapes(path)
    got, _ = model_config(path)
    assert got == want
    model, _ = find_model(path)
    assert [tuple(t.shape) for t in model.outputs] == shapes


def test_cli_compiles_and_exports_a_python_file(tmp_path: Path) -> None:
    src = ROOT / "examples/python/conv2d_params.py"
    onnx_path, json_path = tmp_path / "m.onnx", tmp_path / "m.json"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "compile",
            str(src),
            "--entry",
            "conv1",
            "--arg",
            "kernel_size=3",
            "--arg",
            "padding='same'",
            "-o",
            str(onnx_path),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    assert onnx_path.exists()
    run = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "export-json", str(src), "-o", str(json_path)],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr  # conv1() is the one function callable with its defaults
    assert '"class_name": "Functional"' in json_path.read_text()


def test_operations_and_models_take_keras_automatic_names(tmp_path: Path) -> None:
    """Operations share the layers' name counters, and each build of a Sequential uses up a
    ``functional`` name; the recorded document is Keras's ``to_json()``, key for key."""
    path = write(
        tmp_path,
        """
import keras
from keras import layers
merge = layers.Add()                      # "add": the first x + ... becomes "add_1"
block = keras.Sequential()
block.add(keras.Input((6,)))
block.add(layers.Dense(6))               # each add rebuilds the block
block.add(layers.ReLU())
lazy = keras.Sequential([layers.Dense(6)])  # built on its first call, with its own InputLayer
i = keras.Input((6,))
x = merge([i + 1.0, keras.ops.multiply(2, i)])
y = lazy(block(x, training=False)) / 4.0
model = keras.Model(i, [keras.activations.relu(y, max_value=1.0), block(y)])
""",
    )
    import json
    import runpy

    import keras

    keras.backend.clear_session()
    want = json.loads(runpy.run_path(str(path), run_name="__kerascc_model__")["model"].to_json())
    got, _ = model_config(path)
    assert got == want
    model, _ = find_model(path)
    assert [layer.name for layer in model.layers] == ["input_layer_1", "add", "sequential", "sequential_1"]


@pytest.mark.parametrize(
    "code, message",
    [
        ("y = x // 2\n", r":4: x // y \(keras.ops.floor_divide\) is not supported.*keras.ops.maximum"),
        ("y = x % 2\n", r":4: x % y \(keras.ops.mod\) is not supported"),
        ("y = x + [1.0, 2.0]\n", r":4: '\+' between a tensor and list is not supported"),
        ("y = keras.ops.cumsum(x)\n", r":4: .*keras.ops.cumsum is not available.*softmax"),
        ("y = keras.ops.add(1.0, 2.0)\n", r":4: keras.ops.add\(\) needs a Keras tensor argument"),
        ("y = keras.activations.mish(x)\n", r":4: keras.activations.mish\(x\) on a Keras tensor is not supported"),
        ("y = keras.random.normal((2, 6))\n", r":4: keras.random.normal\(\) draws new random numbers"),
        ("y = x * keras.Input((5,))\n", r":4: Multiply: "),
        (
            "inner = keras.Model(x, keras.layers.Dense(2)(x))\ny = inner(keras.Input((7,)))\n",
            r':5: Input 0 of model "functional" is incompatible with the model: expected shape \(None, 6\)',
        ),
    ],
)
def test_tensor_operation_errors_name_the_operation_and_line(tmp_path: Path, code: str, message: str) -> None:
    path = write(tmp_path, "import keras\nimport tensorflow as tf\nx = keras.Input((6,))\n" + code)
    with pytest.raises(CompileError, match=message) as info:
        find_model(path)
    assert "\n" not in str(info.value)


def test_nested_call_shapes_follow_the_caller_and_errors_name_the_call(tmp_path: Path) -> None:
    # A model made on None spatial sizes, called on a fixed-size tensor: Keras runs the nested
    # graph on the caller's shape (tests/oracle/test_nested.py compares with Keras itself).
    path = write(
        tmp_path,
        """
import keras
from keras import layers
i = keras.Input((None, None, 3))
inner = keras.Model(i, layers.MaxPooling2D(2)(layers.Conv2D(4, 3, strides=2, padding="same")(i) * 2.0))
outer_in = keras.Input((20, 12, 3))
x = keras.Sequential([keras.Input((None, None, 3)), inner])(outer_in)
model = keras.Model(outer_in, layers.Dense(2)(layers.Flatten()(x)))
""",
    )
    model, _ = find_model(path)
    assert model.layers[1].calls[0]["outputs"][0].shape == (None, 5, 3, 4)
    assert model.output_shape == (None, 2)
    bad = write(
        tmp_path,
        """
import keras
from keras import layers
i = keras.Input((None, None, 3))
inner = keras.Model(i, layers.Conv2D(4, 5)(i))
outer_in = keras.Input((3, 3, 3))
model = keras.Model(outer_in, inner(outer_in))
""",
        "bad.py",
    )
    with pytest.raises(CompileError, match=r"bad\.py:7: Conv2D"):
        find_model(bad)


BLOCK_KERAS = """
import runpy, sys
class NoKeras:
    '''As if neither Keras nor TensorFlow were installed.'''
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("keras", "tensorflow", "tf_keras"):
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, NoKeras())
sys.argv = ["cli.py", *sys.argv[1:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("example", ["unet.py", "sequence_and_volume.py", "resnet50_application.py"])
def test_compiles_with_neither_keras_nor_tensorflow_importable(example: str, tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    run = subprocess.run(
        [sys.executable, "-c", BLOCK_KERAS, "compile", str(ROOT / "examples" / "python" / example), "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "tensorflow" not in run.stderr.lower()
    import onnx

    onnx.checker.check_model(str(out))


def test_a_process_with_other_threads_runs_the_file_in_itself(tmp_path: Path) -> None:
    """A fork copies only the calling thread, so with another thread alive (a notebook's, a test
    runner's) the file runs in this process: no child left waiting on a lock it can never take,
    and its exit is still reported as its error, not taken for success."""
    import threading

    good = tmp_path / "good.py"
    good.write_text("import keras\nx = keras.Input((4,))\nmodel = keras.Model(x, keras.layers.Dense(2)(x))\n")
    quits = tmp_path / "quits.py"
    quits.write_text("import sys\nimport keras\nsys.exit(0)\n")
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, daemon=True)
    worker.start()
    try:
        doc, _ = model_config(good)
        assert [layer["class_name"] for layer in doc["config"]["layers"]] == ["InputLayer", "Dense"]
        with pytest.raises(CompileError, match=r"quits.py:3: SystemExit: the file called exit\(0\)"):
            model_config(quits)
    finally:
        stop.set()
        worker.join()


def test_a_layer_called_on_a_constant_to_measure_a_size_is_refused_with_the_way_out(tmp_path: Path) -> None:
    """keras.io's CCT calls its tokenizer on tf.ones(...) to learn the sequence length."""
    path = write(
        tmp_path,
        """
import numpy as np
from keras import layers, Input, Model
tokenizer = layers.Conv2D(8, 3, strides=2, padding="same")
length = tokenizer(np.ones((1, 32, 32, 3), "float32")).shape[1]
inp = Input((32, 32, 3))
model = Model(inp, layers.Dense(length)(layers.GlobalAveragePooling2D()(tokenizer(inp))))
""",
    )
    with pytest.raises(CompileError) as info:
        frontends.load(path)
    text = str(info.value)
    assert "Conv2D" in text and "called on a constant array" in text and "\n" not in text
    assert "compute it from the input shape" in text and "keras.Input" in text
