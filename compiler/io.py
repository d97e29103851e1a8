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


def save_bytes(data: bytes | Iterable[bytes | memoryview], path: str | os.PathLike[str]) -> Path:
    """Write ``data`` (bytes, or chunks of them) to ``path`` through a temporary file and a rename,
    so nothing half-written remains."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.chmod(tmp, file_mode(path))  # mkstemp's 0600 would make the model private
            with os.fdopen(fd, "wb") as f:
                for chunk in [data] if isinstance(data, bytes | bytearray) else data:
                    f.write(chunk)
            os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CompileError(f"cannot write output ({exc.strerror or exc})", file=path) from None
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
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf and onnx raise many unrelated types for a broken file
        raise FormatError(f"not a readable ONNX file ({type(exc).__name__})", file=path) from None
