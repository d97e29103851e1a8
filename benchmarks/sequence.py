"""kerascc against tf2onnx on two sequence models, measured in one run on this machine.

    pip install -e ".[bench]"
    python benchmarks/sequence.py             # 30 interleaved rounds per latency
    python benchmarks/sequence.py --quick     # 10

The models (tf-keras, weights drawn from a seeded normal distribution — not trained, which
changes no op and no timing):

* an LSTM text classifier: 200 token ids → Embedding(20000, 128) → LSTM(128) → Dense(1, sigmoid);
* a GRU forecaster: 96 steps of 8 features → GRU(64, return_sequences) → GRU(64) → Dense(24).

What it measures, each as a ratio kerascc / tf2onnx (lower is better):

* compile: whole process, from a fresh interpreter to the .onnx on disk, best of three
  (kerascc: ``cli.py compile model.json --weights``; tf2onnx: import TensorFlow, rebuild the model
  with tf-keras, ``tf2onnx.convert.from_keras``);
* latency: onnxruntime CPU (graph optimizations on, one thread each), batch 1 and 32, the median of interleaved
  runs (one run of each model in turn, so both share the machine's noise), after the outputs of
  both files were compared on the same input.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENV = {
    **os.environ,
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
}

MAKE_MODELS = textwrap.dedent("""
    import sys, numpy as np, tf_keras as k2
    out = sys.argv[1]
    L = k2.layers
    tokens = k2.Input((200,), dtype="int32", name="tokens")
    x = L.Embedding(20000, 128, name="embedding")(tokens)
    x = L.LSTM(128, name="lstm")(x)
    classifier = k2.Model(tokens, L.Dense(1, activation="sigmoid", name="label")(x), name="lstm_classifier")
    series = k2.Input((96, 8), name="series")
    y = L.GRU(64, return_sequences=True, name="gru1")(series)
    y = L.GRU(64, name="gru2")(y)
    forecaster = k2.Model(series, L.Dense(24, name="forecast")(y), name="gru_forecaster")
    rng = np.random.default_rng(0)
    for model in (classifier, forecaster):
        model.set_weights([rng.normal(0, 0.15, w.shape).astype("float32") for w in model.get_weights()])
        open(f"{out}/{model.name}.json", "w").write(model.to_json())
        model.save_weights(f"{out}/{model.name}.weights.h5")
""")

TF2ONNX = textwrap.dedent("""
    import sys, tensorflow as tf, tf_keras as k2, tf2onnx
    model = k2.models.model_from_json(open(sys.argv[1]).read())
    model.load_weights(sys.argv[3])
    dtype = tf.int32 if model.inputs[0].dtype == tf.int32 else tf.float32
    spec = (tf.TensorSpec((None, *model.input_shape[1:]), dtype, name=model.input_names[0]),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=sys.argv[2])
""")

MODELS = ("lstm_classifier", "gru_forecaster")


def run_timed(cmd: list[str]) -> float:
    """Wall time of one child process."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=ENV, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def feeds_for(session, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Token ids for an integer input, standard-normal values for a float one."""
    feeds = {}
    for i in session.get_inputs():
        shape = [batch, *i.shape[1:]]
        if "int" in i.type:
            feeds[i.name] = rng.integers(1, 20000, shape).astype(np.int64 if "int64" in i.type else np.int32)
        else:
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def interleaved_medians(sessions: list, value: np.ndarray, rounds: int) -> list[float]:
    """Median latency (ms) of each session on one input (its name may differ), the sessions run in
    turn in every round so that both share the machine's noise."""
    for s in sessions:
        for _ in range(3):
            s.run(None, {s.get_inputs()[0].name: value})
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(rounds):
        for k, s in enumerate(sessions):
            feeds = {s.get_inputs()[0].name: value}
            t0 = time.perf_counter()
            s.run(None, feeds)
            times[k].append((time.perf_counter() - t0) * 1000)
    return [float(np.median(t)) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    args = parser.parse_args()
    rounds = 10 if args.quick else 30
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kerascc-seq-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work dir {work}; {os.cpu_count()} CPUs; seeded random weights (not trained)")
    subprocess.run([sys.executable, "-c", MAKE_MODELS, str(work)], check=True, env=ENV)

    import onnx
    import onnxruntime as ort

    rows: list[tuple[str, float, float, str]] = []
    for name in args.models:
        src, weights = work / f"{name}.json", work / f"{name}.weights.h5"
        ours_path, theirs_path = work / f"{name}.kerascc.onnx", work / f"{name}.tf2onnx.onnx"
        ours_cmd = [sys.executable, str(ROOT / "cli.py"), "compile", str(src), "--weights", str(weights)]
        ours_t = min(run_timed([*ours_cmd, "-o", str(ours_path)]) for _ in range(3))
        theirs_t = min(
            run_timed([sys.executable, "-c", TF2ONNX, str(src), str(theirs_path), str(weights)]) for _ in range(3)
        )
        rows.append((f"{name}: compile (whole process)", ours_t, theirs_t, "s"))

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sessions = [
            ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]) for p in (ours_path, theirs_path)
        ]
        rng = np.random.default_rng(1)
        check = feeds_for(sessions[0], 4, rng)
        theirs_feeds = {sessions[1].get_inputs()[0].name: next(iter(check.values()))}
        diff = np.max(np.abs(sessions[0].run(None, check)[0] - sessions[1].run(None, theirs_feeds)[0]))
        ops = [sorted({n.op_type for n in onnx.load(str(p)).graph.node}) for p in (ours_path, theirs_path)]
        print(f"{name}: max |kerascc - tf2onnx| = {diff:.2e}; kerascc ops {ops[0]}; tf2onnx ops {ops[1]}")
        for batch in (1, 32):
            feeds = feeds_for(sessions[0], batch, rng)
            value = next(iter(feeds.values()))
            both = interleaved_medians(sessions, value, rounds)
            rows.append((f"{name}: latency batch {batch}", both[0], both[1], "ms"))

    print()
    print(f"{'measure':<44} {'kerascc':>10} {'tf2onnx':>10} {'ratio':>7}")
    for label, ours_v, theirs_v, unit in rows:
        shown = (lambda v: f"{v:.2f} s") if unit == "s" else (lambda v: f"{v:.2f} ms")
        print(f"{label:<44} {shown(ours_v):>10} {shown(theirs_v):>10} {ours_v / theirs_v:>7.3f}")


if __name__ == "__main__":
    main()
