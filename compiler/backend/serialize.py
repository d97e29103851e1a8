"""The lowered model's storage: a weight-free ONNX structure plus the weights as numpy arrays,
written as one streamed protobuf, with ONNX external data, or assembled into one ``ModelProto``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload_length: int) -> bytes:
    """A length-delimited protobuf field header."""
    return _varint(number << 3 | 2) + _varint(payload_length)


# ModelProto.graph, GraphProto.initializer, TensorProto.raw_data
_GRAPH_FIELD, _INITIALIZER_FIELD, _RAW_DATA_FIELD = 7, 5, 9


@dataclass
class Lowered:
    """An ONNX model as its weight-free structure plus the weights as numpy arrays.

    Writing it streams one weight at a time, so compiling never holds a second (or third)
    serialized copy of the weights. The stream is the structure's own bytes followed by one
    ``graph { initializer { ... } }`` fragment per weight: protobuf merges repeated occurrences
    of a message field, so every ONNX reader sees one graph with all its initializers.
    """

    skeleton: onnx.ModelProto
    initializers: list[tuple[str, np.ndarray]]

    def chunks(self) -> Iterator[bytes | memoryview]:
        """The .onnx file's bytes, one weight at a time."""
        yield self.skeleton.SerializeToString(deterministic=True)
        for name, array in self.initializers:
            data = np.ascontiguousarray(array).reshape(array.shape)  # keeps 0-d scalars 0-d
            dtype = helper.np_dtype_to_tensor_dtype(data.dtype)
            header = TensorProto(name=name, data_type=dtype, dims=data.shape)
            tensor_head = header.SerializeToString(deterministic=True) + _field(_RAW_DATA_FIELD, data.nbytes)
            tensor_size = len(tensor_head) + data.nbytes
            graph_head = _field(_INITIALIZER_FIELD, tensor_size)
            yield _field(_GRAPH_FIELD, len(graph_head) + tensor_size) + graph_head + tensor_head
            if data.nbytes:
                yield memoryview(data).cast("B")

    def serialize(self) -> bytes:
        """The whole file in memory (tests and small models; writing uses :meth:`chunks`)."""
        return b"".join(self.chunks())

    @property
    def weight_bytes(self) -> int:
        return sum(int(a.nbytes) for _, a in self.initializers)

    def with_external_data(self, location: str) -> tuple[onnx.ModelProto, Iterator[memoryview]]:
        """The model with its weights in a side file ``location`` (ONNX external data), and that
        file's bytes as a stream.

        Protobuf cannot hold a message over 2 GB, so bigger models must keep their weights
        outside the .onnx file; onnxruntime reads them from beside it.
        """
        model = onnx.ModelProto()
        model.CopyFrom(self.skeleton)
        offset = 0
        for name, array in self.initializers:
            tensor = model.graph.initializer.add()
            tensor.name = name
            tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
            tensor.dims.extend(array.shape)
            tensor.data_location = TensorProto.EXTERNAL
            for key, value in (("location", location), ("offset", str(offset)), ("length", str(array.nbytes))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
            offset += int(array.nbytes)

        def data() -> Iterator[memoryview]:
            for _, array in self.initializers:
                if array.nbytes:
                    yield memoryview(np.ascontiguousarray(array)).cast("B")

        return model, data()

    def to_proto(self) -> onnx.ModelProto:
        """One ``ModelProto`` holding the weights, for whoever needs the model as a message."""
        model = onnx.ModelProto()
        model.CopyFrom(self.skeleton)
        for name, array in self.initializers:
            tensor = model.graph.initializer.add()
            tensor.name = name
            tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
            tensor.dims.extend(array.shape)
            tensor.raw_data = np.ascontiguousarray(array).tobytes()
        return model
