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

# Non-Python services the tests start themselves: a real redis-server.
services:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server from the OS packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

demo: $(STAMP)
	$(BIN)/llmwarm demo

test: $(STAMP) services
	$(BIN)/python -m pytest -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict llmwarm

docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

bench: $(STAMP) services
	$(BIN)/python -m benchmarks

bench-quick: $(STAMP) services
	$(BIN)/python -m benchmarks --quick

clean:
	rm -rf $(VENV) site .mypy_cache .ruff_cache .pytest_cache
