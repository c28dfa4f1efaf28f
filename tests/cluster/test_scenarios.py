"""Cluster scenarios: real corosync + pacemaker under the real launcher (pcmk_launch as PID 1).

Every host runs ``LAUNCHER_ARGV`` with the same environment (``launcher_env``: the node list,
a shared authkey passphrase), as an operator would run the image on each host. Correctness is
only ever decided by polling with deadlines (crm_mon XML, ``ip addr``, ICMP echo); measured
durations are printed as ``TIMING ...`` lines and never asserted.

VIP scenarios (failover, graceful leave, rejoin) share one module-scoped cluster of three
nodes plus a ``client`` host that runs no cluster software and pings the VIP from outside.
Every other scenario gets its own cluster.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import pytest

from pcmk_launch import health
from tests.harness.cluster import (
    LAUNCHER_ARGV,
    Cluster,
    cluster_state,
    describe_state,
    launcher_env,
    wait_converged,
)
from tests.harness.hosts import Host, wait_for
from tests.harness.pinger import VIP, Pinger, replies
from tests.helpers.fencing import fence_events

pytestmark = pytest.mark.root

LAUNCHER_STOP_TIMEOUT = 150  # > PCMK_STOP_TIMEOUT (90) + PCMK_COROSYNC_STOP_TIMEOUT (20)

# Lines on the surviving nodes that mean "a node was lost", not "a node left".
# Not "Stonith/shutdown of node X was not expected": a DC elected while the old DC leaves
# cleanly logs it too (its peer cache never saw the old DC's expected=down), as CI saw when the
# VIP holder was the DC. Whether the leave was clean is read from the CIB instead (node_state:
# expected_up false, not unclean) and from the fencing history.
LOSS_MARKERS = (
    "Failed to receive the leave message",  # corosync: the node vanished
    "will be fenced",  # scheduler
    "Requesting fencing",  # controller
)


# --------------------------------------------------------------------------
# helpers


def launch(members: Sequence[Host], env: dict[str, str]) -> None:
    for h in members:
        h.start(LAUNCHER_ARGV, env)


def log_mark(host: Host) -> int:
    try:
        return host.log_path.stat().st_size
    except FileNotFoundError:
        return 0


def log_since(host: Host, mark: int) -> str:
    with open(host.log_path, "rb") as f:
        f.seek(mark)
        return f.read().decode(errors="replace")


def current_run_log(host: Host) -> str:
    """The host's console log since its last start."""
    text = host.log_path.read_text(errors="replace")
    return text[text.rfind("==== harness: start") :]


def node_state(host: Host, name: str) -> health.NodeState | None:
    """Node ``name`` as ``host``'s crm_mon shows it (online, unclean, expected_up...), read
    by the launcher's own parser."""
    out = host.run(["crm_mon", "-1", "--output-as=xml"], timeout=15).stdout
    return health.parse(out).node(name)


def fences(host: Host) -> list[dict[str, str]]:
    out = host.run(["crm_mon", "-1", "--output-as=xml", "--include=fencing"], timeout=15).stdout
    return fence_events(out)


def corosync_quorum(host: Host) -> dict[str, str]:
    """``corosync-quorumtool -s`` as {"Quorate": "Yes", "Total votes": "2", "Flags": ...}."""
    out = host.run(["corosync-quorumtool", "-s"], check=False, timeout=15).stdout
    return {m[1].strip(): m[2].strip() for m in re.finditer(r"^([A-Za-z ]+):\s+(.*)$", out, re.M)}


def has_address(host: Host, addr: str = VIP) -> bool:
    """``addr`` is on the host's eth0 (asked from its netns: works while it is stopped)."""
    return f" {addr}/" in host.ip("-o", "-4", "addr", "show", "dev", "eth0").stdout


def persistent_files(host: Host) -> list[str]:
    """Regular files in the host's persistent /etc/corosync, /var/lib/{corosync,pacemaker}."""
    found = []
    for guest in ("/etc/corosync", "/var/lib/corosync", "/var/lib/pacemaker"):
        for root, _, files in os.walk(host.path(guest)):
            found += [os.path.join(root, f) for f in files]
    return sorted(found)


