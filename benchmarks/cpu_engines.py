"""kerascc's CPU paths against tf2onnx + onnxruntime, in one run on this machine, with the CPU's peak.

    pip install -e ".[bench]"
    python benchmarks/cpu_engines.py            # four models, batch 1 and 8, ~10 minutes on 2 cores
    python benchmarks/cpu_engines.py --quick    # ResNet50 and MobileNetV2, fewer repetitions

For ResNet50, MobileNetV2, EfficientNetB0 and DenseNet121 (tf-keras ``keras.applications`` with
``weights=None``: seeded random weights, BatchNorm statistics randomised, written once as
``model.json`` + ``model.weights.h5``, so **both tools' files carry the same random weights**):

* tf2onnx converts the Keras model (``from_keras``, opset 17); kerascc compiles the JSON and the
  weights file. Both files are checked against Keras's own outputs first.
* Latency, batch 1 and 8, medians of interleaved rounds (every configuration per round, in a new
  seeded order each round, the
  fastest of three runs in a row, so the shared machine's noise falls on all of them alike and a
  moment's stolen core spoils one figure less; a 0.1 s pause before each configuration, so
  onnxruntime's spinning workers do not slow the next configuration down), as ratios to tf2onnx's file on
  onnxruntime: kerascc's default path (``--engine auto --precision fp32``), each engine in fp32,
  bf16 (where the CPU has it natively; otherwise reported as refused), int8 (``compile --int8``'s
  QDQ model, calibrated on 24 crops of examples/cat.jpg) on each engine.
* Accuracy of each lower precision against fp32 on the calibration images: max relative error of
  the logits (the Softmax's input, exposed as an extra output), top-1 agreement.
* ``run`` over 200 photos (JPEG, 640x480, decoded and resized by the run): images/s pipelined and
  unpipelined, against inference-only throughput at batch 8 measured in the same run.
* Compile start-up: ``python cli.py compile examples/resnet50.json`` (seeded random weights) in a
  fresh interpreter each time, median and best of seven (``--startup`` runs only this part).
* Each throughput against the CPU's peak: model FLOPs (2 x MACs of Conv and Gemm/MatMul, from the
  ONNX shapes) x samples/s, over cores x clock x FLOPs per cycle (see :func:`peak_flops` for the
  per-ISA assumptions).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import shape_inference
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from int8_cpu import calibration_folder  # noqa: E402

import compiler  # noqa: E402  (after the sys.path line above)
from runtime.batch import BatchRunner, RunStats, expand_inputs  # noqa: E402
from runtime.engines import (  # noqa: E402
    BF16,
    FP32,
    INT8,
    ONNXRUNTIME,
    OPENVINO,
    PrecisionCost,
    choose,
    cpu_features,
    has_grouped_conv_or_concat,
    open_session,
)
from runtime.errors import RuntimeInputError  # noqa: E402
from runtime.quantize import quantize_int8  # noqa: E402

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
#: The reference every ratio is taken to: tf2onnx's file on onnxruntime, or where tf2onnx is not
#: installed, kerascc's fp32 file on onnxruntime (issue 16 measured it at 0.82-1.01x tf2onnx's file:
#: onnxruntime's optimizer turns both into the same kernels), timed as a configuration of its own.
BASELINE = "baseline ort fp32"
PAUSE_S = 0.1  # between two configurations' timed runs (see time_interleaved)
REPEATS = 3  # runs in a row per configuration and round; the fastest counts
MODELS = ["ResNet50", "MobileNetV2", "EfficientNetB0", "DenseNet121"]

# One child process per model: TensorFlow, tf-keras and tf2onnx never share the timing process.
MAKE = textwrap.dedent("""
    import sys, time, numpy as np, tensorflow as tf, tf_keras as k2
    try:
        import tf2onnx
    except ImportError:
        tf2onnx = None
    name, out = sys.argv[1], sys.argv[2]
    k2.utils.set_random_seed(0)
    model = getattr(k2.applications, name)(weights=None, input_shape=(224, 224, 3))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, k2.layers.BatchNormalization):
            n = layer.get_weights()[0].shape
            layer.set_weights([rng.normal(1, .1, n), rng.normal(0, .1, n), rng.normal(0, .1, n), rng.uniform(.5, 2, n)])
    open(out + "/model.json", "w").write(model.to_json())
    model.save_weights(out + "/model.weights.h5")
    x = (rng.random((2, 224, 224, 3)) * 255).astype(np.float32)
    np.save(out + "/x.npy", x)
    np.save(out + "/keras.npy", model.predict(x, verbose=0))
    if tf2onnx is None:
        print("none")
        raise SystemExit(0)
    t = time.perf_counter()
    spec = (tf.TensorSpec((None, 224, 224, 3), tf.float32, name=model.input_names[0]),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=out + "/tf2onnx.onnx")
    print(f"{time.perf_counter() - t:.1f}")
