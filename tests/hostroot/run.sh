#!/bin/bash
# run.sh - run test levels on another Debian release's host, inside this machine: a Debian
# root filesystem (debootstrap, cached), entered with its own mount, pid and uts namespaces and
# pivot_root, with this checkout bound on /src. Proves "passes on a Debian 13 host" from a
# Debian 12 one (make test-debian13-host).
#
#   tests/hostroot/run.sh              run $LEVELS inside, print make test's summary, exit 0 if green
#   tests/hostroot/run.sh --shell      an interactive shell inside instead (debugging)
#   tests/hostroot/run.sh --run CMD... CMD inside, in /src with the venv made (one test file:
#                                      --run build/venv-trixie/bin/python -m pytest tests/x.py)
#   tests/hostroot/run.sh --rebuild    debootstrap again, then run
#
# Environment:
#   SUITE      Debian suite of the root filesystem (default trixie)
#   LEVELS     make targets to run inside (default "unit supervisor cluster")
#   CACHE_DIR  where the root filesystem is kept (default /var/cache/pacemaker_docker), one
#              directory per suite and architecture; debootstrap's .debs are shared with
#              image/base-image.sh
#   MIRROR     Debian mirror (default: image/base-image.sh's choice for $SUITE)
#
# Inside: the packages the levels need are installed by deps/host-deps.sh (the one list,
# deps/host-packages.txt), the venv is build/venv-$SUITE (not the host's .venv), CI=true so a
# missing prerequisite fails, and JUnit results go to build/test-results-$SUITE.
#
# Why pivot_root and not chroot: the harness enters its hosts with `nsenter -m`, which puts a
# process at the mount namespace's real root, outside any chroot. And iproute2 (`ip netns`)
# needs / to be a mount point: the root filesystem is bind-mounted onto itself first.
# /proc/sysrq-trigger is masked here as well as in every harness host (host_init.sh).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
SUITE=${SUITE:-trixie}
LEVELS=${LEVELS:-unit supervisor cluster}
CACHE_DIR=${CACHE_DIR:-/var/cache/pacemaker_docker}
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
ROOT=$CACHE_DIR/hostroot-$SUITE-$ARCH
STAMP=.pacemaker_docker-hostroot # in the root filesystem: it is complete
# The make targets that run inside and the host-deps.sh groups they need.
GROUPS_INSIDE="venv $LEVELS"

say() { printf 'hostroot: %s\n' "$*"; }
die() { printf 'hostroot: error: %s\n' "$*" >&2; exit 1; }

# --- stage 3: inside the root filesystem (PID 1 of its pid namespace, / = the rootfs) --------
inside() { # --shell, --run CMD... or nothing
    hostname "$SUITE-host"
    cd /src
    # shellcheck disable=SC2086 # a list of groups
    deps/host-deps.sh $GROUPS_INSIDE
    if [ "${1:-}" = --shell ]; then
        say "$(sed -n 's/^PRETTY_NAME="\(.*\)"/\1/p' /etc/os-release); exit to leave"
        bash -i || true
        exit 0
    fi
    export VENV=build/venv-$SUITE CI=true JUNIT_DIR=/src/build/test-results-$SUITE
    make --no-print-directory venv
    if [ "${1:-}" = --run ]; then
        shift
        # Not exec: bash stays PID 1 and reaps orphans as a host's init does (a process that
        # left a harness host's pid namespace as a zombie would keep that namespace alive).
        "$@"
        exit $?
    fi
    # shellcheck disable=SC2086 # LEVELS is a list of make targets
    "$VENV/bin/python" -m tests.levels $LEVELS
}

# --- stage 2: in new mount/pid/uts namespaces, still on the host's / --------------------------
enter() { # root, then stage 3's arguments
    local r=$1
    shift
    mount --make-rprivate /
    mount --bind "$r" "$r" # / must be a mount point after pivot_root (ip netns)
    mount -t proc -o nosuid,nodev,noexec proc "$r/proc"
    # libcrmcommon may write to sysrq-trigger: never reboot this machine from a test.
    local f v
    for f in sysrq-trigger sys/kernel/sysrq; do
        [ -e "$r/proc/$f" ] && mount --bind /dev/null "$r/proc/$f"
    done
    mount --rbind /sys "$r/sys"
    mount --rbind /dev "$r/dev"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$r/dev/pts"
    mount --bind "$r/dev/pts/ptmx" "$r/dev/ptmx"
    mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$r/dev/shm"
    mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs "$r/run"
    mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$r/tmp"
    mkdir -p "$r/src"
    mount --bind "$TOP" "$r/src"
    cp /etc/resolv.conf "$r/etc/resolv.conf" # apt and pip use this machine's network
    # ... and the CA bundle this machine's pip trusts (a TLS-intercepting proxy's, say).
    local ca pip_env=()
    for ca in "${PIP_CERT:-}" "${REQUESTS_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}"; do
        [ -n "$ca" ] && [ -r "$ca" ] || continue
        cp "$ca" "$r/run/host-ca.crt"
        pip_env+=(PIP_CERT=/run/host-ca.crt)
        break
    done
    for v in PIP_INDEX_URL PIP_EXTRA_INDEX_URL http_proxy https_proxy no_proxy; do
        [ -n "${!v:-}" ] && pip_env+=("$v=${!v}")
    done
    mkdir -p "$r/.oldroot"
    cd "$r"
    pivot_root . .oldroot
    cd /
    umount -l /.oldroot
    rmdir /.oldroot
    # Nothing of the host's environment leaks in but what the levels need.
    exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 SUITE="$SUITE" LEVELS="$LEVELS" \
        PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT="${PIP_DEFAULT_TIMEOUT:-60}" \
        ${FUZZ_EXAMPLES:+FUZZ_EXAMPLES=$FUZZ_EXAMPLES} ${PD_KEEP:+PD_KEEP=$PD_KEEP} "${pip_env[@]}" \
        /bin/bash /src/tests/hostroot/run.sh --inside "$@"
}

