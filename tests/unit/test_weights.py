"""frontends.weights: seeded Keras initializers, the weight store and the HDF5 readers."""

from __future__ import annotations

import io
import math
import os
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from compiler import Limits, ResourceLimitError, WeightsError
from frontends import weights as weights_module
from frontends.weights import EXACT_QR_WORK, WeightStore, initialize, load_weights, probe_h5, read_h5

TRUNC = 0.87962566103423978  # stddev of a unit normal truncated to [-2, 2]


def draw(spec, shape, seed=0, scope=("layer",), label="kernel"):
    return initialize(spec, shape, seed, scope, label)


# -- variance scaling presets --------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, shape, limit",
    [
        ("glorot_uniform", (200, 300), math.sqrt(6 / (200 + 300))),
        ("glorot_uniform", (3, 3, 16, 32), math.sqrt(6 / (9 * 16 + 9 * 32))),
        ("he_uniform", (3, 3, 64, 128), math.sqrt(6 / (9 * 64))),
        ("lecun_uniform", (3, 3, 16, 32), math.sqrt(3 / (9 * 16))),
    ],
)
def test_uniform_presets_stay_inside_the_keras_limit(name, shape, limit):
    w = draw(name, shape)
    assert w.shape == shape and w.dtype == np.float32 and w.flags.c_contiguous
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit  # and fill it
    assert abs(w.mean()) < 0.02 * limit
    assert w.std() == pytest.approx(limit / math.sqrt(3), rel=0.02)


@pytest.mark.parametrize(
    "name, shape, std",
    [
        ("he_normal", (3, 3, 64, 128), math.sqrt(2 / (9 * 64))),
        ("glorot_normal", (256, 512), math.sqrt(2 / (256 + 512))),
        ("lecun_normal", (3, 3, 32, 64), math.sqrt(1 / (9 * 32))),
    ],
)
def test_normal_presets_are_truncated_with_the_keras_stddev(name, shape, std):
    w = draw(name, shape)
    assert w.shape == shape and w.dtype == np.float32
    assert w.std() == pytest.approx(std, rel=0.02)
    assert abs(w.mean()) < 0.02 * std
    bound = 2 * std / TRUNC
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > 0.98 * bound


def test_variance_scaling_config():
    shape = (3, 3, 8, 64)
    fan_out = 9 * 64
    spec = {
        "class_name": "VarianceScaling",
        "config": {"scale": 0.5, "mode": "fan_out", "distribution": "untruncated_normal"},
    }
    w = draw(spec, shape)
    std = math.sqrt(0.5 / fan_out)
    assert w.std() == pytest.approx(std, rel=0.03)
    assert np.abs(w).max() > 3 * std  # not truncated

    uni = draw(
        {"class_name": "VarianceScaling", "config": {"scale": 3.0, "mode": "fan_avg", "distribution": "uniform"}}, shape
    )
    limit = math.sqrt(3 * 3.0 / ((9 * 8 + 9 * 64) / 2))
    assert np.abs(uni).max() <= limit and np.abs(uni).max() > 0.99 * limit


def test_variance_scaling_defaults_to_truncated_fan_in():
    shape = (64, 512)
    w = draw({"class_name": "VarianceScaling", "config": {}}, shape)
    assert w.std() == pytest.approx(math.sqrt(1 / 64), rel=0.03)
    assert np.abs(w).max() <= 2 * math.sqrt(1 / 64) / TRUNC * (1 + 1e-6)


def test_class_name_and_string_forms_agree():
    for cls, name in (
        ("GlorotUniform", "glorot_uniform"),
        ("HeNormal", "he_normal"),
        ("LecunUniform", "lecun_uniform"),
        ("RandomNormal", "random_normal"),
        ("TruncatedNormal", "truncated_normal"),
        ("Zeros", "zeros"),
    ):
        a = draw({"class_name": cls, "config": {"seed": None}}, (5, 7))
        b = draw(name, (5, 7))
        np.testing.assert_array_equal(a, b)


def test_fans_of_vectors():
    v = draw("glorot_uniform", (4000,))
    limit = math.sqrt(6 / 8000)  # a vector's fan_in and fan_out are both its length
    assert np.abs(v).max() <= limit and np.abs(v).max() > 0.99 * limit


