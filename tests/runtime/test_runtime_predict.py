from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from keras.applications.imagenet_utils import preprocess_input
from PIL import Image
from runtime_testkit import CLASS_OF_CHANNEL, classifier_weights, one_line, write_image

from runtime.errors import RuntimeInputError
from runtime.predict import Prediction, format_prediction, predict
from runtime.providers import CPU

TABBY, GOLDFISH, TOILET_TISSUE = CLASS_OF_CHANNEL


def softmax_of_means(means: np.ndarray) -> np.ndarray:
    logits = means.astype(np.float64) @ classifier_weights().astype(np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def colours(tmp_path: Path) -> list[Path]:
    return [
        write_image(tmp_path / "orange.png", (200, 100, 0)),
        write_image(tmp_path / "green.png", (0, 180, 40)),
        write_image(tmp_path / "blue.png", (30, 0, 250)),
    ]


def test_classifier_end_to_end(model_factory, colours):
    pred = predict(model_factory(["N", 4, 4, 3], head="classifier"), colours, batch_size=2)
    assert isinstance(pred, Prediction)
    assert list(pred.outputs) == ["probs", "mean_rgb"]  # the model's output order
    assert pred.preprocess == "none" and pred.layout == "nhwc"
    assert pred.images == [str(p) for p in colours]
    assert pred.session_info.provider == CPU
    probs = pred.outputs["probs"]
    assert probs.shape == (3, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(pred.outputs["mean_rgb"], [[200, 100, 0], [0, 180, 40], [30, 0, 250]])
    np.testing.assert_allclose(probs, softmax_of_means(pred.outputs["mean_rgb"]), rtol=1e-4, atol=1e-7)
    assert probs.argmax(axis=1).tolist() == [TABBY, GOLDFISH, TOILET_TISSUE]


def test_format_prediction_lines(model_factory, colours):
    pred = predict(model_factory(["N", 4, 4, 3]), colours[:1])
    lines = format_prediction(pred, k=3)
    assert lines[0] == str(colours[0])
    assert lines[1] == "  probs:"
    # orange: red 200 -> tabby, green 100 -> goldfish, then every other class ties at logit 0.
    assert lines[2].startswith("    1. tabby (281): ")
    assert lines[3].startswith("    2. goldfish (1): ")
    assert lines[4].startswith("    3. tench (0): ")
    assert float(lines[2].rsplit(": ", 1)[1]) > float(lines[3].rsplit(": ", 1)[1])
    assert lines[5].startswith("  mean_rgb: shape (3,) float32  min 0  max 200  mean 100")
    assert len(lines) == 6


def test_format_prediction_every_image(model_factory, colours):
    lines = format_prediction(predict(model_factory(["N", 4, 4, 3]), colours), k=1)
    assert [line for line in lines if not line.startswith(" ")] == [str(p) for p in colours]
    assert [line.split(" (")[0].strip() for line in lines if line.startswith("    1.")] == [
        "1. tabby",
        "1. goldfish",
        "1. toilet tissue",
    ]


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch", "none"])
def test_preprocessing_from_metadata_matches_keras(model_factory, noise_png, mode):
    images = [noise_png("a.png"), noise_png("b.png")]
    model = model_factory(["N", 5, 6, 3], head="identity", metadata={"kerascc.preprocess": mode})
    pred = predict(model, images)
    assert pred.preprocess == mode
    raw = np.stack([np.asarray(Image.open(p), dtype=np.float32) for p in images])
    expected = raw if mode == "none" else preprocess_input(raw.copy(), mode=mode)
    np.testing.assert_array_equal(pred.outputs["pixels"], expected)


def test_nchw_layout_transposes_after_preprocessing(model_factory, noise_png):
    images = [noise_png("a.png"), noise_png("b.png")]
    meta = {"kerascc.preprocess": "caffe"}
    nhwc = predict(model_factory(["N", 5, 6, 3], head="identity", metadata=meta), images)
    nchw = predict(model_factory(["N", 3, 5, 6], head="identity", layout="nchw", metadata=meta), images)
    assert nchw.layout == "nchw"
    assert nchw.outputs["pixels"].shape == (2, 3, 5, 6)
    np.testing.assert_array_equal(nchw.outputs["pixels"], nhwc.outputs["pixels"].transpose(0, 3, 1, 2))


def test_nchw_classifier_agrees_with_nhwc(model_factory, colours):
    nhwc = predict(model_factory(["N", 4, 4, 3]), colours)
    nchw = predict(model_factory(["N", 3, 4, 4], layout="nchw"), colours)
    np.testing.assert_allclose(nchw.outputs["probs"], nhwc.outputs["probs"], rtol=1e-5)


def test_images_are_resized_to_model_input(model_factory, tmp_path):
    big = write_image(tmp_path / "big.png", (9, 99, 199), size=(32, 24))
    pred = predict(model_factory(["N", 4, 5, 3], head="identity"), [big])
    assert pred.outputs["pixels"].shape == (1, 4, 5, 3)
    assert np.all(pred.outputs["pixels"] == np.array([9, 99, 199], np.float32))


def test_dynamic_input_uses_image_size(model_factory, tmp_path):
    a = write_image(tmp_path / "a.png", (1, 2, 3), size=(7, 3))
    pred = predict(model_factory(["N", "H", "W", 3], head="identity"), [a, a])
    assert pred.outputs["pixels"].shape == (2, 3, 7, 3)


def test_dynamic_input_with_mixed_sizes_is_an_error(model_factory, tmp_path):
    a = write_image(tmp_path / "a.png", (0, 0, 0), size=(7, 3))
    b = write_image(tmp_path / "b.png", (0, 0, 0), size=(3, 7))
    with pytest.raises(RuntimeInputError) as err:
        predict(model_factory(["N", "H", "W", 3], head="identity"), [a, b])
    assert one_line(err.value).startswith(f"{b}: image is 3x7 but a.png is 7x3")


@pytest.mark.parametrize("fixed_batch", [1, 2])
def test_fixed_batch_dimension_pads_the_last_batch(model_factory, colours, fixed_batch):
    dynamic = predict(model_factory(["N", 4, 4, 3]), colours)
    fixed = predict(model_factory([fixed_batch, 4, 4, 3]), colours, batch_size=8)
    assert fixed.outputs["probs"].shape == (3, 1000)
    np.testing.assert_allclose(fixed.outputs["probs"], dynamic.outputs["probs"], rtol=1e-6)
    np.testing.assert_allclose(fixed.outputs["mean_rgb"], dynamic.outputs["mean_rgb"])


def test_batch_size_does_not_change_results(model_factory, colours):
    model = model_factory(["N", 4, 4, 3])
    one = predict(model, colours, batch_size=1).outputs["probs"]
    all_ = predict(model, colours, batch_size=64).outputs["probs"]
    np.testing.assert_allclose(one, all_, rtol=1e-6)


def test_progress_bar_only_on_a_terminal(model_factory, colours, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    model = model_factory(["N", 4, 4, 3])
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    predict(model, colours, batch_size=1)
    assert plain.getvalue() == ""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    predict(model, colours, batch_size=1)
    assert "inference" in terminal.getvalue()
    quiet = Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    predict(model, colours, batch_size=8)  # a single batch shows no bar
    assert quiet.getvalue() == ""


def test_multi_input_model_is_refused(model_factory, colours):
    model = model_factory(["N", 4, 4, 3], head="identity", inputs=2)
    with pytest.raises(RuntimeInputError) as err:
        predict(model, colours)
    text = one_line(err.value)
    assert text.startswith(f"{model}: the model has 2 inputs (x, x1)")


def test_non_image_input_is_refused(model_factory, colours):
    model = model_factory(["N", 12], head="identity")
    with pytest.raises(RuntimeInputError) as err:
        predict(model, colours)
    assert one_line(err.value).startswith(f"{model}: input 'x' has shape (?, 12)")


def test_wrong_channel_count_is_refused(model_factory, colours):
    model = model_factory(["N", 4, 4, 2], head="identity")
    with pytest.raises(RuntimeInputError) as err:
        predict(model, colours)
    assert "takes 2 channels (nhwc); images are read as grayscale (1), RGB (3) or RGBA (4)" in one_line(err.value)


def test_bad_metadata_is_named(model_factory, colours):
    model = model_factory(["N", 4, 4, 3], metadata={"kerascc.preprocess": "imagenet"})
    with pytest.raises(RuntimeInputError) as err:
        predict(model, colours)
    assert one_line(err.value).startswith(f"{model}: metadata kerascc.preprocess='imagenet'")


def test_missing_image_is_named(model_factory, colours, tmp_path):
    with pytest.raises(RuntimeInputError) as err:
        predict(model_factory(["N", 4, 4, 3]), [*colours, tmp_path / "cat.jpg"])
    assert one_line(err.value) == f"{tmp_path / 'cat.jpg'}: no such image file"


def test_corrupt_image_is_named(model_factory, tmp_path):
    bad = tmp_path / "cat.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(RuntimeInputError) as err:
        predict(model_factory(["N", 4, 4, 3]), [bad])
    assert one_line(err.value).startswith(f"{bad}: cannot read image")


def test_unavailable_provider(model_factory, colours):
    with pytest.raises(RuntimeInputError) as err:
        predict(model_factory(["N", 4, 4, 3]), colours, provider="tensorrt")
    text = one_line(err.value)
    assert "provider 'tensorrt' is not available" in text and "kerascc[gpu]" in text


def test_missing_model_is_named(tmp_path, colours):
    with pytest.raises(RuntimeInputError) as err:
        predict(tmp_path / "resnet.onnx", colours)
    assert one_line(err.value) == f"{tmp_path / 'resnet.onnx'}: no such model file"


def test_bad_batch_size(model_factory, colours):
    with pytest.raises(RuntimeInputError, match="batch size must be at least 1"):
        predict(model_factory(["N", 4, 4, 3]), colours, batch_size=0)
