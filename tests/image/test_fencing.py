"""STONITH in the 3-node demo cluster of compose.yaml, through fence_docker_api.

image/demo-fencing.sh (what `make demo` runs after formation) adds one fence_docker_api device
per node (it kills that node's container through the Docker socket compose.yaml mounts) and
sets stonith-enabled=true; run twice, it changes nothing. A node that stops answering
(`docker pause`) is fenced: its container is killed, the fencing history shows it, and a
resource that preferred it starts on another node only after the fence succeeded. A device
pointed at a socket that does not exist makes fencing fail visibly and the resource stays
where it was, never active twice; once the device is fixed, fencing completes and the
resource moves.

The same second copy of compose.yaml as test_compose.py (tests/image/demo.py): a running
`make demo` is never touched.
"""

from __future__ import annotations

import re
import subprocess
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from tests.image.demo import NODES, Demo, start_demo
from tests.image.dockerutil import (
    PREFIX,
    ROOT,
    completed,
    container_state,
    crm_mon,
    dexec,
    docker,
    fence_history,
    inspect,
    measure,
    pcs,
    wait_for,
    wait_formed,
)

AGENT = "fence_docker_api"
DUMMY = "pdtest-dummy"
BAD_SOCKET = "/run/pdtest-nonexistent.sock"
FILTER_SOCKET = "/run/pcmk-filter/docker.sock"  # compose.yaml: the engine filter's socket


def unpause_all() -> None:
    for node in NODES:
        if container_state(node) == "paused":
            docker("unpause", node)


@pytest.fixture(scope="module")
def demo(built_image, module_resources) -> Demo:
    demo = start_demo(built_image, module_resources, down_timeout=30)
    module_resources.on_cleanup(unpause_all)  # callbacks run in reverse: before `down`
    t0 = time.monotonic()
    out = demo_fencing()
    assert out.returncode == 0, out.stdout + out.stderr
    measure(
        "fencing: image/demo-fencing.sh (3 devices, stonith-enabled)",
        f"{time.monotonic() - t0:.1f}s",
    )
    return demo


def demo_fencing() -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / "image/demo-fencing.sh"), "--container", NODES[0]],
        capture_output=True,
        text=True,
        timeout=180,
    )


# --- helpers --------------------------------------------------------------------------------


def parse_stamp(stamp: str) -> float:
    """A docker timestamp (RFC 3339 with up to 9 fractional digits) as Unix time."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    base = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return base + float("0." + (frac or "0"))


def stamped_lines(container: str, since: float) -> list[tuple[float, str]]:
    """`docker logs -t` lines of `container` since Unix time `since`, stdout first.

    Kept in the order docker stored them, not sorted by stamp: docker stamps lines as its
    copier reads them, and two lines of one burst have been seen stamped microseconds out
    of order (CI, stop 20). The relay writes every pacemaker message to stdout, so the
    position in that stream is the true order of one daemon's messages.
    """
    out = docker("logs", "-t", "--since", f"{since:.3f}", container, timeout=60)
    lines = []
    for line in (out.stdout + "\n" + out.stderr).splitlines():
        stamp, _, text = line.partition(" ")
        try:
            lines.append((parse_stamp(stamp), text))
        except ValueError:
            continue
    return lines


def first(
    lines: list[tuple[float, str]], pattern: str, after: float = 0
) -> tuple[float, re.Match, int] | None:
    """The first line at or after Unix time `after` that matches: (stamp, match, position)."""
    for pos, (stamp, text) in enumerate(lines):
        m = re.search(pattern, text) if stamp >= after else None
        if m:
            return stamp, m, pos
    return None


def start_record(container: str, node: str) -> dict[str, str] | None:
    """The CIB's record of the last successful start of DUMMY on `node` (lrm_rsc_op), if
    that is the resource's last operation there."""
    out = dexec(container, "cibadmin", "--query", "--scope", "status", timeout=30)
    for state in ET.fromstring(out.stdout).iter("node_state"):
        if state.get("uname") != node:
            continue
        for op in state.iter("lrm_rsc_op"):
            if (op.get("id"), op.get("operation"), op.get("rc-code")) == (
                f"{DUMMY}_last_0",
                "start",
                "0",
            ):
                return dict(op.attrib)
    return None


def dummy_nodes(container: str) -> list[str] | None:
    mon = crm_mon(container)
    if mon is None or DUMMY not in mon.resources:
        return None
    res = mon.resources[DUMMY]
    return res["nodes"] if res.get("active") == "true" else []


def all_running() -> None:
    """Every node's container runs (a test before this one may have fenced one), 3 online."""
    unpause_all()
    for node in NODES:
        if container_state(node) != "running":
            docker("start", node, check=True)
    wait_formed(NODES[0], online=3, timeout=120)


