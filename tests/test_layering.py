"""Imports run one way: the layering of DESIGN.md, checked by reading every module's imports.

Each module's ``import``/``from … import`` statements are read with :mod:`ast`, at module level
and inside functions, and resolved to project modules::

    cli.py ──► compiler (public API) ──► compiler.api (driver) ──► frontends · passes · backend · runtime
                                                                           │
             core: compiler.errors, limits, io, ir, ops, rewrite, pipeline, static_shapes, draw, …

* **core**: every ``compiler`` module but the public API (``compiler/__init__.py``), the driver
  (``compiler.api``) and the backend. It imports only the core.
* **frontends**, **passes**, **backend** (``compiler.onnx_backend``, and ``compiler.backend`` with
  everything below it): the core and their own package.
* **runtime**: its own package and, of the core, only ``compiler.io`` and ``compiler.errors``.
* **driver**: ``compiler.api`` is the one compiler module that imports frontends, passes, the
  backend and the runtime. The runtime is below the driver because one compile step is runtime
  work: INT8 calibration reads images and preprocesses them exactly as ``run`` does, then runs the
  fp32 and INT8 models to compare them. The
  runtime never imports the driver, the frontends, the passes or the backend, so no cycle forms.
* **public API**: the core and the driver, whose names it re-exports.
* **cli.py**: the compiler (public API and core) and the runtime.

A function-level import of a project module is an error unless :data:`LAZY` lists it with its
reason; lazy imports of heavy optional third-party packages (onnxruntime, h5py, keras) are not
checked. No cycle may form between project modules, counting function-level imports, except
through the listed :data:`CYCLES_TO_BREAK`; imports under ``if TYPE_CHECKING:`` never run, so they
obey the layering but form no cycle. An entry of either list that no longer matches an
import fails, so both lists only shrink.

Importing any submodule of ``compiler`` first runs ``compiler/__init__.py`` (Python initialises
the parent package), which imports the driver and so the layers above the core, while the layer
that started it may be half initialised. Edges are judged as written, and
:func:`test_each_package_can_be_imported_first` proves that every import order works.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("compiler", "frontends", "passes", "runtime")
RUNTIME_CORE = {"compiler.io", "compiler.errors"}

#: Function-level imports of project modules that are not cycle dodges: (importer, imported) → why.
LAZY: dict[tuple[str, str], str] = {
    (
        "frontends",
        "frontends.keras_python",
    ): "building the .py frontend's stand-in keras/tensorflow modules costs about 80 ms; it happens only "
    "when a .py model file is read",
    (
        "compiler.api",
        "frontends.keras_python",
    ): "the same stand-ins, for --arg parsing and export-json: a JSON compile's start-up does not pay for them",
}

#: Function-level imports that close an import cycle, tolerated until the cycle is broken.
#: Empty, and it stays so: a new entry needs a reason and a plan to remove it.
CYCLES_TO_BREAK: dict[tuple[str, str], str] = {}

#: Which layers each layer may import (runtime's use of the core is narrowed by RUNTIME_CORE).
MAY_IMPORT = {
    "core": {"core"},
    "frontends": {"core", "frontends"},
    "passes": {"core", "passes"},
    "backend": {"core", "backend"},
    "runtime": {"core", "runtime"},
    "driver": {"core", "frontends", "passes", "backend", "runtime"},
    "public API": {"core", "driver"},
    "cli": {"public API", "core", "runtime"},
}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    line: int
    lazy: bool  # inside a function: runs when called, not when the module is imported
    typing_only: bool = False  # under `if TYPE_CHECKING:`: read by type checkers, never run

    def __str__(self) -> str:
        return f"{self.importer} imports {self.target} ({module_path(self.importer)}:{self.line})"


def layer(module: str) -> str:
    if module == "cli":
        return "cli"
    if module == "compiler":
        return "public API"
    if module == "compiler.api":
        return "driver"
    if module in ("compiler.onnx_backend", "compiler.backend") or module.startswith("compiler.backend."):
        return "backend"
    top = module.split(".")[0]
    return "core" if top == "compiler" else top


@cache
def modules() -> dict[str, Path]:
    """Every project module by dotted name (packages by their ``__init__.py``)."""
    found = {"cli": ROOT / "cli.py"}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def module_path(name: str) -> str:
    return str(modules()[name].relative_to(ROOT))


def _is_package_dir(name: str) -> bool:
    """A folder of project modules without ``__init__.py`` (a namespace package) is a module too."""
    folder = ROOT.joinpath(*name.split("."))
    return name.split(".")[0] in PACKAGES and folder.is_dir() and any(folder.glob("*.py"))


def _project_module(name: str) -> str | None:
    """The project module an import of ``name`` runs: the longest known prefix, or None."""
    if name.split(".")[0] not in (*PACKAGES, "cli"):
        return None
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules() or _is_package_dir(candidate):
            return candidate
    return None


def _imports_of(name: str, path: Path) -> list[Import]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def add(target: str | None, node: ast.stmt, lazy: bool, typing_only: bool) -> None:
        if target is not None and target != name:
            found.append(Import(name, target, node.lineno, lazy, typing_only))

    def visit(node: ast.AST, lazy: bool, typing_only: bool = False) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, True, typing_only)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), lazy, True)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), lazy, typing_only)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    add(_project_module(alias.name), child, lazy, typing_only)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base_parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(base_parts + ([child.module] if child.module else []))
                else:
                    base = child.module or ""
                for alias in child.names:  # `from pkg import submodule` imports the submodule
                    add(_project_module(f"{base}.{alias.name}") or _project_module(base), child, lazy, typing_only)
            else:
                visit(child, lazy, typing_only)

    visit(ast.parse(path.read_text(), str(path)), False)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@cache
def all_imports() -> tuple[Import, ...]:
    return tuple(imp for name, path in modules().items() for imp in _imports_of(name, path))


def violations(source_layer: str) -> list[str]:
    bad = []
    for imp in all_imports():
        if layer(imp.importer) != source_layer:
            continue
        target_layer = layer(imp.target)
        if target_layer not in MAY_IMPORT[source_layer]:
            bad.append(f"{imp}: {source_layer} may not import {target_layer}")
        elif source_layer == "runtime" and target_layer == "core" and imp.target not in RUNTIME_CORE:
            bad.append(f"{imp}: the runtime uses only {', '.join(sorted(RUNTIME_CORE))} of the core")
    return bad


# -- the walk itself ---------------------------------------------------------------------------------------
def test_the_walk_sees_module_level_function_level_and_relative_imports() -> None:
    seen = {(imp.importer, imp.target, imp.lazy) for imp in all_imports()}
    assert ("compiler.api", "frontends", False) in seen
    assert ("compiler.api", "compiler.io", False) in seen  # `from . import io`
    assert ("passes", "passes.fuse_conv", False) in seen  # `from . import cleanup, …, fuse_conv`
    assert ("frontends", "frontends.keras_python", True) in seen  # inside load()
    assert ("cli", "compiler", False) in seen
    assert {"compiler", "compiler.api", "compiler.io", "cli", "runtime.quantize", "passes.cleanup"} <= set(modules())


def test_layers_are_assigned_as_designed() -> None:
    assert layer("compiler.errors") == layer("compiler.io") == layer("compiler.pipeline") == "core"
    backend = ("compiler.onnx_backend", "compiler.backend", "compiler.backend.targets.ort")
    assert {layer(name) for name in backend} == {"backend"}
    assert (layer("compiler.api"), layer("compiler"), layer("cli")) == ("driver", "public API", "cli")
    assert layer("frontends.keras_shim.core") == "frontends" and layer("runtime.aot") == "runtime"


# -- the layering ------------------------------------------------------------------------------------------
def test_core_imports_nothing_above_it() -> None:
    assert violations("core") == []


@pytest.mark.parametrize("source_layer", ["frontends", "passes", "backend"])
def test_frontends_passes_and_backend_import_only_the_core_and_their_own_package(source_layer: str) -> None:
    assert violations(source_layer) == []


def test_runtime_imports_only_the_cores_io_and_errors() -> None:
    assert violations("runtime") == []


def test_the_driver_is_the_only_compiler_module_importing_the_layers_above_the_core() -> None:
    assert violations("driver") == [] and violations("public API") == []
    above = {"frontends", "passes", "runtime"}
    importers = {
        imp.importer
        for imp in all_imports()
        if imp.importer.split(".")[0] == "compiler"
        and layer(imp.importer) != "backend"
        and (layer(imp.target) in above or layer(imp.target) == "backend")
    }
    assert importers == {"compiler.api"}


def test_cli_imports_only_the_compiler_and_the_runtime() -> None:
    assert violations("cli") == []


def test_function_level_project_imports_are_listed_with_a_reason() -> None:
    listed = {**LAZY, **CYCLES_TO_BREAK}
    unlisted = [str(imp) for imp in all_imports() if imp.lazy and (imp.importer, imp.target) not in listed]
    assert unlisted == [], "import these at module level, or list them in LAZY with the reason"
    present = {(imp.importer, imp.target) for imp in all_imports() if imp.lazy}
    stale = [f"{a} → {b}" for a, b in listed if (a, b) not in present]
    assert stale == [], "these listed imports are gone: delete their entries"
    assert all(reason.strip() for reason in listed.values())


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in all_imports():
        if (imp.importer, imp.target) not in CYCLES_TO_BREAK and not imp.typing_only:  # type-only never runs
            graph[imp.importer].add(imp.target)
    cycles = [sorted(component) for component in _strongly_connected(graph) if len(component) > 1]
    assert cycles == []


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (the import graph is deep enough to worry a recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.get(succ, ())))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
    return components


def test_the_cycle_finder_finds_cycles() -> None:
    found = _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}})
    assert sorted(map(sorted, found)) == [["a", "b", "c"], ["d"], ["e"]]


# -- import order ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("first", PACKAGES)
def test_each_package_can_be_imported_first(first: str) -> None:
    """Whichever layer a program imports first, everything initialises (see the module docstring).

    A package's ``__init__.py`` runs before any of its modules, so importing ``runtime.quantize``
    first starts exactly as importing ``runtime`` does: one fresh interpreter per package suffices.
    """
    code = (
        f"import {first}\nimport compiler, frontends, passes, runtime\n"
        "assert compiler.default_passes() and callable(frontends.load) and callable(runtime.lower_precision)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
