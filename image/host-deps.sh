#!/bin/bash
# host-deps.sh - install the Debian packages `make image` and `make demo` need on this host,
# when they are missing (a fresh machine has at most a docker client): the engine, debootstrap
# for the local base image, and docker-compose for the demo. Idempotent; needs root to install.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
    need+=(docker-compose)
fi
[ "${#need[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "host-deps.sh: error: run as root to apt-get install ${need[*]}" >&2
    exit 1
fi
echo "host-deps.sh: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
