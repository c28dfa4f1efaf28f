"""A hardened node on a real engine (issue 24, the container side of profile A): no engine
socket, every capability dropped but the minimal set, no-new-privileges, a read-only root
with tmpfs where the launcher and the daemons write. It forms, runs an IPaddr2 VIP that
answers from another container, reports what it got, refuses what it must not do, and stops
cleanly with exit 0.

Then each capability of the minimal set is dropped in turn. Measured with the launcher's
check out of the way (see the README's profiles): without CHOWN or DAC_OVERRIDE the
launcher's own writes fail, without FOWNER corosync cannot share its IPC files and
pacemaker-based exits fatally, without KILL pacemakerd cannot stop its hacluster daemons and
`docker stop` ends in SIGKILL, without SETGID no subdaemon starts. So the launcher refuses
those at once (exit 2) naming each; here that refusal is checked. Without SETUID the stack
runs, its daemons as root (said, and checked); NET_ADMIN and NET_RAW are VIPs'; SYS_NICE is
corosync's real-time priority (said, and what corosync got is checked)."""

from __future__ import annotations

import json

import pytest

from tests.harness.pinger import PING_PY
from tests.image.dockerutil import (
    PREFIX,
    PROFILE_A_CAPS,
    container_state,
    create_network,
    crm_mon,
    dexec,
    docker,
    logs,
    wait_for,
    wait_formed,
)

REFUSED_WITHOUT = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID")
HARDENED = [
    "--security-opt=no-new-privileges",
    "--read-only",
    "--tmpfs=/run",
    "--tmpfs=/tmp",
    "--tmpfs=/etc/corosync",
    "--tmpfs=/var/log",
]


def caps(net_admin: bool = True, drop: str = "") -> list[str]:
    keep = [c for c in PROFILE_A_CAPS if c != drop and (net_admin or c != "NET_ADMIN")]
    return ["--cap-drop=ALL", *(f"--cap-add={c}" for c in keep)]


def start(
    built_image, resources, tag: str, net_admin: bool = True, drop: str = "", formed: bool = True
) -> tuple[str, str, str]:
    network, subnet = create_network(resources, f"hard-{tag}")
    node_ip, vip = str(subnet[10]), str(subnet[100])
    name = resources.container(f"{PREFIX}-hard-{tag}")
    docker(
        "run", "-d", *caps(net_admin, drop), *HARDENED, "--network", network, "--ip", node_ip,
        "--hostname", name, "--name", name,
        "-v", f"{resources.volume(f'{PREFIX}-hard-{tag}-pcmk')}:/var/lib/pacemaker",
        "-v", f"{resources.volume(f'{PREFIX}-hard-{tag}-coro')}:/var/lib/corosync",
        built_image,
        check=True,
    )  # fmt: skip
    if formed:
        wait_formed(name, online=1, timeout=120)
    return name, network, vip


def create_vip(name: str, vip: str) -> None:
    for cmd in (
        ["pcs", "property", "set", "stonith-enabled=false"],
        ["pcs", "resource", "create", "vip", "ocf:heartbeat:IPaddr2", f"ip={vip}",
         "cidr_netmask=24", "op", "monitor", "interval=5s"],
    ):  # fmt: skip
        out = dexec(name, *cmd)
        assert out.returncode == 0, out.stdout + out.stderr


