"""Membership changes of a running cluster (issue 25), with the real daemons.

One module-scoped cluster with a VIP and a Dummy, changed in steps as an operator would:
grow 3 -> 4 -> 5 with `pcmk-launch nodes add` on every running node and the new node started
with the list it prints; shrink 5 -> 3 by stopping a middle node and then the DC and
`nodes remove` on the others; a dead host replaced by a new one under the same name. Through
every step a client pings the VIP every 50 ms and a watcher polls quorum on a node that
stays: quorum must never be lost and no node's id may change. The VIP's longest gap in each
step is printed as a TIMING line.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time

import pytest

from tests.harness.cluster import (
    LAUNCHER_ARGV,
    Cluster,
    cluster_state,
    launcher_env,
    wait_converged,
)
from tests.harness.hosts import Host, wait_for
from tests.harness.pinger import VIP, Pinger

pytestmark = pytest.mark.root

NODES = [sys.executable, "-m", "pcmk_launch", "nodes"]
PROPS = "dc-deadtime=1s stonith-enabled=false"
NOW_RUNS = re.compile(r"^this node now runs: (.+)$", re.M)


class Shared:
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
            out = self.nodes(h, *words).stdout
            lists.add(NOW_RUNS.search(out).group(1))
        assert len(lists) == 1, lists
        return lists.pop()

    def running(self) -> list[Host]:
        return [h for h in self.members if h.running]

    def converged(self, timeout: float = 120) -> dict:
        names = sorted(self.name(h) for h in self.running())
        state = wait_converged(self.running(), names, timeout=timeout)
        # Every node's view: exactly the running members, no leftovers of removed nodes.
        for h in self.running():
            wait_for(
                lambda h=h: self.purged(h, names),
                60,
                f"{h.name}'s CIB to list exactly {names}",
            )
        for name, info in cluster_state(self.running()[0])["nodes"].items():
            assert self.ids.setdefault(name, info["id"]) == info["id"], (name, info, self.ids)
        for h in self.running():
            votes = expected_votes(h)
            assert votes == len(self.members), (h.name, votes, len(self.members))
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
        status = json.loads(host.run([*NODES[:-1], "status", "--json"], env=host.env).stdout)
        assert status["leftover_nodes"] == extra, status
        self.repurged += extra
        for name in extra:
            out = self.nodes(host, "remove", name).stdout
            assert "removed from pacemaker's configuration" in out, out
        return False

    def placement(self) -> dict[str, list[str]]:
        res = cluster_state(self.members[0])["resources"]
        return {rid: r["nodes"] for rid, r in res.items()}


def quorumtool(host: Host) -> str:
    return host.run(["corosync-quorumtool", "-s"], check=False).stdout


def expected_votes(host: Host) -> int:
    out = quorumtool(host)
    m = re.search(r"^Expected votes:\s+(\d+)", out, re.M)
    return int(m.group(1)) if m else -1


class Watch:
    """Pings the VIP and polls quorum on `viewer` while a step runs."""

    def __init__(self, s: Shared, viewer: Host):
        self.pinger = Pinger(s.client)
        self.viewer = viewer
        self.lost: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        wait_for(lambda: self.pinger.replies_after(0) > 0, 10, "the VIP answering")
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
        time.sleep(0.3)  # a few more replies after the step, so a gap at its end counts
        gap = self.pinger.longest_gap(self.t0)
        self.pinger.stop()
        self._stop.set()
        self._thread.join()
        assert not self.lost, f"quorum lost during the step: {self.lost[:1]}"
        return gap


@pytest.fixture(scope="module")
def _shared(cluster_prereqs):
    c = Cluster(3)
    s = None
    try:
        client = c.network.add_host(name="client")
        client.start(["/bin/sleep", "infinity"])
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
        s = Shared(c, client, env)
        wait_for(lambda: all(s.placement().get(r) for r in ("vip", "dummy")), 60, "resources")
        s.converged()
        yield s
    finally:
        c.finish(failed=s is None or s.failed)


@pytest.fixture
def shared(request, _shared):
    yield _shared
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        _shared.failed = True


def test_grow_from_3_to_5_moves_nothing(shared, timing):
    s = shared
    before = s.placement()
    for _ in range(2):
        new = s.c.network.add_host()  # node5, node6: the client took the 4th place
        watch = Watch(s, s.members[0])
        t0 = time.monotonic()
        nodes = s.on_all("add", f"{new.name}={new.address}")
        assert f"{new.name}={new.address}@" in nodes
        s.members.append(new)
        new.start(LAUNCHER_ARGV, {**s.env, "PCMK_NODE_LIST": nodes})
        s.converged()
        took = time.monotonic() - t0
        gap = watch.done()
        timing(f"grow to {len(s.members)}: nodes add on every node, new node online", took)
        timing(f"grow to {len(s.members)}: VIP longest gap (ping every 50 ms)", gap)
        assert s.placement() == before, "a resource moved while a node was added"
    assert len(s.members) == 5


def test_a_new_node_with_another_key_is_kept_out_and_disturbs_nothing(shared):
    """A node added to the list but started with a different key: knet drops its packets, so
    it never joins; the others keep quorum, membership and resources. Then it is removed as
    any stopped node is."""
    s = shared
    before = s.placement()
    stranger = s.c.network.add_host()
    watch = Watch(s, s.members[0])
    nodes = s.on_all("add", f"{stranger.name}={stranger.address}")
    env = {**s.env, "PCMK_NODE_LIST": nodes, "PCMK_AUTHKEY_PASSPHRASE": "another passphrase"}
    stranger.start(LAUNCHER_ARGV, env)
    wait_for(
        lambda: (
            "Quorate:          No"
            in stranger.run(["corosync-quorumtool", "-s"], check=False).stdout
        ),
        60,
        "the stranger up, alone and without quorum",
    )
    time.sleep(5)  # knet would have connected by now with the right key
    out = quorumtool(stranger)
    assert re.search(r"^Total votes:\s+1$", out, re.M), out
    for h in s.running():
        if h is stranger:
            continue
        state = cluster_state(h)
        assert stranger.name not in state["online"], state
        assert state["have_quorum"]
    assert stranger.stop(150) == 0
    s.removed.add(stranger.name)
    s.on_all("remove", stranger.name)
    s.converged()
    watch.done()  # quorum was never lost
    assert s.placement() == before


def test_bad_changes_are_refused_and_change_nothing(shared):
    s = shared
    h = s.members[0]
    conf = h.path("/etc/corosync/corosync.conf").read_bytes()
    stored = h.path("/var/lib/corosync/pcmk-node-list.json").read_bytes()
    other = s.members[1]
    cases = [
        (("remove", other.name), "is a member of the running cluster"),
        (("remove", h.name), "is this node"),
        (("add", "bad=not_an_address"), "is not an address or hostname"),
        (("add", f"x={other.address}"), "already in the list"),
        (("replace", other.name, f"{other.name}=192.0.2.99"), "is a member of the running"),
        (("frobnicate",), "unknown action"),
    ]
    for words, says in cases:
        res = s.nodes(h, *words, check=False)
        assert res.returncode == 2, (words, res.stdout, res.stderr)
        assert says in res.stderr and "Fix:" in res.stderr, (words, res.stderr)
    assert h.path("/etc/corosync/corosync.conf").read_bytes() == conf
    assert h.path("/var/lib/corosync/pcmk-node-list.json").read_bytes() == stored
    shown = s.nodes(h, "show").stdout
    assert all(s.name(m) in shown for m in s.members) and "joined" in shown


def test_shrink_to_3_removing_a_middle_node_and_the_dc(shared, timing):
    s = shared
    holder = s.placement()["vip"][0]
    for pick in ("middle", "dc"):
        if pick == "middle":
            # A middle entry of the list that does not hold the VIP: nothing must move.
            leaver = next(h for h in s.members[1:-1] if s.name(h) != holder)
        else:
            dc = cluster_state(s.members[0])["dc"]
            leaver = next(h for h in s.members if s.name(h) == dc)
        stays = next(h for h in s.members if h is not leaver)
        watch = Watch(s, stays)
        t0 = time.monotonic()
        assert leaver.stop(150) == 0
        s.members.remove(leaver)
        names = [s.name(h) for h in s.running()]
        wait_converged(s.running(), names, offline=[s.name(leaver)], timeout=60)
        s.removed.add(s.name(leaver))
        nodes = s.on_all("remove", s.name(leaver))
        assert f"{s.name(leaver)}=" not in nodes
        s.converged()
        took = time.monotonic() - t0
        gap = watch.done()
        timing(f"shrink to {len(s.members)} ({pick}): stop, nodes remove, CIB purged", took)
        timing(f"shrink to {len(s.members)} ({pick}): VIP longest gap (ping every 50 ms)", gap)
    assert len(s.members) == 3
    print(f"\nleftovers written back by a new DC and purged again: {s.repurged or 'none'}")


def test_a_restarted_node_keeps_the_changed_list(shared):
    """The container restarted with the PCMK_NODE_LIST it was created with (docker restart,
    or re-created from the same command line) runs the list `nodes` made, not the old one."""
    s = shared
    h = next(h for h in s.members if h.env["PCMK_NODE_LIST"] == s.env["PCMK_NODE_LIST"])
    assert h.stop(150) == 0
    h.start(LAUNCHER_ARGV, h.env)
    s.converged()
    assert "node list: the one changed by `pcmk-launch nodes remove" in h.log_tail(400)


def test_replace_a_dead_host_under_the_same_name(shared, timing):
    s = shared
    holder = s.placement()["vip"][0]
    dead = next(h for h in s.members if s.name(h) != holder)
    old_id = s.ids[dead.name]
    dead.power_cut()
    s.members.remove(dead)
    names = [s.name(h) for h in s.running()]
    wait_converged(s.running(), names, offline=[dead.name], timeout=60)
    # The new host: a new address (and hostname); its node keeps the dead one's name and id.
    new = s.c.network.add_host()
    watch = Watch(s, s.members[0])
    t0 = time.monotonic()
    nodes = s.on_all("replace", dead.name, f"{dead.name}={new.address}")
    assert f"{dead.name}={new.address}@{old_id}" in nodes
    s.members.append(new)
    s.aliases[new.name] = dead.name  # pacemaker knows it by its entry's name
    new.start(LAUNCHER_ARGV, {**s.env, "PCMK_NODE_LIST": nodes})
    s.converged()
    took = time.monotonic() - t0
    gap = watch.done()
    assert s.ids[dead.name] == old_id
    timing("replace a dead host (same name, new address): nodes replace, new node online", took)
    timing("replace a dead host: VIP longest gap (ping every 50 ms)", gap)
