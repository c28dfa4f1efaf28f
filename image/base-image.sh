#!/bin/bash
# base-image.sh - make sure the Dockerfile's base image exists in the local engine (idempotent).
#
# The ordinary way first: an image that is present is used as it is, a missing one is pulled.
# Only when no registry answers (an offline machine), or with --rebuild, is the tag (default:
# the Dockerfile's `ARG BASE_IMAGE=` default) made locally: a minimal Debian root filesystem is created with
# `debootstrap --variant=minbase` from the same Debian mirror apt on this machine uses, slimmed
# the way the official debian:*-slim images are (no docs/man/locales, no apt caches), and
# `docker import`ed under that tag. The rootfs tarball is cached, so a rerun only re-imports it.
#
#   image/base-image.sh              create the image if missing
#   image/base-image.sh --rebuild    debootstrap again (ignore the cached tarball), re-tag
#   image/base-image.sh --print      print the tag and the mirrors that would be used, do nothing
#
# Environment:
#   BASE_IMAGE       tag to provide (default: ARG BASE_IMAGE default from the Dockerfile)
#   SUITE            Debian suite (default: derived from the tag, e.g. trixie)
#   MIRROR           Debian mirror (default: the one apt uses for $SUITE, via apt-get indextargets;
#                    if apt lists no $SUITE, the mirror of the host's own suite, plus -updates)
#   SECURITY_MIRROR  mirror for $SUITE-security (default: from apt as well, any suite's; empty = none)
#   CACHE_DIR        cache directory (default /var/cache/pacemaker_docker)
#   PULL             1 (default): try `docker pull` before making the image; 0: never pull
#   PULL_TIMEOUT     seconds a pull may take (default 300)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
DOCKERFILE=${DOCKERFILE:-$TOP/Dockerfile}
CACHE_DIR=${CACHE_DIR:-/var/cache/pacemaker_docker}
# Not Debian: still fine when the image is present or can be pulled.
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)

say() { printf 'base-image.sh: %s\n' "$*"; }
die() { printf 'base-image.sh: error: %s\n' "$*" >&2; exit 1; }

if [ -z "${BASE_IMAGE:-}" ]; then
    BASE_IMAGE=$(sed -n 's/^ARG[[:space:]]\{1,\}BASE_IMAGE=\([^[:space:]]*\).*/\1/p' \
        "$DOCKERFILE" 2>/dev/null | head -n1 | tr -d '"') || true
    BASE_IMAGE=${BASE_IMAGE:-debian:trixie-slim}
fi
if [ -z "${SUITE:-}" ]; then
    case $BASE_IMAGE in
    debian:*) SUITE=${BASE_IMAGE#debian:} SUITE=${SUITE%-slim} ;;
    *) die "cannot derive a Debian suite from '$BASE_IMAGE'; set SUITE=" ;;
    esac
fi

# The mirror apt on this host uses for the first suite whose name matches an awk regex
# (works for .list and deb822 .sources). A Debian mirror serves every suite, so a Debian 13
# host that lists only trixie can still debootstrap bookworm from its trixie mirror.
apt_mirror() {
    # shellcheck disable=SC2016 # $(...) are apt's format fields, not shell
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(IDENTIFIER)' 2>/dev/null |
        awk -v re="$1" '$2 ~ re && $3 == "Packages" { sub("/$", "", $1); print $1; exit }' ||
        true # no apt (not Debian), or apt-get cut short by awk's exit: no mirror / the first
}
UPDATES=$(apt_mirror "^$SUITE-updates\$")
if [ -z "${MIRROR:-}" ]; then
    MIRROR=$(apt_mirror "^$SUITE\$")
    if [ -z "$MIRROR" ]; then
        MIRROR=$(apt_mirror '^[a-z]+$')
        case $SUITE in # stable releases have -updates; sid/unstable/experimental do not
        sid | unstable | experimental) ;;
        *) [ -z "$MIRROR" ] || UPDATES=$MIRROR ;;
        esac
    fi
fi
if [ -z "${SECURITY_MIRROR+set}" ]; then
    SECURITY_MIRROR=$(apt_mirror "^$SUITE-security\$")
    case $SUITE in
    sid | unstable | experimental) ;;
    *) [ -n "$SECURITY_MIRROR" ] || SECURITY_MIRROR=$(apt_mirror '^[a-z]+-security$') ;;
    esac
fi

TARBALL=$CACHE_DIR/rootfs-$SUITE-minbase-$ARCH.tar

rebuild=0
case ${1:-} in
'') ;;
--rebuild) rebuild=1 ;;
--print)
    printf 'image=%s suite=%s arch=%s mirror=%s security=%s updates=%s tarball=%s\n' \
        "$BASE_IMAGE" "$SUITE" "$ARCH" "$MIRROR" "${SECURITY_MIRROR:-none}" "${UPDATES:-none}" "$TARBALL"
    exit 0
    ;;
-h | --help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
*) die "unknown option: $1" ;;
esac

docker info >/dev/null 2>&1 || die "docker engine not reachable (run image/engine.sh first)"

if [ "$rebuild" = 0 ] && docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "$BASE_IMAGE present ($(docker image inspect -f '{{.Id}}' "$BASE_IMAGE" | cut -c8-19)); nothing to do"
    exit 0
fi

if [ "$rebuild" = 0 ] && [ "${PULL:-1}" = 1 ]; then
    say "docker pull $BASE_IMAGE"
    if pulled=$(timeout "${PULL_TIMEOUT:-300}" docker pull -q "$BASE_IMAGE" 2>&1); then
        say "pulled $BASE_IMAGE ($pulled)"
        exit 0
    fi
    say "no registry answers (${pulled##*$'\n'}); making $BASE_IMAGE locally instead"
