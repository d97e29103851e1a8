"""kerascc command line: compile Keras models to ONNX, run and inspect them.

Thin by design: parse arguments, call :mod:`compiler` / :mod:`runtime`, print. Every user error
arrives as a :class:`compiler.CompileError` and leaves as one red line with exit code 2
(``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import gc
import os

# numpy's BLAS starts a worker per core at import, and they spin for a while: nothing the command
# line does needs them (onnxruntime and OpenVINO have their own threads), and on a small machine
# they take a core from start-up. A user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# The imports below make some 70,000 objects that live as long as the process. Collecting while
# they are made only rescans them (a tenth of a whole `compile` of ResNet50), so the collector
# waits for them and is then told to leave them alone.
gc.disable()

import json
import math
import re
import signal
import sys
import tempfile
import time
import warnings
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import onnx
import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from typer._click import exceptions as typer_errors  # the click that typer bundles

import compiler
from compiler.draw import onnx_to_dot, render_svg
from compiler.io import check_input_file, check_writable, load_structure, refuse_inputs_as_outputs
from compiler.limits import format_size, parse_size
from runtime.arrays import describe, is_array_source, run_array_files
from runtime.batch import BatchRunner, RunStats, describe_stats, expand_inputs
from runtime.bench import bench_document, benchmark_many
from runtime.engines import FP32, PrecisionCheck
from runtime.outputs import MaskWriter, cell_text, check_output_path, load_labels, result_rows, write_results
from runtime.providers import GpuSettings, short_name, usable_threads
from runtime.results import has_random_weights, run_summary, save_arrays, save_outputs
from runtime.triton import build_config, export
from runtime.verify import import_keras, load_reference
from runtime.verify import verify as verify_outputs

gc.freeze()
gc.enable()

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Compile Keras models (JSON, .keras, .h5, Keras code in .py) to optimized ONNX and run them with onnxruntime.",
)
# no emoji codes: ':name:' inside a layer or file name must print as typed
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

# C0/C1 controls, and the bidirectional overrides that make a terminal show text in another order
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain(value: object, keep_newlines: bool = False) -> str:
    """``value`` as inert text: control characters shown as escapes, undecodable bytes as ``\\udcNN``.

    Names in model files, file names and label files are data from whoever made the file; a raw
    ESC would drive the user's terminal, and a lone surrogate would crash the write to stdout.
    """
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")

    def code(m: re.Match[str]) -> str:
        ch = m.group()
        return ch if keep_newlines and ch in "\n\t" else ascii(ch)[1:-1]

    return _CONTROL.sub(code, text)


def shown(value: object) -> str:
    """Data (a name, a path, a label) to put into a rich markup string: :func:`plain`, then
    escaped so a ``[/]`` or ``[bold]`` in it is printed, never read as markup."""
    return escape(plain(value))


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


EntryOpt = Annotated[
    str | None, typer.Option("--entry", help="For a .py model file: the model variable or the function that builds it.")
]
CustomObjectsOpt = Annotated[
    Path | None,
    typer.Option(
        "--custom-objects",
        help="For a JSON/.keras/.h5 model naming custom layer classes: the .py file defining them "
        "(run like a model file; trust it). Its layers are traced.",
    ),
]
ArgOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--arg", help="For a .py model file: key=value passed to the function, value as a Python literal (repeatable)."
    ),
]


def _fail(message: str, code: int = 2) -> None:
    # escaped: messages quote pip extras such as 'kerascc[gpu]', which rich would read as markup
    err.print(f"[bold red]error:[/] {shown(message)}", soft_wrap=True, markup=True)
    sys.exit(code)


def _check_inputs(model: Path, weights: Path | None = None, others: Any = ()) -> None:
    """Every file a command reads is a regular file, checked before anything opens it (no FIFO hang)."""
    check_input_file(model, "model file")
    check_input_file(weights, "weights file")
    for path in others:
        check_input_file(path, "file to read")


def _threads(threads: int | None) -> int | None:
    threads, note = usable_threads(threads)
    if note:
        err.print(f"[yellow]note:[/] {shown(note)}")
    return threads


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return str(n)


_DEFAULT_MAX_WEIGHTS = format_size(compiler.Limits.max_weight_bytes).replace(".0 ", "")
_DEFAULT_MAX_CONFIG = format_size(compiler.Limits.max_config_bytes).replace(".0 ", "")


def _limits(max_weights: str, max_layers: int, max_config: str) -> compiler.Limits:
    return compiler.Limits(
        max_weight_bytes=_bytes("--max-weights", max_weights),
        max_layers=max_layers,
        max_config_bytes=_bytes("--max-config", max_config),
    )


def _bytes(option: str, text: str) -> int:
    """A size option; one past what any file system holds (a 400-digit number) is a user error, not a crash."""
    try:
        return parse_size(text)
    except (OverflowError, ValueError):
        shown_text = text if len(text) <= 24 else text[:20] + "…"
        raise compiler.CompileError(
            f"{option} {shown_text} is too large a size", hint="write it like 512MB, 8GB or 1.5TB"
        ) from None


def _opset(opset: int) -> int:
    """Only opsets the installed onnx defines: a newer number writes a file no runtime can load."""
    newest = onnx.defs.onnx_opset_version()
    if opset > newest:
        raise compiler.CompileError(
            f"opset {opset} is newer than the installed onnx knows",
            hint=f"use an opset from {compiler.DEFAULT_OPSET} to {newest}",
        )
    return opset


def _workspace(gb: float | None) -> float | None:
    """``--trt-workspace-gb``: a positive, finite number of GB (nan, inf and negatives are typos)."""
    if gb is not None and not (math.isfinite(gb) and gb > 0):
        raise compiler.CompileError(f"--trt-workspace-gb must be a positive number of GB, not {gb}")
    return gb


@app.callback()
def main_options(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    """Options for every command (--debug is acted on by main(), around the whole app)."""


@app.command("compile")
def compile_cmd(
    model: Annotated[
        Path, typer.Argument(help="Keras model: model JSON, .keras archive, .h5 file or Keras code in a .py file.")
    ],
    entry: EntryOpt = None,
    arg: ArgOpt = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="ONNX file to write (default: MODEL.onnx next to MODEL).")
    ] = None,
    custom_objects: CustomObjectsOpt = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", "-w", help="Weights (.weights.h5 or legacy .h5).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for random weights when none are given.")] = 0,
    preprocess: Annotated[
        Preprocess, typer.Option(help="Image preprocessing recorded for `run` (auto: from the Keras application name).")
    ] = Preprocess.auto,
    input_layout: Annotated[
        Layout, typer.Option("--input-layout", help="Layout of 4-D inputs: nhwc (as in Keras) or nchw.")
    ] = Layout.nhwc,
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = compiler.DEFAULT_OPSET,
    target_kind: Annotated[
        Target,
        typer.Option("--target", help="onnx (portable), ort (onnxruntime CPU, optimized ahead of time) or tensorrt."),
    ] = Target.onnx,
    passes: Annotated[
        str | None, typer.Option(help="Pipeline: 'a,b' exactly, '-c' drop, '+d' add, 'default' for the standard list.")
    ] = None,
    plugin: Annotated[
        list[Path] | None,
        typer.Option(help="Python file registering passes with @compiler.register_pass (repeatable)."),
    ] = None,
    max_weights: Annotated[
        str, typer.Option("--max-weights", help="Refuse models whose weights exceed this size.")
    ] = _DEFAULT_MAX_WEIGHTS,
    max_layers: Annotated[
        int, typer.Option("--max-layers", help="Refuse models with more layers.")
    ] = compiler.Limits.max_layers,
    max_config: Annotated[
        str, typer.Option("--max-config", help="Refuse model descriptions (JSON) larger than this.")
    ] = _DEFAULT_MAX_CONFIG,
    input_shape: Annotated[
        list[str] | None,
        typer.Option(
            "--input-shape", help="Static input shape, Keras order: 1,224,224,3 or NAME:1,224,224,3 (repeatable)."
        ),
    ] = None,
    int8: Annotated[
        bool,
        typer.Option(
            "--int8", help="Quantize to INT8 (onnxruntime static quantization, QDQ, per-channel); needs --calibrate."
        ),
    ] = False,
    calibrate: Annotated[
        Path | None, typer.Option("--calibrate", help="Folder (or glob) of images to calibrate INT8 ranges on.")
    ] = None,
    calibration_size: Annotated[
        int, typer.Option("--calibration-size", help="Calibration images used at most.")
    ] = compiler.CompileOptions.calibration_size,
    fp16: Annotated[
        bool, typer.Option("--fp16", help="Convert weights and math to FP16 (for GPUs); inputs and outputs stay FP32.")
    ] = False,
) -> None:
    """Compile a Keras model to ONNX."""
    options = compiler.CompileOptions(
        weights=weights,
        seed=seed,
        entry=entry,
        args=arg,
        custom_objects=custom_objects,
        limits=_limits(max_weights, max_layers, max_config),
        passes=passes,
        input_shapes=input_shape,
        input_layout=input_layout.value,
        preprocess=preprocess.value,
        target=target_kind.value,
        opset=_opset(opset),
        int8=int8,
        calibrate=calibrate,
        calibration_size=calibration_size,
        fp16=fp16,
    )
    start = time.perf_counter()
    _check_inputs(model, weights, [*(plugin or []), *([custom_objects] if custom_objects else [])])
    target = output or model.with_suffix(".onnx")
    refuse_inputs_as_outputs(
        [target, compiler.external_data_path(target)], [model, weights, custom_objects, *(plugin or [])]
    )
    check_writable(target)  # before minutes of compiling, not after
    for path in plugin or []:
        compiler.load_plugin(path)
    res = compiler.compile(model, options, on_note=lambda note: err.print(f"[yellow]note:[/] {shown(note)}"))
    compiler.save(res, target)
    elapsed = time.perf_counter() - start

    counts = res.op_counts()
    out.print(f"[bold]{shown(model)}[/] → [bold green]{shown(target)}[/]")
    out.print(f"  layers in     {res.layers_in}  (model '{shown(res.name)}')")
    out.print(
        f"  ONNX nodes    {sum(counts.values())}: " + ", ".join(f"{shown(op)} {n}" for op, n in counts.most_common())
    )
    for rep in res.report:
        out.print(f"  pass          {shown(rep.name)}: {shown(rep.summary)}")
    out.print(f"  parameters    {res.graph.num_params():,}")
    guessed = "  (guessed from the model name)" if res.preprocess_guessed else ""
    out.print(f"  preprocess    {shown(res.preprocess)}{guessed}")
    side = compiler.external_data_path(target)
    weights_file = f" + {_size(side.stat().st_size)} of weights in {shown(side.name)}" if side.exists() else ""
    out.print(
        f"  file          {_size(target.stat().st_size)}{weights_file}, opset {opset}, "
        f"target {target_kind.value}, inputs {input_layout.value.upper()}"
    )
    for line in res.precision:
        out.print(f"  precision     {shown(line)}")
    out.print(f"  time          {elapsed:.2f} s")
    weights_note = res.metadata.get("kerascc.weights", "")
    if res.random_weights:
        out.print(
            f"  [bold yellow]weights       {shown(weights_note.upper()[:6] + weights_note[6:])} "
            "(pass --weights or a .keras file for trained ones)[/]"
        )
    else:
        out.print(f"  weights       {shown(weights_note)}")


_GPU = "GPU (CUDA / TensorRT)"
DeviceId = Annotated[int, typer.Option("--device-id", help="CUDA device to run on.", rich_help_panel=_GPU)]
TrtFp16 = Annotated[bool, typer.Option("--trt-fp16", help="Let TensorRT use FP16 kernels.", rich_help_panel=_GPU)]
TrtInt8 = Annotated[
    bool,
    typer.Option(
        "--trt-int8",
        help="Let TensorRT use INT8 (a QDQ model from compile --int8, or --trt-calibration-table).",
        rich_help_panel=_GPU,
    ),
]
TrtTable = Annotated[
    Path | None,
    typer.Option(
        "--trt-calibration-table",
        help="INT8 calibration table (TensorRT's own, or onnxruntime's *.flatbuffers).",
        rich_help_panel=_GPU,
    ),
]
TrtWorkspace = Annotated[
    float | None,
    typer.Option("--trt-workspace-gb", help="Most GPU memory TensorRT may use while building.", rich_help_panel=_GPU),
]
TrtCache = Annotated[
    Path | None,
    typer.Option(
        "--trt-cache", help="Engine and timing cache folder (default ~/.cache/kerascc/trt).", rich_help_panel=_GPU
    ),
]
CudnnSearch = Annotated[
    str,
    typer.Option(
        "--cudnn-search",
        help="cuDNN convolution algorithm search: EXHAUSTIVE, HEURISTIC or DEFAULT.",
        rich_help_panel=_GPU,
    ),
]


def _gpu_settings(
    device_id: int,
    trt_fp16: bool,
    trt_int8: bool,
    trt_table: Path | None,
    trt_workspace_gb: float | None,
    trt_cache: Path | None,
    cudnn_search: str,
) -> GpuSettings:
    return GpuSettings(
        device_id=device_id,
        fp16=trt_fp16,
        int8=trt_int8,
        int8_calibration_table=trt_table,
        workspace_gb=_workspace(trt_workspace_gb),
        cache_dir=trt_cache,
        conv_algo_search=cudnn_search.upper(),
    )


_ENGINE_HELP = "auto, onnxruntime or openvino (auto: the fastest installed for this device; README 'Engines')."
_PRECISION_HELP = "fp32 (exact, default), bf16 (CPUs with native bf16), int8 (a compile --int8 model) or auto."
ReferenceModel = Annotated[
    Path | None,
    typer.Option("--reference", help="For an int8 model: the fp32 .onnx it came from, to measure the accuracy cost."),
]


@app.command("run")
def run_cmd(
    model: Annotated[Path, typer.Argument(help="Compiled .onnx model.")],
    images: Annotated[
        list[str],
        typer.Argument(
            help="Image files, folders (searched recursively) or quoted glob patterns; or, for token ids and "
            "other arrays, .npy files (one per input), one .npz keyed by input name, or a .txt of ids."
        ),
    ],
    provider: Annotated[str, typer.Option(help="auto, tensorrt, cuda or cpu.")] = "auto",
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Classes to show per image.")] = 5,
    batch_size: Annotated[int, typer.Option(help="Images per inference call.")] = 8,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write every result to a .csv or .json file.")
    ] = None,
    labels: Annotated[
        Path | None, typer.Option(help="Class names, one a line (default: ImageNet for 1000 classes).")
    ] = None,
    masks: Annotated[Path | None, typer.Option(help="Folder for segmentation masks and overlays (PNG).")] = None,
    save: Annotated[
        Path | None, typer.Option(help="Save the outputs: .npz keeps every output by name, .npy the first.")
    ] = None,
    show: Annotated[int, typer.Option(help="Rows of the results table printed on screen.")] = 20,
    threads: Annotated[int | None, typer.Option(help="Intra-op threads (default: onnxruntime's choice).")] = None,
    engine: Annotated[str, typer.Option(help=_ENGINE_HELP)] = "auto",
    precision: Annotated[str, typer.Option(help=_PRECISION_HELP)] = "fp32",
    verify_precision: Annotated[
        bool, typer.Option("--verify-precision", help="Also run every batch in fp32 and report the accuracy cost.")
    ] = False,
    reference: ReferenceModel = None,
    device_id: DeviceId = 0,
    trt_fp16: TrtFp16 = False,
    trt_int8: TrtInt8 = False,
    trt_calibration_table: TrtTable = None,
    trt_workspace_gb: TrtWorkspace = None,
    trt_cache: TrtCache = None,
    cudnn_search: CudnnSearch = "EXHAUSTIVE",
) -> None:
    """Run a compiled model on images, folders or globs, or on .npy/.npz arrays or a .txt of token
    ids (one sequence a line, padded with 0); print, and optionally save, the results."""
    _check_inputs(model, others=[labels, trt_calibration_table, reference])
    threads = _threads(threads)
    if output is not None:
        check_writable(check_output_path(output))
    if save is not None:
        check_writable(save)
    if masks is not None:
        check_writable(masks, folder=True)
    names = load_labels(labels) if labels is not None else None
    settings = _gpu_settings(
        device_id, trt_fp16, trt_int8, trt_calibration_table, trt_workspace_gb, trt_cache, cudnn_search
    )
    if is_array_source(images):  # token ids, series: .npy/.npz/.txt instead of images
        _run_on_arrays(
            model, images, provider, top_k, batch_size, save, show, threads, settings, output, masks, engine, precision
        )
        return
    sources = expand_inputs(images)
    # results are checked now, not after the inference they would be lost to
    refuse_inputs_as_outputs(
        [output, save], [model, compiler.external_data_path(model), labels, *(s.path for s in sources)]
    )
    runner = BatchRunner(
        model,
        None if provider == "auto" else provider,
        threads=threads,
        settings=settings,
        engine=engine.strip().lower(),
        precision=precision.strip().lower(),
    )
    if verify_precision:
        runner.check = PrecisionCheck(model, reference, runner.output_names)
    info = runner.info
    out.print(
        f"[bold]{shown(model)}[/] on {shown(info.label)}  (preprocess {shown(runner.preprocess)}, "
        f"layout {runner.layout}, {runner.conversion}, "
        f"{len(sources)} image{'s' if len(sources) != 1 else ''})"
    )
    for note in [*info.fallbacks, *info.notes]:
        err.print(f"[yellow]note:[/] {shown(note)}")

    stats = RunStats()
    writer = MaskWriter(masks) if masks is not None else None
    rows: list[dict] = []
    kept: list = []
    progress = Progress(
        TextColumn("inference"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal or len(sources) <= 1,
    )
    with progress:
        task = progress.add_task("inference", total=len(sources))
        batches = runner.stream(
            sources,
            batch_size,
            stats=stats,
            on_skip=lambda path, why: err.print(f"[yellow]skipped:[/] {shown(f'{path}: {why}')}"),
            on_progress=lambda n: progress.advance(task, n),
        )
        for batch in batches:
            rows.extend(result_rows(batch.paths, batch.outputs, k=top_k, labels=names, masks=writer))
            if save is not None:
                kept.append(batch)

    table = Table(show_edge=False)
    table.add_column("image", overflow="fold")
    for name in runner.output_names:
        table.add_column(shown(name), overflow="fold")
    for row in rows[:show]:
        table.add_row(shown(row["file"]), *(shown(cell_text(row["outputs"][n], top_k)) for n in runner.output_names))
    if rows and show > 0:
        _print_table(table)
    if len(rows) > show:
        out.print(f"… {len(rows) - show} more rows" + ("" if output else " (--output results.csv keeps them all)"))
    out.print(shown(describe_stats(stats, info.label)))
    if runner.check is not None:
        for line in runner.check.lines(info.precision):
            out.print(f"accuracy  {shown(line)}")
    if has_random_weights(runner.metadata):  # after a bad input's error, not before
        err.print("[yellow]note:[/] this model was compiled with RANDOM weights: its predictions are meaningless")
    if output is not None:
        summary = run_summary(model, info.provider, stats, engine=info.engine, precision=info.precision)
        write_results(rows, output, summary)
        out.print(f"wrote {shown(output)}")
    if writer is not None:
        out.print(f"masks in {shown(masks)}")
    if save is not None:
        save_outputs(kept, save)
        out.print(f"saved {shown(save)}")


def _run_on_arrays(
    model: Path,
    args: list[str],
    provider: str,
    top_k: int,
    batch_size: int,
    save: Path | None,
    show: int,
    threads: int | None,
    settings: GpuSettings,
    output: Path | None,
    masks: Path | None,
    engine: str = "auto",
    precision: str = "fp32",
) -> None:
    """``run`` on array files: one row per sample, class scores or a summary per output."""
    if output is not None or masks is not None:
        raise compiler.CompileError(
            "--output and --masks are for image runs", hint="--save outputs.npz keeps every output of array inputs"
        )
    refuse_inputs_as_outputs([save], [model, compiler.external_data_path(model), *map(Path, args)])
    res = run_array_files(
        model,
        args,
        provider=None if provider == "auto" else provider,
        batch_size=batch_size,
        threads=threads,
        settings=settings,
        engine=engine.strip().lower(),
        precision=precision.strip().lower(),
    )
    fed = ", ".join(f"{i.name} {i.shown}" for i in res.inputs)
    out.print(f"[bold]{shown(model)}[/] on {shown(res.info.label)}  ({res.samples} samples; {shown(fed)})")
    for note in [*res.info.fallbacks, *res.info.notes]:
        err.print(f"[yellow]note:[/] {shown(note)}")
    table = Table(show_edge=False)
    table.add_column("sample", justify="right")
    for name in res.outputs:
        table.add_column(shown(name), overflow="fold")
    for i in range(min(res.samples, show)):
        cells = describe(res.outputs, i, top_k)
        table.add_row(str(i), *(shown(cells[n]) for n in res.outputs))
    if show > 0:
        _print_table(table)
    if res.samples > show:
        out.print(f"… {res.samples - show} more samples" + ("" if save else " (--save outputs.npz keeps them all)"))
    rate = res.samples / res.seconds if res.seconds > 0 else 0.0
    out.print(f"{res.samples} samples in {res.seconds:.2f} s ({rate:.1f}/s) on {shown(res.info.provider)}")
    meta = dict(res.info.session.get_modelmeta().custom_metadata_map)
    if has_random_weights(meta):
        err.print("[yellow]note:[/] this model was compiled with RANDOM weights: its predictions are meaningless")
    if save is not None:
        save_arrays(res.outputs, save)
        out.print(f"saved {shown(save)}")


@app.command("bench")
def bench_cmd(
    model: Annotated[Path, typer.Argument(help="Compiled .onnx model.")],
    batch: Annotated[str, typer.Option(help="Batch sizes, comma-separated.")] = "1",
    runs: Annotated[int, typer.Option(help="Timed runs per batch size.")] = 50,
    warmup: Annotated[int, typer.Option(help="Untimed runs first.")] = 5,
    provider: Annotated[
        str, typer.Option(help="auto, tensorrt, cuda or cpu; comma-separated to compare (cpu,cuda).")
    ] = "auto",
    optimization: Annotated[
        str, typer.Option(help="onnxruntime graph optimizations: all, extended, basic, disable.")
    ] = "all",
    threads: Annotated[int | None, typer.Option(help="Intra-op threads (default: onnxruntime's choice).")] = None,
    engine: Annotated[str, typer.Option(help=_ENGINE_HELP + " Comma-separated to compare.")] = "auto",
    precision: Annotated[str, typer.Option(help=_PRECISION_HELP + " Comma-separated to compare.")] = "fp32",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document (a row per engine, provider, precision, batch).")
    ] = False,
    reference: ReferenceModel = None,
    device_id: DeviceId = 0,
    trt_fp16: TrtFp16 = False,
    trt_int8: TrtInt8 = False,
    trt_calibration_table: TrtTable = None,
    trt_workspace_gb: TrtWorkspace = None,
    trt_cache: TrtCache = None,
    cudnn_search: CudnnSearch = "EXHAUSTIVE",
) -> None:
    """Measure p50/p90/p99 latency and throughput of a compiled model, per provider and batch size."""
    _check_inputs(model, others=[trt_calibration_table, reference])
    threads = _threads(threads)
    try:
        sizes = [int(b) for b in batch.split(",") if b.strip()]
    except ValueError:
        raise compiler.CompileError(f"--batch must be comma-separated integers, not '{batch}'") from None
    providers = [p.strip() for p in provider.split(",") if p.strip()] or ["auto"]
    settings = _gpu_settings(
        device_id, trt_fp16, trt_int8, trt_calibration_table, trt_workspace_gb, trt_cache, cudnn_search
    )
    engines = [e.strip().lower() for e in engine.split(",") if e.strip()] or ["auto"]
    precisions = [p.strip().lower() for p in precision.split(",") if p.strip()] or ["fp32"]
    table = Table(title=f"{shown(model)} (optimizations: {shown(optimization)})")
    for col in ("provider", "batch", "engine", "precision", "session s", "p50 ms", "p90 ms", "p99 ms", "samples/s"):
        table.add_column(col, justify="right", overflow="fold")  # a narrow terminal folds, never cuts
    total = len(engines) * len(providers) * len(precisions) * len(sizes) * (runs + warmup)
    results = []
    noted: set[str] = set()
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("benchmark", total=total)
        for res in benchmark_many(
            model,
            engines=engines,
            precisions=precisions,
            reference=reference,
            providers=[None if p == "auto" else p for p in providers],
            batches=sizes,
            runs=runs,
            warmup=warmup,
            optimization=optimization,
            threads=threads,
            settings=settings,
            on_run=lambda: bar.advance(task),
        ):
            for note in [*res.fallbacks, *res.notes]:
                if note not in noted:
                    noted.add(note)
                    err.print(f"[yellow]note:[/] {shown(note)}")
            results.append(res)
            table.add_row(
                short_name(res.provider),
                str(res.batch),
                res.engine,
                res.precision,
                f"{res.session_seconds:.2f}",
                f"{res.median_ms:.1f}",
                f"{res.percentile(90):.1f}",
                f"{res.percentile(99):.1f}",
                f"{res.throughput:.1f}",
            )
    if as_json:
        print(json.dumps(bench_document(model, results), indent=2))  # plain print: no rich markup or wrapping
        return
    _print_table(table)
    costs = [(res, cost) for res in results for cost in res.accuracy or []]
    for res, cost in costs:
        out.print(f"accuracy  {res.engine} batch {res.batch}: {shown(cost.line(res.precision))}")
    if costs and any(res.precision != FP32 for res, _ in costs):
        # noise is not what an int8 model was calibrated on: its cost there says little about photos
        out.print("          (on bench's random inputs; `run --verify-precision` measures it on your own data)")


@app.command("export-triton")
def export_triton_cmd(
    model: Annotated[Path, typer.Argument(help="Compiled .onnx model.")],
    repository: Annotated[Path, typer.Argument(help="Triton model repository folder (created if missing).")],
    name: Annotated[
        str | None, typer.Option(help="Model name in the repository (default: from the file name).")
    ] = None,
    max_batch_size: Annotated[
        int, typer.Option("--max-batch-size", help="Largest batch Triton forms; 0 turns batching off.")
    ] = 8,
    instances: Annotated[int, typer.Option(help="Model instances (copies) per device.")] = 1,
    kind: Annotated[str, typer.Option(help="Where instances run: gpu or cpu.")] = "gpu",
    accelerator: Annotated[str, typer.Option(help="GPU accelerator: tensorrt, cuda or none.")] = "tensorrt",
    fp16: Annotated[bool, typer.Option("--fp16", help="TensorRT precision mode FP16.")] = False,
    workspace_gb: Annotated[float | None, typer.Option("--trt-workspace-gb", help="TensorRT workspace limit.")] = None,
) -> None:
    """Write a Triton Inference Server model repository (config.pbtxt and version 1 of the model)."""
    _check_inputs(model)
    config = build_config(
        model,
        name=name,
        max_batch_size=max_batch_size,
        instances=instances,
        kind=kind.lower(),
        accelerator=accelerator.lower(),
        fp16=fp16,
        workspace_gb=_workspace(workspace_gb),
    )
    version = repository / config.name / "1"
    refuse_inputs_as_outputs(
        [version / "model.onnx", version / "model.onnx.data", version.parent / "config.pbtxt"],
        [model, compiler.external_data_path(model)],
    )
    folder = export(model, repository, config)
    out.print(f"[bold]{shown(model)}[/] → [bold green]{shown(folder)}[/]  (Triton model '{shown(config.name)}')")
    out.print(f"  config        {shown(folder / 'config.pbtxt')}")
    out.print(f"  model         {shown(folder / '1' / 'model.onnx')}")
    batching = (
        f"dynamic, max {config.max_batch_size}, preferred {config.preferred_batch_sizes}"
        if config.max_batch_size
        else "off"
    )
    out.print(f"  batching      {batching}")
    accel = config.accelerator + (" FP16" if config.fp16 else "") if config.kind == "gpu" else "none"
    out.print(f"  instances     {config.instances} × {config.kind.upper()}, accelerator {accel}")
    out.print(f"  serve with    tritonserver --model-repository {shown(repository)}")


@app.command("export-json")
def export_json_cmd(
    model: Annotated[Path, typer.Argument(help="Keras model code, a .py file.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="JSON file to write (default: MODEL.json next to MODEL).")
    ] = None,
    entry: EntryOpt = None,
    arg: ArgOpt = None,
) -> None:
    """Write a .py model as Keras 3 JSON, loadable with keras.models.model_from_json."""
    _check_inputs(model)
    if model.suffix.lower() == ".py":  # any other file is refused by export_json, unread
        refuse_inputs_as_outputs([output or model.with_suffix(".json")], [model])
        check_writable(output or model.with_suffix(".json"))
    target = compiler.export_json(model, output, entry=entry, args=arg)
    out.print(f"[bold]{shown(model)}[/] → [bold green]{shown(target)}[/]")


@app.command("verify")
def verify_cmd(
    model: Annotated[Path, typer.Argument(help="The Keras model: .keras, .h5, JSON (with --weights) or a .py file.")],
    onnx_file: Annotated[
        Path | None, typer.Option("--onnx", help="Compare this ONNX model instead of compiling one now.")
    ] = None,
    inputs: Annotated[
        Path | None, typer.Option("--inputs", help="Inputs as .npz, one array per input name (default: random).")
    ] = None,
    batch: Annotated[int, typer.Option(help="Batch size of the random inputs.")] = 2,
    rtol: Annotated[float, typer.Option(help="Largest relative difference that passes, per output.")] = 1e-4,
    weights: Annotated[
        Path | None, typer.Option("--weights", "-w", help="Weights (.weights.h5 or legacy .h5).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random inputs.")] = 0,
    entry: EntryOpt = None,
    arg: ArgOpt = None,
) -> None:
    """Run the model in Keras and in onnxruntime on the same inputs; exit 0 when every output agrees within --rtol."""
    _check_inputs(model, weights, [p for p in (onnx_file, inputs) if p is not None])
    import_keras()  # without Keras: one line saying what to install, before any work
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kerascc-verify-") as scratch_dir:
        scratch = Path(scratch_dir)
        description = model
        if model.suffix.lower() == ".py":  # Keras loads the JSON the file describes
            description = compiler.export_json(model, scratch / "model.json", entry=entry, args=arg)
        reference = load_reference(description, weights, scratch, label=str(model))
        if onnx_file is not None:
            if reference.notes and weights is None:
                raise compiler.CompileError(
                    "the model has no weights of its own, so the ONNX model's cannot be checked",
                    file=str(model),
                    hint="pass the weights it was compiled with: --weights W.weights.h5",
                )
            target: Path | bytes = onnx_file
        else:
            compiled = compiler.compile(
                model, weights=reference.weights, entry=entry, args=arg, seed=0, on_note=lambda n: None
            )
            target = compiled.serialize()
        result = verify_outputs(reference, target, inputs=inputs, batch=batch, seed=seed, rtol=rtol)
    onnx_label = shown(onnx_file) if onnx_file is not None else "compiled now"
    out.print(
        f"[bold]{shown(model)}[/]: {result.keras_version} vs onnxruntime CPU ({onnx_label}), "
        f"batch {result.batch}, inputs {shown(result.inputs_from)}"
    )
    for note in result.notes:
        err.print(f"[yellow]note:[/] {shown(note)}")
    for check in result.outputs:
        verdict = "[green]pass[/]" if check.passed else "[bold red]FAIL[/]"
        out.print(
            f"  {shown(check.name):<24} {str(check.shape):<18} max abs {check.max_abs:.3g}  "
            f"max rel {check.max_rel:.3g}  {verdict}"
        )
    seconds = time.perf_counter() - start
    if result.passed:
        out.print(f"[bold green]PASS[/]: every output within rtol {rtol:g} ({seconds:.1f} s)")
        return
    failed = sum(not c.passed for c in result.outputs)
    out.print(f"[bold red]FAIL[/]: {failed} of {len(result.outputs)} outputs beyond rtol {rtol:g}")
    raise typer.Exit(1)


@app.command("inspect")
def inspect_cmd(
    model: Annotated[Path, typer.Argument(help="A Keras model (shows the IR after each pass) or an .onnx file.")],
    entry: EntryOpt = None,
    arg: ArgOpt = None,
    weights: Annotated[Path | None, typer.Option("--weights", "-w")] = None,
    custom_objects: CustomObjectsOpt = None,
    passes: Annotated[str | None, typer.Option(help="Pipeline, as for compile.")] = None,
    plugin: Annotated[list[Path] | None, typer.Option(help="Python file registering passes (repeatable).")] = None,
    dot: Annotated[
        Path | None, typer.Option(help="Also write the final IR (or the ONNX graph) as Graphviz DOT to this file.")
    ] = None,
    svg: Annotated[
        Path | None, typer.Option(help="Also render the final IR (or the ONNX graph) to SVG (needs Graphviz's `dot`).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the pass summaries, not the IR text.")] = False,
) -> None:
    """Show a model: the IR after each pass, or an ONNX file's interface and ops."""
    _check_inputs(model, weights, [*(plugin or []), *([custom_objects] if custom_objects else [])])
    refuse_inputs_as_outputs([dot, svg], [model, weights, *(plugin or [])])
    for picture in (dot, svg):
        if picture is not None:
            check_writable(picture)
    if model.suffix.lower() == ".onnx":
        proto = load_structure(model)
        _print_onnx(model, proto)
        _write_pictures(lambda: onnx_to_dot(proto), dot, svg)
        return
    for path in plugin or []:
        compiler.load_plugin(path)
    pipeline = compiler.parse_passes(passes)
    graph = compiler.load(
        model, weights=weights, entry=entry, args=compiler.parse_model_args(arg), custom_objects=custom_objects
    )
    if not quiet:
        out.print(plain(graph, keep_newlines=True), markup=False)

    def show(report: compiler.PassReport, g: compiler.Graph) -> None:
        out.print(f"\n[bold]after {shown(report.name)}[/]: {shown(report.summary)}")
        if not quiet:
            out.print(plain(g, keep_newlines=True), markup=False)

    graph, _ = compiler.run_passes(graph, pipeline, check=True, on_step=show)
    _write_pictures(graph.to_dot, dot, svg)


