#!/bin/bash
# engine.sh - make sure a Docker engine is running (idempotent).
#
#   image/engine.sh           start dockerd in the background unless `docker info` already works
#   image/engine.sh --stop    stop the dockerd *this script* started (found via its pidfile)
#   image/engine.sh --status  say whether the engine answers and who started it
#
# Environment:
#   ENGINE_PIDFILE   pidfile of a dockerd started by this script
#                    (default /run/pacemaker_docker/dockerd.pid)
#   ENGINE_LOG       dockerd's log file (default /var/log/pacemaker_docker-dockerd.log)
#   ENGINE_TIMEOUT   seconds to wait for `docker info` to work (default 60)
#   ENGINE_STOP_TIMEOUT  seconds --stop waits before SIGKILL (default 180: dockerd first stops
#                    the containers, and the demo's have a 2 minute stop_grace_period)
#   DOCKERD          dockerd binary (default: dockerd from PATH)
#   DOCKERD_ARGS     extra arguments for dockerd (word-split)
#
# A dockerd that was not started by this script (systemd, another user, ...) is never
# touched: it is only used.
set -euo pipefail

PIDFILE=${ENGINE_PIDFILE:-/run/pacemaker_docker/dockerd.pid}
LOG=${ENGINE_LOG:-/var/log/pacemaker_docker-dockerd.log}
TIMEOUT=${ENGINE_TIMEOUT:-60}
STOP_TIMEOUT=${ENGINE_STOP_TIMEOUT:-180}
DOCKERD=${DOCKERD:-dockerd}
# dockerd's own pidfile; kept separate from ours so that an unrelated dockerd is never
# mistaken for one we started.
DOCKERD_PIDFILE=${PIDFILE%.pid}.dockerd.pid

say() { printf 'engine.sh: %s\n' "$*"; }
die() { printf 'engine.sh: error: %s\n' "$*" >&2; exit 1; }

engine_ok() { docker info >/dev/null 2>&1; }

# Print the pid from our pidfile if it names a live dockerd process.
our_pid() {
    local pid
    [ -r "$PIDFILE" ] || return 1
    pid=$(head -n1 "$PIDFILE" 2>/dev/null) || return 1
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    [ -d "/proc/$pid" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
    printf '%s\n' "$pid"
}

wait_engine() {
    local pid=${1:-} i=0
    while ! engine_ok; do
        if [ -n "$pid" ] && ! [ -d "/proc/$pid" ]; then
            say "dockerd (pid $pid) exited; last lines of $LOG:"
            tail -n 20 "$LOG" >&2 || true
            rm -f "$PIDFILE"
            return 1
        fi
        i=$((i + 1))
        if [ "$i" -gt "$((TIMEOUT * 2))" ]; then
            say "docker info still fails after ${TIMEOUT}s; last lines of $LOG:"
            tail -n 20 "$LOG" >&2 || true
            return 1
        fi
        sleep 0.5
    done
}

start() {
    local pid
    command -v docker >/dev/null 2>&1 || die "no docker CLI in PATH"
    if engine_ok; then
        if pid=$(our_pid); then
            say "engine already running (dockerd pid $pid, started by this script)"
        else
            say "engine already running (not started by this script; left alone)"
        fi
        return 0
    fi
    if pid=$(our_pid); then
        say "dockerd pid $pid (started earlier by this script) does not answer yet; waiting"
        wait_engine "$pid" || die "engine did not come up"
        say "engine is up (dockerd pid $pid)"
        return 0
    fi
    if [ -S /var/run/docker.sock ] && [ -r /var/run/docker.pid ] &&
        [ -d "/proc/$(head -n1 /var/run/docker.pid)" ]; then
        # Somebody else's dockerd is starting (or wedged): never start a second one.
        say "a dockerd not started by this script (pid $(head -n1 /var/run/docker.pid)) exists; waiting for it"
        wait_engine || die "foreign dockerd does not answer; not starting another"
        say "engine is up"
        return 0
    fi
    command -v "$DOCKERD" >/dev/null 2>&1 || die "$DOCKERD not found (apt-get install docker.io)"
    [ "$(id -u)" -eq 0 ] || die "starting dockerd needs root"
    mkdir -p "$(dirname "$PIDFILE")" "$(dirname "$LOG")"
    say "starting $DOCKERD (log: $LOG, pidfile: $PIDFILE)"
    # setsid: own session, so the engine survives the calling shell / make. Descriptors the
    # caller holds beyond stdio (a flock, a pipe) are closed first: dockerd and every
    # container shim would otherwise hold them for the engine's whole life.
    (
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] && eval "exec $fd>&-"
        done 2>/dev/null
        # shellcheck disable=SC2086
        exec setsid "$DOCKERD" --pidfile "$DOCKERD_PIDFILE" ${DOCKERD_ARGS:-} \
            </dev/null >>"$LOG" 2>&1
    ) &
    pid=$!
    # setsid only forks when it is a process-group leader, which a background job of a
    # non-interactive shell is not, so $! is dockerd itself; fall back to dockerd's pidfile.
    sleep 0.2
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != dockerd ] && [ -r "$DOCKERD_PIDFILE" ]; then
        pid=$(head -n1 "$DOCKERD_PIDFILE")
    fi
    printf '%s\n' "$pid" >"$PIDFILE"
    wait_engine "$pid" || die "engine did not come up"
    say "engine is up (dockerd pid $pid, $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
}

stop() {
    local pid i=0
    if ! pid=$(our_pid); then
        rm -f "$PIDFILE"
        if engine_ok; then
            say "engine running but not started by this script; not stopping it"
        else
            say "no dockerd started by this script is running"
        fi
        return 0
    fi
    say "stopping dockerd pid $pid (it stops its containers first)"
    kill -TERM "$pid"
    while [ -d "/proc/$pid" ]; do
        i=$((i + 1))
        if [ "$i" -gt "$((STOP_TIMEOUT * 2))" ]; then
            say "dockerd pid $pid still running ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 0.5
    done
    rm -f "$PIDFILE"
    say "stopped"
}

status() {
    local pid
    if engine_ok; then
        if pid=$(our_pid); then
            say "running (dockerd pid $pid, started by this script)"
        else
            say "running (not started by this script)"
        fi
    else
        say "not running"
        return 1
    fi
}

case ${1:-} in
'' | --start) start ;;
--stop) stop ;;
--status) status ;;
-h | --help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' ;;
*) die "unknown option: $1 (use --start, --stop, --status)" ;;
esac
