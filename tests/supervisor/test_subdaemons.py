"""pacemakerd's subdaemons under the real launcher (issue 30), with the fake pacemakerd: one it
does not respawn gets pacemakerd restarted while corosync stays up; restarts that bring
nothing back end in a clean stop and exit 6; `health` and `status` name what is missing.
The same with the real daemons: tests/cluster/test_subdaemons.py."""

from __future__ import annotations

import json
import os
import re
import signal

import pytest

from pcmk_launch.errors import ExitCode

# The restart tests run as PID 1 only: what they check (pacemakerd restarted, or given up on)
# is the supervisor's plan, the same in both modes; the modes differ in reaping and signals,
# which test_lifecycle.py runs in both. Each costs 6 to 20 s of real restarts.


def kill_subdaemon(launcher, name: str) -> int:
    pacemakerd = launcher.process("pacemakerd")
    pid = launcher.process(name, parent=pacemakerd)
    os.kill(pid, signal.SIGKILL)
    return pid


@pytest.mark.parametrize("mode", ["pid1"])
def test_a_subdaemon_left_dead_gets_pacemakerd_restarted_and_corosync_stays(pid1, mode):
    launcher = pid1
    launcher.start(pacemakerd_no_respawn="pacemaker-based")
    launcher.wait_output("pacemakerd runs its 6 subdaemons; watching them")
    kill_subdaemon(launcher, "pacemaker-based")
    launcher.wait_event("pacemakerd not respawning pacemaker-based")
    launcher.wait_output("recovered: pacemakerd runs all 6 of its subdaemons again", timeout=20)
    events = launcher.event_texts()
    assert sum(e.startswith("pacemakerd start") for e in events) == 2
    assert sum(e.startswith("corosync start") for e in events) == 1
    assert "crmadmin asked: running" in events  # it was not shutting down on its own
    out = launcher.output()
    assert re.search(r"error: pacemaker-based of pacemakerd gone for 5\.\ds and not respawned", out)
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0, launcher.output()


def test_a_respawned_subdaemon_is_only_logged(launcher):
    launcher.start()
    launcher.wait_output("pacemakerd runs its 6 subdaemons; watching them")
    kill_subdaemon(launcher, "pacemaker-fenced")
    launcher.wait_output("pacemakerd respawned pacemaker-fenced")
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0, launcher.output()
    assert sum(e.startswith("pacemakerd start") for e in launcher.event_texts()) == 1
    assert "not respawned" not in launcher.output()


@pytest.mark.parametrize("mode", ["pid1"])
def test_pacemakerd_shutting_down_by_itself_is_not_restarted(pid1, mode):
    launcher = pid1
    launcher.start(pacemakerd_no_respawn="pacemaker-controld", crmadmin_state="shutting_down")
    launcher.wait_output("pacemakerd runs its 6 subdaemons; watching them")
    kill_subdaemon(launcher, "pacemaker-controld")
    launcher.wait_output("pacemakerd is shutting down on its own; not restarting it", timeout=15)
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0, launcher.output()
    assert sum(e.startswith("pacemakerd start") for e in launcher.event_texts()) == 1


@pytest.mark.parametrize("mode", ["pid1"])
def test_restarts_that_do_not_help_end_in_a_clean_stop_and_exit_6(pid1, mode):
    launcher = pid1
    launcher.start(env={"PCMK_START_TIMEOUT": "1"}, pacemakerd_never="pacemaker-fenced")
    assert launcher.wait(timeout=60) == ExitCode.WEDGED, launcher.output()
    events = launcher.event_texts()
    assert sum(e.startswith("pacemakerd start") for e in events) == 4  # first + 3 restarts
    assert "corosync got SIGTERM" in events and "corosync exit 0" in events
    out = launcher.output()
    assert "pacemakerd was restarted 3 times in a row and pacemaker-fenced never came back" in out
    assert "exiting with code 6" in out


@pytest.mark.parametrize("mode", ["pid1"])
def test_health_and_status_name_a_missing_subdaemon(pid1, mode):
    launcher = pid1
    launcher.start(pacemakerd_no_respawn="pacemaker-fenced")
    launcher.wait_output("pacemakerd runs its 6 subdaemons; watching them")
    status = json.loads(launcher.cli({}, "status", "--json").stdout)
    assert status["missing_daemons"] == []
    assert all(status["daemons"][d] for d in status["daemons"]), status["daemons"]
    # what the node got from its host, and what corosync really runs with (issue 24)
    assert isinstance(status["host"]["rmem_max"], int) and status["host"]["knet_buffers"]
    assert {f["topic"] for f in status["host_findings"]} >= {"socket buffers", "locked memory"}
    assert status["corosync"]["scheduler"] in ("SCHED_OTHER", "SCHED_RR")
    kill_subdaemon(launcher, "pacemaker-fenced")
    launcher.wait_event("pacemakerd not respawning pacemaker-fenced")
    health = launcher.cli({}, "health")
    assert health.returncode == 1
    assert health.stdout.startswith("unhealthy: pacemaker-fenced is not running"), health.stdout
    status = json.loads(launcher.cli({}, "status", "--json").stdout)
    assert status["missing_daemons"] == ["pacemaker-fenced"] and status["healthy"] is False
    text = launcher.cli({}, "status").stdout
    assert "pacemaker-fenced MISSING" in text, text
    launcher.wait_output("recovered: pacemakerd runs all 6", timeout=20)
    status = json.loads(launcher.cli({}, "status", "--json").stdout)
    assert status["missing_daemons"] == []
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0, launcher.output()
