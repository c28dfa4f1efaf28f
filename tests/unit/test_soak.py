"""The soak test's pure parts: the seeded schedule and the invariant judges."""

from __future__ import annotations

import math

import pytest

from tests.soak import judge, schedule

NODES = [f"node{i}" for i in range(1, 6)]


def test_same_seed_same_schedule():
    assert schedule.schedule(7, NODES, 50) == schedule.schedule(7, NODES, 50)


def test_other_seed_other_schedule():
    assert schedule.schedule(7, NODES, 50) != schedule.schedule(8, NODES, 50)


def test_prefix_is_stable():
    # A shorter run is the start of a longer one: a violation at step k replays with count k+1.
    assert schedule.schedule(3, NODES, 10) == schedule.schedule(3, NODES, 40)[:10]


def test_every_kind_comes_up():
    kinds = {f.kind for f in schedule.schedule(1, NODES, 400)}
    assert kinds == set(schedule.KINDS)


def test_partitions_keep_a_majority():
    for f in schedule.schedule(5, NODES, 400):
        assert f.targets and set(f.targets) <= set(NODES)
        if f.kind.startswith("partition"):
            assert len(f.targets) <= 2
        else:
            assert len(f.targets) == 1


def test_resource_fail_names_primitives():
    # crm_resource --fail refuses a clone's id (exit 70): a clone id made the fault a no-op.
    picked = {
        f.params["resource"]
        for f in schedule.schedule(262118, NODES, 400)
        if f.kind == "resource_fail"
    }
    assert picked == {"vip", "dummy", "stateful"}


def test_seed_262118_covers_every_kind_early():
    # The committed 600 s runs (docs/soak.md) use this seed: all 11 kinds, partition_admin
    # and power_cut_drop among them, come up in the first 11 steps.
    first = schedule.schedule(262118, NODES, 11)
    assert {f.kind for f in first} == set(schedule.KINDS)
    assert first[1].describe() == "step 1: resource_fail node5 resource=stateful"
    assert first[7].describe() == "step 7: partition_admin node4 hold=8 side=minority"


def test_steps_are_numbered():
    assert [f.step for f in schedule.schedule(2, NODES, 5)] == [0, 1, 2, 3, 4]


def test_too_few_nodes():
    with pytest.raises(ValueError, match="at least 3"):
        schedule.schedule(1, ["a", "b"], 3)


def state(online=NODES, vip=("node1",), failed=False):
    return {
        "dc": "node1",
        "have_quorum": True,
        "nodes": {n: {"online": n in online, "standby": False, "unclean": False} for n in NODES},
        "resources": {
            "vip": {"nodes": list(vip), "failed": failed},
            "dummy": {"nodes": list(online), "failed": False},
        },
    }


EXPECT = {"vip": 1, "dummy": 5}


def test_converged():
    assert judge.convergence_problems(state(), NODES, EXPECT) == []


def test_not_converged_names_every_problem():
    p = judge.convergence_problems(state(online=NODES[:4], vip=(), failed=True), NODES, EXPECT)
    assert "offline: node5" in p
    assert "vip failed" in p
    assert any(x.startswith("vip on 0 nodes") for x in p)
    assert any(x.startswith("dummy on 4 nodes") for x in p)


def test_vip_twice_in_a_partition():
    holders = {"node1": True, "node4": True}
    assert (
        judge.vip_holders_problem(holders, [set(NODES)])
        == "VIP on node1,node4 in the same partition"
    )
    assert judge.vip_holders_problem(holders, [{"node1", "node2"}, {"node4"}]) is None


def test_percentiles():
    assert judge.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert judge.percentile([1.0] * 19 + [9.0], 95) == 1.0
    assert judge.percentile([1.0] * 18 + [9.0, 9.0], 95) == 9.0
    assert math.isnan(judge.percentile([], 50))


