"""Pictures of graphs: Graphviz DOT for the IR (``Graph.to_dot``) and for compiled ONNX models,
and SVG rendering through Graphviz's own ``dot`` program."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import onnx

from .errors import CompileError


def _quote(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def onnx_to_dot(model: onnx.ModelProto) -> str:
    """One box per ONNX node (op type and name), one edge per tensor passed between nodes;
    weights are left out so the picture shows the computation."""
    g = model.graph
    weights = {t.name for t in g.initializer}
    producer: dict[str, str] = {}
    lines = [f"digraph {_quote(g.name or 'model')} {{", "  rankdir=TB;", '  node [shape=box, fontname="Helvetica"];']
    for value in g.input:
        if value.name not in weights:
            dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
            lines.append(
                f"  {_quote('in:' + value.name)} [label={_quote(f'{value.name} {dims}')}, "
                'style=filled, fillcolor="#dde8f8"];'
            )
            producer[value.name] = "in:" + value.name
    for i, node in enumerate(g.node):
        key = f"n{i}"
        domain = f"{node.domain}." if node.domain and node.domain != "ai.onnx" else ""
        label = domain + node.op_type + "\\n" + node.name
        lines.append(f"  {key} [label={_quote(label)}];")
        for tensor in node.input:
            if tensor in producer:
                lines.append(f"  {_quote(producer[tensor])} -> {key};")
        for tensor in node.output:
            producer[tensor] = key
    for value in g.output:
        lines.append(
            f'  {_quote("out:" + value.name)} [label={_quote(value.name)}, style=filled, fillcolor="#dde8f8"];'
        )
        if value.name in producer:
            lines.append(f"  {_quote(producer[value.name])} -> {_quote('out:' + value.name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_svg(dot_text: str, path: str | Path) -> bytes:
    """Render DOT with Graphviz; a missing or failing ``dot`` is the user's one-line error."""
    exe = shutil.which("dot")
    if exe is None:
        raise CompileError(
            "Graphviz's `dot` is not installed",
            file=path,
            hint="apt-get install graphviz, or use --dot and render elsewhere",
        )
    rendered = subprocess.run([exe, "-Tsvg"], input=dot_text.encode(), capture_output=True, check=False)
    if rendered.returncode != 0:
        raise CompileError(f"dot failed: {rendered.stderr.decode(errors='replace').strip()}", file=path)
    return rendered.stdout