""")


HAVE_TF2ONNX = importlib.util.find_spec("tf2onnx") is not None
BASELINE_TEXT = {
    True: "tf2onnx + onnxruntime",
    False: "onnxruntime on kerascc's fp32 file (tf2onnx is not installed; issue 16: it ties tf2onnx's file)",
}


def peak_flops(precision: str) -> tuple[float, str]:
    """This CPU's peak in FLOP/s (int8: ops/s) for ``precision``, and the assumptions behind it.

    cores: the CPUs this process may use. clock: /proc/cpuinfo's current MHz (under a hypervisor
    the boost clock is unknown, so a figure above 100% means the core ran faster than listed).
    FLOPs per cycle per core: two FMA pipes x vector lanes x 2 (multiply + add): AVX2 8 fp32 lanes
    -> 32, AVX-512 16 -> 64; bf16 (AVX512_BF16 VDPBF16PS) twice the fp32 AVX-512 rate -> 128; int8
    with VNNI (VPDPBUSD: 4 u8xs8 products and the add per 32-bit lane) 4x fp32 lanes x 2 pipes x 2,
    without VNNI (AVX2 VPMADDUBSW + VPMADDWD + VPADDD for 32 products) taken as 2x fp32.
    """
    cores = len(os.sched_getaffinity(0))
    mhz = 0.0
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("cpu MHz"):
            mhz = float(line.split(":")[1])
            break
    cpu = cpu_features()
    fp32 = 64 if cpu.avx512 else 32
    per_cycle = {FP32: fp32, BF16: 2 * fp32 if cpu.native_bf16 else fp32, INT8: 4 * fp32 if cpu.vnni else 2 * fp32}
    isa = "AVX-512" if cpu.avx512 else "AVX2"
    note = (
        f"{cores} cores x {mhz / 1000:.2f} GHz x {per_cycle[precision]} {precision} ops/cycle ({isa}"
        f"{', VNNI' if cpu.vnni else ''}{', bf16' if cpu.native_bf16 else ''})"
    )
    return cores * mhz * 1e6 * per_cycle[precision], note


def model_flops(path: Path) -> float:
    """2 x multiply-accumulates of the Conv, Gemm and MatMul nodes at batch 1, from inferred shapes."""
    model = onnx.load(str(path))
    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        if dims and not dims[0].dim_value:
            dims[0].dim_value = 1
    model = shape_inference.infer_shapes(model)
    shapes = {}
    for vi in [*model.graph.value_info, *model.graph.output, *model.graph.input]:
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    total = 0.0
    for node in model.graph.node:
        out = shapes.get(node.output[0])
        if node.op_type == "Conv" and out and node.input[1] in shapes:
            w = shapes[node.input[1]]
            total += 2.0 * np.prod(out) * np.prod(w[1:])
        elif node.op_type in ("Gemm", "MatMul") and out and node.input[1] in shapes:
            k = shapes[node.input[1]][0]
            trans = next((a.i for a in node.attribute if a.name == "transB"), 0)
            k = shapes[node.input[1]][1] if trans else k
            total += 2.0 * np.prod(out) * k
    return total


def with_logits(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with its Softmax's input as a second output: a random network's softmax is nearly
    flat, so the logits are what precision is judged on."""
    soft = next(n for n in model.graph.node if n.op_type == "Softmax")
    model.graph.output.append(onnx.helper.make_tensor_value_info(soft.input[0], onnx.TensorProto.FLOAT, None))
    return model


