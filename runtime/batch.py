"""Running a model over many images without holding them all: files, folders, globs, batches.

``run`` is used on one photo and on a folder of ten thousand, so images are read lazily: the
inputs are expanded to a list of *paths* up front (cheap, and it gives the progress bar its
total), then decoded one batch at a time, run, turned into result rows and dropped.

Which inputs are accepted, and what happens to a bad image, follows one rule:

* a **file** named on the command line must be a readable image, otherwise the run stops with a
  one-line error naming it (the user asked for that file explicitly);
* a **folder** is searched recursively for files with an image suffix (:data:`IMAGE_SUFFIXES`),
  in sorted order; a **glob** (``'photos/*.jpg'``, ``'data/**/*.png'``) is expanded the same way.
  Images found this way that cannot be decoded are skipped with a warning and counted, so one
  corrupt file does not cost a night's batch job.

A model with dynamic spatial dimensions takes images at their own size; images of different
sizes then go into separate batches (a batch is flushed when the size changes).

Every batch, whether streamed here or cut from the array ``predict`` decoded up front, runs
through :meth:`BatchRunner.run`: the one place a short batch is zero-padded to a fixed batch
dimension, handed to the session and trimmed back.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from .errors import RuntimeInputError
from .images import _resized, read_rgb
from .preprocess import LAYOUTS, MODES, apply
from .providers import GpuSettings, SessionInfo, create_session

PREPROCESS_KEY = "kerascc.preprocess"
#: What a model that is not an image model runs on (see :mod:`runtime.arrays`).
ARRAYS_HINT = "run it on arrays: .npy files (one per input), an .npz keyed by input name, or a .txt of token ids"
LAYOUT_KEY = "kerascc.input_layout"

#: onnxruntime's names of the floating-point input types, and the arrays that feed them.
INPUT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
}


class Session(Protocol):
    """What the runtime asks of a loaded model: onnxruntime's ``InferenceSession`` calls that
    ``run``, ``predict`` and ``bench`` use. Another engine plugs in by offering these."""

    def get_inputs(self) -> list[Any]: ...

    def get_outputs(self) -> list[Any]: ...

    def get_modelmeta(self) -> Any: ...

    def run(self, output_names: list[str] | None, input_feed: dict[str, np.ndarray]) -> list[np.ndarray]: ...


@dataclass
class InputSpec:
    """The model's image input, with dynamic dimensions as None."""

    name: str
    batch: int | None
    height: int | None
    width: int | None
    channels: int | None
    dtype: type


def _setting(meta: dict[str, str], key: str, default: str, allowed: Sequence[str], file: str | Path) -> str:
    value = meta.get(key, default)
    if value not in allowed:
        raise RuntimeInputError(
            f"metadata {key}='{value}' is not one of {', '.join(allowed)}",
            file=str(file),
            hint="recompile the model with a supported setting",
        )
    return value


