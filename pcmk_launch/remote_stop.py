"""The remote role's step before pacemaker-remoted gets its SIGTERM (services.remote_plan):
where the daemon cannot ask the cluster to move its resources away itself, ask on its
behalf and wait until the cluster has stopped them and disconnected.

Why: pacemaker-remoted 2.1.5 (Debian 12's 2.1.5-1+deb12u1 too) sends its shutdown request
on SIGTERM, stops listening, and that makes it exit at once ("exit because TLS connection
was closed and 'shutting_down' set", upstream commit d61494347): the cluster then loses the
connection with the resources still running there ("Lost connection to Pacemaker Remote
node", "unclean but cannot be fenced"). Fixed upstream in 2.1.6 (d8e08729ad, T361). For that
version this sets the node's transient "shutdown" attribute, as the controller does when
the daemon's request arrives; the cluster stops the node's resources, then its connection;
once no cluster is connected the daemon exits at once and cleanly on SIGTERM.

`python -m pcmk_launch.remote_stop PORT` exits with one of the codes below; the supervisor
sends SIGTERM after any of them (services.remote_plan names what each means).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

from . import listening
from .services import STOP_ASKS_ITSELF as ASKS_ITSELF
from .services import STOP_DISCONNECTED as DISCONNECTED
from .services import STOP_NOT_CONNECTED as NOT_CONNECTED

FAILED = 1  # could not ask (said on stderr): the daemon's own SIGTERM handling is all there is

# Versions whose SIGTERM handling exits without waiting for the cluster (see above).
EXITS_AT_ONCE = {(2, 1, 5)}
POLL = 0.05  # s between looks at the connection: SIGTERM must follow its close closely


def parse_version(text: str) -> tuple[int, ...] | None:
    """`pacemaker-remoted --version` prints "Pacemaker 2.1.5" first."""
    m = re.match(r"Pacemaker (\d+)\.(\d+)\.(\d+)", text.strip())
    return tuple(int(x) for x in m.groups()) if m else None


def exits_at_once(version: tuple[int, ...] | None) -> bool:
    return version in EXITS_AT_ONCE


def _run(argv: list[str]) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}: {res.stderr.strip()}")
    return res.stdout.strip()


def connected(port: int) -> bool:
    return bool(listening.peers(port, listening.read_tables()))


def main(argv: list[str]) -> int:  # pragma: no cover - thin I/O shell, run by the supervisor
    port = int(argv[0])
    if not connected(port):
        return NOT_CONNECTED
    try:
        if not exits_at_once(parse_version(_run(["pacemaker-remoted", "--version"]))):
            return ASKS_ITSELF
        # The cluster's name for this node (its connection resource's id): the controller
        # fills it in for requests that come through pacemaker-remoted.
        name = _run(["crm_node", "-n"])
        # Without --node, attrd would set it for the full node that holds the connection.
        _run(["attrd_updater", "--name", "shutdown", "--node", name, "--update"]
             + [str(int(time.time()))])  # fmt: skip
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"pcmk-launch: cannot ask the cluster to move this node's resources: {exc}",
              file=sys.stderr)  # fmt: skip
        return FAILED
    while connected(port):  # the supervisor's stop timeout bounds this wait
        time.sleep(POLL)
    return DISCONNECTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
