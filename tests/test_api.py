"""The Python API as the README shows it: user passes from a user's own file, and every compile option."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_user_pass_from_own_file(tmp_path: Path) -> None:
    (tmp_path / "mypasses.py").write_text(
        textwrap.dedent("""
        import compiler

        @compiler.register_pass("drop_softmax")
        def drop_softmax(graph: compiler.Graph) -> compiler.Graph:
            \"\"\"Remove a trailing Softmax so the model returns logits.\"\"\"
            for node in graph.nodes("Softmax"):
                if node.is_output:
                    graph.bypass(node)
            return graph
    """)
    )
    script = tmp_path / "build.py"
    script.write_text(
        textwrap.dedent(f"""
        import compiler
        import mypasses  # registers drop_softmax

        model = compiler.compile({str(ROOT / "examples" / "resnet50.json")!r},
                                 passes=compiler.default_passes() + ["drop_softmax"])
        compiler.save(model, {str(tmp_path / "logits.onnx")!r})
        for report in model.report:
            print(report)
    """)
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "fold_batchnorm: folded 53 BatchNorm" in proc.stdout
    assert "drop_softmax: Softmax -1" in proc.stdout
    model = onnx.load(str(tmp_path / "logits.onnx"))
    ops = [n.op_type for n in model.graph.node]
    assert "Softmax" not in ops and ops.count("Conv") == 53
    assert [o.name for o in model.graph.output] == ["predictions"]
    sess = ort.InferenceSession(str(tmp_path / "logits.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32)
    logits = sess.run(None, {"input_layer": x})[0]
    assert logits.shape == (1, 1000) and not np.isclose(logits.sum(), 1.0)


def test_pattern_rule_from_readme() -> None:
    import compiler
    from compiler import P, Rule, apply_rules

    g = compiler.Graph()
    x = g.add_input("x", (None, 4))
    y = g.add_input("y", (None, 4))
    s = g.add("Add", [x, y])
    r = g.add("Relu", [s])
    g.set_outputs([r], ["out"])
    rule = Rule(
        "fuse_add_relu",
        P("Relu", P("Add", name="add"), name="relu"),
        check=lambda m: m["add"].has_single_use(),
        rewrite=lambda g, m: g.add("FusedAddRelu", m["add"].inputs, layer=m["relu"].layer),
    )
    assert apply_rules(g, [rule]) == {"fuse_add_relu": 1}
    assert [n.op for n in g.nodes()] == ["Input", "Input", "FusedAddRelu"]
    g.check()
    model = compiler.to_onnx(g)
    a, b = np.random.default_rng(1).normal(size=(2, 3, 4)).astype(np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"x": a, "y": b})[0]
    np.testing.assert_array_equal(out, np.maximum(a + b, 0))


# -- compiler.compile owns the whole job: everything `cli.py compile` does, from Python ---------------------
TINY = """
import keras
from keras import layers


def build(width=8):
    inp = keras.Input((None, None, 3), name="image")
    x = layers.Conv2D(width, 3, padding="same", activation="relu", name="conv")(inp)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inp, layers.Dense(5, activation="softmax", name="probs")(x), name="mobilenetv2")
    model.load_weights("trained.weights.h5")
    return model