# -- plain distributions --------------------------------------------------------------------------
def test_random_normal_and_uniform_configs():
    n = draw({"class_name": "RandomNormal", "config": {"mean": 1.0, "stddev": 0.2}}, (300, 300))
    assert n.mean() == pytest.approx(1.0, abs=0.005) and n.std() == pytest.approx(0.2, rel=0.02)
    default_n = draw("random_normal", (300, 300))
    assert default_n.std() == pytest.approx(0.05, rel=0.02)
    u = draw({"class_name": "RandomUniform", "config": {"minval": -0.3, "maxval": 0.7}}, (300, 300))
    assert u.min() >= -0.3 and u.max() <= 0.7
    assert u.mean() == pytest.approx(0.2, abs=0.005)
    default_u = draw("random_uniform", (300, 300))
    assert default_u.min() >= -0.05 and default_u.max() <= 0.05 and default_u.max() > 0.049


def test_truncated_normal_config():
    w = draw({"class_name": "TruncatedNormal", "config": {"mean": 0.5, "stddev": 0.1}}, (300, 300))
    assert w.min() >= 0.5 - 0.2 and w.max() <= 0.5 + 0.2
    assert w.mean() == pytest.approx(0.5, abs=0.002)
    assert w.std() == pytest.approx(0.1 * TRUNC, rel=0.02)


def test_constant_initializers():
    np.testing.assert_array_equal(draw("zeros", (2, 3)), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(draw(None, (4,)), np.zeros(4, np.float32))
    np.testing.assert_array_equal(draw("ones", (3,)), np.ones(3, np.float32))
    np.testing.assert_array_equal(
        draw({"class_name": "Constant", "config": {"value": 0.25}}, (2, 2)), np.full((2, 2), 0.25, np.float32)
    )
    for arr in (draw("zeros", (2, 3)), draw("ones", (3,))):
        assert arr.dtype == np.float32


def test_orthogonal_and_identity():
    q = draw({"class_name": "Orthogonal", "config": {"gain": 2.0}}, (6, 4))
    np.testing.assert_allclose(q.T @ q, 4 * np.eye(4), atol=1e-5)
    wide = draw("orthogonal", (4, 10))
    np.testing.assert_allclose(wide @ wide.T, np.eye(4), atol=1e-5)
    conv = draw("orthogonal", (3, 3, 2, 8)).reshape(18, 8)
    np.testing.assert_allclose(conv.T @ conv, np.eye(8), atol=1e-5)
    np.testing.assert_array_equal(draw("identity", (3, 5)), np.eye(3, 5, dtype=np.float32))
    np.testing.assert_array_equal(
        draw({"class_name": "Identity", "config": {"gain": 3.0}}, (2, 2)), 3 * np.eye(2, dtype=np.float32)
    )


@pytest.mark.parametrize("shape", [(700, 700), (3000, 600), (600, 3000), (20, 30, 8, 900)])
def test_large_orthogonal_is_orthonormal_and_distributed_as_keras_draws_it(shape):
    rows, cols = math.prod(shape[:-1]), shape[-1]
    n, k = max(rows, cols), min(rows, cols)
    assert n * k * k > EXACT_QR_WORK  # past the exact QR
    w = draw({"class_name": "Orthogonal", "config": {"gain": 1.5}}, shape)
    assert w.shape == shape and w.dtype == np.float32
    flat = w.reshape(rows, cols) / 1.5
    gram = flat.T @ flat if rows >= cols else flat @ flat.T
    np.testing.assert_allclose(gram, np.eye(k), atol=2e-5)
    z = flat.ravel() * math.sqrt(n)  # Haar: entries close to normal with variance 1/n
    assert z.std() == pytest.approx(1.0, rel=1e-3)
    assert abs(z.mean()) < 0.01
    assert ((z - z.mean()) ** 4).mean() / z.var() ** 2 == pytest.approx(3.0, abs=0.15)
    norms = (flat**2).sum(axis=1 if rows >= cols else 0)  # each long side's vector: k/n on average
    assert norms.mean() == pytest.approx(k / n, rel=0.01)
    np.testing.assert_array_equal(w, draw({"class_name": "Orthogonal", "config": {"gain": 1.5}}, shape))
    assert not np.array_equal(w, draw({"class_name": "Orthogonal", "config": {"gain": 1.5}}, shape, seed=1))


def test_orthogonal_dense_8000_draws_in_seconds():
    start = time.perf_counter()
    w = draw("orthogonal", (8000, 8000))
    assert time.perf_counter() - start < 60  # the exact QR took minutes
    np.testing.assert_allclose(w[:, :300].T @ w[:, :300], np.eye(300), atol=2e-5)


def test_unknown_initializer_is_a_weights_error():
    with pytest.raises(WeightsError, match="unknown initializer 'my_fancy_init'") as info:
        draw({"class_name": "MyFancyInit", "config": {}}, (2, 2), scope=("outer", "dense"), label="kernel")
    assert info.value.layer == "outer/dense"
    assert "--weights" in info.value.hint


# -- determinism ----------------------------------------------------------------------------------
def test_same_seed_scope_and_label_give_the_same_bytes():
    a = draw("glorot_uniform", (16, 8), seed=7, scope=("m", "dense"), label="kernel")
    b = draw("glorot_uniform", (16, 8), seed=7, scope=("m", "dense"), label="kernel")
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 8},
        {"scope": ("m", "dense_1")},
        {"scope": ("dense",)},
        {"label": "bias"},
    ],
)
def test_seed_scope_and_label_each_change_the_draw(change):
    base = {"seed": 7, "scope": ("m", "dense"), "label": "kernel"}
    a = draw("glorot_uniform", (16, 8), **base)
    b = draw("glorot_uniform", (16, 8), **{**base, **change})
    assert not np.array_equal(a, b)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] < 0.5


