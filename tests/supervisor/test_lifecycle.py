"""The launcher as PID 1 (and as a subreaper) with fake daemons: order, signals, failures."""

from __future__ import annotations

import importlib.util
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers.launcher import children, console_script, index, names, zombies_of


def test_ordered_start_and_stop(launcher):
    launcher.start()
    launcher.wait_event("pacemakerd start")
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0, launcher.output()
    ev = names(launcher)
    # pacemakerd only after corosync said it was ready, and it saw the ready state
    assert index(ev, "corosync ready") < index(ev, "pacemakerd start")
    assert "ready=True" in ev[index(ev, "pacemakerd start")]
    # corosync is signalled only after pacemakerd has exited
    assert index(ev, "pacemakerd exit 0") < index(ev, "corosync got SIGTERM")
    assert "clean stop" in launcher.output()


def test_the_pip_installed_script_runs_the_cluster_too(launcher, tmp_path):
    """setup.cfg's console script, not `python -m pcmk_launch`: it renders, hands off and
    becomes the supervisor the same way (it once raised after writing the files)."""
    launcher.entry = [console_script(tmp_path)]
    launcher.start()
    launcher.wait_event("pacemakerd start")
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0, launcher.output()
    assert "clean stop" in launcher.output() and "Traceback" not in launcher.output()


def test_corosync_is_slow_to_become_ready(launcher):
    """The readiness probe is retried while corosync is not ready, and pacemakerd starts right
    after the first probe that finds it ready (the events' order, not their timing: the
    backoff's delays are tested in process with a fake clock, test_supervisor_states.py)."""
    launcher.start(corosync_ready_after="1.5", corosync_cfgtool_record="1")
    launcher.wait_event("pacemakerd start", timeout=10)
    ev = [e for e in names(launcher) if e.startswith(("corosync-cfgtool", "pacemakerd start"))]
    first_ready = index(ev, "corosync-cfgtool probe ready")
    assert first_ready >= 2 and set(ev[:first_ready]) == {"corosync-cfgtool probe not ready"}
    assert ev[first_ready + 1].startswith("pacemakerd start"), ev  # no probe in between
    assert "ready=True" in ev[first_ready + 1]
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT", "SIGQUIT"])
def test_stop_signals_are_graceful_and_quit_never_reaches_pacemakerd(launcher, signame):
    launcher.start()
    launcher.wait_event("pacemakerd start")
    launcher.signal(getattr(signal, signame))
    assert launcher.wait() == 0, launcher.output()
    ev = names(launcher)
    assert "pacemakerd got SIGTERM" in ev
    assert "pacemakerd got SIGQUIT" not in ev
    assert "corosync got SIGQUIT" not in ev


@pytest.mark.parametrize("signame", ["SIGUSR1", "SIGUSR2", "SIGWINCH"])
def test_other_signals_are_forwarded_to_pacemakerd(launcher, signame):
    launcher.start()
    # Once the fake has forked its subdaemons: CI once saw a signal the launcher forwarded
    # during those forks never reach the fake's handler (the launcher logged the forward).
    launcher.wait_event("pacemakerd spawned pacemaker-controld")
    launcher.signal(getattr(signal, signame))
    launcher.wait_event(f"pacemakerd got {signame}")
    assert f"corosync got {signame}" not in names(launcher)
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0


def test_children_start_with_clean_signal_state(launcher):
    launcher.start()
    launcher.wait_event("pacemakerd start")
    launcher.signal(signal.SIGTERM)
    launcher.wait()
    masks = [e for e in names(launcher) if "SigBlk:" in e]
    assert len(masks) == 2
    for line in masks:
        assert "SigBlk: 0000000000000000" in line, line
        assert "SigIgn: 0000000000000000" in line, line


@pytest.mark.parametrize("delay", ["0", "0.05", "0.3"])
def test_sigterm_during_startup_stops_cleanly(pid1, delay):
    pid1.start(corosync_ready_after="0.5")
    pid1.wait_until_signals_blocked()
    time.sleep(float(delay))
    pid1.signal(signal.SIGTERM)
    assert pid1.wait() == 0, pid1.output()
    ev = names(pid1)
    assert not any(e.startswith("pacemakerd start") for e in ev), ev


