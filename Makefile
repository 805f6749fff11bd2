# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv when it is missing and install the project into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/rope-blocks
STAMP := $(VENV)/.installed

.PHONY: setup demo test check prove zoo bench bench-gpu

$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

# The main job on the offline default: the proofs, the family table, the quick digits comparison.
demo: setup
	$(CLI) prove
	$(CLI) check
	$(CLI) zoo --dataset digits --quick
	@printf '\ndemo done: theorems in results/theorems.json, quick digits results under runs/zoo-quick/\n'

test: setup
	$(PY) -m pytest -q -p no:cacheprovider

check: setup
	$(CLI) check

prove: setup
	$(CLI) prove

zoo: setup
	$(CLI) zoo --dataset digits

# CPU benchmarks at reduced batches, within 5 minutes on 2 cores: ratios are what they report.
# A CIFAR-sized training step takes about a second per image on such a CPU, so only the seed's
# 11 models are stepped here (the projection needs them); the GPU script measures every model.
bench: setup
	$(PY) -m benchmarks.bench_encodings --batch 8 --reps 3 --warmup 1
	$(PY) -m benchmarks.bench_train --models seed --batch 2 --reps 1 --warmup 0

bench-gpu: setup
	bash benchmarks/gpu.sh
