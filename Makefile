# Two entry points: `make demo` (compile and run the bundled models) and `make test`.
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

# ResNet50 from its JSON description (random weights: shows compile speed, not classes), then the
# shape classifier trained by examples/shapes/train.py on one unseen image per class.
demo: $(VENV)/.installed-cpu
	@echo "== ResNet50 from examples/resnet50.json (no weights in a JSON file: random, so its classes mean nothing)"
	$(BIN)/python cli.py compile examples/resnet50.json -o examples/resnet50.onnx
	$(BIN)/python cli.py run examples/resnet50.onnx examples/cat.jpg
	@echo
	@echo "== A shape classifier trained by examples/shapes/train.py (98.7% on unseen images); files are named by class"
	$(BIN)/python cli.py compile examples/shapes/shapes.keras -o examples/shapes/shapes.onnx --preprocess none
	$(BIN)/python cli.py run examples/shapes/shapes.onnx examples/shapes/ --labels examples/shapes/labels.txt -k 2

# Lint and format check first (ruff, configured in pyproject.toml): seconds, and it fails before the long suite.
# The suite on every core (pytest-xdist), one test module per worker at a time, so a module's
# shared fixtures (the zoo's models) are built once.
test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n auto --dist loadscope

clean:
	rm -rf $(VENV) examples/*.onnx examples/shapes/*.onnx .pytest_cache
