"""Cluster state from `crm_mon --output-as=xml`, and a remote node's own state: parsing and
judging are pure functions."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class NodeState:
    name: str
    online: bool
    standby: bool = False
    id: str = ""  # corosync's nodeid for a cluster node (a remote node's is its name)
    type: str = "member"  # "remote" for a Pacemaker Remote (or guest) node
    unclean: bool = False  # lost without a clean leave and not fenced (yet)
    expected_up: bool = False  # the cluster expects it up: false after a clean leave


@dataclass(frozen=True)
class ResourceState:
    id: str
    agent: str
    role: str
    nodes: tuple[str, ...]
    ip: str | None = None  # for IPaddr2 resources, when the CIB was given
    active: bool = False
    failed: bool = False


@dataclass(frozen=True)
class TicketState:
    """A booth ticket as this site's CIB has it (crm_mon's <tickets>)."""

    id: str
    granted: bool
    standby: bool = False
    last_granted: str = ""


@dataclass(frozen=True)
class ClusterState:
    dc: str | None
    quorate: bool
    nodes: tuple[NodeState, ...]
    resources: tuple[ResourceState, ...] = field(default=())
    tickets: tuple[TicketState, ...] = field(default=())

    def node(self, name: str) -> NodeState | None:
        return next((n for n in self.nodes if n.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def failure_reason(crm_mon_xml: str) -> str | None:
    """crm_mon --output-as=xml reports its errors inside the XML, not on stderr."""
    try:
        status = ET.fromstring(crm_mon_xml).find("status")
    except ET.ParseError:
        return None
    if status is None:
        return None
    errors = [e.text.strip() for e in status.iter("error") if e.text and e.text.strip()]
    return "; ".join([status.get("message", "")] + errors).strip("; ") or None


def _true(value: str | None) -> bool:
    return value == "true"


def _ips(cib_resources: str | None) -> dict[str, str]:
    """IPaddr2 primitive id -> its ip parameter, from `cibadmin -Q --scope resources`."""
    if not cib_resources:
        return {}
    out = {}
    for prim in ET.fromstring(cib_resources).iter("primitive"):
        if prim.get("type") != "IPaddr2":
            continue
        for nv in prim.iter("nvpair"):
            if nv.get("name") == "ip":
                out[prim.get("id", "")] = nv.get("value", "")
    return out


def parse(crm_mon_xml: str, cib_resources: str | None = None) -> ClusterState:
    """Parse crm_mon's XML; raises ValueError when it is not a cluster status."""
    try:
        root = ET.fromstring(crm_mon_xml)
    except ET.ParseError as exc:
        raise ValueError(f"crm_mon printed no valid XML: {exc}") from None
    dc_el = root.find("summary/current_dc")
    if dc_el is None:
        status = root.find("status")
        why = status.get("message", "") if status is not None else "no summary"
        raise ValueError(f"crm_mon has no cluster status: {why}")
    present = _true(dc_el.get("present"))
    nodes = tuple(
        NodeState(
            n.get("name", ""),
            _true(n.get("online")),
            _true(n.get("standby")),
            n.get("id", ""),
            n.get("type", "member"),
            _true(n.get("unclean")),
            _true(n.get("expected_up")),
        )
        for n in root.findall("nodes/node")
    )
    ips = _ips(cib_resources)
    section = root.find("resources")
    resources = tuple(
        ResourceState(
            r.get("id", ""),
            r.get("resource_agent", ""),
            r.get("role", ""),
            tuple(n.get("name", "") for n in r.findall("node")),
            ips.get(r.get("id", "")),
            _true(r.get("active")),
            _true(r.get("failed")),
        )
        for r in (section.iter("resource") if section is not None else ())
    )
    tickets = tuple(
        TicketState(
            t.get("id", ""),
            t.get("status") == "granted",
            _true(t.get("standby")),
            t.get("last-granted", ""),
        )
        for t in root.findall("tickets/ticket")
    )
    return ClusterState(
        dc=dc_el.get("name") if present else None,
        quorate=present and _true(dc_el.get("with_quorum")),
        nodes=nodes,
        resources=resources,
        tickets=tickets,
    )


BOOTH_LINE = re.compile(
    r"ticket: (?P<ticket>[^,]+), leader: (?P<leader>[^,\s]+)"
    r"(?:, expires: (?P<expires>[^(\[]+?))?\s*(?:\(|\[|$)"
)


