"""The service plan as data: order, readiness, what each death means."""

from __future__ import annotations

import signal

import pytest

from pcmk_launch import services
from pcmk_launch.errors import ExitCode
from pcmk_launch.options import Options


def test_cluster_plan_starts_corosync_then_pacemakerd():
    plan = services.cluster_plan(Options())
    assert [s.name for s in plan] == ["corosync", "pacemakerd"]
    corosync, pacemakerd = plan
    assert corosync.argv == ["corosync", "-f"]
    assert corosync.ready == ["corosync-cfgtool", "-s"]
    assert pacemakerd.ready is None
    assert {s.on_death for s in plan} == {services.FATAL}


def test_exit_codes_and_stop_settings_come_from_the_options():
    opts = Options(
        corosync_conf="/tmp/c.conf", start_timeout=7.0, stop_timeout=9.0, corosync_stop_timeout=3.0
    )
    corosync, pacemakerd = services.cluster_plan(opts)
    assert corosync.argv == ["corosync", "-f", "-c", "/tmp/c.conf"]
    assert (corosync.ready_timeout, corosync.stop_timeout, pacemakerd.stop_timeout) == (7, 3, 9)
    assert corosync.start_code == ExitCode.COROSYNC_START
    assert corosync.death_code == pacemakerd.death_code == ExitCode.DAEMON_DIED
    assert pacemakerd.kill_group and pacemakerd.forward_signals and not corosync.forward_signals
    assert corosync.stop_signal == pacemakerd.stop_signal == signal.SIGTERM
    assert pacemakerd.exit_notes[100]


def test_a_service_refuses_unknown_fields_and_deaths():
    with pytest.raises(TypeError):
        services.Service("x", ["x"], redy=["true"])
    with pytest.raises(ValueError):
        services.Service("x", ["x"], on_death="ignore")


def test_services_do_not_share_mutable_defaults():
    a = services.Service("a", ["a"])
    b = services.Service("b", ["b"], exit_notes={1: "one"})
    assert a.exit_notes == {} and b.exit_notes == {1: "one"}
    assert services.Service.exit_notes == {}


def test_metrics_put_the_exporter_last_and_never_fatal():
    plan = services.cluster_plan(Options(metrics_address="192.0.2.11:9664"))
    assert [s.name for s in plan] == ["corosync", "pacemakerd", "ha_cluster_exporter"]
    exporter = plan[-1]
    assert exporter.argv == [
        "ha_cluster_exporter",
        "--web.listen-address=192.0.2.11:9664",
        "--log.level=warn",
    ]
    assert exporter.on_death == services.RESTART
    assert (exporter.restart_delay, exporter.restart_max) == (1.0, 30.0)
    assert services.cluster_plan(Options())[-1].name == "pacemakerd"


def test_remote_plan_is_pacemaker_remoted_alone_ready_on_3121():
    opts = Options(start_timeout=7.0, stop_timeout=9.0)
    (remoted,) = services.remote_plan(opts)
    assert remoted.argv == ["pacemaker-remoted"]
    assert remoted.ready[-2:] == ["pcmk_launch.listening", "3121"]
    assert remoted.on_death == services.FATAL and remoted.stop_signal == signal.SIGTERM
    assert (remoted.ready_timeout, remoted.stop_timeout) == (7, 9)


def test_listening_reads_proc_net_tcp():
    from pcmk_launch.listening import listening

    head = "  sl  local_address rem_address   st ...\n"
    listen = head + "   0: 00000000:0C31 00000000:0000 0A 00000000:00000000\n"
    connected = head + "   1: 0100007F:0C31 0100007F:9C40 01 00000000:00000000\n"
    assert listening(3121, [listen])
    assert not listening(3121, [connected]) and not listening(3122, [listen])
    v6 = head + "   0: 00000000000000000000000000000000:0C31 0000:0000 0A 0\n"
    assert listening(3121, ["", v6])
