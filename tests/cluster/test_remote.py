"""Pacemaker Remote with real daemons: 3 full nodes + PD_REMOTES remote nodes (default 8), each
a namespace host whose PID 1 is the launcher (PCMK_ROLE=cluster or remote), all with the same
PCMK_REMOTE_AUTHKEY_PASSPHRASE. The full nodes add each remote as an ocf:pacemaker:remote
resource with cibadmin (no pcsd); Dummy resources may only run on remote nodes.

Fencing is off (stonith-enabled=false): the hosts have no fence device. A lost full node is
then taken as down, but a lost remote node is not ("unclean but cannot be fenced"): after a
power cut of a remote the test confirms it down with stonith_admin --confirm, as an operator
(or a fence device) would.

The scenarios share one module-scoped cluster and run in file order, each first bringing
every host back up. Correctness is decided by polling crm_mon XML with deadlines; durations
are printed as TIMING lines, never asserted.
"""

from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from tests.harness.cluster import LAUNCHER_ARGV, Cluster, cluster_state, launcher_env, wait_state
from tests.harness.hosts import Host, wait_for
from tests.harness.remote import (
    add_dummies_on_remotes,
    add_remote_resource,
    dummy_state,
    failed_actions,
    full_env_extra,
    remote_env,
    remote_nodes,
    remoted_sbin,
    start_remote_cluster,
    where,
)
from tests.helpers import prereq

pytestmark = pytest.mark.root

N_FULL = 3
N_REMOTES = int(os.environ.get("PD_REMOTES", "8"))
RECONNECT = "10s"  # reconnect_interval of the connections: retry a lost remote this often
# 11 hosts on 2 cores: generous deadlines (they bound a hang, they measure nothing).
LONG = 300
STOP_TIMEOUT = 150  # > the launcher's PCMK_STOP_TIMEOUT (90)


# --------------------------------------------------------------------------
# helpers


class RemoteCluster:
    def __init__(self, c: Cluster, full: list[Host], remotes: list[Host], sbin, timing):
        self.c, self.full, self.remotes, self.sbin = c, full, remotes, sbin
        self.dummies = [f"d{i}" for i in range(1, len(remotes) + 1)]
        self.full_env = launcher_env(full, **full_env_extra())
        self.remote_env = remote_env(sbin)
        self.failed = False
        self.timing = timing

    def viewer(self) -> Host:
        return next(h for h in self.full if h.running)

    def remote(self, name: str) -> Host:
        return next(h for h in self.remotes if h.name == name)

    def settled(self, s: dict) -> bool:
        """Every running full node online, every running remote online, every Dummy Started
        on exactly one remote node."""
        up_full = sorted(h.name for h in self.full if h.running)
        up_remotes = {h.name for h in self.remotes if h.running}
        online_remotes = {n for n, on in remote_nodes(s).items() if on}
        full_online = sorted(n for n in s["online"] if s["nodes"][n]["type"] != "remote")
        return (
            s["have_quorum"]
            and full_online == up_full
            and up_remotes <= online_remotes
            and all(len(where(s, d)) == 1 and where(s, d)[0] in up_remotes for d in self.dummies)
        )

    def wait_settled(self, what: str, timeout: float = LONG) -> dict:
        return wait_state(self.viewer(), self.settled, timeout, what)

    def ensure_all_up(self) -> dict:
        """Start what a previous scenario left down, clear old failures, wait until settled."""
        for h in self.full:
            if not h.running:
                h.start(LAUNCHER_ARGV, self.full_env)
        for h in self.remotes:
            if not h.running:
                h.start(LAUNCHER_ARGV, self.remote_env)
        self.viewer().run(["crm_resource", "--cleanup"], timeout=60)
        return self.wait_settled("every host back up and settled")


