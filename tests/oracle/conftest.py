"""Fixtures of the oracle tests; the machinery itself is ``harness.py``, which tests import.

``harness`` is imported first: it sets TensorFlow's environment before anything imports Keras.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import harness


@pytest.fixture(autouse=True)
def _fresh_keras_session() -> Iterator[None]:
    """Keep auto-generated layer names, graph state and the initialisers' random state from one
    test out of the next, so a test gives the same model alone or in the full run."""
    harness.fresh_keras_session()
    yield
