"""A hardened node on a real engine (issue 24, the container side of profile A): no engine
socket, every capability dropped but the minimal set, no-new-privileges, a read-only root
with tmpfs where the launcher and the daemons write. It forms, runs an IPaddr2 VIP that
answers from another container, reports what it got, refuses what it must not do, and stops
cleanly with exit 0. Without NET_ADMIN the launcher says at start that VIPs will fail, and
the VIP does fail."""

from __future__ import annotations

import json

from tests.harness.pinger import PING_PY
from tests.image.dockerutil import (
    PREFIX,
    create_network,
    crm_mon,
    dexec,
    docker,
    logs,
    wait_for,
    wait_formed,
)

MINIMAL = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETUID", "SETGID", "NET_RAW", "SYS_NICE")
HARDENED = [
    "--cap-drop=ALL",
    *(f"--cap-add={c}" for c in MINIMAL),
    "--security-opt=no-new-privileges",
    "--read-only",
    "--tmpfs=/run",
    "--tmpfs=/tmp",
    "--tmpfs=/etc/corosync",
    "--tmpfs=/var/log",
]


def start(built_image, resources, tag: str, net_admin: bool) -> tuple[str, str, str]:
    network, subnet = create_network(resources, f"hard-{tag}")
    node_ip, vip = str(subnet[10]), str(subnet[100])
    name = resources.container(f"{PREFIX}-hard-{tag}")
    caps = ["--cap-add=NET_ADMIN"] if net_admin else []
    docker(
        "run", "-d", *HARDENED, *caps, "--network", network, "--ip", node_ip,
        "--hostname", name, "--name", name,
        "-v", f"{resources.volume(f'{PREFIX}-hard-{tag}-pcmk')}:/var/lib/pacemaker",
        "-v", f"{resources.volume(f'{PREFIX}-hard-{tag}-coro')}:/var/lib/corosync",
        built_image,
        check=True,
    )  # fmt: skip
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
