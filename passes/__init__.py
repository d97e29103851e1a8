"""Built-in passes, one module each; importing this package registers them in pipeline order."""
from . import cleanup, fold_batchnorm, resolve_padding, fuse_add_relu, fuse_conv  # noqa: F401  (order = pipeline order)