"""


def tiny_py(folder: Path) -> Path:
    path = folder / "tiny.py"
    path.write_text(TINY)
    return path


def photos(folder: Path, count: int = 3) -> Path:
    from PIL import Image

    out = folder / "photos"
    out.mkdir()
    rng = np.random.default_rng(5)
    for i in range(count):
        Image.fromarray((rng.random((20, 24, 3)) * 255).astype(np.uint8)).save(out / f"{i}.png")
    return out


def test_every_compile_option_of_the_cli_is_a_compile_option() -> None:
    import dataclasses
    import inspect

    import cli
    import compiler

    fields = {f.name for f in dataclasses.fields(compiler.CompileOptions)}
    cli_only = {"model", "output", "plugin", "max_weights", "max_layers", "max_config"}  # file names, registry, limits
    renamed = {"arg": "args", "input_shape": "input_shapes", "target_kind": "target"}
    params = set(inspect.signature(cli.compile_cmd).parameters) - cli_only
    assert {renamed.get(p, p) for p in params} <= fields
    assert "limits" in fields and "passes" in fields


def test_python_compile_is_the_cli_compile(tmp_path: Path) -> None:
    import compiler

    source = tiny_py(tmp_path)
    heard: list[str] = []
    model = compiler.compile(
        source, entry="build", args=["width=4"], input_shapes=["1,20,24,3"], preprocess="auto", on_note=heard.append
    )
    assert model.name == "mobilenetv2" and model.preprocess == "tf" and model.preprocess_guessed
    assert "load_weights" in model.notes and heard == [model.notes]
    assert model.input_shapes == {"image": (1, 20, 24, 3)}
    assert model.precision == ["static input shapes image [1, 20, 24, 3]"]
    assert model.metadata["kerascc.preprocess"] == "tf"
    compiler.save(model, tmp_path / "py.onnx")

    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "compile",
            str(source),
            "--entry",
            "build",
            "--arg",
            "width=4",
            "--input-shape",
            "1,20,24,3",
            "-o",
            str(tmp_path / "cli.onnx"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "(guessed from the model name)" in proc.stdout and "note:" in proc.stderr
    assert (tmp_path / "py.onnx").read_bytes() == (tmp_path / "cli.onnx").read_bytes()


def test_options_take_python_values_and_cli_texts_alike(tmp_path: Path) -> None:
    import compiler

    source = tiny_py(tmp_path)
    options = compiler.CompileOptions(entry="build", args={"width": 4}, input_shapes={"image": (1, 20, 24, 3)})
    as_values = compiler.compile(source, options).serialize()
    as_texts = compiler.compile(source, options, args=["width=4"], input_shapes=["image:1,20,24,3"])
    assert as_texts.serialize() == as_values
    assert compiler.compile(source, options, input_shapes=(1, 20, 24, 3)).serialize() == as_values
    without_fuse = compiler.compile(source, options, passes="-fuse_conv")
    assert [r.name for r in without_fuse.report] == [n for n in compiler.default_passes() if n != "fuse_conv"]


def test_int8_from_python(tmp_path: Path) -> None:
    import compiler

    model = compiler.compile(
        tiny_py(tmp_path),
        entry="build",
        input_shapes=["1,20,24,3"],
        int8=True,
        calibrate=photos(tmp_path),
        calibration_size=2,
    )
    ops = model.op_counts()
    assert ops["QuantizeLinear"] and ops["DequantizeLinear"]
    assert model.lowered is None and model.metadata["kerascc.precision"].startswith("int8")
    assert model.precision[0] == "static input shapes image [1, 20, 24, 3]"
    assert model.precision[1] == "int8 QDQ, per-channel weights, calibrated on 2 images"
    assert model.precision[2].startswith("probs: cosine vs fp32")
    compiler.save(model, tmp_path / "int8.onnx")
    assert onnx.load(str(tmp_path / "int8.onnx")).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1


def test_calibration_size_default_is_the_runtime_one() -> None:
    import compiler
    from runtime.quantize import DEFAULT_CALIBRATION_SIZE

    assert compiler.CompileOptions().calibration_size == DEFAULT_CALIBRATION_SIZE


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"int8": True}, "--int8 and --calibrate DIR go together"),
        ({"calibrate": "photos/"}, "--int8 and --calibrate DIR go together"),
        ({"int8": True, "calibrate": "photos/", "fp16": True}, "choose one of --int8 and --fp16"),
        ({"fp16": True, "target": "ort"}, "--int8/--fp16 need --target onnx or tensorrt"),
    ],
)
def test_impossible_precision_options_fail_before_the_model_is_read(tmp_path: Path, settings, message) -> None:
    import compiler

    with pytest.raises(compiler.CompileError, match=message):
        compiler.CompileOptions(**settings)
    with pytest.raises(compiler.CompileError, match=message):
        compiler.compile(tmp_path / "does_not_exist.json", **settings)


def test_unknown_compile_setting_is_a_type_error() -> None:
    import compiler

    with pytest.raises(TypeError, match="no_such_option"):
        compiler.compile(compiler.Graph(), no_such_option=1)


def test_notes_are_heard_even_when_compiling_then_fails(tmp_path: Path) -> None:
    import compiler

    heard: list[str] = []
    with pytest.raises(compiler.CompileError, match="conflicts with input 'image'"):
        compiler.compile(tiny_py(tmp_path), entry="build", input_shapes=["1,20,24,4"], on_note=heard.append)
    assert len(heard) == 1 and "load_weights" in heard[0]


def test_export_json_from_python(tmp_path: Path) -> None:
    import json

    import compiler

    target = compiler.export_json(tiny_py(tmp_path), entry="build", args=["width=2"])
    assert target == tmp_path / "tiny.json"
    doc = json.loads(target.read_text())
    assert doc["config"]["name"] == "mobilenetv2"
    convs = [layer["config"] for layer in doc["config"]["layers"] if layer["class_name"] == "Conv2D"]
    assert [conv["filters"] for conv in convs] == [2]


def test_compile_of_an_object_that_is_not_a_keras_model_never_imports_keras() -> None:
    """A live keras.Model is recognised by its class's module; anything else stays a path argument."""
    code = (
        "import sys, compiler\n"
        "class Model:\n    pass\n"
        "try:\n    compiler.compile(Model())\nexcept TypeError as exc:\n    print('refused', type(exc).__name__)\n"
        "print('keras' in sys.modules, 'tf_keras' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "False False"
