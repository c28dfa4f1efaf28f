"""The simulated-host harness, proven with real corosync + pacemaker.

PID 1 of each host is tests/harness/naive_start.sh (no launcher yet).
Timings are printed as ``TIMING ...`` lines.
"""

from __future__ import annotations

import os
import subprocess
import time
import unittest

import pytest

from tests.harness import hosts
from tests.harness.cluster import (
    NAIVE_ARGV,
    cluster_state,
    describe_state,
    parse_crm_mon,
    wait_converged,
)

pytestmark = pytest.mark.root

# What tests that are not about formation time seed into the CIB (see findings
# in the harness docs): DC election after 2 s instead of 20 s.
FAST = {"dc-deadtime": "2s"}


def test_host_basics(make_cluster):
    """Namespaces, mounts, directories, run(), stop/kill semantics: no daemons."""
    c = make_cluster(2)
    a, b = c.hosts
    with pytest.raises(ValueError, match="must be in 192.0.2.0/24"):
        c.network.add_host(address="198.51.100.1")
    a.start(["/bin/sleep", "infinity"])
    b.start(["/bin/bash", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"])

    assert a.run("hostname").stdout.strip() == "node1"
    assert a.run("cat /proc/1/cmdline | tr '\\0' ' '").stdout.strip() == "/bin/sleep infinity"
    assert "192.0.2.11/24" in a.run("ip -o addr show dev eth0").stdout
    # One host reaches the other over the switch (UDP echo via bash /dev/udp).
    listen = subprocess.Popen(
        a.nsenter_argv()
        + ["timeout", "5", "python3", "-c",
           "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
           " s.bind(('192.0.2.11', 9999)); print(s.recvfrom(64)[0].decode())"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(0.5)
    b.run(["bash", "-c", "echo hello-from-node2 > /dev/udp/192.0.2.11/9999"])
    assert listen.communicate(timeout=10)[0].strip() == "hello-from-node2"

    mounts = a.run("cat /proc/self/mountinfo").stdout
    for target in ("/run", "/dev/shm", "/tmp", *hosts.PERSISTENT_DIRS):
        assert f" {target} " in mounts, target
    if os.path.exists("/proc/sysrq-trigger"):
        assert " /proc/sysrq-trigger " in mounts
    stat = a.run(
        "stat -c '%n %U:%G %a' /var/lib/pacemaker/cib /var/lib/pacemaker/pengine"
        " /var/log/pacemaker /etc/corosync"
    ).stdout.splitlines()
    assert stat == [
        "/var/lib/pacemaker/cib hacluster:haclient 750",
        "/var/lib/pacemaker/pengine hacluster:haclient 750",
        "/var/log/pacemaker hacluster:haclient 770",
        "/etc/corosync root:root 755",
    ]
    # Persistent dirs are visible from outside and survive a restart.
    a.run("echo kept > /var/lib/pacemaker/marker")
    assert a.path("/var/lib/pacemaker/marker").read_text() == "kept\n"
    # Private /run: a file there is not seen by the other host.
    a.run("touch /run/only-on-node1")
    assert b.run("test -e /run/only-on-node1", check=False).returncode == 1

    with pytest.raises(hosts.HostCommandError, match="exited 3"):
        a.run("echo out; echo err >&2; exit 3")
    with pytest.raises(subprocess.TimeoutExpired):
        a.run("sleep 30", timeout=0.5)

    assert b.stop(10) == 7
    assert b.returncode == 7
    with pytest.raises(TimeoutError):  # PID 1 without a TERM handler ignores SIGTERM
        a.stop(1)
    assert a.returncode == -9

    a.restart()
    assert a.run("cat /var/lib/pacemaker/marker").stdout == "kept\n"
    assert a.run("test -e /run/only-on-node1", check=False).returncode == 1
    assert a.kill() == -9
    assert not a.running and a.pid is None


def test_three_hosts_form_one_quorate_partition(make_cluster, timing):
    """Naive start (corosync, then pacemakerd), dc-deadtime 2 s: the stock CIB's 20 s wait
    is the naive baseline of `make bench`, not something to wait for here."""
    c = make_cluster(3)
    c.write_corosync_conf()
    c.seed_cib(FAST)
    t0 = time.monotonic()
    c.start(NAIVE_ARGV)
    wait_for_corosync_quorum(c.hosts, timeout=60)
    timing("naive start, 3 nodes: corosync quorate", time.monotonic() - t0)
    state = c.wait_converged(timeout=120)
    timing("naive start, 3 nodes, dc-deadtime=2s: DC + 3 online", time.monotonic() - t0)

    assert state["dc"] in c.names
    assert state["have_quorum"]
    assert state["online"] == ["node1", "node2", "node3"]
    assert state["offline"] == []
    for h in c.hosts:
        assert h.run("crm_node -n").stdout.strip() == h.name  # node name == hostname
        assert cluster_state(h)["dc"] == state["dc"]
        assert h.path("/var/log/pacemaker/pacemaker.log").stat().st_size > 0


def test_kill_one_host_leaves_two_quorate(make_cluster, timing):
    c = make_cluster(3)
    c.write_corosync_conf()
    c.seed_cib(FAST)
    t0 = time.monotonic()
    c.start(NAIVE_ARGV)
    state = c.wait_converged(timeout=60)
    timing("naive start, 3 nodes, dc-deadtime=2s: DC + 3 online", time.monotonic() - t0)

    victim = c.host(state["dc"])  # the hard case: the DC dies
    netns_inode = os.stat(f"/run/netns/{victim.netns}").st_ino
    t1 = time.monotonic()
    assert victim.kill() == -9
    assert hosts._pids_in_netns(netns_inode) == []  # the whole pid namespace died
    rest = [h for h in c.hosts if h is not victim]
    state = wait_converged(rest, offline=[victim.name], timeout=60)
    timing("DC killed: other 2 quorate with new DC", time.monotonic() - t1)
    assert state["have_quorum"]
    assert state["dc"] in {h.name for h in rest}
    assert not state["nodes"][victim.name]["online"]

    # Power back on: state dirs survived, the host rejoins.
    t2 = time.monotonic()
    victim.start(NAIVE_ARGV)
    c.wait_converged(timeout=60)
    timing("killed host restarted: 3 online again", time.monotonic() - t2)


def test_link_down_isolates_minority_and_stop_is_clean(make_cluster, timing):
    c = make_cluster(3)
    c.write_corosync_conf()
    c.seed_cib(FAST)
    c.start(NAIVE_ARGV)
    c.wait_converged(timeout=60)
    n1, n2, n3 = c.hosts

    t0 = time.monotonic()
    n3.link_down()
    wait_converged([n1, n2], offline=["node3"], timeout=60)
    timing("link down: majority reports node3 offline", time.monotonic() - t0)
    alone = hosts.wait_for(
        lambda: cluster_state(n3), 60, "node3 to lose quorum",
        until=lambda s: not s["have_quorum"] and s["online"] == ["node3"],
    )  # fmt: skip
    assert alone["offline"] == ["node1", "node2"]

    t1 = time.monotonic()
    n3.link_up()
    c.wait_converged(timeout=90)
    timing("link up: 3 online again", time.monotonic() - t1)

    t2 = time.monotonic()
    assert n3.stop(60) == 0  # SIGTERM: pacemakerd, then corosync, stop cleanly
    timing("SIGTERM stop of one host", time.monotonic() - t2)
    state = wait_converged([n1, n2], offline=["node3"], timeout=30)
    assert not state["nodes"]["node3"]["unclean"]  # a clean leave, not a failure
    assert [n1.stop(60), n2.stop(60)] == [0, 0]


DUMMY = """
<primitive id="dummy" class="ocf" provider="pacemaker" type="Dummy">
  <operations>
    <op id="dummy-monitor-5s" name="monitor" interval="5s"/>
  </operations>
</primitive>
"""


def test_resource_fails_over_when_its_host_dies(make_cluster, timing):
    """cluster_state() reports where resources run (stonith off: no fence device)."""
    c = make_cluster(3)
    c.write_corosync_conf()
    c.seed_cib({**FAST, "stonith-enabled": "false"}, resources_xml=DUMMY)
    c.start(NAIVE_ARGV)
    t0 = time.monotonic()
    state = hosts.wait_for(
        # role, not just active: a pending start shows as active with role Starting
        lambda: cluster_state(c.hosts[0]), 60, "dummy started",
        until=lambda s: s["resources"].get("dummy", {}).get("role") == "Started",
        describe=describe_state,
    )  # fmt: skip
    timing("naive start: Dummy resource started", time.monotonic() - t0)
    [where] = state["resources"]["dummy"]["nodes"]
    assert state["resources"]["dummy"]["role"] == "Started"
    assert state["resources"]["dummy"]["agent"] == "ocf:pacemaker:Dummy"

    t1 = time.monotonic()
    c.host(where).kill()
    survivor = next(h for h in c.hosts if h.name != where)
    state = hosts.wait_for(
        lambda: cluster_state(survivor), 60, "dummy moved",
        until=lambda s: s["resources"]["dummy"]["active"]
        and s["resources"]["dummy"]["nodes"] not in ([], [where]),
        describe=describe_state,
    )  # fmt: skip
    timing("host of Dummy killed: Dummy started elsewhere", time.monotonic() - t1)
    assert where in state["offline"]


def test_teardown_leaves_nothing(make_cluster):
    c = make_cluster(3)
    c.write_corosync_conf()
    c.start(NAIVE_ARGV)
    wait_for_corosync_quorum(c.hosts, timeout=60)
    pids = [h.pid for h in c.hosts]
    netns = [h.netns for h in c.hosts] + [c.network.switch_ns]
    assert all(ns in os.listdir("/run/netns") for ns in netns)

    c.teardown()
    c.teardown()  # idempotent
    assert hosts.leftovers() == []
    assert not any(ns in os.listdir("/run/netns") for ns in netns)
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}")


# ---------------------------------------------------------------------------
# no root needed


CRM_MON_XML = """\
<pacemaker-result api-version="2.25" request="crm_mon --output-as=xml">
  <summary>
    <current_dc present="true" version="2.1.5" name="node2" id="2" with_quorum="true"/>
  </summary>
  <nodes>
    <node name="node1" id="1" online="true" standby="false" maintenance="false"
          pending="false" unclean="false" shutdown="false" type="member"/>
    <node name="node2" id="2" online="true" standby="true" maintenance="false"
          pending="false" unclean="false" shutdown="false" type="member"/>
    <node name="node3" id="3" online="false" standby="false" maintenance="false"
          pending="false" unclean="true" shutdown="false" type="member"/>
  </nodes>
  <resources>
    <resource id="ip" resource_agent="ocf:heartbeat:IPaddr2" role="Started" active="true"
              failed="false" nodes_running_on="1"><node name="node1" id="1" cached="true"/>
    </resource>
    <group id="g" number_resources="1">
      <resource id="dummy" resource_agent="ocf:pacemaker:Dummy" role="Stopped"
                active="false" failed="false" nodes_running_on="0"/>
    </group>
    <clone id="c-clone" multi_state="false" unique="false">
      <resource id="c" resource_agent="ocf:pacemaker:Stateful" role="Started" active="true"
                nodes_running_on="1"><node name="node2" id="2" cached="true"/></resource>
      <resource id="c" resource_agent="ocf:pacemaker:Stateful" role="Started" active="true"
                nodes_running_on="1"><node name="node1" id="1" cached="true"/></resource>
    </clone>
  </resources>
</pacemaker-result>
"""


def test_parse_crm_mon():
    s = parse_crm_mon(CRM_MON_XML)
    assert (s["dc"], s["dc_present"], s["have_quorum"]) == ("node2", True, True)
    assert s["online"] == ["node1", "node2"]
    assert s["offline"] == ["node3"]
    assert s["nodes"]["node3"]["unclean"] and s["nodes"]["node2"]["standby"]
    assert s["resources"]["ip"]["nodes"] == ["node1"]
    assert s["resources"]["ip"]["agent"] == "ocf:heartbeat:IPaddr2"
    assert s["resources"]["dummy"]["active"] is False
    assert s["resources"]["dummy"]["nodes"] == []
    assert s["resources"]["c"]["nodes"] == ["node1", "node2"]


def test_parse_crm_mon_without_dc():
    s = parse_crm_mon(
        '<pacemaker-result><summary><current_dc present="false"/></summary>'
        "<nodes/></pacemaker-result>"
    )
    assert (s["dc"], s["dc_present"], s["have_quorum"], s["online"]) == (None, False, False, [])


def test_require_harness_skips_or_fails_in_ci(monkeypatch):
    monkeypatch.setattr(hosts, "missing_prerequisites", lambda: ["not root"])
    monkeypatch.setenv("CI", "true")
    with pytest.raises(RuntimeError, match="not root"):
        hosts.require_harness()
    monkeypatch.delenv("CI")
    with pytest.raises(unittest.SkipTest, match="not root"):
        hosts.require_harness()


def test_wait_for_reports_last_value():
    values = iter(range(100))
    with pytest.raises(hosts.WaitTimeout, match=r"waiting for the answer; last seen: \d+") as e:
        hosts.wait_for(
            lambda: next(values), 0.3, "the answer", until=lambda v: v == -1, interval=0.05
        )
    assert isinstance(e.value.last, int)
    assert hosts.wait_for(lambda: "x", 1, "x") == "x"


# ---------------------------------------------------------------------------


def wait_for_corosync_quorum(hs, timeout):
    """Until corosync-quorumtool says quorate with all of ``hs`` on every host."""
    for h in hs:
        hosts.wait_for(
            lambda h=h: h.run("corosync-quorumtool -s", check=False).stdout,
            timeout,
            f"corosync quorum on {h.name}",
            until=lambda out: (
                "Quorate:          Yes" in out and f"Total votes:      {len(hs)}" in out
            ),
            interval=0.2,
        )
