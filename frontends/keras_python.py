"""Keras model code (``model.py``) → the same Keras 3 config ``model.to_json()`` would give.

The file runs as ordinary Python with stand-in ``keras``/``tensorflow`` modules
(:mod:`frontends.keras_shim`) that record every layer and call. The model is then found:

1. ``--entry NAME``: a module-level Model called NAME, or a function NAME called with ``--arg``
   keyword arguments;
2. otherwise a module-level Model (the one called ``model`` when there are several);
3. otherwise the one module-level function that, called with its defaults (and ``--arg``),
   returns a Model. Each candidate runs in a fresh run of the file, as a fresh Python process
   with real Keras would, so automatic layer names come out as Keras gives them.

Running a file executes its code: a ``.py`` description is a program, not data.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import json
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from compiler.errors import CompileError, FormatError
from compiler.io import save_bytes

from .keras_shim import Model, Recorder, stand_ins
from .keras_shim.core import ModelCodeError

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


class _Run:
    """One execution of the model file: its namespace and its recording."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = str(path)
        self.rec = Recorder(self.file)
        self.namespace: dict[str, Any] = {}


@contextmanager
def _running(path: Path) -> Iterator[_Run]:
    """Execute the file with the stand-ins installed; errors become one line at the user's code."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"cannot read the model file ({exc})", file=str(path)) from None
    run = _Run(path)
    try:
        code = compile(source, run.file, "exec")
    except SyntaxError as exc:
        raise FormatError(f"syntax error: {exc.msg}", file=f"{run.file}:{exc.lineno}") from None
    run.namespace.update({"__name__": MODULE_NAME, "__file__": str(path.resolve()), "__builtins__": builtins})
    directory = str(path.resolve().parent)
    before = set(sys.modules)
    sys.path.insert(0, directory)
    try:
        with stand_ins(run.rec):
            try:
                exec(code, run.namespace)  # noqa: S102  (running the model file is the point)
                yield run
            except CompileError:
                raise
            except (Exception, SystemExit) as exc:  # noqa: BLE001  (any failure of the user's code)
                raise _user_error(exc, run.file) from None
    finally:
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
    text = str(exc) if not isinstance(exc, SystemExit) else f"the file called exit({exc.code})"
    return ModelCodeError(f"{type(exc).__name__}: {text}", file=where)


def _call(run: _Run, fn: Any, name: str, kwargs: dict[str, Any]) -> Any:
    try:
        return fn(**kwargs)
    except CompileError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001
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
    return all(p.default is not p.empty or p.name in kwargs or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in params)


def _functions(run: _Run) -> list[str]:
    return [name for name, value in run.namespace.items()
            if inspect.isfunction(value) and value.__code__.co_filename == run.file and not name.startswith("_")]


def _models(run: _Run) -> dict[str, Model]:
    return {name: value for name, value in run.namespace.items() if isinstance(value, Model)}


def find_model(path: str | Path, entry: str | None = None, args: dict[str, Any] | None = None) -> tuple[Model, Recorder]:
    """Run the file and return the model it describes, with the recording that built it."""
    path = Path(path)
    if not path.exists():
        raise FormatError("no such file", file=str(path))
    args = dict(args or {})
    file = str(path)
    if entry is not None:
        with _running(path) as run:
            target = run.namespace.get(entry)
            if isinstance(target, Model):
                if args:
                    raise CompileError(f"'{entry}' is a model, not a function: --arg does not apply", file=file)
                return target, run.rec
            if not callable(target):
                found = sorted(_models(run)) + sorted(_functions(run))
                raise CompileError(f"no model or function '{entry}' in the file", file=file,
                                   hint="found: " + (", ".join(found) or "nothing"))
            result = _call(run, target, entry, args)
            if not isinstance(result, Model):
                raise CompileError(f"{entry}() returned {type(result).__name__}, not a Keras Model", file=file)
            return result, run.rec

    with _running(path) as run:
        models = _models(run)
        if models and not args:
            if len(models) == 1:
                return next(iter(models.values())), run.rec
            if "model" in models:
                return models["model"], run.rec
            raise CompileError(f"the file defines {len(models)} models: {', '.join(sorted(models))}", file=file,
                               hint="pick one with --entry NAME")
        candidates = [name for name in _functions(run) if _accepts(run.namespace[name], args)]
        others = sorted(set(_functions(run)) - set(candidates))
    if not candidates:
        raise CompileError("no model found: the file defines no Model and no function callable with "
                           + ("these --arg values" if args else "its defaults"), file=file,
                           hint=("functions needing arguments: " + ", ".join(others) + " (use --entry and --arg)")
                           if others else "assign the model to a module-level variable, e.g. model = Model(...)")
    found: list[tuple[str, Model, Recorder]] = []
    errors: list[CompileError] = []
    for name in candidates:
        try:
            with _running(path) as run:
                result = _call(run, run.namespace[name], name, args)
                if isinstance(result, Model):
                    found.append((name, result, run.rec))
        except CompileError as err:
            errors.append(err)
    if len(found) == 1:
        return found[0][1], found[0][2]
    if not found:
        if errors:
            raise errors[0]
        raise CompileError("no function returned a Keras Model", file=file,
                           hint="tried " + ", ".join(f"{c}()" for c in candidates))
    raise CompileError("several functions return a model: " + ", ".join(f"{n}()" for n, _, _ in found), file=file,
                       hint="pick one with --entry NAME")


def model_config(path: str | Path, entry: str | None = None,
                 args: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The model's Keras 3 JSON config (as ``json.loads(model.to_json())``) and notes for the user."""
    model, rec = find_model(path, entry, args)
    token = rec.activate()
    try:
        doc = model.to_config()
    finally:
        rec.deactivate(token)
    doc = json.loads(json.dumps(doc))  # plain JSON types, exactly what the file would hold
    return doc, list(rec.notes)


def export_json(path: str | Path, output: str | Path, entry: str | None = None,
                args: dict[str, Any] | None = None) -> Path:
    """Write the model as Keras 3 JSON, which ``keras.models.model_from_json`` loads."""
    doc, _ = model_config(path, entry, args)
    return save_bytes(json.dumps(doc, indent=1).encode(), output)
