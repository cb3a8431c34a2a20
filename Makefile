# Two entry points: `make reproduce` (the whole suite on the synthetic default, report in
# reports/default/) and `make test` (the whole test suite). Both build .venv/ first if needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# CPU wheel by default. GPU users: `make TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" venv`
# or install a CUDA build into .venv first; see README.
TORCH_SPEC ?= torch==2.13.0
PARAMS ?= params/default.yaml
OUT    ?= reports/default

.PHONY: venv reproduce test lint bench clean-venv

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (rppg-suite)" >/dev/null
	touch $@

reproduce: venv
	$(BIN)/rppg run --params $(PARAMS) --out $(OUT)

test: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check rppg_lib tests benchmarks

bench: venv
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