def _write_pictures(make_dot: Any, dot: Path | None, svg: Path | None) -> None:
    if dot is None and svg is None:
        return
    text = make_dot()
    if dot is not None:
        compiler.save_bytes(text.encode(), dot)
        out.print(f"wrote {shown(dot)}")
    if svg is not None:
        compiler.save_bytes(render_svg(text, svg), svg)
        out.print(f"wrote {shown(svg)}")


def _print_onnx(model: Path, proto: Any) -> None:
    g = proto.graph
    opset = proto.opset_import[0].version if proto.opset_import else "?"
    out.print(
        f"[bold]{shown(model)}[/]  opset {opset}, producer {shown(proto.producer_name)} {shown(proto.producer_version)}"
    )
    for kind, values in (("input", g.input), ("output", g.output)):
        for v in values:
            dims = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            out.print(f"  {kind:<7} {shown(v.name)} {shown(dims)}")
    counts = Counter(n.op_type for n in g.node)
    out.print("  ops     " + ", ".join(f"{shown(op)} {n}" for op, n in counts.most_common()))
    for p in proto.metadata_props:
        out.print(f"  meta    {shown(p.key)} = {shown(p.value)}")


class Terminated(BaseException):
    """SIGTERM, SIGHUP or SIGQUIT arrived: unwinds like Ctrl-C, so every writer removes its temporary file."""

    def __init__(self, signo: int) -> None:
        super().__init__(signo)
        self.signo = signo


