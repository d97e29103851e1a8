"""Train the small shape classifier that `make demo` compiles and runs.

The weights in ``shapes.keras`` are trained by this script, not downloaded: the images are drawn
here with numpy and Pillow (a circle, square, triangle, star or cross of random size, position,
rotation and colours on a noisy, shaded background), so the model, its data and its accuracy can
be checked by anyone. Rerun it from the repository root with the test extra installed (``make
test`` installs it into ``.venv``)::

    .venv/bin/python examples/shapes/train.py

It writes, next to itself, ``shapes.keras`` (the trained model, about 0.8 MB), ``labels.txt``
(the class names, one a line, in output order) and one example image per class, ``<class>.png``,
drawn with a seed the training never saw. Everything is seeded (Python, numpy, TensorFlow, op
determinism, oneDNN off), so a rerun on the same machine and library versions gives the same
weights; it takes about three minutes of CPU time and prints the validation accuracy (0.987).

The model takes 64x64 RGB pixels in 0..255 and scales them itself (a ``Rescaling`` layer), so it
needs no preprocessing outside the graph: compile it with ``--preprocess none``.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle", "star", "cross")
SIZE = 64
#: Shapes are drawn this many times larger and box-filtered down, for smooth (antialiased) edges.
SUPERSAMPLE = 4
HERE = Path(__file__).resolve().parent

TRAIN_SEED = 1
VAL_SEED = 2
EXAMPLE_SEED = 3
MODEL_SEED = 0
BATCH = 32


def _outline(kind: str, radius: float, angle: float, rng: np.random.Generator) -> np.ndarray:
    """Vertices (K, 2) of a polygonal shape centred on the origin, ``radius`` its circumradius."""
    if kind == "square":
        corners = angle + np.pi / 4 + np.arange(4) * np.pi / 2
        return radius * np.stack([np.cos(corners), np.sin(corners)], axis=1)
    if kind == "triangle":
        corners = angle + np.arange(3) * 2 * np.pi / 3
        return radius * np.stack([np.cos(corners), np.sin(corners)], axis=1)
    if kind == "star":
        inner = rng.uniform(0.38, 0.5)
        corners = angle + np.arange(10) * np.pi / 5
        radii = radius * np.where(np.arange(10) % 2 == 0, 1.0, inner)
        return np.stack([radii * np.cos(corners), radii * np.sin(corners)], axis=1)
    if kind == "cross":
        # A plus sign: arms of half-width w reaching to the circumradius along both axes.
        w = radius * rng.uniform(0.22, 0.36)
        r = radius / math.sqrt(1 + (w / radius) ** 2)  # the arm's outer corners lie on the circle
        quarter = np.array([[w, r], [w, w], [r, w]])
        turns = [np.array([[c, -s], [s, c]]) for c, s in ((1, 0), (0, -1), (-1, 0), (0, 1))]
        points = np.concatenate([quarter @ t.T for t in turns])
        c, s = math.cos(angle), math.sin(angle)
        return points @ np.array([[c, -s], [s, c]]).T
    raise ValueError(f"unknown shape {kind!r}")


def _colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A background and a shape colour far enough apart to be told apart by eye."""
    while True:
        background, shape = rng.integers(0, 256, size=(2, 3))
        if np.abs(background - shape).sum() >= 180:
            return background, shape