def vip_where(state: dict) -> list[str]:
    vip = state["resources"].get("vip")
    return list(vip["nodes"]) if vip and vip["active"] else []


def wait_vip(
    viewer: Host, timeout: float = 60, not_on: Sequence[str] = (), what: str = ""
) -> tuple[str, dict]:
    """Until ``viewer``'s crm_mon shows the VIP Started on exactly one node not in
    ``not_on``, with quorum; returns (node, state)."""
    state = wait_for(
        lambda: cluster_state(viewer),
        timeout,
        what or f"vip started on one node outside {list(not_on)} (crm_mon on {viewer.name})",
        until=lambda s: (
            s["have_quorum"]
            and len(vip_where(s)) == 1
            and vip_where(s)[0] not in not_on
            and s["resources"]["vip"]["role"] == "Started"
        ),
        describe=describe_state,
    )
    return vip_where(state)[0], state


def wait_vip_settled(
    all_hosts: Sequence[Host], viewer: Host, timeout: float = 60, not_on: Sequence[str] = ()
) -> str:
    """Until ``viewer``'s crm_mon (with quorum) shows the VIP Started on one node outside
    ``not_on`` and that host, and no other of ``all_hosts`` (running or not), has the
    address on eth0. Returns the node."""

    def probe() -> tuple[list[str] | None, list[str]]:
        s = cluster_state(viewer)
        where = vip_where(s) if s["have_quorum"] else None
        return where, [h.name for h in all_hosts if has_address(h)]

    where, _ = wait_for(
        probe,
        timeout,
        f"vip Started (crm_mon on {viewer.name}) and on that host's eth0 only, not on {not_on}",
        until=lambda p: (
            p[0] is not None and len(p[0]) == 1 and p[0] == p[1] and p[0][0] not in not_on
        ),
    )
    return where[0]


def wait_address(host: Host, present: bool, timeout: float = 30) -> None:
    verb = "on" if present else "gone from"
    wait_for(lambda: has_address(host) == present, timeout, f"{VIP} {verb} {host.name}'s eth0")


def create_vip(c: Cluster, members: Sequence[Host]) -> str:
    """stonith off and the IPaddr2 VIP, both through pcs (no pcsd); returns its node."""
    admin = members[0]
    admin.run(["pcs", "property", "set", "stonith-enabled=false"])
    admin.run(
        [
            "pcs", "resource", "create", "vip", "ocf:heartbeat:IPaddr2",
            f"ip={VIP}", "cidr_netmask=24", "op", "monitor", "interval=5s",
        ]
    )  # fmt: skip
    return wait_vip_settled(c.hosts, admin)


def vip_in_cib(host: Host) -> bool:
    """``cibadmin --query --scope resources`` on ``host`` has the IPaddr2 primitive."""
    out = host.run(["cibadmin", "--query", "--scope", "resources"], timeout=15).stdout
    root = ET.fromstring(out)
    for prim in root.iter("primitive"):
        if prim.get("id") == "vip" and prim.get("type") == "IPaddr2":
            params = {nv.get("name"): nv.get("value") for nv in prim.iter("nvpair")}
            return params.get("ip") == VIP and params.get("cidr_netmask") == "24"
    return False


def assert_clean_stop(host: Host, rc: int) -> None:
    log = current_run_log(host)
    assert rc == 0, f"{host.name} launcher exited {rc}:\n{host.log_tail(30)}"
    assert "SIGKILL" not in log, log[-3000:]
    assert "clean stop after" in log
    assert "exiting with code 0" in log


# --------------------------------------------------------------------------
# 1. formation


