"""compiler.parse_passes, compiler.load_plugin and Graph.to_dot."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler import CompileError, Graph, default_passes, load_plugin, parse_passes, pipeline, register_pass


@pytest.fixture(autouse=True)
def restore_registry():
    """Whatever a test registers (directly or through a plugin) is gone afterwards."""
    default_passes()  # the built-ins are registered before the snapshot
    passes, defaults = dict(pipeline.PASSES), list(pipeline._APPENDED)
    modules = set(sys.modules)
    yield
    pipeline.PASSES.clear()
    pipeline.PASSES.update(passes)
    pipeline._APPENDED[:] = defaults
    for name in set(sys.modules) - modules:
        if name.startswith("kerascc_plugin_"):
            del sys.modules[name]


def identity_pass(graph: Graph) -> Graph:
    return graph


# -- parse_passes -------------------------------------------------------------------------------------
def defaults() -> list[str]:
    names = default_passes()
    assert {"fold_batchnorm", "fuse_add_relu", "fuse_conv"} <= set(names)
    return names


@pytest.mark.parametrize("spec", [None, "", "   ", "default", " default ", ",,", "default,"])
def test_empty_or_default_spec_is_the_default_pipeline(spec):
    assert parse_passes(spec) == defaults()


def test_plain_names_are_exactly_that_pipeline_in_that_order():
    assert parse_passes("fuse_conv,remove_identity") == ["fuse_conv", "remove_identity"]
    assert parse_passes(" resolve_padding , fold_batchnorm ") == ["resolve_padding", "fold_batchnorm"]
    assert parse_passes("fuse_conv") == ["fuse_conv"]


def test_minus_removes_from_the_default_pipeline():
    assert parse_passes("-fuse_conv") == [n for n in defaults() if n != "fuse_conv"]
    without_two = [n for n in defaults() if n not in ("fuse_conv", "fold_batchnorm")]
    assert parse_passes("-fuse_conv,-fold_batchnorm") == without_two
    assert "fuse_conv" in default_passes(), "parsing changed the default pipeline"


def test_plus_appends_to_the_default_pipeline():
    register_pass("unit_spec_extra")(identity_pass)
    assert parse_passes("+unit_spec_extra") == defaults() + ["unit_spec_extra"]
    assert parse_passes("+unit_spec_extra,+fuse_conv") == defaults() + ["unit_spec_extra", "fuse_conv"]
    assert "unit_spec_extra" not in default_passes()


def test_mixed_items():
    register_pass("unit_spec_extra")(identity_pass)
    without = [n for n in defaults() if n != "fuse_conv"]
    assert parse_passes("-fuse_conv,+unit_spec_extra") == without + ["unit_spec_extra"]
    assert parse_passes("+unit_spec_extra,-fuse_conv") == without + ["unit_spec_extra"]
    assert parse_passes("default,unit_spec_extra") == defaults() + ["unit_spec_extra"]
    assert parse_passes("default,+unit_spec_extra,-fuse_conv") == without + ["unit_spec_extra"]
    assert parse_passes("unit_spec_extra,default") == ["unit_spec_extra"] + defaults()
    assert parse_passes("remove_identity,fuse_conv,-remove_identity") == ["fuse_conv"]
    assert parse_passes("fuse_conv,+unit_spec_extra") == ["fuse_conv", "unit_spec_extra"]


def test_minus_removes_every_occurrence():
    assert parse_passes("fuse_conv,remove_dead,fuse_conv,-fuse_conv") == ["remove_dead"]


@pytest.mark.parametrize("spec", ["bogus", "+bogus", "-fuse_conv,+bogus", "fuse_conv,bogus", "default,bogus"])
def test_unknown_pass_lists_the_known_ones(spec):
    register_pass("unit_spec_extra")(identity_pass)
    with pytest.raises(CompileError) as info:
        parse_passes(spec)
    text = str(info.value)
    assert "unknown pass 'bogus'" in text
    for name in [*defaults(), "unit_spec_extra"]:
        assert name in text
    assert "\n" not in text


@pytest.mark.parametrize(
    "spec, missing",
    [
        ("-bogus", "bogus"),
        ("-fuse_conv,-fuse_conv", "fuse_conv"),
        ("remove_identity,-fuse_conv", "fuse_conv"),
        ("-unit_spec_extra", "unit_spec_extra"),  # registered, but not in the default pipeline
    ],
)
def test_removing_a_pass_not_in_the_pipeline_is_an_error(spec, missing):
    register_pass("unit_spec_extra")(identity_pass)
    with pytest.raises(CompileError) as info:
        parse_passes(spec)
    assert f"cannot remove pass '{missing}'" in str(info.value)


@pytest.mark.parametrize("spec", ["+", "-", "default,+"])
def test_a_bare_sign_is_an_error(spec):
    with pytest.raises(CompileError):
        parse_passes(spec)


def test_parsed_pipeline_drives_compile():
    g = Graph()
    x = g.add_input("x", (None, 4))
    g.set_outputs([g.add("Relu", [g.add("Identity", [x])])], ["y"])
    res = compiler.compile(g, passes=parse_passes("-fuse_conv"))
    assert [r.name for r in res.report] == [n for n in defaults() if n != "fuse_conv"]


# -- load_plugin ------------------------------------------------------------------------------------
PLUGIN = '''
import compiler

@compiler.register_pass("unit_plugin_drop_softmax")
def drop_softmax(graph: compiler.Graph) -> compiler.Graph:
    """Remove a trailing Softmax."""
    for node in graph.nodes("Softmax"):
        if node.is_output:
            graph.bypass(node)
    return graph


@compiler.register_pass("unit_plugin_default", default=True)
def count(graph):
    return graph, "looked at %d nodes" % len(graph)
'''


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def softmax_graph() -> Graph:
    g = Graph()
    x = g.add_input("x", (None, 3))
    g.set_outputs([g.add("Softmax", [g.add("Tanh", [x])], attrs={"axis": 1})], ["p"])
    return g


def test_plugin_registers_its_passes(tmp_path):
    path = write(tmp_path / "mypasses.py", PLUGIN)
    assert load_plugin(path) is None
    assert "unit_plugin_drop_softmax" in pipeline.PASSES
    assert default_passes()[-1] == "unit_plugin_default"
    names = parse_passes("+unit_plugin_drop_softmax")
    assert names[-2:] == ["unit_plugin_default", "unit_plugin_drop_softmax"]
    res = compiler.compile(softmax_graph(), passes=names)
    assert [n.op for n in res.graph.outputs] == ["Tanh"] and res.graph.output_names == ["p"]
    assert "unit_plugin_default: looked at 3 nodes" in [str(r) for r in res.report]
    assert str(res.report[-1]) == "unit_plugin_drop_softmax: Softmax -1"


def test_plugin_accepts_a_string_path_and_can_be_loaded_twice(tmp_path):
    path = write(tmp_path / "again.py", PLUGIN)
    load_plugin(str(path))
    load_plugin(str(path))
    assert default_passes().count("unit_plugin_default") == 1


def test_the_fixture_removed_the_plugins_passes():
    assert "unit_plugin_drop_softmax" not in pipeline.PASSES
    assert "unit_plugin_default" not in default_passes()
    assert not [m for m in sys.modules if m.startswith("kerascc_plugin_")]


@pytest.mark.parametrize(
    "body, needle",
    [
        ("raise ValueError('boom')\n", "ValueError: boom"),
        ("import compiler\ndef broken(:\n    pass\n", "SyntaxError"),
        ("import no_such_module_for_kerascc\n", "ModuleNotFoundError"),
        ("x = 1 / 0\n", "ZeroDivisionError"),
    ],
)
def test_plugin_that_fails_to_import_is_one_compile_error_naming_the_file(tmp_path, body, needle):
    path = write(tmp_path / "badplugin.py", body)
    with pytest.raises(CompileError) as info:
        load_plugin(path)
    err = info.value
    assert type(err) is CompileError
    text = str(err)
    assert str(path) in text and needle in text and "plugin failed to load" in text
    assert "\n" not in text
    assert err.file == str(path)
    assert "kerascc_plugin_badplugin" not in sys.modules


def test_plugin_raising_a_compile_error_gets_its_file(tmp_path):
    path = write(tmp_path / "refuses.py", "import compiler\nraise compiler.CompileError('needs a newer kerascc')\n")
    with pytest.raises(CompileError) as info:
        load_plugin(path)
    assert info.value.file == str(path)
    assert "needs a newer kerascc" in str(info.value)


def test_missing_plugin_file(tmp_path):
    missing = tmp_path / "nothere.py"
    with pytest.raises(CompileError) as info:
        load_plugin(missing)
    assert str(missing) in str(info.value) and "no such plugin file" in str(info.value)
    with pytest.raises(CompileError, match="no such plugin file"):
        load_plugin(tmp_path)  # a directory is not a plugin file


def test_plugin_that_is_not_python(tmp_path):
    path = write(tmp_path / "passes.txt", PLUGIN)
    with pytest.raises(CompileError) as info:
        load_plugin(path)
    assert str(path) in str(info.value)
    assert "unit_plugin_drop_softmax" not in pipeline.PASSES


# -- Graph.to_dot ---------------------------------------------------------------------------------
NODE_RE = re.compile(r'^  "([^"]*)" \[label="([^"]*)"(.*)\];$')
EDGE_RE = re.compile(r'^  "([^"]*)" -> "([^"]*)"(?: \[label="(\d+)"\])?;$')


def parse_dot(text: str):
    """(graph name, {node: (label, extra)}, [(src, dst, slot or None)]) from to_dot's output."""
    lines = text.splitlines()
    head = re.match(r'^digraph "([^"]*)" \{$', lines[0])
    assert head, lines[0]
    assert lines[-1] == "}" and text.endswith("}\n")
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if m := NODE_RE.match(line):
            assert m.group(1) not in nodes, f"node declared twice: {line}"
            nodes[m.group(1)] = (m.group(2), m.group(3))
        elif m := EDGE_RE.match(line):
            edges.append((m.group(1), m.group(2), None if m.group(3) is None else int(m.group(3))))
        else:
            assert re.match(r"^  (rankdir=\w+|node \[.*\]);$", line), f"unexpected DOT line: {line!r}"
    assert text.count("{") == text.count("}")
    return head.group(1), nodes, edges


