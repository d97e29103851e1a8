"""What a person sees of a model's outputs: top-k labels, colour masks, tables, CSV and JSON.

Each output is classified by its per-image shape, with one rule, so no flag is needed. The rule
and everything that follows from it live on one :class:`OutputKind` per kind, tried in the order
of :data:`KINDS`:

* ``(C,)`` with C ≥ 2: **class scores** (:class:`ClassScores`). Shown as top-k; labels come from
  ``--labels FILE`` (one name a line, in class order) when its length matches C, else from the
  bundled ImageNet list when C is 1000, else the class index stands alone.
* ``(H, W, C)`` with H, W > 1 and 1 ≤ C ≤ :data:`MAX_MASK_CLASSES`: a **per-pixel class map**
  (:class:`ClassMap`; segmentation, e.g. a U-Net's softmax over NHWC). Class = argmax over C, or
  score > 0.5 where C is 1 (a sigmoid mask). With ``--masks DIR`` each image gets
  ``NAME_mask.png`` (colour per class) and ``NAME_overlay.png`` (the mask blended over the photo,
  background class 0 left clear), both at the photo's own size.
* anything else: a **tensor** (:class:`Tensor`), summarised by shape and statistics (``--save``
  keeps it raw).

Result rows are plain dicts, so the same rows feed the on-screen table, CSV and JSON; the files
are written atomically once the run is done (rows are small even for ten thousand images).
"""

from __future__ import annotations

import csv
import io
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from compiler.io import save_bytes

from .decode import labels_for, ranked, summarize
from .errors import RuntimeInputError
from .images import read_rgb

if TYPE_CHECKING:
    from PIL import Image

MAX_MASK_CLASSES = 256  # a palette PNG holds 256 colours
OVERLAY_ALPHA = 0.5
OUTPUT_FORMATS = (".csv", ".json")

CLASSES = "classes"
SEGMENTATION = "segmentation"
TENSOR = "tensor"