def test_summary_and_markdown():
    recs = [
        {"kind": "restart", "converge_s": 4.0},
        {"kind": "restart", "converge_s": 6.0},
        {"kind": "standby", "converge_s": None},
    ]
    s = judge.summarize(recs)
    assert s["restart"] == {"count": 2, "p50": 4.0, "p95": 6.0, "max": 6.0}
    assert s["standby"]["count"] == 1 and math.isnan(s["standby"]["max"])
    meta = {"seed": 1, "seconds": 60, "nodes": 5, "fencing": "off", "bound": 90, "steps": 3}
    v = [{"seed": 1, "step": 2, "kind": "standby", "what": "did not converge"}]
    md = judge.render_markdown(meta, s, v)
    assert "| restart | 2 | 4.0 | 6.0 | 6.0 |" in md
    assert "seed 1 step 2 (standby): did not converge" in md


def test_junit_counts_steps_and_violations(tmp_path):
    from tests.levels import counts

    recs = [{"step": 0, "kind": "restart", "converge_s": 4.0}]
    v = [
        {"seed": 1, "step": 1, "kind": "standby", "what": "not converged"},
        {"seed": 1, "step": 1, "kind": "standby", "what": "zombies"},
    ]
    junit = tmp_path / "soak.xml"
    junit.write_text(judge.junit_xml({"seed": 1}, recs, v))
    # setup and step 0 passed; step 1 (a violation, no record: the run ended there) failed
    assert counts(junit) == {"passed": 2, "failed": 1, "skipped": 0, "xfailed": 0}
    junit.write_text(judge.junit_xml({"seed": 1}, [], [], skipped="not root"))
    assert counts(junit) == {"passed": 0, "failed": 0, "skipped": 1, "xfailed": 0}


def test_unclean_losses_heading():
    meta = {"seed": 1, "seconds": 60, "nodes": 5, "fencing": "off", "bound": 90, "steps": 1}
    md = judge.render_markdown(meta | {"dup_vip": [{"step": 0, "seconds": 9.5}]}, {}, [])
    assert "### Duplicate VIP after unclean losses (fencing off)" in md
    assert "- step 0: 9.5 s" in md


def test_dup_vip_tolerated():
    # fencing off: during an unclean loss only
    assert judge.dup_vip_tolerated("power_cut_keep", "off", {"node1", "node2"}, set())
    assert judge.dup_vip_tolerated("kill_corosync", "off", {"node1", "node2"}, set())
    assert not judge.dup_vip_tolerated("restart", "off", {"node1", "node2"}, set())
    # fencing on: only while a holder is being powered off
    assert not judge.dup_vip_tolerated("power_cut_keep", "ipmi", {"node1", "node2"}, set())
    assert not judge.dup_vip_tolerated("power_cut_keep", "ipmi", {"node1", "node2"}, {"node3"})
    assert judge.dup_vip_tolerated("power_cut_keep", "ipmi", {"node1", "node2"}, {"node2"})


def test_fencing_report():
    meta = {"seed": 24, "seconds": 60, "nodes": 5, "fencing": "ipmi", "bound": 90, "steps": 1}
    ev = [
        {"step": 0, "kind": "power_cut_keep", "node": "node5", "what": "off", "after_s": 11.2},
        {"step": 0, "kind": "power_cut_keep", "node": "node5", "what": "on", "after_s": 13.5},
    ]
    md = judge.render_markdown(meta | {"fence_events": ev}, {}, [])
    assert "### Fencing (ipmi): 1 power-offs" in md
    assert "- step 0 (power_cut_keep): node5 after 11.2 s" in md


def test_lan_conf_and_stonith_params():
    from tests.soak import bmc

    conf = bmc.lan_conf("bmc-node1", "192.0.2.231", "/x/chassis_control.py /s node1", "pw")
    assert "addr 192.0.2.231 623" in conf
    assert 'chassis_control "/x/chassis_control.py /s node1"' in conf
    assert 'user 2 true "admin" "pw" admin 10 md5' in conf
    params = bmc.stonith_params("192.0.2.231", "pw", "node1")
    assert {"ip=192.0.2.231", "lanplus=1", "cipher=3", "pcmk_host_list=node1"} <= set(params)


