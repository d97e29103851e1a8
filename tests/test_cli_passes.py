"""The command line's targets, pipelines and plugins, DOT/SVG output of `inspect`, and `bench`."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import textwrap
from pathlib import Path

import onnx
import pytest
from cli_process import run_cli

ROOT = Path(__file__).resolve().parents[1]
NCHWC = "com.microsoft.nchwc"

#: The plugin of the README's "Writing your own pass".
README_PLUGIN = '''
import compiler

@compiler.register_pass("drop_softmax")
def drop_softmax(graph: compiler.Graph) -> compiler.Graph:
    """Remove a trailing Softmax so the model returns logits."""
    for node in graph.nodes("Softmax"):
        if node.is_output:
            graph.bypass(node)
    return graph
'''


def kerascc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env={"COLUMNS": "200"})


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def pass_lines(report: str) -> list[str]:
    return [ln.split(None, 1)[1] for ln in report.splitlines() if ln.strip().startswith("pass ")]


def domains(model: onnx.ModelProto) -> set[str]:
    return {n.domain for n in model.graph.node} - {"", "ai.onnx"}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small residual classifier with a softmax head, as .keras, and compiled to .onnx."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from keras import layers

    import compiler

    keras.utils.set_random_seed(11)
    inp = keras.Input((12, 12, 3), name="image")
    x = layers.Conv2D(16, 3, padding="same", name="stem")(inp)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    y = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_a")(x)
    y = layers.Conv2D(16, 3, padding="same", name="conv_b")(y)
    x = layers.ReLU(name="join")(layers.Add(name="add")([x, y]))
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(5, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out, name="resblock")
    d = tmp_path_factory.mktemp("cli_passes")
    paths = {"dir": d, "keras": d / "resblock.keras", "onnx": d / "resblock.onnx"}
    model.save(paths["keras"])
    compiler.save(compiler.compile(paths["keras"]), paths["onnx"])
    return paths


# -- compile ------------------------------------------------------------------------------------------
def test_compile_target_ort(net: dict[str, Path]) -> None:
    out = net["dir"] / "ort.onnx"
    text = ok(kerascc("compile", str(net["keras"]), "--target", "ort", "-o", str(out)))
    assert "target ort" in text
    model = onnx.load(str(out))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["kerascc.target"] == "ort"
    used = domains(model)
    assert used & {"com.microsoft", NCHWC}, used
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert NCHWC in used
    assert "Relu" not in [n.op_type for n in model.graph.node if n.domain in ("", "ai.onnx")]
    assert "fuse_conv: fused 1 residual Add, 2 activations into Conv/Dense" in pass_lines(text)


def test_compile_default_target_is_onnx(net: dict[str, Path]) -> None:
    out = net["dir"] / "plain.onnx"
    text = ok(kerascc("compile", str(net["keras"]), "-o", str(out)))
    assert "target onnx" in text
    model = onnx.load(str(out))
    assert domains(model) == set()
    assert {p.key: p.value for p in model.metadata_props}["kerascc.target"] == "onnx"


def test_compile_without_fuse_conv(net: dict[str, Path]) -> None:
    out = net["dir"] / "nofuse.onnx"
    text = ok(kerascc("compile", str(net["keras"]), "--passes", "-fuse_conv", "--target", "ort", "-o", str(out)))
    lines = pass_lines(text)
    assert lines and not [ln for ln in lines if "fuse_conv" in ln]
    assert any(ln.startswith("fuse_add_relu:") for ln in lines)
    assert "FusedConv" not in [n.op_type for n in onnx.load(str(out)).graph.node]


def test_compile_with_exactly_the_listed_passes(net: dict[str, Path]) -> None:
    out = net["dir"] / "two.onnx"
    text = ok(kerascc("compile", str(net["keras"]), "--passes", "fold_batchnorm,fuse_conv", "-o", str(out)))
    assert [ln.split(":")[0] for ln in pass_lines(text)] == ["fold_batchnorm", "fuse_conv"]


def test_plugin_adds_a_pass(net: dict[str, Path], tmp_path: Path) -> None:
    plugin = tmp_path / "mypasses.py"
    plugin.write_text(README_PLUGIN)
    out = tmp_path / "logits.onnx"
    text = ok(
        kerascc("compile", str(net["keras"]), "--plugin", str(plugin), "--passes", "+drop_softmax", "-o", str(out))
    )
    lines = pass_lines(text)
    assert lines[-1] == "drop_softmax: Softmax -1"
    assert any(ln.startswith("fuse_conv:") for ln in lines)
    model = onnx.load(str(out))
    assert "Softmax" not in [n.op_type for n in model.graph.node]
    assert [o.name for o in model.graph.output] == ["probs"]
    # run from the plugin's own directory with a relative path, as a user would
    ok(
        kerascc(
            "compile",
            str(net["keras"]),
            "--plugin",
            "mypasses.py",
            "--passes",
            "+drop_softmax",
            "-o",
            "rel.onnx",
            cwd=tmp_path,
        )
    )
    assert "Softmax" not in [n.op_type for n in onnx.load(str(tmp_path / "rel.onnx")).graph.node]


def test_plugin_pass_without_the_plugin_is_unknown(net: dict[str, Path], tmp_path: Path) -> None:
    line = one_line_error(
        kerascc("compile", str(net["keras"]), "--passes", "+drop_softmax", "-o", str(tmp_path / "x.onnx")),
        "unknown pass 'drop_softmax'",
        "fuse_conv",
    )
    assert "known passes" in line
    assert not (tmp_path / "x.onnx").exists()


def test_plugin_with_a_syntax_error(net: dict[str, Path], tmp_path: Path) -> None:
    plugin = tmp_path / "broken_plugin.py"
    plugin.write_text(
        textwrap.dedent("""\
        import compiler

        def oops(:
            pass
        """)
    )
    out = tmp_path / "x.onnx"
    one_line_error(
        kerascc("compile", str(net["keras"]), "--plugin", str(plugin), "-o", str(out)),
        "broken_plugin.py",
        "SyntaxError",
    )
    assert not out.exists()


def test_plugin_that_raises(net: dict[str, Path], tmp_path: Path) -> None:
    plugin = tmp_path / "raising.py"
    plugin.write_text("raise RuntimeError('not today')\n")
    one_line_error(
        kerascc("compile", str(net["keras"]), "--plugin", str(plugin), "-o", str(tmp_path / "x.onnx")),
        "raising.py",
        "RuntimeError",
        "not today",
    )


@pytest.mark.parametrize("call", ["import sys; sys.exit(0)", "raise SystemExit(3)"])
def test_plugin_that_exits(net: dict[str, Path], tmp_path: Path, call: str) -> None:
    """A plugin that exits while loading must not end the compile with exit code 0 and no file."""
    plugin = tmp_path / "quitting.py"
    plugin.write_text(call + "\n")
    out = tmp_path / "x.onnx"
    one_line_error(
        kerascc("compile", str(net["keras"]), "--plugin", str(plugin), "-o", str(out)), "quitting.py", "sys.exit"
    )
    assert not out.exists()


def test_missing_plugin(net: dict[str, Path], tmp_path: Path) -> None:
    one_line_error(
        kerascc("compile", str(net["keras"]), "--plugin", str(tmp_path / "absent.py"), "-o", str(tmp_path / "x.onnx")),
        "absent.py",
    )


@pytest.mark.parametrize(
    "spec, needle",
    [
        ("bogus", "unknown pass 'bogus'"),
        ("-bogus", "cannot remove pass 'bogus'"),
        ("default,+bogus", "unknown pass 'bogus'"),
    ],
)
def test_bad_pass_spec(net: dict[str, Path], tmp_path: Path, spec: str, needle: str) -> None:
    out = tmp_path / "x.onnx"
    one_line_error(kerascc("compile", str(net["keras"]), "--passes", spec, "-o", str(out)), needle)
    assert not out.exists()


def test_unknown_target_is_refused(net: dict[str, Path], tmp_path: Path) -> None:
    proc = kerascc("compile", str(net["keras"]), "--target", "cuda", "-o", str(tmp_path / "x.onnx"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.onnx").exists()


# -- inspect --------------------------------------------------------------------------------------------
def test_inspect_quiet_writes_dot(net: dict[str, Path], tmp_path: Path) -> None:
    dot = tmp_path / "graph.dot"
    text = ok(kerascc("inspect", str(net["keras"]), "--quiet", "--dot", str(dot)))
    assert "after fuse_conv" in text and "after fold_batchnorm" in text
    assert "%" not in text, "--quiet printed the IR"
    assert f"wrote {dot}" in text
    source = dot.read_text()
    assert source.startswith('digraph "resblock" {') and source.rstrip().endswith("}")
    assert "->" in source and "FusedAddRelu" not in source
    assert "Conv\\n" in source


def test_inspect_passes_and_plugin(net: dict[str, Path], tmp_path: Path) -> None:
    plugin = tmp_path / "mypasses.py"
    plugin.write_text(README_PLUGIN)
    dot = tmp_path / "graph.dot"
    text = ok(
        kerascc(
            "inspect",
            str(net["keras"]),
            "-q",
            "--plugin",
            str(plugin),
            "--passes",
            "-fuse_conv,+drop_softmax",
            "--dot",
            str(dot),
        )
    )
    assert "after drop_softmax: Softmax -1" in text
    assert "after fuse_conv" not in text
    source = dot.read_text()
    assert "Softmax" not in source and "FusedAddRelu" in source


def test_inspect_bad_pass_is_one_line(net: dict[str, Path]) -> None:
    one_line_error(kerascc("inspect", str(net["keras"]), "--passes", "nonsense"), "unknown pass 'nonsense'")


def test_inspect_svg(net: dict[str, Path], tmp_path: Path) -> None:
    svg = tmp_path / "graph.svg"
    proc = kerascc("inspect", str(net["keras"]), "-q", "--svg", str(svg))
    if shutil.which("dot") is None:
        one_line_error(proc, "graph.svg", "dot", "--dot")
        assert not svg.exists()
    else:
        ok(proc)
        assert "<svg" in svg.read_text()


# -- bench ----------------------------------------------------------------------------------------------
def test_bench_table(net: dict[str, Path]) -> None:
    text = ok(kerascc("bench", str(net["onnx"]), "--batch", "1,2", "--runs", "3", "--warmup", "1", "--provider", "cpu"))
    rows = [ln for ln in text.splitlines() if "CPU" in ln.upper() and any(ch.isdigit() for ch in ln)]
    batches = []
    for row in rows:
        cells = [c.strip() for c in row.replace("│", "|").split("|") if c.strip()]
        if len(cells) >= 7:
            batches.append(cells[1])
            assert float(cells[-1]) > 0  # samples/s
    assert batches == ["1", "2"], text
    for header in ("batch", "p50 ms", "samples/s"):
        assert header in text


def test_bench_default_options(net: dict[str, Path]) -> None:
    ok(kerascc("bench", str(net["onnx"]), "--runs", "2"))


@pytest.mark.parametrize("batch", ["x", "1,two", "0"])
def test_bench_bad_batch(net: dict[str, Path], batch: str) -> None:
    one_line_error(kerascc("bench", str(net["onnx"]), "--batch", batch, "--runs", "1"))


def test_bench_missing_model(tmp_path: Path) -> None:
    one_line_error(kerascc("bench", str(tmp_path / "none.onnx"), "--runs", "1"), "none.onnx")


def test_inspect_draws_a_compiled_onnx_file(net: dict[str, Path], tmp_path: Path) -> None:
    model = tmp_path / "net.onnx"
    ok(kerascc("compile", str(net["keras"]), "-o", str(model)))
    dot = tmp_path / "onnx.dot"
    text = ok(kerascc("inspect", str(model), "--dot", str(dot)))
    assert "ops" in text and f"wrote {dot}" in text
    source = dot.read_text()
    proto = onnx.load(str(model))
    assert source.count("\\n") >= len(proto.graph.node)  # one labelled box per ONNX node
    for node in proto.graph.node:
        assert f"{node.op_type}\\n{node.name}" in source
    assert source.count("->") >= len(proto.graph.node)
