# The two commands the README promises, plus the checks CI runs.
# Each target (re)builds .venv from pyproject.toml when that file changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck docs bench bench-quick ci services clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Non-Python services the tests start themselves: a real redis-server. Installing it needs
# root: as root, apt-get runs directly; otherwise through sudo when there is one; else the
# target says what to run. REDIS_SERVER and APT_GET are variables for testing this target.
REDIS_SERVER ?= redis-server
APT_GET      ?= apt-get

services:
	@command -v $(REDIS_SERVER) >/dev/null 2>&1 || { \
	  if ! command -v $(firstword $(APT_GET)) >/dev/null 2>&1; then \
	    echo "redis-server is not installed and there is no apt-get here: install it with your" \
	      "package manager (brew install redis, dnf install redis...), then run make again." >&2; \
	    exit 1; \
	  elif [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else \
	    echo "redis-server is not installed, and installing it needs root. Run, as root:" \
	      "apt-get update && apt-get install -y redis-server -- then run make again." >&2; \
	    exit 1; \
	  fi; \
	  echo "installing redis-server from the OS packages$${SUDO:+ (with sudo)}"; \
	  $$SUDO $(APT_GET) update -qq && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq redis-server >/dev/null; }

demo: $(STAMP)
	$(BIN)/llmwarm demo

# One pytest-xdist worker per core, each test file on one worker (files that share one
# expensive run between their tests run it once).
# Bytecode is written even where the environment turns it off (PYTHONDONTWRITEBYTECODE):
# otherwise every worker re-does pytest's assertion rewriting of every test module, and
# each of the suite's ~75 child interpreters compiles llmwarm again (seconds of CPU each run).
test: $(STAMP) services
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -p no:cacheprovider -n auto --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The package, and a user's file that uses every decorator and handle (typed handles).
typecheck: $(STAMP)
	$(BIN)/mypy --strict llmwarm tests/typing/usage.py

docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

bench: $(STAMP) services
	$(BIN)/python -m benchmarks

bench-quick: $(STAMP) services
	$(BIN)/python -m benchmarks --quick

# Everything CI runs, in its order.
ci:
	bash .ci/run

clean:
	rm -rf $(VENV) site .mypy_cache .ruff_cache .pytest_cache
