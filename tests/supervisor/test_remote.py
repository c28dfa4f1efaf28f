"""PCMK_ROLE=remote: the launcher as PID 1 (and as a subreaper) runs a fake pacemaker-remoted
alone, ready once it listens; stop, deaths, exit codes, logs, health and status."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.launcher import ROOT, children, index, names, send_burst, wait_for_socket
from tests.helpers.prereq import require_commands, require_root

PASS = "correct horse battery staple"


def free_port() -> int:
    """A port nothing listens on now: the fake binds it, so parallel runs cannot collide."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def remote_env(tmp_path) -> dict[str, str]:
    # PCMK_authkey_location keeps the installed key inside the test's directory.
    return {
        "PCMK_ROLE": "remote",
        "PCMK_REMOTE_AUTHKEY_PASSPHRASE": PASS,
        "PCMK_authkey_location": str(tmp_path / "pacemaker" / "authkey"),
        "PCMK_remote_port": str(free_port()),
    }


def pcmk_launch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`pcmk-launch health|status` run from here, outside any launcher's namespaces."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PCMK_")}
    return subprocess.run(
        [sys.executable, "-m", "pcmk_launch", *args],
        env={**clean, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_remote_runs_pacemaker_remoted_alone_and_stops_it_gracefully(
    launcher, remote_env, tmp_path
):
    launcher.start(env=remote_env)
    launcher.wait_event("pacemaker-remoted listening")
    launcher.wait_output("pacemaker-remoted is ready")
    assert len(children(launcher.pid)) == 1  # pacemaker-remoted only
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0, launcher.output()
    ev = names(launcher)
    assert not any(e.startswith(("corosync", "pacemakerd")) for e in ev), ev
    assert index(ev, "pacemaker-remoted got SIGTERM") < index(ev, "pacemaker-remoted exit 0")
    out = launcher.output()
    assert "it asks the cluster to move its resources away first" in out
    assert "clean stop" in out and "exiting with code 0" in out
    # the key pacemaker-remoted reads was installed; no corosync.conf was written
    key = tmp_path / "pacemaker" / "authkey"
    assert key.stat().st_size == 256 and oct(key.stat().st_mode & 0o777) == "0o640"
    assert not (tmp_path / "corosync.conf").exists()
    assert PASS not in out


def test_pacemaker_remoted_dying_exits_with_daemon_died(launcher, remote_env):
    launcher.start(env=remote_env, pacemaker_remoted_exit_after="0.5")
    assert launcher.wait() == 4, launcher.output()
    assert "pacemaker-remoted died (exit code 1)" in launcher.output()


def test_pacemaker_remoted_dying_before_it_listens(launcher, remote_env):
    launcher.start(
        env=remote_env, pacemaker_remoted_ready_after="never", pacemaker_remoted_exit_after="0.3"
    )
    assert launcher.wait() == 4, launcher.output()
    assert "pacemaker-remoted exited during start-up" in launcher.output()


def test_pacemaker_remoted_never_listening_times_out(launcher, remote_env):
    env = {**remote_env, "PCMK_START_TIMEOUT": "2"}
    launcher.start(env=env, pacemaker_remoted_ready_after="never")
    assert launcher.wait(timeout=30) == 4, launcher.output()
    assert "not ready within PCMK_START_TIMEOUT=2s" in launcher.output()
    assert "pacemaker-remoted got SIGTERM" in names(launcher)


def test_pacemaker_remoted_ignoring_sigterm_is_killed_after_grace(launcher, remote_env):
    env = {**remote_env, "PCMK_STOP_TIMEOUT": "2"}
    launcher.start(env=env, pacemaker_remoted_ignore_term="1")
    launcher.wait_event("pacemaker-remoted listening")
    launcher.signal(signal.SIGTERM)
    assert launcher.wait(timeout=30) == 5, launcher.output()
    assert "SIGKILL" in launcher.output() and "the cluster may fence it" in launcher.output()


def test_signals_are_forwarded_and_sighup_reloads_nothing(launcher, remote_env):
    launcher.start(env=remote_env)
    launcher.wait_event("pacemaker-remoted listening")
    launcher.signal(signal.SIGUSR1)
    launcher.wait_event("pacemaker-remoted got SIGUSR1")
    launcher.wait_output("pacemaker-remoted is ready")  # before it, SIGHUP is ignored anyway
    launcher.signal(signal.SIGHUP)
    launcher.wait_output("nothing in this role reloads")
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0, launcher.output()
    assert "pacemaker-remoted got SIGHUP" not in names(launcher)


def test_sigquit_is_a_graceful_stop(pid1, remote_env):
    pid1.start(env=remote_env)
    pid1.wait_event("pacemaker-remoted listening")
    pid1.signal(signal.SIGQUIT)
    assert pid1.wait() == 0, pid1.output()
    ev = names(pid1)
    assert "pacemaker-remoted got SIGTERM" in ev and "pacemaker-remoted got SIGQUIT" not in ev


def test_corosync_settings_are_refused_and_nothing_starts(launcher, remote_env, tmp_path):
    env = {**remote_env, "PCMK_NODE_LIST": "192.0.2.11 192.0.2.12", "PCMK_METRICS": "on"}
    launcher.start(env=env)
    assert launcher.wait() == 2, launcher.output()
    out = launcher.output()
    assert "2 problems" in out and "PCMK_NODE_LIST is set" in out and "PCMK_METRICS" in out
    assert names(launcher) == []
    assert not (tmp_path / "pacemaker").exists()


def test_logs_reach_stdout_prefixed_and_relayed(launcher, remote_env):
    launcher.start_piped(env=remote_env)
    wait_for_socket(launcher)
    launcher.wait_event("pacemaker-remoted listening")
    send_burst(launcher.log_socket, 3, tag="pacemaker-remoted")
    launcher.signal(signal.SIGTERM)
    out, _ = launcher.proc.communicate(timeout=60)
    assert launcher.proc.returncode == 0
    lines = out.decode().splitlines()
    relayed = [line for line in lines if line.startswith("pacemaker-remoted[42]: ")]
    assert relayed == [f"pacemaker-remoted[42]: notice: message {i}" for i in range(3)]
    own = [line for line in lines if line not in relayed]
    assert own and all(line.startswith("[pcmk-launch] ") for line in own), own


def test_health_and_status_of_a_remote_node(launcher, remote_env):
    port = int(remote_env["PCMK_remote_port"])
    launcher.start(env=remote_env)
    launcher.wait_event("pacemaker-remoted listening")
    health = launcher.cli(remote_env, "health")
    assert health.returncode == 0, health.stdout + health.stderr
    assert health.stdout.startswith(f"healthy: pacemaker-remoted is listening on TCP {port}")

    status = launcher.cli(remote_env, "status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert (data["role"], data["running"], data["healthy"]) == ("remote", True, True)
    assert (data["port"], data["listening"], data["connected"]) == (port, True, False)
    assert data["cluster"] is None and data["cluster_reason"] == "no cluster connected"

    # a "cluster" connected to the port (the kernel completes it; the fake never accepts)
    with socket.create_connection(("127.0.0.1", port)):
        data = json.loads(launcher.cli(remote_env, "status", "--json").stdout)
        assert data["connected"] and data["peers"] == ["127.0.0.1"]
        text = launcher.cli(remote_env, "status").stdout
        assert "cluster connected from 127.0.0.1" in text

    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0, launcher.output()
    gone = pcmk_launch(remote_env, "health")
    assert gone.returncode == 1 and gone.stdout.startswith("unhealthy: pacemaker-remoted")
    assert pcmk_launch(remote_env, "status", "--json").returncode == 1


def test_health_counts_no_pacemaker_remoted_of_another_pid_namespace(remote_env):
    """A remote container (or namespace host) beside us runs its own pacemaker-remoted: seen
    in our /proc, it is not ours, so health and status here say none runs."""
    require_root()
    require_commands("unshare")
    beside = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", sys.executable, "-c",
         "import ctypes, time\n"
         "ctypes.CDLL(None).prctl(15, ctypes.c_char_p(b'pacemaker-remot'), 0, 0, 0)\n"
         "time.sleep(60)"],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not any(
            Path(f"/proc/{pid}/comm").read_text().strip() == "pacemaker-remot"
            for pid in children(beside.pid)
        ):
            assert time.monotonic() < deadline, "the other namespace's daemon never started"
            time.sleep(0.01)
        gone = pcmk_launch(remote_env, "health")
        assert gone.stdout.startswith("unhealthy: pacemaker-remoted is not running"), gone.stdout
        status = pcmk_launch(remote_env, "status", "--json")
        assert status.returncode == 1 and json.loads(status.stdout)["pids"] == []
    finally:
        beside.kill()
        beside.wait()
