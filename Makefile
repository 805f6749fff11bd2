# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv when it is missing and install the project into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/rope-blocks
STAMP := $(VENV)/.installed

.PHONY: setup latex fashion-data demo test paper results check prove zoo probes bench bench-gpu

$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,timm]'
	@touch $(STAMP)

setup: $(STAMP)

# Debian packages, installed with apt-get (through sudo when not root) when missing, and said so.
# Without apt-get or the rights to use it, everything else still runs.
APT_INSTALL = SUDO=$$([ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null && echo sudo); \
	command -v apt-get >/dev/null && $$SUDO apt-get update \
	&& $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends

# The PDF needs LaTeX; without it `rope-blocks paper` still writes the tables and figures.
LATEX_PACKAGES := texlive-latex-base texlive-latex-recommended latexmk poppler-utils
latex:
	@command -v latexmk >/dev/null || { \
	  echo "LaTeX (latexmk) not found: installing $(LATEX_PACKAGES) with apt-get"; \
	  { $(APT_INSTALL) $(LATEX_PACKAGES); } || echo "LaTeX could not be installed: the PDF step will be skipped"; }

# Fashion-MNIST's original IDX files, from Debian (training/fashion.py unpacks them; never downloaded).
FASHION_PACKAGE := dataset-fashion-mnist
fashion-data:
	@test -d /usr/share/datasets/fashion-mnist || { \
	  echo "Fashion-MNIST not found: installing $(FASHION_PACKAGE) with apt-get"; \
	  { $(APT_INSTALL) $(FASHION_PACKAGE); } \
	  || echo "Fashion-MNIST could not be installed: the fashion data set needs it (or --data-path)"; }

# The main job on the offline default: the proofs, the family table, the quick digits comparison,
# the quick probe suite, the quick Fashion-MNIST suite, a quick CPU benchmark, and the paper built from the committed results/.
# Everything it writes goes under runs/ (git-ignored): a clone stays as it was.
DEMO := runs/demo
demo: setup latex fashion-data
	$(CLI) prove --out $(DEMO)/theorems.json --overwrite
	$(CLI) check
	$(CLI) zoo --suite digits --quick --out $(DEMO)/zoo-digits
	$(CLI) zoo --suite probes --quick --out $(DEMO)/zoo-probes
	$(CLI) zoo --suite fashion --quick --out $(DEMO)/zoo-fashion
	$(CLI) bench encodings --batch 2 --reps 1 --warmup 0 --block-sizes 2 4 8 --out $(DEMO)/bench --overwrite
	$(CLI) paper --out $(DEMO)/paper
	@printf '\ndemo done, everything under $(DEMO)/:\n  theorems: theorems.json\n'
	@printf '  quick digits comparison: zoo-digits/results/digits/summary.md\n'
	@printf '  quick probe suite: zoo-probes/results/probes/summary.md\n'
	@printf '  quick Fashion-MNIST suite: zoo-fashion/results/fashion/summary.md\n'
	@printf '  quick CPU benchmark: bench/cpu-encodings.json\n'
	@printf '  paper from the committed results/: paper/build/rope-blocks.pdf\n'

# The style (ruff) and the one-way layers (import-linter, pyproject.toml) are checked before the tests.
test: setup latex fashion-data
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/ruff format --check --no-cache .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q -p no:cacheprovider

# The committed paper: tables and figures from results/ into paper/generated/, then paper/build/rope-blocks.pdf.
paper: setup latex
	$(CLI) paper --out paper

check: setup
	$(CLI) check

# The committed results, each by its own command (make bench for the benchmarks). Each zoo summary
# records its wall time; runs an earlier invocation finished are read back, not trained again.
results: prove zoo probes

prove: setup
	$(CLI) prove --out results/theorems.json --overwrite

zoo: setup
	$(CLI) zoo --suite digits --out .

probes: setup
	$(CLI) zoo --suite probes --out .

# CPU benchmarks at reduced batches, within 5 minutes on 2 cores: ratios are what they report.
# A CIFAR-sized training step takes about a second per image on such a CPU, so only the seed's
# 11 models are stepped here (the projection needs them); the GPU script measures every model.
bench: setup
	$(CLI) bench encodings --batch 8 --reps 3 --warmup 1 --out results/bench --overwrite
	$(CLI) bench train --models seed --batch 2 --reps 1 --warmup 0 --out results/bench --overwrite

bench-gpu: setup
	bash benchmarks/gpu.sh
