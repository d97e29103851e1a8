"""The README's coverage table is what the tests' ``covers`` marks say (see tests/coverage_table.py)."""

from __future__ import annotations

import coverage_table as coverage  # tests/ is on the path, as for every test module here


def test_readme_table_matches_the_tests():
    current = coverage.readme_table(coverage.README.read_text())
    assert current is not None, "README.md lacks the coverage markers"
    assert current == coverage.block(coverage.render(coverage.collect())), (
        "README.md coverage table is stale: run python tests/coverage_table.py --write"
    )


def test_every_mark_names_an_existing_test_and_the_zoo_is_listed():
    marks = coverage.collect()
    assert len({m.layer for m in marks}) >= 30
    for mark in marks:
        path, name = mark.test.split("::")
        assert f"def {name}(" in (coverage.ROOT / "tests" / path).read_text()
    zoo = " ".join(m.options for m in marks if m.layer == "keras.applications")
    for app in ("ResNet152", "MobileNetV3Large", "EfficientNetV2B0", "InceptionResNetV2", "ConvNeXtTiny"):
        assert app in zoo


def test_render_groups_marks_by_layer():
    marks = [
        coverage.Mark("Conv1D", "causal", "a.py::t1"),
        coverage.Mark("conv0", "x", "a.py::t0"),
        coverage.Mark("Conv1D", "groups", "b.py::t2"),
    ]
    lines = coverage.render(marks).splitlines()
    assert lines[2] == "| conv0 | x | `a.py::t0` |"
    assert lines[3] == "| Conv1D | causal; groups | `a.py::t1`<br>`b.py::t2` |"