def dot_graph() -> Graph:
    g = Graph("dot_net")
    x = g.add_input("x", (None, 4, 4, 3))
    z = g.add_input("z", (None, 4, 4, 3))
    kernel = np.ones((3, 3, 3, 3), np.float32)
    c = g.add(
        "Conv",
        [x],
        name="conv",
        layer="conv_layer",
        attrs={"strides": (1, 1), "dilations": (1, 1), "padding": "same"},
        params={"kernel": kernel},
    )
    twice = g.add("Add", [c, c], name="twice")
    s = g.add("Sub", [z, twice], name="diff")
    r = g.add("Relu", [s], name="act")
    cat = g.add("Concat", [r, x, r], name="cat", attrs={"axis": 3})
    g.set_outputs([cat, r], ["out", "act_out"])
    return g


def test_dot_has_every_node_and_every_edge_with_slots():
    g = dot_graph()
    text = g.to_dot()
    name, nodes, edges = parse_dot(text)
    assert name == "dot_net"
    assert set(nodes) == {n.name for n in g.nodes()}
    for node in g.nodes():
        label, _ = nodes[node.name]
        parts = label.split("\\n")
        assert parts[0] == node.op and parts[1] == node.name
        assert parts[2] == "(?," + ",".join(str(d) for d in node.shape[1:]) + ")"
    expected = []
    for node in g.nodes():
        multi = len(node.inputs) > 1
        for slot, src in enumerate(node.inputs):
            expected.append((src.name, node.name, slot if multi else None))
    assert sorted(edges, key=str) == sorted(expected, key=str)
    assert ("conv", "twice", 0) in edges and ("conv", "twice", 1) in edges
    assert ("z", "diff", 0) in edges and ("twice", "diff", 1) in edges
    assert ("act", "cat", 0) in edges and ("x", "cat", 1) in edges and ("act", "cat", 2) in edges
    assert ("x", "conv", None) in edges and ("diff", "act", None) in edges