def build(name: str, work: Path, calib: Path) -> dict[str, Path]:
    """tf2onnx's and kerascc's files (fp32 and int8) for one model, checked against Keras."""
    folder = work / name
    folder.mkdir(exist_ok=True)
    paths = {"fp32": folder / "kerascc.onnx", "int8": folder / "kerascc_int8.onnx"}
    if (folder / "tf2onnx.onnx").is_file():
        paths["tf2onnx"] = folder / "tf2onnx.onnx"
    if all(p.is_file() for p in [*paths.values(), folder / "keras.npy"]):
        print(f"  {name}: reusing the files in {folder} (delete it to rebuild)")
        return paths
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", MAKE, name, str(folder)], env=ENV, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"{name}: building with tf-keras/tf2onnx failed\n{proc.stderr[-3000:]}")
    made = proc.stdout.strip().splitlines()[-1]
    t0 = time.perf_counter()
    fp32 = with_logits(compiler.compile(folder / "model.json", weights=folder / "model.weights.h5").onnx)
    t_ours = time.perf_counter() - t0
    paths = {"fp32": folder / "kerascc.onnx", "int8": folder / "kerascc_int8.onnx"}
    if made != "none":
        paths["tf2onnx"] = folder / "tf2onnx.onnx"
    onnx.save(fp32, paths["fp32"])
    int8, _ = quantize_int8(fp32, calib, limit=None)
    onnx.save(int8, paths["int8"])
    x, expected = np.load(folder / "x.npy"), np.load(folder / "keras.npy")
    for label in [k for k in ("tf2onnx", "fp32") if k in paths]:
        session = open_session(paths[label], engine=ONNXRUNTIME).session
        got = session.run(None, {session.get_inputs()[0].name: x})[0]
        err = float(np.abs(got - expected).max() / np.abs(expected).max())
        print(f"  {name} {label:8s} vs Keras: max rel error {err:.1e}")
    convert = f"tf2onnx convert {made} s" if made != "none" else "tf2onnx not installed"
    print(f"  {name}: {convert}, kerascc compile {t_ours:.2f} s (in-process, with weights)")
    print(f"  (built in {time.perf_counter() - t:.0f} s)")
    return paths


def configurations(paths: dict[str, Path]) -> dict[str, tuple[Path, str, str]]:
    """label -> (file, engine, precision); bf16 only where this CPU has it natively."""
    configs = {
        BASELINE: (paths.get("tf2onnx", paths["fp32"]), ONNXRUNTIME, FP32),
        "kerascc ort fp32": (paths["fp32"], ONNXRUNTIME, FP32),
        "kerascc ov fp32": (paths["fp32"], OPENVINO, FP32),
        "kerascc ort int8": (paths["int8"], ONNXRUNTIME, INT8),
        "kerascc ov int8": (paths["int8"], OPENVINO, INT8),
    }
    if cpu_features().native_bf16:
        configs["kerascc ov bf16"] = (paths["fp32"], OPENVINO, BF16)
    return configs


def time_interleaved(sessions: dict[str, object], x: np.ndarray, rounds: int) -> dict[str, float]:
    """Median ms per configuration over ``rounds``; in each round every configuration runs
    REPEATS times in a row, in turn, and counts with its fastest of those: a core taken by
    another tenant of the machine for a moment then spoils one round's figure less. The order
    is shuffled every round, so what ran just before (another engine's idle threads, a cold
    cache) falls on every configuration alike."""
    feeds = {k: {s.get_inputs()[0].name: x} for k, s in sessions.items()}
    for k, s in sessions.items():
        for _ in range(2):
            s.run(None, feeds[k])
    times: dict[str, list[float]] = {k: [] for k in sessions}
    order, shuffle = list(sessions), np.random.default_rng(0).permutation
    for _ in range(rounds):
        for k in [order[i] for i in shuffle(len(order))]:  # a new order each round, seeded
            s = sessions[k]
            # onnxruntime's workers spin for a while after a run: without a pause they would
            # take the cores from whichever configuration runs next
            time.sleep(PAUSE_S)
            best = float("inf")
            for _ in range(REPEATS):
                t = time.perf_counter()
                s.run(None, feeds[k])
                best = min(best, time.perf_counter() - t)
            times[k].append(best * 1000)
    return {k: float(np.median(v)) for k, v in times.items()}


