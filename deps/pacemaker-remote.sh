#!/bin/bash
# pacemaker-remote.sh - pacemaker-remoted for the cluster tests' remote hosts, unpacked beside
# the installed pacemaker. Debian's pacemaker-remote package conflicts with pacemaker, so it
# cannot be installed on a host that runs full nodes; its .deb (same version as pacemaker) is
# unpacked into a cache dir instead, and only the remote hosts put its usr/sbin on their PATH.
# The daemon uses the libraries and resource agents pacemaker already installed.
#
#   deps/pacemaker-remote.sh dir     print the cache dir for the installed pacemaker
#   deps/pacemaker-remote.sh check   exit 0 if pacemaker-remoted is there, else say so, exit 1
#   deps/pacemaker-remote.sh fetch   download and unpack it unless it is there (root, Debian)
#
# Not root or not Debian: fetch says what is missing and exits 0 (the tests that need it then
# skip); with CI=true it exits 1 instead.
set -euo pipefail

CACHE=${PCMK_REMOTE_CACHE:-/var/cache/pacemaker_docker}

say() { printf 'pacemaker-remote.sh: %s\n' "$*" >&2; }

version=$(dpkg-query -W -f='${Version}' pacemaker 2>/dev/null || true)
if [ -z "$version" ]; then
    say "pacemaker is not installed (dpkg-query -W pacemaker): install it first"
    [ "${1:-}" = fetch ] && [ "${CI:-}" != true ] && exit 0
    exit 1
fi
dir=$CACHE/pacemaker-remote-$version
daemon=$dir/usr/sbin/pacemaker-remoted

case ${1:-} in
dir) echo "$dir"; exit 0 ;;
check)
    [ -x "$daemon" ] && exit 0
    say "missing: $daemon (as root on Debian: deps/pacemaker-remote.sh fetch)"
    exit 1
    ;;
fetch) ;;
*) say "usage: pacemaker-remote.sh dir|check|fetch"; exit 2 ;;
esac

[ -x "$daemon" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "cannot fetch pacemaker-remote $version (needs root and apt-get); missing: $daemon"
    [ "${CI:-}" = true ] && { say "CI=true: refusing to go on without it"; exit 1; }
    exit 0
fi
say "fetching pacemaker-remote=$version into $dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt-get download drops privileges to _apt, which must be able to write there.
chmod 0755 "$tmp"
chown _apt "$tmp" 2>/dev/null || true
if ! (cd "$tmp" && apt-get download -qq "pacemaker-remote=$version" 2>/dev/null); then
    apt-get update -qq
    (cd "$tmp" && apt-get download -qq "pacemaker-remote=$version")
fi
mkdir -p "$tmp/root"
dpkg-deb -x "$tmp"/pacemaker-remote_*.deb "$tmp/root"
[ -x "$tmp/root/usr/sbin/pacemaker-remoted" ] || { say "no usr/sbin/pacemaker-remoted in the .deb"; exit 1; }
mkdir -p "$CACHE"
rm -rf "$dir.new" "$dir"
mv "$tmp/root" "$dir.new"
mv -T "$dir.new" "$dir"
