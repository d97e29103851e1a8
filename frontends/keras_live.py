"""A live ``keras.Model`` (Keras 3 or tf.keras) → the same description its saved file would give.

A notebook user has the model in memory, not on disk. The model is serialized in memory exactly
as saving it would (Keras 3: the ``.keras`` archive, config and ``model.weights.h5``; tf.keras:
``to_json()`` and the legacy HDF5 weights layout), and that goes through the JSON frontend, so a
live model and its saved file compile to the same ONNX. Nothing is written to disk.

Whether an object is a Keras model is read from its class's module names, so Keras is never
imported on behalf of an argument that is not already a Keras object.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from compiler.errors import FormatError
from compiler.ir import Graph
from compiler.limits import DEFAULT_LIMITS, Limits

from .keras_json import graph_from_config
from .weights import WeightStore, probe_h5, read_h5

#: Module prefixes of the classes of each Keras generation (tf.keras in TF ≥ 2.16 is Keras 3).
KERAS3_MODULES = ("keras.",)
KERAS2_MODULES = ("tf_keras.", "keras.src.engine.", "tensorflow.python.keras.", "keras.engine.")


def keras_generation(obj: Any) -> int | None:
    """3 or 2 when ``obj`` is a Keras model of that generation, else None (no import of Keras)."""
    for cls in type(obj).__mro__:
        module = f"{cls.__module__}."
        if cls.__name__ not in ("Model", "Functional", "Sequential"):
            continue
        if module.startswith(KERAS2_MODULES):
            return 2
        if module.startswith(KERAS3_MODULES):
            return 3
    return None


def is_keras_model(obj: Any) -> bool:
    return keras_generation(obj) is not None


def _keras3(model: Any, label: str, limits: Limits) -> tuple[dict[str, Any], WeightStore | None]:
    # Keras is imported only for an object that is already a Keras 3 model (so Keras is loaded)
    import h5py
    from keras.src.saving import saving_lib

    buffer = io.BytesIO()
    saving_lib.save_model(model, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        names = set(archive.namelist())
        doc = json.loads(archive.read("config.json"))
        if "model.weights.h5" not in names:
            return doc, None
        blob = archive.read("model.weights.h5")
    probe_h5(blob, label, limits)
    with h5py.File(io.BytesIO(blob), "r") as f:
        return doc, read_h5(f, label, limits)


def _keras2(model: Any, label: str, limits: Limits) -> tuple[dict[str, Any], WeightStore | None]:
    # tf-keras's own HDF5 writer, imported only for an object that is already a tf-keras model
    import h5py
    from tf_keras.src.saving.legacy import hdf5_format

    doc = json.loads(model.to_json())
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        hdf5_format.save_weights_to_hdf5_group(f, model)
    with h5py.File(io.BytesIO(buffer.getvalue()), "r") as f:
        return doc, read_h5(f, label, limits)


def serialize_live(model: Any, limits: Limits = DEFAULT_LIMITS) -> tuple[dict[str, Any], WeightStore | None, str]:
    """The model's config, its weights and a label naming it in messages."""
    generation = keras_generation(model)
    label = f"<keras model '{getattr(model, 'name', '?')}'>"
    if generation is None:
        raise FormatError(f"{type(model).__name__} is not a Keras model", file=label)
    if not getattr(model, "built", True):
        raise FormatError(
            "the model is not built yet, so it has no weights or shapes",
            file=label,
            hint="call it on an input or give it an Input layer first",
        )
    try:
        return (_keras3 if generation == 3 else _keras2)(model, label, limits) + (label,)
    except (ValueError, TypeError, NotImplementedError, AttributeError) as exc:
        raise FormatError(f"Keras could not serialize the model ({type(exc).__name__}: {exc})", file=label) from None


def load_live(model: Any, seed: int = 0, limits: Limits = DEFAULT_LIMITS) -> Graph:
    """The IR of a live Keras model, with its weights, as :func:`frontends.load` gives for its file."""
    doc, store, label = serialize_live(model, limits)
    graph, source = graph_from_config(doc, store, seed, label, limits)
    if store is not None and store.arrays:
        graph.meta["kerascc.weights"] = "the model's own (in memory)"
    elif source.initialized:
        graph.meta["kerascc.weights"] = f"random: each layer's Keras initializer, seed {seed}"
    else:
        graph.meta["kerascc.weights"] = "none (the model has no weights)"
    graph.meta["kerascc.source"] = label
    return graph
