"""The command line as a user meets it: reports, one-line errors, exit codes, atomic output."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from cli_process import run_cli
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env={"COLUMNS": "200"})


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from keras import layers

    keras.utils.set_random_seed(3)
    inp = keras.Input((32, 32, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="conv")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(1000, activation="softmax", name="predictions")(x)
    model = keras.Model(inp, out, name="tiny")
    d = tmp_path_factory.mktemp("cli")
    paths = {"json": d / "tiny.json", "weights": d / "tiny.weights.h5", "keras": d / "tiny.keras", "dir": d}
    paths["json"].write_text(model.to_json())
    model.save_weights(paths["weights"])
    model.save(paths["keras"])
    img = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(d / "img.png")
    paths["image"] = d / "img.png"
    x = np.asarray(Image.open(paths["image"]).convert("RGB").resize((32, 32), Image.BILINEAR), np.float32)[None]
    paths["expected"] = d / "expected.npy"
    np.save(paths["expected"], model.predict(x, verbose=0))
    return paths


def test_compile_reports_and_writes(small_model: dict[str, Path]) -> None:
    out = small_model["dir"] / "tiny.onnx"
    proc = cli("compile", str(small_model["keras"]), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "layers in" in text and "ONNX nodes" in text and "fold_batchnorm: folded 1 BatchNorm" in text
    assert "parameters" in text and "time" in text and "loaded from tiny.keras" in text
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["predictions"]
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_compile_json_without_weights_says_random(small_model: dict[str, Path]) -> None:
    out = small_model["dir"] / "random.onnx"
    proc = cli("compile", str(small_model["json"]), "-o", str(out), "--seed", "7")
    assert proc.returncode == 0, proc.stderr
    assert "RANDOM" in proc.stdout and "seed 7" in proc.stdout
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["kerascc.weights"].startswith("random")


def test_run_prints_top_k_and_saves(small_model: dict[str, Path]) -> None:
    model = small_model["dir"] / "run.onnx"
    assert (
        cli(
            "compile",
            str(small_model["json"]),
            "-w",
            str(small_model["weights"]),
            "-o",
            str(model),
            "--preprocess",
            "none",
        ).returncode
        == 0
    )
    saved = small_model["dir"] / "out.npy"
    proc = cli("run", str(model), str(small_model["image"]), "--top-k", "3", "--save", str(saved))
    assert proc.returncode == 0, proc.stderr
    # where it ran, in the engine's own words: an onnxruntime provider, or OpenVINO's device
    assert re.search(r" on (CPUExecutionProvider \(onnxruntime|CPU \(openvino), fp32\)", proc.stdout), proc.stdout
    expected = np.load(small_model["expected"])
    got = np.load(saved)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= 1e-4 * max(np.max(np.abs(expected)), 1e-6)
    top = int(np.argmax(expected[0]))
    from runtime.decode import imagenet_labels

    assert imagenet_labels()[top] in proc.stdout


def test_run_warns_about_random_weights(small_model: dict[str, Path]) -> None:
    model = small_model["dir"] / "rnd.onnx"
    assert cli("compile", str(small_model["json"]), "-o", str(model)).returncode == 0
    proc = cli("run", str(model), str(small_model["image"]))
    assert proc.returncode == 0, proc.stderr
    assert "RANDOM weights" in proc.stderr


def test_inspect_shows_each_pass(small_model: dict[str, Path]) -> None:
    proc = cli("inspect", str(small_model["keras"]))
    assert proc.returncode == 0, proc.stderr
    assert "after fold_batchnorm" in proc.stdout and "BatchNorm" in proc.stdout
    assert "%conv = Conv" in proc.stdout


@pytest.mark.parametrize(
    "content, needles",
    [
        ("{not json", ["broken.json", "not valid JSON"]),
        ("[1, 2]", ["broken.json", "JSON object"]),
        (
            json.dumps(
                {
                    "class_name": "Functional",
                    "config": {
                        "layers": [
                            {
                                "class_name": "InputLayer",
                                "name": "in",
                                "config": {"name": "in", "batch_shape": [None, 4]},
                                "inbound_nodes": [],
                            },
                            {
                                "class_name": "Lambda",
                                "name": "mystery",
                                "config": {"name": "mystery"},
                                "inbound_nodes": [
                                    {
                                        "args": [
                                            {
                                                "class_name": "__keras_tensor__",
                                                "config": {"keras_history": ["in", 0, 0]},
                                            }
                                        ],
                                        "kwargs": {},
                                    }
                                ],
                            },
                        ],
                        "input_layers": [["in", 0, 0]],
                        "output_layers": [["mystery", 0, 0]],
                    },
                }
            ),
            ["broken.json", "layer 'mystery'", "Lambda", "not supported"],
        ),
        (
            json.dumps(
                {
                    "class_name": "Functional",
                    "config": {
                        "layers": [
                            {
                                "class_name": "InputLayer",
                                "name": "in",
                                "config": {"name": "in", "batch_shape": [None, 4]},
                                "inbound_nodes": [],
                            },
                            {
                                "class_name": "Dense",
                                "name": "d",
                                "config": {"name": "d", "units": 2},
                                "inbound_nodes": [[["ghost", 0, 0, {}]]],
                            },
                        ],
                        "input_layers": [["in", 0, 0]],
                        "output_layers": [["d", 0, 0]],
                    },
                }
            ),
            ["broken.json", "ghost"],
        ),
    ],
)
def test_bad_model_is_one_line_exit_2(tmp_path: Path, content: str, needles: list[str]) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content)
    out = tmp_path / "broken.onnx"
    assert_one_line_error(cli("compile", str(path), "-o", str(out)), *needles)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [path]


def test_missing_file(tmp_path: Path) -> None:
    assert_one_line_error(cli("compile", str(tmp_path / "nope.json")), "nope.json", "no such file")


def test_wrong_weights_file(small_model: dict[str, Path], tmp_path: Path) -> None:
    import h5py

    bad = tmp_path / "other.weights.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("layers/dense/vars/0", data=np.zeros((3, 3), np.float32))
        f["layers/dense/vars"].attrs["name"] = "predictions"
    assert_one_line_error(
        cli("compile", str(small_model["json"]), "-w", str(bad), "-o", str(tmp_path / "x.onnx")),
        "other.weights.h5",
        "layer 'conv'",
        "no weights for this layer",
    )
    assert not (tmp_path / "x.onnx").exists()


def test_unwritable_output_leaves_nothing(small_model: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(cli("compile", str(small_model["json"]), "-o", str(blocker / "m.onnx")), "m.onnx")
    assert blocker.read_text() == "x"


def test_run_errors_are_one_line(small_model: dict[str, Path], tmp_path: Path) -> None:
    model = small_model["dir"] / "run_err.onnx"
    assert cli("compile", str(small_model["json"]), "-o", str(model)).returncode == 0
    assert_one_line_error(cli("run", str(model), str(tmp_path / "missing.jpg")), "missing.jpg")
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    assert_one_line_error(cli("run", str(model), str(junk)), "junk.jpg")
    assert_one_line_error(cli("run", str(tmp_path / "none.onnx"), str(small_model["image"])), "none.onnx")


def test_debug_shows_traceback(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{")
    proc = cli("--debug", "compile", str(path))
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_max_config_bounds_a_py_model_file_too(tmp_path: Path) -> None:
    """A .py model is read whole, like a JSON description, so --max-config bounds it before it runs."""
    marker = tmp_path / "ran.txt"
    source = (
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "import keras\nx = keras.Input((3,))\nmodel = keras.Model(x, keras.layers.Dense(2)(x))\n"
        f"# {'a' * 3000}\n"
    )
    (tmp_path / "m.py").write_text(source)
    proc = cli("compile", "m.py", "--max-config", "1KB", cwd=tmp_path)
    assert_one_line_error(proc, "m.py: the model file would take 3.", "over the limit of 1.0 KB")
    assert not marker.exists() and not (tmp_path / "m.onnx").exists()


TOKEN_MODEL = """
import keras
from keras import layers