def test_dot_marks_inputs_and_outputs():
    _, nodes, _ = parse_dot(dot_graph().to_dot())
    filled = {name for name, (_, extra) in nodes.items() if "filled" in extra}
    assert filled == {"x", "z", "cat", "act"}


def test_dot_is_deterministic_and_quotes_names():
    g = Graph('say "hi"')
    x = g.add_input('in"put', (None, 2))
    g.set_outputs([g.add("Tanh", [x], name='t"anh')])
    text = g.to_dot()
    assert text == g.to_dot()
    name, nodes, edges = parse_dot(text)
    assert name == "say 'hi'"
    assert set(nodes) == {"in'put", "t'anh"}
    assert edges == [("in'put", "t'anh", None)]


def test_dot_of_a_compiled_graph():
    g = dot_graph()
    graph, _ = compiler.run_passes(g, default_passes(), check=True)
    _, nodes, edges = parse_dot(graph.to_dot())
    assert set(nodes) == {n.name for n in graph.nodes()}
    assert len(edges) == sum(len(n.inputs) for n in graph.nodes())


def test_dot_renders_when_graphviz_is_installed(tmp_path):
    text = dot_graph().to_dot()
    parse_dot(text)
    exe = shutil.which("dot")
    if exe is not None:
        done = subprocess.run([exe, "-Tsvg"], input=text.encode(), capture_output=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr.decode()
        assert b"<svg" in done.stdout
