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
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .engines import AUTO, FP32, PrecisionCheck, open_session
from .errors import RuntimeInputError
from .images import CHANNEL_MODES, _resized, conversion_text, image_mode, pixel_array, read_image
from .preprocess import LAYOUTS, MODES, apply
from .providers import GpuSettings, SessionInfo

if TYPE_CHECKING:
    from PIL import Image  # annotations only; Pillow itself is loaded by .images when an image is read

PREPROCESS_KEY = "kerascc.preprocess"
#: What a model that is not an image model runs on (see :mod:`runtime.arrays`).
ARRAYS_HINT = "run it on arrays: .npy files (one per input), an .npz keyed by input name, or a .txt of token ids"
LAYOUT_KEY = "kerascc.input_layout"

#: onnxruntime's names of the floating-point input types, and the arrays that feed them.
INPUT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8,  # raw pixels, 0..255, as the photo holds them
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


def shape_text(shape: Sequence[Any]) -> str:
    """A session's input shape as messages show it, ``(?, 10)``: each engine names dynamic
    dimensions its own way (onnxruntime by the file's symbol, OpenVINO not at all), so none is shown."""
    return "(" + ", ".join(str(d) if isinstance(d, int) and d > 0 else "?" for d in shape) + ")"


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
            f"input '{inp.name}' has shape {shape_text(inp.shape)}; an image batch needs 4 dimensions",
            file=str(file),
            hint=ARRAYS_HINT,
        )
    if inp.type not in INPUT_DTYPES:
        raise RuntimeInputError(
            f"input '{inp.name}' is {inp.type}; image inputs must be floating point or uint8",
            file=str(file),
            hint=ARRAYS_HINT,
        )
    dims = [d if isinstance(d, int) and d > 0 else None for d in inp.shape]
    n, h, w, c = dims if layout == "nhwc" else (dims[0], dims[2], dims[3], dims[1])
    if c not in (None, *CHANNEL_MODES):
        raise RuntimeInputError(
            f"input '{inp.name}' takes {c} channels ({layout}); images are read as grayscale (1), RGB (3) or RGBA (4)",
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
        raise RuntimeInputError(f"the engine failed to run the model: {exc}", file=str(file)) from exc


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
        engine: str = AUTO,
        precision: str = FP32,
    ) -> None:
        self.model = Path(model)
        self.info: SessionInfo = open_session(
            model,
            engine=engine,
            precision=precision,
            provider=provider,
            optimization=optimization,
            threads=threads,
            settings=settings,
        )
        #: set by the caller to compare every batch with fp32 (``run --verify-precision``)
        self.check: PrecisionCheck | None = None
        meta = self.info.session.get_modelmeta().custom_metadata_map
        self.metadata: dict[str, str] = dict(meta)
        self.preprocess = _setting(meta, PREPROCESS_KEY, "none", MODES, model)
        self.layout = _setting(meta, LAYOUT_KEY, "nhwc", LAYOUTS, model)
        self.spec: InputSpec = model_input(self.info.session, self.layout, model)
        #: Pillow mode photos are read in for this input (grayscale, RGB, RGBA), and what the header says.
        self.image_mode = image_mode(self.spec.channels)
        self.conversion = conversion_text(self.spec.channels, self.spec.dtype)
        if self.spec.dtype == np.uint8 and self.preprocess != "none":
            raise RuntimeInputError(
                f"the model takes uint8 pixels but records preprocessing '{self.preprocess}'", file=str(model)
            )
        self.output_names = [o.name for o in self.info.session.get_outputs()]

    def stream(
        self,
        sources: Sequence[ImageSource],
        batch_size: int = 8,
        *,
        stats: RunStats | None = None,
        on_skip: Callable[[Path, str], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
        pipeline: bool = True,
        workers: int = 2,
    ) -> Iterator[Batch]:
        """Decode, preprocess and run ``sources`` one batch at a time, in their order.

        With ``pipeline`` (the default), a small pool of ``workers`` threads decodes and resizes
        the next batch's images (Pillow releases the GIL) and a feeder thread preprocesses them
        while the engine runs the current batch. At most two batches of images are held: one
        inferring, one being prepared (:data:`PIPELINE_BATCHES`). Batches, their order and the
        skip messages are exactly those of the unpipelined loop, which ``pipeline=False`` runs.
        A fixed batch dimension in the model overrides ``batch_size`` (the last batch is
        zero-padded and the padding's outputs dropped).
        """
        size = self.batch_size(batch_size)
        if workers < 1:
            raise RuntimeInputError(f"decode workers must be at least 1, got {workers}")
        stats = stats if stats is not None else RunStats()
        start = time.perf_counter()
        items = (
            _Pipeline(self, sources, size, workers)
            if pipeline
            else _SerialFeed(self._batches(map(self._decode, sources), size))
        )
        with items:
            for item in items:
                if isinstance(item, _Skip):
                    stats.skipped.append((item.path, item.reason))
                    if on_skip is not None:
                        on_skip(item.path, item.reason)
                    if on_progress is not None:
                        on_progress(1)
                    items.done(1)
                    continue
                yield self._infer(item, stats, on_progress)
                items.done(len(item.paths))  # after the caller is through with the batch
        stats.seconds = time.perf_counter() - start

    def _decode(self, source: ImageSource) -> tuple[ImageSource, Any]:
        """Read and resize one image (in a worker thread when pipelined); an unreadable file is
        returned as its error, for the batching loop to raise or skip in order."""
        try:
            image = read_image(source.path, self.image_mode)
        except RuntimeInputError as exc:
            return source, exc
        return source, image_entry(source.path, image, self.spec)

    def _batches(self, decoded: Iterable[tuple[ImageSource, Any]], size: int) -> Iterator[_Skip | _Ready]:
        """Decoded images, in order → skip events and prepared batches. A batch closes when full
        or when the image size changes (dynamic spatial dimensions); a named file that does not
        decode stops the run, a found one is skipped."""
        pending: list[tuple[Path, Image.Image, tuple[int, int]]] = []
        for source, entry in decoded:
            if isinstance(entry, RuntimeInputError):
                if source.explicit:
                    raise entry
                yield _Skip(source.path, str(entry).removeprefix(f"{source.path}: "))
                continue
            if pending and entry[1].size != pending[0][1].size:
                yield self._assemble(pending)
                pending = []
            pending.append(entry)
            if len(pending) == size:
                yield self._assemble(pending)
                pending = []
        if pending:
            yield self._assemble(pending)

    def _assemble(self, pending: list[tuple[Path, Image.Image, tuple[int, int]]]) -> _Ready:
        x = self.prepare([im for _, im, _ in pending])
        return _Ready([p for p, _, _ in pending], [s for _, _, s in pending], x)

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
        return self.prepare_pixels(pixel_array(images, self.image_mode))

    def prepare_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels (N, H, W, C), 0..255, in the model's channels → the model's input: preprocessing
        as the metadata says, layout, element type."""
        x = apply(pixels, self.preprocess)
        if self.layout == "nchw":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, dtype=self.spec.dtype)

    def _infer(self, ready: _Ready, stats: RunStats, on_progress: Callable[[int], None] | None) -> Batch:
        t0 = time.perf_counter()
        outputs = self.run(ready.x)
        stats.inference_seconds += time.perf_counter() - t0
        if self.check is not None:
            feed = pad_batch(ready.x, self.spec.batch) if self.spec.batch else ready.x
            self.check.add({self.spec.name: feed}, outputs)
        stats.images += len(ready.paths)
        if on_progress is not None:
            on_progress(len(ready.paths))
        return Batch(paths=ready.paths, sizes=ready.sizes, outputs=outputs)


#: Batches of images a pipelined run holds at most: the one inferring and the next, being prepared.
PIPELINE_BATCHES = 2


@dataclass
class _Skip:
    path: Path
    reason: str


@dataclass
class _Ready:
    """A batch ready for the engine: its files, their original sizes, the model's input array."""

    paths: list[Path]
    sizes: list[tuple[int, int]]
    x: np.ndarray


class _SerialFeed:
    """The unpipelined feed: decoding and preparing happen in the caller's thread, in turn."""

    def __init__(self, items: Iterator[_Skip | _Ready]) -> None:
        self._items = items

    def __enter__(self) -> _SerialFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __iter__(self) -> Iterator[_Skip | _Ready]:
        return self._items

    def done(self, images: int) -> None:
        """Images consumed; the serial feed holds nothing ahead."""


_DONE = object()


class _Pipeline:
    """Decode and prepare ahead of inference, holding at most :data:`PIPELINE_BATCHES` batches.

    Memory is bounded by image *permits*: a source is decoded only once a permit is taken, and
    its permit comes back when the batch holding it has run (or it was skipped). With
    ``PIPELINE_BATCHES × size`` permits, the images decoded and not yet inferred never exceed two
    batches, however fast decoding is. A feeder thread runs the same batching loop as the serial
    feed over the decoded images in source order, so batches and their order do not change; its
    items reach the caller through a queue, and an error (a named file that does not decode)
    arrives in order, after the batches before it.
    """

    def __init__(self, runner: BatchRunner, sources: Sequence[ImageSource], size: int, workers: int) -> None:
        self._runner = runner
        self._sources = sources
        self._size = size
        self._permits = threading.Semaphore(PIPELINE_BATCHES * size)
        self._stop = threading.Event()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kerascc-decode")
        self._feeder = threading.Thread(target=self._feed, name="kerascc-feeder", daemon=True)

    def __enter__(self) -> _Pipeline:
        self._feeder.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._feeder.join()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __iter__(self) -> Iterator[_Skip | _Ready]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def done(self, images: int) -> None:
        """``images`` have been run (or skipped): their permits may decode the next ones."""
        for _ in range(images):
            self._permits.release()

    def _feed(self) -> None:
        try:
            for item in self._runner._batches(self._decoded(), self._size):
                if self._stop.is_set():
                    return
                self._queue.put(item)
        except BaseException as exc:  # handed to the caller's thread, which raises it in order
            self._queue.put(exc)
            return
        self._queue.put(_DONE)

    def _decoded(self) -> Iterator[tuple[ImageSource, Any]]:
        """The sources decoded by the pool, yielded in source order; a source is submitted only
        with a permit in hand. Without a free permit, the oldest decode is handed on first (the
        batching loop may then close a batch, whose run returns permits)."""
        window: deque[Future[tuple[ImageSource, Any]]] = deque()
        for source in self._sources:
            acquired = self._permits.acquire(blocking=False)
            while not acquired:
                if window:
                    yield window.popleft().result()
                    acquired = self._permits.acquire(blocking=False)
                    continue
                if self._stop.is_set():
                    return
                acquired = self._permits.acquire(timeout=0.05)
            if self._stop.is_set():
                return
            window.append(self._pool.submit(self._runner._decode, source))
            while window and window[0].done():
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


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
