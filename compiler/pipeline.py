"""The pass registry and the pipeline that runs passes in order.

A pass is a function ``Graph -> Graph`` registered under a name. It may instead return
``(graph, summary)`` to say what it did in its own words ("folded 53 BatchNorm"); otherwise the
summary is the change in op counts. ``check=True`` lints the graph after every pass, which is
how the tests catch a pass that leaves a stale shape or a dangling edge.

This module is core: it knows no pass. The built-in passes and their order live in
:mod:`passes` (``DEFAULT_PIPELINE``, one explicit list); the driver, :mod:`compiler.api`, puts
that list in front of whatever users registered with ``default=True``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import CompileError, GraphError
from .ir import Graph

PassFn = Callable[[Graph], "Graph | tuple[Graph, str] | None"]
PASSES: dict[str, PassFn] = {}
#: Names registered with ``default=True``, in registration order: the default pipeline's tail.
_APPENDED: list[str] = []


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
    """Register ``fn`` as pass ``name``; ``default=True`` appends it to the default pipeline
    (after the built-in passes, in the order such passes are registered)."""

    def register(fn: PassFn) -> PassFn:
        PASSES[name] = fn
        fn.pass_name = name  # type: ignore[attr-defined]
        if default and name not in _APPENDED:
            _APPENDED.append(name)
        return fn

    return register


def appended_defaults() -> list[str]:
    """The passes registered with ``default=True``, in registration order (a fresh list)."""
    return list(_APPENDED)


def _diff(before: dict[str, int], after: dict[str, int]) -> str:
    parts = []
    for op in sorted(set(before) | set(after)):
        delta = after.get(op, 0) - before.get(op, 0)
        if delta:
            parts.append(f"{op} {delta:+d}")
    return ", ".join(parts) or "no change"


def resolve(names: Sequence[str | PassFn]) -> list[tuple[str, PassFn]]:
    """Names (or pass functions) → (name, function) pairs; an unknown name lists the known ones."""
    out = []
    for item in names:
        if callable(item):
            out.append((getattr(item, "pass_name", item.__name__), item))
            continue
        if item not in PASSES:
            raise CompileError(f"unknown pass '{item}'", hint="known passes: " + ", ".join(sorted(PASSES)))
        out.append((item, PASSES[item]))
    return out


def run_passes(
    graph: Graph,
    names: Sequence[str | PassFn],
    *,
    check: bool = False,
    on_step: Callable[[PassReport, Graph], None] | None = None,
) -> tuple[Graph, list[PassReport]]:
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
        report = PassReport(
            name, summary or _diff(before, graph.op_counts()), n_before, len(graph), time.perf_counter() - start
        )
        reports.append(report)
        if on_step is not None:
            on_step(report, graph)
    return graph, reports


def parse_spec(spec: str | None, defaults: Sequence[str]) -> list[str]:
    """A pipeline from the CLI's ``--passes`` text, given the default pipeline.

    ``a,b`` is exactly those passes in that order; ``-c`` removes ``c`` and ``+d`` (or ``d``
    after ``default``) appends ``d``; ``default`` stands for ``defaults``. With only
    ``+``/``-`` items the default pipeline is the starting point: ``-fuse_conv,+drop_softmax``.
    """
    if spec is None or not spec.strip():
        return list(defaults)
    items = [item.strip() for item in spec.split(",") if item.strip()]
    names: list[str] = [] if any(i[0] not in "+-" for i in items) else list(defaults)
    for item in items:
        if item == "default":
            names.extend(defaults)
        elif item.startswith("-"):
            if item[1:] not in names:
                raise CompileError(
                    f"cannot remove pass '{item[1:]}': it is not in the pipeline", hint="pipeline: " + ", ".join(names)
                )
            names = [n for n in names if n != item[1:]]
        else:
            names.append(item.lstrip("+"))
    resolve(names)  # unknown names fail here, with the list of known passes
    return names


def load_plugin(path: str | os.PathLike[str]) -> None:
    """Import a user's Python file so that its ``@register_pass`` functions join the registry."""
    path = Path(path)
    if not path.is_file():
        raise CompileError("no such plugin file", file=path)
    name = f"kerascc_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if path.suffix.lower() != ".py" or spec is None or spec.loader is None:  # never .pyc bytecode or a .so
        raise CompileError("not a Python file", file=path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except CompileError as err:
        raise err.with_context(file=path) from err
    except SystemExit as exc:  # sys.exit() at a plugin's top level would end the compile silently
        del sys.modules[name]
        raise CompileError(f"plugin called sys.exit({exc.code!r:.40}) while loading", file=path) from exc
    except Exception as exc:
        del sys.modules[name]
        raise CompileError(f"plugin failed to load: {type(exc).__name__}: {exc}", file=path) from exc
