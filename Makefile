# The two commands: `make demo` and `make test` (fresh Debian 12, as root, or any machine with the packages).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STATE := .esdl
APT_PACKAGES := python3 python3-venv python3-dev build-essential curl libgdal-dev gdal-bin
PREFECT_PORT ?= 4200
export PREFECT_HOME := $(CURDIR)/$(STATE)/prefect

.PHONY: demo test lint typecheck unit system install server-start server-stop clean

## system packages (skipped when already present)
$(STATE)/system.stamp:
	@mkdir -p $(STATE)
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "installing system packages: $(APT_PACKAGES)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES); \
	fi
	@touch $@

system: $(STATE)/system.stamp

## the virtual environment, pinned by constraints.txt; GDAL's bindings must match the system library
$(BIN)/.installed: $(STATE)/system.stamp pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -c constraints.txt numpy setuptools wheel
	$(BIN)/pip install -q --no-build-isolation -c constraints.txt "gdal==$$(gdal-config --version)"
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	@touch $@

install: $(BIN)/.installed

server-start: install
	@infra/local/prefect-server.sh start $(PREFECT_PORT)

server-stop:
	@infra/local/prefect-server.sh stop

## build the demo cube from real sample data as a Prefect flow run on a local server, then verify it
demo: install server-start
	PREFECT_API_URL=http://127.0.0.1:$(PREFECT_PORT)/api $(BIN)/esdl cube build cubes/specs/demo.yaml
	$(BIN)/esdl cube verify out/esdl-demo.zarr
	@echo "Prefect UI (operations console): http://127.0.0.1:$(PREFECT_PORT)  — stop it with 'make server-stop'"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

test: lint typecheck unit

clean:
	rm -rf $(STATE) out .pytest_cache .mypy_cache .ruff_cache
