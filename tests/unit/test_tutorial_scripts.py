"""Tutorial-style model files through the command line: the lines around the model do not stop it.

The files in ``tests/data/tutorials`` are cut-down keras.io pages (seeds, data sets, optimizers,
metrics, callbacks, ``model.summary()``, ``plot_model``, ``model.fit``/``evaluate``/``save``).
Compiling one must succeed, keep stdout to the command's own report (the file's prints and the
summary go to stderr), and say in a note what did not run. A value that only training would
produce stops the compile in one line when the model needs it. Real Keras's configs for the same
files are compared in ``tests/oracle/test_tutorials.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from compiler.errors import CompileError
from frontends.keras_python import find_model, model_config

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "tests" / "data" / "tutorials"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("name", "notes"),
    [
        ("mnist_convnet.py", ["mnist.load_data() was not downloaded", "model.fit() in the model file was skipped"]),
        ("small_xception.py", ["plot_model() in the model file was skipped", "model.fit()"]),
        ("segmentation_regularized.py", ["model.fit()", "model.save() in the model file was skipped"]),
    ],
)
def test_tutorial_scripts_compile_through_the_cli(name: str, notes: list[str], tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    run = cli("compile", str(TUTORIALS / name), "-o", str(out))
    assert run.returncode == 0, run.stderr
    onnx.checker.check_model(str(out))
    for note in notes:
        assert note in run.stderr
    assert run.stdout.startswith(str(TUTORIALS / name))  # the report first: the file's prints went to stderr
    assert "Test loss" not in run.stdout and "Total params" not in run.stdout


def test_summary_prints_keras_rows_to_stderr(tmp_path: Path) -> None:
    run = cli("export-json", str(TUTORIALS / "mnist_convnet.py"), "-o", str(tmp_path / "m.json"))
    assert run.returncode == 0, run.stderr
    assert 'Model: "sequential"' in run.stderr
    assert "conv2d (Conv2D)  " in run.stderr and "(None, 26, 26, 32)" in run.stderr
    assert "Total params: 34,826" in run.stderr  # 320 + 18,496 + 16,010, as Keras counts them
    assert "Total params" not in run.stdout


def test_data_set_stand_in_has_the_real_sample_shape() -> None:
    doc, _ = model_config(TUTORIALS / "mnist_convnet.py")
    first = doc["config"]["layers"][0]["config"]
    assert first["batch_shape"] == [None, 28, 28, 1]  # from x_train.shape[1:] after expand_dims


def test_training_objects_can_be_subclassed_and_used(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text(
        "import keras\nimport tensorflow as tf\nfrom keras import layers\n"
        "from keras.optimizers.schedules import ExponentialDecay\n"
        "from keras.preprocessing.image import ImageDataGenerator\n"
        "class Monitor(keras.callbacks.Callback):\n"
        "    def on_epoch_end(self, epoch, logs=None):\n        self.last = epoch\n"
        "class Loader(keras.utils.Sequence):\n    def __len__(self):\n        return 3\n"
        "assert len(Loader()) == 3\n"
        "gen = ImageDataGenerator(rotation_range=10).flow_from_directory('photos/')\n"
        "lr = ExponentialDecay(1e-3, decay_steps=100, decay_rate=0.9)\n"
        "strategy = tf.distribute.MirroredStrategy()\n"
        "with strategy.scope():\n"
        "    inp = keras.Input((4,))\n    model = keras.Model(inp, layers.Dense(2)(inp))\n"
        "model.compile(keras.optimizers.SGD(lr, momentum=0.9), keras.losses.CategoricalCrossentropy(),\n"
        "              metrics=[keras.metrics.TopKCategoricalAccuracy(k=5)])\n"
        "for batch in gen:\n    raise SystemExit('a loop over data that was not loaded runs zero times')\n"
        "model.fit(gen, callbacks=[Monitor(), keras.callbacks.TensorBoard('logs')])\n"
    )
    model, rec = find_model(path)
    assert [layer.name for layer in model.layers] == ["input_layer", "dense"]
    assert any("model.fit()" in note for note in rec.notes)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "n = model.evaluate(x)[1]\nout = layers.Dense(int(n))(inp)",
            "the model needs a value from model.evaluate()[...]",
        ),
        (
            "(x, y), _ = keras.datasets.imdb.load_data()\nout = layers.Dense(2)(layers.Reshape(x.shape)(inp))",
            "Reshape(target_shape=...) needs a value from keras.datasets.imdb.load_data(...)",
        ),
    ],
)
def test_a_model_that_needs_training_results_is_refused_in_one_line(code: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text(
        "import keras\nfrom keras import layers\ninp = keras.Input((4,))\n"
        "model = keras.Model(inp, layers.Dense(2)(inp))\nx = None\n" + code + "\nmodel = keras.Model(inp, out)\n"
    )
    with pytest.raises(CompileError) as err:
        model_config(path)
    assert message in str(err.value)
    assert f"{path}:6" in str(err.value) or f"{path}:7" in str(err.value)


def test_mixed_precision_policy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text(
        "import keras\nkeras.mixed_precision.set_global_policy('mixed_float16')\n"
        "inp = keras.Input((4,))\nmodel = keras.Model(inp, keras.layers.Dense(2)(inp))\n"
    )
    run = cli("compile", str(path), "-o", str(tmp_path / "m.onnx"))
    assert run.returncode == 2
    assert "mixed precision policy 'mixed_float16'" in run.stderr and "--fp16" in run.stderr
    assert "Traceback" not in run.stderr


PLOTTING_SCRIPT = """
import matplotlib.pyplot as plt
import matplotlib
import seaborn as sns
import cv2
from IPython.display import display
import tensorflow_datasets as tfds
import tensorflow_addons as tfa
from tensorflow import keras
from tensorflow.keras import layers
from tensorflow.keras.layers.experimental import preprocessing