def logits_cost(reference, candidate, inputs: list[np.ndarray]) -> PrecisionCost:
    """The last output (the logits :func:`with_logits` added) of ``candidate`` against ``reference``."""
    cost = PrecisionCost("logits")
    for x in inputs:
        name = reference.get_inputs()[0].name
        ref = reference.run(None, {name: x})[-1]
        got = candidate.run(None, {name: x})[-1]
        cost.add(ref, got)
    return cost


def photos(folder: Path, n: int) -> Path:
    """``n`` 640x480 JPEG photos: crops of examples/cat.jpg at several scales, mirrored or not."""
    folder.mkdir(exist_ok=True)
    cat = Image.open(ROOT / "examples" / "cat.jpg").convert("RGB")
    rng = np.random.default_rng(3)
    for i in range(n):
        w, h = cat.size
        s = rng.uniform(0.6, 1.0)
        x0, y0 = int(rng.uniform(0, w * (1 - s))), int(rng.uniform(0, h * (1 - s)))
        crop = cat.crop((x0, y0, x0 + int(w * s), y0 + int(h * s))).resize((640, 480), Image.Resampling.BICUBIC)
        (crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if i % 2 else crop).save(folder / f"p{i:03d}.jpg", quality=90)
    return folder


def run_throughput(model: Path, engine: str, folder: Path, pipeline: bool) -> tuple[float, float]:
    """images/s of a whole ``run`` over the folder at batch 8, and its inference-only images/s."""
    runner = BatchRunner(model, engine=engine)
    stats = RunStats()
    for _ in runner.stream(expand_inputs([folder]), 8, stats=stats, pipeline=pipeline):
        pass
    return stats.images_per_second, stats.images / stats.inference_seconds


