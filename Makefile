# The two commands: `make demo` and `make test` (fresh Debian 12, as root, or any machine with the packages).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STATE := .esdl
APT_PACKAGES := python3 python3-venv python3-dev build-essential curl libgdal-dev gdal-bin \
  postgresql-15 postgresql-15-postgis-3 chromium
PREFECT_PORT ?= 4200
export PREFECT_HOME := $(CURDIR)/$(STATE)/prefect
export ESDL_HOME := $(CURDIR)/$(STATE)

.PHONY: demo test lint typecheck unit system install server-start server-stop db-up db-down deployments down clean

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
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,ml,k8s]"
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name esdl --display-name "esdl (.venv)" >/dev/null
	@touch $@

install: $(BIN)/.installed

server-start: install
	@infra/local/prefect-server.sh start $(PREFECT_PORT)

server-stop:
	@infra/local/prefect-server.sh stop

## the project-local PostGIS (data under $(STATE)/postgres; ESDL_DATABASE_URL selects an external one instead)
db-up: install
	$(BIN)/esdl db up

db-down:
	@if [ -x $(BIN)/esdl ]; then $(BIN)/esdl db down; fi

## register every deployment of deployments/prefect.yaml on the local server (its work pool first), and the
## automations of deployments/automations.yaml (a worker started by hand needs PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30
## for them; `esdl up` sets it)
deployments: server-start
	PREFECT_API_URL=http://127.0.0.1:$(PREFECT_PORT)/api $(BIN)/prefect work-pool create esdl-local --type process --overwrite
	PREFECT_API_URL=http://127.0.0.1:$(PREFECT_PORT)/api $(BIN)/prefect work-pool set-concurrency-limit esdl-local 2
	PREFECT_API_URL=http://127.0.0.1:$(PREFECT_PORT)/api $(BIN)/prefect --no-prompt deploy --all \
	  --prefect-file deployments/prefect.yaml
	PREFECT_API_URL=http://127.0.0.1:$(PREFECT_PORT)/api $(BIN)/python -m esdl.automations

## start the local stack (`esdl up`: PostGIS, Prefect server, work pool and deployments, a process worker,
## esdl serve), then build the demo cube from real sample data as a Prefect flow run on that server, verify it,
## and load it into the catalogue with zonal statistics over a few seas and warm-water features
demo: install
	$(BIN)/esdl up --prefect-port $(PREFECT_PORT)
	PREFECT_API_URL=http://127.0.0.1:$(PREFECT_PORT)/api $(BIN)/esdl cube build cubes/specs/demo.yaml \
	  --catalog --regions cubes/specs/demo-regions.geojson --features "sst:>=300"
	$(BIN)/esdl cube verify out/esdl-demo.zarr
	$(BIN)/esdl catalog list
	@echo "Prefect UI (operations console): http://127.0.0.1:$(PREFECT_PORT)  — stop everything with '$(BIN)/esdl down'"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

test: lint typecheck unit

down:
	@if [ -x $(BIN)/esdl ]; then $(BIN)/esdl down --prefect-port $(PREFECT_PORT); fi

clean: down db-down
	rm -rf $(STATE) out .pytest_cache .mypy_cache .ruff_cache
