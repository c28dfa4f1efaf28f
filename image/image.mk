# image.mk - container image targets. Included from the top-level Makefile:
#
#   include image/image.mk
#
#   make image       Docker engine up (image/engine.sh), base image present (image/base-image.sh),
#                    then docker build -t $(IMAGE)
#   make image-remote  the same Dockerfile as a lean Pacemaker Remote image, $(REMOTE_IMAGE)
#   make image-arbitrator  the same Dockerfile as a lean booth arbitrator, $(ARBITRATOR_IMAGE)
#   make image-bundle  the base of a bundle's image, $(BUNDLE_IMAGE): the remote image's
#                    stack without its volumes, plus libqb's filesystem sockets (the
#                    Dockerfile's `bundle` stage); add a service FROM it
#   make image-variants  all of them (full, cloud, remote, remote-cloud; full and cloud on
#                    Debian 12), as `make bench` reports them
#   make image CLOUD=1, make image-remote CLOUD=1   the cloud variants (boto3 for cloud-vip,
#                    fence_aws): the plain image plus one layer, pacemaker_docker:cloud and
#                    pacemaker_docker:remote-cloud (pacemaker_docker:<suite>-cloud on another base)
#   make export      docker save $(IMAGE) to pcmk_container_<short id>.tar
#   make demo        3-node cluster from compose.yaml (metrics on); waits until 3 nodes are online
#                    with a DC, prints the nodes' Prometheus scrape URLs;
#                    image/demo-fencing.sh turns STONITH on (one fence_docker_api per node)
#   make demo-down   remove the demo's containers, network and volumes
#
# Variables (make VAR=value):
#   BASE_IMAGE       Debian base (default: the Dockerfile's, debian:trixie-slim = Debian 13,
#                    Pacemaker 3.0); BASE_IMAGE=debian:bookworm-slim for Debian 12 / Pacemaker 2.1
#   IMAGE            image to build/use (default pacemaker_docker:latest for the default base,
#                    pacemaker_docker:<suite> for another). The default build is also tagged
#                    pacemaker_docker:<suite> (:trixie), so both bases can sit side by side.
#                    With CLOUD=1: pacemaker_docker:cloud (also :<suite>-cloud), or
#                    pacemaker_docker:<suite>-cloud for another base.
#   CLOUD            1: the cloud variant, one more layer with image/packages/cloud.txt
#                    (python3-boto3 for ocf:pcmk-docker:cloud-vip) and, on Debian 13,
#                    fence-agents-aws (image/packages/cluster-cloud-where-available.txt);
#                    0 (default): without them
#   EXTRA_PACKAGES   extra apt packages baked in, e.g. EXTRA_PACKAGES="fence-agents crmsh"
#   REMOTE_IMAGE     tag `make image-remote` builds (default pacemaker_docker:remote, with
#                    CLOUD=1 pacemaker_docker:remote-cloud): the
#                    Pacemaker Remote node (ROLE=remote: image/packages/remote.txt, TCP 3121)
#   ARBITRATOR_IMAGE tag `make image-arbitrator` builds (default pacemaker_docker:arbitrator): a
#                    booth arbitrator (ROLE=arbitrator: image/packages/arbitrator.txt, port 9929)
#   BUNDLE_IMAGE     tag `make image-bundle` builds (default pacemaker_docker:bundle, or
#                    pacemaker_docker:<suite>-bundle on another base)
#   DOCKER_CLI       1 include the docker CLI (31 MB on Debian 13, 44 MB on 12), 0 leave it
#                    out. Default: 1 for `make image`, 0 for `make image-remote` (a remote
#                    runs containers as resources, ocf:heartbeat:docker, only with DOCKER_CLI=1)
#   BUILD_FLAGS      more `docker build` flags, e.g. BUILD_FLAGS=--no-cache
#   EXPORT_DIR       where `export` writes the tarball (default .)
#   COMPOSE          compose command (default: `docker compose` if available, else docker-compose)
#   DEMO_PROJECT     compose project name (default pcmk_demo)
#   DEMO_TIMEOUT     seconds `demo` waits for the cluster (default 180)

