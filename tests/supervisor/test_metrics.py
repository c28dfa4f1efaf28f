"""PCMK_METRICS=on: the exporter is the plan's last service, restarted when it dies, never a
reason to stop the cluster, and the first to stop on SIGTERM."""

from __future__ import annotations

import signal

from tests.helpers.launcher import index, names

METRICS = {"PCMK_METRICS": "on", "PCMK_METRICS_ADDRESS": "192.0.2.11:9664"}


def test_exporter_starts_last_and_stops_first(launcher):
    launcher.start(env=METRICS)
    launcher.wait_event("ha_cluster_exporter start")
    launcher.wait_event("pacemakerd start")  # its fake has its handlers in place
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0, launcher.output()
    ev = names(launcher)
    # spawn order, from the launcher: pacemakerd has no readiness probe, so the two fakes'
    # own start lines can land in either order
    out = launcher.output()
    assert out.index("started pacemakerd") < out.index("started ha_cluster_exporter"), out
    assert "--web.listen-address=192.0.2.11:9664" in ev[index(ev, "ha_cluster_exporter start")]
    assert index(ev, "ha_cluster_exporter exit 0") < index(ev, "pacemakerd got SIGTERM")
    assert "clean stop" in launcher.output()


def test_exporter_death_restarts_it_and_leaves_the_cluster_alone(launcher):
    launcher.start(env=METRICS, ha_cluster_exporter_exit_after="0.2")
    # two deaths and a backoff of at least 1 s in between
    launcher.wait_event("ha_cluster_exporter start", timeout=15, count=2)
    assert launcher.proc.poll() is None, launcher.output()
    assert not any("got SIGTERM" in e for e in names(launcher)), names(launcher)
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0, launcher.output()
    assert "restart" in launcher.output(), launcher.output()  # the death is logged


def test_metrics_off_runs_no_exporter(launcher):
    launcher.start()
    launcher.wait_event("pacemakerd start")
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0, launcher.output()
    assert not any("ha_cluster_exporter" in e for e in names(launcher))