def test_chassis_control_forwards_to_the_runner(tmp_path, capsys):
    import socketserver
    import threading

    from tests.soak import chassis_control

    asked = []

    class H(socketserver.StreamRequestHandler):
        def handle(self):
            line = self.rfile.readline().decode().strip()
            asked.append(line)
            self.wfile.write(b"1\n" if line.startswith("status") else b"ok\n")

    sock = str(tmp_path / "p.sock")
    srv = socketserver.UnixStreamServer(sock, H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        assert chassis_control.main([sock, "node2", "get", "power"]) == 0
        assert capsys.readouterr().out == "power:1\n"
        assert chassis_control.main([sock, "node2", "set", "power", "0"]) == 0
        assert chassis_control.main([sock, "node2", "set", "power", "1"]) == 0
        assert chassis_control.main([sock, "node2", "set", "reset", "1"]) == 1
    finally:
        srv.shutdown()
        srv.server_close()
    assert asked == ["status node2", "off node2", "on node2"]


def test_report_keeps_one_section_per_fencing_mode():
    meta = {"seed": 5, "seconds": 600, "nodes": 5, "fencing": "ipmi", "bound": 120, "steps": 1}
    meta["versions"] = {"pacemaker": "2.1.5", "corosync": "3.1.7"}
    meta["settle"] = 13.85
    s = {"restart": {"count": 1, "p50": 4.0, "p95": 4.0, "max": 4.0}}
    ipmi = judge.render_markdown(meta, s, [])
    assert "versions: pacemaker 2.1.5, corosync 3.1.7" in ipmi
    assert "1 faults, settle 13.8 s (token + consensus + margin)" in ipmi
    off = judge.render_markdown(meta | {"fencing": "off", "seed": 6}, s, [])
    order = ("off", "ipmi")
    one = judge.merge_report(None, "ipmi", ipmi, order)
    assert one.startswith(judge.HEADER) and "## Fencing ipmi" in one
    both = judge.merge_report(one, "off", off, order)
    assert both.index("## Fencing off") < both.index("## Fencing ipmi")
    # a new ipmi run replaces the ipmi section only
    again = judge.merge_report(both, "ipmi", ipmi.replace("seed 5,", "seed 7,"), order)
    assert "seed 7," in again and "seed 5," not in again and "seed 6," in again
    assert again.count("## Fencing ipmi") == 1 and again.count("## Fencing off") == 1
    # a report from before the sections (no markers) is replaced, not appended to
    assert judge.merge_report("# Soak test results\nold\n", "off", off, order).count("old") == 0


NODES5 = ["node1", "node2", "node3", "node4", "node5"]


@pytest.mark.parametrize(
    ("cut", "side", "holder", "expect"),
    [
        (("node2",), "minority", "node2", ("node2",)),  # already so
        (("node2",), "majority", "node4", ("node2",)),
        (("node2", "node3"), "minority", "node5", ("node2", "node5")),  # holder swapped in
        (("node2", "node3"), "majority", "node3", ("node1", "node2")),  # holder swapped out
        (("node2",), "majority", None, ("node2",)),  # no VIP anywhere: as scheduled
    ],
)
def test_partition_puts_the_vip_holder_on_the_side_named(cut, side, holder, expect):
    got = schedule.cut_for_side(cut, side, holder, NODES5)
    assert got == expect
    assert len(got) == len(cut) and (holder in got) == (side == "minority" and holder is not None)


def test_convergence_needs_every_subdaemon_and_the_fault_draws_the_cib_manager():
    comms = ["corosync", "pacemakerd", "pacemaker-based", "pacemaker-fence", "pacemaker-execd"]
    comms += ["pacemaker-attrd", "pacemaker-sched", "pacemaker-contr"]
    assert judge.missing_subdaemons(comms, schedule.SUBDAEMONS) == []
    comms.remove("pacemaker-fence")
    assert judge.missing_subdaemons(comms, schedule.SUBDAEMONS) == ["pacemaker-fenced"]
    drawn = {
        f.params["daemon"]
        for f in schedule.schedule(7, ["n1", "n2", "n3"], 400)
        if f.kind == "kill_subdaemon"
    }
    assert "pacemaker-based" in drawn and set(schedule.SUBDAEMONS) == drawn