def model_input(session: Session, layout: str, file: str | Path) -> InputSpec:
    """Read the single image input of a session: its name, size and element type."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs)
        raise RuntimeInputError(
            f"the model has {len(inputs)} inputs ({names}); only single-input image models can be run on image files",
            file=str(file),
            hint=ARRAYS_HINT,
        )
    (inp,) = inputs
    if len(inp.shape) != 4:
        raise RuntimeInputError(
            f"input '{inp.name}' has shape {inp.shape}; an image batch needs 4 dimensions",
            file=str(file),
            hint=ARRAYS_HINT,
        )
    if inp.type not in INPUT_DTYPES:
        raise RuntimeInputError(
            f"input '{inp.name}' is {inp.type}; image inputs must be floating point",
            file=str(file),
            hint=ARRAYS_HINT,
        )
    dims = [d if isinstance(d, int) and d > 0 else None for d in inp.shape]
    n, h, w, c = dims if layout == "nhwc" else (dims[0], dims[2], dims[3], dims[1])
    if c not in (None, 3):
        raise RuntimeInputError(
            f"input '{inp.name}' takes {c} channels ({layout}); images are read as RGB (3)",
            file=str(file),
            hint="check the model's input layout metadata",
        )
    return InputSpec(inp.name, n, h, w, c, INPUT_DTYPES[inp.type])


def check_batch_size(requested: int) -> int:
    """Refuse a batch size below one; return it otherwise."""
    if requested < 1:
        raise RuntimeInputError(f"batch size must be at least 1, got {requested}")
    return requested


def pad_batch(chunk: np.ndarray, size: int) -> np.ndarray:
    """``chunk`` with zero rows appended up to ``size`` (a fixed batch dimension)."""
    missing = size - len(chunk)
    if missing == 0:
        return chunk
    return np.concatenate([chunk, np.zeros((missing, *chunk.shape[1:]), chunk.dtype)])


def run_session(
    session: Session, names: list[str], input_name: str, feed: np.ndarray, file: str | Path
) -> list[np.ndarray]:
    """One inference call; a failure inside the engine becomes one error naming the model."""
    try:
        return session.run(names, {input_name: feed})
    except Exception as exc:  # onnxruntime's pybind errors have no common public base
        raise RuntimeInputError(f"onnxruntime failed to run the model: {exc}", file=str(file)) from exc


#: Suffixes picked up when a folder or glob is expanded (Pillow reads all of them).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class ImageSource:
    """One image to run, and whether the user named it (errors stop) or it was found (skipped)."""

    path: Path
    explicit: bool


def expand_inputs(args: Sequence[str | Path]) -> list[ImageSource]:
    """Files, folders (recursive) and glob patterns → image paths, in a stable order.

    Duplicates (a file named twice, or also inside a named folder) run once. A pattern or folder
    that matches no image is an error, since it is almost always a typo.
    """
    if not args:
        raise RuntimeInputError("no images given", hint="pass image files, folders or glob patterns")
    seen: set[Path] = set()
    found: list[ImageSource] = []

    def add(path: Path, explicit: bool) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append(ImageSource(path, explicit))

    for arg in args:
        text = str(arg)
        path = Path(text)
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*") if _is_image_file(p))
            if not matches:
                raise RuntimeInputError(
                    "folder holds no image files", file=text, hint=f"looked for {', '.join(sorted(IMAGE_SUFFIXES))}"
                )
            for p in matches:
                add(p, False)
        elif _GLOB_CHARS & set(text) and not path.exists():
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if _is_image_file(Path(p)))
            if not matches:
                raise RuntimeInputError(
                    "pattern matches no image files",
                    file=text,
                    hint="quote the pattern so the shell leaves it to kerascc",
                )
            for p in matches:
                add(p, False)
        elif not path.exists():
            raise RuntimeInputError("no such image file", file=text)
        else:
            add(path, True)
    return found


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


@dataclass
class Batch:
    """One batch's images (the ones that decoded) and the model's outputs for them."""

    paths: list[Path]
    sizes: list[tuple[int, int]]  # original (width, height), for overlays at the photo's size
    outputs: dict[str, np.ndarray]


@dataclass
class RunStats:
    """Counts and timings of a whole run, for the summary line."""

    images: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0
    inference_seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


class BatchRunner:
    """A session plus everything needed to feed it images: preprocessing, layout, input size.

    Kept separate from :func:`stream` so a caller (the CLI) can report the provider before the
    first batch is read.
    """

    def __init__(
        self,
        model: str | Path,
        provider: str | None = None,
        *,
        optimization: str = "all",
        threads: int | None = None,
        settings: GpuSettings | None = None,
    ) -> None:
        self.model = Path(model)
        self.info: SessionInfo = create_session(model, provider, optimization, threads, settings=settings)
        meta = self.info.session.get_modelmeta().custom_metadata_map
        self.metadata: dict[str, str] = dict(meta)
        self.preprocess = _setting(meta, PREPROCESS_KEY, "none", MODES, model)
        self.layout = _setting(meta, LAYOUT_KEY, "nhwc", LAYOUTS, model)
        self.spec: InputSpec = model_input(self.info.session, self.layout, model)
        self.output_names = [o.name for o in self.info.session.get_outputs()]

    def stream(
        self,
        sources: Sequence[ImageSource],
        batch_size: int = 8,
        *,
        stats: RunStats | None = None,
        on_skip: Callable[[Path, str], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> Iterator[Batch]:
        """Decode, preprocess and run ``sources`` one batch at a time.

        Only one batch of pixels exists at any moment. A fixed batch dimension in the model
        overrides ``batch_size`` (the last batch is zero-padded and the padding's outputs dropped).
        """
        size = self.batch_size(batch_size)
        stats = stats if stats is not None else RunStats()
        start = time.perf_counter()
        pending: list[tuple[Path, Image.Image, tuple[int, int]]] = []
        for source in sources:
            image = self._read(source, stats, on_skip)
            if on_progress is not None and image is None:
                on_progress(1)
            if image is None:
                continue
            entry = image_entry(source.path, image, self.spec)
            if pending and entry[1].size != pending[0][1].size:
                yield self._flush(pending, stats, on_progress)
                pending = []
            pending.append(entry)
            if len(pending) == size:
                yield self._flush(pending, stats, on_progress)
                pending = []
        if pending:
            yield self._flush(pending, stats, on_progress)
        stats.seconds = time.perf_counter() - start

    def _read(
        self, source: ImageSource, stats: RunStats, on_skip: Callable[[Path, str], None] | None
    ) -> Image.Image | None:
        try:
            return read_rgb(source.path)
        except RuntimeInputError as exc:
            if source.explicit:
                raise
            reason = str(exc).removeprefix(f"{source.path}: ")
            stats.skipped.append((source.path, reason))
            if on_skip is not None:
                on_skip(source.path, reason)
            return None

    def batch_size(self, requested: int) -> int:
        """The number of images a batch holds: the model's fixed batch dimension, if it has one,
        else ``requested`` (which must be at least 1 either way)."""
        check_batch_size(requested)
        return self.spec.batch or requested

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Run one prepared batch of at most :meth:`batch_size` images; outputs by name, one row
        per image. A short batch for a fixed batch dimension is padded with zeros to fit, and the
        padding's outputs are dropped."""
        feed = pad_batch(x, self.spec.batch) if self.spec.batch else x
        results = run_session(self.info.session, self.output_names, self.spec.name, feed, self.model)
        return {name: result[: len(x)] for name, result in zip(self.output_names, results, strict=True)}

    def prepare(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Images already at the model's size → the model's input batch."""
        return self.prepare_pixels(np.stack([np.asarray(im, dtype=np.float32) for im in images]))

    def prepare_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """RGB pixels (N, H, W, 3), 0..255 → the model's input: preprocessing as the metadata
        says, layout, element type."""
        x = apply(pixels, self.preprocess)
        if self.layout == "nchw":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, dtype=self.spec.dtype)

    def _flush(
        self,
        pending: list[tuple[Path, Image.Image, tuple[int, int]]],
        stats: RunStats,
        on_progress: Callable[[int], None] | None,
    ) -> Batch:
        x = self.prepare([im for _, im, _ in pending])
        t0 = time.perf_counter()
        outputs = self.run(x)
        stats.inference_seconds += time.perf_counter() - t0
        stats.images += len(pending)
        if on_progress is not None:
            on_progress(len(pending))
        return Batch(paths=[p for p, _, _ in pending], sizes=[s for _, _, s in pending], outputs=outputs)


def image_entry(path: Path, image: Image.Image, spec: InputSpec) -> tuple[Path, Image.Image, tuple[int, int]]:
    """The image resized to the model's input (dynamic dimensions keep the photo's own)."""
    return path, _resized(image, spec.height, spec.width), image.size


def join(outputs: Iterable[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Batches' outputs joined per output name, in batch order."""
    parts: dict[str, list[np.ndarray]] = {}
    for batch in outputs:
        for name, arr in batch.items():
            parts.setdefault(name, []).append(arr)
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def collect(batches: Iterable[Batch]) -> dict[str, np.ndarray]:
    """Join every batch's outputs per output name (for ``--save``, which wants one array)."""
    return join(batch.outputs for batch in batches)


def describe_stats(stats: RunStats, provider: str) -> str:
    """The summary line: how many, how fast, on what, and what was skipped."""
    line = (
        f"{stats.images} image{'s' if stats.images != 1 else ''} in {stats.seconds:.2f} s: "
        f"{stats.images_per_second:.1f} images/s on {provider}"
    )
    if stats.inference_seconds > 0 and stats.images:
        line += f" (inference {stats.images / stats.inference_seconds:.1f} images/s)"
    if stats.skipped:
        line += f"; {len(stats.skipped)} unreadable skipped"
    return line
