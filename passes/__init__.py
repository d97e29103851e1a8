"""Built-in passes, one module each; importing this package registers them in pipeline order.

remove_identity → remove_dead → merge_shape_ops → fold_batchnorm → resolve_padding → fold_affine
→ fuse_add_relu → fuse_conv
"""
from . import cleanup, fold_batchnorm, resolve_padding, fold_affine, fuse_add_relu, fuse_conv  # noqa: F401  (order = pipeline order)
