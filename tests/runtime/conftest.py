"""Fixtures for the runtime tests: per-test factories for models and lossless images."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from runtime_testkit import Dim, build_model, write_image

# tests/cli_process.py, the command-line runner the CLI tests of every folder share
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture
def model_factory(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(input_shape: Sequence[Dim], **kwargs) -> Path:
        return build_model(tmp_path / f"model{next(counter)}.onnx", input_shape, **kwargs)

    return make


@pytest.fixture
def noise_png(tmp_path: Path) -> Callable[[str, int, int], Path]:
    """Random RGB noise saved losslessly, so the decoded pixels are known exactly."""
    rng = np.random.default_rng(0)

    def make(name: str, height: int = 5, width: int = 6) -> Path:
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        return write_image(tmp_path / name, pixels)

    return make
