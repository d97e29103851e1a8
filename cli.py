"""kerascc command line: compile Keras models to ONNX, run and inspect them.

Thin by design: parse arguments, call :mod:`compiler` / :mod:`runtime`, print. Every user error
arrives as a :class:`compiler.CompileError` and leaves as one red line with exit code 2
(``--debug`` shows the traceback instead).
"""
from __future__ import annotations

import sys
import time
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

import compiler

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Compile Keras models (JSON, .keras, .h5) to optimized ONNX and run them with onnxruntime.",
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

#: Keras applications and the preprocessing their weights expect (keras.applications.*.preprocess_input).
PREPROCESS_BY_FAMILY = {
    "resnet50": "caffe", "resnet101": "caffe", "resnet152": "caffe", "vgg16": "caffe", "vgg19": "caffe",
    "resnet50v2": "tf", "resnet101v2": "tf", "resnet152v2": "tf", "mobilenet": "tf", "mobilenetv2": "tf",
    "mobilenet_1.00_224": "tf", "mobilenetv2_1.00_224": "tf", "inception_v3": "tf", "xception": "tf",
    "inception_resnet_v2": "tf", "nasnet": "tf", "densenet121": "torch", "densenet169": "torch",
    "densenet201": "torch",
}


class Preprocess(str, Enum):
    auto = "auto"
    none = "none"
    caffe = "caffe"
    tf = "tf"
    torch = "torch"


class Target(str, Enum):
    onnx = "onnx"
    ort = "ort"
    tensorrt = "tensorrt"


class Layout(str, Enum):
    nhwc = "nhwc"
    nchw = "nchw"


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True, markup=True)
    sys.exit(code)


def _guess_preprocess(graph_name: str) -> str:
    return PREPROCESS_BY_FAMILY.get(graph_name.lower(), "none")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return str(n)


@app.callback()
def main_options(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    """Options for every command (--debug is acted on by main(), around the whole app)."""


@app.command("compile")
def compile_cmd(
    model: Annotated[Path, typer.Argument(help="Keras model: model JSON, .keras archive or .h5 file.")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="ONNX file to write (default: MODEL.onnx next to MODEL).")] = None,
    weights: Annotated[Optional[Path], typer.Option("--weights", "-w", help="Weights (.weights.h5 or legacy .h5).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for random weights when none are given.")] = 0,
    preprocess: Annotated[Preprocess, typer.Option(help="Image preprocessing recorded for `run` (auto: from the Keras application name).")] = Preprocess.auto,
    input_layout: Annotated[Layout, typer.Option("--input-layout", help="Layout of 4-D inputs: nhwc (as in Keras) or nchw.")] = Layout.nhwc,
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = compiler.onnx_backend.DEFAULT_OPSET,
    target_kind: Annotated[Target, typer.Option("--target", help="onnx (portable), ort (onnxruntime CPU, optimized ahead of time) or tensorrt.")] = Target.onnx,
    passes: Annotated[Optional[str], typer.Option(help="Pipeline: 'a,b' exactly, '-c' drop, '+d' add, 'default' for the standard list.")] = None,
    plugin: Annotated[Optional[list[Path]], typer.Option(help="Python file registering passes with @compiler.register_pass (repeatable).")] = None,
) -> None:
    """Compile a Keras model to ONNX."""
    start = time.perf_counter()
    target = output or model.with_suffix(".onnx")
    for path in plugin or []:
        compiler.load_plugin(path)
    pipeline = compiler.parse_passes(passes)
    graph = compiler.load(model, weights=weights, seed=seed)
    mode = preprocess.value if preprocess != Preprocess.auto else _guess_preprocess(graph.name)
    res = compiler.compile(graph, preprocess=mode, input_layout=input_layout.value, opset=opset,
                           target=target_kind.value, passes=pipeline)
    compiler.save(res, target)
    elapsed = time.perf_counter() - start

    counts = Counter(n.op_type for n in res.skeleton.graph.node)
    out.print(f"[bold]{model}[/] → [bold green]{target}[/]")
    out.print(f"  layers in     {res.layers_in}  (model '{graph.name}')")
    out.print(f"  ONNX nodes    {sum(counts.values())}: " + ", ".join(f"{op} {n}" for op, n in counts.most_common()))
    for rep in res.report:
        out.print(f"  pass          {rep.name}: {rep.summary}")
    out.print(f"  parameters    {res.graph.num_params():,}")
    out.print(f"  preprocess    {mode}" + ("  (guessed from the model name)" if preprocess == Preprocess.auto and mode != "none" else ""))
    out.print(f"  file          {_size(target.stat().st_size)}, opset {opset}, target {target_kind.value}, inputs {input_layout.value.upper()}")
    out.print(f"  time          {elapsed:.2f} s")
    weights_note = res.metadata.get("kerascc.weights", "")
    if res.random_weights:
        out.print(f"  [bold yellow]weights       {weights_note.upper()[:6]}{weights_note[6:]} (pass --weights or a .keras file for trained ones)[/]")
    else:
        out.print(f"  weights       {weights_note}")


