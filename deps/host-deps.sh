#!/bin/bash
# host-deps.sh - install the Debian packages a group of targets needs on this host, when they
# are missing. One script and one list (deps/host-packages.txt) for `make demo`, `make test`,
# each test level and .ci/run.
#
#   deps/host-deps.sh GROUP...          install what GROUP needs (as root, on Debian)
#   deps/host-deps.sh --check GROUP...  only say what is missing; exit 1 if anything is
#   deps/host-deps.sh --list GROUP...   print the packages GROUP needs, one per line
#
# Groups: the ones named in deps/host-packages.txt (venv, unit, supervisor, cluster, agents,
# bench, soak, image-test; cluster also gets pacemaker-remoted, see deps/pacemaker-remote.sh)
# and three that depend on what the host already has:
#   engine       a Docker client and engine, unless `docker info` already answers (Docker CE,
#                Docker Desktop, a remote DOCKER_HOST are used as they are); on Debian 13 the
#                client is the separate docker-cli package
#   compose      docker-compose, unless `docker compose` or `docker-compose` works
#   debootstrap  for image/base-image.sh's offline fallback
#   test         every group `make test` runs
#
# Not root, or not Debian: nothing is installed; the missing pieces are listed with the command
# that installs them and the targets that need them skip (CI=true: exit 1 instead).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
LIST=${HOST_PACKAGES:-$HERE/host-packages.txt}

say() { printf 'host-deps.sh: %s\n' "$*"; }

mode=install
case ${1:-} in
--check) mode=check; shift ;;
--list) mode=list; shift ;;
-h | --help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
esac
[ $# -gt 0 ] || { say "usage: host-deps.sh [--check|--list] GROUP..."; exit 2; }

groups=" $* "
case $groups in *" test "*) groups="$groups venv unit supervisor cluster agents bench soak image-test engine compose " ;; esac

debian=0
command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && debian=1

installed() { # package
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

have_commands() { # comma-separated commands, or -
    local c
    [ "$1" = - ] && return 0
    for c in ${1//,/ }; do command -v "$c" >/dev/null 2>&1 || return 1; done
}

# What is missing, as packages (Debian) or as commands (elsewhere).
need=() missing_what=()
want() { # package, what shows it is there
    if [ "$debian" = 1 ]; then
        installed "$1" && return 0
    else
        have_commands "$2" && return 0
    fi
    need+=("$1")
    [ "$2" = - ] && missing_what+=("$1") || missing_what+=("${2//,/ }")
}

while read -r pkg in_groups checks; do
    case $pkg in '' | '#'*) continue ;; esac
    for g in ${in_groups//,/ }; do
        case $groups in *" $g "*)
            if [ "$mode" = list ]; then echo "$pkg"; else want "$pkg" "$checks"; fi
            break
            ;;
        esac
    done
done <"$LIST"

apt_has() { apt-cache show "$1" >/dev/null 2>&1; }
updated=0
apt_update() {
    [ "$updated" = 1 ] && return 0
    apt-get update -qq
    updated=1
}

case $groups in *" engine "*)
    if ! docker info >/dev/null 2>&1; then
        # The engine: Debian's docker.io. Its client is in docker.io on Debian 12 and in
        # docker-cli (only recommended by docker.io) on Debian 13.
        command -v dockerd >/dev/null 2>&1 || want docker.io dockerd
        if ! command -v docker >/dev/null 2>&1; then
            if [ "$debian" = 1 ] && [ "$(id -u)" = 0 ] && { apt_has docker-cli || { apt_update && apt_has docker-cli; }; }; then
                want docker-cli docker
            else
                want docker.io docker
            fi
        fi
    fi
    ;;
esac
case $groups in *" compose "*)
    if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
        want docker-compose docker-compose # v1.29 on Debian 12, v2 on Debian 13
    fi
    ;;
esac
case $groups in *" debootstrap "*) want debootstrap debootstrap ;; esac

[ "$mode" = list ] && exit 0

# The cluster tests' and benchmarks' remote hosts run pacemaker-remoted, whose Debian package
# conflicts with pacemaker: it is unpacked into a cache dir, after pacemaker itself is installed.
remote_daemon() {
    case $groups in *" cluster "* | *" bench "*)
        if [ "$mode" = check ]; then
            "$HERE/pacemaker-remote.sh" check || return 1
        else
            "$HERE/pacemaker-remote.sh" fetch
        fi
        ;;
    esac
}

if [ "${#need[@]}" -eq 0 ]; then
    remote_daemon
    exit
fi
# docker.io may have been wanted twice (engine and client)
mapfile -t need < <(printf '%s\n' "${need[@]}" | awk '!seen[$0]++')

hint="apt-get install ${need[*]}"
if [ "$mode" = check ] || [ "$debian" = 0 ] || [ "$(id -u)" != 0 ]; then
    why="missing"
    [ "$mode" = install ] && [ "$debian" = 0 ] && why="not Debian: cannot install; missing"
    [ "$mode" = install ] && [ "$debian" = 1 ] && why="not root: cannot install; missing"
    say "$why: ${missing_what[*]} (as root on Debian: $hint)"
    [ "$mode" = check ] && { remote_daemon || true; exit 1; }
    [ "${CI:-}" = true ] && { say "CI=true: refusing to go on without them"; exit 1; }
    exit 0
fi
say "installing ${need[*]}"
apt_update
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
remote_daemon
