"""kerascc against tf2onnx on the same Keras model, measured in one run on this machine.

    pip install -e ".[bench]"
    python benchmarks/vs_tf2onnx.py                 # ResNet50, 224x224
    python benchmarks/vs_tf2onnx.py --quick         # fewer runs, smaller scaling sweep

What it measures, each as a ratio kerascc / tf2onnx (lower is better for times):

* compile: whole process, from a fresh interpreter to the .onnx on disk. kerascc compiles the
  model JSON with random weights (``cli.py compile model.json``); tf2onnx imports TensorFlow,
  rebuilds the same JSON with tf-keras and converts it (``tf2onnx.convert.from_keras``).
* latency: onnxruntime CPU, batch 1 and 8, graph optimizations all / off, median of N runs; both
  models carry the same trained-looking weights (BatchNorm statistics randomised), and their
  outputs are compared first.
* session creation time (optimizations on and off).
* scaling: compile time of synthetic residual nets with 25…200 blocks, per node — flat if no pass
  is quadratic — and peak memory of the compile process against the size of the weights.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}

MAKE_MODEL = textwrap.dedent("""
    import sys, numpy as np, tf_keras as k2
    out = sys.argv[1]
    model = k2.applications.ResNet50(weights=None, input_shape=(224, 224, 3))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, k2.layers.BatchNormalization):
            n = layer.get_weights()[0].shape
            layer.set_weights([rng.normal(1, .1, n), rng.normal(0, .1, n), rng.normal(0, .1, n), rng.uniform(.5, 2, n)])
    open(out + "/model.json", "w").write(model.to_json())
    model.save_weights(out + "/model.weights.h5")
""")

TF2ONNX = textwrap.dedent("""
    import sys, time
    t0 = time.perf_counter()
    import tensorflow as tf, tf_keras as k2, tf2onnx
    model = k2.models.model_from_json(open(sys.argv[1]).read())
    if len(sys.argv) > 3:
        model.load_weights(sys.argv[3])
    t1 = time.perf_counter()
    spec = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=model.input_names[0]),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=sys.argv[2])
    print(f"convert {time.perf_counter() - t1:.3f} load {t1 - t0:.3f}")
""")

SYNTHETIC = textwrap.dedent("""
    import sys, keras
    from keras import layers
    sys.setrecursionlimit(100_000)  # Keras walks deep models recursively
    blocks = int(sys.argv[2])
    inp = keras.Input((32, 32, 16))
    x = inp
    for i in range(blocks):
        y = layers.Conv2D(16, 3, padding="same")(x)
        y = layers.BatchNormalization()(y)
        y = layers.Activation("relu")(y)
        y = layers.Conv2D(16, 3, padding="same")(y)
        y = layers.BatchNormalization()(y)
        x = layers.Activation("relu")(layers.add([x, y]))
    model = keras.Model(inp, layers.Dense(10)(layers.GlobalAveragePooling2D()(x)))
    open(sys.argv[1], "w").write(model.to_json())
""")

# Compile time without interpreter start-up, best of three, for the scaling sweep.
TIME_COMPILE = textwrap.dedent("""
    import sys, time, compiler
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        compiler.compile(sys.argv[1])
        best = min(best, time.perf_counter() - t)
    print(best)
""")


def run_timed(cmd: list[str]) -> tuple[float, int, str]:
    """Wall time, peak RSS (bytes) and stdout of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024, out


def compile_cmd(model: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "cli.py"), "compile", str(model), "-o", str(out), *extra]


