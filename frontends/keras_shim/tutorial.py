"""The training side of a tutorial script, so the lines around the model do not stop it.

A keras.io page builds a model and then trains it in the same file: optimizers, losses, metrics,
callbacks, seeds, data sets, ``model.fit``. None of that changes the graph, and none of it runs
when kerascc reads the file. What it does instead:

* **Objects** of ``keras.optimizers``, ``losses``, ``metrics``, ``callbacks`` and
  ``preprocessing`` (``Adam(1e-4)``, ``MeanIoU(num_classes=3)``, ``ModelCheckpoint(...)``) are
  :class:`TrainingObject` instances that accept any arguments; they are classes, so a file may
  subclass them (``class Monitor(keras.callbacks.Callback)``).
* **Calls that would train, evaluate, predict or save** (``model.fit``, ``model.evaluate`` …) are
  skipped with a note and return a :class:`Skipped` value. A skipped value may be printed,
  indexed or passed on, but when the model itself needs it (a number, a shape, an array) it stops
  the compile with one line naming what produced it: kerascc never invents a trained result.
* **Data sets**: ``keras.datasets.<name>.load_data()`` gives one zero sample of the real shapes and
  dtypes (``x_train.shape[1:]`` is the real image shape) instead of downloading; other data
  loaders give :class:`Skipped` values.
* **Seeds** (``tf.random.set_seed``, ``keras.utils.set_random_seed``) are accepted: the seeded
  weights of a description come from ``--seed``.
* **Plots, displays and data downloads** (``matplotlib``, ``seaborn``, ``IPython.display``,
  ``cv2``, ``tensorflow_datasets``, and ``tensorflow_addons``'s optimizers, losses, metrics and
  callbacks) are :class:`InertModule` stand-ins whether the real package is installed or not:
  a plot would open a window or write an image, a data set would be downloaded. Their calls give
  :class:`Skipped` values, with a note. ``tensorflow_addons``'s layers and image functions would
  change the graph: they stop the compile in one line naming the Keras equivalent to use.
"""

from __future__ import annotations

from contextlib import nullcontext
from types import ModuleType
from typing import Any

import numpy as np

from compiler.errors import UnsupportedLayerError

from ..weights import keras_snake_case
from .core import MODEL_METHODS, UNRUN_VALUES, Regularizer, Serializable, _json_like, recorder

#: Training-only packages of ``keras``: each name a module of :class:`TrainingObject` classes.
TRAINING_MODULES = (
    "optimizers",
    "optimizers.schedules",
    "optimizers.legacy",
    "losses",
    "metrics",
    "callbacks",
    "preprocessing",
    "preprocessing.image",
    "preprocessing.sequence",
    "preprocessing.text",
    "mixed_precision",
)

#: Model methods that would run the model (or write it): skipped with a note, returning a Skipped value.
SKIPPED_METHODS = (
    "fit",
    "fit_generator",
    "evaluate",
    "evaluate_generator",
    "predict",
    "predict_generator",
    "predict_on_batch",
    "train_on_batch",
    "test_on_batch",
    "save",
    "save_weights",
    "load_weights",
    "export",
)

#: (x shape per sample, x dtype, y shape per sample, y dtype) of the data sets Keras downloads.
DATASETS: dict[str, tuple[tuple[int, ...], str, tuple[int, ...], str]] = {
    "mnist": ((28, 28), "uint8", (), "uint8"),
    "fashion_mnist": ((28, 28), "uint8", (), "uint8"),
    "cifar10": ((32, 32, 3), "uint8", (1,), "uint8"),
    "cifar100": ((32, 32, 3), "uint8", (1,), "int64"),
    "boston_housing": ((13,), "float64", (), "float64"),
    "california_housing": ((8,), "float32", (), "float32"),
}


