"""Keras model code (``model.py``) → the same Keras 3 config ``model.to_json()`` would give.

The file runs once, as ordinary Python, with stand-in ``keras``/``tensorflow`` modules
(:mod:`frontends.keras_shim`) that record every layer and call. The model is then found:

1. ``--entry NAME``: a module-level Model called NAME, or a function NAME called with ``--arg``
   keyword arguments;
2. otherwise a module-level Model (the one called ``model`` when there are several);
3. otherwise the one module-level function that builds a Model, callable with its defaults (and
   ``--arg``); when several are, the one that constructs the Model itself (not a ``main()``
   returning ``build_model()``'s), and of those the one the file's own code calls and keeps the
   result of (``model = build_autoencoder()``, e.g. under ``if __name__ == "__main__":``).

Nothing else in the file is called. Whether a function builds a Model is read from its code,
not found out by calling it: one of its ``return`` statements returns ``Model(...)``,
``Sequential(...)``, a ``keras.applications`` model, a variable assigned from one of those, or
the result of another such function. So ``main()``, ``train()`` or ``download_dataset()`` never
run, and the module's own code runs exactly once, as ``python -c "import model; model.build()"``
would run it, which also gives Keras's automatic layer names.

Running a file executes its code: a ``.py`` description is a program, not data. Only a file
named ``.py`` is ever run. For :func:`model_config` (what ``compile``, ``inspect`` and
``export-json`` use) it runs in a child process where the system allows one (a fork, on Linux): whatever
the file does at the end (``os._exit(0)``, a thread left running, a ``BaseException``) stays
there, and this process gets the model's config or one error.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

from compiler.errors import CompileError, FormatError
from compiler.io import save_bytes

from .keras_shim import Model, Recorder, applications, stand_ins
from .keras_shim.core import InputLayer, Layer, ModelCodeError
from .keras_shim.custom import TRACE_KEY, LambdaLayer, TracedLayer, registered_name
from .layers import LAYERS

MODULE_NAME = "__kerascc_model__"  # not "__main__": training code under `if __name__ == "__main__"` stays out


def parse_args(pairs: list[str] | None) -> dict[str, Any]:
    """``key=value`` strings to keyword arguments: Python literals where they parse, else strings."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise CompileError(f"--arg '{pair}' is not key=value", hint="e.g. --arg input_shape=(128,128,3)")
        try:
            out[key] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            out[key] = text.strip()
    return out


def model_file(path: str | Path) -> Path:
    """The path of a Python model file, refused before it is read unless it is a ``.py`` file.

    A ``.json``, ``.keras`` or ``.h5`` file is data whatever it holds: it is never run.
    """
    path = Path(path)
    if path.suffix.lower() != ".py":
        raise FormatError(
            "only a .py file is run as Keras model code, and this one is not run",
            file=str(path),
            hint="pass the model code as a .py file; .json, .keras and .h5 files are data for compile and inspect",
        )
    if not path.exists():
        raise FormatError("no such file", file=str(path))
    if not path.is_file():
        raise FormatError("is not a regular file, so not a model file", file=str(path))
    return path


class _Run:
    """One execution of the model file: its namespace, its syntax tree and its recording."""

    def __init__(self, path: Path, tree: ast.Module) -> None:
        self.path = path
        self.file = str(path)
        self.tree = tree
        self.rec = Recorder(self.file)
        self.namespace: dict[str, Any] = {}


