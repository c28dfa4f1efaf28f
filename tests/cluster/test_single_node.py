"""A standalone (one-node) cluster under the launcher, with the real daemons.

Issues "supervisor" and "container-friendly operation": the launcher as PID 1 of one
simulated host brings corosync and pacemaker up, relays every daemon's (and resource
agent's) syslog messages to its stdout, answers ``health``/``status``, and stops in order
on SIGTERM.  Standalone mode: no PCMK_NODE_LIST, so no crypto and corosync on loopback.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.harness import hosts
from tests.harness.cluster import LAUNCHER_ARGV, cluster_state, describe_state, launcher_env
from tests.harness.hosts import Host

pytestmark = pytest.mark.root

PCMK_LAUNCH = [sys.executable, "-m", "pcmk_launch"]
PACEMAKER_DAEMONS = (
    "pacemakerd",
    "pacemaker-based",
    "pacemaker-execd",
    "pacemaker-attrd",
    "pacemaker-fenced",
    "pacemaker-schedulerd",
    "pacemaker-controld",
)
# A relayed syslog line: "daemon[pid]: message" (what logrelay.format_text writes).
RELAYED = re.compile(r"(?P<daemon>[^\s\[\]:]+)\[(?P<pid>\d+)\]: (?P<message>.*)\Z")
# /proc/PID/comm is cut at 15 characters
DAEMON_COMMS = {"corosync", *(d[:15] for d in PACEMAKER_DAEMONS)}
LEVELS = ("emerg", "alert", "crit", "error", "warning", "notice", "info", "debug")


def standalone_env(**extra: str) -> dict[str, str]:
    """What `docker run IMAGE` with no node list gets: nothing but the code's PYTHONPATH."""
    return {"PYTHONPATH": launcher_env([])["PYTHONPATH"], **extra}


def start_standalone(make_cluster, **extra: str) -> tuple[Host, dict[str, str]]:
    [host] = make_cluster(1).hosts
    env = standalone_env(**extra)
    host.start(LAUNCHER_ARGV, env)
    return host, env


def wait_up(host: Host, timeout: float = 60) -> dict:
    """Until crm_mon on the host shows it online, as DC, with quorum."""
    return hosts.wait_for(
        lambda: cluster_state(host),
        timeout,
        f"{host.name} online as DC",
        until=lambda s: s["dc"] == host.name and s["online"] == [host.name] and s["have_quorum"],
        describe=describe_state,
    )


def console(host: Host) -> list[str]:
    """The host's stdout/stderr since its last start (without the harness' marker line)."""
    lines = host.log_path.read_text(errors="replace").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("==== harness: start ")]
    return lines[starts[-1] + 1 :] if starts else lines


def index_of(lines: list[str], pattern: str) -> int:
    """Index of the first line matching ``pattern`` (regex search); fails if none does."""
    for i, line in enumerate(lines):
        if re.search(pattern, line):
            return i
    raise AssertionError(f"no line matches {pattern!r}; last lines:\n" + "\n".join(lines[-30:]))


def relayed_daemons(lines: list[str]) -> set[str]:
    return {m["daemon"] for line in lines if (m := RELAYED.match(line))}


def wait_for_line(host: Host, pattern: str, timeout: float = 30) -> list[str]:
    return hosts.wait_for(
        lambda: console(host),
        timeout,
        f"a line matching {pattern!r} in {host.name}'s stdout",
        until=lambda lines: any(re.search(pattern, line) for line in lines),
        describe=lambda lines: "\n".join((lines or [])[-15:]),
    )


def daemon_pids(host: Host) -> dict[int, str]:
    """Root-namespace pid -> comm of every corosync/pacemaker process of ``host``."""
    inode = os.stat(f"/run/netns/{host.netns}").st_ino
    found = {}
    for pid in hosts._pids_in_netns(inode):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm in DAEMON_COMMS:
            found[pid] = comm
    return found


# ---------------------------------------------------------------------------