@app.command("run")
def run_cmd(
    model: Annotated[Path, typer.Argument(help="Compiled .onnx model.")],
    images: Annotated[list[Path], typer.Argument(help="Image files (JPEG, PNG, …).")],
    provider: Annotated[str, typer.Option(help="auto, tensorrt, cuda or cpu.")] = "auto",
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Classes to show per image.")] = 5,
    batch_size: Annotated[int, typer.Option(help="Images per inference call.")] = 8,
    save: Annotated[Optional[Path], typer.Option(help="Save the outputs: .npz keeps every output by name, .npy the first.")] = None,
) -> None:
    """Run a compiled model on images and print its predictions."""
    from runtime.predict import format_prediction, predict

    pred = predict(model, images, provider=None if provider == "auto" else provider, batch_size=batch_size)
    info = pred.session_info
    out.print(f"[bold]{model}[/] on {info.provider}  (preprocess {pred.preprocess}, layout {pred.layout})")
    for note in [*info.fallbacks, *getattr(info, "notes", [])]:
        err.print(f"[yellow]note:[/] {note}")
    meta = _metadata(model)
    if meta.get("kerascc.weights", "").startswith("random"):
        err.print("[yellow]note:[/] this model was compiled with RANDOM weights: its predictions are meaningless")
    for line in format_prediction(pred, k=top_k):
        out.print(line)
    if save is not None:
        import io

        import numpy as np

        buf = io.BytesIO()
        if save.suffix.lower() == ".npz":
            np.savez(buf, **pred.outputs)
        else:
            np.save(buf, next(iter(pred.outputs.values())))
        compiler.save_bytes(buf.getvalue(), save)
        out.print(f"saved {save}")


@app.command("bench")
def bench_cmd(
    model: Annotated[Path, typer.Argument(help="Compiled .onnx model.")],
    batch: Annotated[str, typer.Option(help="Batch sizes, comma-separated.")] = "1",
    runs: Annotated[int, typer.Option(help="Timed runs per batch size.")] = 50,
    warmup: Annotated[int, typer.Option(help="Untimed runs first.")] = 5,
    provider: Annotated[str, typer.Option(help="auto, tensorrt, cuda or cpu.")] = "auto",
    optimization: Annotated[str, typer.Option(help="onnxruntime graph optimizations: all, extended, basic, disable.")] = "all",
    threads: Annotated[Optional[int], typer.Option(help="Intra-op threads (default: onnxruntime's choice).")] = None,
) -> None:
    """Measure latency percentiles and throughput of a compiled model."""
    from rich.table import Table

    from runtime.bench import benchmark
    from runtime.providers import short_name

    try:
        sizes = [int(b) for b in batch.split(",") if b.strip()]
    except ValueError:
        raise compiler.CompileError(f"--batch must be comma-separated integers, not '{batch}'") from None
    table = Table(title=f"{model} (optimizations: {optimization})")
    for col in ("provider", "batch", "session s", "p50 ms", "p90 ms", "p99 ms", "samples/s"):
        table.add_column(col, justify="right")
    for size in sizes:
        res = benchmark(model, batch=size, runs=runs, warmup=warmup, provider=None if provider == "auto" else provider,
                        optimization=optimization, threads=threads)
        for note in res.fallbacks:
            err.print(f"[yellow]note:[/] {note}")
        table.add_row(short_name(res.provider), str(size), f"{res.session_seconds:.2f}", f"{res.median_ms:.1f}",
                      f"{res.percentile(90):.1f}", f"{res.percentile(99):.1f}", f"{res.throughput:.1f}")
    out.print(table)