@contextmanager
def _running(path: Path) -> Iterator[_Run]:
    """Execute the file with the stand-ins installed; errors become one line at the user's code.

    The file sees ``sys.argv`` as ``python model.py`` would give it (a module-level argparse does
    not read kerascc's options), and writes no ``__pycache__`` next to the user's helper modules.
    """
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"cannot read the model file ({exc})", file=str(path)) from None
    try:
        tree = ast.parse(source, str(path))
        code = compile(tree, str(path), "exec")
    except SyntaxError as exc:
        raise FormatError(f"syntax error: {exc.msg}", file=f"{path}:{exc.lineno}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        raise FormatError(f"cannot compile the model file ({type(exc).__name__})", file=str(path)) from None
    run = _Run(path, tree)
    run.namespace.update({"__name__": MODULE_NAME, "__file__": str(path.resolve()), "__builtins__": builtins})
    directory = str(path.resolve().parent)
    before = set(sys.modules)
    argv, bytecode = sys.argv, sys.dont_write_bytecode
    sys.path.insert(0, directory)
    sys.argv, sys.dont_write_bytecode = [str(path)], True
    try:
        with stand_ins(run.rec):
            try:
                with redirect_stdout(sys.stderr):  # the file's prints and summary(): stdout stays the command's
                    exec(code, run.namespace)  # noqa: S102  (running the model file is the point)
                yield run
            except (CompileError, KeyboardInterrupt):
                raise
            except BaseException as exc:  # noqa: BLE001  (any failure of the user's code, SystemExit too)
                raise _user_error(exc, run.file) from None
    finally:
        sys.argv, sys.dont_write_bytecode = argv, bytecode
        sys.path.remove(directory)
        for name in set(sys.modules) - before:  # the file's own helper modules, bound to the stand-ins
            if str(getattr(sys.modules[name], "__file__", "") or "").startswith(directory):
                del sys.modules[name]


def _user_error(exc: BaseException, file: str) -> CompileError:
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == file:
            line = lineno
    where = f"{file}:{line}" if line is not None else file
    try:
        text = str(exc) if not isinstance(exc, SystemExit) else f"the file called exit({exc.code})"
    except Exception:  # noqa: BLE001  (an exception whose __str__ fails)
        text = "(no message)"
    return ModelCodeError(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, file=where)


def _call(run: _Run, fn: Any, name: str, kwargs: dict[str, Any]) -> Any:
    try:
        with redirect_stdout(sys.stderr):
            return fn(**kwargs)
    except (CompileError, KeyboardInterrupt):
        raise
    except BaseException as exc:  # noqa: BLE001
        err = _user_error(exc, run.file)
        err.message = f"{name}(): {err.message}"
        raise err from None


def _accepts(fn: Any, kwargs: dict[str, Any]) -> bool:
    """Can ``fn(**kwargs)`` run: every parameter without default is given, every key is accepted."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    params = sig.parameters.values()
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if not var_kw and any(k not in names for k in kwargs):
        return False
    return all(
        p.default is not p.empty or p.name in kwargs or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params
    )


def _is(value: Any, cls: type) -> bool:
    """``isinstance`` by the value's real type: ``isinstance`` may ask an object for its
    ``__class__``, which a class in the file can make run code."""
    return issubclass(type(value), cls)


def _own_function(run: _Run, value: Any) -> bool:
    return _is(value, FunctionType) and value.__code__.co_filename == run.file


def _functions(run: _Run) -> list[str]:
    return [name for name, value in run.namespace.items() if _own_function(run, value) and not name.startswith("_")]


def _models(run: _Run) -> dict[str, Model]:
    return {name: value for name, value in run.namespace.items() if _is(value, Model)}


# -- which functions build a model, read from the code --------------------------------------------
def _own_statements(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node of a body, in order, but not what is inside the functions, lambdas and classes it defines."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))


class _Builders:
    """Tells which module-level functions of the file return a Model, without calling any."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.defs: dict[str, ast.FunctionDef] = {}
        for node in _own_statements(run.tree.body):
            if isinstance(node, ast.FunctionDef):
                self.defs[node.name] = node  # the last definition is the one the namespace holds
        self.known: dict[str, bool] = {}
        self.direct: set[str] = set()  # builders that construct the Model themselves

    def _value(self, node: ast.expr) -> Any:
        """What a name or dotted name refers to after the run; attributes only of modules, read
        from their ``__dict__`` so that no user code (a property, ``__getattr__``) runs."""
        if isinstance(node, ast.Name):
            return self.run.namespace.get(node.id, _UNKNOWN)
        if isinstance(node, ast.Attribute):
            base = self._value(node.value)
            if _is(base, ModuleType):
                return vars(base).get(node.attr, _UNKNOWN)
        return _UNKNOWN

    @staticmethod
    def _constructs_model(value: Any) -> bool:
        """A Model class of the stand-ins, or one of their ``keras.applications`` functions."""
        if _is(value, type):
            return issubclass(value, Model)
        return _is(value, FunctionType) and value.__module__ == applications.__name__

    def _makes_model(self, value: Any, via_functions: bool) -> bool:
        if self._constructs_model(value):
            return True
        return via_functions and _own_function(self.run, value) and self.builds(value.__name__, value)

    def builds(self, name: str, fn: Any) -> bool:
        """Does function ``name`` (the namespace's ``fn``) return a Model, as its code shows?"""
        if name in self.known:
            return self.known[name]
        node = self.defs.get(name)
        self.known[name] = False  # a function calling itself does not make itself a builder
        if node is None or fn.__code__.co_firstlineno not in (node.lineno, *(d.lineno for d in node.decorator_list)):
            return False
        assigned: dict[str, list[ast.expr]] = {}
        returned: list[ast.expr] = []
        for stmt in _own_statements(node.body):
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        assigned.setdefault(target.id, []).append(stmt.value)
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
                assigned.setdefault(stmt.target.id, []).append(stmt.value)
            elif isinstance(stmt, ast.Return) and stmt.value is not None:
                returned.append(stmt.value)
        if any(self._expr_builds(e, assigned, set(), False) for e in returned):
            self.direct.add(name)
        self.known[name] = any(self._expr_builds(e, assigned, set(), True) for e in returned)
        return self.known[name]

    def _expr_builds(
        self, expr: ast.expr, assigned: dict[str, list[ast.expr]], seen: set[str], via_functions: bool
    ) -> bool:
        if isinstance(expr, ast.Call):
            return self._makes_model(self._value(expr.func), via_functions)
        if isinstance(expr, ast.Name) and expr.id in assigned and expr.id not in seen:
            return any(self._expr_builds(e, assigned, seen | {expr.id}, via_functions) for e in assigned[expr.id])
        return False


_UNKNOWN = object()


def _kept_calls(tree: ast.Module) -> set[str]:
    """Functions the module's own code calls and keeps the result of (not a bare ``main()``)."""
    discarded = {id(node.value) for node in _own_statements(tree.body) if isinstance(node, ast.Expr)}
    return {
        node.func.id
        for node in _own_statements(tree.body)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and id(node) not in discarded
    }


def find_model(
    path: str | Path, entry: str | None = None, args: dict[str, Any] | None = None
) -> tuple[Model, Recorder]:
    """Run the file once and return the model it describes, with the recording that built it."""
    path = model_file(path)
    args = dict(args or {})
    file = str(path)
    with _running(path) as run:
        if entry is not None:
            return _entry(run, entry, args)
        models = _models(run)
        if models and not args:
            if len(models) == 1:
                return next(iter(models.values())), run.rec
            if "model" in models:
                return models["model"], run.rec
            raise CompileError(
                f"the file defines {len(models)} models: {', '.join(sorted(models))}",
                file=file,
                hint="pick one with --entry NAME",
            )
        found = _Builders(run)
        builders = [name for name in _functions(run) if found.builds(name, run.namespace[name])]
        candidates = [name for name in builders if _accepts(run.namespace[name], args)]
        if len(candidates) > 1:
            # main() returning build_model()'s model is not a second model; of several that make
            # one, the one the file's code keeps the result of (model = build_autoencoder())
            chosen = [name for name in candidates if name in found.direct] or candidates
            if len(chosen) > 1:
                kept = _kept_calls(run.tree)
                chosen = [name for name in chosen if name in kept]
            if len(chosen) != 1:
                raise CompileError(
                    "several functions build a model: " + ", ".join(f"{n}()" for n in candidates),
                    file=file,
                    hint="pick one with --entry NAME",
                )
            candidates = chosen
        if not candidates:
            if not builders:
                raise CompileError(
                    "no model found: the file defines no Model and no function that returns one",
                    file=file,
                    hint="assign the model to a module-level variable, e.g. model = Model(...)",
                )
            need = "accepts these --arg values" if args else "is callable with its defaults"
            raise CompileError(
                f"no model found: no function that returns one {need}",
                file=file,
                hint=f"functions returning a model: {', '.join(builders)} (use --entry and --arg)",
            )
        (name,) = candidates
        result = _call(run, run.namespace[name], name, args)
        if not isinstance(result, Model):
            raise CompileError(f"{name}() returned {type(result).__name__}, not a Keras Model", file=file)
        return result, run.rec


def _entry(run: _Run, entry: str, args: dict[str, Any]) -> tuple[Model, Recorder]:
    """The model variable or the function ``--entry`` names (the one function the user asked to call)."""
    target = run.namespace.get(entry)
    if _is(target, Model):
        if args:
            raise CompileError(f"'{entry}' is a model, not a function: --arg does not apply", file=run.file)
        return target, run.rec
    if not callable(target):
        found = sorted(_models(run)) + sorted(_functions(run))
        raise CompileError(
            f"no model or function '{entry}' in the file",
            file=run.file,
            hint="found: " + (", ".join(found) or "nothing"),
        )
    result = _call(run, target, entry, args)
    if not isinstance(result, Model):
        raise CompileError(f"{entry}() returned {type(result).__name__}, not a Keras Model", file=run.file)
    return result, run.rec


def _describe(path: Path, entry: str | None, args: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    model, rec = find_model(path, entry, args)
    token = rec.activate()
    try:
        doc = model.to_config()
    finally:
        rec.deactivate(token)
    return json.loads(json.dumps(doc)), list(rec.notes)  # plain JSON types, exactly what the file would hold


def model_config(
    path: str | Path, entry: str | None = None, args: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The model's Keras 3 JSON config (as ``json.loads(model.to_json())``) and notes for the user.

    The file runs in a child process (see the module docstring); only a ``.py`` file runs at all.
    """
    path = model_file(path)
    doc, notes = _isolated(path, lambda: _describe(path, entry, args))
    return doc, notes


def export_json(
    path: str | Path, output: str | Path, entry: str | None = None, args: dict[str, Any] | None = None
) -> Path:
    """Write the model as Keras 3 JSON, which ``keras.models.model_from_json`` loads."""
    doc, _ = model_config(path, entry, args)
    return save_bytes(json.dumps(doc, indent=1).encode(), output)


# -- --custom-objects: the classes of a .keras or JSON model, from the user's file ---------------------
MODEL_CLASSES = ("Functional", "Model", "Sequential")


def trace_custom_objects(doc: dict[str, Any], path: str | Path, model: str) -> tuple[dict[str, Any], list[str]]:
    """``doc`` with a trace for every layer whose class (or named ``Lambda`` function) the
    Python file ``path`` defines: Keras's ``custom_objects=``.

    The file runs as a model file does (a ``.py`` only, in a child process, with the stand-ins);
    each custom layer is rebuilt from its saved config (``cls.from_config(config)``) and called on
    recording tensors of the shapes its saved call had, so its trace holds what its ``call`` does
    with those inputs; the model's weights file still provides the weights.
    """
    path = model_file(path)
    result = _isolated(path, lambda: _trace_doc(path, doc, model))
    return result[0], result[1]


def _trace_doc(path: Path, doc: dict[str, Any], model: str) -> list[Any]:
    with _running(path) as run:
        classes: dict[str, type] = {}
        for value in run.namespace.values():
            if _is(value, type) and issubclass(value, TracedLayer | Model) and value.__module__ == MODULE_NAME:
                classes.setdefault(registered_name(value), value)
                classes.setdefault(value.__name__, value)
        functions = {name: run.namespace[name] for name in _functions(run)}
        top = _custom_class(doc, classes)
        if top is not None and issubclass(top, Model):  # a subclassed model saved whole
            doc, traced = _trace_model(run, doc, top), 1
        else:
            traced = _trace_layers(run, doc.get("config") or {}, classes, functions)
        notes = list(run.rec.notes)
        if not traced:
            notes.append(f"--custom-objects: no layer of {Path(model).name} is a class or function of {path.name}")
    return [doc, notes]


def _trace_model(run: _Run, doc: dict[str, Any], cls: type) -> dict[str, Any]:
    """A ``keras.Model`` subclass saved as the whole model: rebuilt from its config (``cls(**config)``,
    Keras's default ``from_config``), built on its saved input shape, and described as the file's
    own subclassed models are: a Functional of one traced layer whose weights sit at the top."""
    from_config = getattr(cls, "from_config", None)
    config = dict(doc.get("config") or {})
    model = from_config(config) if callable(from_config) else cls(**config)
    shape = (doc.get("build_config") or {}).get("input_shape")
    if not isinstance(shape, list):
        raise CompileError(
            f"the saved model '{config.get('name')}' has no input shape to trace its call on",
            file=run.file,
            hint="save the model after building it",
        )
    model.build(tuple(shape) if shape and not isinstance(shape[0], list) else [tuple(s) for s in shape])
    return json.loads(json.dumps(model.to_config()))


def _custom_class(entry: dict[str, Any], classes: dict[str, type]) -> type | None:
    registered = entry.get("registered_name")
    if isinstance(registered, str) and registered in classes:
        return classes[registered]
    name = entry.get("class_name")
    if isinstance(name, str) and name in classes and (name not in LAYERS or ">" in str(registered or "")):
        return classes[name]
    return None


def _trace_layers(run: _Run, cfg: dict[str, Any], classes: dict[str, type], functions: dict[str, Any]) -> int:
    count = 0
    for entry in cfg.get("layers") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            continue
        if entry.get("class_name") in MODEL_CLASSES:
            count += _trace_layers(run, entry["config"], classes, functions)
            continue
        config = dict(entry["config"])
        cls = _custom_class(entry, classes)
        if cls is not None:
            layer = cls.from_config(config)
        elif entry.get("class_name") == "Lambda" and _lambda_function(config) in functions:
            fn = functions[_lambda_function(config)]
            layer = LambdaLayer(fn, name=config.get("name"), arguments=config.get("arguments"))
        else:
            continue
        if not isinstance(layer, Layer):
            raise ModelCodeError(
                f"{cls.__name__ if cls else 'Lambda'}.from_config() did not return a layer", file=run.file
            )
        inputs, kwargs = _saved_call(entry, run.file)
        layer(inputs, **kwargs)
        entry[TRACE_KEY] = json.loads(json.dumps(layer.serialize()[TRACE_KEY]))
        count += 1
    return count


def _lambda_function(config: dict[str, Any]) -> str | None:
    """The name of a Lambda's function when Keras saved it by name (a lambda's bytecode never runs)."""
    fn = config.get("function")
    if isinstance(fn, dict) and fn.get("class_name") == "function" and isinstance(fn.get("config"), str):
        return fn["config"]
    return None


def _saved_call(entry: dict[str, Any], file: str) -> tuple[Any, dict[str, Any]]:
    """Recording inputs shaped like the layer's first saved call (its keyword arguments too)."""
    nodes = entry.get("inbound_nodes") or []
    call = nodes[0] if nodes else None

    def tensors(value: Any) -> Any:
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            shape = (value.get("config") or {}).get("shape")
            return InputLayer(batch_shape=tuple(shape)).output
        if isinstance(value, dict):
            return {k: tensors(v) for k, v in value.items()}
        if isinstance(value, list):
            return [tensors(v) for v in value]
        return value

    if isinstance(call, dict) and call.get("args"):
        kwargs = {k: v for k, v in (call.get("kwargs") or {}).items() if k != "mask"}
        return tensors(call["args"][0]), kwargs
    shape = (entry.get("build_config") or {}).get("input_shape")
    if isinstance(shape, list) and shape and all(isinstance(s, list) for s in shape):
        return [InputLayer(batch_shape=tuple(s)).output for s in shape], {}
    if isinstance(shape, list):
        return InputLayer(batch_shape=tuple(shape)).output, {}
    raise CompileError(
        "the saved layer has no input shape to trace its call on",
        file=file,
        layer=str(entry.get("name") or entry["config"].get("name")),
        hint="save the model after building it",
    )


# -- the child process ------------------------------------------------------------------------------
def _isolated(path: Path, work: Callable[[], Any]) -> Any:
    """``work()`` in a forked child; its JSON result, or its error raised here.

    A fork (not a fresh interpreter) so the child has this process's modules and import hooks,
    and costs milliseconds. Where there is no safe fork (Windows has none; on macOS a forked
    child may crash in system libraries), the work runs in this process.
    """
    if not hasattr(os, "fork") or sys.platform == "darwin":
        return work()
    if threading.active_count() > 1:
        # A fork copies only the calling thread: a lock another thread holds (the import lock, a
        # logging or queue lock; a notebook's or a test runner's worker threads) would stay held
        # in the child forever. The file then runs here, its exits still reported as its errors.
        return _result(json.dumps(_outcome(work)).encode(), 0, str(path))
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(work, write_end)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
    except BaseException:  # Ctrl-C while the file runs: the child goes too
        _end_child(pid)
        raise
    return _result(data, status, str(path))


def _outcome(work: Callable[[], Any]) -> dict[str, Any]:
    """``work()``'s result or error, as the child sends it to the parent."""
    try:
        return {"ok": work()}
    except CompileError as err:
        return {"error": [type(err).__name__, err.message, err.file, err.layer, err.hint]}
    except KeyboardInterrupt:
        return {"interrupted": True}
    except MemoryError:
        return {"memory": True}
    except BaseException as exc:  # noqa: BLE001  (a bug of ours, reported as one by the parent)
        return {"internal": f"{type(exc).__name__}: {exc}"}


def _child(work: Callable[[], Any], write_end: int) -> None:
    try:
        data = json.dumps(_outcome(work)).encode()
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(0)  # no cleanup, no waiting for threads the file left running


def _end_child(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (OSError, ChildProcessError):
        pass


def _error_classes() -> dict[str, type[CompileError]]:
    classes: dict[str, type[CompileError]] = {}
    stack: list[type[CompileError]] = [CompileError]
    while stack:
        cls = stack.pop()
        classes.setdefault(cls.__name__, cls)
        stack.extend(cls.__subclasses__())
    return classes


def _result(data: bytes, status: int, file: str) -> Any:
    try:
        result = json.loads(data) if data else None
    except ValueError:
        result = None
    if not isinstance(result, dict):
        if os.WIFSIGNALED(status):
            how = f"was killed by signal {os.WTERMSIG(status)}"
        else:
            how = f"ended the process (exit code {os.waitstatus_to_exitcode(status)})"
        raise ModelCodeError(
            f"running the model file {how} before the model was described",
            file=file,
            hint="a model file must not end the process (os._exit) or crash it",
        )
    if "ok" in result:
        return result["ok"]
    if "error" in result:
        name, message, where, layer, hint = result["error"]
        cls = _error_classes().get(name, CompileError)
        try:
            err = cls(message, file=where, layer=layer, hint=hint)
        except TypeError:  # a subclass with its own constructor
            err = CompileError(message, file=where, layer=layer, hint=hint)
        raise err
    if "interrupted" in result:
        raise KeyboardInterrupt
    if "memory" in result:
        raise MemoryError
    raise RuntimeError(f"{result.get('internal')} (while running the model file)")
