# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## The platform with a living demo city: SQLite under ./var, in-process bus, simulator on.
run: $(STAMP)
	mkdir -p var
	$(BIN)/cityops init
	$(BIN)/cityops demo --days 7
	$(BIN)/cityops serve --simulate

## Lint, type check and the whole suite.
test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n 2 -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/case_throughput.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
