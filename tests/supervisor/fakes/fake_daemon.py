#!/usr/bin/env python3
"""Fake corosync / pacemakerd / corosync-cfgtool / ha_cluster_exporter / pacemaker-remoted /
crmadmin for supervisor tests (never the real ones).

The fake corosync-cfgtool answers `-s` with 0 once the fake corosync is ready; with
FAKE_COROSYNC_CFGTOOL_RECORD set it records each such probe as an event.

The fake pacemakerd forks the six subdaemons (named like the real ones in /proc/PID/comm)
and respawns one that exits, except those in FAKE_PACEMAKERD_NO_RESPAWN (comma-separated: the
wedge of issue 30); FAKE_PACEMAKERD_NEVER names subdaemons it never starts at all. The fake
crmadmin answers `--pacemakerd` with state FAKE_CRMADMIN_STATE (default running).

The fake pacemaker-remoted listens on 127.0.0.1 at PCMK_remote_port (the variable the real
one reads) once FAKE_PACEMAKER_REMOTED_READY_AFTER has passed ("never": it never listens),
and names itself like the real one in /proc/PID/comm so `pcmk-launch health` finds it.

Run by a small sh wrapper under each name in a directory put first in PATH: the wrapper
records its signal mask and ignored set (FAKE_SIGNALS) before Python changes its own.
Behaviour comes from FAKE_* variables, and every event is appended to $FAKE_LOG as
"<time> <name> <event>".
"""

import ctypes
import os
import signal
import socket
import sys
import time

from pcmk_launch.procs import PACEMAKER_SUBDAEMONS as SUBDAEMONS  # run with PYTHONPATH=the checkout

NAME = sys.argv.pop(1)
LOG = os.environ["FAKE_LOG"]
STATE = os.environ.get("FAKE_DIR", os.path.dirname(LOG))
READY = os.path.join(STATE, "corosync.ready")


def event(text: str) -> None:
    with open(LOG, "a") as f:
        f.write(f"{time.monotonic():.6f} {NAME} {text}\n")


def opt(var: str, default: str = "") -> str:
    return os.environ.get(f"FAKE_{NAME.upper().replace('-', '_')}_{var}", default)


def orphan_storm(count: int, life: float) -> None:
    """Fork a parent that forks `count` children and exits at once: they become orphans."""
    if os.fork() == 0:
        for _ in range(count):
            if os.fork() == 0:
                time.sleep(life)
                os._exit(0)
        os._exit(0)


subdaemons: dict[int, str] = {}  # pid -> name, the fake pacemakerd's children


def set_comm(name: str) -> None:
    ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name[:15].encode()), 0, 0, 0)  # PR_SET_NAME


def spawn_subdaemon(name: str) -> None:
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        for sig in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with us
        if os.getppid() != parent:  # it died before prctl: no death signal will come
            os._exit(0)
        set_comm(name)
        while True:
            signal.pause()
    subdaemons[pid] = name
    event(f"spawned {name} pid={pid}")


def on_subdaemon_exit(_signum, _frame) -> None:
    no_respawn = opt("NO_RESPAWN").split(",")
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        name = subdaemons.pop(pid, None)
        if name is None:
            continue
        if name in no_respawn:
            event(f"not respawning {name}")
        else:
            spawn_subdaemon(name)


def start_subdaemons() -> None:
    never = opt("NEVER").split(",")
    signal.signal(signal.SIGCHLD, on_subdaemon_exit)
    # A stop signal waits until every fork is done (and is not seen by a child).
    stops = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    for name in SUBDAEMONS:
        if name not in never:
            spawn_subdaemon(name)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)


def daemon() -> None:
    def on_signal(signum, _frame):
        name = signal.Signals(signum).name
        event(f"got {name}")
        if signum == signal.SIGTERM and not opt("IGNORE_TERM"):
            delay = float(opt("STOP_DELAY", "0"))
            time.sleep(delay)
            if NAME == "corosync" and os.path.exists(READY):
                os.unlink(READY)
            event("exit 0")
            # os._exit, not sys.exit: the process ends here, whatever the handler interrupted
            # (a SystemExit raised in a handler unwinds through that code first)
            os._exit(0)

    for sig in (
        signal.SIGTERM,
        signal.SIGINT,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGHUP,
        signal.SIGWINCH,
        signal.SIGALRM,
    ):
        signal.signal(sig, on_signal)
    # "start" is logged only once the handlers are in place: tests signal on seeing it,
    # and a signal that arrived earlier would kill the fake by default action.
    event(f"start pid={os.getpid()} ready={os.path.exists(READY)} argv={' '.join(sys.argv[1:])}")
    event(os.environ.get("FAKE_SIGNALS", "?"))
    ready_after = opt("READY_AFTER", "0.2")
    if NAME == "corosync" and ready_after != "never":
        time.sleep(float(ready_after))
        open(READY, "w").close()
        event("ready")
    if NAME in ("pacemakerd", "corosync"):
        set_comm(NAME)  # as the real ones, so `pcmk-launch health|status` finds them
    if NAME == "pacemakerd" and opt("SUBDAEMONS", "yes") == "yes":
        start_subdaemons()
    if NAME == "pacemaker-remoted":
        set_comm(NAME)  # comm keeps 15 bytes, as for the real daemon
        if ready_after != "never":
            time.sleep(float(ready_after))
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            port = int(os.environ.get("PCMK_remote_port", "3121"))  # noqa: SIM112 pacemaker's
            listener.bind(("127.0.0.1", port))
            listener.listen()
            event(f"listening port={listener.getsockname()[1]}")
    if opt("ORPHANS"):
        orphan_storm(int(opt("ORPHANS")), float(opt("ORPHAN_LIFE", "0.5")))
        event("orphans forked")
    exit_after = opt("EXIT_AFTER")
    if exit_after:
        time.sleep(float(exit_after))
        code = int(opt("EXIT_CODE", "1"))
        event(f"exit {code}")
        sys.exit(code)
    while True:
        signal.pause()


def cfgtool() -> None:
    if "-R" in sys.argv:
        event("reload")
        sys.exit(0)
    ready = os.path.exists(READY)
    if opt("RECORD"):  # each readiness probe and what it answered, in order with the rest
        event("probe ready" if ready else "probe not ready")
    sys.exit(0 if ready else 1)


def crmadmin() -> None:
    state = opt("STATE", "running")
    event(f"asked: {state}")
    print(f'<pacemaker-result><pacemakerd state="{state}"/></pacemaker-result>')


def version() -> None:
    print(f"Corosync Cluster Engine, version '{opt('VERSION', '3.1.7')}'")


if __name__ == "__main__":
    if NAME == "corosync" and sys.argv[1:] == ["-v"]:
        version()
    else:
        {"corosync-cfgtool": cfgtool, "crmadmin": crmadmin}.get(NAME, daemon)()
