from __future__ import annotations

import numpy as np
import pytest

from runtime.decode import imagenet_labels, summarize, topk
from runtime.errors import RuntimeInputError


def test_imagenet_labels_in_synset_order():
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert len(set(labels)) == 1000 and all(name.strip() == name and name for name in labels)
    known = {
        0: "tench",
        1: "goldfish",
        207: "golden retriever",
        281: "tabby",
        285: "Egyptian cat",
        409: "analog clock",
        948: "Granny Smith",
        954: "banana",
        999: "toilet tissue",
    }
    assert {i: labels[i] for i in known} == known


def test_labels_are_cached():
    assert imagenet_labels() is imagenet_labels()


def test_topk_orders_best_first_with_labels():
    scores = np.full((2, 1000), 0.0001, np.float32)
    scores[0, [281, 285, 7]] = [0.5, 0.3, 0.1]
    scores[1, [999, 0]] = [0.9, 0.05]
    result = topk(scores, 3)
    assert [(i, name) for i, name, _ in result[0]] == [
        (281, "tabby"),
        (285, "Egyptian cat"),
        (7, "cock"),
    ]
    assert [i for i, _, _ in result[1]] == [999, 0, 1]  # ties keep the lower index first
    assert result[0][0][2] == pytest.approx(0.5)
    assert isinstance(result[0][0][2], float)


def test_topk_reports_logits_as_given_and_has_no_labels_off_imagenet():
    logits = np.array([[-3.0, 2.5, -0.5, 7.0]], np.float32)
    assert topk(logits, 2) == [[(3, None, 7.0), (1, None, 2.5)]]


def test_topk_k_larger_than_classes():
    assert len(topk(np.array([[0.2, 0.8]]), 5)[0]) == 2


def test_topk_needs_2d():
    with pytest.raises(RuntimeInputError, match=r"needs an \(N, classes\) array"):
        topk(np.zeros((2, 3, 4)), 1)


def test_summarize_matches_numpy():
    arr = np.random.default_rng(0).normal(size=(2, 7, 7, 8)).astype(np.float32)
    s = summarize(arr)
    assert s["shape"] == (2, 7, 7, 8) and s["dtype"] == "float32"
    assert s["min"] == pytest.approx(float(arr.min()))
    assert s["max"] == pytest.approx(float(arr.max()))
    assert s["mean"] == pytest.approx(float(arr.astype(np.float64).mean()))
    assert s["std"] == pytest.approx(float(arr.astype(np.float64).std()))


def test_summarize_empty():
    s = summarize(np.zeros((0, 3), np.float32))
    assert s == {
        "shape": (0, 3),
        "dtype": "float32",
        "min": None,
        "max": None,
        "mean": None,
        "std": None,
    }
