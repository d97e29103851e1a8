"""Say how each recurrent layer is lowered, so the compile report names every layer's path.

The choice is :func:`compiler.ops.recurrent_path`, which the backend follows: ONNX's own
``LSTM``/``GRU``/``RNN`` op wherever it computes what Keras computes (any mask included, through
``sequence_lens`` and a compaction of the valid steps), a Scan whose body is Keras's cell where
the op lacks an activation, and unrolled convolutions for ConvLSTM. The pass changes nothing.
"""

from __future__ import annotations

from compiler.ir import Graph
from compiler.ops import RECURRENT_OPS, recurrent_path
from compiler.pipeline import register_pass


@register_pass("recurrent_paths")
def recurrent_paths(graph: Graph) -> tuple[Graph, str]:
    """Report which lowering each recurrent layer takes (the graph is unchanged)."""
    lines = [f"{node.layer}: {recurrent_path(node)[1]}" for node in graph.nodes((*RECURRENT_OPS, "ConvLSTM"))]
    return graph, "; ".join(lines) or "no recurrent layers"
