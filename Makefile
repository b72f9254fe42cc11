# Two commands on a fresh machine: `make demo` and `make test` (README.md).
# Both create .venv here when missing and install everything the project needs; a stamp keyed
# on the dependency files makes the second call a no-op.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# pip here warns about every package missing from a local mirror; keep its real errors only
QUIET := { grep -v 'is ignored' || true; }
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEPS_HASH := $(shell cat pyproject.toml Makefile | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(DEPS_HASH)
PIP := $(PY) -m pip --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# torch first, pinned, so pip never drags in a multi-GB CUDA build on CPU machines
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q "torch==2.13.0" 2>&1 | $(QUIET)
	@$(PY) -c "import torch" 2>/dev/null || { echo "error: torch failed to install into $(VENV); run '$(PIP) install torch==2.13.0' to see why" >&2; exit 1; }
	@$(PIP) install -q -e ".[test]" 2>&1 | $(QUIET)
	@bash tools/system_deps.sh $(PY)
	@rm -f $(VENV)/.installed-* && touch $@

demo: setup
	$(VENV)/bin/worldstereo demo -o out/demo

test: setup
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: setup
	@for b in benchmarks/bench_*.py; do echo "# $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
