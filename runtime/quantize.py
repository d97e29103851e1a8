"""Lower precision after compiling: INT8 for CPUs (and TensorRT), FP16 for GPUs.

INT8 uses onnxruntime's own static quantization rather than anything home-made: the model is
pre-processed (``quant_pre_process``: shape inference and onnxruntime's graph fusions, so
Conv+Relu quantize as one), calibrated on real images (MinMax ranges of every activation) and
rewritten in the QDQ format with per-channel weight scales. A BatchNormalization no convolution
absorbed is first written as the per-channel convolution it is, so it quantizes too; afterwards a
chain of concatenations is given one scale when that costs no accuracy on the calibration images, so
onnxruntime's int8 Concat copies bytes instead of requantizing them. QDQ keeps the float graph visible
between QuantizeLinear/DequantizeLinear pairs, which is what both onnxruntime's CPU kernels and
TensorRT's explicit-precision mode consume. Activations are unsigned 8-bit and weights signed
8-bit (U8S8), the pairing x86 VNNI instructions multiply natively.

Calibration images go through exactly the preprocessing the model's metadata records, the same
path as ``run``; the fp32 and INT8 models are then both run on them and compared (cosine
similarity of each output, top-1 agreement for class scores) so the user sees what was traded.

FP16 uses ``onnxconverter-common``'s converter with float32 inputs and outputs kept, so callers
feed the same arrays; it is meant for GPUs, where half-precision math is fast.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from .batch import BatchRunner, ImageSource, expand_inputs, image_entry
from .errors import RuntimeInputError
from .images import read_image
from .outputs import classify
from .providers import create_session

PRECISION_KEY = "kerascc.precision"
DEFAULT_CALIBRATION_SIZE = 64


@dataclass
class OutputAgreement:
    """How closely one output of the INT8 model follows the fp32 model."""

    name: str
    cosine_mean: float
    cosine_min: float
    top1_agreement: float | None  # class-score outputs only


@dataclass
class QuantizationReport:
    """What calibration used and how the quantized model agrees with the original."""

    images: int
    outputs: list[OutputAgreement] = field(default_factory=list)
    skipped: int = 0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        text = [
            f"calibrated on {self.images} image{'s' if self.images != 1 else ''}"
            + (f" ({self.skipped} unreadable skipped)" if self.skipped else "")
        ]
        for out in self.outputs:
            line = f"{out.name}: cosine vs fp32 mean {out.cosine_mean:.4f}, min {out.cosine_min:.4f}"
            if out.top1_agreement is not None:
                line += f", top-1 agreement {out.top1_agreement:.0%}"
            text.append(line)
        return text + self.notes


#: How much closer to fp32 the int8 model with separate concatenation scales may be before the
#: shared-scale one (faster) is refused: mean and worst cosine over the calibration images.
SHARED_SCALE_COSINE_SLACK = 1e-3


def _as_close(candidate: Sequence[OutputAgreement], reference: Sequence[OutputAgreement]) -> bool:
    """Whether ``candidate`` agrees with fp32 as well as ``reference`` does, output by output."""
    for new, old in zip(candidate, reference, strict=True):
        if new.cosine_min < old.cosine_min - SHARED_SCALE_COSINE_SLACK:
            return False
        if new.cosine_mean < old.cosine_mean - SHARED_SCALE_COSINE_SLACK:
            return False
        if old.top1_agreement is not None and (new.top1_agreement or 0.0) < old.top1_agreement:
            return False
    return True


def calibration_sources(folder: str | Path, limit: int | None) -> list[ImageSource]:
    """The images to calibrate on: a folder (recursive) or glob, the first ``limit`` in order."""
    if limit is not None and limit < 1:
        raise RuntimeInputError(f"calibration size must be at least 1, got {limit}")
    sources = expand_inputs([folder])
    return sources[:limit] if limit is not None else sources


def _batches(runner: BatchRunner, sources: Sequence[ImageSource], skipped: list[Path]) -> Iterator[np.ndarray]:
    """One preprocessed single-image batch per readable calibration image."""
    for source in sources:
        try:
            image = read_image(source.path, runner.image_mode)
        except RuntimeInputError:
            skipped.append(source.path)
            continue
        _, resized, _ = image_entry(source.path, image, runner.spec)
        yield runner.prepare([resized])


def batchnorm_as_depthwise_conv(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with each inference BatchNormalization on an image or sequence tensor written as the
    per-channel convolution it is (kernel 1, one group per channel: ``x * a + b``).

    onnxruntime has no int8 BatchNormalization: one left between quantized convolutions (DenseNet's
    BatchNorm → ReLU after each concatenation) runs in fp32 with a DequantizeLinear, a
    QuantizeLinear and two layout transposes around it. As a convolution it quantizes like its
    neighbours, ReLU fused, and the int8 chain stays unbroken. Per-channel weight scales make the
    one weight per channel exact in int8. Other models pass through unchanged.
    """
    from onnx import numpy_helper

    graph = model.graph
    if not any(n.op_type == "BatchNormalization" for n in graph.node):
        return model
    inits = {t.name: t for t in graph.initializer}
    ranks = _ranks(model)
    rewritten: list[onnx.NodeProto] = []
    new_inits: list[onnx.TensorProto] = []
    changed = False
    for node in graph.node:
        params = node.input[1:5]
        rank = ranks.get(node.input[0]) if node.input else None
        if (
            node.op_type != "BatchNormalization"
            or node.domain not in ("", "ai.onnx")
            or len(node.output) != 1
            or len(params) != 4
            or not all(p in inits for p in params)
            or rank is None
            or rank < 3
        ):
            rewritten.append(node)
            continue
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        arrays = [numpy_helper.to_array(inits[p]) for p in params]
        scale, bias, mean, var = (v.astype(np.float64) for v in arrays)
        a = scale / np.sqrt(var + eps)
        kernel = a.astype(arrays[0].dtype).reshape(-1, 1, *([1] * (rank - 2)))
        shift = (bias - mean * a).astype(arrays[0].dtype)
        names = (f"{node.output[0]}.dw_kernel", f"{node.output[0]}.dw_bias")
        new_inits += [numpy_helper.from_array(kernel, names[0]), numpy_helper.from_array(shift, names[1])]
        conv = onnx.helper.make_node(
            "Conv",
            [node.input[0], *names],
            list(node.output),
            name=node.name,
            group=int(a.size),
            kernel_shape=[1] * (rank - 2),
        )
        rewritten.append(conv)
        changed = True
    if not changed:
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(rewritten)
    out.graph.initializer.extend(new_inits)
    used = _names_read(out.graph) | {o.name for o in out.graph.output}
    kept = [t for t in out.graph.initializer if t.name in used]
    del out.graph.initializer[:]
    out.graph.initializer.extend(kept)
    return out


