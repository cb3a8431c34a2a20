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
OPEN_RPPG_VERSION ?= 0.1.1

.PHONY: venv reproduce study test lint bench clean-venv

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# the suite's kernel "python3": ipykernel with the portable numerics (rppg_lib/run/numerics.py)
	$(BIN)/python -m rppg_lib.run.numerics install-kernel >/dev/null
	@# open-rppg's released TS-CAN weights ship inside its PyPI wheel: fetched once, at set-up, from
	@# the package registry (never at run time). Without them the tests that need them skip.
	ls data/weights/open_rppg-$(OPEN_RPPG_VERSION)-*.whl >/dev/null 2>&1 || \
	  $(BIN)/python -m pip download --quiet --no-deps open-rppg==$(OPEN_RPPG_VERSION) -d data/weights || \
	  echo "warning: could not download the open-rppg wheel; tests of its weights will skip"
	touch $@

reproduce: venv
	PYTHONHASHSEED=0 $(BIN)/rppg run --params $(PARAMS) --out $(OUT) --force

# The synthetic study that decides the paper's claims (params/study.yaml; see its header for the
# budget). Resumes where it stopped; writes the committed record in reports/study/.
study: venv
	PYTHONHASHSEED=0 $(BIN)/rppg study --params params/study.yaml --out reports/study

test: venv
	PYTHONHASHSEED=0 $(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check rppg_lib tests benchmarks

bench: venv
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
