"""The supervisor's watch over pacemakerd's subdaemons (issue 30), in process with a fake
clock: the real cluster plan and the real Supervisor, with processes, pidfds and helper
commands simulated (tests/helpers/sim.py). What the real binaries do is in
tests/supervisor/test_subdaemons.py and tests/cluster/test_subdaemons.py."""

from __future__ import annotations

import os
import signal

import pytest

from pcmk_launch import services
from pcmk_launch.errors import ExitCode
from pcmk_launch.options import Options
from pcmk_launch.procs import PACEMAKER_SUBDAEMONS
from tests.helpers.sim import GRACE, SimSupervisor


@pytest.fixture
def sup(capfd):
    s = SimSupervisor()
    s.start_next()  # corosync, ready at once, then pacemakerd
    s.advance(0.1)
    assert set(s.pids) == {"corosync", "pacemakerd"}
    return s


def logged(capfd) -> str:
    return capfd.readouterr().out


def test_the_plan_watches_the_six_subdaemons_of_pacemakerd_only():
    plan = services.cluster_plan(Options(metrics_address="127.0.0.1:9664"))
    watched = {svc.name: svc.children for svc in plan if svc.children}
    assert watched == {"pacemakerd": PACEMAKER_SUBDAEMONS}
    assert plan[1].children_grace == Options.subdaemon_grace


def test_remote_role_has_no_subdaemons_to_watch():
    """pacemaker-remoted runs resources itself; it has no subdaemons that could wedge."""
    (remoted,) = services.remote_plan(Options(role="remote"))
    assert remoted.children == ()


def test_once_all_run_nothing_wakes_the_loop(sup, capfd):
    assert sup.timers == {}, "an idle supervisor must have no timer (no polling)"
    assert set(sup.pidfds) == set(sup.tree[sup.pacemakerd].values())
    assert "pacemakerd runs its 6 subdaemons; watching them" in logged(capfd)


def test_a_subdaemon_pacemakerd_respawns_is_only_logged(sup, capfd):
    sup.subdaemon_exits("pacemaker-based", respawn=True)
    sup.advance(GRACE * 3)
    out = logged(capfd)
    assert "pacemakerd respawned pacemaker-based" in out
    assert sup.terms_to(sup.pacemakerd) == 0 and not sup.recoveries
    assert sup.timers == {} and len(sup.pidfds) == 6


def test_a_subdaemon_left_dead_gets_pacemakerd_restarted(sup, capfd):
    old = sup.pacemakerd
    sup.subdaemon_exits("pacemaker-based")
    sup.advance(GRACE - 0.5)
    assert sup.terms_to(old) == 0, "restarted before the grace period was over"
    sup.advance(0.6)
    assert sup.terms_to(old) == 1
    assert "corosync" in sup.pids, "corosync must stay up"
    sup.service_exits("pacemakerd", 0)
    sup.advance(services.RECOVER_SETTLE - 0.1)
    assert "pacemakerd" not in sup.pids, "started again before the peers saw it leave"
    sup.advance(0.1)
    assert sup.pacemakerd != old, "the first recovery starts pacemakerd after the settle"
    sup.advance(0.1)
    out = logged(capfd)
    assert "error: pacemaker-based of pacemakerd gone for 5.0s and not respawned" in out
    assert "recovered: pacemakerd runs all 6 of its subdaemons again" in out
    assert "pacemakerd respawned" not in out, "a new pacemakerd's subdaemons are no respawn"
    assert not sup.recovering and sup.exit_code is None and sup.timers == {}


def test_pacemakerd_shutting_down_on_its_own_is_left_alone(sup, capfd):
    sup.shutting_down_answer = 0
    sup.subdaemon_exits("pacemaker-controld")
    sup.advance(GRACE + 1)
    assert sup.terms_to(sup.pacemakerd) == 0
    assert "pacemakerd is shutting down on its own; not restarting it" in logged(capfd)
    sup.service_exits("pacemakerd", 0)  # then its exit is a death, as before
    assert sup.exit_code == ExitCode.DAEMON_DIED


def test_a_later_loss_is_timed_from_its_own_start(sup):
    sup.subdaemon_exits("pacemaker-based", respawn=True)
    sup.advance(GRACE - 1)
    sup.subdaemon_exits("pacemaker-attrd")  # gone 1 s before based's deadline
    sup.advance(1.5)
    assert sup.terms_to(sup.pacemakerd) == 0
    sup.advance(GRACE)
    assert sup.terms_to(sup.pacemakerd) == 1


def test_restarts_back_off_and_give_up_after_a_burst(sup, capfd):
    delays = []
    for _ in range(services.Service.recover_burst):
        sup.subdaemon_exits("pacemaker-based")
        sup.advance(GRACE)
        before = sup.next_pid
        sup.service_exits("pacemakerd", 0)
        t0 = sup.now
        while sup.next_pid == before:
            sup.advance(0.5)
        delays.append(sup.now - t0)
        sup.advance(1)
    settle = services.RECOVER_SETTLE  # the backoff, but never less than the settle
    expected = [max(d, settle) for d in (0, 1, 2, 4, 8, 16, 30, 30, 30, 30)]
    assert delays == pytest.approx(expected, abs=0.51)
    sup.subdaemon_exits("pacemaker-based")
    sup.advance(GRACE)
    assert sup.exit_code == ExitCode.WEDGED and sup.stopping
    assert "went missing again after 10 recoveries in 600s: giving up" in logged(capfd)