@pytest.mark.parametrize("name", ["he_normal", "glorot_uniform", "random_normal", "truncated_normal"])
def test_large_arrays_are_drawn_in_blocks_that_do_not_depend_on_the_cores(name, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    shape = (3, 3, 256, 300)  # 691,200 values: three blocks, the last one short
    assert math.prod(shape) > 2 * weights_module.DRAW_BLOCK
    on_every_core = draw(name, shape)
    import threading

    assert not [t for t in threading.enumerate() if t.name.startswith("kerascc-init")]  # none left behind
    monkeypatch.setattr(weights_module, "_draw_pool", lambda: ThreadPoolExecutor(max_workers=1))
    np.testing.assert_array_equal(draw(name, shape), on_every_core)  # the same bytes on one core
    flat = on_every_core.reshape(-1)
    block = weights_module.DRAW_BLOCK
    assert not np.array_equal(flat[:1000], flat[block : block + 1000])  # each block has its own stream
    assert np.isfinite(flat).all() and on_every_core.flags.c_contiguous
    # and the whole array keeps the initializer's distribution, block boundaries included
    reference = {"he_normal": math.sqrt(2 / (9 * 256)), "random_normal": 0.05, "truncated_normal": 0.05 * TRUNC}
    if name in reference:
        assert flat.std() == pytest.approx(reference[name], rel=0.01)
        assert abs(flat.mean()) < 0.01 * reference[name]
    if name != "random_normal":  # the bounded draws stay inside their bounds everywhere
        bound = {"he_normal": 2 * math.sqrt(2 / (9 * 256)) / TRUNC, "truncated_normal": 0.1}.get(
            name, math.sqrt(6 / (9 * 256 + 9 * 300))
        )
        assert np.abs(flat).max() <= bound * (1 + 1e-6)


def _draw_large(queue):
    queue.put(draw("he_normal", (3, 3, 256, 300)).tobytes())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork exists only on POSIX")
def test_a_forked_child_draws_with_threads_of_its_own():
    import multiprocessing

    parent = draw("he_normal", (3, 3, 256, 300))  # drawn on threads before the fork
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_draw_large, args=(queue,))
    child.start()
    try:
        assert queue.get(timeout=60) == parent.tobytes()
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0


def test_small_arrays_are_one_stream_of_their_seed():
    """Below a block, an array is its generator's first values, as before blocks existed."""
    rng = np.random.default_rng([0, weights_module.zlib.crc32(b"layer"), weights_module.zlib.crc32(b"kernel")])
    expected = rng.random(size=(50, 40), dtype=np.float32) * np.float32(0.1) + np.float32(-0.05)
    np.testing.assert_array_equal(draw("random_uniform", (50, 40)), expected)


def test_draw_does_not_depend_on_global_numpy_state():
    a = draw("he_normal", (10, 10), seed=3)
    np.random.seed(123)
    np.random.standard_normal(100)
    b = draw("he_normal", (10, 10), seed=3)
    np.testing.assert_array_equal(a, b)


# -- WeightStore ----------------------------------------------------------------------------------
def arrays(n, seed=0):
    return [np.full((2,), seed + i, np.float32) for i in range(n)]