def test_sigterm_before_anything_started(tmp_path, pid1):
    # The signal arrives while the config is rendered, before the supervisor exists.
    pid1.start()
    pid1.wait_until_signals_blocked()
    pid1.signal(signal.SIGTERM)
    assert pid1.wait() == 0, pid1.output()
    assert not any(e.startswith("pacemakerd start") for e in names(pid1))


def test_pacemakerd_ignoring_sigterm_is_killed_after_grace(launcher):
    launcher.start(env={"PCMK_STOP_TIMEOUT": "2"}, pacemakerd_ignore_term="1")
    launcher.wait_event("pacemakerd start")
    launcher.signal(signal.SIGTERM)
    assert launcher.wait(timeout=30) == 5, launcher.output()
    assert "SIGKILL" in launcher.output()
    ev = names(launcher)
    assert index(ev, "pacemakerd got SIGTERM") < index(ev, "corosync got SIGTERM")


def test_corosync_dies(launcher):
    launcher.start(corosync_exit_after="1", corosync_exit_code="1")
    assert launcher.wait() == 4, launcher.output()
    ev = names(launcher)
    assert "pacemakerd got SIGTERM" in ev
    assert "corosync died" in launcher.output()


@pytest.mark.parametrize("code", ["1", "100"])
def test_pacemakerd_dies(launcher, code):
    launcher.start(pacemakerd_exit_after="0.5", pacemakerd_exit_code=code)
    assert launcher.wait() == 4, launcher.output()
    assert "corosync got SIGTERM" in names(launcher)
    if code == "100":
        assert "do not respawn" in launcher.output()


def test_corosync_never_ready(launcher):
    launcher.start(env={"PCMK_START_TIMEOUT": "2"}, corosync_ready_after="never")
    assert launcher.wait(timeout=30) == 3, launcher.output()
    assert "PCMK_START_TIMEOUT=2s" in launcher.output()


def test_corosync_exits_during_startup(launcher):
    launcher.start(corosync_ready_after="never", corosync_exit_after="0.3")
    assert launcher.wait() == 3, launcher.output()
    assert not any(e.startswith("pacemakerd start") for e in names(launcher))


def test_orphan_storm_leaves_no_zombie(launcher):
    launcher.start(pacemakerd_orphans="1000", pacemakerd_orphan_life="1")
    launcher.wait_event("pacemakerd orphans forked", timeout=30)
    pid = launcher.pid
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(children(pid)) <= 2 and not zombies_of(pid):
            break
        time.sleep(0.2)
    assert zombies_of(pid) == []
    assert len([c for c in children(pid)]) == 2  # corosync and pacemakerd only
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0


def test_idle_launcher_never_wakes_up(launcher):
    launcher.start()
    launcher.wait_event("pacemakerd start")
    time.sleep(0.5)  # let start-up settle
    proc = psutil.Process(launcher.pid)
    before = proc.num_ctx_switches().voluntary
    time.sleep(5)
    after = proc.num_ctx_switches().voluntary
    assert after - before == 0
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0


def test_pid1_never_loads_the_renderer(launcher):
    """Rendering runs in a forked child that exits: jinja2 never enters PID 1's memory."""
    # jinja2 imports markupsafe, whose C speedups then show in the process' maps.
    assert importlib.util.find_spec("markupsafe._speedups") is not None
    launcher.start()
    launcher.wait_event("pacemakerd start")
    maps = Path(f"/proc/{launcher.pid}/maps").read_text()
    assert "markupsafe" not in maps
    assert "_speedups" not in maps
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0


def test_sighup_rerenders_and_reloads_corosync(launcher):
    launcher.start()
    launcher.wait_event("pacemakerd start")
    launcher.signal(signal.SIGHUP)
    launcher.wait_event("corosync-cfgtool reload")
    assert "pacemakerd got SIGHUP" not in names(launcher)
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0