fi

make_rootfs() {
    local work=$CACHE_DIR/rootfs.tmp.$$ root
    root=$work/root
    command -v debootstrap >/dev/null 2>&1 || "$TOP/deps/host-deps.sh" debootstrap
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap missing (apt-get install debootstrap)"
    [ -n "$MIRROR" ] || die "apt on this machine has no source for suite '$SUITE'; set MIRROR="
    [ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
    mkdir -p "$CACHE_DIR/debs" "$root"
    # shellcheck disable=SC2064
    trap "cleanup_work '$work'" EXIT
    local keyring=()
    [ -r /usr/share/keyrings/debian-archive-keyring.gpg ] &&
        keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    say "debootstrap --variant=minbase $SUITE from $MIRROR (log: $work/debootstrap.log)"
    if ! debootstrap --variant=minbase --arch="$ARCH" --components=main "${keyring[@]}" \
        --cache-dir="$CACHE_DIR/debs" "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
        tail -n 30 "$work/debootstrap.log" >&2
        [ -r "$root/debootstrap/debootstrap.log" ] && tail -n 30 "$root/debootstrap/debootstrap.log" >&2
        die "debootstrap failed"
    fi
    unmount_under "$root"

    say "configuring and slimming the rootfs"
    # apt sources: same mirrors as this host, deb822 like the official image.
    rm -f "$root/etc/apt/sources.list"
    {
        printf 'Types: deb\nURIs: %s\nSuites: %s%s\nComponents: main\n' \
            "$MIRROR" "$SUITE" "${UPDATES:+ $SUITE-updates}"
        printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        if [ -n "$SECURITY_MIRROR" ]; then
            printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' \
                "$SECURITY_MIRROR" "$SUITE"
            printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        fi
    } >"$root/etc/apt/sources.list.d/debian.sources"

    # What debuerreotype does for the official docker images (minimizing-config + slimify).
    cat >"$root/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
# Installed by pacemaker_docker image/base-image.sh (as in the official Debian images):
# "apt-get install" only happens during "docker build", where starting services makes no
# sense, so forbid maintainer scripts to start them.
exit 101
EOF
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    echo 'Acquire::GzipIndexes "true";' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' \
        >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# slim image: do not install documentation, manuals or translations
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
    # debootstrap only used $SUITE itself: pull in $SUITE-updates and -security fixes now.
    say "apt-get dist-upgrade in the rootfs (security and point-release updates)"
    mount -t proc proc "$root/proc"
    if ! { chroot "$root" apt-get -q update &&
        DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -q -y \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold dist-upgrade &&
        chroot "$root" apt-get clean; } >"$work/upgrade.log" 2>&1; then
        tail -n 30 "$work/upgrade.log" >&2
        die "apt-get dist-upgrade in the rootfs failed"
    fi
    grep -E '^[0-9]+ upgraded' "$work/upgrade.log" | sed 's/^/base-image.sh:   /' || true
    unmount_under "$root"

    # ... and remove what debootstrap already installed of those (files only, keep dirs).
    find "$root/usr/share/doc" -xdev -mindepth 1 ! -type d ! -name copyright -delete
    find "$root/usr/share/doc" -xdev -mindepth 1 -type d -empty -delete
    for d in groff info linda lintian/overrides locale man; do
        [ -d "$root/usr/share/$d" ] && find "$root/usr/share/$d" -xdev -mindepth 1 ! -type d -delete
    done
    # caches, logs, host leftovers (docker provides hostname/hosts/resolv.conf at run time)
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
        "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/archives/partial/* \
        "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
        "$root"/tmp/* "$root"/var/tmp/* "$root"/root/.bash_history "$root"/debootstrap
    mkdir -p "$root/var/lib/apt/lists/partial"
    find "$root/var/log" -xdev -type f -delete
    : >"$root/etc/resolv.conf"
    : >"$root/etc/hostname"
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
    rm -f "$root/etc/machine-id" "$root/var/lib/dbus/machine-id"
    : >"$root/etc/machine-id"
    find "$root/dev" -xdev -mindepth 1 -delete # docker mounts its own /dev

    tar --numeric-owner --xattrs -C "$root" -cf "$work/rootfs.tar" .
    mv "$work/rootfs.tar" "$TARBALL"
    say "cached rootfs: $TARBALL ($(du -h "$TARBALL" | cut -f1))"
}

unmount_under() {
    local m
    # deepest first
    findmnt -rn -o TARGET | sort -r | while read -r m; do
        case $m in "$1" | "$1"/*) umount -l "$m" || true ;; esac
    done
    return 0
}

cleanup_work() {
    [ -d "$1" ] || return 0
    unmount_under "$1"
    rm -rf --one-file-system "$1"
}

if [ "$rebuild" = 1 ] || ! [ -s "$TARBALL" ]; then
    make_rootfs
else
    say "using cached rootfs $TARBALL"
fi

old_id=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true)
say "docker import -> $BASE_IMAGE"
id=$(docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["bash"]' \
    -m "debootstrap --variant=minbase $SUITE $MIRROR (pacemaker_docker image/base-image.sh)" \
    - "$BASE_IMAGE" <"$TARBALL")
say "$BASE_IMAGE = $(printf %s "${id#sha256:}" | cut -c1-12) ($(docker image inspect -f '{{.Size}}' "$BASE_IMAGE" |
    awk '{ printf "%.0f MB", $1 / 1e6 }'))"
# --rebuild: drop the previous import unless something still uses it
if [ -n "$old_id" ] && [ "$old_id" != "$id" ]; then
    docker rmi "$old_id" >/dev/null 2>&1 && say "removed previous ${old_id#sha256:}" || true
fi
