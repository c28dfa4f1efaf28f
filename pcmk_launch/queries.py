"""`pcmk-launch health` and `status`: what runs here and what the cluster says, asked from
crm_mon (and cibadmin), /proc and the socket tables; parsing and judging are health.py's.

Both exit 1 when the node is not healthy (health) or the cluster does not run here (status),
with the reason on stdout; NoClusterState carries that reason from the tools they run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from . import booth, health, hostcheck, listening, procs
from .config import env_with_stored, load_cluster, read_stored
from .errors import ConfigError, NoClusterState, Problems, report
from .membership import strangers
from .nodelist import VAR as VAR_NODE_LIST
from .options import NODE_LIST_FILE
from .preview import metrics_line
from .settings import Settings, parse_metrics, remote_port

TOOL_TIMEOUT = 10  # seconds crm_mon and cibadmin may take to answer


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """One of pacemaker's tools; NoClusterState when it is missing or does not answer."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    except FileNotFoundError:
        raise NoClusterState(f"{argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise NoClusterState(f"{argv[0]} did not answer within {TOOL_TIMEOUT}s") from None


def cluster_state(with_cib: bool = False) -> health.ClusterState:
    """One crm_mon call (and, with_cib, one cibadmin for the resources' addresses); raises
    NoClusterState with the reason when crm_mon cannot tell."""
    mon = _run(["crm_mon", "--one-shot", "--output-as=xml"])
    if mon.returncode != 0 and "<current_dc" not in mon.stdout:
        detail = (
            health.failure_reason(mon.stdout)
            or (mon.stderr.strip().splitlines() or [f"exit code {mon.returncode}"])[-1]
        )
        raise NoClusterState(f"the cluster is not running here (crm_mon: {detail})")
    cib = None
    if with_cib:
        try:
            q = _run(["cibadmin", "--query", "--scope", "resources"])
            cib = q.stdout if q.returncode == 0 else None
        except NoClusterState as exc:  # crm_mon answered: the state is shown without addresses
            report(f"{exc}; resource addresses are not shown")
    try:
        return health.parse(mon.stdout, cib)
    except ValueError as exc:
        raise NoClusterState(str(exc)) from None


def local_node_name(env: Mapping[str, str]) -> str:
    """The name pacemaker gives this node: its NAME= in the list, else the hostname."""
    try:
        cluster = load_cluster(env)
    except ConfigError:
        return os.uname().nodename
    local = getattr(cluster, "local", None)  # a remote node is named by its cluster's resource
    return (local and local.name) or os.uname().nodename


def is_remote(env: Mapping[str, str]) -> bool:
    return env.get("PCMK_ROLE", "cluster") == "remote"


def role(env: Mapping[str, str]) -> str:
    return env.get("PCMK_ROLE", "cluster")


def cmd_health(env: Mapping[str, str]) -> int:
    if is_remote(env):
        return cmd_remote_health(env)
    if role(env) == "arbitrator":
        return cmd_arbitrator_health(env)
    # The daemons first: crm_mon may still call this node online while its fencer is gone.
    reason = health.judge_daemons(procs.pacemaker_daemons())
    if reason is None:
        try:
            reason = health.judge(cluster_state(), local_node_name(env))
        except NoClusterState as exc:
            reason = str(exc)
    if reason:
        print(f"unhealthy: {reason}")
        return 1
    print("healthy: this node is online in a quorate partition with a DC")
    return 0


def cmd_status(env: Mapping[str, str], as_json: bool) -> int:
    if is_remote(env):
        return cmd_remote_status(env, as_json)
    if role(env) == "arbitrator":
        return cmd_arbitrator_status(env, as_json)
    name = local_node_name(env)
    cluster_name = env.get("PCMK_CLUSTER_NAME", "docker")
    metrics, address = parse_metrics(env, Problems())
    daemons = procs.pacemaker_daemons()
    daemons_reason = health.judge_daemons(daemons)
    daemon_facts: dict[str, Any] = {
        "daemons": daemons,
        "missing_daemons": health.missing_daemons(daemons),
    }
    daemon_facts.update(host_report())
    try:
        state = cluster_state(with_cib=True)
    except NoClusterState as exc:
        if as_json:
            data = {"running": False, "reason": str(exc), "local_node": name, "healthy": False}
            print(json.dumps(data | daemon_facts, indent=2))
        else:
            print(f"not running: {exc}")
            print(health.daemons_line(daemons))
        return 1
    reason = daemons_reason or health.judge(state, name)
    members = node_list_report(env, state)
    members["booth"] = booth_tickets() if booth.wanted(env) else None
    if as_json:
        data = {"running": True, "cluster_name": cluster_name, "local_node": name}
        data.update(state.to_dict())
        data["healthy"] = reason is None
        data["unhealthy_reason"] = reason
        data.update(daemon_facts)
        data["metrics"] = {"on": metrics, "address": address}
        data.update(members)
        print(json.dumps(data, indent=2))
    else:
        sys.stdout.write(health.summary(state, cluster_name, name))
        print(health.daemons_line(daemons))
        print(metrics_line(Settings(metrics=metrics, metrics_address=address)))
        print(f"node list: {members['node_list']} (from {members['node_list_source']})")
        for left in members["leftover_nodes"]:
            print(
                f"leftover: pacemaker still shows {left}, which was removed from this node's "
                f"list. Fix: pcmk-launch nodes remove {left} (purges it again)"
            )
        for other in members["unknown_nodes"]:
            print(
                f"not in this node's list: pacemaker shows {other}. If other nodes added it, "
                f"run the same `pcmk-launch nodes add {other}=ADDR` here; if it was removed, "
                f"pcmk-launch nodes remove {other} purges it"
            )
        for line in booth_lines(members["booth"]):
            print(line)
        for f in daemon_facts["host_findings"]:
            if not f["ok"]:
                print(f"host: {f['topic']}: {f['text']}. Fix: {f['fix']}")
        if reason:
            print(f"unhealthy: {reason}")
    return 0


def booth_tickets() -> list[dict[str, str | None]] | None:
    """`booth list`: every ticket with the site holding it and its expiry, as booth sees it
    from here; None when booth does not answer (on a site node, booth runs where the site's
    booth group runs)."""
    try:
        out = _run(["booth", "list"])
    except NoClusterState:
        return None
    return health.booth_list(out.stdout) if out.returncode == 0 else None


def booth_lines(tickets: list[dict[str, str | None]] | None) -> list[str]:
    if tickets is None:
        return []
    if not tickets:
        return ["booth: no tickets"]
    return [
        f"booth ticket {t['ticket']}: held by {t['leader'] or 'no site'}"
        + (f", expires {t['expires']}" if t["expires"] else "")
        for t in tickets
    ]


def host_report() -> dict[str, Any]:
    """status --json: what the node gets from its host (hostcheck) and what the running
    corosync really got (scheduling policy, locked memory)."""
    facts = hostcheck.read_facts()
    corosync = procs.pids_named("corosync")
    return {
        "host": facts.to_dict(),
        "host_findings": [
            {"topic": f.topic, "ok": f.ok, "text": f.text, "fix": f.fix}
            for f in hostcheck.findings(facts)
        ],
        "corosync": hostcheck.corosync_got(corosync[0]) if corosync else None,
    }


def node_list_report(env: Mapping[str, str], state: health.ClusterState) -> dict[str, Any]:
    """status: the node list in force, where it comes from, and nodes pacemaker still shows
    that are not in it (a removal not finished, or written back by a new DC)."""
    current, used = env_with_stored(env, NODE_LIST_FILE)
    text = current.get(VAR_NODE_LIST, "")
    stored = read_stored(NODE_LIST_FILE) if used else None
    known = {int(n.id): n.name for n in state.nodes if n.id.isdigit()}
    left, unknown = strangers(text, known, stored.retired if stored else ())
    return {
        "node_list": text,
        "node_list_source": NODE_LIST_FILE if used else VAR_NODE_LIST,
        "leftover_nodes": left,
        "unknown_nodes": unknown,
    }


# ---- a Pacemaker Remote node ---------------------------------------------------------------


def remote_state(env: Mapping[str, str]) -> health.RemoteState:
    """pacemaker-remoted's pids, whether it listens on its port, and who is connected."""
    pids = procs.pids_named("pacemaker-remoted")
    port = remote_port(env, Problems())
    tables = listening.read_tables()
    return health.RemoteState(
        tuple(sorted(pids)),
        port,
        listening.listening(port, tables),
        tuple(listening.peers(port, tables)),
    )


def cmd_remote_health(env: Mapping[str, str]) -> int:
    state = remote_state(env)
    reason = health.judge_remote(state)
    if reason:
        print(f"unhealthy: {reason}")
        return 1
    conn = f"; cluster connected from {' '.join(state.peers)}" if state.peers else ""
    print(f"healthy: pacemaker-remoted is listening on TCP {state.port}{conn}")
    return 0


def cmd_remote_status(env: Mapping[str, str], as_json: bool) -> int:
    """A remote node knows its daemon and connections; the cluster's view only when a full
    node is connected (crm_mon then reaches the CIB through pacemaker-remoted)."""
    state = remote_state(env)
    reason = health.judge_remote(state)
    cluster, why = None, "no cluster connected"
    if state.peers:
        try:
            cluster = cluster_state(with_cib=True)
        except NoClusterState as exc:
            why = str(exc)
    host = os.uname().nodename
    if as_json:
        data = {"role": "remote", "running": bool(state.pids), "hostname": host}
        data.update(state.to_dict())
        data["connected"] = bool(state.peers)
        data["healthy"] = reason is None
        data["cluster"] = cluster.to_dict() if cluster else None
        if cluster is None:
            data["cluster_reason"] = why
        print(json.dumps(data, indent=2))
    else:
        sys.stdout.write(health.remote_summary(state, host))
        if cluster is not None:
            name = env.get("PCMK_CLUSTER_NAME", "docker")
            sys.stdout.write(health.summary(cluster, name, host))
        if reason:
            print(f"unhealthy: {reason}")
    return 0 if state.pids else 1


# ---- a booth arbitrator --------------------------------------------------------------------


def arbitrator_state(env: Mapping[str, str]) -> dict[str, Any]:
    port = int(env.get(booth.PORT, "").strip() or booth.DEFAULT_PORT)
    pids = sorted(procs.pids_named("boothd"))
    listens = listening.listening(port, listening.read_tables())
    return {"boothd": pids, "port": port, "listening": listens}


def judge_arbitrator(state: dict[str, Any]) -> str | None:
    if not state["boothd"]:
        return "boothd is not running"
    if not state["listening"]:
        return f"boothd is not listening on TCP {state['port']} (yet)"
    return None


def cmd_arbitrator_health(env: Mapping[str, str]) -> int:
    state = arbitrator_state(env)
    reason = judge_arbitrator(state)
    if reason:
        print(f"unhealthy: {reason}")
        return 1
    print(f"healthy: the booth arbitrator is listening on port {state['port']}")
    return 0


def cmd_arbitrator_status(env: Mapping[str, str], as_json: bool) -> int:
    """An arbitrator holds no ticket but sees who does: `booth list` from here."""
    state = arbitrator_state(env)
    reason = judge_arbitrator(state)
    tickets = booth_tickets() if state["boothd"] else None
    if as_json:
        data = {"role": "arbitrator", "running": bool(state["boothd"]), **state}
        data.update({"healthy": reason is None, "unhealthy_reason": reason, "tickets": tickets})
        print(json.dumps(data, indent=2))
    else:
        pid = " ".join(map(str, state["boothd"])) or "none"
        listens = "listening" if state["listening"] else "NOT listening"
        print(
            f"booth arbitrator {os.uname().nodename}: boothd pid {pid}, {listens} on port "
            f"{state['port']}"
        )
        for line in booth_lines(tickets):
            print(line)
        if reason:
            print(f"unhealthy: {reason}")
    return 0 if state["boothd"] else 1