def test_store_tracks_used_layers():
    store = WeightStore({("conv1",): arrays(2), ("dense",): arrays(2, 10), ("pool",): []}, "w.h5")
    assert store.unused() == ["conv1", "dense"]  # layers without arrays never count
    got = store.get(("conv1",))
    assert [a[0] for a in got] == [0, 1]
    assert store.unused() == ["dense"]
    assert store.get(("missing",)) is None
    assert store.unused() == ["dense"]
    store.get(("dense",))
    assert store.unused() == []


def test_store_finds_nested_layers_keyed_without_their_model():
    store = WeightStore({("dense_3",): arrays(1, 5), ("outer", "bn"): arrays(4)}, "w.h5")
    assert store.get(("outer", "dense_3"))[0][0] == 5
    assert store.get(("outer", "bn")) is not None
    assert store.unused() == []
    assert store.get(("outer", "nope")) is None


def test_store_collects_sublayer_scopes_for_a_top_level_layer():
    store = WeightStore({("block", "conv"): arrays(1, 1), ("block", "bn"): arrays(2, 2), ("other",): arrays(1)}, "w.h5")
    got = store.get(("block",))
    assert [a[0] for a in got] == [1, 2, 3]
    assert store.unused() == ["other"]


# -- HDF5 readers ---------------------------------------------------------------------------------
def test_read_keras3_layout(tmp_path):
    path = tmp_path / "model.weights.h5"
    rng = np.random.default_rng(0)
    many = [rng.standard_normal((i + 1,)).astype(np.float32) for i in range(11)]
    with h5py.File(path, "w") as f:
        v = f.create_group("layers/dense/vars")
        v.attrs["name"] = "my_dense"
        v["0"] = np.ones((3, 2))
        v["1"] = np.zeros(2)
        big = f.create_group("layers/big/vars")
        for i, arr in enumerate(many):
            big[str(i)] = arr
        inner = f.create_group("layers/functional/layers/conv/vars")
        inner.attrs["name"] = b"conv_7"
        inner["0"] = np.full((1, 1, 2, 2), 3.0)
        f.create_group("layers/functional/vars").attrs["name"] = "backbone"
        f.create_group("layers/empty/vars")
    with h5py.File(path, "r") as f:
        store = read_h5(f, "model.weights.h5")
    assert store.source == "model.weights.h5"
    # A group without a name attribute (as tf-keras writes them) is keyed by its attribute path.
    assert set(store.arrays) == {("my_dense",), ("#big",), ("backbone", "conv_7")}
    kernel, bias = store.arrays[("my_dense",)]
    assert kernel.shape == (3, 2) and kernel.dtype == np.float32 and bias.shape == (2,)
    got = store.arrays[("#big",)]
    assert [a.shape[0] for a in got] == list(range(1, 12))  # "10" comes after "9"
    assert store.arrays[("backbone", "conv_7")][0].shape == (1, 1, 2, 2)


@pytest.mark.parametrize("wrapped", [False, True])
def test_read_legacy_layout(tmp_path, wrapped):
    path = tmp_path / "legacy.h5"
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if wrapped else f
        root.attrs["layer_names"] = [b"dense_1", b"inner", b"flatten"]
        d = root.create_group("dense_1")
        d.attrs["weight_names"] = [b"dense_1/kernel:0", b"dense_1/bias:0"]
        d["dense_1/kernel:0"] = np.ones((4, 3))
        d["dense_1/bias:0"] = np.arange(3.0)
        inner = root.create_group("inner")
        inner.attrs["weight_names"] = [b"dense/kernel:0", b"inner/conv/kernel:0"]
        inner["dense/kernel:0"] = np.ones((2, 2))
        inner["inner/conv/kernel:0"] = np.ones((1, 1, 2, 2))
        root.create_group("flatten").attrs["weight_names"] = []
    store = load_weights(path)
    assert store.source == str(path)
    assert set(store.arrays) == {("dense_1",), ("inner", "dense"), ("inner", "conv")}
    kernel, bias = store.arrays[("dense_1",)]
    assert kernel.shape == (4, 3) and kernel.dtype == np.float32
    np.testing.assert_array_equal(bias, [0, 1, 2])


def test_load_weights_from_a_non_hdf5_file_is_a_weights_error(tmp_path):
    path = tmp_path / "not.h5"
    path.write_bytes(b"definitely not HDF5")
    with pytest.raises(WeightsError, match="cannot read HDF5 weights") as info:
        load_weights(path)
    assert info.value.file == str(path)


