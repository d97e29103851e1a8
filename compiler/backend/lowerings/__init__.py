"""One module per op family; importing this package registers every lowering with
:func:`compiler.backend.emitter.emitter`. A new family is a new module listed here."""

from . import (  # noqa: F401  (registration)
    attention,
    conv,
    elementwise,
    normalization,
    pooling,
    recurrent,
    sequence,
    tensor,
    tensor_ops,
)
