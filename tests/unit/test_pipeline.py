"""compiler.pipeline: the pass registry, default_passes and run_passes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import compiler
import passes
from compiler import CompileError, Graph, GraphError, PassReport, default_passes, pipeline, register_pass, run_passes

ROOT = Path(__file__).resolve().parents[2]
BUILTIN = ["remove_identity", "remove_dead", "fold_batchnorm", "resolve_padding", "fuse_add_relu"]

#: The default pipeline, whole and in order. Changing it is a decision taken in passes/__init__.py
#: (DEFAULT_PIPELINE), in the README's table of passes, and here.
DEFAULT_PIPELINE = [
    "remove_identity",
    "remove_dead",
    "fold_constants",
    "merge_shape_ops",
    "fold_batchnorm",
    "resolve_padding",
    "fold_affine",
    "fold_channel_gather",
    "fuse_add_relu",
    "fuse_conv",
    "fuse_bias_gelu",
    "fuse_skip_layernorm",
    "fuse_attention",
    "recurrent_paths",
]


@pytest.fixture
def registry():
    """Register passes for one test; every name registered through it is removed afterwards."""
    names: list[str] = []

    def register(name: str, fn, *, default: bool = False):
        names.append(name)
        return register_pass(name, default=default)(fn)

    default_passes()  # built-ins first, so the cleanup never removes them
    yield register
    for name in names:
        pipeline.PASSES.pop(name, None)
        while name in pipeline._APPENDED:
            pipeline._APPENDED.remove(name)


def small_graph() -> Graph:
    g = Graph("small")
    x = g.add_input("x", (None, 4))
    a = g.add("Identity", [x])
    b = g.add("Relu", [a])
    c = g.add("Identity", [b])
    g.set_outputs([c], ["out"])
    return g


def drop_identities(graph: Graph) -> Graph:
    for node in graph.nodes("Identity"):
        graph.bypass(node)
    return graph


# -- registry -----------------------------------------------------------------------------------
def test_default_passes_holds_the_builtins_in_order_and_is_fresh():
    names = default_passes()
    positions = [names.index(n) for n in BUILTIN]
    assert positions == sorted(positions)
    names.append("bogus")
    names.clear()
    assert default_passes() == default_passes() != []
    assert "bogus" not in default_passes()
    assert default_passes() is not default_passes()
    assert all(n in pipeline.PASSES for n in default_passes())


# -- the default pipeline, whole ------------------------------------------------------------------
def test_default_pipeline_is_the_one_explicit_list_in_order():
    assert default_passes() == DEFAULT_PIPELINE
    assert list(passes.DEFAULT_PIPELINE) == DEFAULT_PIPELINE


def test_every_default_pass_is_registered_under_its_name_with_a_docstring():
    for name in DEFAULT_PIPELINE:
        fn = pipeline.PASSES[name]
        assert fn.pass_name == name
        assert (fn.__doc__ or "").strip(), f"pass '{name}' has no docstring"


def test_built_in_passes_do_not_order_themselves_by_registering():
    assert not set(pipeline.appended_defaults()) & set(DEFAULT_PIPELINE)


def test_passes_registered_as_default_come_after_the_built_in_list_in_registration_order(registry):
    registry("unit_tail_b", drop_identities, default=True)
    registry("unit_tail_a", drop_identities, default=True)
    assert default_passes() == DEFAULT_PIPELINE + ["unit_tail_b", "unit_tail_a"]


def test_readme_table_lists_the_default_pipeline_in_order():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("The default pipeline (`compiler.default_passes()`)") :]
    section = section[: section.index("### Writing your own pass")]
    assert re.findall(r"^\| `(\w+)` \|", section, flags=re.M) == DEFAULT_PIPELINE


def test_default_pipeline_on_resnet50_step_by_step():
    """The whole pipeline on a real network: each pass in its place doing its share."""
    graph = compiler.load(ROOT / "examples" / "resnet50.json")
    steps = []
    graph, reports = run_passes(graph, default_passes(), check=True, on_step=lambda rep, g: steps.append(rep.name))
    assert steps == DEFAULT_PIPELINE
    assert [str(r) for r in reports] == [
        "remove_identity: nothing to remove",
        "remove_dead: nothing to remove",
        "fold_constants: folded 0 ops on constants",
        "merge_shape_ops: merged 0 Pad/Reshape chains",
        "fold_batchnorm: folded 53 BatchNorm",
        "resolve_padding: resolved 52 padding modes, merged 2 ZeroPadding2D",
        "fold_affine: folded 0 constant scale/shift (0 from BatchNorm)",
        "fold_channel_gather: folded 0 channel gathers into kernels",
        "fuse_add_relu: fused 16 Add+Relu",
        "fuse_conv: fused 16 residual Add, 33 activations into Conv/Dense",
        "fuse_bias_gelu: fused 0 Dense bias+Gelu",
        "fuse_skip_layernorm: fused 0 Add+LayerNorm",
        "fuse_attention: fused 0 attention",
        "recurrent_paths: no recurrent layers",
    ]
    assert not {"BatchNorm", "FusedAddRelu", "Relu"} & set(graph.op_counts())


def test_register_pass_names_the_function_and_chooses_default(registry):
    fn = registry("unit_extra", drop_identities)
    assert fn is drop_identities and fn.pass_name == "unit_extra"
    assert pipeline.PASSES["unit_extra"] is drop_identities
    assert "unit_extra" not in default_passes()

    def other(graph):
        return graph

    registry("unit_default", other, default=True)
    assert default_passes()[-1] == "unit_default"
    registry("unit_default", other, default=True)  # registering again does not duplicate it
    assert default_passes().count("unit_default") == 1


def test_registry_fixture_restores_the_registry():
    assert "unit_extra" not in pipeline.PASSES and "unit_default" not in pipeline.PASSES
    assert "unit_default" not in default_passes()


def test_decorator_form_as_the_design_shows(registry):
    def drop_softmax(graph: compiler.Graph) -> compiler.Graph:
        """Remove a trailing Softmax."""
        for node in graph.nodes("Softmax"):
            if node.is_output:
                graph.bypass(node)
        return graph

    registry("unit_drop_softmax", drop_softmax)
    g = Graph()
    x = g.add_input("x", (None, 3))
    g.set_outputs([g.add("Softmax", [g.add("Tanh", [x])], attrs={"axis": 1})], ["p"])
    g, reports = run_passes(g, ["unit_drop_softmax"], check=True)
    assert [n.op for n in g.outputs] == ["Tanh"] and g.output_names == ["p"]
    assert str(reports[0]) == "unit_drop_softmax: Softmax -1"


# -- run_passes ---------------------------------------------------------------------------------
def test_pass_returning_a_graph_is_summarized_by_op_count_diff(registry):
    registry("unit_drop_identities", drop_identities)
    g, reports = run_passes(small_graph(), ["unit_drop_identities"])
    (report,) = reports
    assert isinstance(report, PassReport)
    assert report.name == "unit_drop_identities"
    assert report.summary == "Identity -2"
    assert (report.nodes_before, report.nodes_after) == (4, 2)
    assert report.seconds >= 0
    assert str(report) == "unit_drop_identities: Identity -2"
    assert g.op_counts() == {"Input": 1, "Relu": 1}


def test_summary_lists_every_changed_op_sorted_with_signs(registry):
    def swap(graph: Graph) -> Graph:
        relu = graph.nodes("Relu")[0]
        new = graph.add("Sigmoid", relu.inputs)
        graph.add("Tanh", [new])  # dead, but still counted until someone removes it
        graph.replace_all_uses(relu, new)
        graph.remove(relu)
        return graph

    registry("unit_swap", swap)
    _, reports = run_passes(small_graph(), ["unit_swap"])
    assert reports[0].summary == "Relu -1, Sigmoid +1, Tanh +1"


def test_pass_changing_nothing_says_so(registry):
    registry("unit_noop", lambda graph: graph)
    _, reports = run_passes(small_graph(), ["unit_noop"])
    assert reports[0].summary == "no change"


def test_pass_returning_graph_and_summary(registry):
    registry("unit_with_summary", lambda graph: (drop_identities(graph), "dropped 2 identities"))
    g, reports = run_passes(small_graph(), ["unit_with_summary"])
    assert reports[0].summary == "dropped 2 identities"
    assert "Identity" not in g.op_counts()


def test_pass_returning_none_keeps_the_mutated_graph(registry):
    def in_place(graph):
        drop_identities(graph)

    registry("unit_in_place", in_place)
    g0 = small_graph()
    g, reports = run_passes(g0, ["unit_in_place"])
    assert g is g0 and reports[0].summary == "Identity -2"


def test_pass_returning_a_new_graph_replaces_it(registry):
    replacement = Graph("other")
    x = replacement.add_input("z", (None, 2))
    replacement.set_outputs([x])
    registry("unit_replace", lambda graph: replacement)
    g, reports = run_passes(small_graph(), ["unit_replace"])
    assert g is replacement
    assert (reports[0].nodes_before, reports[0].nodes_after) == (4, 1)


def test_passes_run_in_the_given_order_and_callables_are_accepted(registry):
    seen = []

    def first(graph):
        seen.append("first")
        return graph

    def unregistered_pass(graph):
        seen.append("callable")
        return graph

    registry("unit_first", first)
    steps = []
    _, reports = run_passes(
        small_graph(),
        ["unit_first", unregistered_pass, "unit_first"],
        on_step=lambda rep, graph: steps.append((rep.name, len(graph))),
    )
    assert seen == ["first", "callable", "first"]
    assert [r.name for r in reports] == ["unit_first", "unregistered_pass", "unit_first"]
    assert steps == [("unit_first", 4), ("unregistered_pass", 4), ("unit_first", 4)]


def test_crashing_pass_becomes_a_graph_error_naming_it(registry):
    def crash(graph):
        raise ValueError("boom")

    registry("unit_crash", crash)
    with pytest.raises(GraphError) as info:
        run_passes(small_graph(), ["unit_crash"])
    assert str(info.value) == "pass 'unit_crash' failed: ValueError: boom"
    assert isinstance(info.value.__cause__, ValueError)


def test_compile_error_from_a_pass_is_not_rewrapped(registry):
    err = CompileError("bad model", layer="dense_1")

    def refuse(graph):
        raise err

    registry("unit_refuse", refuse)
    with pytest.raises(CompileError) as info:
        run_passes(small_graph(), ["unit_refuse"])
    assert info.value is err


def test_graph_error_raised_inside_a_pass_names_the_pass(registry):
    def careless(graph):
        relu = graph.nodes("Relu")[0]
        graph.remove(relu)  # still has users: the IR refuses
        return graph

    registry("unit_careless", careless)
    with pytest.raises(GraphError) as info:
        run_passes(small_graph(), ["unit_careless"])
    assert "still has users" in str(info.value)
    assert "unit_careless" in str(info.value)


@pytest.mark.parametrize("result", [42, "graph", {"graph": None}, (None, "summary")])
def test_pass_returning_something_else_is_a_graph_error(registry, result):
    registry("unit_bad_return", lambda graph: result)
    g = small_graph()
    if result == (None, "summary"):  # (None, summary) means "same graph", as a bare None does
        out, reports = run_passes(g, ["unit_bad_return"])
        assert out is g and reports[0].summary == "summary"
        return
    with pytest.raises(GraphError, match=f"pass 'unit_bad_return' returned {type(result).__name__}, expected a Graph"):
        run_passes(g, ["unit_bad_return"])


def test_unknown_pass_name_lists_known_passes():
    with pytest.raises(CompileError) as info:
        run_passes(small_graph(), ["remove_dead", "no_such_pass"])
    err = info.value
    assert not isinstance(err, GraphError)
    assert err.message == "unknown pass 'no_such_pass'"
    assert err.hint.startswith("known passes: ")
    known = err.hint.removeprefix("known passes: ").split(", ")
    assert known == sorted(known)
    assert set(BUILTIN) <= set(known)


def test_unknown_pass_is_reported_before_anything_runs(registry):
    ran = []
    registry("unit_marker", lambda graph: ran.append(1) or graph)
    with pytest.raises(CompileError):
        run_passes(small_graph(), ["unit_marker", "no_such_pass"])
    assert ran == []


def test_check_catches_a_pass_that_corrupts_shapes(registry):
    def corrupt(graph):
        graph.nodes("Relu")[0].shape = (None, 5)
        return graph

    registry("unit_corrupt", corrupt)
    g, _ = run_passes(small_graph(), ["unit_corrupt"])  # unchecked: goes unnoticed
    assert g.nodes("Relu")[0].shape == (None, 5)
    with pytest.raises(GraphError, match=r"^after pass 'unit_corrupt': node 'relu' \(Relu\) records shape"):
        run_passes(small_graph(), ["unit_corrupt"], check=True)


def test_check_catches_a_pass_that_leaves_a_slot_gap(registry):
    def gap(graph):
        relu = graph.nodes("Relu")[0]
        graph._g.remove_edges_from(list(graph._g.in_edges(relu.name)))
        src = graph.inputs[0]
        graph._g.add_edge(src.name, relu.name, index=1)
        return graph

    registry("unit_gap", gap)
    with pytest.raises(GraphError, match=r"after pass 'unit_gap'.*input slots \[1\]"):
        run_passes(small_graph(), ["unit_gap"], check=True)


def test_builtin_pipeline_runs_clean_under_check():
    g, reports = run_passes(small_graph(), default_passes(), check=True)
    assert [r.name for r in reports] == default_passes()
    assert g.op_counts() == {"Input": 1, "Relu": 1}
    assert reports[0].summary == "removed 2 Identity"