def test_a_hardened_node_forms_runs_a_vip_and_stops_cleanly(built_image, resources):
    name, network, vip = start(built_image, resources, "a", net_admin=True)
    create_vip(name, vip)
    wait_for(
        lambda: ((m := crm_mon(name)) is not None and m.resources.get("vip", {}).get("role")
                 == "Started", m),
        60, "vip started", container=name,
    )  # fmt: skip
    client = resources.container(f"{PREFIX}-hard-client")
    out = docker(
        "run", "--rm", "--network", network, "--name", client, "--entrypoint", "python3",
        built_image, "-c", PING_PY, vip, "10", "0.5", "0.5",  # the image has python3, no ping
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 0 and "reply " in out.stdout, out.stdout + out.stderr

    status = json.loads(dexec(name, "pcmk-launch", "status", "--json").stdout)
    assert status["host"]["engine_socket"] is None
    assert dexec(name, "ps", "-o", "user=", "-C", "pacemaker-based").stdout.strip() == "hacluster"
    assert "SYS_ADMIN" not in status["host"]["caps"] and "NET_ADMIN" in status["host"]["caps"]
    assert status["missing_daemons"] == [] and status["healthy"] is True
    text = logs(name)
    assert "socket buffers: 8 MiB for knet (CAP_NET_ADMIN" in text
    assert "engine socket: none mounted" in text

    # what it must not be able to do
    assert dexec(name, "touch", "/usr/local/x").returncode != 0  # read-only root
    assert dexec(name, "mount", "-t", "tmpfs", "x", "/mnt").returncode != 0  # no SYS_ADMIN
    assert dexec(name, "test", "-e", "/var/run/docker.sock").returncode != 0

    out = docker("stop", "-t", "120", name, timeout=180)
    assert out.returncode == 0, out.stderr
    code = docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
    assert code == "0", logs(name)[-3000:]


def test_without_net_admin_the_launcher_says_vips_will_fail_and_they_do(built_image, resources):
    name, _, vip = start(built_image, resources, "b", net_admin=False)
    text = logs(name)
    assert "WARNING: IPaddr2 VIPs: will fail: no CAP_NET_ADMIN" in text, text[-3000:]
    assert "Fix: --cap-add=NET_ADMIN" in text
    create_vip(name, vip)
    wait_for(
        lambda: ((m := crm_mon(name)) is not None and m.resources.get("vip", {}).get("role")
                 in ("Stopped", "Failed") and "vip" in dexec(name, "crm_mon", "-1").stdout, m),
        60, "vip refused to start", container=name,
    )  # fmt: skip
    failed = dexec(name, "crm_mon", "-1", "--output-as=xml").stdout
    assert 'id="vip"' in failed and "failure" in failed, failed[-2000:]


@pytest.mark.parametrize("cap", REFUSED_WITHOUT)
def test_without_a_capability_the_stack_cannot_do_without_the_node_is_refused(
    built_image, resources, cap
):
    name, _, _ = start(built_image, resources, cap.lower().replace("_", ""), drop=cap,
                       formed=False)  # fmt: skip
    wait_for(lambda: ((s := container_state(name)) == "exited", s), 60, "refused", container=name)
    assert docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "2"
    text = logs(name)
    assert f"CAP_{cap}: " in text and f"--cap-add={cap}" in text, text[-2000:]
    assert "nothing was written or started" in text


def test_without_setuid_the_daemons_run_as_root_and_the_launcher_says_so(built_image, resources):
    name, _, _ = start(built_image, resources, "setuid", drop="SETUID")
    assert dexec(name, "ps", "-o", "user=", "-C", "pacemaker-based").stdout.strip() == "root"
    assert "WARNING: least privilege: no CAP_SETUID" in logs(name)


def test_net_raw_is_what_sends_arp_and_sys_nice_what_asks_for_real_time(built_image, resources):
    raw = "import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)"
    name, _, _ = start(built_image, resources, "noraw", drop="NET_RAW")
    assert dexec(name, "python3", "-c", raw).returncode != 0  # no ARP announcement
    assert "WARNING: IPaddr2 VIPs: will fail: no CAP_NET_RAW" in logs(name)
    name2, _, _ = start(built_image, resources, "nonice", drop="SYS_NICE")
    status = json.loads(dexec(name2, "pcmk-launch", "status", "--json").stdout)
    assert status["corosync"]["scheduler"] == "SCHED_OTHER"
    assert "WARNING: real-time scheduling: not available" in logs(name2)
