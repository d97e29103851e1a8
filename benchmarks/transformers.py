"""kerascc against tf2onnx on two transformers, measured in one run on this machine.

    pip install -e ".[bench]"
    python benchmarks/transformers.py               # a ViT and a causal text transformer
    python benchmarks/transformers.py --quick       # fewer repetitions

The models are built with tf-keras from the same code as the oracle tests' (a ViT on 32×32
images: 4×4 patches, a class token, learned positions, 4 pre-norm encoder blocks of width 64; a
causal language model on 64 token ids: Embedding with mask_zero, positions, 2 blocks), with
**seeded random weights** (biases and LayerNormalization parameters drawn too, so nothing is
trivially zero or one), and saved as JSON + weights. Both converters read the same files. The
MLPs use swish, not gelu: tf2onnx writes tf.keras's exact gelu with an ``Erfc`` op, which
onnxruntime refuses to load, so a gelu model gives no tf2onnx file to time.

What it measures, each as a ratio kerascc / tf2onnx (lower is better):

* compile: whole process, a fresh interpreter to the .onnx on disk (``cli.py compile model.json
  --weights …`` for ``--target onnx`` and ``--target ort``; tf2onnx imports TensorFlow, rebuilds
  the model with tf-keras and runs ``tf2onnx.convert.from_keras``);
* latency: onnxruntime CPU at batch 1 and 8, median of N runs, tf2onnx's file with graph
  optimizations on against kerascc's ``onnx`` file with them on and its ``ort`` file with them off
  (that file is already optimized); outputs are compared first;
* what onnxruntime's optimizer makes of each file: its op counts (``com.microsoft`` ops by
  name), so fused attention, LayerNormalization and Gelu kernels can be counted.
"""

from __future__ import annotations

import argparse
import os
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

ENV = {
    **os.environ,
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
}
#: onnxruntime's intra-op threads for the latency runs (0: its default, every core); --threads
THREADS = 0

MAKE_MODELS = textwrap.dedent("""
    import sys, numpy as np, tf_keras as k2
    from tf_keras import layers
    out = sys.argv[1]

    def block(x, heads, dim, mlp, name, causal=False):
        h = layers.LayerNormalization(epsilon=1e-6, name=name + "_ln1")(x)
        h = layers.MultiHeadAttention(heads, dim // heads, name=name + "_mha")(h, h, use_causal_mask=causal)
        x = layers.Add()([x, h])
        h = layers.LayerNormalization(epsilon=1e-6, name=name + "_ln2")(x)
        h = layers.Dense(mlp, activation="swish", name=name + "_mlp1")(h)
        return layers.Add()([x, layers.Dense(dim, name=name + "_mlp2")(h)])

    def vit(image=32, patch=4, dim=64, heads=4, blocks=4):
        n = (image // patch) ** 2
        inp = k2.Input((image, image, 3), name="image")
        x = layers.Reshape((n, dim))(layers.Conv2D(dim, patch, strides=patch, name="patchify")(inp))
        zeros = layers.Rescaling(0.0)(layers.Cropping1D((0, n - 1))(x))
        x = layers.Concatenate(axis=1)([layers.Dense(dim, name="class_token")(zeros), x])
        table = layers.Dense((n + 1) * dim, name="position_table")(layers.Flatten()(zeros))
        x = layers.Add()([x, layers.Reshape((n + 1, dim))(table)])
        for i in range(blocks):
            x = block(x, heads, dim, 2 * dim, f"block{i}")
        x = layers.LayerNormalization(epsilon=1e-6)(x)
        token = layers.Flatten()(layers.Cropping1D((0, n))(x))
        return k2.Model(inp, layers.Dense(10, name="head")(token), name="vit")

    def text(vocab=1000, steps=64, dim=64, heads=4, blocks=2):
        tokens = k2.Input((steps,), dtype="int32", name="tokens")
        positions = k2.Input((steps,), dtype="int32", name="positions")
        x = layers.Embedding(vocab, dim, mask_zero=True, name="token_embedding")(tokens)
        x = layers.Add()([x, layers.Embedding(steps, dim, name="position_embedding")(positions)])
        for i in range(blocks):
            x = block(x, heads, dim, 2 * dim, f"block{i}", causal=True)
        x = layers.LayerNormalization(epsilon=1e-6)(x)
        return k2.Model([tokens, positions], layers.Dense(vocab, name="logits")(x), name="text")

    rng = np.random.default_rng(0)
    for name, model in (("vit", vit()), ("text", text())):
        for layer in model.layers:
            weights = layer.get_weights()
            if weights:
                layer.set_weights([w if w.ndim > 1 and "embedding" not in layer.name
                                   else rng.normal(0, 0.5, w.shape).astype("float32") for w in weights])
        open(f"{out}/{name}.json", "w").write(model.to_json())
        model.save_weights(f"{out}/{name}.weights.h5")
""")

TF2ONNX = textwrap.dedent("""
    import sys, time
    t0 = time.perf_counter()
    import tensorflow as tf, tf_keras as k2, tf2onnx
    model = k2.models.model_from_json(open(sys.argv[1]).read())
    model.load_weights(sys.argv[3])
    t1 = time.perf_counter()
    spec = tuple(tf.TensorSpec((None, *t.shape[1:]), t.dtype, name=t.name.split(":")[0]) for t in model.inputs)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=sys.argv[2])
    print(f"convert {time.perf_counter() - t1:.3f} load {t1 - t0:.3f}")
""")