matplotlib.use("Agg")
train = tfds.load("cats_vs_dogs", split="train")
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
axes[0].imshow(cv2.imread("cat.jpg"))
plt.savefig("never-written.png")
inp = keras.Input((8, 8, 3))
x = layers.experimental.preprocessing.Rescaling(1.0 / 255)(inp)
x = preprocessing.RandomFlip("horizontal")(x)
model = keras.Model(inp, layers.Dense(2)(layers.Flatten()(x)))
optimizer = tfa.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4)
model.compile(optimizer=optimizer, loss=tfa.losses.SigmoidFocalCrossEntropy())
history = model.fit(train, epochs=3, callbacks=[tfa.callbacks.TQDMProgressBar()])
plt.plot(history.history["loss"])
sns.lineplot(data=history.history)
display(plt.gcf())
plt.show()
"""


def test_plots_displays_and_downloads_do_not_run(tmp_path: Path) -> None:
    """matplotlib, seaborn, IPython, OpenCV, tensorflow_datasets and tensorflow_addons's training
    helpers are stand-ins while the file runs, installed or not: nothing is plotted, written,
    read or downloaded, and the real modules (if any) are back afterwards."""
    path = tmp_path / "model.py"
    path.write_text(PLOTTING_SCRIPT)
    before = {name: sys.modules.get(name) for name in ("matplotlib", "cv2", "IPython", "tensorflow_addons")}
    model, rec = find_model(path)
    assert [layer.name for layer in model.layers] == ["input_layer", "rescaling", "random_flip", "flatten", "dense"]
    assert {name: sys.modules.get(name) for name in before} == before
    for root in ("matplotlib", "seaborn", "cv2", "IPython", "tensorflow_datasets", "tensorflow_addons"):
        assert any(note.startswith(f"{root} calls in the model file were skipped") for note in rec.notes), root
    assert not (tmp_path / "never-written.png").exists()
    run = cli("compile", str(path), "-o", str(tmp_path / "m.onnx"))
    assert run.returncode == 0, run.stderr
    assert "matplotlib calls in the model file were skipped (plots do not run while compiling)" in run.stderr


def test_a_tensorflow_addons_layer_is_refused_naming_the_keras_one(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text(
        "import tensorflow_addons as tfa\nimport keras\ninp = keras.Input((8, 8, 4))\n"
        "out = tfa.layers.GroupNormalization(groups=2)(inp)\nmodel = keras.Model(inp, out)\n"
    )
    run = cli("compile", str(path), "-o", str(tmp_path / "m.onnx"))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert f"{path}:4" in line and "tensorflow_addons.layers.GroupNormalization is not available" in line
    assert "keras.layers.GroupNormalization" in line
    assert not (tmp_path / "m.onnx").exists()
