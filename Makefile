# pacemaker_docker. `make help` lists the targets.
VENV    ?= .venv
PYTHON  ?= $(VENV)/bin/python
PYTEST  ?= $(PYTHON) -m pytest
RUFF    ?= $(VENV)/bin/ruff
MYPY    ?= $(VENV)/bin/mypy
PYTEST_FLAGS ?= -q -ra
# tests/levels.py sets JUNIT_DIR to count each level's results for its summary.
PYTEST_JUNIT = $(if $(JUNIT_DIR),--junitxml=$(JUNIT_DIR)/$@.xml)
SOAK_JUNIT = $(if $(JUNIT_DIR),--junit $(JUNIT_DIR)/$@.xml)
# Debian's python3, so that tests run on the Python the image runs; any python3 elsewhere.
HOST_PYTHON ?= $(shell [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)
HOST_DEPS := deps/host-deps.sh
# A+B: levels run at the same time (tests/levels.py), for make test's time on 2 cores: the
# unit, supervisor and agents levels measure nothing and share nothing but the CPUs.
LEVELS := lint unit+supervisor+agents cluster image-test image-test-bookworm bench-quick soak-quick
# Tests find hadolint, shellcheck & co. from the venv.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help venv test host-deps-test lint typecheck format unit supervisor cluster agents image-test \
	image-test-bookworm bench bench-quick bench-booth soak soak-quick clean test-debian13-host \
	test-database test-bundles-bookworm demo-db demo-db-down

include image/image.mk

help:
	@echo "make demo        build the image and bring up a 3-node demo cluster (needs dockerd)"
	@echo "make test        installs what it needs (root, Debian), runs every level, sums up"
	@echo "make unit | supervisor | cluster | agents | image-test | image-test-bookworm   one level"
	@echo "make test-database [DB_RUNS=N] [BASE_IMAGE=debian:bookworm-slim]   the PostgreSQL bundle's failovers"
	@echo "make test-bundles-bookworm   the bundles across three hosts on Debian 12 (not in make test)"
	@echo "make demo-db     the PostgreSQL bundle on three Docker hosts made here (root); demo-db-down"
	@echo "make bench       formation, failover, stop, footprint, image sizes -> docs/benchmarks.md"
	@echo "make soak        seeded random faults on 5 nodes (SOAK_SECONDS, SOAK_SEED, SOAK_FENCING=off|ipmi)"
	@echo "make test-debian13-host   unit, supervisor, cluster inside a Debian 13 root filesystem"
	@echo "make lint | typecheck | format | bench-quick | bench-booth | soak-quick | image | image-bundle | export | demo-down | clean"

# A venv whose pip install failed is removed: else its python would count as done next time.
$(PYTHON):
	$(HOST_DEPS) venv
	$(HOST_PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]' || { rm -rf $(VENV); exit 1; }

venv: $(PYTHON)

# Every level, each in its own make, then one summary (tests/levels.py). What a level needs
# is installed first when root on Debian; elsewhere a missing prerequisite skips with a line
# that says how to install it, and fails in CI (CI=true).
test: $(PYTHON)
	$(HOST_DEPS) test
	$(PYTHON) -m tests.levels $(LEVELS)

# The unit, supervisor and cluster levels on a Debian 13 host (pacemaker 3.0, Python 3.13)
# from any Debian host: a cached trixie root filesystem, entered with pivot_root (root only).
# Not part of `make test` (it takes its own install and venv).
test-debian13-host:
	SUITE=trixie tests/hostroot/run.sh

# Every host package of every level (deps/host-packages.txt), without running anything.
host-deps-test:
	$(HOST_DEPS) test

lint: $(PYTHON) $(MYPY)
	$(RUFF) check .
	$(RUFF) format --check .
	$(MYPY)
	$(VENV)/bin/hadolint Dockerfile examples/postgresql/Dockerfile
	$(VENV)/bin/shellcheck image/*.sh deps/*.sh tests/harness/*.sh tests/hostroot/*.sh .ci/run \
		image/pacemaker-gate examples/postgresql/pgbundle examples/postgresql/pgsqlms examples/postgresql/bin/pacemakerd

format: $(PYTHON)
	$(RUFF) format .
	$(RUFF) check --fix .

# The launcher's type hints (mypy, configured in pyproject.toml), checked by lint too. A
# venv made before mypy was a test requirement gets it here.
$(MYPY): $(PYTHON)
	$(VENV)/bin/pip install -q -e '.[test]'

typecheck: $(MYPY)
	$(MYPY)

unit: $(PYTHON)
	$(HOST_DEPS) unit
	$(PYTEST) $(PYTEST_FLAGS) $(PYTEST_JUNIT) tests/unit tests/fence

# Our resource agents against a local EC2-compatible API (moto), ocf-tester, a real cluster.
agents: $(PYTHON)
	$(HOST_DEPS) agents
	$(PYTEST) $(PYTEST_FLAGS) $(PYTEST_JUNIT) tests/agents

supervisor: $(PYTHON)
	$(HOST_DEPS) supervisor
	$(PYTEST) $(PYTEST_FLAGS) $(PYTEST_JUNIT) tests/supervisor

cluster: $(PYTHON)
	$(HOST_DEPS) cluster
	$(PYTEST) $(PYTEST_FLAGS) $(PYTEST_JUNIT) tests/cluster

image-test: $(PYTHON) image
	$(HOST_DEPS) compose image-test
	$(PYTEST) $(PYTEST_FLAGS) $(PYTEST_JUNIT) tests/image

# The image on the other Debian base (Debian 12, Pacemaker 2.1, which running clusters still
# use): its build, a standalone node, the 3-node compose cluster and fencing. The tests build
# pacemaker_docker:bookworm themselves (tests/image/conftest.py). Bundles across hosts on
# this base: make test-bundles-bookworm (below), and the database: make test-database
# BASE_IMAGE=debian:bookworm-slim; both outside make test, for its time (about 2.5 min).
OTHER_BASE_IMAGE ?= debian:bookworm-slim
image-test-bookworm: $(PYTHON) engine
	$(HOST_DEPS) compose
	BASE_IMAGE=$(OTHER_BASE_IMAGE) IMAGE= $(PYTEST) $(PYTEST_FLAGS) $(PYTEST_JUNIT) \
		tests/image/test_image.py tests/image/test_standalone.py tests/image/test_compose.py \
		tests/image/test_fencing.py tests/image/test_membership.py tests/image/test_booth_refused.py

# The stateless bundles across three hosts (both network modes) on the other base.
test-bundles-bookworm: $(PYTHON) engine
	BASE_IMAGE=$(OTHER_BASE_IMAGE) IMAGE= $(PYTEST) $(PYTEST_FLAGS) \
		tests/image/test_bundle_hosts.py -k "not database"

# The PostgreSQL bundle of tests/image/test_bundle_hosts.py alone, DB_RUNS times in a row
# (each on fresh hosts), on BASE_IMAGE's base (make test runs it once, on the default base):
# power cut and docker stop of the primary's node, every acknowledged commit checked, the
# write outages printed with the image-level measurements.
DB_RUNS ?= 1
test-database: $(PYTHON) engine
	for i in $$(seq $(DB_RUNS)); do \
		echo "== database run $$i of $(DB_RUNS)"; \
		$(PYTEST) $(PYTEST_FLAGS) tests/image/test_bundle_hosts.py -k database || exit 1; \
	done

# The README's database recipe on three Docker hosts made on this machine (network
# namespaces, a dockerd each: tests/image/engines.py), kept by a background process until
# demo-db-down; demo/db.py prints how to try a power cut and a switchover. Root only.
demo-db: $(PYTHON) image
	$(HOST_DEPS) engine demo-db
	$(PYTHON) -m demo.db up

demo-db-down: $(PYTHON)
	$(PYTHON) -m demo.db down

# Compiled bytecode first: start-up figures must not include compiling our modules.
# Every image variant is built (or found up to date) first so that its size is reported too
# (bench/images.py: sizes and largest packages of each, its own section of docs/benchmarks.md).
bench: $(PYTHON) image-variants
	$(HOST_DEPS) bench
	$(PYTHON) -m compileall -q pcmk_launch
	$(PYTHON) -m bench.run
	$(PYTHON) -m bench.images

# One repetition, 3 nodes: keeps the benchmark code working; figures are not asserted. Image
# sizes of the variants that exist (none is built here).
bench-quick: $(PYTHON)
	$(HOST_DEPS) bench
	$(PYTHON) -m compileall -q pcmk_launch
	$(PYTHON) -m bench.run --quick --no-docs
	$(PYTHON) -m bench.images --no-docs

# Multi-site ticket failover on a real engine (tests/image/test_booth.py: two sites and an
# arbitrator on separate networks): the time a site's loss takes to move a ticket, beside the
# configured expire, printed in the image-level measurements. Also part of image-test.
bench-booth: $(PYTHON) engine
	$(HOST_DEPS) compose
	$(PYTEST) $(PYTEST_FLAGS) tests/image/test_booth.py

# Seeded random faults on 5 namespace nodes (tests/soak): faults by type, convergence times
# and violations -> docs/soak.md (one section per fencing mode) and docs/soak-<mode>.json.
# Replay a run with its SOAK_SEED and SOAK_FENCING.
# SOAK_SEED=262118 draws every fault type within its first 11 steps (tests/unit/test_soak.py),
# about 5 min: the seed of the committed 600 s runs.
# SOAK_FENCING=ipmi: fence_ipmilan against one ipmi_sim BMC per node; duplicates of the VIP
# then fail the run (off: they are measured).
SOAK_SECONDS ?= 600
SOAK_SEED ?= 1
SOAK_FENCING ?= off
SOAK_DEPS = cluster $(if $(filter ipmi,$(SOAK_FENCING)),soak)
soak: $(PYTHON)
	$(HOST_DEPS) $(SOAK_DEPS)
	$(PYTHON) -m tests.soak.run --seconds $(SOAK_SECONDS) --seed $(SOAK_SEED) \
		--fencing $(SOAK_FENCING) --json docs/soak-$(SOAK_FENCING).json --md docs/soak.md

# A short run (about 1.5 minutes, part of `make test`: setup and each fault step count as one
# test, failed by any violation; seed 1 draws kill_corosync, link_flap and partition_carrier
# in its first 60 s); its report stays in build/.
soak-quick: $(PYTHON)
	$(HOST_DEPS) $(SOAK_DEPS)
	$(PYTHON) -m tests.soak.run --seconds 60 --seed $(SOAK_SEED) $(SOAK_JUNIT) \
		--fencing $(SOAK_FENCING) --json build/soak-quick.json --md build/soak-quick.md

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