def test_formation_three_nodes_plain_addresses(make_cluster, timing):
    c = make_cluster(3)
    t0 = time.monotonic()
    c.start_launchers()
    state = c.wait_converged(timeout=60)
    timing("formation, 3 nodes (launcher, plain addresses): DC + 3 online", time.monotonic() - t0)

    assert state["online"] == ["node1", "node2", "node3"]
    assert state["offline"] == []
    assert state["have_quorum"] and state["dc"] in c.names
    for h in c.hosts:
        s = cluster_state(h)
        assert s["dc"] == state["dc"] and s["have_quorum"]
        assert h.run(["crm_node", "-n"]).stdout.strip() == h.name  # node name == hostname
        conf = h.path("/etc/corosync/corosync.conf").read_text()
        assert not re.search(
            r"^\s*name:", conf, re.M
        )  # plain ADDR entries: pacemaker uses the hostname
        assert f"ring0_addr: {h.address}" in conf
        q = corosync_quorum(h)
        assert (q.get("Quorate"), q.get("Total votes")) == ("Yes", "3"), q


def test_formation_three_nodes_with_names(make_cluster, timing):
    c = make_cluster(3)
    names = ["alpha", "bravo", "charlie"]
    node_list = " ".join(f"{n}={h.address}" for n, h in zip(names, c.hosts, strict=True))
    t0 = time.monotonic()
    c.start_launchers(PCMK_NODE_LIST=node_list)
    state = wait_converged(c.hosts, online=names, timeout=60)
    timing("formation, 3 nodes (NAME=ADDR): DC + 3 online", time.monotonic() - t0)

    assert state["online"] == names
    assert not set(state["nodes"]) & set(c.names)  # no node under its hostname
    for name, h in zip(names, c.hosts, strict=True):
        assert h.run(["crm_node", "-n"]).stdout.strip() == name
        assert h.run("hostname").stdout.strip() == h.name
        assert f"name: {name}" in h.path("/etc/corosync/corosync.conf").read_text()


def test_formation_five_nodes(make_cluster, timing):
    c = make_cluster(5)
    t0 = time.monotonic()
    c.start_launchers()
    state = c.wait_converged(timeout=90)
    timing("formation, 5 nodes: DC + 5 online", time.monotonic() - t0)
    assert state["online"] == [f"node{i}" for i in range(1, 6)]
    assert state["have_quorum"]
    q = corosync_quorum(c.hosts[-1])
    assert (q.get("Quorate"), q.get("Total votes")) == ("Yes", "5"), q


# --------------------------------------------------------------------------
# 2. two nodes


def test_two_node_cluster_survives_loss_of_one(make_cluster, timing):
    c = make_cluster(2)
    t0 = time.monotonic()
    c.start_launchers()
    c.wait_converged(timeout=60)
    timing("formation, 2 nodes: DC + 2 online", time.monotonic() - t0)
    a, b = c.hosts
    for h in c.hosts:
        assert re.search(
            r"^\s*two_node:\s*1\s*$", h.path("/etc/corosync/corosync.conf").read_text(), re.M
        )
    assert "2Node" in corosync_quorum(a).get("Flags", "")

    t1 = time.monotonic()
    b.kill()
    state = wait_converged([a], offline=[b.name], timeout=60)
    timing("2 nodes, one killed: survivor quorate, peer offline", time.monotonic() - t1)
    assert state["have_quorum"] and state["dc"] == a.name
    q = corosync_quorum(a)
    assert q.get("Quorate") == "Yes" and q.get("Total votes") == "1", q
    assert "2Node" in q.get("Flags", "")


# --------------------------------------------------------------------------
# 3. node loss


def test_hard_node_loss_majority_keeps_quorum(make_cluster, timing):
    c = make_cluster(3)
    c.start_launchers()
    state = c.wait_converged(timeout=60)
    victim = c.host(state["dc"])  # the hard case: the DC dies
    rest = [h for h in c.hosts if h is not victim]

    t0 = time.monotonic()
    assert victim.kill() == -9
    state = wait_converged(rest, offline=[victim.name], timeout=60)
    timing(
        "node loss (DC killed): the other 2 quorate, new DC, node offline", time.monotonic() - t0
    )
    assert state["have_quorum"] and state["dc"] != victim.name
    assert not state["nodes"][victim.name]["online"]
    for h in rest:
        q = corosync_quorum(h)
        assert (q.get("Quorate"), q.get("Total votes")) == ("Yes", "2"), q
    # What a loss looks like, in contrast to a graceful leave (see
    # test_graceful_leave_moves_vip_first, which checks for the absence of all of this).
    # stonith-enabled is on by default: the lost node is UNCLEAN (with no fence device
    # pacemaker says "Node ... is unclean but cannot be fenced" and attempts nothing).
    node = wait_for(
        lambda: node_state(rest[0], victim.name), 30, f"{victim.name} unclean",
        until=lambda n: n is not None and n.unclean,
    )  # fmt: skip
    assert not node.online
    assert node.expected_up  # it never said goodbye


