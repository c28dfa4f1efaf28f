"""A VIP with ocf:heartbeat:IPaddr2 in a standalone container on a user network.

The README way is `--privileged`; compose.yaml instead adds only NET_ADMIN (plus SYS_NICE,
IPC_LOCK). Both are tried. `--privileged` needs an engine that may hand out every capability
(it fails with "unable to apply caps" where dockerd itself lacks one, e.g. CAP_SYS_RESOURCE in
a restricted VM or container): then that variant is an expected failure (xfail) naming the
engine's error; any other refusal fails.
"""

from __future__ import annotations

import pytest

from tests.harness.pinger import PING_PY
from tests.image.dockerutil import (
    PREFIX,
    create_network,
    crm_mon,
    dexec,
    docker,
    wait_for,
    wait_formed,
)
from tests.prereq import require


def eth0_addresses(container: str) -> str:
    out = dexec(container, "ip", "-o", "-4", "addr", "show", "dev", "eth0")
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("mode", ["privileged", "net_admin"])
def test_ipaddr2_vip_appears_on_eth0_and_answers(built_image, resources, mode):
    if mode == "privileged":
        probe = docker(
            "run", "--rm", "--privileged", "--network", "none",
            "--name", resources.container(f"{PREFIX}-privprobe"), built_image, "true",
        )  # fmt: skip
        reason = (probe.stderr.strip().splitlines() or ["?"])[0]
        if probe.returncode != 0 and "apply caps" in reason:
            # The sandbox's dockerd lacks capabilities itself: no install step can fix that,
            # so this is recorded as an expected failure of the machine, not skipped.
            pytest.xfail(f"this engine cannot run --privileged containers: {reason}")
        require(probe.returncode == 0, f"this engine cannot run --privileged containers: {reason}")
        caps = ["--privileged"]
    else:
        caps = ["--cap-add=NET_ADMIN"]
    network, subnet = create_network(resources, f"vip-{mode}")
    node_ip, vip = str(subnet[10]), str(subnet[100])
    name = resources.container(f"{PREFIX}-vip-{mode.replace('_', '')}")
    docker(
        "run", "-d", *caps, "--network", network, "--ip", node_ip, "--hostname", name,
        "--name", name, built_image,
        check=True,
    )  # fmt: skip
    wait_formed(name, online=1, timeout=90)

    out = dexec(name, "pcs", "property", "set", "stonith-enabled=false")
    assert out.returncode == 0, out.stdout + out.stderr
    out = dexec(
        name, "pcs", "resource", "create", "vip", "ocf:heartbeat:IPaddr2",
        f"ip={vip}", "cidr_netmask=24",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr

    wait_for(
        lambda: (f"inet {vip}/24" in (a := eth0_addresses(name)), a),
        60,
        f"{vip}/24 on eth0",
        container=name,
    )
    mon = crm_mon(name)
    assert mon.resources["vip"]["role"] == "Started" and mon.resources["vip"]["nodes"] == [name]
    status = dexec(name, "pcmk-launch", "status")
    assert f"resource vip (ocf:heartbeat:IPaddr2) {vip}: Started on {name}" in status.stdout, (
        status.stdout
    )

    # another container on the same network reaches the VIP (ARP + ICMP)
    pinger = resources.container(f"{PREFIX}-pinger-{mode.replace('_', '')}")
    ping = docker(
        "run", "--rm", "--name", pinger, "--network", network, "--entrypoint", "python3",
        built_image, "-c", PING_PY, vip, "10", "0.5", "0.5",  # the image has python3, no ping
        timeout=60,
    )  # fmt: skip
    assert ping.returncode == 0 and "reply " in ping.stdout, ping.stdout + ping.stderr

    out = dexec(name, "pcs", "resource", "delete", "vip", timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"inet {vip}/" not in eth0_addresses(name)
    assert f"inet {node_ip}/24" in eth0_addresses(name)