def test_keras3_layout_records_every_saved_path(tmp_path):
    # Keras saves a shared object once: a path with no group was not saved, and the builder
    # looks for the object where Keras met it first.
    path = tmp_path / "model.weights.h5"
    with h5py.File(path, "w") as f:
        v = f.create_group("layers/functional/layers/dense/vars")
        v.attrs["name"] = "shared"
        v["0"] = np.ones((2, 2))
        f.create_group("layers/functional/vars").attrs["name"] = "inner"
    with h5py.File(path, "r") as f:
        store = read_h5(f, "model.weights.h5")
    assert store.holds(("inner", "shared")) and store.holds(("#functional", "#dense"))
    assert not store.holds(("shared",), ("#dense",))
    assert WeightStore({}, "legacy.h5").holds(("anything",))  # legacy files repeat shared weights


def test_legacy_store_finds_a_layer_two_models_deep():
    store = WeightStore({("a", "enc_d"): arrays(1, 4)}, "legacy.h5")
    assert store.get(("a", "enc", "enc_d"))[0][0] == 4


# -- HDF5 files that point outside themselves -------------------------------------------------------------
def _kernel_file(tmp_path, make):
    """A weights file whose layer 'dense' has one variable made by ``make(vars_group, folder)``."""
    path = tmp_path / "w.weights.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("layers/dense/vars")
        g.attrs["name"] = "dense"
        make(g, tmp_path)
    return path


def _external_storage(g, folder):
    (folder / "secret.bin").write_bytes(np.ones(6, np.float32).tobytes())
    g.create_dataset("0", shape=(3, 2), dtype="f4", external=[(str(folder / "secret.bin"), 0, 24)])


def _external_fifo(g, folder):
    os.mkfifo(folder / "pipe")
    g.create_dataset("0", shape=(3, 2), dtype="f4", external=[(str(folder / "pipe"), 0, 24)])


def _external_link(g, folder):
    with h5py.File(folder / "other.h5", "w") as other:
        other["k"] = np.ones((3, 2), np.float32)
    g["0"] = h5py.ExternalLink(str(folder / "other.h5"), "/k")


def _external_group_link(g, folder):
    os.mkfifo(folder / "other.h5")
    g.file["elsewhere"] = h5py.ExternalLink(str(folder / "other.h5"), "/")
    g["0"] = np.ones((3, 2), np.float32)


def _virtual(g, folder):
    with h5py.File(folder / "source.h5", "w") as other:
        other["k"] = np.ones((3, 2), np.float32)
    layout = h5py.VirtualLayout(shape=(3, 2), dtype="f4")
    layout[...] = h5py.VirtualSource(str(folder / "source.h5"), "k", shape=(3, 2))
    g.create_virtual_dataset("0", layout)


def _soft_link(g, folder):
    g.file["k"] = np.ones((3, 2), np.float32)
    g["0"] = h5py.SoftLink("/k")


OUTSIDE = [
    (_external_storage, r"'/layers/dense/vars/0' keeps its data in another file \('.*secret.bin'\)"),
    (_external_fifo, r"'/layers/dense/vars/0' keeps its data in another file \('.*pipe'\)"),
    (_external_link, r"'/layers/dense/vars/0' is a link to another file \('.*other.h5'\), which kerascc never opens"),
    (_external_group_link, r"'/elsewhere' is a link to another file"),
    (_virtual, r"'/layers/dense/vars/0' is a virtual dataset"),
    (_soft_link, r"'/layers/dense/vars/0' is a soft link \(to '/k'\)"),
]


@pytest.mark.parametrize("make, message", OUTSIDE, ids=[m.__name__.strip("_") for m, _ in OUTSIDE])
def test_this_process_refuses_data_outside_the_file(tmp_path, make, message):
    path = _kernel_file(tmp_path, make)
    with h5py.File(path, "r") as f, pytest.raises(WeightsError, match=message) as info:
        read_h5(f, "w.weights.h5")
    assert info.value.file == "w.weights.h5" and "\n" not in str(info.value)


@pytest.mark.parametrize("make, message", OUTSIDE, ids=[m.__name__.strip("_") for m, _ in OUTSIDE])
def test_the_probing_child_refuses_the_same(tmp_path, make, message):
    path = _kernel_file(tmp_path, make)
    with pytest.raises(WeightsError, match=message):
        probe_h5(path, "w.weights.h5")
    with pytest.raises(WeightsError, match=message):  # the weights of a .keras archive arrive as bytes
        probe_h5(path.read_bytes(), "m.keras:model.weights.h5")
    with pytest.raises(WeightsError, match=message):
        load_weights(path)