#: Nodes whose int32 bias onnxruntime's quantizer scales by their input's scale times the weight's.
_BIASED = ("Conv", "ConvTranspose", "Gemm")


def share_concat_quantization(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` (QDQ) with each quantized Concat's inputs quantized as its output is.

    A Concat whose inputs and output have their own scales becomes onnxruntime's QLinearConcat,
    which requantizes every input through a lookup table; with one scale and zero point for all of
    them it copies bytes (TFLite's int8 specification requires this of every concatenation). The
    shared range is the union of the calibrated ones, so no value is clipped that was not before;
    an input with a narrower range loses a little resolution. DenseNet's dense blocks, each a chain
    of concatenations, end up with one range per block. A Conv or Gemm that reads a tensor whose
    scale changed gets its int32 bias requantized to the new input scale, which onnxruntime needs
    to fuse it into an int8 kernel. Models without quantized concatenations pass through unchanged.
    """
    from onnx import numpy_helper

    graph = model.graph
    if not any(n.op_type == "Concat" for n in graph.node):
        return model
    inits = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph_outputs = {o.name for o in graph.output}

    def params(node: onnx.NodeProto) -> tuple[str, str] | None:
        """A Q or DQ node's (scale, zero point) when both are per-tensor initializers."""
        if len(node.input) < 3 or not all(n in inits for n in node.input[1:3]):
            return None
        if any(int(np.prod(inits[n].dims, dtype=np.int64)) != 1 for n in node.input[1:3]):
            return None
        return node.input[1], node.input[2]

    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def root(pair: tuple[str, str]) -> tuple[str, str]:
        while parent.setdefault(pair, pair) != pair:
            pair = parent[pair]
        return pair

    shared: set[tuple[str, str]] = set()
    for node in graph.node:
        if node.op_type != "Concat" or node.domain not in ("", "ai.onnx") or node.output[0] in graph_outputs:
            continue
        pairs = []
        for name in node.input:
            dq = producer.get(name)
            q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
            if q is None or q.op_type != "QuantizeLinear" or params(dq) is None or params(q) is None:
                break  # a constant or float input: its bytes would need requantizing
            pairs += [params(dq), params(q)]
        else:
            after = consumers.get(node.output[0], [])
            if not after or any(c.op_type != "QuantizeLinear" or params(c) is None for c in after):
                continue
            pairs += [params(c) for c in after]
            for pair in pairs[1:]:
                parent[root(pair)] = root(pairs[0])
            shared.update(pairs)
    if not shared:
        return model
    # every Q and DQ of a tensor in a group reads the group's values, whatever names they use
    for node in graph.node:
        if node.op_type == "QuantizeLinear" and params(node) in shared:
            for dq in consumers.get(node.output[0], []):
                if dq.op_type == "DequantizeLinear" and params(dq) is not None:
                    parent[root(params(dq))] = root(params(node))
                    shared.add(params(dq))

    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for pair in shared:
        groups.setdefault(root(pair), []).append(pair)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    out_inits = {t.name: t for t in out.graph.initializer}
    old_scale: dict[str, float] = {}
    for members in groups.values():
        values = [(float(numpy_helper.to_array(inits[s])), numpy_helper.to_array(inits[z])) for s, z in members]
        if len({(sc, int(zp)) for sc, zp in values}) == 1 or len({zp.dtype for _, zp in values}) != 1:
            continue  # already one quantization, or uint8 and int8 mixed: no one zero point serves both
        info = np.iinfo(values[0][1].dtype)
        low = min(0.0, *((info.min - int(zp)) * sc for sc, zp in values))
        high = max(0.0, *((info.max - int(zp)) * sc for sc, zp in values))
        scale = np.float32((high - low) / (info.max - info.min))
        zero = np.clip(np.round(info.min - low / float(scale)), info.min, info.max).astype(values[0][1].dtype)
        for (s, z), (sc, zp) in zip(members, values, strict=True):
            old_scale[s] = sc
            out_inits[s].CopyFrom(numpy_helper.from_array(np.asarray(scale).reshape(inits[s].dims), s))
            out_inits[z].CopyFrom(numpy_helper.from_array(np.asarray(zero, zp.dtype).reshape(inits[z].dims), z))
    if not old_scale:
        return model
    _requantize_biases(out, old_scale)
    return out


def _requantize_biases(model: onnx.ModelProto, old_scale: dict[str, float]) -> None:
    """Rescale the int32 bias of every Conv/Gemm whose input scale :func:`share_concat_quantization` changed."""
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    done: set[str] = set()
    for node in model.graph.node:
        if node.op_type not in _BIASED or len(node.input) < 3:
            continue
        x, w, b = (producer.get(n) for n in node.input[:3])
        if not all(d is not None and d.op_type == "DequantizeLinear" for d in (x, w, b)):
            continue
        names = (x.input[1], w.input[1], b.input[0], b.input[1])
        if x.input[1] not in old_scale or not all(n in inits for n in names) or b.input[0] in done:
            continue
        bias_q = numpy_helper.to_array(inits[b.input[0]])
        if bias_q.dtype != np.int32:
            continue
        bias = bias_q.astype(np.float64) * numpy_helper.to_array(inits[b.input[1]]).astype(np.float64)
        new_scale = (float(numpy_helper.to_array(inits[x.input[1]])) * numpy_helper.to_array(inits[w.input[1]])).astype(
            np.float32
        )
        quantized = np.round(bias / new_scale.astype(np.float64))
        info = np.iinfo(np.int32)
        inits[b.input[1]].CopyFrom(numpy_helper.from_array(new_scale.reshape(inits[b.input[1]].dims), b.input[1]))
        inits[b.input[0]].CopyFrom(
            numpy_helper.from_array(
                np.clip(quantized, info.min, info.max).astype(np.int32).reshape(bias_q.shape), b.input[0]
            )
        )
        done.add(b.input[0])


def _names_read(graph: onnx.GraphProto) -> set[str]:
    """Every value a node of ``graph`` or of a subgraph in it (a Scan's or Loop's body) reads."""
    names: set[str] = set()
    for node in graph.node:
        names.update(node.input)
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                names |= _names_read(sub)
    return names


def _ranks(model: onnx.ModelProto) -> dict[str, int]:
    """The rank of every value whose shape ONNX shape inference finds."""
    inferred = onnx.shape_inference.infer_shapes(model).graph
    ranks = {}
    for v in [*inferred.input, *inferred.value_info, *inferred.output]:
        if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape"):
            ranks[v.name] = len(v.type.tensor_type.shape.dim)
    return ranks


def quantize_int8(
    model: onnx.ModelProto,
    calibration: str | Path,
    *,
    limit: int | None = DEFAULT_CALIBRATION_SIZE,
    per_channel: bool = True,
) -> tuple[onnx.ModelProto, QuantizationReport]:
    """Statically quantize ``model`` to INT8 QDQ, calibrated on the images in ``calibration``."""
    # onnxruntime is an optional extra (cpu or gpu) and its quantizer is heavy: loaded when asked for
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    sources = calibration_sources(calibration, limit)
    with tempfile.TemporaryDirectory(prefix="kerascc-int8-") as tmp:
        fp32_path, pre_path, int8_path = (Path(tmp) / n for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        onnx.save(batchnorm_as_depthwise_conv(model), fp32_path)
        runner = BatchRunner(fp32_path, "cpu", engine="onnxruntime")  # its calibrator is onnxruntime's
        skipped: list[Path] = []
        inputs = list(_batches(runner, sources, skipped))
        if not inputs:
            raise RuntimeInputError("no readable calibration images", file=str(calibration))

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self._it = iter(inputs)

            def get_next(self) -> dict[str, np.ndarray] | None:
                x = next(self._it, None)
                return None if x is None else {runner.spec.name: x}

        try:
            quant_pre_process(str(fp32_path), str(pre_path), skip_symbolic_shape=True)
            quantize_static(
                str(pre_path),
                str(int8_path),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
            )
        except RuntimeInputError:
            raise
        except Exception as exc:  # onnxruntime's quantizer raises plain exceptions of many kinds
            raise RuntimeInputError(
                f"onnxruntime could not quantize the model: {exc}", hint="compile with --target onnx and try again"
            ) from exc
        quantized = onnx.load(str(int8_path))
        agreement = compare(runner, int8_path, inputs)
        notes: list[str] = []
        shared = share_concat_quantization(quantized)
        if shared is not quantized:  # faster, but an accuracy trade: kept only where it costs nothing here
            shared_path = Path(tmp) / "shared.onnx"
            onnx.save(shared, str(shared_path))
            shared_agreement = compare(runner, shared_path, inputs)
            if _as_close(shared_agreement, agreement):
                quantized, agreement = shared, shared_agreement
                notes.append("concatenations share one int8 scale per chain (they copy bytes, not requantize)")
            else:
                notes.append("concatenations keep their own int8 scales: one shared scale lost accuracy here")
        report = QuantizationReport(len(inputs), agreement, len(skipped), notes)
    _carry_metadata(
        model, quantized, {PRECISION_KEY: f"int8 (QDQ, per-channel={per_channel}, {len(inputs)} calibration images)"}
    )
    return quantized, report


@dataclass
class LoweredPrecision:
    """The rewritten model and what to tell the user about it."""

    model: onnx.ModelProto
    lines: list[str]


def lower_precision(
    model: onnx.ModelProto,
    *,
    int8: bool,
    calibrate: str | Path | None,
    calibration_size: int = DEFAULT_CALIBRATION_SIZE,
    fp16: bool,
) -> LoweredPrecision:
    """Lower a compiled model's precision, as ``compiler.compile(int8=..., fp16=...)`` was asked.

    This is the compile step that needs the runtime: calibration images are read and
    preprocessed exactly as ``run`` reads them, and both models run on them to be compared.
    Which combinations make sense is checked by the compiler's options, before any compiling.
    """
    lines: list[str] = []
    if int8:
        assert calibrate is not None
        model, report = quantize_int8(model, calibrate, limit=calibration_size)
        lines += ["int8 QDQ, per-channel weights, " + report.lines()[0], *report.lines()[1:]]
    if fp16:
        model = convert_fp16(model)
        lines.append("fp16 (inputs and outputs fp32)")
    return LoweredPrecision(model, lines)


def compare(reference: BatchRunner, candidate: str | Path, inputs: Sequence[np.ndarray]) -> list[OutputAgreement]:
    """Run both models on the same inputs and measure agreement per output."""
    other = create_session(candidate, "cpu").session
    names = reference.output_names
    cosines: dict[str, list[float]] = {n: [] for n in names}
    top1: dict[str, list[float]] = {n: [] for n in names}
    for x in inputs:
        ref = reference.info.session.run(names, {reference.spec.name: x})
        got = other.run(names, {reference.spec.name: x})
        for name, a, b in zip(names, ref, got, strict=True):
            cosines[name].append(cosine(a, b))
            agreed = classify(a.shape[1:]).agreement(a[0], b[0])
            if agreed is not None:
                top1[name].append(agreed)
    return [
        OutputAgreement(
            n, float(np.mean(cosines[n])), float(np.min(cosines[n])), float(np.mean(top1[n])) if top1[n] else None
        )
        for n in names
    ]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two arrays taken as flat vectors (1.0 for two zero arrays)."""
    a = np.asarray(a, np.float64).reshape(-1)
    b = np.asarray(b, np.float64).reshape(-1)
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    if norm == 0:
        return 1.0 if not a.any() and not b.any() else 0.0
    return float(np.dot(a, b) / norm)


def convert_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Half-precision weights and math, float32 at the model's inputs and outputs."""
    try:
        from onnxconverter_common import float16
    except ImportError as exc:
        raise RuntimeInputError(
            "fp16 conversion needs onnxconverter-common",
            hint="pip install 'kerascc[gpu]' (or pip install onnxconverter-common)",
        ) from exc
    converted = float16.convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    _carry_metadata(model, converted, {PRECISION_KEY: "fp16 (float32 inputs and outputs)"})
    return converted


def _carry_metadata(source: onnx.ModelProto, target: onnx.ModelProto, extra: dict[str, Any]) -> None:
    """Keep the compiler's metadata (preprocessing, layout, weights) on the rewritten model."""
    meta = {p.key: p.value for p in source.metadata_props} | {k: str(v) for k, v in extra.items()}
    del target.metadata_props[:]
    for key in sorted(meta):
        target.metadata_props.add(key=key, value=meta[key])
