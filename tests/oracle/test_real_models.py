"""Models as others wrote them (keras.io examples, popular repositories), against real Keras.

Each file of tests/data/real_models is a cut-down copy of one published model definition (its source
in the file's docstring and in SOURCES below). It runs with real Keras, its training lines harmless,
and through kerascc's stand-ins: onnxruntime on the compiled ``.py`` with Keras's weights must give
what ``model.predict`` gives; the ``.keras`` archive and the JSON + weights Keras writes for the same
model must compile to the same numbers (with the file as ``custom_objects`` where it defines
classes); and kerascc's ``export-json`` of the file must load in Keras
(``keras.models.model_from_json``) as the same layers and parameter count. The ones kerascc refuses
say so in one line naming the file, the layer and what to write instead.
"""

from __future__ import annotations

import inspect
import runpy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import keras
import numpy as np
import pytest

import compiler
from compiler.errors import CompileError

from .harness import check, keras_predict, randomize, rel_error, run_onnx

MODELS = Path(__file__).resolve().parents[1] / "data" / "real_models"
KERAS_IO = "https://github.com/keras-team/keras-io/blob/master/examples/"

#: file -> where its model definition comes from
SOURCES = {
    "mlp_mixer.py": KERAS_IO + "vision/mlp_image_classification.py",
    "convmixer.py": KERAS_IO + "vision/convmixer.py",
    "text_cnn.py": KERAS_IO + "nlp/text_classification_from_scratch.py",
    "embedding_bag.py": "https://www.tensorflow.org/text/guide/word_embeddings",
    "timeseries_fcn.py": KERAS_IO + "timeseries/timeseries_classification_from_scratch.py",
    "pointnet.py": KERAS_IO + "vision/pointnet.py",
    "siamese.py": KERAS_IO + "vision/siamese_contrastive.py",
    "dcgan.py": KERAS_IO + "generative/dcgan_overriding_train_step.py",
    "captcha_ocr_cnn.py": KERAS_IO + "vision/captcha_ocr.py",
    "squeeze_excite.py": "https://github.com/titu1994/keras-squeeze-excite-network/blob/master/keras_squeeze_excite_network/se.py",
    "vit_patches.py": KERAS_IO + "vision/image_classification_with_vision_transformer.py",
    "token_position_embedding.py": KERAS_IO + "nlp/text_classification_with_transformer.py",
    "super_resolution.py": KERAS_IO + "vision/super_resolution_sub_pixel.py",
    "vae_encoder.py": KERAS_IO + "generative/vae.py",
    "pixelcnn.py": KERAS_IO + "generative/pixelcnn.py",
}

#: files whose saved forms Keras itself cannot reload (custom layers whose __init__ takes no
#: name/trainable or whose get_config lacks their arguments, as the pages write them): the .py
#: path, and the classes named in export-json
PY_ONLY = {"mlp_mixer.py", "vit_patches.py", "token_position_embedding.py"}

#: refused files -> the words their one-line refusal must hold
REFUSED = {
    "super_resolution.py": ("super_resolution.py:", "Reshape", "unknown sizes", "depth_to_space"),
    "vae_encoder.py": ("vae_encoder.py:22", "keras.random.normal", "deterministic", "return z_mean"),
    "pixelcnn.py": ("pixelcnn.py:20", "Conv2D 'conv2d'", "'kernel'", "self.add_weight"),
}
COMPILED = sorted(set(SOURCES) - set(REFUSED))


@pytest.fixture
def training_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scripts' fit/evaluate/save lines, which need data, do nothing under real Keras here."""
    monkeypatch.setattr(keras.Model, "fit", lambda self, *a, **k: SimpleNamespace(history={}))
    monkeypatch.setattr(keras.Model, "evaluate", lambda self, *a, **k: [0.0, 0.0])
    monkeypatch.setattr(keras.utils, "plot_model", lambda *a, **k: None)


def keras_build(name: str, seed: int) -> tuple[keras.Model, dict[str, Any]]:
    """The file's model built by real Keras, with BatchNorm statistics and biases drawn."""
    keras.backend.clear_session()
    namespace = runpy.run_path(str(MODELS / name), run_name="__kerascc_model__")
    return randomize(namespace["model"], seed), namespace


def model_inputs(model: keras.Model, batch: int = 2, free: int = 40) -> list[np.ndarray]:
    """Seeded inputs: normal floats, token ids over the whole vocabulary of the model's first
    Embedding; an axis the model leaves free (a text of any length) gets ``free`` steps."""
    rng = np.random.default_rng(0)
    vocab = next((layer.input_dim for layer in model._flatten_layers() if isinstance(layer, keras.layers.Embedding)), 5)
    arrays = []
    for t in model.inputs:
        shape = (batch, *(free if d is None else int(d) for d in t.shape[1:]))
        if np.dtype(str(t.dtype)).kind in "iu":
            arrays.append(rng.integers(0, vocab, shape).astype(str(t.dtype)))
        else:
            arrays.append(rng.standard_normal(shape).astype(np.float32))
    return arrays


def own_objects(namespace: dict[str, Any]) -> dict[str, Any]:
    """The classes and functions a file defines: Keras's custom_objects for it."""
    return {
        k: v
        for k, v in namespace.items()
        if (inspect.isclass(v) or inspect.isfunction(v)) and v.__module__ == "__kerascc_model__"
    }


@pytest.mark.covers("Dot", "axes=(2, 1) on rank-3 tensors (PointNet's T-net), in keras.io model files")
@pytest.mark.parametrize("name", COMPILED)
def test_real_model_matches_keras(name: str, training_does_nothing: None, tmp_path: Path) -> None:
    path = MODELS / name
    model, namespace = keras_build(name, 3)
    weights = tmp_path / "model.weights.h5"
    model.save_weights(weights)
    inputs = model_inputs(model)
    want = keras_predict(model, inputs)
    compiled = compiler.compile(path, weights=weights)
    assert compiled.random_weights is False
    onnx_path = compiler.save(compiled, tmp_path / "model.onnx")
    names = [i.name for i in compiled.onnx.graph.input]
    _, got = run_onnx(onnx_path, dict(zip(names, inputs, strict=True)))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        assert rel_error(g, w) <= 1e-4, f"{name}: the .py path differs from Keras"

    custom = own_objects(namespace)
    if name not in PY_ONLY:
        options = {"custom_objects": path} if custom else {}
        check(model, tmp_path / "saved", inputs=inputs, **options)

    exported = compiler.export_json(path, tmp_path / "model.json")
    if name in PY_ONLY:  # Keras cannot rebuild these classes from a config; the document still names them
        assert all(f'"class_name": "{cls}"' in exported.read_text() for cls in custom if inspect.isclass(custom[cls]))
        return
    loaded = keras.models.model_from_json(exported.read_text(), custom_objects=custom)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    assert loaded.count_params() == model.count_params()


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_real_model_refusal_is_one_clear_line(name: str) -> None:
    with pytest.raises(CompileError) as info:
        compiler.compile(MODELS / name)
    line = str(info.value)
    assert "\n" not in line
    for words in REFUSED[name]:
        assert words in line, f"{name}: {line!r} should name {words!r}"


def test_every_model_file_is_listed() -> None:
    assert sorted(p.name for p in MODELS.glob("*.py")) == sorted(SOURCES)
    assert all(np.char.startswith(url, "https://") for url in SOURCES.values())
