# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
# The screens' libraries (web/package.json and its lock), served from web/node_modules.
WEB_STAMP := web/node_modules/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint bench clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

## Debian's chromium and a CJK font for the browser tests (no browser download). Installed
## as root; otherwise the browser tests skip, or fail under CITYOPS_REQUIRE_SERVICES=1.
browser:
	@if [ -x $(CHROMIUM) ] && fc-list :lang=zh 2>/dev/null | grep -q .; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends chromium fonts-wqy-microhei >/dev/null; \
	else echo "chromium missing and not root: browser tests will skip (apt-get install chromium)"; \
	fi

## The platform with a living demo city: SQLite under ./var, in-process bus, simulator on.
run: $(STAMP) $(WEB_STAMP)
	mkdir -p var
	$(BIN)/cityops init
	$(BIN)/cityops demo --days 7
	$(BIN)/cityops serve --simulate

## Lint, type check and the whole suite (browser tests share one server and browser: loadgroup).
test: $(STAMP) $(WEB_STAMP) browser
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadgroup -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/case_throughput.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
