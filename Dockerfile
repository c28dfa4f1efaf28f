# Pacemaker/Corosync HA stack; PID 1 is the pcmk-launch supervisor (pcmk_launch/).
#
#   image/engine.sh && image/base-image.sh && docker build -t pacemaker_docker:latest .
#   (or `make image`)
#
# Build arguments:
#   BASE_IMAGE      Debian base: debian:trixie-slim (Debian 13, Pacemaker 3.0; the default) or
#                   debian:bookworm-slim (Debian 12, Pacemaker 2.1). image/base-image.sh pulls it,
#                   or makes it locally with debootstrap when no registry is reachable
#   EXTRA_PACKAGES  more apt packages, e.g. "fence-agents crmsh" (fence-agents: ~100 MB)
#   ROLE, PORTS     cluster (default), remote (Pacemaker Remote node) or arbitrator (booth)
#                   and its EXPOSEd ports (`make image-remote`, `make image-arbitrator` set both)
#   DOCKER_CLI      1: include the docker CLI (Debian's docker-cli or docker.io, binary only);
#                   0: leave it out (`make image-remote` does, unless DOCKER_CLI=1 is given)
#   CLOUD           1: the cloud variant, one more layer with boto3 (ocf:pcmk-docker:cloud-vip)
#                   and fence_aws where the release has it (`make image CLOUD=1`:
#                   pacemaker_docker:cloud); 0 (default): without them
#   VERSION, REVISION, SOURCE: OCI labels (the Makefile fills them in)
# Local inputs:
#   image/debs/*.deb           installed together with the Debian packages
#   image/apt-sources/*.list|*.sources|*.pref|*.gpg|*.asc   extra apt sources, pins and keys
#
# Deliberately BuildKit-free (no RUN --mount, no heredocs, no syntax directive, which would
# make BuildKit fetch a frontend image from a registry): the classic builder of Debian's
# docker.io 20.10 and docker-compose v1 can build it.

ARG BASE_IMAGE=debian:trixie-slim

