#!/bin/bash
# Naive PID 1 for a cluster host: the baseline the launcher is compared with.
#
# Writes nothing itself: /etc/corosync/corosync.conf (and optionally
# /var/lib/pacemaker/cib/cib.xml) must already be there.  Starts corosync in
# the foreground, waits until it answers `corosync-cfgtool -s`, then starts
# pacemakerd (which always runs in the foreground in 2.1.x; -f is ignored).
# On SIGTERM/SIGINT: stop pacemakerd, then corosync.  If either daemon exits
# on its own, the other is stopped and its exit status is returned.
#
# Environment (all optional):
#   NAIVE_CFG_TIMEOUT  seconds to wait for corosync-cfgtool -s (default 30)
#   PCMK_*             passed on to pacemaker as usual (e.g. PCMK_logfile)
set -u

log() { echo "naive_start: $(date +%T.%N | cut -c1-12) $*" >&2; }

cs='' pm=''
# shellcheck disable=SC2329  # invoked by the trap below
stop() {
    log "stopping (signal)"
    trap '' TERM INT
    if [ -n "$pm" ]; then kill -TERM "$pm" 2>/dev/null; wait "$pm"; fi
    log "pacemakerd stopped"
    if [ -n "$cs" ]; then kill -TERM "$cs" 2>/dev/null; wait "$cs"; fi
    log "corosync stopped"
    exit 0
}
trap stop TERM INT

log "starting corosync"
corosync -f &
cs=$!

deadline=$(( $(date +%s) + ${NAIVE_CFG_TIMEOUT:-30} ))
until corosync-cfgtool -s >/dev/null 2>&1; do
    if ! kill -0 "$cs" 2>/dev/null; then
        wait "$cs"
        rc=$?
        log "corosync exited $rc before it was ready"
        exit "$rc"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "corosync not ready after ${NAIVE_CFG_TIMEOUT:-30}s"
        kill -TERM "$cs"
        wait "$cs"
        exit 1
    fi
    sleep 0.1
done
log "corosync ready; starting pacemakerd"

pacemakerd &
pm=$!

# Returns when either daemon exits, or early when a trapped signal arrives
# (then the trap has already run and exited).
wait -n "$cs" "$pm"
rc=$?
trap '' TERM INT
if kill -0 "$pm" 2>/dev/null; then
    log "corosync exited $rc; stopping pacemakerd"
    kill -TERM "$pm"
    wait "$pm"
else
    log "pacemakerd exited $rc; stopping corosync"
    kill -TERM "$cs" 2>/dev/null
    wait "$cs"
fi
exit "$rc"