def test_standalone_comes_up_and_sigterm_stops_it_in_order(make_cluster):
    host, _ = start_standalone(make_cluster)
    t0 = time.monotonic()
    state = wait_up(host)
    print(f"\nTIMING standalone: online as DC after {time.monotonic() - t0:.1f}s")
    assert state["nodes"][host.name]["type"] == "member"
    assert not state["nodes"][host.name]["unclean"]
    conf = host.path("/etc/corosync/corosync.conf").read_text()
    assert "ring0_addr: 127.0.0.1" in conf
    assert "crypto_cipher: none" in conf  # standalone: loopback only, no key needed

    daemons = daemon_pids(host)
    assert sorted(daemons.values()) == sorted(DAEMON_COMMS), daemons

    t1 = time.monotonic()
    assert host.stop(60) == 0
    print(f"TIMING standalone: SIGTERM to exit {time.monotonic() - t1:.1f}s")
    assert [pid for pid in daemons if hosts._live(pid)] == []
    assert daemon_pids(host) == {}

    lines = console(host)
    term = index_of(lines, r"^\[pcmk-launch\] received SIGTERM: stopping")
    to_pcmk = index_of(lines, r"^\[pcmk-launch\] sending SIGTERM to pacemakerd")
    pcmk_done = index_of(lines, r"^pacemakerd\[\d+\]: notice: Shutdown complete")
    pcmk_reaped = index_of(lines, r"^\[pcmk-launch\] pacemakerd stopped \(exit code 0\)")
    to_corosync = index_of(lines, r"^\[pcmk-launch\] sending SIGTERM to corosync")
    corosync_done = index_of(lines, r"^corosync\[\d+\]: .*Corosync Cluster Engine exiting normally")
    corosync_reaped = index_of(lines, r"^\[pcmk-launch\] corosync stopped \(exit code 0\); clean")
    assert term < to_pcmk < pcmk_done < pcmk_reaped < to_corosync < corosync_done < corosync_reaped
    # every pacemaker subdaemon was stopped by pacemakerd, before corosync was signalled
    # (pacemaker 2.1 logs "Stopping pacemaker-based", 3.0 "Stopping subdaemon pacemaker-based")
    for daemon in PACEMAKER_DAEMONS[1:]:
        stopping = index_of(lines, rf"^pacemakerd\[\d+\]: notice: Stopping (subdaemon )?{daemon}$")
        assert to_pcmk < stopping < to_corosync
    assert not [line for line in lines if "SIGKILL" in line]
    assert lines[-1] == "[pcmk-launch] exiting with code 0"


def test_daemon_and_resource_agent_messages_reach_stdout_once(make_cluster):
    host, _ = start_standalone(make_cluster)
    wait_up(host)
    # Every daemon's syslog reaches stdout through the launcher's /dev/log relay.
    lines = wait_for_line(host, r"^pacemaker-controld\[\d+\]: notice: State transition .* S_IDLE")
    assert relayed_daemons(lines) >= {"corosync", *PACEMAKER_DAEMONS}, relayed_daemons(lines)
    # ...and only there: pacemaker writes no log file in the container (PCMK_logfile=none).
    assert not host.path("/var/log/pacemaker/pacemaker.log").exists()

    # Resource agents: ocf_log -> logger -> /dev/log (execd gives them HA_LOGFACILITY=daemon).
    # ocf:pacemaker:Dummy logs nothing on start/stop/monitor (only ocf_log debug, dropped
    # with HA_debug=0), but its reload-agent action (a change of the reloadable "fake"
    # parameter) logs at err level; ocf:heartbeat:IPaddr2 logs at info level on start.
    host.run("pcs property set stonith-enabled=false")
    host.run("pcs resource create pdra ocf:pacemaker:Dummy op monitor interval=5s")
    host.run(
        "pcs resource create pdvip ocf:heartbeat:IPaddr2 ip=192.0.2.99 cidr_netmask=24"
        " nic=eth0 op monitor interval=5s"
    )
    hosts.wait_for(
        lambda: cluster_state(host)["resources"],
        30,
        "pdra and pdvip started",
        until=lambda r: all(r.get(i, {}).get("role") == "Started" for i in ("pdra", "pdvip")),
    )
    wait_for_line(host, r"Result of start operation for pdvip on node1: (ok|OK)\b")
    assert "inet 192.0.2.99/24" in host.run("ip -o addr show dev eth0").stdout
    host.run("pcs resource update pdra fake=pdchanged")
    reload_line = r"^Dummy\(pdra\)\[\d+\]: ERROR: Reloading pdra \(agent\)$"
    lines = wait_for_line(host, reload_line)
    wait_for_line(host, r"Result of reload-agent operation for pdra on node1: (ok|OK)\b")

    # A marker of our own, through the same socket, from inside the host.
    host.run(["logger", "-t", "pdmarker", "-p", "daemon.notice", "pd-unique-marker-42"])
    lines = wait_for_line(host, r"^pdmarker(\[\d+\])?: pd-unique-marker-42$")
    host.stop(60)
    lines = console(host)

    def count(pattern: str) -> int:
        return sum(1 for line in lines if re.search(pattern, line))

    vip_start = r"^IPaddr2\(pdvip\)\[\d+\]: INFO: Adding inet address 192\.0\.2\.99/24"
    assert count(vip_start) == 1, [line for line in lines if "IPaddr2" in line]
    assert count(reload_line) == 1
    assert count(r"^pdmarker(\[\d+\])?: pd-unique-marker-42$") == 1
    assert count(r"^corosync\[\d+\]: \[MAIN  \] Corosync Cluster Engine [\d.]+ starting up") == 1
    assert count(r"^pacemakerd\[\d+\]: notice: Starting Pacemaker [\d.]+$") == 1
    assert count(r"^pacemaker-controld\[\d+\]: notice: Result of start operation for pdra") == 1
    assert count(r"^pacemaker-schedulerd\[\d+\]: notice: Actions: Start +pdra ") == 1
    # IPaddr2 removes the address on stop, and says so
    assert count(r"^IPaddr2\(pdvip\)\[\d+\]: INFO: IP status = ok, IP_CIP=") == 1
    # every line is either the launcher's own or a relayed "daemon[pid]: message" one
    # (nothing a daemon printed on its own stdout/stderr)
    stray = [ln for ln in lines if not (ln.startswith("[pcmk-launch] ") or RELAYED.match(ln))]
    stray = [ln for ln in stray if not re.match(r"^pdmarker: ", ln)]
    assert stray == []