# --------------------------------------------------------------------------
# 7. partition


def test_partition_isolated_vip_holder(make_cluster, timing):
    """The link of the host that *holds* the VIP is cut: the majority keeps quorum and
    takes the VIP over; the minority loses quorum and stops it (no-quorum-policy=stop);
    after the link is back the cluster merges to 3 online, one DC, one VIP."""
    c = make_cluster(3)
    c.start_launchers()
    c.wait_converged(timeout=60)
    iso = c.host(create_vip(c, c.hosts))
    majority = [h for h in c.hosts if h is not iso]

    t0 = time.monotonic()
    iso.link_down()
    wait_converged(majority, offline=[iso.name], timeout=60)
    t_detect = time.monotonic() - t0
    new, _ = wait_vip(majority[0], timeout=60, not_on=[iso.name])
    wait_address(c.host(new), True)
    t_takeover = time.monotonic() - t0
    assert new in {h.name for h in majority}
    assert replies(next(h for h in majority if h.name != new)) >= 1

    alone = wait_for(
        lambda: cluster_state(iso), 60, f"{iso.name} to lose quorum",
        until=lambda s: not s["have_quorum"] and s["online"] == [iso.name],
        describe=describe_state,
    )  # fmt: skip
    assert sorted(alone["offline"]) == sorted(h.name for h in majority)
    wait_for(
        lambda: cluster_state(iso), 60, f"{iso.name} (no quorum) to stop the vip",
        until=lambda s: vip_where(s) == [], describe=describe_state,
    )  # fmt: skip
    wait_address(iso, False, timeout=60)
    t_minority = time.monotonic() - t0
    timing("partition: majority reports the isolated node offline", t_detect)
    timing("partition: majority took the VIP over (crm_mon + ip addr)", t_takeover)
    timing("partition: minority lost quorum and removed the VIP", t_minority)

    t1 = time.monotonic()
    iso.link_up()
    state = c.wait_converged(timeout=90)
    timing("partition healed: 3 online, one DC", time.monotonic() - t1)
    assert state["online"] == c.names
    wait_vip_settled(c.hosts, iso)
    for h in c.hosts:
        assert vip_in_cib(h)


# --------------------------------------------------------------------------
# 8. whole-cluster restart


