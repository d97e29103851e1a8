"""One module per op family; importing this package registers every lowering with
:func:`compiler.backend.emitter.emitter`. A new family is a new module listed here."""

from . import attention, conv, elementwise, normalization, pooling, sequence, tensor  # noqa: F401  (registration)
