"""Keras operations: computations a model records on its tensors rather than as layers.

Keras 3 ``keras.ops`` calls and operators (``x + 1.0``, ``-x``, ``keras.ops.gelu(x)``) are
entries of :data:`OPERATIONS`, by Keras's op module (:mod:`.numpy_ops` for
``keras.src.ops.numpy``, :mod:`.nn_ops` for ``keras.src.ops.nn``); tf.keras's TFOpLambda
functions are entries of :data:`TF_FUNCTIONS` (:mod:`.tf_functions`). A new operation is one
entry in the module of its Keras op module (and its test); importing this package registers all.
"""

from __future__ import annotations

from . import mask_ops, nn_ops, numpy_ops, tf_functions  # noqa: F401  (each module registers its operations)
from .base import OPERATIONS, TF_FUNCTIONS, keras_op, operand, tf_function

__all__ = ["OPERATIONS", "TF_FUNCTIONS", "keras_op", "operand", "tf_function"]
