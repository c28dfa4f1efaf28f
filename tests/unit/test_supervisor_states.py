"""The supervisor's state machine in process, with a fake clock (tests/helpers/sim.py): start
order and readiness probes, restarts of a RESTART service and their backoff, the ordered stop
with pre-stop steps and timeouts, and deaths while stopping. The same rules are described in
services.py; the real processes are in tests/supervisor/ (fake daemons) and tests/cluster/."""

from __future__ import annotations

import os
import signal

import pytest

from pcmk_launch.errors import ExitCode
from pcmk_launch.services import RESTART, Service
from pcmk_launch.supervisor import PROBE_FAST_FOR, Supervisor
from tests.helpers.sim import SimSupervisor

EXPORTER = "ha_cluster_exporter"
METRICS = "127.0.0.1:9664"


def logged(capfd) -> str:
    return capfd.readouterr().out


def started(**opts: object) -> SimSupervisor:
    """The real cluster plan, all of it started (corosync's probe answers at once)."""
    sup = SimSupervisor(**opts)
    sup.start_next()
    assert sup.next_start == len(sup.plan) and set(sup.pids) == {s.name for s in sup.plan}
    return sup


def until_spawned(sup: SimSupervisor, name: str, limit: float = 120.0) -> float:
    """Advance in small steps until name is spawned again; how long that took."""
    before, t0 = len(sup.spawn_times(name)), sup.now
    while len(sup.spawn_times(name)) == before:
        assert sup.now - t0 < limit, f"{name} was not started again within {limit}s"
        sup.advance(0.25)
    return sup.spawn_times(name)[-1] - t0


# ---- a RESTART service: backoff and its reset ---------------------------------------------


def test_a_restart_service_that_keeps_dying_backs_off_doubling_up_to_restart_max(capfd):
    sup = started(metrics_address=METRICS)
    exporter = sup.service(EXPORTER)
    assert exporter.on_death == RESTART and (exporter.restart_delay, exporter.restart_max) == (
        1.0,
        30.0,
    )
    delays = []
    for _ in range(7):
        sup.service_exits(EXPORTER, 1)  # dies at once after each restart
        delays.append(until_spawned(sup, EXPORTER))
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    out = logged(capfd)
    assert "ha_cluster_exporter died (exit code 1)" in out
    assert "ha_cluster_exporter will be restarted in 16s" in out
    assert "restarted ha_cluster_exporter (pid " in out
    # the cluster is not touched by any of it
    assert sup.exit_code is None and not sup.stopping and sup.sent == []


def test_the_backoff_starts_over_after_a_run_of_restart_max(capfd):
    sup = started(metrics_address=METRICS)
    for _ in range(4):
        sup.service_exits(EXPORTER, 1)
        until_spawned(sup, EXPORTER)
    sup.advance(29)  # not long enough: the backoff goes on
    sup.service_exits(EXPORTER, 1)
    assert until_spawned(sup, EXPORTER) == 16
    sup.advance(31)  # ran longer than restart_max: a fresh start
    sup.service_exits(EXPORTER, 1)
    assert until_spawned(sup, EXPORTER) == 1
    sup.service_exits(EXPORTER, 1)
    assert until_spawned(sup, EXPORTER) == 2


def test_a_restart_service_that_cannot_be_run_does_not_hold_up_the_cluster():
    sup = SimSupervisor(metrics_address=METRICS)
    sup.cannot_run.add(EXPORTER)
    sup.start_next()
    assert set(sup.pids) == {"corosync", "pacemakerd"} and sup.exit_code is None
    sup.advance(1 + 2 + 4)  # three more attempts, backing off
    assert set(sup.pids) == {"corosync", "pacemakerd"} and sup.delays[EXPORTER] == 16
    sup.cannot_run.clear()  # installed meanwhile
    sup.advance(8)
    assert EXPORTER in sup.pids and sup.spawn_times(EXPORTER) == [sup.now]


def test_a_pending_restart_is_cancelled_by_a_stop():
    sup = started(metrics_address=METRICS)
    sup.service_exits(EXPORTER, 1)
    sup.request_stop("received SIGTERM")
    sup.advance(10)
    assert sup.spawn_times(EXPORTER) == [1000.0], "restarted during the stop"