def load_labels(path: str | Path) -> list[str]:
    """Class names from a text file, one a line (blank lines at the end ignored)."""
    try:
        text = Path(path).read_text("utf-8")
    except FileNotFoundError as exc:
        raise RuntimeInputError("no such labels file", file=str(path)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RuntimeInputError(
            f"cannot read labels: {exc}", file=str(path), hint="one class name per line, UTF-8"
        ) from exc
    labels = [line.strip() for line in text.rstrip("\n").splitlines()]
    if not labels or not any(labels):
        raise RuntimeInputError("labels file is empty", file=str(path), hint="one class name per line")
    return labels


def class_map(scores: np.ndarray) -> np.ndarray:
    """(H, W, C) scores → (H, W) uint8 class indices: argmax, or a 0.5 threshold for C = 1."""
    if scores.shape[-1] == 1:
        return (scores[..., 0] > 0.5).astype(np.uint8)
    return np.argmax(scores, axis=-1).astype(np.uint8)


def palette() -> np.ndarray:
    """256 distinct RGB colours, class 0 black: the bit-interleaved map Pascal VOC made common,
    so neighbouring class indices get clearly different colours."""
    colours = np.zeros((MAX_MASK_CLASSES, 3), dtype=np.uint8)
    for cls in range(MAX_MASK_CLASSES):
        value, rgb = cls, [0, 0, 0]
        for shift in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << shift
            value >>= 3
        colours[cls] = rgb
    return colours


def mask_images(classes: np.ndarray, photo: Image.Image) -> tuple[Image.Image, Image.Image]:
    """The colour mask (palette PNG) and the overlay, both scaled to the photo's size."""
    from PIL import Image  # lazy: Pillow costs every `compile` start-up, which writes no masks

    height, width = classes.shape
    coloured = Image.frombytes("P", (width, height), np.ascontiguousarray(classes, np.uint8).tobytes())
    coloured.putpalette(palette().reshape(-1).tolist())
    coloured = coloured.resize(photo.size, Image.Resampling.NEAREST)
    idx = np.asarray(coloured)
    rgb = palette()[idx].astype(np.float32)
    base = np.asarray(photo.convert("RGB"), dtype=np.float32)
    blended = np.where((idx > 0)[..., None], (1 - OVERLAY_ALPHA) * base + OVERLAY_ALPHA * rgb, base)
    overlay = Image.fromarray(np.clip(np.rint(blended), 0, 255).astype(np.uint8))
    return coloured, overlay


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


class MaskWriter:
    """Writes ``NAME_mask.png`` and ``NAME_overlay.png`` per image into one folder.

    Images from different folders can share a name, and the folder may already hold files (the
    photos themselves, a photo named ``a_mask.png``, an earlier run's masks): a name that is taken
    gets ``_2``, ``_3`` … so the writer never overwrites a file it did not write in this run.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._used: set[str] = set()

    def _stem(self, path: Path) -> str:
        stem, n = path.stem, 1
        while stem in self._used or self._taken(stem):
            n += 1
            stem = f"{path.stem}_{n}"
        self._used.add(stem)
        return stem

    def _taken(self, stem: str) -> bool:
        return any(os.path.lexists(self.folder / f"{stem}{suffix}") for suffix in ("_mask.png", "_overlay.png"))

    def write(self, image_path: Path, classes: np.ndarray) -> Path:
        coloured, overlay = mask_images(classes, read_rgb(image_path))
        stem = self._stem(image_path)
        mask_path = self.folder / f"{stem}_mask.png"
        save_bytes(png_bytes(coloured), mask_path)
        save_bytes(png_bytes(overlay), self.folder / f"{stem}_overlay.png")
        return mask_path


@dataclass(frozen=True)
class DecodeOptions:
    """What decoding uses besides the output: classes to keep, the user's names, a mask folder."""

    k: int = 5
    labels: list[str] | None = None
    masks: MaskWriter | None = None


class OutputKind(ABC):
    """One way of reading a model output, for one image (its shape without the batch dimension).

    Everything that differs between kinds lives on the kind, so ``run``, ``predict`` and the INT8
    comparison call what :func:`classify` gives them. :meth:`decode` makes the plain dict a result
    row keeps (JSON as is), whose ``"kind"`` is :attr:`name`; the table and the CSV find the kind
    again by it. A new kind (per-step classes of a sequence model, say) is one subclass and one
    entry in :data:`KINDS`, ahead of the catch-all :class:`Tensor`.
    """

    name: ClassVar[str]

    @abstractmethod
    def matches(self, shape: tuple[int, ...]) -> bool:
        """Whether one image's output of this shape is of this kind."""

    @abstractmethod
    def decode(self, value: np.ndarray, path: Path, options: DecodeOptions) -> dict[str, Any]:
        """One image's output (``path`` is its photo, for masks) as a result row keeps it."""

    @abstractmethod
    def cell(self, decoded: dict[str, Any], k: int) -> str:
        """A decoded output as short text for the screen table."""

    @abstractmethod
    def columns(self, decoded: dict[str, Any]) -> dict[str, Any]:
        """A decoded output as CSV columns (the caller prefixes them with the output's name)."""

    def lines(self, name: str, value: np.ndarray, k: int, labels: list[str] | None = None) -> list[str]:
        """``predict``'s text for one image's raw output; statistics unless the kind says more."""
        s = summarize(value)
        stats = "  ".join(f"{key} {_number(s[key])}" for key in ("min", "max", "mean", "std"))
        return [f"  {name}: shape {s['shape']} {s['dtype']}  {stats}"]

    def agreement(self, reference: np.ndarray, candidate: np.ndarray) -> float | None:
        """The share of decisions two models' outputs for one image make alike (the INT8 check);
        None where the kind makes no decision."""
        return None


class ClassScores(OutputKind):
    """``(C,)`` with C ≥ 2: one score per class, shown as the top k with their labels."""

    name = CLASSES

    def matches(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == 1 and shape[0] >= 2

    def decode(self, value: np.ndarray, path: Path, options: DecodeOptions) -> dict[str, Any]:
        names = labels_for(value.shape[0], options.labels)
        return {
            "kind": self.name,
            "top": [
                {"index": int(i), "label": names[i] if names else None, "score": float(value[i])}
                for i in ranked(value, max(1, options.k))
            ],
        }

    def cell(self, decoded: dict[str, Any], k: int) -> str:
        return ", ".join(
            f"{t['label'] if t['label'] is not None else t['index']} {t['score']:.3f}" for t in decoded["top"][:k]
        )

    def columns(self, decoded: dict[str, Any]) -> dict[str, Any]:
        cols: dict[str, Any] = {}
        for rank, t in enumerate(decoded["top"], start=1):
            cols[f"label_{rank}"] = t["label"] if t["label"] is not None else ""
            cols[f"class_{rank}"] = t["index"]
            cols[f"score_{rank}"] = f"{t['score']:.6g}"
        return cols

    def lines(self, name: str, value: np.ndarray, k: int, labels: list[str] | None = None) -> list[str]:
        """The top k as ranked lines where the classes have names, else the statistics."""
        names = labels_for(value.shape[0], labels)
        if names is None:
            return super().lines(name, value, k, labels)
        return [f"  {name}:"] + [
            f"    {rank}. {names[i]} ({i}): {float(value[i]):.4f}" for rank, i in enumerate(ranked(value, k), start=1)
        ]

    def agreement(self, reference: np.ndarray, candidate: np.ndarray) -> float | None:
        """1.0 where both pick the same top class, else 0.0."""
        return float(np.argmax(reference) == np.argmax(candidate))


class ClassMap(OutputKind):
    """``(H, W, C)`` with H, W > 1 and 1 ≤ C ≤ :data:`MAX_MASK_CLASSES`: a class per pixel."""

    name = SEGMENTATION

    def matches(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == 3 and shape[0] > 1 and shape[1] > 1 and 1 <= shape[2] <= MAX_MASK_CLASSES

    def decode(self, value: np.ndarray, path: Path, options: DecodeOptions) -> dict[str, Any]:
        classes = class_map(value)
        counts = np.bincount(classes.reshape(-1), minlength=1)
        present = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0]
        decoded: dict[str, Any] = {
            "kind": self.name,
            "shape": list(classes.shape),
            "area": {str(c): round(float(counts[c]) / classes.size, 6) for c in present},
        }
        if options.masks is not None:
            decoded["mask"] = str(options.masks.write(path, classes))
        return decoded

    def cell(self, decoded: dict[str, Any], k: int) -> str:
        area = ", ".join(f"class {c} {share:.0%}" for c, share in list(decoded["area"].items())[:3])
        return area + (f" → {decoded['mask']}" if "mask" in decoded else "")

    def columns(self, decoded: dict[str, Any]) -> dict[str, Any]:
        cols: dict[str, Any] = {"classes": " ".join(f"{c}:{s:.4f}" for c, s in decoded["area"].items())}
        if "mask" in decoded:
            cols["mask"] = decoded["mask"]
        return cols


class Tensor(OutputKind):
    """Any other output: summarised by shape and statistics (``--save`` keeps it raw)."""

    name = TENSOR

    def matches(self, shape: tuple[int, ...]) -> bool:
        return True

    def decode(self, value: np.ndarray, path: Path, options: DecodeOptions) -> dict[str, Any]:
        return {"kind": self.name} | {key: (list(v) if key == "shape" else v) for key, v in summarize(value).items()}

    def cell(self, decoded: dict[str, Any], k: int) -> str:
        stats = " ".join(f"{key} {decoded[key]:.4g}" for key in ("min", "max", "mean") if decoded.get(key) is not None)
        return f"shape {tuple(decoded['shape'])} {stats}"

    def columns(self, decoded: dict[str, Any]) -> dict[str, Any]:
        cols: dict[str, Any] = {"shape": "x".join(str(d) for d in decoded["shape"])}
        for key in ("min", "max", "mean", "std"):
            value = decoded.get(key)
            cols[key] = "" if value is None else f"{value:.6g}"
        return cols


#: Every kind, in the order they are tried; the last takes any output.
KINDS: tuple[OutputKind, ...] = (ClassScores(), ClassMap(), Tensor())
_BY_NAME = {kind.name: kind for kind in KINDS}


def classify(shape: Sequence[int]) -> OutputKind:
    """The kind of one image's output (its shape without the batch dimension): the first that matches."""
    shape = tuple(shape)
    return next(kind for kind in KINDS if kind.matches(shape))


def output_kind(shape: Sequence[int]) -> str:
    """The name of that kind, as result rows record it: ``classes``, ``segmentation`` or ``tensor``."""
    return classify(shape).name


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def result_rows(
    paths: Sequence[Path],
    outputs: dict[str, np.ndarray],
    *,
    k: int = 5,
    labels: list[str] | None = None,
    masks: MaskWriter | None = None,
) -> list[dict[str, Any]]:
    """One dict per image: ``{"file": ..., "outputs": {name: decoded}}`` (see the module)."""
    options = DecodeOptions(k, labels, masks)
    kinds = {name: classify(arr.shape[1:]) for name, arr in outputs.items()}
    rows: list[dict[str, Any]] = []
    for i, path in enumerate(paths):
        decoded = {name: kind.decode(outputs[name][i], path, options) for name, kind in kinds.items()}
        rows.append({"file": str(path), "outputs": decoded})
    return rows


def cell_text(decoded: dict[str, Any], k: int) -> str:
    """One output of one image as short text for the screen table."""
    return _BY_NAME[decoded["kind"]].cell(decoded, k)


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """A result row as flat CSV columns; an output's name prefixes its columns when there are
    several outputs, so single-output models get plain ``label_1``, ``score_1``…"""
    flat: dict[str, Any] = {"file": row["file"]}
    several = len(row["outputs"]) > 1
    for name, decoded in row["outputs"].items():
        prefix = f"{name}." if several else ""
        flat.update({prefix + col: value for col, value in _BY_NAME[decoded["kind"]].columns(decoded).items()})
    return flat


def check_output_path(path: str | Path) -> Path:
    """Refuse an unknown results format before any inference time is spent."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise RuntimeInputError("results file must end in .csv or .json", file=str(path))
    return path


def write_results(rows: list[dict[str, Any]], path: str | Path, summary: dict[str, Any] | None = None) -> Path:
    """Write rows as CSV (one line per image) or JSON (rows plus the run summary), atomically."""
    path = check_output_path(path)
    if path.suffix.lower() == ".json":
        doc = {"summary": summary or {}, "results": rows}
        return save_bytes((json.dumps(doc, indent=1) + "\n").encode(), path)
    flats = [flat_row(r) for r in rows]
    columns: list[str] = []
    for flat in flats:
        columns.extend(c for c in flat if c not in columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns or ["file"], restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(flats)
    return save_bytes(_encoded(buf.getvalue()), path)


def _encoded(text: str) -> bytes:
    """UTF-8, with a file name's undecodable bytes written back as they were on disk (and any other
    lone surrogate, from a label file, as an escape): a strange name never loses the finished results."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")
