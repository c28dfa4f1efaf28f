"""Membership changes on namespace hosts, as an operator makes them with `pcmk-launch nodes`.

Shared by the cluster test (tests/cluster/test_membership.py) and the benchmark
(bench/membership.py), so both drive and measure the steps the same way:

- `start(cluster, client)`: the launcher on every host (named entries, fencing off), an
  IPaddr2 VIP and a Dummy; returns a `Members` that tracks who is in the cluster.
- `grow`, `shrink`, `replace_dead`: one step each, while a `Watch` pings the VIP every 50 ms
  from the client and polls quorum on a node that stays; each returns a `Step` (seconds from
  the first command to every node converged, the VIP's longest gap). A step whose quorum was
  lost, or that moved a resource it did not have to, raises AssertionError.
- `failover`: the baseline a step's VIP gap is compared with: the VIP holder's power cut.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from .cluster import LAUNCHER_ARGV, Cluster, cluster_state, launcher_env, wait_state
from .hosts import Host, wait_for
from .pinger import VIP, Pinger

NODES = [sys.executable, "-m", "pcmk_launch", "nodes"]
STATUS = [sys.executable, "-m", "pcmk_launch", "status", "--json"]
PROPS = "dc-deadtime=1s stonith-enabled=false"
NOW_RUNS = re.compile(r"^this node now runs: (.+)$", re.M)
STOP_TIMEOUT = 150  # > PCMK_STOP_TIMEOUT (90) + PCMK_COROSYNC_STOP_TIMEOUT (20)


@dataclass(frozen=True)
class Step:
    what: str
    seconds: float  # first `nodes` command (or stop) to every node converged
    gap: float  # the VIP's longest time without an echo reply


def quorumtool(host: Host) -> str:
    return host.run(["corosync-quorumtool", "-s"], check=False).stdout


def expected_votes(host: Host) -> int:
    m = re.search(r"^Expected votes:\s+(\d+)", quorumtool(host), re.M)
    return int(m.group(1)) if m else -1


class Members:
    """The cluster as the operator sees it: which hosts are members, by which node name."""

    def __init__(self, c: Cluster, client: Host, env: dict[str, str]):
        self.c, self.client, self.env = c, client, env
        self.members: list[Host] = list(c.hosts)
        self.ids: dict[str, str] = {}  # node name -> the id it had first
        self.aliases: dict[str, str] = {}  # hostname -> node name, where the entry names it
        self.removed: set[str] = set()  # node names removed from the list
        self.repurged: list[str] = []  # leftovers a new DC wrote back, purged again
        self.failed = False

    def name(self, host: Host) -> str:
        return self.aliases.get(host.name, host.name)

    def nodes(self, host: Host, *words: str, check: bool = True):
        res = host.run([*NODES, *words], env=host.env, timeout=90, check=False)
        if check:
            assert res.returncode == 0, f"{host.name}: nodes {words}: {res.stdout}{res.stderr}"
        return res

    def on_all(self, *words: str) -> str:
        """Run `nodes WORDS` on every running member; the list they all now run."""
        lists = set()
        for h in self.running():
            match = NOW_RUNS.search(self.nodes(h, *words).stdout)
            assert match, f"{h.name}: nodes {words} printed no list"
            lists.add(match.group(1))
        assert len(lists) == 1, lists
        return lists.pop()

    def running(self) -> list[Host]:
        return [h for h in self.members if h.running]

    def converged(self, timeout: float = 120) -> dict:
        """Every running member online with quorum and one DC; every node's CIB lists exactly
        the members; no node's id changed; expected votes = the number of members."""
        names = sorted(self.name(h) for h in self.running())
        state = self.settle(timeout=timeout)
        for h in self.running():
            wait_for(lambda h=h: self.purged(h, names), 60, f"{h.name}'s CIB to list {names}")
        for name, info in cluster_state(self.running()[0])["nodes"].items():
            assert self.ids.setdefault(name, info["id"]) == info["id"], (name, info, self.ids)
        for h in self.running():
            votes = expected_votes(h)
            assert votes == len(self.members), (h.name, votes, len(self.members))
        return state

    def settle(self, offline: Iterable[str] = (), timeout: float = 120) -> dict:
        """Every running member sees them all online, with quorum and a DC among them, and
        `offline` offline. Offline nodes that were removed from the list are tolerated: a DC
        elected meanwhile may have written one back (converged() purges them)."""
        names = sorted(self.name(h) for h in self.running())
        allowed = set(offline) | self.removed

        def ok(state: dict) -> bool:
            return (
                state["dc"] in names
                and state["have_quorum"]
                and state["online"] == names
                and set(offline) <= set(state["offline"])
                and set(state["offline"]) <= allowed
            )

        deadline = time.monotonic() + timeout
        state: dict = {}
        for h in self.running():
            left = max(deadline - time.monotonic(), 1)
            state = wait_state(h, ok, left, f"{names} online, {sorted(offline)} offline")
        return state

    def purged(self, host: Host, names: list[str]) -> bool:
        """Whether host's CIB lists exactly `names`. A node removed earlier may come back
        (offline, unseen) when a new DC writes the <nodes> section from its controller's peer
        cache, which `crm_node --remove` does not clear (Pacemaker 2.1 and 3.0): then status
        must name it as a leftover, and `nodes remove` again must purge it."""
        shown = sorted(cluster_state(host)["nodes"])
        extra = sorted(set(shown) - set(names))
        if not extra:
            return shown == names
        assert set(extra) <= self.removed, (host.name, shown, names)
        status = json.loads(host.run(STATUS, env=host.env).stdout)
        assert sorted(status["leftover_nodes"] + status["unknown_nodes"]) == extra, status
        self.repurged += extra
        for name in extra:
            out = self.nodes(host, "remove", name).stdout
            assert "removed from pacemaker's configuration" in out, out
        return False

    def placement(self) -> dict[str, list[str]]:
        res = cluster_state(self.running()[0])["resources"]
        return {rid: r["nodes"] for rid, r in res.items()}

    def host_of(self, name: str) -> Host:
        return next(h for h in self.members if self.name(h) == name)