ids = keras.Input((6,), dtype="int32", name="tokens")
x = layers.Embedding(20, 4, mask_zero=True, name="embed")(ids)
x = layers.GlobalAveragePooling1D(name="pool")(x)
out = layers.Dense(3, activation="softmax", name="classes")(x)
model = keras.Model(ids, out)
"""


@pytest.fixture(scope="module")
def token_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("tokens")
    (d / "text.py").write_text(TOKEN_MODEL)
    assert cli("compile", "text.py", "-o", "text.onnx", cwd=d).returncode == 0
    return d / "text.onnx"


def _reference(model: Path, ids: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return session.run(None, {"tokens": ids.astype(np.int32)})[0]


def test_run_on_token_arrays(token_model: Path, tmp_path: Path) -> None:
    """.npy, .npz (by input name) and a text file of ids give the same per-sample class scores,
    in batches, and --save keeps them."""
    ids = np.array([[3, 4, 5, 0, 0, 0], [7, 1, 0, 0, 0, 0], [2, 2, 2, 2, 9, 19]], np.int32)
    np.save(tmp_path / "ids.npy", ids)
    np.savez(tmp_path / "ids.npz", tokens=ids.astype(np.int64))
    (tmp_path / "ids.txt").write_text("3 4 5\n7 1\n\n2 2 2 2 9 19\n")
    want = _reference(token_model, ids)
    for source in ("ids.npy", "ids.npz", "ids.txt"):
        saved = tmp_path / f"{source}.out.npz"
        proc = cli("run", str(token_model), source, "--batch-size", "2", "--save", str(saved), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "3 samples" in proc.stdout and "tokens (?, 6) int32" in proc.stdout
        best = int(np.argmax(want[2]))
        assert f"{best}: {want[2][best]:.4f}" in proc.stdout
        np.testing.assert_allclose(np.load(saved)["classes"], want, rtol=1e-6)


def test_run_on_token_arrays_takes_the_engine_asked_for(token_model: Path, tmp_path: Path) -> None:
    """Array inputs run on the same engine interface as images: --engine openvino is honoured and
    named in the header, with the same class scores."""
    ids = np.array([[3, 4, 5, 0, 0, 0], [2, 2, 2, 2, 9, 19]], np.int32)
    np.save(tmp_path / "ids.npy", ids)
    saved = tmp_path / "out.npz"
    proc = cli("run", str(token_model), "ids.npy", "--engine", "openvino", "--save", str(saved), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert " on CPU (openvino, fp32)" in proc.stdout
    np.testing.assert_allclose(np.load(saved)["classes"], _reference(token_model, ids), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "make", "needles"),
    [
        ("floats.npy", lambda p: np.save(p, np.zeros((2, 6), np.float32)), ["float32", "'tokens'", "integer ids"]),
        ("short.npy", lambda p: np.save(p, np.zeros((2, 5), np.int32)), ["shape (2, 5)", "(?, 6) int32"]),
        ("named.npz", lambda p: np.savez(p, ids=np.zeros((2, 6), np.int32)), ["no array named 'tokens'", "ids"]),
        ("long.txt", lambda p: p.write_text("1 2\n1 2 3 4 5 6 7\n"), ["sequence 2 has 7 ids", "takes 6"]),
        ("words.txt", lambda p: p.write_text("1 two 3\n"), ["line 1", "'two'"]),
    ],
)
def test_run_on_bad_arrays_is_one_line(token_model: Path, tmp_path: Path, name: str, make, needles) -> None:
    make(tmp_path / name)
    assert_one_line_error(cli("run", str(token_model), name, cwd=tmp_path), name, *needles)


def test_run_images_on_a_token_model_says_to_pass_arrays(token_model: Path, small_model: dict[str, Path]) -> None:
    assert_one_line_error(cli("run", str(token_model), str(small_model["image"])), "tokens", ".npy")


def test_bench_a_token_model_uses_ids_below_the_vocabulary(token_model: Path) -> None:
    proc = cli("bench", str(token_model), "--batch", "1,4", "--runs", "3", "--warmup", "1")
    assert proc.returncode == 0, proc.stderr
    assert "random ids 0..19" in proc.stderr and "input_dim" in proc.stderr


def test_run_ids_outside_the_table_is_one_line(token_model: Path, tmp_path: Path) -> None:
    """An id the Embedding has no row for (onnxruntime's Gather would stop on it) is refused first."""
    np.save(tmp_path / "big.npy", np.array([[1, 2, 20, 0, 0, 0]], np.int32))
    proc = cli("run", str(token_model), "big.npy", cwd=tmp_path)
    assert_one_line_error(proc, "big.npy", "id 20 at (0, 2)", "'tokens'", "20 rows")


def test_the_forking_cli_runner_gives_what_a_new_python_gives(tmp_path: Path) -> None:
    """tests/cli_process.py forks its calls from a server: exit code, streams and files as from a new Python."""
    (tmp_path / "model.json").write_text("{not json")
    for args in (("--help",), ("compile", "model.json"), ("compile", "missing.json"), ("inspect", "model.json")):
        forked = run_cli(*args, cwd=tmp_path)
        fresh = run_cli(*args, cwd=tmp_path, fresh=True)
        assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]
