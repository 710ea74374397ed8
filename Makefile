# jupyter-sandbox developer tasks. `make test` or `make lab` work as the first command on a
# fresh clone: each installs and warms up what it needs first (quickly when already done).
#
# The package is installed non-editably (hatchling's `sources` mapping rules out editable
# installs), so `make test` and `make bench` first reinstall it from the current sources.
# A venv whose jupyter_sandbox is a linked development install (its runtime/ is a symlink
# into this tree) already runs the current sources: it is left as it is.

PYTHON ?= python3
VENV ?= .venv
VENV_PYTHON := $(VENV)/bin/python
PIP := $(VENV_PYTHON) -m pip --disable-pip-version-check
PYTEST_ARGS ?=

# One compiled-module cache per checkout (compiling takes about a minute; never delete it).
JUPYTER_SANDBOX_CACHE_DIR ?= $(CURDIR)/.cache/jupyter-sandbox
export JUPYTER_SANDBOX_CACHE_DIR

# Prints "yes" when the venv's jupyter_sandbox is a symlinked development install.
LINKED = $(shell test -x $(VENV_PYTHON) && $(VENV_PYTHON) -c 'import pathlib, sysconfig; p = pathlib.Path(sysconfig.get_paths()["purelib"], "jupyter_sandbox", "runtime"); print("yes" if p.is_symlink() else "no")' 2>/dev/null)

.PHONY: help venv install reinstall warmup lab lint test bench clean

# Set once the venv holds jupyter-sandbox with its test extras; redone when pyproject.toml or
# the labextension's lock file changes. `make install` always reinstalls.
INSTALLED := $(VENV)/.jupyter-sandbox-installed
# The labextension's node packages (its build, and playwright-core for the browser tests).
NODE_MODULES := labextension/node_modules/.package-lock.json
# configurable-http-proxy, the proxy of the JupyterHub tests (tests/hub/).
HUB_NODE_MODULES := tests/hub/node_modules/.package-lock.json

help:
	@echo "make venv       create $(VENV) with $(PYTHON) -m venv"
	@echo "make install    install jupyter-sandbox with its test extras into $(VENV)"
	@echo "make warmup     compile the guest interpreter into the cache and run 1+1"
	@echo "make lab        install, warm up, then start JupyterLab on examples/ with the kernel ready"
	@echo "make lint       ruff, mypy, and the labextension's prettier and eslint checks"
	@echo "make test       install and warm up if needed, reinstall from the current sources, lint, run pytest"
	@echo "make bench      the same, then run every benchmark in bench/"
	@echo "make clean      remove build output and test caches (keeps $(VENV) and .cache/)"

venv: $(VENV_PYTHON)

$(VENV_PYTHON):
	$(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --quiet --upgrade 'pip>=23.3'

install: venv $(NODE_MODULES) $(HUB_NODE_MODULES)
ifeq ($(LINKED),yes)
	@echo "$(VENV) has a linked development install of jupyter_sandbox: not reinstalling it."
else
	$(PIP) install hatchling hatch-jupyter-builder
	$(PIP) install '.[test]'
endif
	touch $(INSTALLED)

$(INSTALLED): pyproject.toml labextension/package-lock.json | $(VENV_PYTHON)
	$(MAKE) install

$(NODE_MODULES): labextension/package-lock.json
	cd labextension && npm ci --no-audit --no-fund

$(HUB_NODE_MODULES): tests/hub/package-lock.json
	cd tests/hub && npm ci --no-audit --no-fund

# Quick: no dependency resolution, no isolated build env (hatchling is in the venv).
reinstall: $(INSTALLED)
ifeq ($(LINKED),yes)
	@echo "$(VENV) has a linked development install: it runs the current sources already."
else
	$(PIP) install --quiet --no-deps --force-reinstall --no-build-isolation .
endif

warmup: $(INSTALLED)
	$(VENV)/bin/jupyter-sandbox warmup

# One command from a fresh clone to JupyterLab with Sandboxed Python ready.
lab: warmup
	$(PIP) install --quiet 'jupyterlab>=4.2'
	$(VENV)/bin/jupyter lab examples/ $(if $(filter 0,$(shell id -u)),--allow-root,)

# Linters and the type checker (configured in pyproject.toml and labextension/package.json),
# run before the tests. mypy checks the installed package, the sources as jupyter_sandbox.*,
# hence after reinstall.
lint: reinstall $(NODE_MODULES)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	cd labextension && npm run --silent lint:check

# The test command. pytest's own bin, not `python -m pytest`, so the working directory is
# not put on sys.path; pytest runs in importlib mode (pyproject.toml) for the same reason.
test: lint reinstall warmup $(HUB_NODE_MODULES)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: reinstall warmup
	$(PIP) install --quiet dill   # the snapshot benchmark's native reference
	$(VENV_PYTHON) bench/bench_runtime.py
	$(VENV_PYTHON) bench/bench_kernel.py
	$(VENV_PYTHON) bench/bench_notebook_kernel_start.py
	$(VENV_PYTHON) bench/bench_snapshots.py
	$(VENV_PYTHON) bench/bench_service.py
	$(VENV_PYTHON) bench/bench_service_lifecycle.py
	$(VENV_PYTHON) bench/bench_previews.py
	$(VENV_PYTHON) bench/bench_network.py
	$(VENV_PYTHON) bench/bench_processes.py
	$(VENV_PYTHON) bench/bench_notebooks.py --jobs 2

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache test-artifacts
	find . \( -path ./$(VENV) -o -path ./.git -o -path ./.cache \) -prune -o -type d -name __pycache__ -exec rm -rf {} +
