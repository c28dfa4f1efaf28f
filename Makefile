# pacemaker_docker. `make help` lists the targets.
VENV    ?= .venv
PYTHON  ?= $(VENV)/bin/python
PYTEST  ?= $(PYTHON) -m pytest
RUFF    ?= $(VENV)/bin/ruff
PYTEST_FLAGS ?= -q -ra
# Tests find hadolint, shellcheck & co. from the venv.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help venv test lint format unit supervisor cluster agents image-test bench bench-quick clean

include image/image.mk

help:
	@echo "make demo        build the image and bring up a 3-node demo cluster (needs dockerd)"
	@echo "make test        lint, then every test level this machine supports (CI: all)"
	@echo "make unit | supervisor | cluster | agents | image-test   one test level"
	@echo "make bench       formation, failover, stop, footprint figures -> docs/benchmarks.md"
	@echo "make lint | format | bench-quick | image | export | demo-down | clean"

$(PYTHON):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'

venv: $(PYTHON)

# Every level; each prerequisite that is missing skips on a laptop and fails in CI (CI=true).
test: lint unit supervisor cluster agents image-test bench-quick

lint: $(PYTHON)
	$(RUFF) check .
	$(RUFF) format --check .
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/shellcheck image/*.sh tests/harness/*.sh

format: $(PYTHON)
	$(RUFF) format .
	$(RUFF) check --fix .

unit: $(PYTHON)
	$(PYTEST) $(PYTEST_FLAGS) tests/unit tests/fence

# Our resource agents against a local EC2-compatible API (moto), ocf-tester, a real cluster.
agents: $(PYTHON)
	$(PYTEST) $(PYTEST_FLAGS) tests/agents

supervisor: $(PYTHON)
	$(PYTEST) $(PYTEST_FLAGS) tests/supervisor

cluster: $(PYTHON)
	$(PYTEST) $(PYTEST_FLAGS) tests/cluster

image-test: $(PYTHON) image
	$(PYTEST) $(PYTEST_FLAGS) tests/image

# Compiled bytecode first: start-up figures must not include compiling our modules.
# The image is built (or found up to date) first so that its size is reported too.
bench: $(PYTHON) image
	$(PYTHON) -m compileall -q pcmk_launch
	$(PYTHON) -m bench.run

# One repetition, 3 nodes: keeps the benchmark code working; figures are not asserted.
bench-quick: $(PYTHON)
	$(PYTHON) -m compileall -q pcmk_launch
	$(PYTHON) -m bench.run --quick --no-docs

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
