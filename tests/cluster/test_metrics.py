"""Metrics (issue 17): ha_cluster_exporter under the launcher, scraped by a real Prometheus.

Three nodes run the launcher with PCMK_METRICS=on, each exporter on its own node's address;
a fourth host on the same switch runs Debian's Prometheus as its PID 1, scraping all three
every second. Every claim is a PromQL query to that server's HTTP API (curl inside its host),
polled with a generous deadline and compared with what crm_mon's XML says. Measured delays
are printed as ``TIMING ...`` lines and never asserted.
"""

from __future__ import annotations

import json
import os
import signal
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness import hosts
from tests.harness.cluster import LAUNCHER_ARGV, Cluster, cluster_state, launcher_env
from tests.harness.hosts import Host, wait_for
from tests.harness.pinger import VIP
from tests.helpers.prereq import require, require_commands
from tests.hostdeps import install_hint

pytestmark = pytest.mark.root

EXPORTER_PORT = 9664
PROMETHEUS_PORT = 9090
# Where the Prometheus host sees the test's tmp dir (config and TSDB). The bind target must
# exist on the machine: the prometheus package ships this directory.
PROM_GUEST_DIR = "/var/lib/prometheus"
JOB = "pacemaker"
DEADLINE = 30  # generous: each wait is a few scrape intervals (1 s) on a loaded machine
LAUNCHER_STOP_TIMEOUT = 150  # > PCMK_STOP_TIMEOUT (90) + PCMK_COROSYNC_STOP_TIMEOUT (20)

VIP_XML = f"""
<primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2">
  <instance_attributes id="vip-params">
    <nvpair id="vip-params-ip" name="ip" value="{VIP}"/>
    <nvpair id="vip-params-cidr_netmask" name="cidr_netmask" value="24"/>
    <nvpair id="vip-params-nic" name="nic" value="eth0"/>
  </instance_attributes>
  <meta_attributes id="vip-meta">
    <nvpair id="vip-meta-resource-stickiness" name="resource-stickiness" value="100"/>
  </meta_attributes>
  <operations>
    <op id="vip-monitor-5s" name="monitor" interval="5s"/>
  </operations>
</primitive>
"""


# --------------------------------------------------------------------------
# Prometheus in its own host


def prometheus_yml(targets: list[str]) -> str:
    """Scrape every exporter each second. Timeout = interval: Prometheus rejects a longer one."""
    listed = ", ".join(f'"{t}"' for t in targets)
    return (
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        f"  - job_name: {JOB}\n"
        "    static_configs:\n"
        f"      - targets: [{listed}]\n"
    )