def test_json_log_format_every_line_is_an_object(make_cluster):
    host, _ = start_standalone(make_cluster, PCMK_LOG_FORMAT="json")
    wait_up(host)
    host.run(["logger", "-t", "pdmarker", "pd json marker"])
    assert host.stop(60) == 0
    lines = console(host)
    assert len(lines) > 50
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"not JSON: {line!r}")
        assert isinstance(record, dict), line
        assert {"time", "host", "daemon", "level", "message"} <= record.keys(), line
        assert record["host"] == host.name, line
        assert record["level"] in LEVELS, line
        assert isinstance(record["message"], str) and record["message"], line
        assert datetime.strptime(record["time"], "%Y-%m-%dT%H:%M:%S.%fZ"), line
        records.append(record)
    daemons = {r["daemon"] for r in records}
    assert daemons >= {"pcmk-launch", "corosync", *PACEMAKER_DAEMONS, "pdmarker"}, daemons
    launcher = [r for r in records if r["daemon"] == "pcmk-launch"]
    assert launcher[0]["message"].startswith("wrote /etc/corosync/corosync.conf")
    assert launcher[-1]["message"] == "exiting with code 0"
    assert all(isinstance(r["pid"], int) for r in records if r["daemon"] != "pdmarker")
    assert [r["message"] for r in records if r["daemon"] == "pdmarker"] == ["pd json marker"]
    errors = {(r["daemon"], r["message"]) for r in records if r["level"] == "error"}
    # The only error-level messages are the scheduler's, about the missing STONITH: 2.1 logs the
    # configuration error, 3.0 also each transition "with errors" (saved as pe-error-N). Told
    # apart by the record's daemon, not by wording that differs between versions.
    assert {daemon for daemon, _ in errors} <= {"pacemaker-schedulerd"}, errors
    # times are in order (to the millisecond; the writer thread keeps arrival order)
    times = [r["time"] for r in records]
    assert times == sorted(times)


def test_health_and_status(make_cluster):
    host, env = start_standalone(make_cluster)
    t0 = time.monotonic()
    seen = []  # (seconds after start, exit code, output) of every health call
    while True:
        res = host.run(PCMK_LAUNCH + ["health"], check=False, env=env)
        seen.append((time.monotonic() - t0, res.returncode, res.stdout))
        if res.returncode == 0 or time.monotonic() - t0 > 60:
            break
        time.sleep(0.2)
    print("\nhealth over time:", [(f"{t:.1f}s", rc, out.strip()) for t, rc, out in seen])
    assert seen[-1][1] == 0, seen[-1]
    assert seen[-1][2] == "healthy: this node is online in a quorate partition with a DC\n"
    unhealthy = [s for s in seen if s[1] != 0]
    assert unhealthy, "health was 0 at once: it did not wait for a DC"
    for _, rc, out in unhealthy:
        assert rc == 1
        assert out.endswith("\n") and out.count("\n") == 1, out  # one line
        assert out.startswith("unhealthy: ") and len(out) > len("unhealthy: x"), out
    # healthy means what it says: crm_mon agrees
    state = cluster_state(host)
    assert state["dc"] == host.name and state["have_quorum"]

    res = host.run(PCMK_LAUNCH + ["status", "--json"], env=env)
    status = json.loads(res.stdout)
    assert status["running"] is True and status["healthy"] is True
    assert status["local_node"] == host.name
    assert status["dc"] == host.name and status["quorate"] is True
    assert status["cluster_name"] == "docker"
    (node,) = status["nodes"]
    assert (node["name"], node["online"], node["standby"]) == (host.name, True, False)
    assert (node["type"], node["unclean"]) == ("member", False)
    assert status["resources"] == []

    res = host.run(PCMK_LAUNCH + ["status"], env=env)
    text = res.stdout.splitlines()
    assert (
        text[0] == f"cluster docker: partition with quorum, DC {host.name}, this node {host.name}"
    )
    assert text[1] == f"nodes: 1 online ({host.name}), 0 offline (-)"
    assert text[2] == "resources: none"

    # status lists resources too
    host.run("crm_attribute --type crm_config --name stonith-enabled --update false")
    host.run("pcs resource create pdh ocf:pacemaker:Dummy")
    hosts.wait_for(
        lambda: cluster_state(host)["resources"].get("pdh", {}).get("role"),
        30,
        "pdh started",
        until=lambda role: role == "Started",
    )
    res = host.run(PCMK_LAUNCH + ["status"], env=env)
    assert f"resource pdh (ocf:pacemaker:Dummy): Started on {host.name}" in res.stdout
    assert host.stop(60) == 0
