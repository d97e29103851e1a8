"""Stand-in ``keras`` and ``tensorflow`` modules for running model files without either.

:func:`stand_ins` puts them into ``sys.modules`` while a model file runs (hiding any real
Keras or TensorFlow the process has imported) and restores everything afterwards, so
``import keras``, ``from tensorflow.keras.layers import Conv2D`` and ``tf.keras.Model`` in the
file resolve to the recording classes of :mod:`.core`; other imports work as usual.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

from compiler.errors import UnsupportedLayerError

from . import core, custom, tutorial
from .applications import application_modules
from .core import (
    Activation,
    Input,
    InputLayer,
    KerasTensor,
    Model,
    Recorder,
    Sequential,
    concatenate_function,
    initializer_class,
    layer_classes,
    legacy_merge,
    merge_function,
    recorder,
    regularizer,
)
from .ops import ops_attrs, submodule_attrs
from .table import INITIALIZER_ALIASES, INITIALIZER_TABLE
from .tf_stand_in import NN_IN_OPS, TF_SUBMODULES, tf_functions

__all__ = ["Model", "Recorder", "Sequential", "core", "stand_ins"]

KERAS_VERSION = "3.15.1"
TF_VERSION = "2.21.0"
_ROOTS = ("keras", "tensorflow", "tf_keras")
ACTIVATIONS = (
    "relu",
    "relu6",
    "sigmoid",
    "softmax",
    "log_softmax",
    "tanh",
    "linear",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "silu",
    "swish",
    "gelu",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "exponential",
    "leaky_relu",
    "mish",
)


class StandIn(ModuleType):
    """A module whose missing attributes fail as a one-line error naming what the file used."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        supported = sorted(k for k in vars(self) if not k.startswith("_"))
        raise recorder().error(
            f"{self.__name__}.{name} is not available in kerascc's Python frontend",
            UnsupportedLayerError,
            hint="available: " + ", ".join(supported[:60]),
        )


def _module(name: str, attrs: dict[str, Any], kind: type[ModuleType] = StandIn) -> ModuleType:
    mod = kind(name)
    mod.__dict__.update(attrs)
    mod.__path__ = []  # a package, so ``import keras.layers`` style imports resolve
    return mod


def _backend() -> dict[str, Any]:
    def int_shape(x: Any) -> tuple:
        if not isinstance(x, KerasTensor):
            raise recorder().error(f"int_shape() needs a Keras tensor, got {type(x).__name__}")
        return tuple(x.shape)

    def image_data_format() -> str:
        return "channels_last"

    def set_image_data_format(value: str) -> None:
        if value != "channels_last":
            raise recorder().error(
                "only the channels_last image data format is supported in model files",
                UnsupportedLayerError,
                hint="pass data_format='channels_first' to single layers",
            )

    def clear_session(*args: Any, **kwargs: Any) -> None:
        recorder().uids.clear()  # Keras restarts its automatic names too

    return {
        "int_shape": int_shape,
        "image_data_format": image_data_format,
        "set_image_data_format": set_image_data_format,
        "clear_session": clear_session,
        "image_dim_ordering": lambda: "tf",
        "set_image_dim_ordering": lambda value: None,
        "floatx": lambda: "float32",
        "set_floatx": lambda value: None,
        "backend": lambda: "tensorflow",
        "epsilon": lambda: 1e-7,
        "is_keras_tensor": lambda x: isinstance(x, KerasTensor),
        "learning_phase": lambda: 0,
        "set_learning_phase": lambda value: None,
    }


