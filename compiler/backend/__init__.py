"""The ONNX backend: IR → ``onnx.ModelProto``, NCHW inside, the Keras model's layout at the edges.

* :mod:`.emitter` — the emitter, the layout machinery (physical permutations, cached
  transposes) and the registry of lowerings;
* :mod:`.lowerings` — one lowering per IR op, grouped by op family;
* :mod:`.targets` — onnx, ort and tensorrt, each holding every rule in which it differs;
* :mod:`.assemble` — graph inputs, outputs, metadata and the ONNX checker;
* :mod:`.serialize` — the lowered model as a streamed protobuf, external data or one message.
"""

from .assemble import DEFAULT_OPSET, finish, lower, to_onnx
from .serialize import Lowered
from .targets import TARGETS

__all__ = ["DEFAULT_OPSET", "TARGETS", "Lowered", "finish", "lower", "to_onnx"]
