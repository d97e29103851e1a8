"""Built-in passes, one module each, and the default pipeline: the one list that orders them.

Importing a pass module registers its passes by name; the order they run in is
:data:`DEFAULT_PIPELINE`, not the order of the imports below.
"""

from . import (  # noqa: F401  (each module registers its passes)
    cleanup,
    fold_affine,
    fold_batchnorm,
    fold_channel_gather,
    fold_constants,
    fuse_add_relu,
    fuse_attention,
    fuse_bias_gelu,
    fuse_conv,
    fuse_skip_layernorm,
    recurrent_paths,
    resolve_padding,
)

#: The standard pipeline, in order. Each step prepares the patterns of the next ones:
DEFAULT_PIPELINE: tuple[str, ...] = (
    "remove_identity",  # Dropout and identities go first, so later patterns see real producers
    "remove_dead",  # transpose chains merged, nodes no output needs dropped
    "fold_constants",  # ops on constants computed now, so the shape passes below see plain constants
    "merge_shape_ops",  # Pad(Pad(x)) and Reshape/Flatten chains joined
    "fold_batchnorm",  # BatchNorm into the conv/dense weights before it
    "resolve_padding",  # 'same' → TensorFlow's exact pads, ZeroPadding merged into the next window
    "fold_affine",  # leftover per-channel scale/shift folded into neighbouring weights
    "fold_channel_gather",  # channel reorderings (caffe's RGB→BGR) into the kernel that reads them
    "fuse_add_relu",  # Relu(Add(a, b)) → FusedAddRelu (residual joins)
    "fuse_conv",  # residual joins (FusedAddRelu or Add) and activations into the convolution
    "fuse_bias_gelu",  # a Dense's bias into the gelu after it, once folding has settled the biases
    "fuse_skip_layernorm",  # residual Add (and a Dense's bias) into the LayerNorm after it
    "fuse_attention",  # scores and their use on the values as one op, for the targets' fused kernels
    "recurrent_paths",  # last, on the final graph: which lowering each recurrent layer takes
)