def test_whole_cluster_restart(make_cluster, timing):
    c = make_cluster(3)
    env = c.start_launchers()
    c.wait_converged(timeout=60)
    create_vip(c, c.hosts)

    t0 = time.monotonic()
    for h in c.hosts:  # all at once, as `docker compose down` does
        h.signal(signal.SIGTERM)
    rcs = {}
    for h in c.hosts:
        try:
            rcs[h.name] = h.wait(LAUNCHER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            h.kill()
            pytest.fail(f"{h.name} did not stop within {LAUNCHER_STOP_TIMEOUT}s of SIGTERM")
    timing("whole cluster: SIGTERM to all 3 -> all launchers exited", time.monotonic() - t0)
    for h in c.hosts:
        assert_clean_stop(h, rcs[h.name])
        assert 'id="vip"' in h.path("/var/lib/pacemaker/cib/cib.xml").read_text()

    t1 = time.monotonic()
    launch(c.hosts, env)
    c.wait_converged(timeout=90)
    t_form = time.monotonic() - t1
    where = wait_vip_settled(c.hosts, c.hosts[0])
    timing("whole cluster restarted: DC + 3 online", t_form)
    timing("whole cluster restarted: VIP started", time.monotonic() - t1)
    for h in c.hosts:
        assert "seeded a new CIB" not in current_run_log(h)
        assert vip_in_cib(h)
    assert replies(next(h for h in c.hosts if h.name != where)) >= 1


# --------------------------------------------------------------------------
# 9. a host that is not in the node list


def test_host_not_in_node_list_refuses_to_start(make_cluster):
    c = make_cluster(4)
    members, stranger = c.hosts[:3], c.hosts[3]
    env = launcher_env(members)
    launch(members, env)
    c.wait_converged(timeout=60, hosts=members)
    assert persistent_files(stranger) == []

    stranger.start(LAUNCHER_ARGV, env)
    rc = stranger.wait(30)
    log = current_run_log(stranger)
    assert rc == 2, log
    assert "PCMK_NODE_LIST" in log and stranger.address in log, log
    assert "started corosync" not in log and "wrote " not in log, log
    assert not stranger.path("/etc/corosync/corosync.conf").exists()
    assert not stranger.path("/var/lib/pacemaker/cib/cib.xml").exists()
    assert persistent_files(stranger) == []  # nothing written anywhere

    state = c.wait_converged(timeout=30, hosts=members)
    assert sorted(state["nodes"]) == [h.name for h in members]


# --------------------------------------------------------------------------
# 4-6. VIP: failover on a power cut, graceful leave, rejoin (one shared cluster)
#
# Kept last in this file on purpose: make_cluster's teardown asserts that the session left
# nothing behind, so no make_cluster test may run while this module-scoped cluster lives.


class VipCluster:
    def __init__(self, cluster: Cluster, client: Host, env: dict[str, str]):
        self.c = cluster
        self.client = client
        self.env = env
        self.failed = False

    @property
    def members(self) -> list[Host]:
        return self.c.hosts

    def running(self) -> list[Host]:
        return [h for h in self.members if h.running]

    def ensure_all_up(self) -> str:
        """Start any member that is down, wait for 3 online and the VIP; return its node."""
        for h in self.members:
            if not h.running:
                h.start(LAUNCHER_ARGV, self.env)
        self.c.wait_converged(timeout=90, hosts=self.members)
        return wait_vip_settled(self.members, self.members[0])


@pytest.fixture(scope="module")
def _vip_cluster(cluster_prereqs):
    c = Cluster(3)
    vc = None
    try:
        client = c.network.add_host(name="client")  # 192.0.2.14, no cluster software
        client.start(["/bin/sleep", "infinity"])
        env = launcher_env(c.hosts)
        launch(c.hosts, env)
        c.wait_converged(timeout=60)
        create_vip(c, c.hosts)
        vc = VipCluster(c, client, env)
        yield vc
    finally:
        c.finish(failed=vc is None or vc.failed)


@pytest.fixture
def vip_cluster(request, _vip_cluster):
    yield _vip_cluster
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        _vip_cluster.failed = True
        print(_vip_cluster.c.logs(60))


def test_vip_fails_over_when_its_host_is_killed(vip_cluster, timing):
    vc = vip_cluster
    holder = vc.c.host(vc.ensure_all_up())
    rest = [h for h in vc.members if h is not holder]
    assert replies(vc.client) >= 1, "VIP does not answer before the test"

    pinger = Pinger(vc.client)
    try:
        wait_for(lambda: pinger.replies_after(0) > 0, 10, "pinger's first reply")
        t0 = time.monotonic()
        assert holder.power_cut() == -9
        new, state = wait_vip(rest[0], timeout=90, not_on=[holder.name])
        t_crm = time.monotonic() - t0
        assert new in {h.name for h in rest}
        assert holder.name in state["offline"]
        assert wait_vip_settled(vc.members, rest[0], not_on=[holder.name]) == new
        wait_for(lambda: pinger.replies_after(t0 + t_crm) > 5, 30, "VIP answering after failover")
        gap = pinger.longest_gap(t0)
    finally:
        pinger.stop()
    timing("VIP failover (holder killed): crm_mon shows vip Started elsewhere", t_crm)
    timing(f"VIP failover (holder killed): VIP gap (ping every {pinger.interval}s)", gap)
    assert replies(vc.client) >= 1

    # Power the killed host back on: it rejoins without taking the address twice.
    t1 = time.monotonic()
    holder.start(LAUNCHER_ARGV, vc.env)
    vc.c.wait_converged(timeout=90, hosts=vc.members)
    timing("killed host restarted: 3 online again", time.monotonic() - t1)
    wait_vip_settled(vc.members, holder)


def test_graceful_leave_moves_vip_first(vip_cluster, timing):
    vc = vip_cluster
    leaver = vc.c.host(vc.ensure_all_up())
    rest = [h for h in vc.members if h is not leaver]
    marks = {h.name: log_mark(h) for h in rest}

    pinger = Pinger(vc.client)
    try:
        wait_for(lambda: pinger.replies_after(0) > 0, 10, "pinger's first reply")
        t0 = time.monotonic()
        rc = leaver.stop(LAUNCHER_STOP_TIMEOUT)
        t_stop = time.monotonic() - t0
        new = wait_vip_settled(vc.members, rest[0], timeout=30, not_on=[leaver.name])
        wait_for(lambda: pinger.replies_after(t0 + t_stop) > 5, 30, "VIP answering after leave")
        gap = pinger.longest_gap(t0)
    finally:
        pinger.stop()
    timing("graceful stop of the VIP holder (SIGTERM -> launcher exit)", t_stop)
    timing(f"VIP gap during graceful leave (ping every {pinger.interval}s)", gap)

    # The leaving host: exit 0, no SIGKILL, the VIP stopped before corosync was stopped. Read
    # from its eth0 and the launcher's own lines, not from Pacemaker's wording: only IPaddr2's
    # stop removes the address, a clean pacemakerd exits only once its resources are stopped,
    # and the launcher signals corosync only after pacemakerd has exited.
    assert_clean_stop(leaver, rc)
    assert not has_address(leaver), f"{VIP} still on the stopped {leaver.name}'s eth0"
    log = current_run_log(leaver)
    log = log[log.index("[pcmk-launch] received SIGTERM") :]
    pacemakerd_stopped = log.find("[pcmk-launch] pacemakerd stopped (exit code 0)")
    corosync_stop = log.find("[pcmk-launch] sending SIGTERM to corosync")
    assert -1 < pacemakerd_stopped < corosync_stop, log

    # The others: VIP elsewhere (it was started before the leaver was gone from their view),
    # the leaver plain offline (a clean leave, not a loss), nothing fenced.
    state = wait_converged(rest, offline=[leaver.name], timeout=30)
    assert vip_where(state) == [new]
    for h in rest:
        node = node_state(h, leaver.name)
        assert node is not None and not node.online and not node.unclean, node
        assert not node.expected_up, node  # it said goodbye (a lost node: expected up)
        assert fences(h) == []
        since = log_since(h, marks[h.name])
        for marker in LOSS_MARKERS:
            assert marker not in since, f"{h.name}: {marker!r} after a graceful leave"


def test_rejoin_after_graceful_stop_keeps_configuration(vip_cluster, timing):
    vc = vip_cluster
    stopped = [h for h in vc.members if not h.running]
    if not stopped:  # the previous test did not leave a stopped host: stop one here
        holder = vc.ensure_all_up()
        victim = next(h for h in vc.members if h.name != holder)
        assert_clean_stop(victim, victim.stop(LAUNCHER_STOP_TIMEOUT))
        stopped = [victim]
    [host] = stopped
    # The CIB it wrote before leaving is on disk in its persistent /var/lib/pacemaker.
    on_disk = host.path("/var/lib/pacemaker/cib/cib.xml").read_text()
    assert 'id="vip"' in on_disk and VIP in on_disk

    t0 = time.monotonic()
    host.restart()  # same argv and env
    vc.c.wait_converged(timeout=90, hosts=vc.members)
    timing("graceful-stopped host restarted: 3 online again", time.monotonic() - t0)
    assert "seeded a new CIB" not in current_run_log(host)  # existing CIB never touched
    for h in vc.members:
        assert vip_in_cib(h), f"vip primitive missing from {h.name}'s CIB"
    wait_vip_settled(vc.members, host)
    assert replies(vc.client) >= 1