def _utils() -> dict[str, Any]:
    def plot_model(*args: Any, **kwargs: Any) -> None:
        recorder().note("plot_model() in the model file was skipped")

    def get_file(fname: str | None = None, origin: str | None = None, *args: Any, **kwargs: Any) -> str:
        recorder().note("downloads in the model file were skipped (pretrained weights come from --weights)")
        return str(fname or origin or "")

    def to_categorical(y: Any, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
        y = np.asarray(y, dtype=int).reshape(-1)
        n = num_classes or int(y.max()) + 1
        return np.eye(n, dtype=dtype)[y]

    return {"plot_model": plot_model, "get_file": get_file, "to_categorical": to_categorical, **tutorial.utils_attrs()}


def build_modules() -> dict[str, ModuleType]:
    """Fresh stand-in modules, keyed by every import name a model file may use."""
    classes = layer_classes()
    merges = {
        keras_name: merge_function(cls, classes)
        for keras_name, cls in (
            ("add", "Add"),
            ("subtract", "Subtract"),
            ("multiply", "Multiply"),
            ("average", "Average"),
            ("maximum", "Maximum"),
            ("minimum", "Minimum"),
        )
    }
    layer_attrs: dict[str, Any] = {
        **classes,
        **merges,
        "concatenate": concatenate_function(classes),
        "merge": legacy_merge(classes),
        "Input": Input,
        "InputLayer": InputLayer,
        "Layer": custom.TracedLayer,  # the file's own layer classes are traced
        "Lambda": custom.LambdaLayer,
    }
    layers = _module("keras.layers", layer_attrs)
    # tf.keras 2.x's home of the preprocessing layers before they moved up: the same classes
    layers.experimental = _module("keras.layers.experimental", {"preprocessing": layers})
    models = _module("keras.models", {"Model": Model, "Sequential": Sequential, "Functional": Model})
    backend = _module("keras.backend", _backend())
    utils = _module("keras.utils", _utils())
    init_classes = {name: initializer_class(name) for name in INITIALIZER_TABLE}
    init_attrs: dict[str, Any] = dict(init_classes)
    init_attrs.update({alias: init_classes[cls] for alias, cls in INITIALIZER_ALIASES.items()})
    init_attrs["constant"] = init_classes["Constant"]
    initializers = _module("keras.initializers", init_attrs)
    regularizers = _module(
        "keras.regularizers",
        {
            "l1": regularizer("L1", {"l1": 0.01}),
            "l2": regularizer("L2", {"l2": 0.01}),
            "l1_l2": regularizer("L1L2", {"l1": 0.0, "l2": 0.0}),
            "L1": regularizer("L1", {"l1": 0.01}),
            "L2": regularizer("L2", {"l2": 0.01}),
            "L1L2": regularizer("L1L2", {"l1": 0.0, "l2": 0.0}),
        },
    )
    regularizers.OrthogonalRegularizer = regularizers.orthogonal_regularizer = tutorial.orthogonal_regularizer
    regularizers.L1 = regularizers.l1 = tutorial.l1_regularizer
    regularizers.Regularizer = tutorial.RegularizerBase  # the base of a file's own regularizer class
    constraint_attrs = tutorial.constraints_attrs()
    constraints = _module("keras.constraints", constraint_attrs)
    core.NAMED_OBJECTS.clear()
    core.NAMED_OBJECTS.update(tutorial.named_objects(regularizers, constraint_attrs))
    acts = {name: Activation(name) for name in ACTIVATIONS}
    acts["get"] = lambda name: acts.get(name, name)
    activations = _module("keras.activations", acts)
    ops = _module("keras.ops", ops_attrs())
    random = _module("keras.random", custom.random_attrs("keras.random"))
    saving = _module("keras.saving", custom.saving_attrs())
    ops.image = _module("keras.ops.image", submodule_attrs("image"))
    ops.nn = _module(
        "keras.ops.nn", {**submodule_attrs("nn"), **{k: getattr(ops, k) for k in NN_IN_OPS if hasattr(ops, k)}}
    )
    training = tutorial.training_modules()  # optimizers, losses, callbacks, data sets …: nothing of them runs
    inert = {name: mod for name, mod in training.items() if "." not in name}
    inert["constraints"] = constraints
    app_modules = application_modules(layers, _module)  # keras.applications and its family modules
    inert["applications"] = app_modules["keras.applications"]
    keras = _module(
        "keras",
        {
            "layers": layers,
            "models": models,
            "backend": backend,
            "utils": utils,
            "initializers": initializers,
            "regularizers": regularizers,
            "activations": activations,
            "ops": ops,
            "random": random,
            "saving": saving,
            **inert,
            "Input": Input,
            "Model": Model,
            "Sequential": Sequential,
            "Layer": custom.TracedLayer,
            "__version__": KERAS_VERSION,
        },
    )
    mods: dict[str, ModuleType] = {"keras": keras}
    for sub in ("layers", "models", "backend", "utils", "initializers", "regularizers", "activations", "ops", *inert):
        mods[f"keras.{sub}"] = getattr(keras, sub)
    for sub in ("random", "saving"):
        mods[f"keras.{sub}"] = getattr(keras, sub)
    mods.update(app_modules)
    mods.update({f"keras.{name}": mod for name, mod in training.items() if "." in name})
    for legacy in ("core", "convolutional", "pooling", "normalization", "merge"):  # Keras 2 module paths
        mods[f"keras.layers.{legacy}"] = layers
    mods["keras.layers.experimental"] = layers.experimental
    mods["keras.layers.experimental.preprocessing"] = layers
    tf_attrs = tutorial.tensorflow_attrs()  # seeds, tf.data, devices, strategies around the model
    tf_random = _module("tensorflow.random", custom.random_attrs("tf.random"))  # draws refused, seeds noted
    tf_random.set_seed = tf_attrs["random"].set_seed
    tf_attrs["random"] = tf_random
    tf = _module("tensorflow", {"keras": keras, "__version__": TF_VERSION, **tf_functions(ops), **tf_attrs})
    for sub in TF_SUBMODULES:
        setattr(tf, sub, _module(f"tensorflow.{sub}", tf_functions(ops, sub)))
        mods[f"tensorflow.{sub}"] = getattr(tf, sub)
    mods["tensorflow"] = tf
    for name, mod in list(mods.items()):
        if name.startswith("keras"):
            mods["tensorflow." + name] = mod
            mods["tf_keras" + name[len("keras") :]] = mod
    mods.update(tutorial.tensorflow_modules(tf_attrs))
    return mods


class _Refuse(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Any other keras/tensorflow submodule: a clear error instead of the real package. A plotting,
    display or download package (``tutorial.INERT_ROOTS``) and its submodules: inert stand-ins."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname.split(".")[0] in tutorial.INERT_ROOTS:
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        if fullname.split(".")[0] in _ROOTS:
            raise recorder().error(
                f"module '{fullname}' is not available in kerascc's Python frontend",
                UnsupportedLayerError,
                hint="import layers from keras.layers, tensorflow.keras.layers or keras.models",
            )
        return None

    def create_module(self, spec: Any) -> ModuleType:
        return tutorial.inert_module(spec.name)

    def exec_module(self, module: ModuleType) -> None:
        module.__path__ = []  # a package, so its submodules import too


@contextmanager
def stand_ins(rec: Recorder) -> Iterator[dict[str, ModuleType]]:
    """Install the stand-ins and make ``rec`` the active recording, then restore everything."""
    shadowed = (*_ROOTS, *tutorial.INERT_ROOTS)  # the real packages, if imported, come back afterwards
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] in shadowed}
    mods = build_modules()
    finder = _Refuse()
    token = rec.activate()
    for key in saved:
        del sys.modules[key]
    sys.modules.update(mods)
    sys.meta_path.insert(0, finder)
    try:
        yield mods
    finally:
        sys.meta_path.remove(finder)
        for key in [k for k in sys.modules if k.split(".")[0] in shadowed]:
            del sys.modules[key]
        sys.modules.update(saved)
        rec.deactivate(token)
