"""Profile A end to end (the README's default multi-host deployment): three full nodes with no
engine socket, the minimal capability set, no-new-privileges and a read-only root, fenced at
host level by fence_ipmilan through one IPMI BMC per node.

The BMCs are OpenIPMI `ipmi_sim` simulators on this machine (tests/soak/bmc.py), one UDP port
each (623, 624, 625) on the gateway address of the cluster's docker bridge network: the host
side of the bridge, so the nodes reach them as they would a BMC on a management network. A
BMC's chassis power goes to this module (tests/soak/chassis_control.py, a unix socket):
status is whether the node's container runs (paused counts as on), power off is `docker kill`
(a power cut), power on `docker start`. Only this module's three containers can be switched.

The BMC password never enters the CIB: every node gets it as a read-only file,
/run/secrets/bmc-password, and the devices say `password_script="cat ..."`; pacemaker-fenced
runs the script for each call. `pcmk_reboot_action=off` keeps a fenced node down, so the test
can see that its BMC powered it off; a test brings it back with `docker start`.

Shown: the three nodes form and report no engine socket; the VIP (IPaddr2) moves away from a
node that `docker stop` takes down cleanly (exit 0) and answers from a client container; a
node frozen with `docker pause` is fenced through its BMC, whose power-off killed its
container, with a successful fence in the history, while the other two keep quorum and the
VIP. Times (formation, VIP move, fence) are printed and recorded, never asserted.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pcmk_launch.hostcheck import CAPS as CAP_BITS
from tests.harness.pinger import PING_PY
from tests.image.dockerutil import (
    BASE_IMAGE,
    PASSPHRASE,
    PREFIX,
    PROFILE_A_CAPS,
    completed,
    container_state,
    create_network,
    crm_mon,
    dexec,
    docker,
    fence_history,
    inspect,
    logs,
    measure,
    pcs,
    wait_for,
    wait_formed,
)
from tests.prereq import require, require_commands
from tests.soak import bmc

PROFILE_A = [
    "--cap-drop=ALL",
    *(f"--cap-add={c}" for c in PROFILE_A_CAPS),
    "--security-opt=no-new-privileges",
    "--read-only",
    "--tmpfs", "/run", "--tmpfs", "/tmp", "--tmpfs", "/etc/corosync", "--tmpfs", "/var/log",
    "--shm-size=256m",  # the README line: corosync and pacemaker keep 33-48 MiB there
]  # fmt: skip
SECRET = "/run/secrets/bmc-password"
PORTS = (623, 624, 625)  # node i's BMC: gateway:PORTS[i]
VIP = "vip"


# --- the BMCs' power: this module's containers only ---------------------------------------


@dataclass
class Request:
    op: str  # on | off
    node: str
    t: float  # time.time() when the BMC asked
    result: str | None = None  # "ok" or docker's error, once done


@dataclass
class Power:
    """What the BMCs ask for (status/on/off of a node = its container), and a record of it.
    Off and on answer at once and act in a thread, as a real BMC does: fence_ipmilan then
    polls the status until it changes."""

    nodes: list[str]
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, op: str, node: str) -> str:
        if node not in self.nodes:
            return f"unknown node {node}"
        if op == "status":
            return "1" if container_state(node) in ("running", "paused", "restarting") else "0"
        if op not in ("on", "off"):
            return f"unknown operation {op}"
        req = Request(op, node, time.time())
        with self.lock:
            self.requests.append(req)
        threading.Thread(target=self._act, args=(req,), daemon=True).start()
        return "ok"

    def _act(self, req: Request) -> None:
        if req.op == "off":
            out = docker("kill", req.node, timeout=60)
            ok = out.returncode == 0 or container_state(req.node) not in ("running", "paused")
        else:
            out = docker("start", req.node, timeout=60)
            ok = out.returncode == 0
        req.result = "ok" if ok else out.stderr.strip()

    def since(self, t: float) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.t >= t]


@dataclass
class Cluster:
    nodes: list[str]
    network: str
    vip: str
    gateway: str
    client: str
    power: Power
    bmc: dict[str, int]  # node -> BMC port on the gateway address


# --- helpers --------------------------------------------------------------------------------


def fence_ipmilan_status(node: str, gateway: str, port: int) -> subprocess.CompletedProcess:
    """fence_ipmilan's status of a BMC from inside `node`, options on stdin as
    pacemaker-fenced passes them, the password from the node's secret file."""
    opts = (
        f"action=status\nip={gateway}\nipport={port}\nusername={bmc.USER}\n"
        f"password_script=cat {SECRET}\nlanplus=1\ncipher={bmc.CIPHER}\n"
    )
    return subprocess.run(
        ["docker", "exec", "-i", node, "fence_ipmilan"],
        input=opts, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def vip_nodes(container: str) -> list[str] | None:
    mon = crm_mon(container)
    if mon is None or VIP not in mon.resources:
        return None
    res = mon.resources[VIP]
    return res["nodes"] if res.get("role") == "Started" else []


def replies(client: str, vip: str, count: int = 5) -> int:
    out = dexec(client, "python3", "-c", PING_PY, vip, str(count), "0.2", "0.5", timeout=60)
    return out.stdout.count("reply ")


def wait_vip_answers(cl: Cluster, timeout: float = 30) -> None:
    wait_for(
        lambda: ((n := replies(cl.client, cl.vip)) > 0, f"{n} replies"),
        timeout,
        f"{cl.vip} answers {cl.client}",
    )


def all_running(cl: Cluster) -> None:
    """Every node's container runs (a test before may have stopped or fenced one), 3 online,
    the VIP started."""
    for node in cl.nodes:
        state = container_state(node)
        if state == "paused":
            docker("unpause", node)
        elif state != "running":
            docker("start", node, check=True)
    for node in cl.nodes:
        wait_formed(node, online=3, timeout=120)
    settle(cl.nodes[0])
    wait_for(lambda: (bool(n := vip_nodes(cl.nodes[0])), n), 60, f"{VIP} started")


def settle(node: str) -> None:
    """Until the cluster has no action left to do (a node that rejoined may draw resources)."""
    out = dexec(node, "crm_resource", "--wait", "--timeout=90s", timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def inspect_network(network: str, template: str) -> str:
    return docker("network", "inspect", "-f", template, network, check=True).stdout.strip()


def node_run_args(
    name: str, network: str, ip: str, node_list: str, secret: Path, vols: tuple[str, str]
) -> list[str]:
    """`docker run` of one profile A node, as the README gives it."""
    return [
        "run", "-d", "--name", name, "--hostname", name, "--network", network, "--ip", ip,
        *PROFILE_A,
        "-v", f"{vols[0]}:/var/lib/pacemaker", "-v", f"{vols[1]}:/var/lib/corosync",
        "-v", f"{secret}:{SECRET}:ro",
        "-e", f"PCMK_NODE_LIST={node_list}", "-e", f"PCMK_AUTHKEY_PASSPHRASE={PASSPHRASE}",
        "--stop-timeout", "120",
    ]  # fmt: skip


# --- the cluster ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(built_image, module_resources) -> Cluster:
    res = module_resources
    require_commands("ipmi_sim", "ipmitool")
    probe = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "sh", built_image, "-c",
        "command -v fence_ipmilan",
    )  # fmt: skip
    require(
        probe.returncode == 0,
        f"fence_ipmilan is not in {built_image} (base {BASE_IMAGE}): Debian 13 has it as "
        "fence-agents-ipmilan (image/packages/cluster-where-available.txt); on Debian 12 build "
        "with EXTRA_PACKAGES=fence-agents",
    )

    network, subnet = create_network(res, "pa")
    gateway = inspect_network(network, "{{range .IPAM.Config}}{{.Gateway}}{{end}}")
    gateway = gateway or str(subnet[1])  # docker's default: the first address
    addrs = [str(subnet[i]) for i in (11, 12, 13)]
    vip = str(subnet[100])
    nodes = [f"{PREFIX}-pa{i}" for i in (1, 2, 3)]

    # the BMCs: one ipmi_sim per node on gateway:port, their power through `power`
    work = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-bmc-"))
    res.on_cleanup(lambda: shutil.rmtree(work, ignore_errors=True))  # runs last
    password = secrets.token_urlsafe(12)
    secret = work / "bmc-password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)  # root's, as in the node (pacemaker-fenced runs agents as root)
    power = Power(nodes)
    sock = work / "power.sock"
    power_socket = bmc.PowerSocket(sock, power)
    procs: list[subprocess.Popen] = []

    def stop_bmcs() -> None:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        power_socket.close()

    res.on_cleanup(stop_bmcs)
    ports = dict(zip(nodes, PORTS, strict=True))
    for node, port in ports.items():
        procs.append(bmc.start_sim(work / f"ipmi-{node}", node, gateway, sock, password, port))
    for node, port in ports.items():

        def answers(port: int = port) -> tuple[bool, str]:
            out = subprocess.run(
                ["ipmitool", "-I", "lanplus", "-C", bmc.CIPHER, "-H", gateway, "-p", str(port),
                 "-U", bmc.USER, "-E", "chassis", "power", "status"],
                capture_output=True, text=True, timeout=30,
                env={**os.environ, "IPMI_PASSWORD": password},
            )  # fmt: skip
            # off: its container does not exist yet
            return "Chassis Power is off" in out.stdout, (out.stdout + out.stderr).strip()

        wait_for(answers, 30, f"BMC of {node} ({gateway}:{port}) answers ipmitool")

    # the nodes
    t0 = time.monotonic()
    for node, addr in zip(nodes, addrs, strict=True):
        vols = (res.volume(f"{node}-pcmk"), res.volume(f"{node}-coro"))
        docker(
            *node_run_args(res.container(node), network, addr, " ".join(addrs), secret, vols),
            built_image,
            check=True,
        )
    for node in nodes:
        wait_formed(node, online=3, timeout=120)
    formed = time.monotonic() - t0
    print(f"profile A: docker run x3 -> 3 online with DC: {formed:.1f}s")
    measure("profile A: docker run x3 -> 3 online with DC", f"{formed:.1f}s")

    client = res.container(f"{PREFIX}-pa-client")
    docker(
        "run", "-d", "--name", client, "--network", network, "--entrypoint", "sleep",
        built_image, "infinity",
        check=True,
    )  # fmt: skip

    # fencing and the VIP, from one node (pcs commands as the README gives them)
    for node, port in ports.items():
        out = fence_ipmilan_status(nodes[0], gateway, port)
        assert out.returncode == 0 and "Status: ON" in out.stdout, (node, out)
    t0 = time.monotonic()
    for node, port in ports.items():
        pcs(
            nodes[0], "stonith", "create", f"fence-{node}", "fence_ipmilan",
            f"ip={gateway}", f"ipport={port}", f"username={bmc.USER}",
            f"password_script=cat {SECRET}", "lanplus=1", f"cipher={bmc.CIPHER}",
            f"pcmk_host_list={node}", "pcmk_reboot_action=off", timeout=90,
        )  # fmt: skip
        pcs(nodes[0], "constraint", "location", f"fence-{node}", "avoids", node, "--force",
            timeout=90)  # fmt: skip
    pcs(
        nodes[0], "resource", "create", VIP, "ocf:heartbeat:IPaddr2", f"ip={vip}",
        "cidr_netmask=24", "op", "monitor", "interval=5s", timeout=90,
    )  # fmt: skip
    pcs(nodes[0], "property", "set", "stonith-enabled=true", timeout=90)

    def started():
        mon = crm_mon(nodes[0])
        if mon is None:
            return False, "crm_mon not answering"
        want = [f"fence-{n}" for n in nodes] + [VIP]
        ok = all(mon.resources.get(r, {}).get("role") == "Started" for r in want)
        return ok, mon

    wait_for(started, 90, "3 fence devices and the VIP started", container=nodes[0])
    configured = time.monotonic() - t0
    print(f"profile A: pcs (3 devices, VIP, stonith on) -> all started: {configured:.1f}s")
    return Cluster(nodes, network, vip, gateway, client, power, ports)


# --- tests ----------------------------------------------------------------------------------


def test_three_profile_a_nodes_form_without_an_engine_socket(cluster):
    cl = cluster
    mask = sum(1 << CAP_BITS[c] for c in PROFILE_A_CAPS)
    for node in cl.nodes:
        mon = crm_mon(node)
        assert mon is not None and mon.online == sorted(cl.nodes) and mon.quorate, str(mon)
        status = json.loads(dexec(node, "pcmk-launch", "status", "--json").stdout)
        assert status["host"]["engine_socket"] is None, status["host"]
        assert status["healthy"] is True and status["missing_daemons"] == [], status
        proc1 = dexec(node, "cat", "/proc/1/status").stdout
        fields = dict(line.split(":\t", 1) for line in proc1.splitlines() if ":\t" in line)
        assert int(fields["CapBnd"], 16) == mask, (node, fields["CapBnd"], hex(mask))
        assert fields["NoNewPrivs"].strip() == "1", node
        assert inspect(node, "{{.HostConfig.ReadonlyRootfs}}") == "true"
        mounts = inspect(node, "{{range .Mounts}}{{.Source}} {{end}}")
        assert "docker.sock" not in mounts, mounts
        assert dexec(node, "test", "-e", "/var/run/docker.sock").returncode != 0
        assert dexec(node, "touch", "/usr/local/x").returncode != 0  # read-only root


def test_fence_devices_are_kept_off_their_node_and_no_password_is_in_the_cib(cluster):
    cl = cluster
    mon = crm_mon(cl.nodes[0])
    for node in cl.nodes:
        dev = mon.resources[f"fence-{node}"]
        assert dev["resource_agent"] == "stonith:fence_ipmilan", dev
        assert dev["role"] == "Started" and node not in dev["nodes"], dev
    prop = dexec(
        cl.nodes[0], "crm_attribute", "--type", "crm_config", "--name", "stonith-enabled",
        "--query", "--quiet",
    )  # fmt: skip
    assert prop.stdout.strip() == "true", prop
    verify = dexec(cl.nodes[0], "crm_verify", "--live-check", "-V")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    cib = dexec(cl.nodes[0], "cibadmin", "--query").stdout
    password = dexec(cl.nodes[0], "cat", SECRET).stdout.strip()
    assert password and password not in cib
    assert 'name="password_script"' in cib and 'name="password"' not in cib


def test_the_vip_moves_when_its_node_is_stopped(cluster):
    cl = cluster
    all_running(cl)
    wait_vip_answers(cl)
    holder = vip_nodes(cl.nodes[0])[0]
    others = [n for n in cl.nodes if n != holder]

    t0 = time.monotonic()
    stop = subprocess.Popen(
        ["docker", "stop", "-t", "120", holder],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        moved = wait_for(
            lambda: ((n := vip_nodes(others[0])) and n[0] in others, n),
            150,
            f"{VIP} started on one of {others}",
            interval=0.5,
        )
        t_started = time.monotonic() - t0
        wait_vip_answers(cl)
        t_answers = time.monotonic() - t0
        _, err = stop.communicate(timeout=180)
    finally:
        if stop.poll() is None:
            stop.kill()
    t_stopped = time.monotonic() - t0
    assert stop.returncode == 0, err
    assert inspect(holder, "{{.State.ExitCode}}") == "0", logs(holder)[-3000:]
    assert "SIGKILL" not in logs(holder)
    mon = crm_mon(others[0])
    assert mon.quorate and mon.online == sorted(others), str(mon)
    assert mon.nodes[holder]["unclean"] == "false", mon.nodes[holder]
    for line in (
        f"VIP move: docker stop {holder} -> {VIP} Started on {moved[0]}: {t_started:.1f}s",
        f"VIP move: docker stop {holder} -> {VIP} answers a ping: {t_answers:.1f}s",
        f"VIP move: docker stop {holder} returned (exit 0): {t_stopped:.1f}s",
    ):
        print(line)
        key, _, value = line.rpartition(": ")
        measure(f"profile A: {key}", value)

    docker("start", holder, check=True)
    t0 = time.monotonic()
    wait_formed(others[0], online=3, timeout=120)
    print(f"VIP move: docker start {holder} -> 3 online: {time.monotonic() - t0:.1f}s")


def test_an_unresponsive_node_is_powered_off_by_its_bmc(cluster):
    cl = cluster
    all_running(cl)
    mon = crm_mon(cl.nodes[0])
    holder = vip_nodes(cl.nodes[0])[0]
    # neither the VIP's node (the survivors are to keep the VIP where it runs, answering)
    # nor the DC (its loss adds an election: another scenario)
    candidates = [n for n in cl.nodes if n not in (holder, mon.dc)]
    victim = candidates[-1]
    survivors = [n for n in cl.nodes if n != victim]

    t_freeze = time.time()
    t0 = time.monotonic()
    docker("pause", victim, check=True)
    wait_for(
        lambda: ((s := container_state(victim)) == "exited", s),
        90,
        f"{victim} powered off by its BMC",
        interval=0.5,
    )
    t_killed = time.monotonic() - t0
    # what the BMCs were asked since the freeze: one power off, of the victim, done by it
    asked = wait_for(
        lambda: (bool(r := cl.power.since(t_freeze)) and r[0].result is not None, r),
        30,
        "the BMC's power off done",
    )
    assert {(r.op, r.node) for r in asked} == {("off", victim)}, asked
    assert asked[0].result == "ok", asked
    assert inspect(victim, "{{.State.Running}}") == "false"
    assert inspect(victim, "{{.State.ExitCode}}") == "137"  # SIGKILL: a power cut
    for node in survivors:
        assert container_state(node) == "running", node

    def fenced():
        events = [
            e
            for e in fence_history(survivors[0], victim)
            if e.get("status") == "success" and completed(e) >= int(t_freeze)
        ]
        return bool(events), events

    events = wait_for(fenced, 60, f"successful fencing of {victim} in the history")
    t_fenced = completed(events[0]) - t_freeze
    assert events[0]["target"] == victim and events[0]["delegate"] in survivors, events
    assert events[0]["action"] in ("off", "reboot"), events

    def settled():
        m = crm_mon(survivors[0])
        ok = (
            m is not None and m.quorate and m.online == sorted(survivors)
            and m.nodes[victim]["unclean"] == "false"
        )  # fmt: skip
        return ok, m

    mon = wait_for(settled, 30, f"{victim} clean offline, quorum kept", container=survivors[0])
    vip_now = vip_nodes(survivors[0])
    assert vip_now and vip_now[0] in survivors, str(mon)
    wait_vip_answers(cl)
    for line in (
        f"fence: docker pause {victim} -> BMC power off asked: {asked[0].t - t_freeze:.1f}s",
        f"fence: docker pause {victim} -> container exited: {t_killed:.1f}s",
        f"fence: docker pause {victim} -> fence success (history): {t_fenced:.1f}s",
    ):
        print(line)
        key, _, value = line.rpartition(": ")
        measure(f"profile A: {key}", value)

    docker("start", victim, check=True)
    t0 = time.monotonic()
    wait_formed(survivors[0], online=3, timeout=120)
    print(f"fence: docker start {victim} -> 3 online: {time.monotonic() - t0:.1f}s")
    if vip_now != [holder]:
        print(f"fence: {VIP} moved from {holder} to {vip_now} meanwhile")
