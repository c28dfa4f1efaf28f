"""`pcmk-launch nodes`: change the node list of a running node (the shell around membership.py).

    pcmk-launch nodes [show]              the list in force, each node's id and membership
    pcmk-launch nodes add ENTRY...        add nodes (ENTRY as in PCMK_NODE_LIST; @ID optional)
    pcmk-launch nodes remove NODE...      remove stopped nodes (NODE: name, address or id)
    pcmk-launch nodes replace NODE ENTRY  a stopped node's host replaced (new address or name)

Each run changes this node only: run the same command on every node of the cluster. The new
list is checked like PCMK_NODE_LIST, kept on the corosync volume (options.NODE_LIST_FILE),
rendered into corosync.conf and applied with `corosync-cfgtool -R`; a removed node is then
purged from Pacemaker's configuration (`crm_node --remove`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import replace

from . import membership
from .addresses import InterfaceTable
from .config import env_with_stored, load_cluster, read_stored
from .errors import ConfigError, ExitCode, NoClusterState, Problems, report
from .fsutil import atomic_write
from .launchlog import LOG
from .nodelist import VAR, Node
from .prepare import render_files
from .queries import cluster_state
from .settings import Cluster

ACTIONS = ("show", "add", "remove", "replace")


def members() -> dict[int, str] | None:
    """corosync's runtime view: nodeid -> status ('joined', 'left'); None if it is not running."""
    try:
        out = subprocess.run(
            ["corosync-cmapctl", "-b", "runtime.members"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    found: dict[int, str] = {}
    for line in out.stdout.splitlines():
        # runtime.members.2.status (str) = joined
        key, _, value = line.partition(" = ")
        parts = key.split(" ")[0].split(".")
        if len(parts) == 4 and parts[3] == "status" and parts[2].isdigit():
            found[int(parts[2])] = value.strip()
    return found


def pacemaker_names() -> dict[int, str]:
    """nodeid -> the name pacemaker knows the node by (crm_mon), {} if it cannot say."""
    try:
        state = cluster_state()
    except NoClusterState:
        return {}
    return {int(n.id): n.name for n in state.nodes if n.id.isdigit()}


def purge(nodeid: int, name: str | None) -> str:
    """Remove a node that left corosync's list from pacemaker's configuration and caches."""
    name = name or pacemaker_names().get(nodeid)
    if not name:
        return f"id {nodeid}: pacemaker does not know it (never joined, or already purged)"
    try:
        out = subprocess.run(
            ["crm_node", "--force", "--remove", name], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{name}: crm_node --remove failed ({exc}); run it again on any node"
    if out.returncode == 0:
        return f"{name}: removed from pacemaker's configuration (crm_node --remove)"
    said = out.stderr.strip() or out.stdout.strip() or f"exit code {out.returncode}"
    return f"{name}: crm_node --remove said: {said.splitlines()[-1]}"


def _leftovers(current: str, selectors: list[str]) -> list[tuple[int, str]] | None:
    """Nodes named that are no longer in the list but pacemaker still shows: a removal done
    before, which a new DC wrote back (Pacemaker's controllers keep a removed node in their
    peer cache until they restart). None when any selector is a node of the list."""
    entries = membership.listing(current)
    if any(membership.match(e, sel) for e in entries for sel in selectors):
        return None
    known = pacemaker_names()
    listed = {e.nodeid for e in entries}
    found = [
        (nodeid, name)
        for nodeid, name in known.items()
        if nodeid not in listed
        and any(sel.lower() in (name.lower(), str(nodeid), f"@{nodeid}") for sel in selectors)
    ]
    return found or None


def fence_targets(resources_xml: str) -> dict[str, list[str]]:
    """Fence devices that name their targets (pcmk_host_list, pcmk_host_map): id -> names."""
    try:
        root = ET.fromstring(resources_xml)
    except ET.ParseError:
        return {}
    found: dict[str, list[str]] = {}
    for prim in root.iter("primitive"):
        if prim.get("class") != "stonith":
            continue
        params = {nv.get("name"): nv.get("value") or "" for nv in prim.iter("nvpair")}
        names = params.get("pcmk_host_list", "").replace(",", " ").split()
        for pair in params.get("pcmk_host_map", "").replace(";", " ").split():
            names.append(pair.split(":", 1)[0])
        if names:
            found[prim.get("id", "")] = names
    return found


def fencing_notes(targets: dict[str, list[str]], added: list[str], removed: list[str]) -> list[str]:
    """What to change in the fencing configuration after a membership change (pure)."""
    notes = []
    for name in removed:
        for dev, names in targets.items():
            if name.lower() in (n.lower() for n in names):
                notes.append(
                    f"fencing: device {dev} still targets {name}, which left the cluster. Fix: "
                    f"delete it once, on any node (pcs stonith delete {dev})"
                )
    for name in added:
        if targets and not any(name.lower() in (n.lower() for n in v) for v in targets.values()):
            dev, names = next(iter(targets.items()))
            notes.append(
                f"fencing: no device targets {name} yet (e.g. {dev} targets {' '.join(names)}). "
                f"Fix: create one for {name} as for the others, once, on any node"
            )
    return notes


def _fence_resources() -> str:
    try:
        out = subprocess.run(
            ["cibadmin", "--query", "--scope", "resources"],
            capture_output=True,
            text=True,
            timeout=15,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout if out.returncode == 0 else ""


def _compute(
    action: str, words: list[str], current: str, retired: tuple[int, ...], problems: Problems
) -> membership.Change:
    if action == "add":
        if not words:
            problems.add("nodes add needs at least one entry. Fix: e.g. nodes add node4=192.0.2.4")
        return membership.add(current, words, problems)
    if action == "remove":
        if not words:
            problems.add("nodes remove needs a node. Fix: e.g. nodes remove node2")
        return membership.remove(current, words, retired, problems)
    if len(words) != 2:
        problems.add(
            "nodes replace needs the node and its new entry. Fix: e.g. "
            "nodes replace node3 node3=192.0.2.33"
        )
        return membership.Change(current)
    return membership.replace(current, words[0], words[1], retired, problems)


def _running_refusals(
    change: membership.Change, local: Node, live: dict[int, str] | None, force: bool
) -> list[str]:
    """Problems with the live cluster: removing this node, or a node that still runs."""
    problems: list[str] = []
    for entry in change.removed:
        label = f"{entry.name or entry.text} (id {entry.nodeid})"
        if entry.nodeid == local.nodeid:
            problems.append(
                f"{label} is this node: a node does not remove itself. Fix: stop this node's "
                "container (docker stop), then run the same command on every other node."
            )
        elif live and live.get(entry.nodeid) == "joined" and not force:
            problems.append(
                f"{label} is a member of the running cluster: taking it out of the list while "
                "it runs cuts it off, and the others will fence it. Fix: stop it first "
                "(docker stop on its host), wait until `pcmk-launch status` shows it offline, "
                "then run this again (--force skips this check)."
            )
    return problems


def cmd_nodes(
    args: argparse.Namespace, env: Mapping[str, str], interfaces: InterfaceTable | None = None
) -> int:
    words = list(args.words)
    action = words.pop(0) if words else "show"
    if action not in ACTIONS:
        report(
            f"nodes: unknown action {action!r}. Fix: use one of {', '.join(ACTIONS)}, e.g. "
            "pcmk-launch nodes add node4=192.0.2.4"
        )
        return ExitCode.CONFIG
    try:
        if action == "show":
            return show(args, env, interfaces)
        return change(args, env, action, words, interfaces)
    except ConfigError as exc:
        report(exc.message())
        return exc.exit_code


def _load(
    env: Mapping[str, str], args: argparse.Namespace, interfaces: InterfaceTable | None
) -> Cluster:
    cluster = load_cluster(env, args, interfaces, stored=False)
    if not isinstance(cluster, Cluster):
        raise ConfigError(
            f"nodes: PCMK_ROLE={cluster.settings.role} has no node list (it is not a member of "
            "the corosync membership). Fix: run the command on the full cluster nodes."
        )
    if cluster.standalone:
        raise ConfigError(
            f"nodes: this node runs standalone ({VAR} is empty). Fix: to make it a cluster, "
            f"re-create it with {VAR} listing every node."
        )
    return cluster


def show(
    args: argparse.Namespace, env: Mapping[str, str], interfaces: InterfaceTable | None = None
) -> int:
    env, used = env_with_stored(env, args.node_list_file)
    cluster = _load(env, args, interfaces)
    live = members()
    stored = read_stored(args.node_list_file) if used else None
    source = (
        f"{args.node_list_file} (last change: {stored.change})"
        if stored
        else f"{VAR} (as the container was started)"
    )
    print(f"node list from {source}:")
    for node in cluster.nodes:
        state = "corosync not running" if live is None else live.get(node.nodeid, "not a member")
        mark = "  <- this node" if node is cluster.local else ""
        addrs = ",".join(node.addrs)
        print(f"  id {node.nodeid:<4} {node.name or '-':<16} {addrs:<32} {state}{mark}")
    print(f'{VAR} for a new node: "{membership.with_ids(env[VAR])}"')
    return ExitCode.OK


def change(
    args: argparse.Namespace,
    env: Mapping[str, str],
    action: str,
    words: list[str],
    interfaces: InterfaceTable | None = None,
) -> int:
    path = args.node_list_file
    stored = read_stored(path)
    current_env, used = env_with_stored(env, path)
    before = _load(current_env, args, interfaces)
    current = current_env[VAR]
    retired = stored.retired if (stored and used) else ()
    if action == "remove" and words:
        leftovers = _leftovers(current, words)
        if leftovers is not None:
            for nodeid, name in leftovers:
                print(purge(nodeid, name))
            return ExitCode.OK
    problems = Problems()
    result = _compute(action, words, current, retired, problems)
    problems.raise_if_any()
    refusals = _running_refusals(result, before.local, members(), args.force)
    if refusals:
        raise ConfigError(refusals)
    # The new list must pass every check PCMK_NODE_LIST passes, and keep this node's id.
    after = _load({**env, VAR: result.nodes}, args, interfaces)
    if after.local.nodeid != before.local.nodeid:
        raise ConfigError(
            f"this node's id would change from {before.local.nodeid} to {after.local.nodeid}. "
            "Fix: keep this node's id in its entry."
        )
    command = " ".join([action, *words])
    new = membership.Stored(
        base=membership.normal(env.get(VAR, "")),
        nodes=result.nodes,
        change=command,
        retired=result.retired,
    )
    old_text = _read_bytes(path)
    render_args = replace_args(args)
    running = members() is not None
    for step in (*result.via, result.nodes):
        _write_stored(path, replace(new, nodes=step).to_json().encode())
        try:
            render_files(render_args, env, interfaces)
            failed = _reload() if running else None
        except ConfigError:
            _rollback(path, old_text, render_args, env, running, interfaces)
            raise
        if failed is not None:
            _rollback(path, old_text, render_args, env, running, interfaces)
            report(f"nodes: corosync-cfgtool -R failed ({failed}); the previous list is back")
            return ExitCode.INTERNAL
    if running:
        LOG.notice(f"nodes {command}: corosync reloaded the list ({len(after.nodes)} nodes)")
    else:
        print(f"nodes: {command}: done; corosync does not run here, the list applies at its start")
    for entry in result.removed:
        if entry.nodeid in {n.nodeid for n in after.nodes}:
            continue  # replaced in place: pacemaker keeps the node
        print(purge(entry.nodeid, entry.name))
    if running:
        # A node replaced under its own name keeps its fence device.
        was = {e.name for e in result.removed if e.name}
        now = {e.name for e in result.added if e.name}
        notes = fencing_notes(
            fence_targets(_fence_resources()), sorted(now - was), sorted(was - now)
        )
        for note in notes:
            print(note)
    print(f"this node now runs: {result.nodes}")
    print(
        "next: run the same command on every other node of the cluster"
        + (f'; start a new node with {VAR}="{result.nodes}"' if result.added else "")
    )
    return ExitCode.OK


def _rollback(
    path: str,
    old_text: bytes | None,
    render_args: argparse.Namespace,
    env: Mapping[str, str],
    running: bool,
    interfaces: InterfaceTable | None = None,
) -> None:
    _restore(path, old_text)
    render_files(render_args, env, interfaces)
    if running:
        _reload()


def replace_args(args: argparse.Namespace) -> argparse.Namespace:
    render_args = argparse.Namespace(**vars(args))
    render_args.command, render_args.dry_run, render_args.check = "render", False, False
    return render_args


def _reload() -> str | None:
    try:
        out = subprocess.run(["corosync-cfgtool", "-R"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if out.returncode == 0:
        return None
    return (out.stderr.strip() or out.stdout.strip() or f"exit code {out.returncode}").replace(
        "\n", " | "
    )


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _write_stored(path: str, data: bytes) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, data, mode=0o644)
    except OSError as exc:
        raise ConfigError(
            f"nodes: cannot write {path}: {exc.strerror}. Fix: mount a writable volume on "
            f"{os.path.dirname(path)} (it keeps the list across restarts)."
        ) from None


def _restore(path: str, data: bytes | None) -> None:
    if data is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    else:
        atomic_write(path, data, mode=0o644)
