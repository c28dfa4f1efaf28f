#!/bin/bash
# apt-install.sh - the Dockerfile's package steps; runs inside `docker build`, as root.
#
#   apt-install.sh LIST...
#
# Installs, in one apt transaction, the packages of each LIST: /tmp/packages/LIST.txt (each
# package must exist) and /tmp/packages/LIST-where-available.txt if there is one (each where
# the Debian release has it), plus $EXTRA_PACKAGES and /tmp/debs/*.deb. A LIST without a
# LIST.txt contributes only its where-available file. Then it checks that every listed
# package is installed and leaves no apt lists, caches or logs behind.
#
# Stubs (/tmp/packages/stubs.txt): packages that a listed package depends on but that nothing
# in the image uses. Each is replaced by an empty package, made here with dpkg-deb, that
# Provides and Conflicts with it (at the archive's version, so versioned dependencies are
# met too): dpkg's database stays consistent, and a derived image that installs the real
# package just replaces the stub. Naming a stubbed package in $EXTRA_PACKAGES installs the
# real one instead.
#
# Documentation, manual pages and translations are never unpacked
# (/etc/dpkg/dpkg.cfg.d/pacemaker_docker-nodoc: the debian:*-slim rules, for any base); a
# LIST.dpkg.cfg next to LIST.txt adds its own dpkg filters (/etc/dpkg/dpkg.cfg.d/
# pacemaker_docker-LIST), installed before anything is unpacked.
set -euo pipefail
shopt -s nullglob

LISTS=/tmp/packages
read -ra extra <<<"${EXTRA_PACKAGES:-}"

words() { sed 's/#.*//' "$1" | tr -s '[:space:]' '\n' | sed '/^$/d'; }

install -m 0644 /dev/stdin /etc/dpkg/dpkg.cfg.d/pacemaker_docker-nodoc <<'EOF'
# pacemaker_docker: no documentation, manual pages or translations (as debian:*-slim)
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF

for list in "$@"; do
    if [ -f "$LISTS/$list.dpkg.cfg" ]; then
        install -m 0644 "$LISTS/$list.dpkg.cfg" "/etc/dpkg/dpkg.cfg.d/pacemaker_docker-$list"
    fi
done

apt-get update

packages=()
for list in "$@"; do
    if [ -f "$LISTS/$list.txt" ]; then
        mapfile -t -O "${#packages[@]}" packages < <(words "$LISTS/$list.txt")
    fi
    if [ -f "$LISTS/$list-where-available.txt" ]; then
        while read -r p; do
            if apt-cache show "$p" >/dev/null 2>&1; then packages+=("$p"); fi
        done < <(words "$LISTS/$list-where-available.txt")
    fi
done

debs=(/tmp/debs/*.deb)
stubs=()
if [ -f "$LISTS/stubs.txt" ]; then
    mapfile -t stubs < <(words "$LISTS/stubs.txt")
fi
for name in "${stubs[@]}"; do
    # wanted after all, or already installed (the cloud step after the first): no stub
    if printf '%s\n' "${extra[@]}" | grep -qxF "$name" \
        || dpkg-query -W -f '${Status}' "$name" 2>/dev/null | grep -q ' installed$' \
        || dpkg-query -W "$name-stub" >/dev/null 2>&1; then
        continue
    fi
    version=$(apt-cache show --no-all-versions "$name" 2>/dev/null | sed -n 's/^Version: //p')
    [ -n "$version" ] || continue # not in this release: nothing depends on it either
    dir=/tmp/stubs/$name-stub
    mkdir -p "$dir/DEBIAN"
    cat >"$dir/DEBIAN/control" <<EOF
Package: $name-stub
Version: 1
Architecture: all
Maintainer: pacemaker_docker <root@localhost>
Provides: $name (= $version)
Conflicts: $name
Section: misc
Priority: optional
Description: empty stand-in for $name in pacemaker_docker
 Another package depends on $name, but nothing in this image uses it
 (image/packages/stubs.txt says why). Installing $name replaces this stub.
EOF
    dpkg-deb --root-owner-group --build "$dir" "/tmp/stubs/$name-stub.deb" >/dev/null
    debs+=("/tmp/stubs/$name-stub.deb")
done

DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "${packages[@]}" "${extra[@]}" "${debs[@]}"
if [ "${#packages[@]}" -gt 0 ]; then dpkg-query -W "${packages[@]}"; fi

apt-get clean
rm -rf /var/lib/apt/lists/* /tmp/stubs /var/log/apt/* /var/log/dpkg.log \
    /var/cache/debconf/*-old /var/lib/dpkg/*-old
