# grit: the two commands of the README, each self-installing into .venv with plain pip.
# torch is installed first at the CPU pin, then the project under the constraints file (README, Two commands).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.grit-installed
CONSTRAINTS := requirements/cpu-constraints.txt
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install quickstart base test test-slow test-browser demo bench style quality clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e '.[dev]'
	touch $(STAMP)

# The offline GRIT pipeline on the shipped tiny base: shapes world, base evaluation, warm start, GRPO-GR on
# GRIT-20, evaluation, report (runs/quickstart/report.html). Re-running writes into the same folder.
quickstart: $(STAMP)
	$(BIN)/grit quickstart --out runs/quickstart --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The shipped tiny base from scratch: nine `grit pretrain` stages, each starting from the last one's model (about
# 97 min on 2 cores). A stage whose model exists is skipped; an interrupted one resumes from its last checkpoint.
BASE_STAGES := base base_instruct base_compare base_compare_instructed base_reason base_compare_long base_reason_long base_ground base_ground_long
base: $(STAMP)
	for s in $(BASE_STAGES); do \
	  out=runs/$$(echo $$s | tr _ -); \
	  test -f $$out/model/model.safetensors && continue; \
	  resume=$$(test -d $$out/checkpoint-last && echo --resume true); \
	  $(BIN)/grit pretrain --config recipes/shapes_$$s.yaml --out $$out $$resume || exit 1; \
	done
	@echo "the base: runs/base-ground-long/model (grit quickstart --base runs/base-ground-long/model)"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# Only the browser tests: `grit demo` driven by headless Chromium (Debian's: apt-get install chromium
# chromium-driver; Playwright downloads no browser). `make test` runs them too, and skips them without Chromium.
test-browser: $(STAMP)
	$(BIN)/python -m pytest -q -m browser

# The demo page on http://127.0.0.1:7860 (the quickstart's model when there is one, else the shipped base).
demo: $(STAMP)
	$(BIN)/grit demo

bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

# ruff: format and lint (line length 119, import sorting; pyproject.toml [tool.ruff]).
STYLE_PATHS := src tests bench

style: $(STAMP)
	$(BIN)/ruff format $(STYLE_PATHS)
	$(BIN)/ruff check --fix $(STYLE_PATHS)

quality: $(STAMP)
	$(BIN)/ruff format --check $(STYLE_PATHS)
	$(BIN)/ruff check $(STYLE_PATHS)

clean-venv:
	rm -rf $(VENV)