def test_a_quiet_window_resets_the_backoff(sup):
    for _ in range(4):  # a fifth recovery now would back off 8 s, more than the settle
        sup.subdaemon_exits("pacemaker-based")
        sup.advance(GRACE)
        sup.service_exits("pacemakerd", 0)
        sup.advance(20)
    sup.advance(services.Service.recover_window)
    sup.subdaemon_exits("pacemaker-based")
    sup.advance(GRACE)
    before = sup.next_pid
    sup.service_exits("pacemakerd", 0)
    sup.advance(services.RECOVER_SETTLE)
    assert sup.next_pid != before, "restarted after the settle alone after a quiet window"


def test_restarts_that_bring_nothing_back_give_up_with_a_clean_stop(sup, capfd):
    sup.subdaemon_exits("pacemaker-fenced")
    sup.advance(GRACE)
    sup.respawns = False  # every new pacemakerd starts without its subdaemons
    for _ in range(services.Service.recover_limit):
        sup.service_exits("pacemakerd", 0)
        sup.advance(Options.start_timeout + 31)
    assert sup.exit_code == ExitCode.WEDGED and sup.stopping
    out = logged(capfd)
    assert "pacemakerd was restarted 3 times in a row and " in out
    assert "Stopping the whole stack cleanly and exiting with code 6" in out
    # the stop is the ordinary one: pacemakerd first, then corosync
    assert sup.terms_to(sup.pacemakerd) >= 1 and sup.stopping_now.name == "pacemakerd"


def test_subdaemons_that_never_start_count_after_the_start_timeout(capfd):
    s = SimSupervisor()
    s.respawns = False
    s.start_next()
    s.advance(Options.start_timeout - 1)
    assert s.terms_to(s.pacemakerd) == 0
    s.advance(2)
    assert s.terms_to(s.pacemakerd) == 1
    assert "pacemaker-attrd, pacemaker-based, pacemaker-controld" in logged(capfd)


def test_a_stuck_pacemakerd_is_killed_after_the_stop_timeout(sup, capfd):
    old = sup.pacemakerd
    sup.subdaemon_exits("pacemaker-based")
    sup.advance(GRACE)
    sup.advance(Options.stop_timeout)
    assert (-old, signal.SIGKILL) in sup.sent and (old, signal.SIGKILL) in sup.sent
    assert "did not stop within 90s: sending SIGKILL" in logged(capfd)
    sup.service_exits("pacemakerd", -9 & 0xFF)
    assert sup.killed is False, "a recovery's kill is no unclean stop of the container"


def test_pacemakerd_fatal_exit_during_a_recovery_is_still_fatal(sup):
    sup.subdaemon_exits("pacemaker-based")
    sup.advance(GRACE)
    sup.service_exits("pacemakerd", 100)
    assert sup.exit_code == ExitCode.DAEMON_DIED and sup.stopping


def test_docker_stop_during_a_recovery_stops_for_good(sup):
    sup.subdaemon_exits("pacemaker-based")
    sup.advance(GRACE)
    sup.request_stop("received SIGTERM")
    sup.service_exits("pacemakerd", 0)
    sup.advance(60)
    assert "pacemakerd" not in sup.pids and sup.stopping
    assert sup.terms_to(sup.pids["corosync"]) == 1


def test_losses_during_a_stop_are_not_watched(sup):
    sup.request_stop("received SIGTERM")
    assert sup.pidfds == {}
    assert not any(name.startswith(("scan-", "wedge-")) for name in sup.timers)


def test_without_pidfds_children_are_looked_for_every_grace_period(capfd):
    class NoPidfd(SimSupervisor):
        def watch_exit(self, pid, on_exit):
            return None

    s = NoPidfd()
    s.start_next()
    s.advance(0.1)
    assert set(s.timers) == {"scan-pacemakerd"}
    s.tree[s.pacemakerd].pop("pacemaker-based")
    s.advance(GRACE * 2 + 0.1)
    assert s.terms_to(s.pacemakerd) == 1


def fork_named(name: bytes, then_exit: bool) -> int:
    """A child named `name` in /proc/PID/comm that pauses (or exits at once), returned only
    once it has its name: it says so on a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        import ctypes

        ctypes.CDLL(None).prctl(15, name, 0, 0, 0)  # PR_SET_NAME
        os.write(w, b"x")
        if then_exit:
            os._exit(0)
        signal.pause()
        os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"x"
    os.close(r)
    return pid


def test_real_children_are_found_by_parent_and_name():
    """procs.children_named against this process's real children."""
    from pcmk_launch import procs

    pid = fork_named(b"pacemaker-based", then_exit=False)
    try:
        assert procs.children_named(os.getpid(), PACEMAKER_SUBDAEMONS) == {"pacemaker-based": pid}
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_an_exited_child_not_yet_reaped_is_not_running():
    """A subdaemon whose pacemakerd is stopped stays a zombie: it must count as missing."""
    from pcmk_launch import procs

    pid = fork_named(b"pacemaker-fenced", then_exit=True)
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # exited, still unreaped
        assert procs.children_named(os.getpid(), PACEMAKER_SUBDAEMONS) == {}
    finally:
        os.waitpid(pid, 0)


def test_the_installed_pacemaker_runs_exactly_these_subdaemons():
    """The watch list is the installed Pacemaker's daemons (2.1 and 3.0 ship the same six in
    its daemon directory; a new one there would go unwatched)."""
    from tests.helpers.prereq import require_commands

    require_commands("pacemakerd")
    daemon_dir = next(
        (d for d in ("/usr/lib/pacemaker", "/usr/libexec/pacemaker") if os.path.isdir(d)), None
    )
    assert daemon_dir is not None
    shipped = {n for n in os.listdir(daemon_dir) if n.startswith("pacemaker-")}
    assert shipped == set(PACEMAKER_SUBDAEMONS)
