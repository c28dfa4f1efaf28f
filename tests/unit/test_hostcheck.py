"""What a node gets from its host (issue 24): knet's socket buffers on a stock host, and the
findings the launcher logs at start, `--dry-run` prints and `status --json` carries."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from pcmk_launch import cli, corosync_conf, hostcheck
from pcmk_launch.hostcheck import HostFacts
from tests.unit.scenarios import load

STOCK = 212992  # Debian's net.core.rmem_max / wmem_max
ALL_CAPS = tuple(hostcheck.CAPS)
MINIMAL = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETUID", "SETGID")


def facts(**kw) -> HostFacts:
    base = dict(
        caps=ALL_CAPS,
        rmem_max=4194304,
        wmem_max=4194304,
        realtime=None,
        memlock=None,
        engine_socket=None,
        corosync_version=(3, 1, 7),
    )
    base.update(kw)
    return HostFacts(**base)


@pytest.mark.parametrize(
    ("kw", "plan"),
    [
        ({}, "full"),  # NET_ADMIN forces the buffers whatever the limits
        ({"rmem_max": STOCK, "wmem_max": STOCK}, "full"),
        ({"caps": MINIMAL}, "full"),  # 2 x 4 MiB is knet's 8 MiB
        ({"caps": MINIMAL, "rmem_max": STOCK, "wmem_max": STOCK}, "fallback"),
        ({"caps": MINIMAL, "wmem_max": STOCK}, "fallback"),
        ({"caps": MINIMAL, "rmem_max": STOCK, "corosync_version": (3, 1, 0)}, "refuse"),
        ({"caps": MINIMAL, "rmem_max": STOCK, "corosync_version": None}, "fallback"),
    ],
)
def test_knet_plan(kw, plan):
    assert hostcheck.knet_plan(facts(**kw))[0] == plan


def test_refusal_names_both_fixes_and_the_bad_values():
    msg = hostcheck.knet_refusal(facts(caps=MINIMAL, rmem_max=STOCK, corosync_version=(3, 0, 4)))
    assert msg is not None
    assert "--cap-add=NET_ADMIN" in msg
    assert "sysctl -w net.core.rmem_max=4194304 net.core.wmem_max=4194304" in msg
    assert "net.core.rmem_max=212992" in msg and "3.0.4" in msg
    assert hostcheck.knet_refusal(facts()) is None


def test_every_shortfall_comes_with_its_fix():
    lean = facts(
        caps=MINIMAL,
        rmem_max=STOCK,
        wmem_max=STOCK,
        realtime="SCHED_RR refused: Operation not permitted",
        memlock="RLIMIT_MEMLOCK is 8192 KiB and cannot be raised",
    )
    found = {f.topic: f for f in hostcheck.findings(lean)}
    assert set(found) == {
        "socket buffers",
        "real-time scheduling",
        "locked memory",
        "IPaddr2 VIPs",
        "engine socket",
    }
    for topic in ("socket buffers", "real-time scheduling", "locked memory", "IPaddr2 VIPs"):
        assert not found[topic].ok and ". Fix: " in found[topic].line(), topic
    assert "416 KiB buffers" in found["socket buffers"].text
    assert "--ulimit memlock=-1" in found["locked memory"].fix
    assert "--cap-add=SYS_NICE" in found["real-time scheduling"].fix
    assert found["IPaddr2 VIPs"].fix.startswith("--cap-add=NET_ADMIN --cap-add=NET_RAW")
    assert all(f.ok for f in hostcheck.findings(facts()) if f.topic != "engine socket")


def test_an_engine_socket_is_named_with_what_it_gives_away():
    (sock,) = [f for f in hostcheck.findings(facts(engine_socket="/run/docker.sock"))
               if f.topic == "engine socket"]  # fmt: skip
    assert "/run/docker.sock" in sock.text and "root on the host" in sock.text


def test_capabilities_from_proc_status():
    assert hostcheck.effective_caps("CapEff:\t0000000000003000\n") == ("NET_ADMIN", "NET_RAW")
    assert hostcheck.effective_caps("Name: x\n") == ()


def test_corosync_version():
    def run(argv, **_):
        assert argv == ["corosync", "-v"]
        return subprocess.CompletedProcess(
            argv, 0, "Corosync Cluster Engine, version '3.1.7'\nCopyright ...\n", ""
        )

    assert hostcheck.corosync_version(run) == (3, 1, 7)


def test_the_real_facts_can_be_read_here():
    f = hostcheck.read_facts()
    assert f.rmem_max is not None and f.wmem_max is not None
    json.dumps(f.to_dict())


def test_fallback_renders_corosyncs_own_switch_for_knet_only():
    cluster = load({})
    text = corosync_conf.render(cluster, knet_fallback=True)
    assert "system {\n    allow_knet_handle_fallback: yes\n}" in text
    assert "allow_knet_handle_fallback" not in corosync_conf.render(cluster)
    udpu = load({"PCMK_TRANSPORT": "udpu"})
    assert "allow_knet_handle_fallback" not in corosync_conf.render(udpu, knet_fallback=True)


def test_dry_run_on_a_stock_host_says_what_it_does(capsys, tmp_path):
    stock = facts(caps=MINIMAL, rmem_max=STOCK, wmem_max=STOCK)
    argv = [f"--corosync-conf={tmp_path}/corosync.conf", f"--cib-file={tmp_path}/cib.xml"]
    assert cli.main([*argv, "--dry-run"], env={}, host_facts=stock) == 0
    out = capsys.readouterr().out
    assert "host: socket buffers: no CAP_NET_ADMIN and the host's net.core.rmem_max=212992" in out
    assert "allow_knet_handle_fallback: yes" in out
    assert os.listdir(tmp_path) == []


def test_a_host_where_knet_cannot_start_is_refused_before_anything_is_written(capsys, tmp_path):
    old = facts(caps=MINIMAL, rmem_max=STOCK, wmem_max=STOCK, corosync_version=(3, 0, 4))
    argv = [f"--corosync-conf={tmp_path}/corosync.conf", f"--cib-file={tmp_path}/cib.xml"]
    assert cli.main([*argv, "render"], env={}, host_facts=old) == 2
    err = capsys.readouterr().err
    assert "configuration refused: 1 problem" in err and "--cap-add=NET_ADMIN" in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("cap", sorted(hostcheck.REQUIRED_CAPS))
def test_a_missing_required_capability_is_refused_with_its_purpose(cap):
    lean = facts(caps=tuple(c for c in ALL_CAPS if c != cap))
    msg = hostcheck.caps_refusal(lean)
    assert msg is not None and f"CAP_{cap}: " in msg and f"--cap-add={cap}" in msg
    assert hostcheck.caps_refusal(facts()) is None
    assert hostcheck.caps_refusal(facts(caps=(), uid=1000)) is None  # not root: not judged


def test_every_missing_capability_at_once(capsys, tmp_path):
    bare = facts(caps=("NET_ADMIN",))
    argv = [f"--corosync-conf={tmp_path}/corosync.conf", f"--cib-file={tmp_path}/cib.xml"]
    assert cli.main([*argv, "render"], env={}, host_facts=bare) == 2
    err = capsys.readouterr().err
    assert "lacks 5 capabilities" in err
    assert "--cap-add=CHOWN --cap-add=DAC_OVERRIDE --cap-add=FOWNER --cap-add=KILL" in err
    assert os.listdir(tmp_path) == []


def test_without_setuid_the_daemons_run_as_root_and_that_is_said():
    found = {f.topic: f for f in hostcheck.findings(facts(caps=MINIMAL[:4] + ("SETGID",)))}
    assert not found["least privilege"].ok
    assert "run as root" in found["least privilege"].text
    assert "least privilege" not in {f.topic for f in hostcheck.findings(facts())}


def test_dockers_default_shm_is_too_small_for_the_stack():
    small = {f.topic: f for f in hostcheck.findings(facts(shm_size=64 * 2**20))}
    assert not small["shared memory"].ok and "--shm-size=256m" in small["shared memory"].fix
    assert "shared memory" not in {f.topic for f in hostcheck.findings(facts(shm_size=2**28))}


def test_a_remote_node_needs_only_chown(capsys, tmp_path):
    """Measured on a real engine: the remote role with CHOWN alone starts, listens and stops
    cleanly; without it the launcher cannot prepare its directories and key."""
    assert hostcheck.caps_refusal(facts(caps=("CHOWN",)), hostcheck.REMOTE_REQUIRED_CAPS) is None
    env = {"PCMK_ROLE": "remote", "PCMK_REMOTE_AUTHKEY_PASSPHRASE": "a long enough passphrase"}
    argv = [f"--corosync-conf={tmp_path}/corosync.conf", f"--cib-file={tmp_path}/cib.xml"]
    code = cli.main([*argv, "render"], env=env, host_facts=facts(caps=("NET_RAW",)))
    err = capsys.readouterr().err
    if "pacemaker-remoted is not installed" in err:  # the full image's Pacemaker: no daemon
        pytest.skip("pacemaker-remoted not installed here")
    assert code == 2 and "CAP_CHOWN: " in err and "--cap-add=CHOWN" in err, err


def test_corosync_is_asked_its_version_only_where_knet_depends_on_it():
    asked = []

    def read():
        asked.append(1)
        return (3, 1, 0)

    roomy = facts(corosync_version=None, caps=(), rmem_max=4194304, wmem_max=4194304)
    assert hostcheck.with_version_if_needed(roomy, read) is roomy
    admin = facts(corosync_version=None, rmem_max=212992, wmem_max=212992)
    assert hostcheck.with_version_if_needed(admin, read) is admin
    assert not asked
    stock = facts(corosync_version=None, caps=(), rmem_max=212992, wmem_max=212992)
    assert hostcheck.knet_plan(stock)[0] == "fallback"  # the unknown version's benefit
    known = hostcheck.with_version_if_needed(stock, read)
    assert known.corosync_version == (3, 1, 0) and asked == [1]
    assert hostcheck.knet_plan(known)[0] == "refuse"