def draw_shape(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One SIZE x SIZE RGB uint8 image of ``kind`` with random geometry, colours and noise."""
    background, colour = _colours(rng)
    radius = rng.uniform(10.0, 26.0)
    cx, cy = rng.uniform(radius + 1, SIZE - 1 - radius, size=2)
    angle = rng.uniform(0.0, 2 * np.pi)
    big = SIZE * SUPERSAMPLE
    canvas = Image.new("RGB", (big, big), tuple(int(v) for v in background))
    pen = ImageDraw.Draw(canvas)
    fill = tuple(int(v) for v in colour)
    k = SUPERSAMPLE
    if kind == "circle":
        pen.ellipse([k * (cx - radius), k * (cy - radius), k * (cx + radius), k * (cy + radius)], fill=fill)
    else:
        points = (_outline(kind, radius, angle, rng) + (cx, cy)) * k
        pen.polygon([tuple(p) for p in points], fill=fill)
    pixels = np.asarray(canvas.resize((SIZE, SIZE), Image.Resampling.BOX), dtype=np.float32)

    # Uneven lighting (a linear ramp in a random direction) and sensor-like noise on top.
    direction = rng.uniform(0.0, 2 * np.pi)
    ramp = np.linspace(-1.0, 1.0, SIZE, dtype=np.float32)
    shade = math.cos(direction) * ramp[None, :] + math.sin(direction) * ramp[:, None]
    pixels += rng.uniform(0.0, 40.0) * shade[:, :, None]
    pixels += rng.normal(0.0, rng.uniform(0.0, 20.0), size=pixels.shape).astype(np.float32)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def make_dataset(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images (N, SIZE, SIZE, 3) uint8 and their class indices (N,), balanced and shuffled.

    Only numpy's seeded generator and Pillow's drawing are involved, so the same seed gives the
    same arrays on every machine.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % len(CLASSES))
    images = np.stack([draw_shape(CLASSES[label], rng) for label in labels])
    return images, labels.astype(np.int64)


def build_model(keras):  # noqa: ANN001, ANN201 - the keras module is passed in, see train()
    """A small CNN from layers kerascc compiles: Rescaling, Conv2D, BatchNormalization, ReLU,
    MaxPooling2D, GlobalAveragePooling2D, Dropout, Dense.

    A strided first convolution and early pooling keep it cheap enough to train on a laptop CPU in
    about two minutes; the width goes into the later, smaller feature maps, where the corners and
    arms that tell the shapes apart are seen whole. BatchNormalization's momentum is lowered to 0.9
    so its statistics keep up with a run this short.
    """
    layers = keras.layers

    def conv(x, filters: int, name: str, strides: int = 1):  # noqa: ANN001, ANN202
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=name)(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = conv(x, 24, "conv1", strides=2)  # 32x32
    x = layers.MaxPooling2D(2, name="pool1")(x)  # 16x16
    x = conv(x, 48, "conv2")
    x = conv(x, 48, "conv3")
    x = layers.MaxPooling2D(2, name="pool2")(x)  # 8x8
    x = conv(x, 96, "conv4")
    x = layers.MaxPooling2D(2, name="pool3")(x)  # 4x4
    x = conv(x, 128, "conv5")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    outputs = layers.Dense(len(CLASSES), activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="shapes_cnn")


def write_examples(directory: Path, seed: int = EXAMPLE_SEED) -> list[Path]:
    """One PNG per class, ``<class>.png``, drawn from a seed the training never used."""
    rng = np.random.default_rng(seed)
    paths = []
    for kind in CLASSES:
        path = directory / f"{kind}.png"
        Image.fromarray(draw_shape(kind, rng)).save(path, optimize=True)
        paths.append(path)
    return paths


def train(out_dir: Path, train_count: int, val_count: int, epochs: int) -> float:
    """Train, save the model, labels and examples into ``out_dir``; return the validation accuracy."""
    # Seeded, single-path CPU kernels: must be set before TensorFlow is imported.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    # TensorFlow and Keras come from the test extra and only training needs them; imported here so
    # the data generator above can be used (and tested) without them.
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(MODEL_SEED)
    tf.config.experimental.enable_op_determinism()

    start = time.perf_counter()
    x_train, y_train = make_dataset(train_count, TRAIN_SEED)
    x_val, y_val = make_dataset(val_count, VAL_SEED)
    print(f"drew {train_count} training and {val_count} validation images in {time.perf_counter() - start:.1f} s")

    model = build_model(keras)
    steps = epochs * math.ceil(train_count / BATCH)
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps, alpha=0.02)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(
        x_train.astype(np.float32),
        y_train,
        batch_size=BATCH,
        epochs=epochs,
        validation_data=(x_val.astype(np.float32), y_val),
        shuffle=True,
        verbose=2,
    )
    _, accuracy = model.evaluate(x_val.astype(np.float32), y_val, verbose=0)

    # Save the inference model only: a fresh copy without the optimizer's state keeps the file small.
    plain = build_model(keras)
    plain.set_weights(model.get_weights())
    out_dir.mkdir(parents=True, exist_ok=True)
    plain.save(out_dir / "shapes.keras")
    (out_dir / "labels.txt").write_text("".join(f"{name}\n" for name in CLASSES))
    write_examples(out_dir)
    print(f"validation accuracy {accuracy:.4f} on {val_count} images; trained in {time.perf_counter() - start:.0f} s")
    print(
        f"wrote {out_dir / 'shapes.keras'} ({(out_dir / 'shapes.keras').stat().st_size / 1e6:.2f} MB), "
        f"labels.txt and {len(CLASSES)} example images"
    )
    return float(accuracy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder for shapes.keras, labels.txt, examples")
    parser.add_argument("--train", type=int, default=6000, help="training images")
    parser.add_argument("--val", type=int, default=1000, help="validation images")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    train(args.out, args.train, args.val, args.epochs)


if __name__ == "__main__":
    main()