def start_prometheus(c: Cluster, data_dir: Path, targets: list[str]) -> Host:
    """A host on the cluster's switch whose PID 1 is prometheus; returns once it is ready."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "prometheus.yml").write_text(prometheus_yml(targets))
    prom = c.network.add_host(name="prom", extra_binds={PROM_GUEST_DIR: data_dir})
    prom.start(
        [
            "prometheus",
            f"--config.file={PROM_GUEST_DIR}/prometheus.yml",
            f"--storage.tsdb.path={PROM_GUEST_DIR}/tsdb",
            f"--web.listen-address={prom.address}:{PROMETHEUS_PORT}",
        ]
    )
    wait_for(
        lambda: prom.run(["curl", "-sf", "--max-time", "2", f"{base_url(prom)}/-/ready"]),
        DEADLINE,
        "prometheus /-/ready",
        interval=0.3,
    )
    return prom


def base_url(prom: Host) -> str:
    return f"http://{prom.address}:{PROMETHEUS_PORT}"


def query(prom: Host, promql: str) -> list[dict[str, Any]]:
    """An instant query: the result vector as [{"metric": {labels}, "value": float}]."""
    res = prom.run(
        [
            "curl", "-sS", "-f", "--max-time", "5", "--get",
            "--data-urlencode", f"query={promql}", f"{base_url(prom)}/api/v1/query",
        ],
        timeout=15,
    )  # fmt: skip
    body = json.loads(res.stdout)
    assert body["status"] == "success", body
    assert body["data"]["resultType"] == "vector", body
    return [{"metric": r["metric"], "value": float(r["value"][1])} for r in body["data"]["result"]]


def by_instance(prom: Host, promql: str) -> dict[str, float]:
    """{instance: value} of a query whose result has one series per scrape target."""
    return {r["metric"]["instance"]: r["value"] for r in query(prom, promql)}


def wait_query(prom: Host, promql: str, until: Callable[[Any], bool], what: str, probe=None) -> Any:
    return wait_for(
        (lambda: probe(prom, promql)) if probe else (lambda: query(prom, promql)),
        DEADLINE,
        f"{what} [{promql}]",
        until=until,
        interval=0.5,
    )


# --------------------------------------------------------------------------
# the cluster side


def target(h: Host) -> str:
    return f"{h.address}:{EXPORTER_PORT}"


def children(pid: int) -> dict[str, int]:
    """The services a launcher (PID 1 of a host, root-namespace pid) runs: argv[0] -> pid."""
    found = {}
    for kid in hosts._children(pid):
        try:
            argv0 = Path(f"/proc/{kid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        found[os.path.basename(argv0)] = kid
    return found


def crm_mon_xml(h: Host) -> ET.Element:
    out = h.run(["crm_mon", "-1", "--inactive", "--output-as=xml"], timeout=15).stdout
    return ET.fromstring(out)


def failed_actions(h: Host) -> list[dict[str, str]]:
    root = crm_mon_xml(h)
    return [dict(f.attrib) for f in root.iter("failure")]


def vip_nodes(state: dict[str, Any]) -> list[str]:
    vip = state["resources"].get("vip")
    return list(vip["nodes"]) if vip and vip["active"] and vip["role"] == "Started" else []


def vip_by_instance(prom: Host) -> dict[str, list[str]]:
    """Per scrape target: the nodes its exporter says run the VIP (Started, active)."""
    rows = query(
        prom, 'ha_cluster_pacemaker_resources{resource="vip",role="started",status="active"} == 1'
    )
    seen: dict[str, list[str]] = {}
    for r in rows:
        seen.setdefault(r["metric"]["instance"], []).append(r["metric"]["node"])
    return {k: sorted(v) for k, v in seen.items()}


ONLINE = 'count by (instance) (ha_cluster_pacemaker_nodes{status="online"} == 1)'
QUORATE = "ha_cluster_corosync_quorate"
UP = f'up{{job="{JOB}"}}'


# --------------------------------------------------------------------------


def test_prometheus_scrapes_the_cluster(make_cluster, tmp_path, timing):
    require_commands("prometheus", "ha_cluster_exporter", "curl")
    require(
        Path(PROM_GUEST_DIR).is_dir(),
        f"{PROM_GUEST_DIR} is missing (Debian's prometheus package ships it);"
        f" {install_hint(['prometheus'])}",
    )
    c = make_cluster(3)
    c.seed_cib({"dc-deadtime": "2s", "stonith-enabled": "false"}, resources_xml=VIP_XML)
    for h in c.hosts:
        h.start(
            LAUNCHER_ARGV,
            launcher_env(c.hosts, PCMK_METRICS="on", PCMK_METRICS_ADDRESS=target(h)),
        )
    prom = start_prometheus(c, tmp_path / "prometheus", [target(h) for h in c.hosts])
    try:
        state = c.wait_converged(timeout=60)
        where = wait_for(
            lambda: vip_nodes(cluster_state(c.hosts[0])),
            DEADLINE,
            "vip Started on one node (crm_mon)",
            until=lambda n: len(n) == 1,
        )[0]
        everyone = {target(h): 3.0 for h in c.hosts}
        # One exporter's page, kept beside the TSDB: the labels to read when a query fails.
        sample = wait_for(
            lambda: prom.run(
                ["curl", "-sf", "--max-time", "5", f"http://{target(c.hosts[0])}/metrics"]
            ),
            DEADLINE,
            f"{c.hosts[0].name}'s exporter answers",
        )
        (tmp_path / "exporter.metrics").write_text(sample.stdout)

        # 1. every node scraped; each exporter sees 3 online nodes, quorum and the VIP where
        # crm_mon has it.
        wait_query(prom, UP, lambda v: v == {t: 1.0 for t in everyone}, "3 targets up", by_instance)
        wait_query(prom, ONLINE, lambda v: v == everyone, "3 online, per target", by_instance)
        wait_query(prom, QUORATE, lambda v: v == {t: 1.0 for t in everyone}, "quorate", by_instance)
        wait_for(
            lambda: vip_by_instance(prom),
            DEADLINE,
            f"every target: vip Started on {where}",
            until=lambda v: v == {t: [where] for t in everyone},
        )
        assert vip_nodes(cluster_state(c.hosts[0])) == [where]
        assert state["online"] == c.names

        # 2. a graceful stop of a node without the VIP: the others' series say 2 online,
        # its target is down.
        leaver = next(h for h in reversed(c.hosts) if h.name != where)
        rest = [h for h in c.hosts if h is not leaver]
        t0 = time.monotonic()
        assert leaver.stop(LAUNCHER_STOP_TIMEOUT) == 0, leaver.log_tail(30)
        t_stopped = time.monotonic()
        two = {target(h): 2.0 for h in rest}
        wait_query(prom, ONLINE, lambda v: v == two, "2 online on the others", by_instance)
        wait_query(
            prom,
            UP,
            lambda v: v.get(target(leaver)) == 0.0 and all(v.get(t) == 1.0 for t in two),
            f"{leaver.name}'s target down, the others up",
            by_instance,
        )
        timing(
            "metrics: graceful stop returned -> Prometheus shows 2 online and the target down",
            time.monotonic() - t_stopped,
        )
        timing("metrics: SIGTERM to the leaver -> Prometheus agrees", time.monotonic() - t0)
        offline = wait_query(
            prom,
            f'ha_cluster_pacemaker_nodes{{status="online",node="{leaver.name}"}}',
            lambda rows: len(rows) == 2 and all(r["value"] == 0.0 for r in rows),
            f"both remaining exporters: {leaver.name} not online",
        )
        assert {r["metric"]["instance"] for r in offline} == set(two)
        state = c.wait_converged(timeout=DEADLINE, hosts=rest, offline=[leaver.name])
        assert vip_nodes(state) == [where]

        # 3. SIGKILL the exporter on the VIP's node: the launcher starts it again; corosync,
        # pacemakerd and the VIP are untouched.
        holder = c.host(where)
        services = children(holder.pid)
        assert {"corosync", "pacemakerd", "ha_cluster_exporter"} <= set(services), services
        started = by_instance(prom, "process_start_time_seconds")
        old = services["ha_cluster_exporter"]
        t1 = time.monotonic()
        os.kill(old, signal.SIGKILL)
        new = wait_for(
            lambda: children(holder.pid).get("ha_cluster_exporter"),
            DEADLINE,
            f"a new ha_cluster_exporter under {holder.name}'s launcher",
            until=lambda pid: pid is not None and pid != old,
            interval=0.2,
        )
        wait_query(
            prom, UP, lambda v: v.get(target(holder)) == 1.0 and v.get(target(leaver)) == 0.0,
            f"{holder.name}'s target up again", by_instance,
        )  # fmt: skip
        if target(holder) in started:  # the Go process collector: a later start time
            wait_query(
                prom,
                "process_start_time_seconds",
                lambda v: v.get(target(holder), 0) > started[target(holder)],
                f"{holder.name}'s exporter restarted (its process start time)",
                by_instance,
            )
        wait_query(prom, ONLINE, lambda v: v == two, "still 2 online", by_instance)
        timing("metrics: exporter SIGKILLed -> scraped again", time.monotonic() - t1)

        after = children(holder.pid)
        assert after["corosync"] == services["corosync"], (services, after)
        assert after["pacemakerd"] == services["pacemakerd"], (services, after)
        assert after["ha_cluster_exporter"] == new
        for h in rest:
            assert h.running, f"{h.name}'s launcher exited:\n{h.log_tail(30)}"
            s = cluster_state(h)
            assert s["online"] == sorted(x.name for x in rest), s
            assert s["have_quorum"], s
            assert vip_nodes(s) == [where], s
            assert not s["resources"]["vip"]["failed"], s
            assert failed_actions(h) == [], failed_actions(h)
        wait_for(
            lambda: vip_by_instance(prom),
            DEADLINE,
            f"both targets: vip still Started on {where}",
            until=lambda v: v == {t: [where] for t in two},
        )
    finally:
        # Prometheus is stopped by its pid (PID 1 of its host): SIGTERM, then wait.
        rc = prom.stop(30)
    assert rc == 0, prom.log_tail(30)
