#!/usr/bin/env python3
"""Fake corosync / pacemakerd / corosync-cfgtool / ha_cluster_exporter / pacemaker-remoted
for supervisor tests (never the real ones).

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
            sys.exit(0)

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
    if NAME == "pacemaker-remoted":
        name = b"pacemaker-remot"  # comm keeps 15 bytes, as for the real daemon
        ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)  # PR_SET_NAME
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
    sys.exit(0 if os.path.exists(READY) else 1)


if __name__ == "__main__":
    cfgtool() if NAME == "corosync-cfgtool" else daemon()
