"""Decoding outputs for people: kinds, labels, masks and overlays, CSV and JSON files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from runtime_testkit import one_line, write_image

from runtime.batch import BatchRunner, expand_inputs
from runtime.decode import imagenet_labels
from runtime.errors import RuntimeInputError
from runtime.outputs import (
    CLASSES,
    KINDS,
    SEGMENTATION,
    TENSOR,
    ClassMap,
    ClassScores,
    DecodeOptions,
    MaskWriter,
    Tensor,
    cell_text,
    class_map,
    classify,
    flat_row,
    labels_for,
    load_labels,
    output_kind,
    palette,
    result_rows,
    write_results,
)


@pytest.mark.parametrize(
    ("shape", "kind"),
    [
        ((1000,), CLASSES),
        ((2,), CLASSES),
        ((1,), TENSOR),
        ((64, 64, 3), SEGMENTATION),
        ((64, 64, 1), SEGMENTATION),
        ((1, 1, 512), TENSOR),
        ((7, 7, 2048), TENSOR),
        ((10, 4), TENSOR),
    ],
)
def test_output_kind_rule(shape, kind):
    assert output_kind(shape) == kind


@pytest.mark.parametrize(("shape", "kind"), [((5,), ClassScores), ((4, 4, 2), ClassMap), ((4, 3), Tensor)])
def test_classify_gives_the_kind_that_decodes_and_shows_it(tmp_path: Path, shape, kind):
    value = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    found = classify(shape)
    assert isinstance(found, kind) and found.name == output_kind(shape)
    decoded = found.decode(value, tmp_path / "p.png", DecodeOptions(k=2))
    assert decoded["kind"] == found.name
    row = {"file": "p.png", "outputs": {"out": decoded}}
    assert cell_text(decoded, 2) == found.cell(decoded, 2)
    assert flat_row(row) == {"file": "p.png", **found.columns(decoded)}
    assert json.loads(json.dumps(decoded)) == decoded  # rows go to JSON as they are


def test_kinds_are_tried_in_order_and_the_last_takes_anything():
    assert [type(k) for k in KINDS] == [ClassScores, ClassMap, Tensor]
    assert all(KINDS[-1].matches(shape) for shape in [(), (1,), (3, 4, 5, 6)])


def test_agreement_is_top1_for_class_scores_only():
    scores = ClassScores()
    assert scores.agreement(np.array([0.1, 0.9]), np.array([0.3, 0.7])) == 1.0
    assert scores.agreement(np.array([0.1, 0.9]), np.array([0.7, 0.3])) == 0.0
    assert ClassMap().agreement(np.zeros((2, 2, 2)), np.ones((2, 2, 2))) is None
    assert Tensor().agreement(np.zeros(3), np.ones(3)) is None


def test_labels_file_and_fallbacks(tmp_path: Path):
    path = tmp_path / "labels.txt"
    path.write_text("cat\ndog\nbird\n")
    custom = load_labels(path)
    assert custom == ["cat", "dog", "bird"]
    assert labels_for(3, custom) == custom
    assert labels_for(1000, custom) == imagenet_labels()  # wrong length: ImageNet for 1000
    assert labels_for(5, custom) is None


@pytest.mark.parametrize("content", [None, ""])
def test_bad_labels_file_is_named(tmp_path: Path, content):
    path = tmp_path / "labels.txt"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RuntimeInputError) as err:
        load_labels(path)
    assert one_line(err.value).startswith(str(path))


def test_class_map_argmax_and_sigmoid_threshold():
    scores = np.zeros((2, 3, 4), np.float32)
    scores[0, :, 2] = 1.0
    scores[1, :, 3] = 1.0
    assert class_map(scores).tolist() == [[2, 2, 2], [3, 3, 3]]
    assert class_map(np.array([[[0.2], [0.7]]])).tolist() == [[0, 1]]


def test_palette_is_distinct_with_black_background():
    colours = palette()
    assert colours.shape == (256, 3) and colours[0].tolist() == [0, 0, 0]
    assert len({tuple(c) for c in colours}) == 256


def test_segmentation_masks_and_overlays(model_factory, tmp_path: Path):
    # left half red, right half blue: the per-pixel classes are 0 and 2
    pixels = np.zeros((6, 8, 3), np.uint8)
    pixels[:, :4, 0] = 200
    pixels[:, 4:, 2] = 200
    photo = write_image(tmp_path / "photo.png", pixels)
    model = model_factory(["N", 3, 4, 3], head="segmentation")
    runner = BatchRunner(model, "cpu")
    (batch,) = runner.stream(expand_inputs([photo]))
    writer = MaskWriter(tmp_path / "masks")
    (row,) = result_rows(batch.paths, batch.outputs, masks=writer)
    decoded = row["outputs"]["mask"]
    assert decoded["kind"] == SEGMENTATION and decoded["shape"] == [3, 4]
    expected = class_map(batch.outputs["mask"][0])
    assert decoded["area"] == {str(c): float(np.mean(expected == c)) for c in (0, 2)}

    mask = Image.open(decoded["mask"])
    assert mask.mode == "P" and mask.size == (8, 6)  # at the photo's size
    indices = np.asarray(mask)
    assert (indices[:, :4] == 0).all() and (indices[:, 4:] == 2).all()
    overlay = np.asarray(Image.open(tmp_path / "masks" / "photo_overlay.png"), np.float32)
    np.testing.assert_array_equal(overlay[:, :4], pixels[:, :4])  # background left clear
    blended = 0.5 * pixels[:, 4:].astype(np.float32) + 0.5 * palette()[2].astype(np.float32)
    np.testing.assert_allclose(overlay[:, 4:], np.rint(blended), atol=0.5)


def test_mask_names_do_not_collide(tmp_path: Path):
    writer = MaskWriter(tmp_path / "out")
    classes = np.zeros((2, 2), np.uint8)
    first = writer.write(write_image(tmp_path / "a.png", (1, 2, 3)), classes)
    (tmp_path / "x").mkdir()
    second = writer.write(write_image(tmp_path / "x" / "a.png", (1, 2, 3)), classes)
    assert first.name == "a_mask.png" and second.name == "a_2_mask.png"


def _rows(model_factory, tmp_path: Path, k: int = 2, labels=None):
    paths = [write_image(tmp_path / f"{n}.png", c) for n, c in (("red", (255, 0, 0)), ("blue", (0, 0, 255)))]
    runner = BatchRunner(model_factory(["N", 4, 4, 3]), "cpu")
    (batch,) = runner.stream(expand_inputs(paths))
    return result_rows(batch.paths, batch.outputs, k=k, labels=labels), batch


def test_class_rows_hold_top_k_with_labels(model_factory, tmp_path: Path):
    rows, batch = _rows(model_factory, tmp_path)
    top = rows[0]["outputs"]["probs"]["top"]
    assert [t["index"] for t in top] == np.argsort(-batch.outputs["probs"][0], kind="stable")[:2].tolist()
    assert top[0]["label"] == imagenet_labels()[281]
    assert rows[1]["outputs"]["probs"]["top"][0]["index"] == 999
    assert rows[0]["outputs"]["mean_rgb"]["kind"] == CLASSES  # 3 scores: top-k without labels
    assert rows[0]["outputs"]["mean_rgb"]["top"][0] == {"index": 0, "label": None, "score": 255.0}


def test_csv_and_json_files(model_factory, tmp_path: Path):
    rows, _ = _rows(model_factory, tmp_path)
    csv_path = write_results(rows, tmp_path / "out" / "results.csv")
    table = list(csv.DictReader(csv_path.open()))
    assert [r["file"] for r in table] == [rows[0]["file"], rows[1]["file"]]
    assert table[0]["probs.label_1"] == imagenet_labels()[281] and table[0]["probs.class_1"] == "281"
    assert float(table[1]["probs.score_1"]) == pytest.approx(rows[1]["outputs"]["probs"]["top"][0]["score"], rel=1e-5)
    doc = json.loads(write_results(rows, tmp_path / "results.json", {"images": 2}).read_text())
    assert doc["summary"] == {"images": 2} and doc["results"] == rows


def test_results_format_is_checked(tmp_path: Path):
    with pytest.raises(RuntimeInputError, match=r"must end in \.csv or \.json"):
        write_results([], tmp_path / "results.txt")


def test_tensor_outputs_are_summarised(model_factory, tmp_path: Path):
    photo = write_image(tmp_path / "p.png", (10, 20, 30))
    runner = BatchRunner(model_factory(["N", 1, 1, 3], head="identity"), "cpu")
    (batch,) = runner.stream(expand_inputs([photo]))
    (row,) = result_rows(batch.paths, batch.outputs)
    decoded = row["outputs"]["pixels"]
    assert decoded == {
        "kind": TENSOR,
        "shape": [1, 1, 3],
        "dtype": "float32",
        "min": 10.0,
        "max": 30.0,
        "mean": 20.0,
        "std": pytest.approx(np.std([10, 20, 30])),
    }
