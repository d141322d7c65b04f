# Two entry points, each doing its own set-up in a local virtual environment (.venv):
#   make run    -> spear-bench run --algo spear --env alfworld   (extra flags: make run ARGS="--steps 2")
#   make test   -> the default test suite                          (extra flags: make test PYTEST_ARGS="-k webshop")
# Torch: on a machine whose Python already has a CUDA torch, the venv sees that torch and keeps it;
# everywhere else torch==2.13.0 (CPU) is installed first and pinned by a constraint file, so pip can
# never pick another torch (which would pull several GB of CUDA packages).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.spear-installed
ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test setup browser clean

run: $(STAMP)
	$(BIN)/spear-bench run --algo spear --env alfworld $(ARGS)

test: $(STAMP) browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(STAMP)

$(STAMP): pyproject.toml
	@set -euo pipefail; \
	if $(PYTHON) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then \
	  echo "[setup] keeping this Python's CUDA torch"; \
	  $(PYTHON) -m venv --system-site-packages $(VENV); \
	  $(PYTHON) -c "import torch; print('torch==' + torch.__version__)" > $(VENV)/constraints.txt; \
	else \
	  echo "[setup] CPU machine: installing torch==2.13.0 (CPU build)"; \
	  $(PYTHON) -m venv $(VENV); \
	  echo "torch==2.13.0" > $(VENV)/constraints.txt; \
	  $(BIN)/python -m pip install -q --disable-pip-version-check torch==2.13.0 2> >(grep -v "is ignored: it is neither" >&2); \
	fi; \
	echo "[setup] installing spear-bench and its test tools (a few minutes on first run)"; \
	PIP_CONSTRAINT=$(VENV)/constraints.txt $(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]" 2> >(grep -v "is ignored: it is neither" >&2); \
	$(BIN)/python -c "import spear_envs, spear_train, torch; print('[setup] ok: torch', torch.__version__)"; \
	touch $@

# Chromium + ChromeDriver for the browser tests (Debian packages). Installed when missing and we
# are root; otherwise the browser tests skip and say why.
browser:
	@if ! command -v chromedriver >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "[setup] installing chromium + chromium-driver for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	    || echo "[setup] could not install chromium; browser tests will skip"; \
	fi

clean:
	rm -rf $(VENV) build *.egg-info
