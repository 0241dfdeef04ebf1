# The two set-up commands are `make run` and `make test`; both create or
# reuse the project's virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test browser bench lint clean soak

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

# The money state machine with the long profile (many more and longer
# random histories than `make test` runs): for the benchmark machine.
soak: $(STAMP)
	HYPOTHESIS_PROFILE=soak $(PY) -m pytest -n 0 -p no:randomly tests/model $(ARGS)

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

# Translations of the couple-facing pages and e-mails (locale/<lang>/). After
# changing any translatable text: `make messages`, translate the new entries
# in the .po files, `make messages` again (it compiles the .mo files too).
# CI (`make messages-check`) fails when the committed catalogs are stale,
# incomplete or uncompiled. gettext comes from Debian, installed when missing.
LANGS := es
MAKEMESSAGES := $(PY) manage.py makemessages $(addprefix -l ,$(LANGS)) --no-obsolete --no-location \
	--ignore=.venv --ignore=tests --ignore=tools --ignore=staticfiles --ignore=templates/admin
MSGFMT := /usr/bin/msgfmt

$(MSGFMT):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq gettext

.PHONY: messages messages-check
messages: $(STAMP) $(MSGFMT)
	DJANGO_DEBUG=true $(MAKEMESSAGES)
	DJANGO_DEBUG=true $(PY) manage.py compilemessages --ignore=.venv

messages-check: $(STAMP) $(MSGFMT)
	DJANGO_DEBUG=true $(MAKEMESSAGES)
	git diff --ignore-matching-lines='^"POT-Creation-Date' --exit-code -- locale/
	@for po in locale/*/LC_MESSAGES/django.po; do \
		stats=$$(LC_ALL=C msgfmt --check --statistics -o /dev/null $$po 2>&1); \
		echo "$$po: $$stats"; \
		case "$$stats" in *untranslated*|*fuzzy*) echo "$$po has untranslated or fuzzy entries"; exit 1;; esac; \
	done
	DJANGO_DEBUG=true $(PY) manage.py compilemessages --ignore=.venv
	git diff --exit-code -- locale/
