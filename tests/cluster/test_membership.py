"""Membership changes of a running cluster (issue 25), with the real daemons.

One module-scoped cluster with a VIP and a Dummy, changed in steps as an operator would
(tests/harness/membership.py): grow 3 -> 4 -> 5 with `pcmk-launch nodes add` on every running
node and the new node started with the list it prints; shrink 5 -> 3 by stopping a middle node
and then the DC and `nodes remove` on the others; a dead host replaced by a new one under the
same name. Through every step a client pings the VIP every 50 ms and a watcher polls quorum on
a node that stays: quorum must never be lost, no node's id may change and nothing may move
that did not have to. Each step's time and the VIP's longest gap are printed as TIMING lines.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.harness import membership
from tests.harness.cluster import LAUNCHER_ARGV, Cluster, cluster_state
from tests.harness.hosts import wait_for
from tests.harness.membership import Members, Watch, quorumtool

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def _members(cluster_prereqs):
    c = Cluster(3)
    m = None
    try:
        client = c.network.add_host(name="client")
        client.start(["/bin/sleep", "infinity"])
        m = membership.start(c, client)
        yield m
    finally:
        c.finish(failed=m is None or m.failed)


@pytest.fixture
def members(request, _members):
    yield _members
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        _members.failed = True


def report(timing, step: membership.Step) -> None:
    timing(f"{step.what}: first command to every node converged", step.seconds)
    timing(f"{step.what}: VIP longest gap (ping every 50 ms)", step.gap)


def test_grow_from_3_to_5_moves_nothing(members: Members, timing):
    for _ in range(2):
        report(timing, membership.grow(members))
    assert len(members.members) == 5


def test_a_new_node_with_another_key_is_kept_out_and_disturbs_nothing(members: Members):
    """A node added to the list but started with a different key: knet drops its packets, so
    it never joins; the others keep quorum, membership and resources. Then it is removed as
    any stopped node is."""
    m = members
    before = m.placement()
    stranger = m.c.network.add_host()
    watch = Watch(m, m.members[0])
    nodes = m.on_all("add", f"{stranger.name}={stranger.address}")
    env = {**m.env, "PCMK_NODE_LIST": nodes, "PCMK_AUTHKEY_PASSPHRASE": "another passphrase"}
    stranger.start(LAUNCHER_ARGV, env)
    alone = re.compile(r"^Quorate:\s+No", re.M)
    wait_for(lambda: alone.search(quorumtool(stranger)), 60, "the stranger up, alone")
    time.sleep(5)  # with the right key, knet would have connected well within this
    assert re.search(r"^Total votes:\s+1$", quorumtool(stranger), re.M)
    for h in m.running():
        state = cluster_state(h)
        assert stranger.name not in state["online"] and state["have_quorum"], state
    assert stranger.stop(membership.STOP_TIMEOUT) == 0
    m.removed.add(stranger.name)
    m.on_all("remove", stranger.name)
    m.converged()
    watch.done()  # raises if quorum was lost
    assert m.placement() == before


def test_bad_changes_are_refused_and_change_nothing(members: Members):
    m = members
    h, other = m.members[0], m.members[1]
    conf = h.path("/etc/corosync/corosync.conf").read_bytes()
    stored = h.path("/var/lib/corosync/pcmk-node-list.json").read_bytes()
    cases = [
        (("remove", other.name), "is a member of the running cluster"),
        (("remove", h.name), "is this node"),
        (("add", "bad=not_an_address"), "is not an address or hostname"),
        (("add", f"x={other.address}"), "already in the list"),
        (("replace", other.name, f"{other.name}=192.0.2.99"), "is a member of the running"),
        (("frobnicate",), "unknown action"),
    ]
    for words, says in cases:
        res = m.nodes(h, *words, check=False)
        assert res.returncode == 2, (words, res.stdout, res.stderr)
        assert says in res.stderr and "Fix:" in res.stderr, (words, res.stderr)
    assert h.path("/etc/corosync/corosync.conf").read_bytes() == conf
    assert h.path("/var/lib/corosync/pcmk-node-list.json").read_bytes() == stored
    shown = m.nodes(h, "show").stdout
    assert all(m.name(x) in shown for x in m.members) and "joined" in shown


def test_shrink_to_3_removing_a_middle_node_and_the_dc(members: Members, timing):
    for pick in ("middle", "dc"):
        report(timing, membership.shrink(members, pick))
    assert len(members.members) == 3
    print(f"\nleftovers a new DC wrote back, purged again: {members.repurged or 'none'}")


def test_a_restarted_node_keeps_the_changed_list(members: Members):
    """The container restarted with the PCMK_NODE_LIST it was created with (docker restart,
    or re-created from the same command line) runs the list `nodes` made, not the old one."""
    m = members
    h = next(h for h in m.members if h.env["PCMK_NODE_LIST"] == m.env["PCMK_NODE_LIST"])
    assert h.stop(membership.STOP_TIMEOUT) == 0
    h.start(LAUNCHER_ARGV, h.env)
    m.converged()
    assert "node list: the one changed by `pcmk-launch nodes remove" in h.log_tail(400)


@pytest.mark.parametrize("rename", [False, True], ids=["same-name", "new-name"])
def test_replace_a_dead_host(members: Members, timing, rename: bool):
    report(timing, membership.replace_dead(members, rename))
