"""Frontends: every input format becomes one :class:`compiler.Graph`.

``load`` picks the reader by file type: Keras model JSON, ``.keras`` archives and legacy
``.h5`` model files all go through :mod:`frontends.keras_json`, and Keras model code (``.py``)
is run by :mod:`frontends.keras_python` into the same JSON config; weights come from the archive,
from ``weights=``, or, failing both, from each layer's own initializer with a seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compiler.errors import CompileError, WeightsError
from compiler.ir import Graph
from compiler.limits import DEFAULT_LIMITS, Limits

from .keras_json import graph_from_config, read_model
from .keras_live import is_keras_model, load_live
from .layers import LAYERS, keras_layer
from .operations import OPERATIONS, TF_FUNCTIONS, keras_op, tf_function
from .weights import load_weights

__all__ = [
    "LAYERS",
    "OPERATIONS",
    "TF_FUNCTIONS",
    "is_keras_model",
    "keras_layer",
    "keras_op",
    "load",
    "load_live",
    "tf_function",
]


def load(
    path: str | Path,
    weights: str | Path | None = None,
    seed: int = 0,
    limits: Limits = DEFAULT_LIMITS,
    entry: str | None = None,
    args: dict[str, Any] | None = None,
    custom_objects: str | Path | None = None,
) -> Graph:
    """Read a Keras model description (and its weights) into the IR.

    A ``.py`` file is Keras model code: it runs (see :mod:`frontends.keras_python`), and
    ``entry``/``args`` choose and configure the function that builds the model.
    ``custom_objects``, a ``.py`` file, defines the custom layer classes a JSON, ``.keras`` or
    ``.h5`` model names (as Keras's ``custom_objects=``): the file runs like a model file and those
    layers are traced (:func:`frontends.keras_python.trace_custom_objects`).
    """
    path = Path(path)
    weights_path = Path(weights) if weights is not None else None
    notes: list[str] = []
    if path.suffix.lower() == ".py":
        from .keras_python import model_config

        if custom_objects is not None:
            raise CompileError(
                "--custom-objects is for a JSON, .keras or .h5 model; a .py model file defines its classes itself",
                file=str(custom_objects),
            )

        if path.is_file():  # the source is read whole, like a JSON description: the same ceiling
            limits.check("the model file", path.stat().st_size, "max_config_bytes", file=str(path))
        doc, notes = model_config(path, entry, args)
        store = load_weights(weights_path, limits) if weights_path is not None else None
    else:
        doc, store = read_model(path, weights_path, limits)
        if custom_objects is not None:
            from .keras_python import trace_custom_objects

            custom = Path(custom_objects)
            if custom.is_file():  # read whole and run like a model file: the same ceiling
                limits.check("the custom objects file", custom.stat().st_size, "max_config_bytes", file=str(custom))

            doc, traced_notes = trace_custom_objects(doc, custom_objects, str(path))
            notes += traced_notes
    graph, source = graph_from_config(doc, store, seed, str(path), limits)
    if store is not None:
        extra = store.unused()
        if extra:
            raise WeightsError(
                f"the weights file has arrays for layers the model does not have: {', '.join(extra[:5])}"
                + (" …" if len(extra) > 5 else ""),
                file=store.source,
                hint="were the weights saved from this model?",
            )
        graph.meta["kerascc.weights"] = f"loaded from {Path(store.source.split(':')[0]).name}"
    elif source.initialized:
        graph.meta["kerascc.weights"] = f"random: each layer's Keras initializer, seed {seed}"
    else:
        graph.meta["kerascc.weights"] = "none (the model has no weights)"
    graph.meta["kerascc.source"] = path.name
    if notes:
        graph.meta["kerascc.notes"] = "; ".join(notes)
    return graph