def _metadata(model: Path) -> dict[str, str]:
    import onnx

    try:
        proto = onnx.load(str(model), load_external_data=False)
    except Exception:
        return {}
    return {p.key: p.value for p in proto.metadata_props}


@app.command("inspect")
def inspect_cmd(
    model: Annotated[Path, typer.Argument(help="A Keras model (shows the IR after each pass) or an .onnx file.")],
    weights: Annotated[Optional[Path], typer.Option("--weights", "-w")] = None,
    passes: Annotated[Optional[str], typer.Option(help="Pipeline, as for compile.")] = None,
    plugin: Annotated[Optional[list[Path]], typer.Option(help="Python file registering passes (repeatable).")] = None,
    dot: Annotated[Optional[Path], typer.Option(help="Also write the final IR as Graphviz DOT to this file.")] = None,
    svg: Annotated[Optional[Path], typer.Option(help="Also render the final IR to SVG (needs Graphviz's `dot`).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the pass summaries, not the IR text.")] = False,
) -> None:
    """Show a model: the IR after each pass, or an ONNX file's interface and ops."""
    if model.suffix.lower() == ".onnx":
        _inspect_onnx(model)
        return
    for path in plugin or []:
        compiler.load_plugin(path)
    pipeline = compiler.parse_passes(passes)
    graph = compiler.load(model, weights=weights)
    if not quiet:
        out.print(str(graph), markup=False)

    def show(report: compiler.PassReport, g: compiler.Graph) -> None:
        out.print(f"\n[bold]after {report.name}[/]: {report.summary}")
        if not quiet:
            out.print(str(g), markup=False)

    graph, _ = compiler.run_passes(graph, pipeline, check=True, on_step=show)
    text = graph.to_dot()
    if dot is not None:
        compiler.save_bytes(text.encode(), dot)
        out.print(f"wrote {dot}")
    if svg is not None:
        import shutil
        import subprocess

        exe = shutil.which("dot")
        if exe is None:
            raise compiler.CompileError("Graphviz's `dot` is not installed", file=svg,
                                        hint="apt-get install graphviz, or use --dot and render elsewhere")
        rendered = subprocess.run([exe, "-Tsvg"], input=text.encode(), capture_output=True, check=False)
        if rendered.returncode != 0:
            raise compiler.CompileError(f"dot failed: {rendered.stderr.decode(errors='replace').strip()}", file=svg)
        compiler.save_bytes(rendered.stdout, svg)
        out.print(f"wrote {svg}")


def _inspect_onnx(model: Path) -> None:
    import onnx

    try:
        proto = onnx.load(str(model))
    except Exception as exc:
        raise compiler.FormatError(f"not a readable ONNX file ({type(exc).__name__})", file=model) from None
    g = proto.graph
    out.print(f"[bold]{model}[/]  opset {proto.opset_import[0].version}, producer {proto.producer_name} {proto.producer_version}")
    for kind, values in (("input", g.input), ("output", g.output)):
        for v in values:
            dims = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            out.print(f"  {kind:<7} {v.name} {dims}")
    counts = Counter(n.op_type for n in g.node)
    out.print("  ops     " + ", ".join(f"{op} {n}" for op, n in counts.most_common()))
    for p in proto.metadata_props:
        out.print(f"  meta    {p.key} = {p.value}")


def main() -> None:
    debug = "--debug" in sys.argv[1:]
    try:
        app()
    except compiler.CompileError as exc:
        if debug:
            raise
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:  # a bug of ours: still one line unless --debug
        if debug:
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 3)


if __name__ == "__main__":
    main()
