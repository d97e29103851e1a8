"""``run`` meets the model where it is: photos become grayscale for a 1-channel input, RGBA for a
4-channel one, uint8 pixels for a uint8 input, as Keras's ``load_img(color_mode=...)`` reads
them (Pillow's L and RGBA conversions), and the run header says which conversion it made."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from cli_process import run_cli
from onnx import TensorProto, helper
from PIL import Image
from runtime_testkit import IR_VERSION, OPSET, build_model

from runtime import predict

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: object) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"COLUMNS": "200"})


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """An RGB photo with a transparent corner, saved losslessly: its pixels are known exactly."""
    rng = np.random.default_rng(4)
    rgba = rng.integers(0, 256, size=(5, 6, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0
    path = tmp_path / "photo.png"
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def _uint8_identity(path: Path, channels: int) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.UINT8, ["N", 5, 6, channels])
    y = helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 5, 6, channels])
    graph = helper.make_graph([helper.make_node("Cast", ["x"], ["pixels"], to=TensorProto.FLOAT)], "u8", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.mark.parametrize(
    ("channels", "mode", "header"),
    [(1, "L", "photos as grayscale, float32"), (4, "RGBA", "photos as RGBA, float32"), (3, "RGB", "photos as RGB")],
)
def test_run_converts_the_photo_to_the_models_channels(
    channels: int, mode: str, header: str, photo: Path, tmp_path: Path
) -> None:
    model = build_model(tmp_path / "m.onnx", ["N", 5, 6, channels], head="identity")
    saved = tmp_path / "out.npz"
    run = cli("run", model, photo, "--save", saved)
    assert run.returncode == 0, run.stderr
    assert header in run.stdout.splitlines()[0]
    want = np.asarray(Image.open(photo).convert(mode), dtype=np.float32).reshape(5, 6, channels)
    if mode == "RGB":  # an alpha photo for an RGB model: Keras's load_img drops the alpha
        want = np.asarray(Image.open(photo).convert("RGB"), dtype=np.float32)
    got = np.load(saved)["pixels"][0]
    np.testing.assert_array_equal(got, want)


def test_uint8_inputs_get_uint8_pixels(photo: Path, tmp_path: Path) -> None:
    model = _uint8_identity(tmp_path / "u8.onnx", 3)
    saved = tmp_path / "out.npz"
    run = cli("run", model, photo, "--save", saved)
    assert run.returncode == 0, run.stderr
    assert "photos as RGB, uint8" in run.stdout.splitlines()[0]
    np.testing.assert_array_equal(np.load(saved)["pixels"][0], np.asarray(Image.open(photo).convert("RGB")))


def test_predict_reads_grayscale_for_a_one_channel_model(photo: Path, tmp_path: Path) -> None:
    model = build_model(tmp_path / "m.onnx", ["N", 5, 6, 1], head="identity")
    result = predict(model, [photo])
    gray = np.asarray(Image.open(photo).convert("L"), dtype=np.float32)
    np.testing.assert_array_equal(result.outputs["pixels"][0, ..., 0], gray)


def test_a_grayscale_unet_compiled_from_python_runs_on_a_colour_photo(tmp_path: Path) -> None:
    """The case that used to be refused: a 1-channel segmentation model and an RGB photo."""
    source = tmp_path / "gray_unet.py"
    source.write_text(
        "import keras\nfrom keras import layers\n"
        "inp = keras.Input((32, 32, 1), name='image')\n"
        "x = layers.Conv2D(4, 3, padding='same', activation='relu')(inp)\n"
        "x = layers.UpSampling2D()(layers.MaxPooling2D()(x))\n"
        "model = keras.Model(inp, layers.Conv2D(2, 1, activation='softmax', name='mask')(x))\n"
    )
    onnx_path = tmp_path / "gray_unet.onnx"
    assert cli("compile", source, "-o", onnx_path).returncode == 0
    run = cli("run", onnx_path, ROOT / "examples" / "cat.jpg", "--masks", tmp_path / "masks")
    assert run.returncode == 0, run.stderr
    assert "photos as grayscale, float32" in run.stdout.splitlines()[0]
    assert any((tmp_path / "masks").iterdir())


def test_uint8_model_with_scaling_preprocess_is_refused(photo: Path, tmp_path: Path) -> None:
    model = _uint8_identity(tmp_path / "u8.onnx", 3)
    proto = onnx.load(model)
    helper.set_model_props(proto, {"kerascc.preprocess": "tf"})
    onnx.save(proto, model)
    run = cli("run", model, photo)
    assert run.returncode == 2
    assert "takes uint8 pixels but records preprocessing 'tf'" in run.stderr
