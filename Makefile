# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv when it is missing and install the project into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/rope-blocks
STAMP := $(VENV)/.installed

.PHONY: setup latex demo test paper check prove zoo bench bench-gpu

$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

# The PDF needs LaTeX. Without apt-get or the rights to use it, everything else still runs and
# `rope-blocks paper` still writes the tables and figures; only the PDF step is skipped.
LATEX_PACKAGES := texlive-latex-base texlive-latex-recommended latexmk poppler-utils
latex:
	@command -v latexmk >/dev/null || { \
	  echo "LaTeX (latexmk) not found: installing $(LATEX_PACKAGES) with apt-get"; \
	  SUDO=$$([ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null && echo sudo); \
	  { command -v apt-get >/dev/null \
	    && $$SUDO apt-get update \
	    && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(LATEX_PACKAGES); } \
	  || echo "LaTeX could not be installed: the PDF step will be skipped"; }

# The main job on the offline default: the proofs, the family table, the quick digits comparison,
# a quick CPU benchmark, and the paper built from the committed results/.
demo: setup latex
	$(CLI) prove
	$(CLI) check
	$(CLI) zoo --dataset digits --quick
	$(PY) -m benchmarks.bench_encodings --batch 2 --reps 1 --warmup 0 --block_sizes 2 4 8 --out runs/bench-quick
	$(CLI) paper
	@printf '\ndemo done:\n  theorems: results/theorems.json\n  quick digits comparison: runs/zoo-quick/\n'
	@printf '  quick CPU benchmark: runs/bench-quick/cpu-encodings.json\n'
	@printf '  paper from results/: paper/build/rope-blocks.pdf (tables and figures in paper/generated/)\n'

test: setup latex
	$(PY) -m pytest -q -p no:cacheprovider

# Only the paper: tables and figures from results/, then the PDF.
paper: setup latex
	$(CLI) paper

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