# ---- readiness probes -----------------------------------------------------------------------


def test_the_readiness_probe_backs_off_from_fast_to_a_tenth_of_a_second(capfd):
    sup = SimSupervisor()
    sup.answers["ready:corosync"] = [1, 1, 1, 1, 1, 1, 0]  # ready at the seventh probe
    sup.start_next()
    sup.advance(5)
    probes = [t for t, kind in sup.helpers_run if kind == "ready:corosync"]
    gaps = [round(b - a, 6) for a, b in zip(probes, probes[1:], strict=False)]
    assert gaps == [0.04, 0.08, 0.1, 0.1, 0.1, 0.1]
    assert sup.spawn_times("pacemakerd") == [probes[-1]], "pacemakerd starts once corosync is"
    assert "corosync is ready (0.5s after start)" in logged(capfd)
    assert sup.timers == {}, "no probe, deadline or progress line left once ready"


def test_a_slow_start_is_probed_every_half_second_after_the_fast_period():
    sup = SimSupervisor()
    sup.answers["ready:corosync"] = [1]  # never ready in this test
    sup.start_next()
    sup.advance(PROBE_FAST_FOR + 3)
    probes = [t for t, kind in sup.helpers_run if kind == "ready:corosync"]
    late = [round(b - a, 6) for a, b in zip(probes, probes[1:], strict=False) if a > PROBE_FAST_FOR]
    assert late[-3:] == [0.5, 0.5, 0.5], late
    assert len(probes) < PROBE_FAST_FOR / 0.1 + 3 / 0.2, "a slow start is not probed at 10 Hz"


def test_a_probe_that_never_passes_fails_the_start_at_the_start_timeout(capfd):
    sup = SimSupervisor(start_timeout=20.0)
    sup.answers["ready:corosync"] = [1]
    sup.start_next()
    corosync = sup.pids["corosync"]
    sup.advance(19.9)
    assert not sup.stopping and sup.signals_to(corosync) == []
    out = logged(capfd)
    assert "still waiting for corosync to become ready: 5s of 20s" in out
    assert "still waiting for corosync to become ready: 15s of 20s" in out
    sup.advance(0.2)
    assert sup.stopping and sup.exit_code == ExitCode.COROSYNC_START
    assert sup.signals_to(corosync) == [signal.SIGTERM]
    assert "error: corosync was not ready within PCMK_START_TIMEOUT=20s" in logged(capfd)
    probes = len(sup.helpers_run)
    sup.advance(5)
    assert len(sup.helpers_run) == probes, "probed while stopping"
    sup.service_exits("corosync", 0)
    assert sup.finished() and sup.result() == ExitCode.COROSYNC_START
    assert sup.spawn_times("pacemakerd") == []


def test_a_stop_during_the_probe_starts_nothing_more():
    sup = SimSupervisor()
    sup.answers["ready:corosync"] = [None]  # the probe runs until the test ends it
    sup.start_next()
    sup.request_stop("received SIGTERM")
    sup.helper_exits("ready:corosync", 0)  # it answers "ready" after all
    assert sup.spawn_times("pacemakerd") == []
    sup.service_exits("corosync", 0)
    assert sup.finished() and sup.result() == ExitCode.OK


def test_a_death_during_start_up_is_the_start_code(capfd):
    sup = SimSupervisor()
    sup.answers["ready:corosync"] = [None]
    sup.start_next()
    sup.service_exits("corosync", 8)
    assert sup.finished() and sup.result() == ExitCode.COROSYNC_START
    assert "corosync exited during start-up (exit code 8)" in logged(capfd)
    sup.helper_exits("ready:corosync", 1)  # the probe's late answer changes nothing
    assert sup.spawn_times("pacemakerd") == [] and sup.timers == {}


# ---- the ordered stop ------------------------------------------------------------------------


def three(**second: object) -> list[Service]:
    """first, second (with a pre-stop step), third: started in that order, stopped in reverse."""
    fields: dict[str, object] = {
        "pre_stop": ["second-pre-stop"],
        "pre_stop_note": "it drains",
        "pre_stop_results": {0: "drained"},
        "stop_timeout": 20.0,
        "kill_group": True,
    }
    fields.update(second)
    return [
        Service("first", ["first"], stop_timeout=10.0),
        Service("second", ["second"], **fields),
        Service("third", ["third"], stop_timeout=10.0),
    ]


