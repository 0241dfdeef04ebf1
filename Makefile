# The two set-up commands are `make run` and `make test`; both create or
# reuse the project's virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test browser bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) tools/run_local.py

# The browser tests (tests/browser) drive Debian's Chromium through
# Playwright (a dev extra); installed here when missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

test: $(STAMP) $(CHROMIUM)
	$(PY) -m pytest -n auto $(ARGS)

# The browser tests alone (they also run in `make test`).
browser: $(STAMP) $(CHROMIUM)
	$(PY) -m pytest -n auto tests/browser $(ARGS)

bench: $(STAMP)
	$(PY) tools/bench.py $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV)

.PHONY: faults
# Stops and restarts PostgreSQL and Redis on this machine (root): never
# against shared services. Results: bench-results/faults-<stamp>.md.
faults: $(STAMP)
	$(PY) tools/faults.py $(ARGS)