def dummy_on(victim: str) -> None:
    """The test resource exists, prefers `victim` (only), and runs there."""
    if dexec(NODES[0], "crm_resource", "--resource", DUMMY, "--query-xml").returncode != 0:
        pcs(NODES[0], "resource", "create", DUMMY, "ocf:pacemaker:Dummy", "op", "monitor",
            "interval=10s")  # fmt: skip
    prefer = f"{DUMMY}-prefers"
    dexec(NODES[0], "cibadmin", "--delete", "--xml-text", f'<rsc_location id="{prefer}"/>')
    pcs(NODES[0], "constraint", "location", "add", prefer, DUMMY, victim, "100", "--force")
    wait_for(
        lambda: ((n := dummy_nodes(NODES[0])) == [victim], n),
        60,
        f"{DUMMY} started on {victim}",
    )


def pick_victim() -> tuple[str, str, list[str]]:
    """A node that is not the DC (a DC loss adds an election: another scenario)."""
    dc = crm_mon(NODES[0]).dc
    assert dc in NODES, dc
    victim = next(n for n in reversed(NODES) if n != dc)
    return dc, victim, [n for n in NODES if n != victim]


# --- tests ----------------------------------------------------------------------------------


def test_agent_is_installed_and_reaches_the_engine(demo):
    out = dexec(NODES[1], "stonith_admin", "--list-installed")
    assert AGENT in out.stdout.split(), out.stdout
    meta = dexec(NODES[1], "stonith_admin", "--metadata", "--agent", AGENT)
    assert meta.returncode == 0, meta.stderr
    root = ET.fromstring(meta.stdout)
    actions = {a.get("name") for a in root.iter("action")}
    assert {"on", "off", "reboot", "status", "list", "monitor", "metadata", "validate-all"} <= (
        actions
    ), actions

    # Through the engine filter's socket (compose.yaml, profile B): the three nodes only.
    via = ("--socket", FILTER_SOCKET)
    assert dexec(NODES[1], "test", "-e", "/var/run/docker.sock").returncode != 0
    listed = dexec(NODES[1], AGENT, "-o", "list", *via)
    assert listed.returncode == 0, listed.stderr
    names = {line.split(",")[0] for line in listed.stdout.splitlines()}
    assert names == set(NODES), listed.stdout
    for node in NODES:
        status = dexec(NODES[1], AGENT, "--action", "status", "--plug", node, *via)
        assert (status.returncode, status.stdout.strip()) == (0, "Status: ON"), status
    # any other container is refused by the filter: an error (1), never "off"
    other = dexec(NODES[1], AGENT, "-o", "off", "-n", f"{PREFIX}-no-such-container", *via)
    assert other.returncode == 1 and "not allowed" in other.stdout + other.stderr, other
    # unreachable endpoints are errors (1), never "off"
    tcp = dexec(
        NODES[1], AGENT, "-o", "status", "-n", NODES[0], "-a", "127.0.0.1", "-u", "1", "--ssl=0"
    )
    assert tcp.returncode == 1 and "cannot reach the Docker API" in tcp.stderr, tcp
    sock = dexec(NODES[1], AGENT, "-o", "off", "-n", NODES[0], "--socket", BAD_SOCKET)
    assert sock.returncode == 1 and BAD_SOCKET in sock.stderr, sock
    assert container_state(NODES[0]) == "running"


def test_demo_fencing_is_on_and_the_script_idempotent(demo):
    prop = dexec(
        NODES[0],
        "crm_attribute",
        "--type",
        "crm_config",
        "--name",
        "stonith-enabled",
        "--query",
        "--quiet",
    )
    assert prop.stdout.strip() == "true", prop
    mon = crm_mon(NODES[0])
    for node in NODES:
        dev = mon.resources.get(f"fence_{node}")
        assert dev is not None, str(mon)
        assert dev["resource_agent"] == f"stonith:{AGENT}" and dev["active"] == "true", dev
        assert node not in dev["nodes"], dev  # kept off the node it fences
    epoch = inspect_cib_epoch()
    again = demo_fencing()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing changed" in again.stdout, again.stdout
    assert inspect_cib_epoch() == epoch


def inspect_cib_epoch() -> tuple[str, str]:
    root = ET.fromstring(dexec(NODES[0], "cibadmin", "--query", "--no-children").stdout)
    return root.get("admin_epoch", ""), root.get("epoch", "")