PCMK_IMAGE_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
PCMK_TOP := $(abspath $(PCMK_IMAGE_DIR)/..)

# The default base is the Dockerfile's ARG, read from there so it is stated once.
DEFAULT_BASE_IMAGE := $(shell sed -n 's/^ARG  *BASE_IMAGE=//p' $(PCMK_TOP)/Dockerfile | head -n1)
BASE_IMAGE ?= $(DEFAULT_BASE_IMAGE)
# debian:trixie-slim -> trixie
BASE_SUITE = $(firstword $(subst -, ,$(lastword $(subst :, ,$(BASE_IMAGE)))))
CLOUD ?= 0
CLOUD_SUFFIX = $(if $(filter 1,$(CLOUD)),-cloud)
SUITE_IMAGE = pacemaker_docker:$(BASE_SUITE)$(CLOUD_SUFFIX)
# The default base's tag: latest, or cloud for the cloud variant.
DEFAULT_TAG = pacemaker_docker:$(if $(CLOUD_SUFFIX),cloud,latest)
IMAGE ?= $(if $(filter $(DEFAULT_BASE_IMAGE),$(BASE_IMAGE)),$(DEFAULT_TAG),$(SUITE_IMAGE))
DOCKER ?= docker
EXTRA_PACKAGES ?=
DOCKER_CLI ?= 1
ROLE ?= cluster
PORTS ?=
REMOTE_IMAGE ?= pacemaker_docker:remote$(CLOUD_SUFFIX)
ARBITRATOR_IMAGE ?= pacemaker_docker:arbitrator
BUNDLE_IMAGE ?= pacemaker_docker:$(if $(filter $(DEFAULT_BASE_IMAGE),$(BASE_IMAGE)),bundle,$(BASE_SUITE)-bundle)
BUILD_FLAGS ?=
EXPORT_DIR ?= .
DEMO_PROJECT ?= pcmk_demo
DEMO_TIMEOUT ?= 180
COMPOSE ?= $(shell if $(DOCKER) compose version >/dev/null 2>&1; then echo '$(DOCKER) compose'; \
	else echo docker-compose; fi)

PCMK_VERSION = $(shell sed -n 's/^__version__ *= *"\(.*\)"/\1/p' $(PCMK_TOP)/pcmk_launch/__init__.py)
PCMK_REVISION = $(shell git -C $(PCMK_TOP) describe --always --dirty 2>/dev/null)
PCMK_SOURCE = $(shell git -C $(PCMK_TOP) config --get remote.origin.url 2>/dev/null)
PCMK_COMPOSE = $(COMPOSE) -p $(DEMO_PROJECT) -f $(PCMK_TOP)/compose.yaml

.PHONY: image image-remote image-arbitrator image-bundle image-variants export demo demo-down engine base-image host-deps

# A Docker client and engine from Debian when none answers (a fresh machine); a working
# engine (Docker CE, Docker Desktop, DOCKER_HOST) is used as it is and nothing is installed.
host-deps:
	$(PCMK_TOP)/deps/host-deps.sh engine

engine: host-deps
	$(PCMK_IMAGE_DIR)/engine.sh

base-image: engine
	BASE_IMAGE='$(BASE_IMAGE)' $(PCMK_IMAGE_DIR)/base-image.sh

