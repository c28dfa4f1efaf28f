"""PCMK_ROLE=remote: settings, refusals (all at once), the dry-run plan, render, health."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest

from pcmk_launch import authkey, cli, health, procs, services, settings
from pcmk_launch.errors import ExitCode
from pcmk_launch.listening import peers
from pcmk_launch.options import Options
from tests.unit.scenarios import KEY, FakeKeys, load, refuse

PASS = "correct horse battery staple"
REMOTE = {"PCMK_ROLE": "remote", "PCMK_REMOTE_AUTHKEY_PASSPHRASE": PASS}


def test_the_role_defaults_to_cluster_and_a_bad_one_is_refused():
    assert load({}).settings.role == "cluster"
    assert load({"PCMK_ROLE": "cluster"}).settings.role == "cluster"
    err = refuse({"PCMK_ROLE": "Remote"})
    assert err.exit_code == ExitCode.CONFIG == 2
    (problem,) = err.problems
    assert "PCMK_ROLE='Remote' is unknown" in problem and "Fix: use cluster" in problem


def test_a_remote_node_needs_no_node_list_and_no_corosync_key():
    node = load(REMOTE, key_reader=FakeKeys({}))
    assert isinstance(node, settings.RemoteNode)
    assert node.settings.role == "remote" and node.settings.remote_port == 3121
    assert node.settings.cluster_properties == ()  # no CIB is seeded on a remote node
    assert node.remote_key.source == "PCMK_REMOTE_AUTHKEY_PASSPHRASE"
    assert node.remote_key.install and node.remote_key.keyfile == authkey.REMOTE_KEYFILE
    assert node.remote_key.data == authkey.derive(PASS, "docker", purpose=authkey.REMOTE)


def test_a_remote_node_finds_the_key_where_pacemaker_has_it():
    node = load({"PCMK_ROLE": "remote"}, key_reader=FakeKeys({authkey.REMOTE_KEYFILE: KEY}))
    assert node.remote_key.source == authkey.REMOTE_KEYFILE and not node.remote_key.install
    node = load({"PCMK_ROLE": "remote"}, key_reader=FakeKeys({authkey.REMOTE_SECRET: KEY}))
    assert node.remote_key.source == authkey.REMOTE_SECRET and node.remote_key.install


def test_a_remote_node_without_its_key_is_refused_with_the_fix():
    err = refuse({"PCMK_ROLE": "remote"}, key_reader=FakeKeys({}))
    (problem,) = err.problems
    assert "a remote node needs the Pacemaker Remote authkey" in problem
    assert authkey.REMOTE_SECRET in problem and "Fix:" in problem and "keygen" in problem


def test_every_cluster_only_setting_is_refused_at_once():
    given = {var: "x" for var in settings.CLUSTER_ONLY}
    err = refuse({**REMOTE, **given, "PCMK_METRICS": "on", "PCMK_ROLE": "remote"})
    for var in settings.CLUSTER_ONLY:
        (problem,) = [p for p in err.problems if p.startswith(f"{var} is set")]
        assert "only applies to full cluster nodes" in problem
        assert f"Fix: unset {var}" in problem
        assert "'x'" not in problem  # refused for being set, not validated as well
    (metrics,) = [p for p in err.problems if p.startswith("PCMK_METRICS='on': ")]
    assert "ha_cluster_exporter" in metrics and "Fix:" in metrics
    assert len(err.problems) == len(settings.CLUSTER_ONLY) + 1
    for var in ("PCMK_NODE_LIST", "PCMK_AUTHKEY_PASSPHRASE", "PCMK_COROSYNC_STOP_TIMEOUT"):
        assert var in settings.CLUSTER_ONLY


def test_empty_cluster_settings_and_metrics_off_are_not_refused():
    # a compose file's `PCMK_NODE_LIST: ${NODES:-}` is the same as unset
    env = {**REMOTE, "PCMK_NODE_LIST": "", "PCMK_CLUSTER_PROPERTIES": " ", "PCMK_METRICS": "off"}
    assert load(env).settings.role == "remote"


def test_shared_settings_are_still_checked_with_the_refusals():
    env = {**REMOTE, "PCMK_QUORUM": "x=1", "PCMK_STOP_TIMEOUT": "0", "PCMK_LOG_LEVEL": "loud"}
    err = refuse({**env, "PCMK_REMOTE_AUTHKEY_PASSPHRASE": "short"})
    text = err.message()
    for words in ("PCMK_QUORUM is set", "PCMK_STOP_TIMEOUT=", "PCMK_LOG_LEVEL=", "has 5"):
        assert words in text
    assert len(err.problems) == 4


@pytest.mark.parametrize("port, ok", [("3122", True), (" 3121 ", True), ("0", False), ("x", False)])
def test_pacemakers_remote_port_moves_the_readiness_probe(port, ok):
    env = {**REMOTE, "PCMK_remote_port": port}
    if ok:
        assert load(env).settings.remote_port == int(port)
    else:
        (problem,) = refuse(env).problems
        assert "PCMK_remote_port=" in problem and "Fix:" in problem


def test_the_remote_key_goes_where_pacemaker_authkey_location_says():
    node = load({**REMOTE, "PCMK_authkey_location": "/srv/keys/authkey"})
    assert node.remote_key.keyfile == "/srv/keys/authkey" and node.remote_key.install
    (problem,) = refuse({**REMOTE, "PCMK_authkey_location": "rel/../x"}).problems
    assert "PCMK_authkey_location=" in problem and "Fix:" in problem


# ---------------------------------------------------------------- the plan


def test_the_role_picks_the_plan_as_data():
    assert set(services.PLANS) == set(settings.ROLES)
    assert services.PLANS["cluster"] is services.cluster_plan
    (remoted,) = services.PLANS["remote"](Options(role="remote", remote_port=3122))
    assert remoted.ready[-1] == "3122" and "3122" in remoted.started_note
    assert remoted.death_code == remoted.start_code == ExitCode.DAEMON_DIED
    assert remoted.reload == []  # SIGHUP: nothing to re-render on a remote node


def test_only_corosync_reloads_on_sighup():
    corosync, pacemakerd = services.cluster_plan(Options(corosync_conf="/tmp/c.conf"))
    assert corosync.reload[0][-2:] == ["render", "--corosync-conf=/tmp/c.conf"]
    assert corosync.reload[1] == ["corosync-cfgtool", "-R"]
    assert pacemakerd.reload == []


def test_the_supervisor_is_handed_the_role_and_port(tmp_path):
    node = load({**REMOTE, "PCMK_remote_port": "3122"})
    args = cli.parser().parse_args(["--log-socket", str(tmp_path / "log")])
    handed = json.loads(json.dumps(cli.supervisor_handoff(args, node)))  # through the pipe
    opts = Options.from_dict(handed["supervise"])
    assert (opts.role, opts.remote_port) == ("remote", 3122)
    assert opts.log_socket == str(tmp_path / "log") and opts.metrics_address == ""


# ---------------------------------------------------------------- CLI


def cli_args(tmp_path, *extra):
    return [
        *extra,
        f"--corosync-conf={tmp_path}/etc/corosync.conf",
        f"--cib-file={tmp_path}/cib/cib.xml",
        f"--run-dir={tmp_path}/run",
    ]


def test_dry_run_describes_the_remote_role(tmp_path, capsys):
    env = {**REMOTE, "PCMK_authkey_location": f"{tmp_path}/pcmk/authkey"}
    assert cli.main(cli_args(tmp_path, "--dry-run"), env=env) == 0
    out = capsys.readouterr().out
    node = load(env)
    assert "dry run: nothing is written or started" in out
    assert "mode: Pacemaker Remote node (PCMK_ROLE=remote)" in out
    assert f"installed at {tmp_path}/pcmk/authkey" in out
    assert node.remote_key.fingerprint in out and "256 bytes" in out
    assert "would start: pacemaker-remoted, ready once it listens on TCP 3121" in out
    assert "ocf:pacemaker:remote server=" in out
    assert "corosync -f" not in out and "totem" not in out  # no corosync.conf shown
    assert PASS not in out and node.remote_key.data.hex()[:16] not in out
    assert list(tmp_path.iterdir()) == []


def test_dry_run_of_a_refused_remote_exits_2_listing_every_problem(tmp_path, capsys):
    env = {**REMOTE, "PCMK_NODE_LIST": "192.0.2.11", "PCMK_CRYPTO": "off"}
    assert cli.main(cli_args(tmp_path, "--dry-run"), env=env) == 2
    err = capsys.readouterr().err
    assert "2 problems" in err and "PCMK_NODE_LIST is set" in err and "PCMK_CRYPTO is set" in err


def test_render_installs_the_key_and_writes_no_corosync_conf(tmp_path, capsys):
    keyfile = tmp_path / "pcmk" / "authkey"
    (tmp_path / "etc").mkdir()
    env = {**REMOTE, "PCMK_authkey_location": str(keyfile)}
    assert cli.main(cli_args(tmp_path, "render"), env=env) == 0
    assert keyfile.read_bytes() == authkey.derive(PASS, "docker", purpose=authkey.REMOTE)
    assert stat.S_IMODE(keyfile.stat().st_mode) == authkey.REMOTE_MODE
    assert list((tmp_path / "etc").iterdir()) == [] and not (tmp_path / "cib").exists()
    assert "no corosync.conf" in capsys.readouterr().out


def test_check_is_refused_on_a_remote_node(tmp_path, capsys):
    assert cli.main(cli_args(tmp_path, "--dry-run", "--check"), env=REMOTE) == 2
    assert "Fix: drop --check" in capsys.readouterr().err


# ---------------------------------------------------------------- health and status


def test_remote_health_is_the_daemon_listening():
    assert health.judge_remote(health.RemoteState((), 3121, False)) == (
        "pacemaker-remoted is not running"
    )
    assert "not listening on TCP 3121" in health.judge_remote(health.RemoteState((7,), 3121, False))
    assert health.judge_remote(health.RemoteState((7,), 3121, True)) is None
    state = health.RemoteState((7,), 3121, True, ("192.0.2.11",))
    out = health.remote_summary(state, "r1")
    assert "pid 7, listening on TCP 3121" in out and "connected from 192.0.2.11" in out
    assert json.loads(json.dumps(state.to_dict()))["peers"] == ["192.0.2.11"]


def test_peers_are_the_established_connections_to_the_port():
    head = "  sl  local_address rem_address   st ...\n"
    v4 = head + (
        "   0: 00000000:0C31 00000000:0000 0A 0\n"  # the listener
        "   1: 0B0200C0:0C31 0C0200C0:9C40 01 0\n"  # 192.0.2.12 -> 192.0.2.11:3121
        "   2: 0B0200C0:9C41 0D0200C0:0C31 01 0\n"  # outgoing to 3121: not a peer
    )
    mapped = "0000000000000000FFFF00000D0200C0"  # ::ffff:192.0.2.13
    v6 = head + f"   0: 00000000000000000000000000000000:0C31 {mapped}:A000 01 0\n"
    assert peers(3121, [v4, v6]) == ["192.0.2.12", "192.0.2.13"]
    assert peers(3122, [v4]) == []


def test_running_without_pacemaker_remoted_is_refused_before_anything_is_written(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    env = {**REMOTE, "PCMK_authkey_location": f"{tmp_path}/pcmk/authkey"}
    assert cli.main(cli_args(tmp_path), env=env, handoff=lambda what: None) == 2
    err = capsys.readouterr().err
    assert "pacemaker-remoted is not installed here" in err and "Fix: run the remote image" in err
    assert list(tmp_path.iterdir()) == []
    assert cli.main(cli_args(tmp_path, "--dry-run"), env=env) == 0
    assert "warning: pacemaker-remoted is not installed" in capsys.readouterr().out


def test_the_remote_stop_first_asks_the_cluster_where_the_daemon_cannot():
    from pcmk_launch import remote_stop

    (remoted,) = services.remote_plan(Options(remote_port=3122))
    assert remoted.pre_stop[-2:] == ["pcmk_launch.remote_stop", "3122"]
    # every outcome but a failure has its log line; a failure is logged as one
    assert set(remoted.pre_stop_results) == {
        remote_stop.NOT_CONNECTED,
        remote_stop.ASKS_ITSELF,
        remote_stop.DISCONNECTED,
    }
    assert remote_stop.FAILED not in remoted.pre_stop_results
    # Pacemaker 2.1.5 exits at once on SIGTERM (fixed in 2.1.6); the others wait themselves
    v = remote_stop.parse_version
    assert v("Pacemaker 2.1.5\nWritten by Andrew Beekhof\n") == (2, 1, 5)
    assert remote_stop.exits_at_once(v("Pacemaker 2.1.5"))
    for other in ("Pacemaker 2.1.6", "Pacemaker 2.1.4", "Pacemaker 3.0.0", "garbage", ""):
        assert not remote_stop.exits_at_once(v(other)), other


@pytest.mark.parametrize(
    ("theirs", "mine", "same"),
    [
        (("pid:[1]", 0), ("pid:[1]", 0), True),
        (("pid:[2]", 1), ("pid:[1]", 0), False),  # a container's, seen from the host
        (("pid:[2]", 0), ("pid:[1]", 0), False),  # a sibling's under a shared /proc
        ((None, 0), ("pid:[1]", 0), True),  # another user's, in a container: same depth
        ((None, 1), ("pid:[1]", 0), False),  # another user's container, from the host
        (("pid:[1]", None), ("pid:[1]", 0), False),  # gone meanwhile
    ],
)
def test_health_looks_only_at_its_own_pid_namespace(theirs, mine, same):
    assert procs.same_namespace(theirs, mine) is same


def test_remoted_pids_of_other_namespaces_are_not_ours():
    ours = procs.namespace_of("self")
    assert ours[0] and ours[0].startswith("pid:[") and ours[1] is not None

    # every process on the machine in another namespace: none of them is counted
    def elsewhere(pid):
        return ours if pid == "self" else ("pid:[0]", ours[1])

    assert procs.pids_named("pacemaker-remoted", elsewhere) == []


def test_the_remote_role_never_imports_jinja2(tmp_path):
    """The remote image has no jinja2: its dry run and render must not need it."""
    code = (
        "import sys; sys.modules['jinja2'] = None\n"  # any import of it fails
        "from pcmk_launch import cli\n"
        f"args = {cli_args(tmp_path, '--dry-run')!r}\n"
        f"env = {{**{REMOTE!r}, 'PCMK_authkey_location': {str(tmp_path / 'authkey')!r}}}\n"
        "assert cli.main(args, env=env) == 0\n"
        "assert cli.main(['render', *args[1:]], env=env) == 0\n"
        "assert 'jinja2' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