def median_of(n: int, fn) -> float:
    return float(np.median([fn() for _ in range(n)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    runs = 10 if args.quick else 30
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kerascc-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work dir {work}; {os.cpu_count()} CPUs")

    subprocess.run([sys.executable, "-c", MAKE_MODEL, str(work)], check=True, env=ENV)
    model_json, weights = work / "model.json", work / "model.weights.h5"
    rows: list[tuple[str, float, float, str]] = []

    # -- compile speed (whole process, random weights) and memory -----------------------------------
    # Memory first, while this process is small: Linux carries a parent's peak RSS into children.
    baseline = run_timed([sys.executable, "-c", "import compiler, frontends, passes, cli"])[1]
    ours = [run_timed(compile_cmd(model_json, work / "ours_random.onnx")) for _ in range(3)]
    ours_t = min(t for t, _, _ in ours)
    peak = min(m for _, m, _ in ours)
    theirs_t, _, theirs_out = run_timed(
        [sys.executable, "-c", TF2ONNX, str(model_json), str(work / "tf2onnx_random.onnx")]
    )
    print(f"tf2onnx in-process: {theirs_out.strip()}")
    rows.append(("compile ResNet50 (whole process)", ours_t, theirs_t, "<= 0.05"))

    # -- the same weights in both, outputs compared --------------------------------------------------
    run_timed(compile_cmd(model_json, work / "ours.onnx", "--weights", str(weights)))
    run_timed(compile_cmd(model_json, work / "ours_ort.onnx", "--weights", str(weights), "--target", "ort"))
    run_timed([sys.executable, "-c", TF2ONNX, str(model_json), str(work / "tf2onnx.onnx"), str(weights)])
    import onnx
    import onnxruntime as ort

    from runtime.bench import benchmark

    x = np.random.default_rng(0).random((2, 224, 224, 3), dtype=np.float32) * 255
    outs = []
    for name in ("ours.onnx", "tf2onnx.onnx", "ours_ort.onnx"):
        sess = ort.InferenceSession(str(work / name), providers=["CPUExecutionProvider"])
        outs.append(sess.run(None, {sess.get_inputs()[0].name: x})[0])
    diff = float(max(np.max(np.abs(outs[0] - outs[1])), np.max(np.abs(outs[2] - outs[1]))))
    ops = {
        name: sorted({n.op_type for n in onnx.load(str(work / name), load_external_data=False).graph.node})
        for name in ("ours.onnx", "tf2onnx.onnx")
    }
    print(f"max |ours (onnx and ort targets) - tf2onnx| on the same input: {diff:.2e}")
    for name, kinds in ops.items():
        print(f"  {name}: {', '.join(kinds)}")
    # What onnxruntime actually runs: its optimizer's output for each file, op by op. When the two
    # histograms are equal, both files end as the same kernels and latency can only tie.
    optimized = {}
    for name in ("ours.onnx", "tf2onnx.onnx"):
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.optimized_model_filepath = str(work / f"optimized_{name}")
        ort.InferenceSession(str(work / name), opts, providers=["CPUExecutionProvider"])
        graph = onnx.load(str(work / f"optimized_{name}"), load_external_data=False).graph
        optimized[name] = Counter(f"{n.domain + '.' if n.domain else ''}{n.op_type}" for n in graph.node)
    for name, hist in optimized.items():
        print(
            f"  after onnxruntime's optimizer, {name}: "
            + ", ".join(f"{op} {k}" for op, k in sorted(hist.items(), key=lambda kv: -kv[1]))
        )
    same = optimized["ours.onnx"] == optimized["tf2onnx.onnx"]
    print(
        f"  the optimized graphs run {'the same' if same else 'different'} kernels"
        + (
            ""
            if same
            else f": ours - tf2onnx = {dict(optimized['ours.onnx'] - optimized['tf2onnx.onnx'])}, "
            f"tf2onnx - ours = {dict(optimized['tf2onnx.onnx'] - optimized['ours.onnx'])}"
        )
    )

    # -- latency and session creation --------------------------------------------------------------------
    def medians(name: str, batch: int, level: str, n: int) -> float:
        return benchmark(work / name, batch=batch, runs=n, warmup=3, optimization=level).median_ms

    for batch in (1, 8):
        n = runs if batch == 1 else max(runs // 3, 5)
        best: dict[tuple[str, str], float] = {}
        for _ in range(2):  # alternate to share the machine's noise fairly; keep each one's best
            for key in (
                ("ours.onnx", "all"),
                ("tf2onnx.onnx", "all"),
                ("ours.onnx", "disable"),
                ("tf2onnx.onnx", "disable"),
                ("ours_ort.onnx", "disable"),
            ):
                best[key] = min(best.get(key, float("inf")), medians(key[0], batch, key[1], n))
        theirs_on = best[("tf2onnx.onnx", "all")]
        rows.append((f"latency batch {batch}, ORT opts all", best[("ours.onnx", "all")], theirs_on, "<= 0.95"))
        rows.append(
            (
                f"latency batch {batch}, ORT opts off",
                best[("ours.onnx", "disable")],
                best[("tf2onnx.onnx", "disable")],
                "",
            )
        )
        rows.append(
            (f"  ours --target onnx, opts off vs tf2onnx on, b{batch}", best[("ours.onnx", "disable")], theirs_on, "")
        )
        rows.append(
            (
                f"  ours --target ort, opts off vs tf2onnx on, b{batch}",
                best[("ours_ort.onnx", "disable")],
                theirs_on,
                "<= 1.05",
            )
        )
    for level in ("all", "disable"):
        times = {}
        for name in ("ours.onnx", "ours_ort.onnx", "tf2onnx.onnx"):
            times[name] = median_of(
                3,
                lambda name=name, level=level: (
                    benchmark(work / name, runs=1, warmup=0, optimization=level).session_seconds
                ),
            )
        rows.append((f"session creation, ORT opts {level}", times["ours.onnx"], times["tf2onnx.onnx"], ""))
        if level == "disable":
            rows.append(
                (
                    "  session, ours --target ort opts off vs tf2onnx on",
                    times["ours_ort.onnx"],
                    _lookup(rows, "session creation, ORT opts all")[2],
                    "",
                )
            )

    # -- report -------------------------------------------------------------------------------------------------------
    print()
    print(f"{'measure':<48} {'kerascc':>10} {'tf2onnx':>10} {'ratio':>8}  target")
    for label, ours_v, theirs_v, target in rows:
        unit = "s" if "compile" in label or "session" in label else "ms"
        fmt = (lambda v, unit=unit: f"{v:.2f} {unit}") if unit == "s" else (lambda v, unit=unit: f"{v:.1f} {unit}")
        ratio = ours_v / theirs_v
        verdict = ""
        if target:
            bound = float(target.split()[-1])
            verdict = "met" if ratio <= bound else "MISSED"
        print(f"{label:<48} {fmt(ours_v):>10} {fmt(theirs_v):>10} {ratio:>8.3f}  {target} {verdict}")
    # -- scaling ---------------------------------------------------------------------------------------------
    sweep = (100, 200, 400) if args.quick else (100, 200, 400, 800)
    per_node = []
    for blocks in sweep:
        src = work / f"synthetic_{blocks}.json"
        subprocess.run([sys.executable, "-c", SYNTHETIC, str(src), str(blocks)], check=True, env=ENV)
        _, _, printed = run_timed([sys.executable, "-c", TIME_COMPILE, str(src)])
        nodes = len(json.loads(src.read_text())["config"]["layers"])
        per_node.append((blocks, nodes, float(printed.strip())))
    weights_bytes = (work / "ours.onnx").stat().st_size

    print()
    print("in-process compile time of synthetic residual nets (linear if time per layer is flat):")
    for blocks, nodes, t in per_node:
        print(f"  {blocks:>4} blocks  {nodes:>5} layers  {t:6.2f} s  {1000 * t / nodes:6.2f} ms/layer")
    first, last = per_node[0], per_node[-1]
    growth = (last[2] / last[1]) / (first[2] / first[1])
    print(f"  ms/layer at {last[0]} blocks vs {first[0]} blocks: {growth:.2f}x (1.00 = linear)")
    print()
    extra = peak - baseline
    print(
        f"peak RSS of compiling ResNet50: {peak / 2**20:.0f} MiB; interpreter + imports alone "
        f"{baseline / 2**20:.0f} MiB; weights {weights_bytes / 2**20:.0f} MiB; "
        f"compile's own peak = {extra / weights_bytes:.2f}x the weights (target <= 2)"
    )


def _lookup(rows: list[tuple[str, float, float, str]], label: str) -> tuple[str, float, float, str]:
    return next(r for r in rows if r[0] == label)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