def test_frozen_node_is_fenced_and_its_resource_moves_after(demo):
    all_running()
    dc, victim, survivors = pick_victim()
    dummy_on(victim)

    t_freeze = time.time()
    docker("pause", victim, check=True)
    wait_for(lambda: ((s := container_state(victim)) == "exited", s), 60, f"{victim} killed")
    t_killed = time.time()
    assert inspect(victim, "{{.State.Running}}") == "false"
    assert inspect(victim, "{{.State.ExitCode}}") == "137"  # SIGKILL

    def fenced():
        events = [
            e
            for e in fence_history(survivors[0], victim)
            if e.get("status") == "success" and completed(e) >= int(t_freeze)
        ]
        return bool(events), events

    events = wait_for(fenced, 60, f"successful fencing of {victim} in the history")
    assert events[0]["target"] == victim and events[0]["delegate"] in survivors, events
    assert events[0]["action"] in ("off", "reboot"), events
    moved = wait_for(
        lambda: ((n := dummy_nodes(dc)) and n[0] in survivors, n), 60, f"{DUMMY} moved"
    )
    mon = crm_mon(dc)
    assert mon.nodes[victim]["online"] == "false" and mon.nodes[victim]["unclean"] == "false"

    # Order, from machine-readable state: the fence's completion (stonith history) came no
    # later than the start of the Dummy elsewhere (its CIB operation record). The daemons'
    # log lines were tried first and proved no order reference across containers' relays
    # (a DC line missing or logged after the start it caused, stops 20 and 24).
    t_fenced = completed(events[0])
    op = start_record(dc, moved[0])
    assert op is not None, f"no successful start of {DUMMY} on {moved[0]} in the CIB"
    # last-rc-change: when the start began, in whole seconds (the history: µs on 3.0)
    assert int(op["last-rc-change"]) >= int(t_fenced), (op, events[0])
    for node in survivors:  # no other start of it after the freeze
        other = start_record(dc, node) if node != moved[0] else None
        assert other is None or int(other["last-rc-change"]) < int(t_freeze), (node, other)
    t_started = int(op["last-rc-change"])

    measure(f"fencing: freeze {victim} -> container killed (host)", f"{t_killed - t_freeze:.1f}s")
    measure(f"fencing: freeze {victim} -> fence success (history)", f"{t_fenced - t_freeze:.1f}s")
    measure(
        f"fencing: freeze {victim} -> {DUMMY} started on {moved[0]} (CIB, whole s)",
        f"{t_started - t_freeze:.0f}s",
    )


def test_fencing_through_a_wrong_endpoint_fails_and_the_resource_stays(demo):
    all_running()
    dc, victim, survivors = pick_victim()
    dummy_on(victim)
    device = f"fence_{victim}"
    pcs(NODES[0], "stonith", "update", device, f"socket={BAD_SOCKET}")
    since = time.time() - 1

    t_freeze = time.time()
    docker("pause", victim, check=True)

    def failed():
        events = [e for e in fence_history(survivors[0], victim) if e.get("status") == "failed"]
        fresh = [e for e in events if completed(e) >= int(t_freeze)]
        return bool(fresh), fresh

    wait_for(failed, 60, f"a failed fencing of {victim} in the history")
    t_failed = time.time()
    # For a while (the controller keeps retrying, then gives up): the node stays unclean,
    # its container paused (never killed), and the resource active nowhere else.
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        mon = crm_mon(dc)
        assert mon is not None and mon.nodes[victim]["unclean"] == "true", str(mon)
        assert dummy_nodes(dc) == [victim], str(mon)
        assert container_state(victim) == "paused"
        time.sleep(1)
    assert not [
        e
        for e in fence_history(survivors[0], victim)
        if e.get("status") == "success" and completed(e) >= int(t_freeze)
    ]
    for node in survivors:
        lines = stamped_lines(node, since)
        assert not first(lines, rf"Result of start operation for {DUMMY}"), node
    logs = "\n".join(text for node in survivors for _, text in stamped_lines(node, since))
    assert f"cannot reach the Docker API at unix://{BAD_SOCKET}" in logs
    assert re.search(rf"Operation '\w+' targeting {victim} by \S+ .*: Error", logs), logs[-3000:]
    measure(
        f"failed fencing: freeze {victim} -> first failure in history",
        f"{t_failed - t_freeze:.1f}s",
    )

    # Fixed: fencing completes (the controller retries after the device's cleanup), then the
    # resource moves.
    t_fix = time.time()
    pcs(NODES[0], "stonith", "update", device, f"socket={FILTER_SOCKET}")
    pcs(NODES[0], "stonith", "cleanup", device)

    def fenced_now():
        ok = [
            e
            for e in fence_history(survivors[0], victim)
            if e.get("status") == "success" and completed(e) >= int(t_fix)
        ]
        return bool(ok), ok

    try:
        wait_for(fenced_now, 45, f"fencing of {victim} after the fix")
        how = "controller retry"
    except AssertionError:
        out = dexec(survivors[0], "stonith_admin", "--fence", victim, "--timeout", "60", timeout=90)
        assert out.returncode == 0, out.stdout + out.stderr
        how = "stonith_admin --fence"
    assert container_state(victim) == "exited"
    moved = wait_for(
        lambda: ((n := dummy_nodes(dc)) and n[0] in survivors, n), 60, f"{DUMMY} moved"
    )
    measure(
        f"failed fencing: device fixed -> {DUMMY} on {moved[0]} ({how})",
        f"{time.time() - t_fix:.1f}s",
    )
