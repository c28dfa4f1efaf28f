"""Finding our daemons in /proc: pacemaker-remoted in our own pid namespace, and which of
pacemakerd's subdaemons run as its children. Read-only; imports only os, because the
long-running PID 1 (supervisor.py) uses it too."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing stays out of PID 1; mypy reads it
if TYPE_CHECKING:
    from collections.abc import Callable

    NamespaceOf = Callable[[int | str], tuple[str | None, int | None]]  # namespace_of

COMM_LEN = 15  # /proc/PID/comm keeps 15 characters of a name

# What pacemakerd runs and must keep running (the same six in Pacemaker 2.1 and 3.0). A
# subdaemon that pacemakerd marks "not respawning until cluster returns" while corosync stays
# up is never started again: the launcher watches for that (supervisor.py, issue 30).
PACEMAKER_SUBDAEMONS = (
    "pacemaker-based",
    "pacemaker-fenced",
    "pacemaker-execd",
    "pacemaker-attrd",
    "pacemaker-schedulerd",
    "pacemaker-controld",
)


def comm(name: str) -> str:
    """The /proc/PID/comm a process of this name shows."""
    return name[:COMM_LEN]


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None  # gone meanwhile, or not ours to read


def parent_and_comm(pid: int | str, proc: str = "/proc") -> tuple[int, str] | None:
    """(ppid, comm) from /proc/PID/stat; None when the process is gone or has exited and
    waits to be reaped (a zombie: a subdaemon whose pacemakerd is stopped or stuck). The comm
    is the field in parentheses and may itself hold spaces or parentheses: split at the last
    ')'."""
    stat = _read(f"{proc}/{pid}/stat")
    if stat is None or ")" not in stat:
        return None
    head, _, rest = stat.rpartition(")")
    fields = rest.split()
    if len(fields) < 2 or fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), head.partition("(")[2]


def children_named(parent: int, names: tuple[str, ...], proc: str = "/proc") -> dict[str, int]:
    """The children of `parent` whose comm is one of `names` (each cut to 15 characters):
    name -> pid. A process not yet past its exec still shows its parent's comm and is left out."""
    wanted = {comm(n): n for n in names}
    found: dict[str, int] = {}
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        pc = parent_and_comm(entry, proc)
        if pc is not None and pc[0] == parent and pc[1] in wanted:
            found[wanted[pc[1]]] = int(entry)
    return found


def namespace_of(pid: int | str) -> tuple[str | None, int | None]:
    """Which pid namespace a process is in: the link /proc/PID/ns/pid ("pid:[4026531836]";
    None for another user's process) and its depth below /proc's namespace (the number of
    pids on its NSpid line, minus one; None when it is gone)."""
    try:
        link: str | None = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        link = None
    status = _read(f"/proc/{pid}/status")
    if status is None:
        return link, None
    line = next((x for x in status.splitlines() if x.startswith("NSpid:")), "NSpid: 0")
    return link, len(line.split()) - 2


def same_namespace(
    theirs: tuple[str | None, int | None], mine: tuple[str | None, int | None]
) -> bool:
    """Whether a process shares our pid namespace. Where its link cannot be read, its depth
    is compared with ours: a container's processes seen from the host's /proc are one level
    deeper, and inside a container everything is at the container's depth."""
    link, depth = theirs
    if depth is None:
        return False  # gone
    if link is not None and mine[0] is not None:
        return link == mine[0]
    return depth == mine[1]


def pids_named(name: str, namespace_of: NamespaceOf = namespace_of) -> list[int]:
    """Processes of this name in our own pid namespace: inside a container the container's;
    outside, never those of containers or namespace hosts beside us."""
    mine = namespace_of("self")
    pids = []
    for entry in os.listdir("/proc"):
        if (
            entry.isdigit()
            and (_read(f"/proc/{entry}/comm") or "").strip() == comm(name)
            and same_namespace(namespace_of(entry), mine)
        ):
            pids.append(int(entry))
    return sorted(pids)


def pacemaker_daemons(namespace_of: NamespaceOf = namespace_of) -> dict[str, int | None]:
    """pacemakerd and each of its subdaemons in our pid namespace: name -> pid, None if absent.
    With no pacemakerd running, every subdaemon counts as absent."""
    pacemakerd = pids_named("pacemakerd", namespace_of)
    daemons: dict[str, int | None] = {"pacemakerd": pacemakerd[0] if pacemakerd else None}
    found = children_named(pacemakerd[0], PACEMAKER_SUBDAEMONS) if pacemakerd else {}
    daemons.update({name: found.get(name) for name in PACEMAKER_SUBDAEMONS})
    return daemons
