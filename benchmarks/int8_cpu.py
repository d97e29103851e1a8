"""INT8 against fp32 on CPU: ResNet50 latency and logit agreement, in one run.

Compiles examples/resnet50.json (seeded random weights), makes a calibration folder of crops and
mirror images of examples/cat.jpg, quantizes with ``runtime.quantize.quantize_int8`` (QDQ,
per-channel, U8S8) and prints the latency ratio at batch 1 and 8 and the cosine similarity of the
*logits* (the Gemm before the softmax, exposed as an extra output: a random network's softmax is
nearly flat, so its probabilities say little about agreement).

    python benchmarks/int8_cpu.py [--runs 30]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import onnx
from PIL import ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import compiler  # noqa: E402  (after the sys.path line above)
from runtime.bench import benchmark  # noqa: E402
from runtime.images import read_rgb  # noqa: E402
from runtime.quantize import quantize_int8  # noqa: E402


def calibration_folder(folder: Path) -> Path:
    photo = read_rgb(ROOT / "examples" / "cat.jpg")
    width, height = photo.size
    n = 0
    for scale in (1.0, 0.8, 0.6, 0.45):
        for fx in (0.0, 0.5, 1.0):
            for mirror in (False, True):
                w, h = int(width * scale), int(height * scale)
                x0, y0 = int((width - w) * fx), int((height - h) * (1 - fx))
                crop = photo.crop((x0, y0, x0 + w, y0 + h))
                (ImageOps.mirror(crop) if mirror else crop).save(folder / f"{n:02d}.jpg")
                n += 1
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        fp32 = compiler.compile(ROOT / "examples" / "resnet50.json", preprocess="caffe").onnx
        gemm = next(n for n in fp32.graph.node if n.op_type == "Gemm")
        fp32.graph.output.append(
            onnx.helper.make_tensor_value_info(gemm.output[0], onnx.TensorProto.FLOAT, ["batch", 1000])
        )
        (tmp_path / "calib").mkdir()
        int8, report = quantize_int8(fp32, calibration_folder(tmp_path / "calib"), limit=None)
        paths = {"fp32": tmp_path / "fp32.onnx", "int8": tmp_path / "int8.onnx"}
        onnx.save(fp32, paths["fp32"])
        onnx.save(int8, paths["int8"])
        print("\n".join(report.lines()))
        for batch in (1, 8):
            ms = {
                k: benchmark(p, batch=batch, runs=args.runs, warmup=3, provider="cpu").median_ms
                for k, p in paths.items()
            }
            print(
                f"batch {batch}: fp32 {ms['fp32']:.1f} ms, int8 {ms['int8']:.1f} ms, "
                f"int8 is {ms['fp32'] / ms['int8']:.2f}x faster (p50)"
            )


if __name__ == "__main__":
    main()