# --- stage 1: on the host ---------------------------------------------------------------------
build_rootfs() {
    local mirrors mirror security updates work=$ROOT.tmp.$$
    mirrors=$(export SUITE; BASE_IMAGE="debian:$SUITE-slim" "$TOP/image/base-image.sh" --print)
    mirror=${MIRROR:-$(sed -n 's/.* mirror=\([^ ]*\).*/\1/p' <<<"$mirrors")}
    security=$(sed -n 's/.* security=\([^ ]*\).*/\1/p' <<<"$mirrors")
    updates=$(sed -n 's/.* updates=\([^ ]*\).*/\1/p' <<<"$mirrors")
    [ -n "$mirror" ] || die "no Debian mirror for '$SUITE' (set MIRROR=)"
    rm -rf --one-file-system "$work"
    mkdir -p "$CACHE_DIR/debs" "$work"
    local keyring=()
    [ -r /usr/share/keyrings/debian-archive-keyring.gpg ] &&
        keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    say "debootstrap --variant=minbase $SUITE from $mirror into $ROOT (log: $work.log)"
    if ! debootstrap --variant=minbase --arch="$ARCH" --components=main "${keyring[@]}" \
        --include=make,ca-certificates --cache-dir="$CACHE_DIR/debs" \
        "$SUITE" "$work" "$mirror" >"$work.log" 2>&1; then
        tail -n 30 "$work.log" >&2
        die "debootstrap failed"
    fi
    rm -f "$work/etc/apt/sources.list"
    {
        printf 'Types: deb\nURIs: %s\nSuites: %s%s\nComponents: main\n' \
            "$mirror" "$SUITE" "${updates:+ $SUITE-updates}"
        printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        if [ -n "$security" ] && [ "$security" != none ]; then
            printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' \
                "$security" "$SUITE"
            printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        fi
    } >"$work/etc/apt/sources.list.d/debian.sources"
    # Without systemd, invoke-rc.d would start corosync and pacemaker from their init scripts
    # when installed: forbid it (as in Debian's container images).
    printf '#!/bin/sh\nexit 101\n' >"$work/usr/sbin/policy-rc.d"
    chmod 0755 "$work/usr/sbin/policy-rc.d"
    touch "$work/$STAMP"
    rm -rf --one-file-system "$ROOT"
    mv "$work" "$ROOT"
    rm -f "$work.log"
}

case ${1:-} in
--inside) shift; inside "$@"; exit ;;
--enter) shift; enter "$@"; exit ;;
esac

rebuild=0 args=()
case ${1:-} in
'') ;;
--shell) args=(--shell) ;;
--run)
    [ $# -gt 1 ] || { printf 'hostroot: error: --run needs a command\n' >&2; exit 2; }
    args=("$@")
    ;;
--rebuild) rebuild=1 ;;
-h | --help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
*) printf 'hostroot: error: unknown option %s (see --help)\n' "$1" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, namespaces, pivot_root)"
command -v debootstrap >/dev/null 2>&1 || "$TOP/deps/host-deps.sh" debootstrap
for c in debootstrap unshare pivot_root; do
    command -v "$c" >/dev/null 2>&1 || die "$c missing (apt-get install debootstrap util-linux)"
done
if [ "$rebuild" = 1 ] || ! [ -e "$ROOT/$STAMP" ]; then
    build_rootfs
else
    say "using $ROOT"
fi
say "entering $SUITE: ${args[*]:-make $LEVELS}"
# --kill-child: if this script is killed, the pid namespace and every test process go with it.
exec unshare --mount --uts --pid --fork --kill-child -- "$0" --enter "$ROOT" "${args[@]}"
