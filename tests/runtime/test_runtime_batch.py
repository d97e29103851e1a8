"""Streaming runs over files, folders and globs: order, batching, skipping, memory."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from runtime_testkit import CLASS_OF_CHANNEL, one_line, write_image

from runtime.batch import BatchRunner, RunStats, collect, describe_stats, expand_inputs
from runtime.errors import RuntimeInputError
from runtime.predict import predict

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for i, colour in enumerate(COLOURS * 2):
        where = root / "sub" if i % 2 else root
        write_image(where / f"img{i}.png", colour)
    (root / "notes.txt").write_text("not an image")
    return root


def test_folders_are_searched_recursively_in_sorted_order(folder: Path):
    found = expand_inputs([folder])
    assert [s.path.relative_to(folder).as_posix() for s in found] == [
        "img0.png",
        "img2.png",
        "img4.png",
        "sub/img1.png",
        "sub/img3.png",
        "sub/img5.png",
    ]
    assert not any(s.explicit for s in found)


def test_globs_and_files_mix_and_run_once(folder: Path):
    found = expand_inputs([folder / "img0.png", str(folder / "**" / "*.png"), folder / "img0.png"])
    assert found[0].explicit and found[0].path == folder / "img0.png"
    assert len(found) == 6  # img0 named, then matched again by the glob: kept once


@pytest.mark.parametrize("arg", ["empty", "nothing-*.png"])
def test_empty_folder_or_pattern_is_an_error(tmp_path: Path, arg: str):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeInputError) as err:
        expand_inputs([str(tmp_path / arg)])
    assert "no image files" in one_line(err.value)


def test_stream_matches_predict_and_keeps_order(model_factory, folder: Path):
    model = model_factory(["N", 4, 4, 3])
    sources = expand_inputs([folder])
    runner = BatchRunner(model, "cpu")
    batches = list(runner.stream(sources, batch_size=4))
    assert [len(b.paths) for b in batches] == [4, 2]
    joined = collect(batches)
    reference = predict(model, [s.path for s in sources], provider="cpu")
    np.testing.assert_allclose(joined["probs"], reference.outputs["probs"], rtol=1e-6)
    expected = [CLASS_OF_CHANNEL[COLOURS.index(_colour(s.path))] for s in sources]
    assert joined["probs"].argmax(axis=1).tolist() == expected


def _colour(path: Path) -> tuple[int, int, int]:
    return COLOURS[int(path.stem[3:]) % 3]


@pytest.mark.parametrize("pipeline", [False, True])
def test_at_most_one_or_two_batches_of_pixels_are_held(model_factory, folder: Path, monkeypatch, pipeline):
    # unpipelined: one batch at a time; pipelined: the batch running and the one being prepared
    import runtime.batch as batch_mod

    live = {"now": 0, "peak": 0}
    real = batch_mod.read_image
    lock = threading.Lock()

    def counting(path, mode="RGB"):
        with lock:
            live["now"] += 1
            live["peak"] = max(live["peak"], live["now"])
        return real(path, mode)

    monkeypatch.setattr(batch_mod, "read_image", counting)
    runner = BatchRunner(model_factory(["N", 4, 4, 3]), "cpu")
    seen = 0
    for batch in runner.stream(expand_inputs([folder]), batch_size=2, pipeline=pipeline):
        seen += len(batch.paths)
        with lock:
            live["now"] -= len(batch.paths)  # the consumer drops each batch
    assert seen == 6
    assert live["peak"] == 2 if not pipeline else 2 <= live["peak"] <= batch_mod.PIPELINE_BATCHES * 2


def test_found_images_that_do_not_decode_are_skipped_and_counted(model_factory, folder: Path):
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    skipped: list[Path] = []
    stats = RunStats()
    runner = BatchRunner(model_factory(["N", 4, 4, 3]), "cpu")
    batches = list(runner.stream(expand_inputs([folder]), 8, stats=stats, on_skip=lambda p, _: skipped.append(p)))
    assert skipped == [folder / "broken.jpg"]
    assert stats.images == 6 and len(stats.skipped) == 1
    assert sum(len(b.paths) for b in batches) == 6
    assert "1 unreadable skipped" in describe_stats(stats, "CPUExecutionProvider")


def test_named_file_that_does_not_decode_stops_the_run(model_factory, tmp_path: Path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    runner = BatchRunner(model_factory(["N", 4, 4, 3]), "cpu")
    with pytest.raises(RuntimeInputError) as err:
        list(runner.stream(expand_inputs([bad])))
    assert one_line(err.value).startswith(str(bad))


def test_dynamic_size_model_batches_images_by_size(model_factory, tmp_path: Path):
    paths = [
        write_image(tmp_path / f"{i}.png", (9, 9, 9), size=size)
        for i, size in enumerate([(4, 3), (4, 3), (6, 5), (4, 3)])
    ]
    runner = BatchRunner(model_factory(["N", "H", "W", 3], head="identity"), "cpu")
    batches = list(runner.stream(expand_inputs(paths), batch_size=8))
    assert [b.outputs["pixels"].shape[:3] for b in batches] == [(2, 3, 4), (1, 5, 6), (1, 3, 4)]
    assert [b.sizes[0] for b in batches] == [(4, 3), (6, 5), (4, 3)]


def test_fixed_batch_model_pads_the_last_batch(model_factory, folder: Path):
    runner = BatchRunner(model_factory([4, 4, 4, 3]), "cpu")
    batches = list(runner.stream(expand_inputs([folder]), batch_size=64))
    assert [len(b.paths) for b in batches] == [4, 2]
    assert batches[-1].outputs["probs"].shape == (2, 1000)


def test_run_pads_a_short_batch_to_the_fixed_dimension_and_trims(model_factory):
    fixed = BatchRunner(model_factory([4, 4, 4, 3]), "cpu")
    dynamic = BatchRunner(model_factory(["N", 4, 4, 3]), "cpu")
    x = fixed.prepare_pixels(np.full((3, 4, 4, 3), 120.0, np.float32))
    assert fixed.batch_size(64) == 4 and dynamic.batch_size(64) == 64
    got = fixed.run(x)
    assert list(got) == fixed.output_names and got["probs"].shape == (3, 1000)
    np.testing.assert_allclose(got["probs"], dynamic.run(x)["probs"], rtol=1e-6)


def test_progress_counts_every_image(model_factory, folder: Path):
    (folder / "broken.png").write_bytes(b"x")
    ticks: list[int] = []
    runner = BatchRunner(model_factory(["N", 4, 4, 3]), "cpu")
    list(runner.stream(expand_inputs([folder]), 4, on_progress=ticks.append))
    assert sum(ticks) == 7  # 6 images and the skipped one


def test_bad_batch_size(model_factory, folder: Path):
    runner = BatchRunner(model_factory(["N", 4, 4, 3]), "cpu")
    with pytest.raises(RuntimeInputError, match="batch size must be at least 1"):
        list(runner.stream(expand_inputs([folder]), 0))