def booth_list(text: str) -> list[dict[str, str | None]]:
    """`booth list`: each ticket, its leader (the site holding it, or NONE) and expiry."""
    out: list[dict[str, str | None]] = []
    for line in text.splitlines():
        m = BOOTH_LINE.match(line.strip())
        if m:
            leader = m.group("leader")
            expires = m.group("expires")
            out.append(
                {
                    "ticket": m.group("ticket"),
                    "leader": None if leader == "NONE" else leader,
                    "expires": expires.strip() if expires else None,
                }
            )
    return out


def missing_daemons(daemons: dict[str, int | None]) -> list[str]:
    """The pacemaker daemons that do not run, from procs.pacemaker_daemons() (name -> pid)."""
    return [name for name, pid in daemons.items() if pid is None]


def judge_daemons(daemons: dict[str, int | None]) -> str | None:
    """None when pacemakerd and every subdaemon run, else the reason. A node without its
    fencer or CIB manager can still look online in crm_mon: this is checked first."""
    if daemons.get("pacemakerd") is None:
        return "pacemakerd is not running"
    missing = missing_daemons(daemons)
    if not missing:
        return None
    return (
        f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not running "
        "(pacemakerd respawns a subdaemon at once; if it does not within a few seconds, the "
        "launcher restarts pacemakerd)"
    )


def judge(state: ClusterState, local_name: str) -> str | None:
    """None when this node is online in a quorate partition with a DC, else the reason."""
    if state.dc is None:  # before the election crm_mon lists no nodes at all
        return "no DC elected yet (pacemaker is starting, or this partition cannot elect one)"
    node = state.node(local_name)
    if node is None:
        names = " ".join(n.name for n in state.nodes) or "none"
        return f"this node ({local_name}) is not in the cluster's node list ({names})"
    if not node.online:
        return f"this node ({local_name}) is not online yet"
    if not state.quorate:
        return "this partition has no quorum"
    return None


def daemons_line(daemons: dict[str, int | None]) -> str:
    """`status`: each pacemaker daemon with its pid, or MISSING."""
    return "daemons: " + ", ".join(
        f"{name} {pid if pid is not None else 'MISSING'}" for name, pid in daemons.items()
    )


def summary(state: ClusterState, cluster_name: str, local_name: str) -> str:
    """A short human summary for `pcmk-launch status`."""
    online = [n.name for n in state.nodes if n.online]
    offline = [n.name for n in state.nodes if not n.online]
    quorum = "partition with quorum" if state.quorate else "partition WITHOUT quorum"
    lines = [
        f"cluster {cluster_name}: {quorum}, DC {state.dc or 'none'}, this node {local_name}",
        f"nodes: {len(online)} online ({' '.join(online) or '-'}), "
        f"{len(offline)} offline ({' '.join(offline) or '-'})",
    ]
    if not state.resources:
        lines.append("resources: none")
    for r in state.resources:
        where = " ".join(r.nodes) or "nowhere"
        ip = f" {r.ip}" if r.ip else ""
        lines.append(f"resource {r.id} ({r.agent}){ip}: {r.role} on {where}")
    for t in state.tickets:
        held = "granted to this site" if t.granted else "not granted here"
        lines.append(f"ticket {t.id}: {held}{' (standby)' if t.standby else ''}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class RemoteState:
    """What a Pacemaker Remote node can tell on its own, without the cluster."""

    pids: tuple[int, ...]  # pacemaker-remoted processes
    port: int
    listening: bool
    peers: tuple[str, ...] = field(default=())  # addresses connected to the port

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge_remote(state: RemoteState) -> str | None:
    """None when pacemaker-remoted runs and listens for the cluster, else the reason."""
    if not state.pids:
        return "pacemaker-remoted is not running"
    if not state.listening:
        return f"pacemaker-remoted is not listening on TCP {state.port} (yet)"
    return None


def remote_summary(state: RemoteState, hostname: str) -> str:
    """`pcmk-launch status` on a remote node: the daemon, its port, who is connected."""
    pid = " ".join(map(str, state.pids)) or "none"
    listens = "listening" if state.listening else "NOT listening"
    if state.peers:
        conn = f"cluster connected from {' '.join(state.peers)}"
    else:
        conn = (
            "no cluster connected (a full node connects once an ocf:pacemaker:remote resource runs)"
        )
    return (
        f"remote node {hostname}: pacemaker-remoted pid {pid}, {listens} on TCP {state.port}\n"
        f"{conn}\n"
    )
