"""The 3-node demo cluster of compose.yaml (what `make demo` starts), as a second copy beside
any running `make demo`: this session's project, container names, network and addresses
(tests/image/demo.py).

Forms; relays the daemons' syslog to `docker logs`; turns healthy; `docker-compose stop` of
one node (compose's stop_grace_period) is a clean stop and a clean leave for the others, who
keep quorum; `docker-compose start` brings it back with its state volume.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from tests.image.demo import NAME, NODES, Demo, start_demo
from tests.image.dockerutil import (
    crm_mon,
    dexec,
    docker,
    health_status,
    inspect,
    logs,
    measure,
    started_at,
    wait_for,
    wait_formed,
)


def service(container: str) -> str:
    """compose.yaml's service (node1..3) of one of this session's containers."""
    return "node" + container.removeprefix(NAME)


@pytest.fixture(scope="module")
def demo(built_image, module_resources) -> Demo:
    demo = start_demo(built_image, module_resources)
    measure("compose: up -d until 3 online with DC (wait-demo.sh)", f"{demo.formed_after:.1f}s")
    return demo


def test_demo_cluster_forms_with_quorum_and_one_dc(demo):
    assert f"Online: [ {' '.join(NODES)} ]" in demo.formed_output, demo.formed_output
    dcs = set()
    for node in NODES:
        mon = crm_mon(node)
        assert mon is not None, node
        assert mon.online == list(NODES) and mon.quorate, (node, str(mon))
        dcs.add(mon.dc)
    assert len(dcs) == 1 and dcs <= set(NODES), dcs
    # multi-node traffic is encrypted by default (compose.yaml gives every node a passphrase)
    conf = dexec(NODES[0], "cat", "/etc/corosync/corosync.conf").stdout
    assert re.search(r"^\s*crypto_cipher: aes256$", conf, re.M), conf


def test_docker_logs_carry_corosync_and_pacemaker_lines(demo):
    """The /dev/log relay: daemons that log to syslog show up in `docker logs`."""
    text = logs(NODES[0])
    for prefix in ("[pcmk-launch] ", "corosync[", "pacemakerd[", "pacemaker-controld["):
        assert re.search(rf"^{re.escape(prefix)}", text, re.M), f"no {prefix!r} line in logs"
    assert "[pcmk-launch] started pacemakerd" in text


def test_every_node_turns_healthy(demo):
    for node in NODES:
        out = dexec(node, "pcmk-launch", "health")
        assert out.returncode == 0, (node, out.stdout + out.stderr)

    def all_healthy():
        states = {n: health_status(n) for n in NODES}
        return all(s == "healthy" for s in states.values()), states

    wait_for(all_healthy, 60, "docker health of the 3 nodes", interval=0.5)
    latest = max(time.time() - started_at(n) for n in NODES)
    measure("compose: all 3 docker health 'healthy' after start (max)", f"{latest:.1f}s")


def test_status_json_describes_the_cluster(demo):
    out = dexec(NODES[1], "pcmk-launch", "status", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads(out.stdout)
    assert data["running"] and data["healthy"] and data["quorate"], data
    assert data["cluster_name"] == "demo" and data["local_node"] == NODES[1]
    assert sorted(n["name"] for n in data["nodes"] if n["online"]) == list(NODES)


def scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}:9664/metrics", timeout=10) as reply:
        return reply.read().decode()


def test_every_node_serves_metrics(demo):
    """compose.yaml turns PCMK_METRICS on: ha_cluster_exporter answers on each node's address
    and sees the whole cluster from there."""
    for node in NODES:
        address = inspect(node, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")

        def online(address=address):
            try:
                text = scrape(address)
            except OSError as exc:
                return False, str(exc)
            seen = re.findall(
                r'^ha_cluster_pacemaker_nodes\{[^}]*node="([^"]+)"[^}]*status="online"[^}]*\} 1$',
                text,
                re.M,
            )
            return sorted(set(seen)) == list(NODES), seen

        wait_for(online, 60, f"metrics of {node} showing 3 online nodes")
        text = scrape(address)
        assert re.search(r"^ha_cluster_corosync_quorate 1$", text, re.M), text[:2000]
    status = json.loads(dexec(NODES[0], "pcmk-launch", "status", "--json").stdout)
    assert status["metrics"] == {"on": True, "address": ":9664"}, status["metrics"]
    # The exporter logs to stderr at warn level; the image ships its web config, so what is
    # left at start is the two collectors this image does not have (sbd, drbd).
    exporter = [line for line in docker("logs", NODES[0]).stderr.splitlines() if "caller=" in line]
    assert not [line for line in exporter if "level=info" in line], exporter
    assert not [line for line in exporter if "web config" in line], exporter


def test_stop_is_a_clean_leave_and_start_rejoins(demo):
    """Stops and restarts a member that is not the DC."""
    dc = crm_mon(NODES[0]).dc
    victim = next(n for n in reversed(NODES) if n != dc)  # a DC stop is another scenario
    others = [n for n in NODES if n != victim]
    since = inspect(dc, "{{.State.StartedAt}}")  # nothing older matters
    cutoff = time.time()

    t0 = time.monotonic()
    out = demo.compose("stop", service(victim), timeout=200)  # compose.yaml: stop_grace_period: 2m
    elapsed = time.monotonic() - t0
    assert out.returncode == 0, out.stdout + out.stderr
    measure(f"compose stop {victim} (grace 2m)", f"{elapsed:.1f}s")
    assert inspect(victim, "{{.State.Status}}") == "exited"
    assert inspect(victim, "{{.State.ExitCode}}") == "0"
    out = docker("logs", victim, timeout=60)
    text = out.stdout + out.stderr
    assert "[pcmk-launch] received SIGTERM: stopping the cluster stack" in text, text[-2000:]
    assert re.search(r"\[pcmk-launch\] corosync stopped \(exit code 0\); clean stop", text)
    # stdout alone: the relayed daemons and the launcher write there; the exporter (metrics
    # on in compose.yaml) logs to stderr
    assert out.stdout.rstrip().endswith("[pcmk-launch] exiting with code 0"), out.stdout[-2000:]
    assert "SIGKILL" not in text

    def left():
        mon = crm_mon(others[0])
        ok = mon is not None and mon.online == others and victim in mon.offline
        return ok, mon

    mon = wait_for(left, 30, f"{victim} offline on {others[0]}", container=others[0])
    assert mon.quorate and mon.dc == dc, str(mon)
    node = mon.nodes[victim]
    assert node["unclean"] == "false" and node["expected_up"] == "false", node
    for other in others:
        health = dexec(other, "pcmk-launch", "health")
        assert health.returncode == 0, (other, health.stdout)
        recent = docker("logs", "--since", since, other).stdout
        assert "Failed to receive the leave message" not in recent, other
        assert not re.search(rf"{victim}.*(will be fenced|unclean)", recent), other
    assert f"do_shutdown of peer {victim} is complete" in logs(dc), "no clean leave at the DC"

    out = demo.compose("start", service(victim), timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    t0 = time.monotonic()
    wait_formed(others[0], online=3, timeout=90)
    measure(f"compose start {victim}: rejoined (3 online) after", f"{time.monotonic() - t0:.1f}s")
    wait_for(
        lambda: ((h := dexec(victim, "pcmk-launch", "health")).returncode == 0, h.stdout),
        60,
        f"{victim} healthy again",
        container=victim,
    )
    # its state volume survived the restart: the CIB was seeded once, not again
    assert logs(victim).count("seeded a new CIB") == 1
    assert started_at(victim) > cutoff


def test_stopping_the_dc_hands_over_cleanly(demo):
    """The DC leaves: the other two elect a new DC, keep quorum, and it comes back."""
    wait_formed(NODES[0], online=3, timeout=60)
    dc = crm_mon(NODES[0]).dc
    others = [n for n in NODES if n != dc]
    since = inspect(others[0], "{{.State.StartedAt}}")
    out = docker("stop", "-t", "120", dc, timeout=200)
    assert out.returncode == 0, out.stderr
    assert inspect(dc, "{{.State.ExitCode}}") == "0"
    assert "SIGKILL" not in logs(dc)

    def handed_over():
        mon = crm_mon(others[0])
        ok = mon is not None and mon.dc in others and mon.quorate and mon.online == others
        return ok, mon

    mon = wait_for(handed_over, 60, f"new DC after {dc} left", container=others[0])
    assert mon.nodes[dc]["unclean"] == "false", mon.nodes[dc]
    for other in others:
        recent = docker("logs", "--since", since, other).stdout
        assert "Failed to receive the leave message" not in recent, other
        assert dexec(other, "pcmk-launch", "health").returncode == 0, other
    assert docker("start", dc).returncode == 0
    wait_formed(others[0], online=3, timeout=90)