def run_timed(cmd: list[str]) -> tuple[float, str]:
    """Wall time and stdout of one child process."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=ENV, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start, proc.stdout


def compile_cmd(model: Path, weights: Path, out: Path, target: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "cli.py"),
        "compile",
        str(model),
        "--weights",
        str(weights),
        "-o",
        str(out),
        "--target",
        target,
    ]


def feeds_for(name: str, batch: int) -> dict[str, np.ndarray]:
    """The same seeded inputs for every file: an image batch, or token ids padded with zeros."""
    rng = np.random.default_rng(batch)
    if name == "vit":
        return {"image": rng.random((batch, 32, 32, 3), dtype=np.float32)}
    ids = rng.integers(1, 1000, (batch, 64)).astype(np.int32)
    ids[0, -10:] = 0
    return {"tokens": ids, "positions": np.tile(np.arange(64, dtype=np.int32), (batch, 1))}


def session(path: Path, level: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[level]
    opts.log_severity_level = 3
    if THREADS:
        opts.intra_op_num_threads = THREADS
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def latency_ms(path: Path, level: str, feeds: dict[str, np.ndarray], runs: int) -> float:
    sess = session(path, level)
    names = {i.name for i in sess.get_inputs()}
    feeds = {k: v for k, v in feeds.items() if k in names}
    for _ in range(3):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def optimized_ops(path: Path, out: Path) -> Counter[str]:
    """What onnxruntime runs: its optimizer's graph (every optimization on), op by op."""
    import onnx
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.optimized_model_filepath = str(out)
    opts.log_severity_level = 3
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    graph = onnx.load(str(out), load_external_data=False).graph
    return Counter(f"{n.domain + '.' if n.domain else ''}{n.op_type}" for n in graph.node)


def shown(hist: Counter[str]) -> str:
    return ", ".join(f"{op} {k}" for op, k in sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: all cores)")
    parser.add_argument("--reuse", action="store_true", help="time the files already in --workdir")
    args = parser.parse_args()
    global THREADS
    THREADS = args.threads
    runs = 10 if args.quick else 30
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kerascc-transformers-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work dir {work}; {os.cpu_count()} CPUs; seeded random weights")
    try:
        import tf2onnx  # noqa: F401  (only to know whether the peer is installed)

        peer = True
    except ImportError:
        peer = False
        print('tf2onnx is not installed (pip install -e ".[bench]"): kerascc alone is measured')

    subprocess.run([sys.executable, "-c", MAKE_MODELS, str(work)], check=True, env=ENV)
    rows: list[tuple[str, float, float | None]] = []
    for name in ("vit", "text"):
        model, weights = work / f"{name}.json", work / f"{name}.weights.h5"
        files = {"ours": work / f"{name}_ours.onnx", "ours_ort": work / f"{name}_ours_ort.onnx"}
        ours_t = min(run_timed(compile_cmd(model, weights, files["ours"], "onnx"))[0] for _ in range(3))
        ort_t = min(run_timed(compile_cmd(model, weights, files["ours_ort"], "ort"))[0] for _ in range(3))
        theirs_t = None
        if peer:
            files["tf2onnx"] = work / f"{name}_tf2onnx.onnx"
            theirs_t, printed = run_timed(
                [sys.executable, "-c", TF2ONNX, str(model), str(files["tf2onnx"]), str(weights)]
            )
            print(f"{name}: tf2onnx in-process {printed.strip()}")
        rows.append((f"{name}: compile, --target onnx (whole process)", ours_t, theirs_t))
        rows.append((f"{name}: compile, --target ort (whole process)", ort_t, theirs_t))

        # -- the same outputs, then what onnxruntime makes of each file -----------------------------
        feeds = feeds_for(name, 2)
        outs = {key: session(path, "all").run(None, feeds)[0] for key, path in files.items()}
        reference = outs.get("tf2onnx", outs["ours"])
        diff = max(float(np.max(np.abs(o - reference))) for o in outs.values())
        print(f"{name}: max |difference| between the files' outputs on the same input: {diff:.2e}")
        for key, path in files.items():
            hist = optimized_ops(path, work / f"{name}_{key}_optimized.onnx")
            print(f"  {key}: {sum(hist.values())} ops after onnxruntime's optimizer: {shown(hist)}")

        # -- latency ------------------------------------------------------------------------------------
        for batch in (1, 8):
            n = runs if batch == 1 else max(runs // 3, 5)
            feeds = feeds_for(name, batch)
            best: dict[tuple[str, str], float] = {}
            plan = [("ours", "all"), ("ours_ort", "disable")] + ([("tf2onnx", "all")] if peer else [])
            for _ in range(2):  # alternate to share the machine's noise; keep each one's best
                for key, level in plan:
                    value = latency_ms(files[key], level, feeds, n)
                    best[(key, level)] = min(best.get((key, level), float("inf")), value)
            theirs = best.get(("tf2onnx", "all"))
            rows.append((f"{name}: latency b{batch}, --target onnx, opts on", best[("ours", "all")], theirs))
            rows.append((f"{name}: latency b{batch}, --target ort, opts off", best[("ours_ort", "disable")], theirs))

    print()
    print(f"{'measure':<52} {'kerascc':>10} {'tf2onnx':>10} {'ratio':>8}")
    for label, ours_v, theirs_v in rows:
        unit = "s" if "compile" in label else "ms"
        fmt = f"{{:.2f}} {unit}" if unit == "s" else f"{{:.2f}} {unit}"
        theirs_s = fmt.format(theirs_v) if theirs_v is not None else "-"
        ratio = f"{ours_v / theirs_v:8.3f}" if theirs_v else f"{'-':>8}"
        print(f"{label:<52} {fmt.format(ours_v):>10} {theirs_s:>10} {ratio}")


if __name__ == "__main__":
    main()