class Watch:
    """Pings the VIP from the client and polls quorum on `viewer` while a step runs."""

    def __init__(self, m: Members, viewer: Host):
        self.pinger = Pinger(m.client)
        self.viewer = viewer
        self.lost: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        try:
            wait_for(lambda: self.pinger.replies_after(0) > 0, 10, "the VIP answering")
        except BaseException:
            self.pinger.stop()
            raise
        self.t0 = time.monotonic()
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            try:
                state = cluster_state(self.viewer, timeout=5)
            except Exception:  # a busy moment: the next poll decides
                continue
            if not state["have_quorum"]:
                self.lost.append(state)

    def done(self) -> float:
        """Stop; the VIP's longest gap since the start. Raises if quorum was ever lost."""
        try:
            wait_for(
                lambda: self.pinger.replies_after(time.monotonic() - 0.5) > 0,
                30,
                "the VIP answering after the step",
            )
            gap = self.pinger.longest_gap(self.t0)
        finally:
            self.pinger.stop()
            self._stop.set()
            self._thread.join()
        assert not self.lost, f"quorum lost during the step: {self.lost[:1]}"
        return gap


def start(c: Cluster, client: Host) -> Members:
    """The launcher on every host of c, a VIP and a Dummy; client already started."""
    env = launcher_env(c.hosts, names=True, PCMK_CLUSTER_PROPERTIES=PROPS)
    for h in c.hosts:
        h.start(LAUNCHER_ARGV, env)
    c.wait_converged(timeout=90)
    admin = c.hosts[0]
    admin.run(
        [
            "pcs", "resource", "create", "vip", "ocf:heartbeat:IPaddr2",
            f"ip={VIP}", "cidr_netmask=24", "op", "monitor", "interval=5s",
        ]
    )  # fmt: skip
    admin.run(["pcs", "resource", "create", "dummy", "ocf:pacemaker:Dummy"])
    m = Members(c, client, env)
    wait_for(lambda: all(m.placement().get(r) for r in ("vip", "dummy")), 60, "resources")
    m.converged()
    return m


