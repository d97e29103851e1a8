"""The extension API as the README shows it, used from a user's own file."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]


def test_user_pass_from_own_file(tmp_path: Path) -> None:
    (tmp_path / "mypasses.py").write_text(textwrap.dedent("""
        import compiler

        @compiler.register_pass("drop_softmax")
        def drop_softmax(graph: compiler.Graph) -> compiler.Graph:
            \"\"\"Remove a trailing Softmax so the model returns logits.\"\"\"
            for node in graph.nodes("Softmax"):
                if node.is_output:
                    graph.bypass(node)
            return graph
    """))
    script = tmp_path / "build.py"
    script.write_text(textwrap.dedent(f"""
        import compiler
        import mypasses  # registers drop_softmax

        model = compiler.compile({str(ROOT / "examples" / "resnet50.json")!r},
                                 passes=compiler.default_passes() + ["drop_softmax"])
        compiler.save(model, {str(tmp_path / "logits.onnx")!r})
        for report in model.report:
            print(report)
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
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
    rule = Rule("fuse_add_relu",
                P("Relu", P("Add", name="add"), name="relu"),
                check=lambda m: m["add"].has_single_use(),
                rewrite=lambda g, m: g.add("FusedAddRelu", m["add"].inputs, layer=m["relu"].layer))
    assert apply_rules(g, [rule]) == {"fuse_add_relu": 1}
    assert [n.op for n in g.nodes()] == ["Input", "Input", "FusedAddRelu"]
    g.check()
    model = compiler.to_onnx(g)
    a, b = np.random.default_rng(1).normal(size=(2, 3, 4)).astype(np.float32)
    out = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": a, "y": b})[0]
    np.testing.assert_array_equal(out, np.maximum(a + b, 0))
