"""Errors that reach the user as one line.

Every failure a user can cause (a bad file, an unsupported layer, a shape that does not fit)
is a :class:`CompileError` carrying the file, the Keras layer and a hint, so the CLI can print
one red line and exit with code 2 instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path


class CompileError(Exception):
    """A user-facing error: names the file, the layer and the problem, in one line."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        layer: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.layer = layer
        self.hint = hint

    def with_context(self, *, file: str | Path | None = None, layer: str | None = None) -> CompileError:
        """Fill in context that was not known where the error was raised."""
        if self.file is None and file is not None:
            self.file = str(file)
        if self.layer is None and layer is not None:
            self.layer = layer
        return self

    def __str__(self) -> str:
        where = ": ".join(p for p in (self.file, f"layer '{self.layer}'" if self.layer else None) if p)
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return " ".join(text.split())  # one line, whatever the parts contained


class FormatError(CompileError):
    """The input file is not a model description we can read."""


class UnsupportedLayerError(CompileError):
    """A Keras layer class or config value we do not convert."""


class ShapeError(CompileError):
    """Shapes that Keras itself would reject, or that no ONNX op can express."""


class WeightsError(CompileError):
    """Weights missing, extra, or of the wrong shape for the model."""


class GraphError(CompileError):
    """The IR broke an invariant: a bug in a pass, reported with the pass name."""


class RuntimeInputError(CompileError):
    """Bad input at run time: an image that cannot be read, a provider that is not installed."""