def grow(m: Members) -> Step:
    """A new host: `nodes add` on every member, then the new node started with the list."""
    before = m.placement()
    new = m.c.network.add_host()
    watch = Watch(m, m.members[0])
    t0 = time.monotonic()
    nodes = m.on_all("add", f"{new.name}={new.address}")
    assert f"{new.name}={new.address}@" in nodes, nodes
    m.members.append(new)
    new.start(LAUNCHER_ARGV, {**m.env, "PCMK_NODE_LIST": nodes})
    m.converged()
    took = time.monotonic() - t0
    gap = watch.done()
    assert m.placement() == before, "a resource moved while a node was added"
    return Step(f"grow to {len(m.members)}", took, gap)


def shrink(m: Members, pick: str) -> Step:
    """Stop a node (pick "middle": a middle entry that holds no VIP; "dc": the DC), then
    `nodes remove` it on every other member."""
    if pick == "middle":
        holder = m.placement()["vip"][0]
        leaver = next(h for h in m.members[1:-1] if m.name(h) != holder)
    else:
        leaver = m.host_of(cluster_state(m.members[0])["dc"])
    watch = Watch(m, next(h for h in m.members if h is not leaver))
    t0 = time.monotonic()
    assert leaver.stop(STOP_TIMEOUT) == 0
    m.members.remove(leaver)
    m.settle(offline=[m.name(leaver)], timeout=60)
    m.removed.add(m.name(leaver))
    nodes = m.on_all("remove", m.name(leaver))
    assert f"{m.name(leaver)}=" not in nodes, nodes
    m.converged()
    took = time.monotonic() - t0
    return Step(f"shrink to {len(m.members)} ({pick})", took, watch.done())


def replace_dead(m: Members, rename: bool = False) -> Step:
    """A host that holds no VIP loses power for good; a new host (new address, new hostname)
    takes its place: `nodes replace` on every member, then the new node. Under the dead node's
    name it keeps its id; renamed, it gets a new id and the old name is purged."""
    holder = m.placement()["vip"][0]
    dead = next(h for h in m.members if m.name(h) != holder)
    old_name = m.name(dead)
    name = f"{old_name}r" if rename else old_name
    old_id = m.ids[old_name]
    dead.power_cut()
    m.members.remove(dead)
    m.settle(offline=[old_name], timeout=60)
    new = m.c.network.add_host()
    watch = Watch(m, m.members[0])
    t0 = time.monotonic()
    nodes = m.on_all("replace", old_name, f"{name}={new.address}")
    if rename:
        m.removed.add(old_name)
        assert f"{old_name}=" not in nodes and f"{name}={new.address}@" in nodes, nodes
    else:
        assert f"{name}={new.address}@{old_id}" in nodes, nodes
    m.members.append(new)
    m.aliases[new.name] = name  # pacemaker knows it by its entry's name
    new.start(LAUNCHER_ARGV, {**m.env, "PCMK_NODE_LIST": nodes})
    m.converged()
    took = time.monotonic() - t0
    gap = watch.done()
    assert (m.ids[name] == old_id) != rename, (m.ids, old_id)
    return Step(f"replace a dead host ({'new' if rename else 'same'} name)", took, gap)


def failover(m: Members) -> Step:
    """Baseline: the VIP holder's power cut, until the VIP answers from another node."""
    holder = m.host_of(m.placement()["vip"][0])
    viewer = next(h for h in m.members if h is not holder)
    watch = Watch(m, viewer)
    t0 = time.monotonic()
    holder.power_cut()
    m.members.remove(holder)

    def moved(state: dict) -> bool:
        # Not the exact node list: a DC elected now may write a removed node back (purged).
        where = state["resources"].get("vip", {}).get("nodes", [])
        return state["have_quorum"] and bool(where) and m.name(holder) not in where

    wait_for(lambda: cluster_state(viewer), 90, "the VIP started on another node", until=moved)
    took = time.monotonic() - t0
    return Step("failover: VIP holder powered off", took, watch.done())
