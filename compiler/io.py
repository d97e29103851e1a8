"""Files the compiler and the runtime write and read: atomic writes, external weights, ONNX structure.

A leaf of the core: it imports nothing of the project but :mod:`compiler.errors`, so every layer
(frontends, the backend, the runtime, the command line) can write files the same safe way without
importing the driver.

* Writes go through a temporary file in the target's folder and a rename, so a reader (or a crash
  half-way) never leaves half a model, mask or results file behind.
* Protobuf messages, so ``.onnx`` files, stop at 2 GiB: bigger weights live in ``MODEL.onnx.data``
  beside the model (ONNX external data).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

import onnx

from .errors import CompileError, FormatError

#: Weights above this go to a side file: protobuf messages (so .onnx files) stop at 2 GiB.
EXTERNAL_DATA_BYTES = 1_900_000_000


def external_data_path(path: str | os.PathLike[str]) -> Path:
    """Where the weights of a model too big for one protobuf go: ``model.onnx.data`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".data")


Chunks = bytes | Iterable[bytes | memoryview]


def save_bytes(data: Chunks, path: str | os.PathLike[str]) -> Path:
    """Write ``data`` (bytes, or chunks of them) to ``path`` through a temporary file and a rename,
    so nothing half-written remains."""
    save_together([(data, path)])
    return Path(path)


def save_together(files: list[tuple[Chunks, str | os.PathLike[str]]]) -> list[Path]:
    """Write several files that only make sense together (a model and its ``.data`` weights): all go
    to temporary names first and are renamed into place only once every one is complete, so a
    failure (a full disk, a signal) leaves each old file as it was and no temporary file behind."""
    targets = [Path(path) for _, path in files]
    temps: list[str] = []
    current = targets[0]
    try:
        try:
            for (data, _), path in zip(files, targets, strict=False):
                current = path
                refuse_special(path)
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
                temps.append(tmp)
                os.chmod(tmp, file_mode(path))  # mkstemp's 0600 would make the model private
                with os.fdopen(fd, "wb") as f:
                    for chunk in [data] if isinstance(data, bytes | bytearray) else data:
                        f.write(chunk)
            for tmp, path in zip(temps, targets, strict=False):
                current = path
                os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
        except BaseException:
            for tmp in temps:
                Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CompileError(f"cannot write output ({exc.strerror or exc})", file=current) from None
    return targets


def check_input_file(
    path: str | os.PathLike[str] | None,
    what: str = "model file",
    missing_ok: bool = True,
    error: type[CompileError] = CompileError,
) -> None:
    """Refuse at once, before opening it, an input that is not a regular file.

    A FIFO blocks the reader forever, ``/dev/zero`` reads until memory runs out and a folder fails
    later with an unrelated message. A missing file is left to the reader's own message unless
    ``missing_ok`` is false (``error`` is the caller's own error class); a path whose folder may not be
    entered is one line, not a traceback.
    """
    if path is None:
        return
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if missing_ok:
            return
        raise error(f"no such {what}", file=path) from None
    except NotADirectoryError:
        raise error(f"no such {what} (a part of the path is a file, not a folder)", file=path) from None
    except PermissionError:
        raise error("cannot read it (permission denied on the file or a folder above it)", file=path) from None
    except (OSError, ValueError) as exc:
        raise error(f"cannot read it ({getattr(exc, 'strerror', None) or exc})", file=path) from None
    if stat.S_ISDIR(mode):
        raise error(f"is a directory, not a {what}", file=path)
    if not stat.S_ISREG(mode):
        raise error(f"is not a regular file (a FIFO or a device?), so not a {what}", file=path)


def refuse_special(path: Path) -> None:
    """A device, FIFO, socket or folder named as an output is refused: a rename would replace it by
    a regular file (``-o /dev/null`` would delete the device node)."""
    try:
        mode = path.stat().st_mode  # follows a symlink: what the name really points at
    except FileNotFoundError:
        return
    except OSError as exc:
        raise CompileError(f"cannot write output ({exc.strerror or exc})", file=path) from None
    if not stat.S_ISREG(mode):
        kind = "it is a folder" if stat.S_ISDIR(mode) else "it is a device, FIFO or socket, not a regular file"
        raise CompileError(f"cannot write output ({kind})", file=path, hint="name a new or regular file")


def refuse_inputs_as_outputs(
    outputs: Iterable[str | os.PathLike[str] | None], inputs: Iterable[str | os.PathLike[str] | None]
) -> None:
    """Refuse, before any work, an output that is the same file as an input (or as another output).

    Compared by device and inode, so a symlink, a hard link or ``./x`` vs ``x`` is caught: writing
    the result over its own source would destroy the only copy of the model, image or code.
    """

    def ident(p: str | os.PathLike[str]) -> tuple[int, int] | None:
        try:
            st = os.stat(p)
        except (OSError, ValueError):
            return None
        return st.st_dev, st.st_ino

    seen: dict[tuple[int, int], Path] = {}
    for p in inputs:
        key = None if p is None else ident(p)
        if key is not None:
            seen.setdefault(key, Path(p))  # type: ignore[arg-type]
    names: dict[str, Path] = {}
    for p in outputs:
        if p is None:
            continue
        key, name = ident(p), os.path.abspath(p)
        if key is not None and key in seen:
            raise CompileError(
                f"is the output and also an input ('{seen[key]}'): writing it would destroy that input",
                file=p,
                hint="name another output file",
            )
        if name in names:
            raise CompileError("is named as two outputs; one would overwrite the other", file=p)
        names[name] = Path(p)
        if key is not None:
            seen[key] = Path(p)


def check_writable(path: str | os.PathLike[str], folder: bool = False) -> Path:
    """Fail now, before minutes of work, if ``path`` (a file, or with ``folder`` a folder) cannot be
    written: a device or FIFO in its place, a missing or read-only parent, a file where a folder goes."""
    path = Path(path)
    if folder:
        if path.exists() and not path.is_dir():
            raise CompileError("is not a folder", file=path)
    else:
        refuse_special(path)
    parent = path if folder and path.is_dir() else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise CompileError(f"cannot write output ('{parent}' is not a folder)", file=path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CompileError(f"cannot write output (no permission to write in '{parent}')", file=path)
    return path


def file_mode(path: Path) -> int:
    """The mode an ordinary write would give: the existing file's, else 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def load_structure(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """An ``.onnx`` file's graph, interface and metadata, leaving external weights on disk.

    For showing a model (``inspect``): reading gigabytes of weights to print a node list would
    be waste, and a model whose side file is missing can still be shown.
    """
    check_input_file(path, "model file", missing_ok=False)
    if os.path.getsize(path) == 0:
        raise FormatError("not a readable ONNX file (an empty file)", file=path)
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf and onnx raise many unrelated types for a broken file
        raise FormatError(f"not a readable ONNX file ({type(exc).__name__})", file=path) from None