# --- docker CLI only: installing docker.io would bring the daemon, containerd and runc
# (~265 MB), so take just /usr/bin/docker out of the .deb: docker-cli's where that package
# exists (Debian 13), docker.io's otherwise (Debian 12 ships the client inside docker.io).
FROM ${BASE_IMAGE} AS docker-cli
ARG DOCKER_CLI=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /tmp/docker-cli
RUN mkdir -p /out \
    && if [ "$DOCKER_CLI" = 1 ]; then \
        apt-get update \
        && pkg=docker.io \
        && if apt-cache show docker-cli >/dev/null 2>&1; then pkg=docker-cli; fi \
        && apt-get download "$pkg" \
        && dpkg-deb --fsys-tarfile "$pkg"_*.deb | tar -xO ./usr/bin/docker >/out/docker \
        && chmod 0755 /out/docker \
        && /out/docker --version \
        && rm -rf /var/lib/apt/lists/* ./*.deb; \
    fi

# --- the image (stage `stack`: everything but the volumes, see the end)
FROM ${BASE_IMAGE} AS stack
ARG EXTRA_PACKAGES=""
# cluster: a full node (corosync + pacemaker, booth for multi-site); remote: a Pacemaker Remote
# node (pacemaker-remoted, `make image-remote`); arbitrator: boothd alone (`make
# image-arbitrator`). Its package list: image/packages/$ROLE.txt.
ARG ROLE=cluster
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

COPY image/apt-sources/ /tmp/apt-sources/
COPY image/debs/ /tmp/debs/
COPY image/packages/ /tmp/packages/
COPY image/apt-install.sh /tmp/apt-install.sh

# Versions come from the Debian release (plus image/apt-sources), not from pins here.
# image/apt-install.sh installs image/packages/$ROLE.txt and, where the release has them,
# $ROLE-where-available.txt, with empty stubs for what they depend on but nothing here uses
# (image/packages/stubs.txt) and no documentation, manual pages or translations.
# Debian's pacemaker packages generate a random /etc/pacemaker/authkey at install: baked into
# the image it would be the same Pacemaker Remote key for everyone who pulls it, so it goes.
# boothd changes into cluster-glue's core directory at start, and every member's booth.conf
# names the sites' user (hacluster), which the arbitrator image has no package to create.
RUN shopt -s nullglob \
    && mkdir -p /etc/apt/keyrings \
    && for f in /tmp/apt-sources/*.list /tmp/apt-sources/*.sources; do \
        install -m 0644 "$f" /etc/apt/sources.list.d/; done \
    && for f in /tmp/apt-sources/*.pref; do install -m 0644 "$f" /etc/apt/preferences.d/; done \
    && for f in /tmp/apt-sources/*.gpg /tmp/apt-sources/*.asc; do \
        install -m 0644 "$f" /etc/apt/keyrings/; done \
    && EXTRA_PACKAGES="$EXTRA_PACKAGES" bash /tmp/apt-install.sh "$ROLE" \
    && rm -f /etc/pacemaker/authkey \
    && mkdir -p /var/lib/heartbeat/cores \
    && if [ "$ROLE" = arbitrator ] && ! getent passwd hacluster >/dev/null; then \
        groupadd -r haclient && useradd -r -g haclient -d /var/lib/booth -s /usr/sbin/nologin \
            hacluster; \
    fi \
    && rm -rf /tmp/apt-sources /tmp/debs /tmp/packages /tmp/apt-install.sh

COPY --from=docker-cli /out/ /usr/local/bin/

# The launcher, installed without pip: Debian's python3-* packages provide its dependencies.
COPY defaults/corosync.conf /etc/corosync/corosync.conf
# Read by ha_cluster_exporter at its default path: present, so it does not warn at every start.
COPY image/ha_cluster_exporter.web.yaml /etc/ha_cluster_exporter.web.yaml
COPY image/pcmk-launch /usr/sbin/pcmk-launch
COPY pcmk_launch/ /usr/lib/python3/dist-packages/pcmk_launch/
RUN chmod 0755 /usr/sbin/pcmk-launch \
    && python3 -m compileall -q /usr/lib/python3/dist-packages/pcmk_launch \
    && python3 -c 'import pcmk_launch; print("pcmk_launch", pcmk_launch.__version__)'

# Start order for Pacemaker's daemons (image/pacemaker-gate, a full node only): the fencer, the
# attribute manager and the controller wait until the daemons they connect to first listen,
# instead of failing once and retrying a second later. The real daemons move to gated/.
COPY image/pacemaker-gate /usr/libexec/pcmk-launch/pacemaker-gate
RUN chmod 0755 /usr/libexec/pcmk-launch/pacemaker-gate \
    && if [ "$ROLE" = cluster ]; then \
        mkdir /usr/lib/pacemaker/gated \
        && for d in $(/usr/libexec/pcmk-launch/pacemaker-gate --gated); do \
            dpkg-divert --local --rename --divert "/usr/lib/pacemaker/gated/$d" \
                --add "/usr/lib/pacemaker/$d" \
            && ln -s /usr/libexec/pcmk-launch/pacemaker-gate "/usr/lib/pacemaker/$d"; \
        done; \
    fi

# Fence agent for containerised nodes (agents/fence_docker_api/): kills a node's container
# through the Docker Engine API. Pacemaker looks for fence agents as /usr/sbin/fence_*.
COPY agents/fence_docker_api/fence_docker_api.py /usr/sbin/fence_docker_api
RUN chmod 0755 /usr/sbin/fence_docker_api && fence_docker_api -o metadata >/dev/null

# Cloud VIP agent (agents/cloud-vip/): ocf:pcmk-docker:cloud-vip moves a VIP through an
# EC2-compatible API. It needs boto3, which only the cloud variant has (CLOUD=1 below);
# without it the agent reports "not installed" (OCF_ERR_INSTALLED), naming that variant.
COPY agents/cloud-vip/cloud-vip /usr/lib/ocf/resource.d/pcmk-docker/cloud-vip
RUN chmod 0755 /usr/lib/ocf/resource.d/pcmk-docker/cloud-vip \
    && /usr/lib/ocf/resource.d/pcmk-docker/cloud-vip meta-data >/dev/null

# --- the cloud variant (CLOUD=1; `make image CLOUD=1` tags it pacemaker_docker:cloud): one
# more layer on top of everything above, which it shares with the plain image: a host that
# has both stores the rest once, and pulls only this layer for the second.
# image/packages/cloud.txt (python3-boto3, for cloud-vip) and $ROLE-cloud-where-available.txt
# (fence_aws); cloud.dpkg.cfg keeps botocore to the API models they use (~15 of ~105 MB).
# CLOUD=0: an empty layer.
ARG CLOUD=0
COPY image/packages/ /tmp/packages/
COPY image/apt-install.sh /tmp/apt-install.sh
RUN if [ "$CLOUD" = 1 ]; then \
        EXTRA_PACKAGES='' bash /tmp/apt-install.sh cloud "$ROLE-cloud" \
        && python3 -c 'import boto3, botocore'; \
    fi \
    && rm -rf /tmp/packages /tmp/apt-install.sh

ENV LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PCMK_ROLE=${ROLE}

# cluster: corosync knet/udpu, ha_cluster_exporter's Prometheus endpoint (PCMK_METRICS=on);
# remote: pacemaker-remoted (image/image.mk sets PORTS=3121/tcp for image-remote)
ARG PORTS="5405/udp 9664/tcp"
EXPOSE ${PORTS}

STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/sbin/pcmk-launch", "health"]
ENTRYPOINT ["/usr/sbin/pcmk-launch"]

# Last, so that changing them does not invalidate the cached layers above.
ARG BASE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=""
ARG SOURCE=""
LABEL org.opencontainers.image.title="pacemaker_docker" \
      org.opencontainers.image.description="Pacemaker/Corosync HA cluster node; PID 1 is pcmk-launch, configured by PCMK_* variables" \
      org.opencontainers.image.licenses="GPL-2.0-or-later" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"

# --- a bundle replica's base (`make image-bundle`, ROLE=remote): add a service FROM it.
# No volumes: ocf:heartbeat:docker removes a stopped replica with `docker rm` without -v, so
# every anonymous volume a replica got stays on the engine's host, two per replica start.
FROM stack AS bundle
# IPC through socket files, not abstract sockets: with network=host a replica's @lrmd and
# @cib_rw would otherwise be sockets of the host's namespace, where they collide with any
# other Pacemaker there (the host's own, a --net=host node, another replica).
RUN mkdir -p /etc/libqb && touch /etc/libqb/force-filesystem-sockets
# tini as PID 1, so that `docker stop` reaches pacemaker-remoted. The bundle's run-command
# (pacemaker-remoted) would otherwise be PID 1, and there it forks itself into a reaper that
# ignores SIGTERM: the docker agent's stop of every replica then waited out its timeout (10 s)
# and killed it, and a promotable bundle promotes only after its old replica has stopped.
# pacemaker-remoted keeps what it did as PID 1: the host's /etc/pacemaker/pcmk-init.env
# (PCMK_remote_pid1=vars) and a log file in the replica's /var/log, which is the host's
# /var/log/pacemaker/bundles/REPLICA. The run-command still goes through our entrypoint.
COPY image/packages/ /tmp/packages/
COPY image/apt-install.sh /tmp/apt-install.sh
RUN bash /tmp/apt-install.sh bundle && rm -rf /tmp/packages /tmp/apt-install.sh
ENV PCMK_remote_pid1=vars \
    PCMK_logfile=/var/log/pcmk-init.log
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/sbin/pcmk-launch"]
LABEL org.opencontainers.image.description="Base of a Pacemaker bundle's image: pacemaker-remoted (run by the bundle) under tini, filesystem IPC sockets"

# --- the node (the default target)
FROM stack
# Cluster state (CIB, policy engine inputs, corosync's ring id) outlives the container.
# /etc/corosync is NOT a volume: pcmk-launch rewrites corosync.conf on every start from the
# PCMK_* environment, and a volume would pin the first image's copy of that directory.
VOLUME ["/var/lib/pacemaker", "/var/lib/corosync"]
