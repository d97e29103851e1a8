"""Tiny ONNX models and image files for the runtime tests, built on the spot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

OPSET = 17
IR_VERSION = 8

# The toy classifier maps mean red to class 281 (tabby), mean green to 1 (goldfish) and mean blue
# to 999 (toilet tissue); every other class has logit 0.
CLASS_OF_CHANNEL = (281, 1, 999)
LOGIT_PER_UNIT = 0.02

Dim = int | str


def classifier_weights() -> np.ndarray:
    w = np.zeros((3, 1000), dtype=np.float32)
    for channel, cls in enumerate(CLASS_OF_CHANNEL):
        w[channel, cls] = LOGIT_PER_UNIT
    return w


def build_model(
    path: Path,
    input_shape: Sequence[Dim],
    *,
    head: str = "classifier",
    layout: str = "nhwc",
    metadata: dict[str, str] | None = None,
    inputs: int = 1,
) -> Path:
    """Write an ONNX model: ``classifier`` gives softmax 'probs' (N,1000) and 'mean_rgb' (N,3);
    ``identity`` returns its input as 'pixels'; ``segmentation`` gives a per-pixel softmax
    over the channels as 'mask' (N,H,W,3)."""
    x = [
        helper.make_tensor_value_info(f"x{i}" if i else "x", TensorProto.FLOAT, list(input_shape))
        for i in range(inputs)
    ]
    if head == "segmentation":
        # per-pixel softmax over the colour channels: the class of a pixel is its strongest channel
        nodes = [helper.make_node("Softmax", ["x"], ["mask"], axis=-1)]
        outputs = [helper.make_tensor_value_info("mask", TensorProto.FLOAT, list(input_shape))]
        inits = []
    elif head == "identity":
        nodes = [helper.make_node("Identity", ["x"], ["pixels"])]
        outputs = [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, list(input_shape))]
        inits = []
    else:
        spatial = [1, 2] if layout == "nhwc" else [2, 3]
        nodes = [
            helper.make_node("ReduceMean", ["x"], ["mean_rgb"], axes=spatial, keepdims=0),
            helper.make_node("MatMul", ["mean_rgb", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
        ]
        outputs = [
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, [input_shape[0], 1000]),
            helper.make_tensor_value_info("mean_rgb", TensorProto.FLOAT, [input_shape[0], 3]),
        ]
        inits = [numpy_helper.from_array(classifier_weights(), "w")]
    graph = helper.make_graph(nodes, "toy", x, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    meta = ({} if layout == "nhwc" else {"kerascc.input_layout": layout}) | (metadata or {})
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def write_image(path: Path, pixels: np.ndarray | tuple[int, int, int], size=(6, 5), **save) -> Path:
    """Save an RGB image: a uint8 (H, W, 3) array, or one colour at ``size`` (width, height)."""
    if not isinstance(pixels, np.ndarray):
        pixels = np.full((size[1], size[0], 3), pixels, dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(path, **save)
    return path


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    return text
