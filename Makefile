# Two entry points: `make demo` (compile and run the bundled ResNet50) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-cpu: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[cpu]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed-cpu

demo: $(VENV)/.installed-cpu
	$(BIN)/python cli.py compile examples/resnet50.json -o examples/resnet50.onnx
	$(BIN)/python cli.py run examples/resnet50.onnx examples/cat.jpg

# Lint and format check first (ruff, configured in pyproject.toml): seconds, and it fails before the long suite.
test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) examples/*.onnx .pytest_cache
