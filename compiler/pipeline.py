"""The pass registry and the pipeline that runs passes in order.

A pass is a function ``Graph -> Graph`` registered under a name. It may instead return
``(graph, summary)`` to say what it did in its own words ("folded 53 BatchNorm"); otherwise the
summary is the change in op counts. ``check=True`` lints the graph after every pass, which is
how the tests catch a pass that leaves a stale shape or a dangling edge.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import CompileError, GraphError
from .ir import Graph

PassFn = Callable[[Graph], "Graph | tuple[Graph, str] | None"]
PASSES: dict[str, PassFn] = {}
_DEFAULT: list[str] = []


@dataclass(frozen=True)
class PassReport:
    """What one pass did."""

    name: str
    summary: str
    nodes_before: int
    nodes_after: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.name}: {self.summary}"


def register_pass(name: str, *, default: bool = False) -> Callable[[PassFn], PassFn]:
    """Register ``fn`` as pass ``name``; ``default=True`` appends it to :func:`default_passes`."""

    def register(fn: PassFn) -> PassFn:
        PASSES[name] = fn
        fn.pass_name = name  # type: ignore[attr-defined]
        if default and name not in _DEFAULT:
            _DEFAULT.append(name)
        return fn

    return register


def default_passes() -> list[str]:
    """The standard pipeline, in order (a fresh list: extend it freely)."""
    _load_builtin_passes()
    return list(_DEFAULT)


def _load_builtin_passes() -> None:
    import passes  # noqa: F401  (registers the built-in passes)


def _diff(before: dict[str, int], after: dict[str, int]) -> str:
    parts = []
    for op in sorted(set(before) | set(after)):
        delta = after.get(op, 0) - before.get(op, 0)
        if delta:
            parts.append(f"{op} {delta:+d}")
    return ", ".join(parts) or "no change"


def resolve(names: Sequence[str | PassFn]) -> list[tuple[str, PassFn]]:
    _load_builtin_passes()
    out = []
    for item in names:
        if callable(item):
            out.append((getattr(item, "pass_name", item.__name__), item))
            continue
        if item not in PASSES:
            raise CompileError(f"unknown pass '{item}'", hint="known passes: " + ", ".join(sorted(PASSES)))
        out.append((item, PASSES[item]))
    return out


def run_passes(graph: Graph, names: Sequence[str | PassFn], *, check: bool = False,
               on_step: Callable[[PassReport, Graph], None] | None = None) -> tuple[Graph, list[PassReport]]:
    """Run passes in order; returns the final graph and one report per pass."""
    reports = []
    for name, fn in resolve(names):
        before, n_before = graph.op_counts(), len(graph)
        start = time.perf_counter()
        try:
            result = fn(graph)
        except GraphError as err:
            if err.message.startswith("pass '"):
                raise
            raise GraphError(f"pass '{name}': {err.message}", file=err.file, layer=err.layer, hint=err.hint) from err
        except CompileError:
            raise
        except Exception as exc:  # a user pass that crashed: name it rather than dump a traceback
            raise GraphError(f"pass '{name}' failed: {type(exc).__name__}: {exc}") from exc
        summary = None
        if isinstance(result, tuple):
            result, summary = result
        graph = graph if result is None else result
        if not isinstance(graph, Graph):
            raise GraphError(f"pass '{name}' returned {type(graph).__name__}, expected a Graph")
        if check:
            try:
                graph.check()
            except GraphError as err:
                raise GraphError(f"after pass '{name}': {err.message}") from err
        report = PassReport(name, summary or _diff(before, graph.op_counts()), n_before, len(graph),
                            time.perf_counter() - start)
        reports.append(report)
        if on_step is not None:
            on_step(report, graph)
    return graph, reports