@pytest.fixture
def trio() -> SimSupervisor:
    sup = SimSupervisor(plan=three())
    sup.start_next()
    assert list(sup.pids) == ["first", "second", "third"]
    return sup


def test_stop_goes_in_reverse_order_and_waits_for_the_pre_stop_step(trio, capfd):
    pids = dict(trio.pids)
    trio.answers["pre_stop:second"] = [None]
    trio.request_stop("received SIGTERM")
    assert trio.sent == [(pids["third"], signal.SIGTERM)]
    trio.advance(3)
    trio.service_exits("third", 0)
    assert trio.helper_pid("pre_stop:second"), "second's pre-stop step runs"
    trio.advance(10)
    assert trio.signals_to(pids["second"]) == [], "SIGTERM before the pre-stop step ended"
    trio.helper_exits("pre_stop:second", 0)
    assert trio.signals_to(pids["second"]) == [signal.SIGTERM]
    trio.service_exits("second", 0)
    assert trio.sent[-1] == (pids["first"], signal.SIGTERM)
    trio.service_exits("first", 0)
    assert trio.finished() and trio.result() == ExitCode.OK
    assert [p for p, _ in trio.sent] == [pids["third"], pids["second"], pids["first"]]
    out = logged(capfd)
    assert "before stopping second: it drains" in out and "drained" in out
    assert "first stopped (exit code 0); clean stop after 13.0s" in out
    assert trio.timers == {}


def test_a_failed_pre_stop_step_is_a_warning_and_the_stop_goes_on(trio, capfd):
    trio.answers["pre_stop:second"] = [7]
    trio.request_stop("received SIGTERM")
    second = trio.pids["second"]
    trio.service_exits("third", 0)
    assert trio.signals_to(second) == [signal.SIGTERM]
    assert "second's pre-stop step failed (exit code 7)" in logged(capfd)


def test_stop_timeout_counts_from_the_start_of_the_pre_stop_step(trio, capfd):
    trio.answers["pre_stop:second"] = [None]
    trio.request_stop("received SIGTERM")
    second = trio.pids["second"]
    trio.service_exits("third", 0)
    trio.advance(15)
    trio.helper_exits("pre_stop:second", 0)  # 15 s of its 20 s gone
    trio.advance(4.9)
    assert trio.signals_to(second) == [signal.SIGTERM]
    trio.advance(0.2)  # second ignores SIGTERM: SIGKILL, to its group too (kill_group)
    assert trio.signals_to(second) == [signal.SIGTERM, signal.SIGKILL]
    assert trio.signals_to(-second) == [signal.SIGKILL]
    assert "WARNING: second did not stop within 20s: sending SIGKILL." in logged(capfd)
    trio.service_exits("second", signum=signal.SIGKILL)
    trio.service_exits("first", 0)
    assert trio.result() == ExitCode.KILLED


def test_a_pre_stop_step_that_hangs_is_killed_with_its_service(trio):
    trio.answers["pre_stop:second"] = [None]
    trio.request_stop("received SIGTERM")
    second, first = trio.pids["second"], trio.pids["first"]
    trio.service_exits("third", 0)
    helper = trio.helper_pid("pre_stop:second")
    trio.advance(20.1)
    assert trio.signals_to(second) == [signal.SIGKILL], "no SIGTERM: its pre-stop never ended"
    assert signal.SIGKILL in trio.signals_to(helper)
    trio.service_exits("second", signum=signal.SIGKILL)
    assert trio.signals_to(first) == [signal.SIGTERM]
    trio.helper_exits("pre_stop:second", signum=signal.SIGKILL)  # reaped after its service
    assert trio.signals_to(second) == [signal.SIGKILL], "signalled a pid already reaped"
    trio.service_exits("first", 0)
    assert trio.finished() and trio.result() == ExitCode.KILLED