def _terminate(signo: int, _frame: Any) -> None:
    raise Terminated(signo)


def _catch_signals() -> None:
    """Turn the signals that end a process by default into :class:`Terminated`, which runs cleanups."""
    for name in ("SIGTERM", "SIGHUP", "SIGQUIT"):
        signo = getattr(signal, name, None)
        if signo is not None:
            signal.signal(signo, _terminate)


def _print_table(table: Table) -> None:
    """A table on stdout: fitted to a terminal; written whole, at its own width, to a file or pipe
    (which has no width to keep to: 80 columns would cut engine names and headers short)."""
    if out.is_terminal:
        out.print(table)
        return
    natural = Measurement.get(out, out.options.update(width=10_000), table).maximum
    width = out.width
    out.width = max(width, natural)  # print's own width= may only narrow
    try:
        out.print(table)
    finally:
        out.width = width


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """A library's warning (numpy's ComplexWarning, Pillow's EXIF notes) as one line, not its source excerpt."""
    text = " ".join(str(message).split())
    err.print(f"[yellow]warning:[/] {shown(f'{category.__name__}: {text}')}")


def main() -> None:
    try:
        _main()
    finally:
        gc.freeze()  # the process ends next: its objects are freed without a last scan of them all


def _main() -> None:
    debug = "--debug" in sys.argv[1:]
    _catch_signals()
    if not debug:
        warnings.showwarning = _one_line_warning
    try:
        code = app(standalone_mode=False)  # usage errors reach us, and leave as one line like the rest
        if code == 130:  # typer turns Ctrl-C into exit code 130 without a word
            _fail("interrupted", 130)
        if isinstance(code, int) and code:
            sys.exit(code)
    except compiler.CompileError as exc:
        if debug:
            raise
        _fail(str(exc))
    except typer_errors.NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except typer_errors.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        _fail(" ".join(exc.format_message().split()) + hint, exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted", 130)
    except Terminated as exc:
        _fail(f"stopped by {signal.Signals(exc.signo).name}", 128 + exc.signo)
    except MemoryError:
        if debug:
            raise
        _fail("ran out of memory (the limits --max-weights/--max-layers were raised past what this machine holds?)")
    except Exception as exc:  # a bug of ours: still one line unless --debug
        if debug:
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 3)


if __name__ == "__main__":
    main()
