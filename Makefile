# One command for the demo, one for the tests; both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install postgres browser test lint typecheck pytest docs demo demo-slack demo-pipeline clean bench image

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# PostgreSQL for the tests' own throw-away servers (tests/support/postgres.py), and
# faketime for a worker whose clock runs fast.
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
	  echo "PostgreSQL is not installed: its tests will be skipped (install Debian's postgresql)"
	@# faketime: a worker with a skewed clock (tests/test_clock_skew.py)
	@command -v faketime >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null; } || \
	  echo "faketime is not installed: the clock-skew worker test will be skipped (install Debian's faketime)"

# Debian's Chromium for the browser tests (tests/test_browser.py drives it with Playwright;
# no browser is downloaded).
browser:
	@command -v chromium >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "Chromium is not installed: the browser tests will be skipped (install Debian's chromium)"

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# The documentation site (mkdocs.yml) into site/; the check-kind and configuration
# references are generated from the code while it builds. --strict: a broken link fails.
docs: $(STAMP)
	PYTHONPATH=$(CURDIR) $(BIN)/mkdocs build --strict

# Two workers, a test file each at a time (its module fixtures set up once): most tests
# wait on servers and subprocesses, so two cores run the suite in about half the time.
PYTEST_WORKERS ?= 2
pytest: $(STAMP) postgres browser
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck docs pytest

# make demo DEFECTS=slow,no-hsts,tls10    make demo-slack BOT_PORT=3100 WEB_PORT=3101 DEFECTS=none
# make demo-pipeline PLAN=quick AUTO=go    (AUTO=reject: a scripted NO-GO; GITHUB_PORT too)
DEFECTS ?=
BOT_PORT ?= 3000
WEB_PORT ?= 3001
GITHUB_PORT ?= 3002
PLAN ?= standard
AUTO ?=
demo: $(STAMP)
	$(BIN)/python examples/demo.py $(if $(DEFECTS),--defect $(DEFECTS))

demo-slack: $(STAMP)
	$(BIN)/python examples/slack_demo.py --bot-port $(BOT_PORT) --port $(WEB_PORT) \
	  $(if $(DEFECTS),--defect $(DEFECTS))

demo-pipeline: $(STAMP)
	$(if $(filter-out go reject,$(AUTO)),$(error AUTO=$(AUTO): expected go or reject))
	$(BIN)/python examples/pipeline_demo.py --bot-port $(BOT_PORT) --port $(WEB_PORT) \
	  --github-port $(GITHUB_PORT) --plan $(PLAN) $(if $(DEFECTS),--defect $(DEFECTS)) \
	  $(if $(filter go,$(AUTO)),--auto) $(if $(filter reject,$(AUTO)),--auto --reject)

bench: $(STAMP)
	$(BIN)/python bench/load_overhead.py

# Build the container image from a fresh clone and prove it (bench/image.sh: root, Debian's
# mmdebstrap, buildah and podman; the base is cached). Not part of `make test`: minutes.
image: $(STAMP)
	HOST_PYTHON=$(abspath $(BIN)/python) bench/image.sh

clean:
	rm -rf $(VENV) .preprod .pytest_cache .mypy_cache .ruff_cache site