def _good_file(tmp_path):
    """A Keras 3 weights file with one Dense kernel of ones."""
    path = tmp_path / "good.weights.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("layers/dense/vars")
        g.attrs["name"] = "dense"
        g["0"] = np.ones((3, 2), np.float32)
    return path


def test_a_hard_link_cycle_is_walked_once(tmp_path):
    path = _good_file(tmp_path)
    with h5py.File(path, "a") as f:
        f["layers/dense/loop"] = f["layers"]  # a hard link back up the tree
    store = load_weights(path)
    assert [a.shape for a in store.arrays[("dense",)]] == [(3, 2)]


def test_deep_and_crowded_files_are_refused_quickly(tmp_path):
    deep = tmp_path / "deep.h5"
    with h5py.File(deep, "w") as f:
        group = f
        for _ in range(3000):
            group = group.create_group("layers")
    start = time.perf_counter()
    for source in (deep, deep.read_bytes()):
        with pytest.raises(WeightsError, match="nested over 256 deep"):
            probe_h5(source, "deep.h5")
    with h5py.File(deep, "r") as f, pytest.raises(WeightsError, match="nested over 256 deep"):
        read_h5(f, "deep.h5")
    assert time.perf_counter() - start < 60  # h5py's visititems took minutes on this file
    crowded = io.BytesIO()
    with h5py.File(crowded, "w") as f:
        for i in range(100):
            f.create_group(str(i))
    with h5py.File(crowded, "r") as f, pytest.raises(ResourceLimitError, match="over 64 groups and datasets"):
        read_h5(f, "crowded.h5", Limits(max_layers=2))


def test_datasets_needing_a_filter_plugin_are_refused(tmp_path):
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("layers/dense/vars")
        g.create_dataset("0", data=np.ones((3, 2), np.float32), compression="gzip", shuffle=True)
        g.create_dataset("1", data=np.ones(2, np.float32), compression="lzf", fletcher32=True)
    assert len(load_weights(path).arrays[("#dense",)]) == 2  # HDF5's and h5py's own filters are fine
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk((2,))
    dcpl.set_filter(32004, h5py.h5z.FLAG_OPTIONAL)  # LZ4, from a plugin; optional, so HDF5 writes it
    with h5py.File(path, "a") as f:
        space = h5py.h5s.create_simple((2,))
        h5py.h5d.create(f["layers/dense/vars"].id, b"2", h5py.h5t.NATIVE_FLOAT, space, dcpl=dcpl)
    with pytest.raises(WeightsError, match=r"'/layers/dense/vars/2' needs HDF5 filter 32004"):
        load_weights(path)


# -- the probing child -----------------------------------------------------------------------------
SEGFAULT = Path(__file__).resolve().parents[1] / "data" / "hdf5_segfault.h5"


def test_one_probing_child_serves_every_file_of_a_process(tmp_path):
    good = _good_file(tmp_path)
    probe_h5(good, "good.weights.h5")
    first = weights_module._PROBER._proc
    for source in (good, good.read_bytes(), good):
        probe_h5(source, "good.weights.h5")
    assert weights_module._PROBER._proc is first and first.poll() is None


def test_a_crashed_probing_child_is_replaced_by_the_next_probe(tmp_path):
    good = _good_file(tmp_path)
    probe_h5(good, "good.weights.h5")
    before = weights_module._PROBER._proc
    with pytest.raises(WeightsError, match="the HDF5 library crashed reading it"):
        probe_h5(SEGFAULT, "damaged.h5")
    assert before.poll() is not None  # that child is gone
    probe_h5(good, "good.weights.h5")  # a new one reads the next file
    assert weights_module._PROBER._proc is not before
    assert len(load_weights(good).arrays[("dense",)]) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_process_starts_its_own_probing_child(tmp_path):
    good = _good_file(tmp_path)
    probe_h5(good, "good.weights.h5")
    parent_child = weights_module._PROBER._proc.pid
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the forked process: probe, report the child it used, never return to pytest
        try:
            probe_h5(good, "good.weights.h5")
            os.write(write_end, str(weights_module._PROBER._proc.pid).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        reported = pipe.read()
    os.waitpid(pid, 0)
    assert reported and int(reported) != parent_child
    probe_h5(good, "good.weights.h5")  # the parent's child still answers
    assert weights_module._PROBER._proc.pid == parent_child