image: base-image
	@start=$$(date +%s); \
	$(DOCKER) build -t $(IMAGE) $(if $(filter $(DEFAULT_TAG),$(IMAGE)),-t $(SUITE_IMAGE)) \
		--build-arg BASE_IMAGE='$(BASE_IMAGE)' \
		--build-arg CLOUD='$(CLOUD)' \
		--build-arg DOCKER_CLI='$(DOCKER_CLI)' \
		--build-arg ROLE='$(ROLE)' $(if $(PORTS),--build-arg PORTS='$(PORTS)') \
		--build-arg EXTRA_PACKAGES='$(EXTRA_PACKAGES)' \
		--build-arg VERSION='$(PCMK_VERSION)' \
		--build-arg REVISION='$(PCMK_REVISION)' \
		--build-arg SOURCE='$(PCMK_SOURCE)' \
		$(BUILD_FLAGS) $(PCMK_TOP) || exit $$?; \
	echo "built $(IMAGE) ($(BASE_IMAGE)) in $$(( $$(date +%s) - start ))s:" \
		"$$($(DOCKER) image inspect -f '{{.Id}} {{.Size}}' $(IMAGE) | \
			awk '{ printf "%s, %.0f MB", substr($$1, 8, 12), $$2 / 1e6 }')"

# The remote image keeps the docker CLI out unless DOCKER_CLI is given.
REMOTE_DOCKER_CLI = $(if $(filter command line environment,$(origin DOCKER_CLI)),$(DOCKER_CLI),0)
image-remote:
	$(MAKE) --no-print-directory image ROLE=remote PORTS=3121/tcp IMAGE=$(REMOTE_IMAGE) \
		DOCKER_CLI=$(REMOTE_DOCKER_CLI)

# A booth arbitrator runs no resources: no docker CLI, no cloud variant.
image-arbitrator:
	$(MAKE) --no-print-directory image ROLE=arbitrator PORTS='9929/tcp 9929/udp' \
		IMAGE=$(ARBITRATOR_IMAGE) DOCKER_CLI=0 CLOUD=0

# A bundle's base: the remote image's layers (shared with it) and one more, without the
# remote image's volumes (the Dockerfile's `bundle` stage says why).
image-bundle:
	$(MAKE) --no-print-directory image ROLE=remote PORTS=3121/tcp IMAGE=$(BUNDLE_IMAGE) \
		DOCKER_CLI=$(REMOTE_DOCKER_CLI) BUILD_FLAGS='--target bundle $(BUILD_FLAGS)'

# Every variant `make bench` reports (bench/images.py): full, cloud, remote, remote-cloud on
# the default base, full and cloud on $(OTHER_BASE_IMAGE) (Makefile: Debian 12).
image-variants: image
	$(MAKE) --no-print-directory image CLOUD=1
	$(MAKE) --no-print-directory image-remote
	$(MAKE) --no-print-directory image-remote CLOUD=1
	$(MAKE) --no-print-directory image-arbitrator
	$(MAKE) --no-print-directory image BASE_IMAGE=$(OTHER_BASE_IMAGE)
	$(MAKE) --no-print-directory image BASE_IMAGE=$(OTHER_BASE_IMAGE) CLOUD=1

export: image
	@id=$$($(DOCKER) image inspect -f '{{.Id}}' $(IMAGE) | cut -d: -f2 | cut -c1-12) && \
	out=$(EXPORT_DIR)/pcmk_container_$$id.tar && \
	echo "docker save $(IMAGE) -> $$out" && \
	$(DOCKER) save -o $$out $(IMAGE) && chmod 0644 $$out && \
	echo "wrote $$out ($$(du -h $$out | cut -f1)); load it elsewhere with:" && \
	echo "  docker load < $$out"

demo: image
	$(PCMK_TOP)/deps/host-deps.sh compose
	IMAGE=$(IMAGE) $(PCMK_COMPOSE) up -d
	$(PCMK_IMAGE_DIR)/wait-demo.sh --nodes 3 --timeout $(DEMO_TIMEOUT) --container node1
	$(PCMK_IMAGE_DIR)/demo-fencing.sh --container node1
	@for n in node1 node2 node3; do \
		ip=$$($(DOCKER) inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' $$n); \
		echo "metrics: $$n http://$$ip:9664/metrics (Prometheus scrape target $$ip:9664)"; \
	done

demo-down: engine
	IMAGE=$(IMAGE) $(PCMK_COMPOSE) down --volumes --remove-orphans
