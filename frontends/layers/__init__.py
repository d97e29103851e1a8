"""The one table from Keras layer classes to IR ops, shared by every frontend, by family.

The modules follow Keras's own ``keras/src/layers/<family>/`` folders; each entry registers
itself with :func:`keras_layer` when its module is imported, and importing this package imports
them all, so :data:`LAYERS` is complete. A new layer is one entry in its family's module (and
its test); the JSON and Python frontends both find it through :data:`LAYERS`. Keras operations
(``keras.ops``, tf.keras's TFOpLambda) have their own table, :mod:`frontends.operations`.
"""

from __future__ import annotations

from . import (  # noqa: F401  (each module registers its layers)
    activations,
    applications,
    attention,
    convolutional,
    core,
    merging,
    normalization,
    pooling,
    preprocessing,
    regularization,
    reshaping,
    rnn,
    wrappers,
)
from .base import LAYERS, LayerContext, LayerFn, WeightSource, apply_activation, keras_layer

__all__ = ["LAYERS", "LayerContext", "LayerFn", "WeightSource", "apply_activation", "keras_layer"]