def test_the_real_cluster_plan_stops_exporter_then_pacemakerd_then_corosync():
    sup = started(metrics_address=METRICS)
    pids = dict(sup.pids)
    sup.request_stop("received SIGTERM")
    for name in (EXPORTER, "pacemakerd", "corosync"):
        assert sup.sent[-1] == (pids[name], signal.SIGTERM)
        sup.service_exits(name, 0)
    assert sup.finished() and sup.result() == ExitCode.OK


def test_a_restart_service_killed_at_stop_is_no_unclean_stop(capfd):
    sup = started(metrics_address=METRICS)
    exporter = sup.pids[EXPORTER]
    sup.request_stop("received SIGTERM")
    sup.advance(sup.service(EXPORTER).stop_timeout + 0.1)
    assert sup.signals_to(exporter) == [signal.SIGTERM, signal.SIGKILL]
    sup.service_exits(EXPORTER, signum=signal.SIGKILL)
    sup.service_exits("pacemakerd", 0)
    sup.service_exits("corosync", 0)
    assert sup.result() == ExitCode.OK and "clean stop" in logged(capfd)


# ---- deaths during the stop --------------------------------------------------------------------


def test_a_service_dying_while_another_stops_sets_the_exit_code_and_is_skipped(trio, capfd):
    pids = dict(trio.pids)
    trio.request_stop("received SIGTERM")
    trio.service_exits("first", 1)  # dies on its own while third is stopping
    assert trio.stopping_now.name == "third" and trio.exit_code == ExitCode.DAEMON_DIED
    assert "error: first died (exit code 1)" in logged(capfd)
    trio.service_exits("third", 0)
    trio.service_exits("second", 0)
    assert trio.finished() and trio.result() == ExitCode.DAEMON_DIED
    assert trio.signals_to(pids["first"]) == [], "signalled a dead service"


def test_the_service_being_stopped_dying_during_its_pre_stop_step(trio):
    trio.answers["pre_stop:second"] = [None]
    trio.request_stop("received SIGTERM")
    second, first = trio.pids["second"], trio.pids["first"]
    trio.service_exits("third", 0)
    helper = trio.helper_pid("pre_stop:second")
    trio.service_exits("second", 0)  # exits before its pre-stop step ends
    assert trio.signals_to(helper) == [signal.SIGKILL], "the moot pre-stop step is ended"
    assert trio.signals_to(first) == [signal.SIGTERM], "the stop goes on at once"
    trio.helper_exits("pre_stop:second", signum=signal.SIGKILL)
    assert trio.signals_to(second) == [], "SIGTERM to a pid already reaped"
    trio.service_exits("first", 0)
    assert trio.result() == ExitCode.OK


def test_a_restart_service_dying_during_the_stop_is_not_restarted():
    sup = started(metrics_address=METRICS)
    sup.request_stop("received SIGTERM")
    sup.service_exits(EXPORTER, 0)  # its SIGTERM: the stop goes on to pacemakerd
    assert sup.stopping_now.name == "pacemakerd"
    sup.advance(60)
    assert sup.spawn_times(EXPORTER) == [1000.0]


def test_a_fatal_death_while_running_stops_the_rest_in_order(capfd):
    sup = started(metrics_address=METRICS)
    pids = dict(sup.pids)
    sup.service_exits("pacemakerd", 1)
    assert sup.stopping and sup.exit_code == ExitCode.DAEMON_DIED
    assert sup.sent == [(pids[EXPORTER], signal.SIGTERM)]
    sup.service_exits(EXPORTER, 0)
    assert sup.sent[-1] == (pids["corosync"], signal.SIGTERM)
    sup.service_exits("corosync", 0)
    assert sup.finished() and sup.result() == ExitCode.DAEMON_DIED
    assert "error: pacemakerd died (exit code 1)" in logged(capfd)


def test_a_second_stop_request_is_only_logged(trio, capfd):
    trio.request_stop("received SIGTERM")
    trio.request_stop("received SIGINT")
    assert len(trio.sent) == 1
    assert "received SIGINT: already stopping" in logged(capfd)


# ---- the real kill() -------------------------------------------------------------------------


def test_kill_of_a_process_already_gone_is_silent():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    Supervisor.kill(pid, signal.SIGTERM)  # ESRCH: no exception