@pytest.fixture(scope="module")
def _remote_cluster(cluster_prereqs) -> Iterator[RemoteCluster]:
    sbin, why = remoted_sbin()
    if sbin is None:
        prereq.require(False, f"pacemaker-remoted: {why}")
    c = Cluster(N_FULL)
    rc = None
    try:
        remotes = [c.network.add_host(name=f"remote{i}") for i in range(1, N_REMOTES + 1)]
        rc = RemoteCluster(c, list(c.hosts), remotes, sbin, None)
        f = start_remote_cluster(c, rc.full, remotes, rc.full_env, rc.remote_env, LONG, RECONNECT)
        rc.formed, rc.remotes_online = f.formed, f.online - f.formed
        admin = rc.full[0]
        t2 = time.monotonic()
        add_dummies_on_remotes(admin, rc.dummies)
        rc.wait_settled(f"{len(rc.dummies)} Dummy resources Started on remote nodes")
        rc.dummies_started = time.monotonic() - t2
        yield rc
    finally:
        c.finish(failed=rc is None or rc.failed)


@pytest.fixture
def remote_cluster(request, _remote_cluster, timing) -> Iterator[RemoteCluster]:
    _remote_cluster.timing = timing
    yield _remote_cluster
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        _remote_cluster.failed = True
        print(_remote_cluster.c.logs(60))


# --------------------------------------------------------------------------
# 1. remote nodes come online and run resources


def test_remotes_online_and_running_dummies(remote_cluster):
    rc = remote_cluster
    rc.timing(f"{N_FULL} full nodes formed (with {N_REMOTES} remote hosts starting)", rc.formed)
    rc.timing(f"{N_REMOTES} remote connections added until all online", rc.remotes_online)
    rc.timing(f"{len(rc.dummies)} Dummy resources until all Started", rc.dummies_started)
    remote_names = {h.name for h in rc.remotes}
    for h in rc.full:  # every full node sees the same: remotes online, Dummies on them
        s = cluster_state(h, timeout=30)
        assert remote_nodes(s) == dict.fromkeys(remote_names, True), s["nodes"]
        assert all(s["nodes"][h2.name]["type"] != "remote" for h2 in rc.full)
        for d in rc.dummies:
            assert len(where(s, d)) == 1 and where(s, d)[0] in remote_names, (d, s["resources"])
        for h2 in rc.remotes:  # a connection runs on a full node
            assert len(where(s, h2.name)) == 1 and where(s, h2.name)[0] in rc.c.names
    s = cluster_state(rc.viewer())
    for d in rc.dummies:  # and the Dummy really ran there: its state file is on that host
        assert dummy_state(rc.remote(where(s, d)[0]), d) is not None, d
    # pacemaker-remoted came from the cache dir, on the remote hosts' PATH only
    assert rc.full[0].run("command -v pacemaker-remoted", check=False).returncode != 0
    path = rc.remotes[0].run("command -v pacemaker-remoted", env=rc.remote_env).stdout.strip()
    assert path == f"{rc.sbin}/pacemaker-remoted"


# --------------------------------------------------------------------------
# 2. power cut of a remote host


def test_power_cut_remote_its_resources_restart_on_another_and_it_is_reused(remote_cluster):
    rc = remote_cluster
    s = rc.ensure_all_up()
    victim = rc.remote(where(s, rc.dummies[0])[0])
    moved = [d for d in rc.dummies if where(s, d) == [victim.name]]
    t0 = time.monotonic()
    victim.power_cut()
    # Fencing is off, yet pacemaker will not recover a lost remote's resources before the
    # node is known to be down ("unclean but cannot be fenced"): the test, which cut the
    # power, confirms it as an operator would (what a fence device would report).
    wait_state(
        rc.viewer(),
        lambda s: not remote_nodes(s).get(victim.name),
        LONG,
        f"{victim.name} seen lost",
    )
    rc.viewer().run(["stonith_admin", "--confirm", victim.name], timeout=60)
    others = {h.name for h in rc.remotes} - {victim.name}
    s = wait_state(
        rc.viewer(),
        lambda s: (
            not remote_nodes(s).get(victim.name)
            and all(len(where(s, d)) == 1 and where(s, d)[0] in others for d in moved)
        ),
        LONG,
        f"{moved} Started on another remote after {victim.name} lost power",
    )
    rc.timing(f"power cut of {victim.name} until {moved} Started elsewhere", time.monotonic() - t0)
    for d in moved:
        assert dummy_state(rc.remote(where(s, d)[0]), d) is not None, d
    # It comes back: the connection reconnects (reconnect_interval) and the node is used again.
    t1 = time.monotonic()
    victim.start(LAUNCHER_ARGV, rc.remote_env)
    rc.viewer().run(["crm_resource", "--cleanup", "--resource", victim.name], timeout=60)
    wait_state(
        rc.viewer(),
        lambda s: remote_nodes(s).get(victim.name) is True,
        LONG,
        f"{victim.name} online again",
    )
    rc.timing(f"{victim.name} restarted until online again", time.monotonic() - t1)
    admin = rc.viewer()
    add_dummies_on_remotes(admin, ["dback"])
    admin.run(["crm_resource", "--resource", "dback", "--move", "--node", victim.name])
    s = wait_state(
        admin,
        lambda s: where(s, "dback") == [victim.name],
        LONG,
        f"a new Dummy placed on {victim.name} runs there",
    )
    assert dummy_state(victim, "dback") is not None
    admin.run(["crm_resource", "--resource", "dback", "--clear"])
    admin.run(["crm_resource", "--resource", "dback", "--meta", "--set-parameter", "target-role"]
              + ["--parameter-value", "Stopped"])  # fmt: skip
    wait_state(admin, lambda s: not where(s, "dback"), LONG, "dback stopped")
    admin.run(["cibadmin", "--delete", "--xml-text", '<rsc_location id="dback-on-remotes"/>'])
    admin.run(["cibadmin", "--delete", "--xml-text", '<primitive id="dback"/>'])


