"""Resource limits: refuse absurd descriptions before any memory is spent on them.

A model description is small; what it describes may not be. ``filters: 1000000000`` in a JSON
file, an archive member that inflates to terabytes, or an HDF5 dataset whose header claims a
shape no machine can hold would otherwise end in a MemoryError (or the OOM killer) long after the
user could have been told. Every reader checks the *declared* size against these limits first and
raises :class:`ResourceLimitError`, naming the limit and the flag that raises it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from .errors import CompileError

GIB = 1 << 30
MIB = 1 << 20


class ResourceLimitError(CompileError):
    """The input would need more than a configured limit allows."""


@dataclass(frozen=True)
class Limits:
    """Ceilings on what one compile may allocate.

    The defaults admit every real vision model (the biggest keras.applications model, VGG19, has
    0.57 GB of weights) with a wide margin, and stop descriptions that would exhaust the machine.
    """

    #: Total bytes of weight arrays, drawn or read (float32: 4 bytes per parameter).
    max_weight_bytes: int = 8 * GIB
    #: Layers in the model, nested models included.
    max_layers: int = 100_000
    #: Bytes of a model description (the JSON text, or config.json inside an archive).
    max_config_bytes: int = 512 * MIB

    FLAGS: ClassVar[dict[str, str]] = {
        "max_weight_bytes": "--max-weights",
        "max_layers": "--max-layers",
        "max_config_bytes": "--max-config",
    }

    def refuse(
        self, what: str, needed: int, limit_name: str, *, file: str | None = None, layer: str | None = None
    ) -> ResourceLimitError:
        limit = getattr(self, limit_name)
        if limit_name.endswith("_bytes"):
            text = f"{what} would take {format_size(needed)}, over the limit of {format_size(limit)}"
        else:
            text = f"{what} has {needed:,} layers, over the limit of {limit:,}"
        return ResourceLimitError(
            text, file=file, layer=layer, hint=f"raise it with {self.FLAGS[limit_name]} if this is intended"
        )

    def check(
        self, what: str, needed: int, limit_name: str, *, file: str | None = None, layer: str | None = None
    ) -> None:
        if needed > getattr(self, limit_name):
            raise self.refuse(what, needed, limit_name, file=file, layer=layer)


DEFAULT_LIMITS = Limits()

#: Largest dimension (a shape entry, units, filters, a kernel size) a description may state. No real
#: tensor axis comes near it, and past it products of dimensions stop being plain machine integers.
MAX_DIMENSION = 2**31 - 1
#: Models inside models, counted from the top. Keras applications nest two or three deep; a chain of
#: thousands is a hostile file, refused before it exhausts the interpreter's stack.
MAX_NESTING = 100

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1 << 10,
    "m": MIB,
    "mb": MIB,
    "g": GIB,
    "gb": GIB,
    "t": 1 << 40,
    "tb": 1 << 40,
}


def parse_size(text: str) -> int:
    """'512MB', '8 GB', '1.5g' or a plain byte count → bytes (binary units, as memory is counted)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise CompileError(f"'{text}' is not a size", hint="write it like 512MB, 8GB or 1.5TB")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def format_size(n: int) -> str:
    for unit, scale in (("TB", 1 << 40), ("GB", GIB), ("MB", MIB), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