class Skipped:
    """The result of code kerascc does not run (``model.fit(...)``, a data loader).

    It passes through the file's bookkeeping (printing, indexing, attribute access, arithmetic,
    ``with strategy.scope():``, a loop over it runs zero times); turning it into a number, a shape
    or an array fails in one line at the user's code, since the model would then depend on it.
    """

    def __init__(self, what: str) -> None:
        self._what = what

    def needed(self, as_what: str) -> Exception:
        """The one-line error for a model that depends on this value (``as_what`` it needs)."""
        return recorder().error(
            f"{as_what} needs a value from {self._what}, which does not run while compiling",
            UnsupportedLayerError,
            hint="write the value as a constant in the model code (training and data loading never run here)",
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Skipped:
        return Skipped(f"{self._what}(...)")

    def __getattr__(self, name: str) -> Skipped:
        if name.startswith("__"):
            raise AttributeError(name)
        return Skipped(f"{self._what}.{name}")

    def __getitem__(self, key: Any) -> Skipped:
        return Skipped(f"{self._what}[...]")

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __enter__(self) -> Skipped:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<not run: {self._what}>"

    def __int__(self) -> int:
        raise self.needed("the model")

    def __float__(self) -> float:
        raise self.needed("the model")

    def __index__(self) -> int:
        raise self.needed("the model")

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise self.needed("an array")

    def _same(self, *other: Any) -> Skipped:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __pow__ = __mod__ = __neg__ = _same
    __lt__ = __le__ = __gt__ = __ge__ = _same  # type: ignore[assignment]


class _TrainingType(type):
    """Class-level attributes of a training class (``Reduction.SUM``) are skipped values too."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return Skipped(f"{cls.__module__}.{cls.__name__}.{name}")


class TrainingObject(metaclass=_TrainingType):
    """An optimizer, loss, metric, callback or data generator: accepts anything, builds nothing.

    Its methods are skipped calls; a subclass the file defines keeps its own methods.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args
        self._kwargs = kwargs

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return Skipped(f"{type(self).__module__}.{type(self).__name__}().{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Skipped:
        return Skipped(f"{type(self).__module__}.{type(self).__name__}()(...)")


class TrainingModule(ModuleType):
    """A training-only module: every attribute is a :class:`TrainingObject` class of that name."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        cls = _TrainingType(name, (TrainingObject,), {"__module__": self.__name__})
        setattr(self, name, cls)  # one class per name: isinstance and subclassing stay consistent
        return cls


def skipped_method(model: Any, name: str) -> Any:
    """``model.fit`` & co.: a note, and a Skipped result; the rest of the file goes on."""

    def skipped(*args: Any, **kwargs: Any) -> Skipped:
        rec = recorder()
        if name in ("save", "save_weights", "export"):
            rec.note(f"model.{name}() in the model file was skipped (kerascc writes the ONNX file itself)")
        elif name == "load_weights":
            rec.note("model.load_weights() in the model file was skipped (pass the weights with --weights)")
        else:
            rec.note(f"model.{name}() in the model file was skipped: training and inference do not run while compiling")
        return Skipped(f"model.{name}()")

    return skipped


MODEL_METHODS.update(dict.fromkeys(SKIPPED_METHODS, skipped_method))
UNRUN_VALUES.append(Skipped)


def _dataset_module(name: str) -> ModuleType:
    x_shape, x_dtype, y_shape, y_dtype = DATASETS[name]

    def load_data(*args: Any, **kwargs: Any) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        recorder().note(
            f"keras.datasets.{name}.load_data() was not downloaded: one zero sample of its shapes stands in"
        )

        def split() -> tuple[np.ndarray, np.ndarray]:
            return np.zeros((1, *x_shape), x_dtype), np.zeros((1, *y_shape), y_dtype)

        return split(), split()

    mod = TrainingModule(f"keras.datasets.{name}")
    mod.load_data = load_data
    return mod


class _Datasets(TrainingModule):
    """``keras.datasets``: a data set without known shapes loads as two (x, y) pairs of Skipped values."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        what = f"keras.datasets.{name}.load_data(...)"

        def load_data(*args: Any, **kwargs: Any) -> tuple[tuple[Skipped, Skipped], tuple[Skipped, Skipped]]:
            recorder().note(f"{what} was not run: its data stand in as values the model may not depend on")
            return (Skipped(what), Skipped(what)), (Skipped(what), Skipped(what))

        mod = TrainingModule(f"keras.datasets.{name}")
        mod.load_data = load_data
        mod.get_word_index = _skipped_function(f"keras.datasets.{name}.get_word_index")
        setattr(self, name, mod)
        return mod


def _skipped_function(what: str) -> Any:
    def skipped(*args: Any, **kwargs: Any) -> Skipped:
        return Skipped(f"{what}(...)")

    skipped.__name__ = what.rpartition(".")[2]
    return skipped


def _seed(*args: Any, **kwargs: Any) -> None:
    """Seeds of the training code; the drawn weights of a description follow ``--seed``."""


def utils_attrs() -> dict[str, Any]:
    """What ``keras.utils`` offers tutorial scripts besides the model utilities."""

    def to_categorical(y: Any, num_classes: int | None = None, dtype: str = "float32") -> Any:
        if isinstance(y, Skipped):
            return Skipped("keras.utils.to_categorical(...)")
        y = np.asarray(y, dtype=int).reshape(-1)
        n = num_classes or int(y.max()) + 1
        return np.eye(n, dtype=dtype)[y]

    loaders = ("image_dataset_from_directory", "text_dataset_from_directory", "timeseries_dataset_from_array")
    attrs: dict[str, Any] = {name: _skipped_function(f"keras.utils.{name}") for name in loaders}
    attrs.update({name: _skipped_function(f"keras.utils.{name}") for name in ("load_img", "img_to_array")})
    attrs.update(
        {
            "set_random_seed": _seed,
            "to_categorical": to_categorical,
            "Sequence": type("Sequence", (TrainingObject,), {"__module__": "keras.utils"}),
            "PyDataset": type("PyDataset", (TrainingObject,), {"__module__": "keras.utils"}),
            "Progbar": type("Progbar", (TrainingObject,), {"__module__": "keras.utils"}),
        }
    )
    return attrs


def training_modules() -> dict[str, ModuleType]:
    """``keras.<name>`` for every training-only package, data sets included, by dotted name."""
    mods: dict[str, ModuleType] = {}
    for name in TRAINING_MODULES:
        mod = TrainingModule(f"keras.{name}")
        mod.__path__ = []  # a package: ``from keras.optimizers.schedules import …`` resolves
        mods[name] = mod
    mods["mixed_precision"].set_global_policy = _mixed_precision
    mods["preprocessing"].image_dataset_from_directory = _skipped_function(
        "keras.preprocessing.image_dataset_from_directory"
    )
    datasets = _Datasets("keras.datasets")
    datasets.__path__ = []
    mods["datasets"] = datasets
    for name in DATASETS:
        setattr(datasets, name, _dataset_module(name))
        mods[f"datasets.{name}"] = getattr(datasets, name)
    for dotted, mod in list(mods.items()):  # submodules as attributes of their parents
        parent, _, child = dotted.rpartition(".")
        if parent:
            setattr(mods[parent], child, mod)
    return mods


def _mixed_precision(policy: Any, *args: Any, **kwargs: Any) -> None:
    name = policy if isinstance(policy, str) else getattr(policy, "name", str(policy))
    if name not in ("float32", None):
        raise recorder().error(
            f"mixed precision policy {name!r} in the model file is not supported",
            UnsupportedLayerError,
            hint="drop set_global_policy(); compile with --fp16 to lower the precision of the ONNX model",
        )


def random_attrs() -> dict[str, Any]:
    """``keras.random``: the seed generator tutorials make; values drawn from it are not run."""
    return {"SeedGenerator": type("SeedGenerator", (TrainingObject,), {"__module__": "keras.random"})}


def tensorflow_attrs() -> dict[str, Any]:
    """What ``tensorflow`` offers the lines around a model: seeds, tf.data, devices, strategies."""
    random = TrainingModule("tensorflow.random")
    random.set_seed = _seed
    data = TrainingModule("tensorflow.data")
    data.AUTOTUNE = -1
    data.experimental = TrainingModule("tensorflow.data.experimental")
    data.experimental.AUTOTUNE = -1
    config = TrainingModule("tensorflow.config")
    config.list_physical_devices = lambda *args, **kwargs: []
    config.list_logical_devices = lambda *args, **kwargs: []
    config.experimental = TrainingModule("tensorflow.config.experimental")
    config.experimental.set_memory_growth = _seed
    config.set_visible_devices = _seed
    distribute = TrainingModule("tensorflow.distribute")
    strategy = type(
        "Strategy", (TrainingObject,), {"__module__": "tensorflow.distribute", "scope": lambda self: nullcontext()}
    )
    for name in ("MirroredStrategy", "OneDeviceStrategy", "MultiWorkerMirroredStrategy", "TPUStrategy"):
        setattr(distribute, name, type(name, (strategy,), {"__module__": "tensorflow.distribute"}))
    distribute.get_strategy = lambda: strategy()
    return {
        "random": random,
        "data": data,
        "config": config,
        "distribute": distribute,
        "get_logger": lambda: Skipped("tf.get_logger()"),
        "autograph": TrainingModule("tensorflow.autograph"),
    }


def tensorflow_modules(attrs: dict[str, Any]) -> dict[str, ModuleType]:
    """The submodules of :func:`tensorflow_attrs` by import name (``import tensorflow.data``)."""
    return {f"tensorflow.{k}": v for k, v in attrs.items() if isinstance(v, ModuleType)}


# -- objects layers take: constraints, and regularizers and constraints named by a string ---------------
def _constraint(class_name: str, params: dict[str, Any]) -> Any:
    """``keras.constraints.<class_name>`` with Keras's argument order and defaults; its config is
    what Keras's ``get_config`` returns (the values as given, not converted)."""

    def make(*args: Any, **kwargs: Any) -> Serializable:
        if len(args) > len(params):
            raise recorder().error(f"{class_name}() takes {len(params)} arguments but {len(args)} were given")
        config = dict(params)
        config.update(zip(params, args, strict=False))
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise recorder().error(f"{class_name}() got unexpected keyword arguments {unknown}")
        config.update(kwargs)
        obj = Serializable(class_name, config)
        obj.module = "keras.constraints"
        return obj

    make.__name__ = class_name
    return make


CONSTRAINTS = {
    "MaxNorm": {"max_value": 2, "axis": 0},
    "NonNeg": {},
    "UnitNorm": {"axis": 0},
    "MinMaxNorm": {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0},
}


def constraints_attrs() -> dict[str, Any]:
    """``keras.constraints``: the classes and their snake_case aliases (``max_norm``)."""
    attrs: dict[str, Any] = {}
    for name, params in CONSTRAINTS.items():
        attrs[name] = attrs[keras_snake_case(name)] = _constraint(name, params)
    return attrs


def orthogonal_regularizer(factor: float = 0.01, mode: str = "rows") -> Regularizer:
    """``keras.regularizers.OrthogonalRegularizer``: Keras keeps ``factor`` as a float32 tensor,
    so its config holds the float32 value."""
    return Regularizer("OrthogonalRegularizer", {"factor": float(np.float32(factor)), "mode": mode})


def l1_regularizer(l1: float = 0.01) -> Regularizer:
    """``keras.regularizers.L1``: like OrthogonalRegularizer, ``l1`` is held as float32."""
    return Regularizer("L1", {"l1": float(np.float32(l1))})


def named_objects(regularizers: ModuleType, constraints: dict[str, Any]) -> dict[str, Any]:
    """The strings a layer accepts for a regularizer or constraint, and the object Keras makes of
    each (``kernel_regularizer="l2"`` is recorded as ``L2(l2=0.01)``)."""
    names: dict[str, Any] = {name: getattr(regularizers, name) for name in ("l1", "l2", "L1", "L2", "L1L2")}
    names["l1l2"] = names["L1L2"]
    names["orthogonal_regularizer"] = names["OrthogonalRegularizer"] = orthogonal_regularizer
    names.update(constraints)
    return names


class RegularizerBase(Serializable):
    """``keras.regularizers.Regularizer``, the base of a file's own regularizer (PointNet's
    OrthogonalRegularizer). A regularizer only adds a training loss, so nothing of it runs: its
    ``__call__`` is never called, and the layer config holds it as Keras serializes a custom
    object (its class, module and ``get_config()``)."""

    module = "keras.regularizers"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        return cls(**config)

    def serialize(self) -> dict[str, Any]:
        cls = type(self)
        return {
            "module": cls.__module__,
            "class_name": cls.__name__,
            "config": _json_like(self.get_config()),
            "registered_name": cls.__name__,
        }


# -- plots, displays, downloads -------------------------------------------------------------------
#: Top-level packages a tutorial imports only to show, read or fetch things around the model.
INERT_ROOTS = ("matplotlib", "seaborn", "IPython", "cv2", "tensorflow_datasets", "tensorflow_addons")

#: What each package is for, as the note says it.
_INERT_KIND = {
    "matplotlib": "plots",
    "seaborn": "plots",
    "IPython": "notebook displays",
    "cv2": "OpenCV image reading and drawing",
    "tensorflow_datasets": "data set downloads",
    "tensorflow_addons": "training helpers",
}

#: tensorflow_addons packages that only train: their names are training objects.
_ADDONS_TRAINING = ("optimizers", "losses", "metrics", "callbacks")

#: Functions whose result a file unpacks: (figure, axes) and the like.
_UNPACKED = {"subplots": 2, "subplot_mosaic": 2}


class InertModule(ModuleType):
    """A plotting, display or download package: every function is a skipped call (see the module
    docstring); its first use notes that such calls were skipped."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        root = self.__name__.split(".")[0]
        recorder().note(f"{root} calls in the model file were skipped ({_INERT_KIND[root]} do not run while compiling)")
        what = f"{self.__name__}.{name}"
        if name in _UNPACKED:
            count = _UNPACKED[name]
            return lambda *args, **kwargs: tuple(Skipped(f"{what}(...)[{i}]") for i in range(count))
        return Skipped(what)


class _AddonsModule(InertModule):
    """``tensorflow_addons``: its training objects are inert; a layer, activation or image function
    would be part of the model, so using one is refused."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self.__name__ == "tensorflow_addons" and name in _ADDONS_TRAINING:
            recorder().note(
                "tensorflow_addons calls in the model file were skipped (training helpers do not run while compiling)"
            )
            mod = TrainingModule(f"tensorflow_addons.{name}")
            setattr(self, name, mod)
            return mod
        if self.__name__ == "tensorflow_addons":
            mod = _AddonsModule(f"tensorflow_addons.{name}")
            setattr(self, name, mod)
            return mod
        raise recorder().error(
            f"{self.__name__}.{name} is not available in kerascc's Python frontend",
            UnsupportedLayerError,
            hint="use the Keras 3 equivalent (keras.layers.GroupNormalization, keras.activations.gelu, …); "
            "tensorflow_addons is no longer maintained",
        )


def inert_module(fullname: str) -> ModuleType:
    """The stand-in for ``fullname``, a module of one of :data:`INERT_ROOTS`."""
    if fullname.split(".")[0] == "tensorflow_addons":
        if fullname.count(".") == 1 and fullname.split(".")[1] in _ADDONS_TRAINING:
            return TrainingModule(fullname)
        return _AddonsModule(fullname)
    return InertModule(fullname)