# --------------------------------------------------------------------------
# 4. a remote with the wrong key


def test_remote_with_a_wrong_key_is_never_connected(remote_cluster):
    rc = remote_cluster
    rc.ensure_all_up()
    bad = rc.c.network.add_host(name="remotebad")
    rc.c.hosts.append(bad)  # torn down and logged with the others
    bad.start(LAUNCHER_ARGV, remote_env(rc.sbin, passphrase="pdtest-a-different-remote-key"))
    admin = rc.viewer()
    add_remote_resource(admin, bad.name, bad.address, reconnect_interval=RECONNECT)
    seen_online = []

    def probe() -> dict:
        s = cluster_state(admin)
        # crm_mon may list the node online while a connection attempt is under way: "never
        # connected" means its connection never Started and nothing ever ran there.
        ran_there = [r for r in s["resources"] if bad.name in where(s, r) and r != bad.name]
        # (a failed start shows as role Started with failed="true": not a connection)
        conn = s["resources"].get(bad.name) or {}
        if (where(s, bad.name) and not conn.get("failed")) or ran_there:
            seen_online.append((where(s, bad.name), ran_there, s["resources"].get(bad.name)))
        return s

    # Every full node tries the connection once and fails (the TLS handshake with a different
    # key): then the connection resource stays stopped.
    t0 = time.monotonic()
    wait_for(
        lambda: (
            probe(),
            {
                f.get("node")
                for f in failed_actions(admin)
                if f.get("op_key", "").startswith(f"{bad.name}_")
            },
        ),  # fmt: skip
        LONG,
        f"{bad.name}'s connection failed on every full node",
        until=lambda p: p[1] >= {h.name for h in rc.full},
    )
    rc.timing(f"{bad.name} (wrong key) until refused by all full nodes", time.monotonic() - t0)
    s = probe()
    assert seen_online == []
    assert where(s, bad.name) == [] or s["resources"][bad.name]["failed"]
    assert rc.settled(s)  # the others are unaffected
    admin.run(["crm_resource", "--resource", bad.name, "--meta", "--set-parameter", "target-role"]
              + ["--parameter-value", "Stopped"])  # fmt: skip
    admin.run(["cibadmin", "--delete", "--xml-text", f'<primitive id="{bad.name}"/>'])
    admin.run(["crm_resource", "--cleanup", "--resource", bad.name], check=False, timeout=60)
    bad.stop(STOP_TIMEOUT)


# --------------------------------------------------------------------------
# 5. losing the full node that holds a remote's connection


