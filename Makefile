# One command each, on a fresh machine: `make demo` and `make test` set themselves up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: setup test test-fast demo lint golden bench clean

# $(call install,REQUIREMENT): Debian's prometheus package (the server and promtool) when missing, then a venv with
# REQUIREMENT (the package, with or without an extra) and the devtools distribution (./devtools: the emulated
# Kubernetes API, the local Prometheus and the synthetic exporter the demo and the tests run; never in the image).
define install
	@command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || { \
	  echo "prometheus/promtool not found: installing Debian's prometheus package"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '$(1)' -e ./devtools
endef

$(STAMP): pyproject.toml devtools/pyproject.toml
	$(call install,.[dev])
	@ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || { \
	  echo "libfaketime not found: installing Debian's faketime package (the gate's clock-step tests)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends faketime >/dev/null; }
	@touch $(STAMP)

# The demo needs less than the tests: the package and the devtools distribution, without the test extra.
$(DEMO_STAMP): pyproject.toml devtools/pyproject.toml
	$(call install,.)
	@touch $(DEMO_STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/lint-imports

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not e2e"

golden: $(STAMP)
	$(BIN)/python -m pytest -q tests/golden --update-golden

demo: $(DEMO_STAMP)
	$(BIN)/kpi-operator demo $(DEMO_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