def startup(work: Path, runs: int = 7) -> None:
    """Whole-process compile of the bundled ResNet50 JSON: fresh interpreter to the .onnx on disk."""
    cmd = [sys.executable, str(ROOT / "cli.py"), "compile", str(ROOT / "examples" / "resnet50.json")]
    cmd += ["-o", str(work / "startup.onnx")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(cmd, env=env, capture_output=True, check=True)  # writes the bytecode caches
    times = []
    for _ in range(runs):
        time.sleep(PAUSE_S)
        t = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    print(
        f"\n== compile start-up, ResNet50 from JSON (seeded random weights), whole process: median "
        f"{np.median(times):.2f} s, best {min(times):.2f} s of {runs} (goal <= 1.0 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="ResNet50 and MobileNetV2, fewer rounds")
    parser.add_argument("--models", default=None, help="comma-separated subset of " + ",".join(MODELS))
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--startup", action="store_true", help="only the compile start-up measurement")
    args = parser.parse_args()
    if args.startup:
        startup(args.workdir or Path(tempfile.mkdtemp(prefix="kerascc-cpu-")))
        return
    models = args.models.split(",") if args.models else (MODELS[:2] if args.quick else MODELS)
    rounds = {1: 8, 8: 4} if args.quick else {1: 21, 8: 9}
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kerascc-cpu-"))
    work.mkdir(parents=True, exist_ok=True)
    cpu = cpu_features()
    print(f"work dir {work}; {len(os.sched_getaffinity(0))} CPUs; AVX-512 {cpu.avx512}, VNNI {cpu.vnni}, ", end="")
    print(f"native bf16 {cpu.native_bf16}")
    for precision in (FP32, BF16, INT8):
        print(f"peak {precision}: {peak_flops(precision)[0] / 1e9:.0f} G/s = {peak_flops(precision)[1]}")
    calib = work / "calib"
    calib.mkdir(exist_ok=True)
    if not any(calib.iterdir()):
        calibration_folder(calib)
    int8_engine = choose("auto", INT8, qdq=True).engine.name
    print(f"--engine auto picks {int8_engine} for int8 on this CPU; for fp32 it depends on the model")
    if not cpu.native_bf16:
        print("bf16: refused on this CPU (no AVX512_BF16/AMX), so not measured")
    summary: dict[tuple[str, int], dict[str, float]] = {}
    for name in models:
        print(f"\n== {name}")
        paths = build(name, work, calib)
        flops = model_flops(paths["fp32"])
        configs = configurations(paths)
        default_engine = open_session(paths["fp32"], engine="auto", precision=FP32).engine
        branched = has_grouped_conv_or_concat(paths["fp32"])
        print(f"  --engine auto picks {default_engine} for fp32 (grouped convolutions or concatenations: {branched})")
        sessions = {k: open_session(p, engine=e, precision=pr).session for k, (p, e, pr) in configs.items()}
        # accuracy of the lower precisions, on the calibration images
        reference = sessions["kerascc ort fp32"]
        probe = BatchRunner(paths["fp32"], engine=ONNXRUNTIME)
        calib_inputs = [
            probe.prepare([Image.open(p).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR)])
            for p in sorted(calib.iterdir())
        ]
        for label in configs:
            if label == BASELINE:
                continue
            cost = logits_cost(reference, sessions[label], calib_inputs)
            agree = cost.top1_agreement
            print(
                f"  accuracy {label:18s} vs fp32: logits max rel error {cost.max_rel_error:.1e}, "
                f"top-1 agreement {agree:.0%} ({cost.samples} calibration images)"
            )
        rng = np.random.default_rng(0)
        for batch in (1, 8):
            x = (rng.random((batch, 224, 224, 3)) * 255).astype(np.float32)
            ms = time_interleaved(sessions, x, rounds[batch])
            base = ms[BASELINE]
            ms["kerascc default fp32"] = ms[f"kerascc {'ov' if default_engine == OPENVINO else 'ort'} fp32"]
            ms["kerascc best int8"] = min(ms["kerascc ort int8"], ms["kerascc ov int8"])
            summary[(name, batch)] = {k: v / base for k, v in ms.items()}
            print(f"  batch {batch} (median of {rounds[batch]} interleaved rounds, best of {REPEATS} runs in each):")
            for label, value in ms.items():
                precision = label.split()[-1]
                peak, _ = peak_flops(precision)
                share = flops * batch / (value / 1000) / peak
                print(
                    f"    {label:22s} {value:8.1f} ms  ratio {value / base:5.2f}  "
                    f"{batch * 1000 / value:6.1f} samples/s  {share:4.0%} of {precision} peak"
                )
        print(f"  model: {flops / 1e9:.2f} GFLOPs per sample")
        del sessions, reference, probe
        if name in ("ResNet50", "MobileNetV2"):
            folder = photos(work / "photos", 200) if not (work / "photos").exists() else work / "photos"
            for pipeline in (True, False):
                ips, inf = run_throughput(paths["fp32"], "auto", folder, pipeline)
                print(
                    f"  run over 200 photos ({'pipelined' if pipeline else 'one at a time'}), batch 8: "
                    f"{ips:.1f} images/s, inference alone {inf:.1f} images/s: ratio {ips / inf:.2f}"
                )
    print(f"\n== ratios to {BASELINE_TEXT[HAVE_TF2ONNX]} (median over models of the median latency; lower is faster)")
    labels = ["kerascc default fp32", "kerascc ort fp32", "kerascc ov fp32", "kerascc best int8"]
    if cpu.native_bf16:
        labels.insert(3, "kerascc ov bf16")
    for batch in (1, 8):
        row = [summary[(m, batch)] for m in models]
        print(f"  batch {batch}: " + ", ".join(f"{label} {np.median([r[label] for r in row]):.2f}" for label in labels))
    startup(work)


if __name__ == "__main__":
    try:
        main()
    except RuntimeInputError as exc:
        raise SystemExit(str(exc)) from None