def test_losing_a_full_node_moves_the_connection_without_restarting_resources(remote_cluster):
    rc = remote_cluster
    s = rc.ensure_all_up()
    # a remote that runs a Dummy, and the full node holding its connection
    remote = rc.remote(where(s, rc.dummies[0])[0])
    holder = rc.c.host(where(s, remote.name)[0])
    mine = [d for d in rc.dummies if where(s, d) == [remote.name]]
    before = {d: dummy_state(remote, d) for d in mine}
    assert all(before.values()), before
    t0 = time.monotonic()
    holder.power_cut()
    rest = {h.name for h in rc.full} - {holder.name}
    s = wait_state(
        rc.viewer(),
        lambda s: (
            s["have_quorum"]
            and holder.name in s["offline"]
            and len(where(s, remote.name)) == 1
            and where(s, remote.name)[0] in rest
            and remote_nodes(s).get(remote.name) is True
            and all(where(s, d) == [remote.name] for d in mine)
        ),
        LONG,
        f"{remote.name}'s connection moved off {holder.name}",
    )
    rc.timing(f"power cut of full node {holder.name} until {remote.name} reconnected",
              time.monotonic() - t0)  # fmt: skip
    for d in mine:
        assert where(s, d) == [remote.name], (d, s["resources"][d])
    after = {d: dummy_state(remote, d) for d in mine}
    assert after == before, "a Dummy on the remote was restarted"
    assert [f for f in failed_actions(rc.viewer()) if f.get("node") == remote.name] == []


# --------------------------------------------------------------------------
# 3. graceful stop of a remote node (last: the stopped remote is not brought back)


def stops_on(admin: Host, node: str) -> dict[str, str]:
    """Resource id -> rc-code of the stop in ``node``'s operation history (CIB status): a stop
    recorded there was run by that node's pacemaker-remoted, so while it was still running."""
    out = admin.run(["cibadmin", "--query", "--scope", "status"], timeout=30).stdout
    found = {}
    for ns in ET.fromstring(out).iter("node_state"):
        if ns.get("uname") != node:
            continue
        for rsc in ns.iter("lrm_resource"):
            for op in rsc.iter("lrm_rsc_op"):
                if op.get("operation") == "stop":
                    found[rsc.get("id", "")] = op.get("rc-code", "")
    return found


def test_graceful_stop_of_a_remote_moves_its_resources_first(remote_cluster):
    """docker stop of a remote (SIGTERM to its launcher, as Host.stop sends): the cluster
    stops its resources there before pacemaker-remoted exits (with Pacemaker 2.1.5 the launcher
    asks for it: pcmk_launch/remote_stop.py says why), they start elsewhere, exit 0."""
    rc = remote_cluster
    s = rc.ensure_all_up()
    assert failed_actions(rc.viewer()) == []
    victim = rc.remote(where(s, rc.dummies[0])[0])
    moved = [d for d in rc.dummies if where(s, d) == [victim.name]]
    t0 = time.monotonic()
    rc_exit = victim.stop(STOP_TIMEOUT)
    stopped = time.monotonic() - t0
    admin = rc.viewer()
    s_at_exit = cluster_state(admin)
    assert rc_exit == 0, victim.log_tail(40)
    # pacemaker-remoted exited only after the cluster had stopped its resources there
    for d in moved:
        assert victim.name not in where(s_at_exit, d), (d, s_at_exit["resources"][d])
    stops = stops_on(admin, victim.name)
    assert {d: stops.get(d) for d in moved} == dict.fromkeys(moved, "0"), victim.log_tail(40)
    others = {h.name for h in rc.remotes} - {victim.name}
    s = wait_state(
        admin,
        lambda s: all(len(where(s, d)) == 1 and where(s, d)[0] in others for d in moved),
        LONG,
        f"{moved} Started on other remotes after {victim.name} stopped",
    )
    rc.timing(f"SIGTERM to {victim.name}'s launcher until it exited 0", stopped)
    rc.timing(f"SIGTERM until {moved} Started elsewhere", time.monotonic() - t0)
    # No fencing: the node left cleanly, it was never unclean.
    assert not s["nodes"][victim.name]["unclean"], s["nodes"][victim.name]
    # No failed action, except what Pacemaker announces ("Reconnection attempts to NODE may
    # result in failures that must be cleared"): its connection is started again once the
    # node has left, and those starts fail while nothing listens there.
    failed = [f for f in failed_actions(admin)
              if f.get("op_key") != f"{victim.name}_start_0"]  # fmt: skip
    assert failed == []
    log = victim.log_path.read_text(errors="replace")
    this_run = log[log.rfind("==== harness: start") :]
    assert "exiting with code 0" in this_run
