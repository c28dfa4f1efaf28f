"""The compose demo (compose.yaml) as a test fixture helper, shared by the compose and
fencing tests. It runs beside a user's `make demo`, never instead of it: its own project,
container names and hostnames (<PREFIX>-node1..3, compose.yaml's DEMO_NAME), volumes and
network, on a free /24 of the tests' own range (DEMO_NET) instead of 198.18.0.0/24."""

from __future__ import annotations

import ipaddress
import os
import random
import shutil
import subprocess
import time
from dataclasses import dataclass

from tests.image.dockerutil import PREFIX, ROOT, TEST_SUPERNET, docker, used_subnets
from tests.prereq import require

NAME = f"{PREFIX}-node"
NODES = tuple(f"{NAME}{i}" for i in (1, 2, 3))


def compose_command() -> list[str]:
    if docker("compose", "version").returncode == 0:
        return ["docker", "compose"]
    require(shutil.which("docker-compose") is not None, "neither docker compose nor docker-compose")
    return ["docker-compose"]


@dataclass
class Demo:
    project: str
    command: list[str]
    env: dict[str, str]
    formed_output: str = ""
    formed_after: float = 0.0

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.command, *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )


def start_demo(built_image: str, resources, down_timeout: int = 120) -> Demo:
    """compose up the demo and wait until 3 nodes are online with a DC; `down` on cleanup."""
    project = f"{PREFIX}-compose"
    command = [*compose_command(), "-p", project, "-f", str(ROOT / "compose.yaml")]
    subnet = free_subnet()
    env = {**os.environ, "IMAGE": built_image, "DEMO_NAME": NAME, "DEMO_NET": demo_net(subnet)}
    demo = Demo(project, command, env)
    resources.on_cleanup(
        lambda: demo.compose("down", "--volumes", "--remove-orphans", "-t", str(down_timeout))
    )
    for node in NODES:  # in case `down` fails: removed by name, then the project's network
        resources.container(node)
    resources.container(f"{NAME}-engine-filter")
    resources.network(f"{project}_cluster")
    resources.volume(f"{project}_engine-filter")

    t0 = time.monotonic()
    up = demo.compose("up", "-d", timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    formed = subprocess.run(
        [str(ROOT / "image/wait-demo.sh"), "--nodes", "3", "--timeout", "120", "-c", NODES[0]],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert formed.returncode == 0, formed.stdout + formed.stderr
    demo.formed_output, demo.formed_after = formed.stdout, time.monotonic() - t0
    return demo


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 of the tests' range that no network or route of this host uses."""
    used = [u for u in used_subnets() if u.version == 4]
    candidates = list(TEST_SUPERNET.subnets(new_prefix=24))
    random.shuffle(candidates)
    for subnet in candidates:
        if not any(subnet.overlaps(u) for u in used):
            return subnet
    raise AssertionError(f"no free /24 left in {TEST_SUPERNET}")


def demo_net(subnet: ipaddress.IPv4Network) -> str:
    """compose.yaml's DEMO_NET: the first three octets (nodes are .11, .12, .13)."""
    return str(subnet.network_address).rsplit(".", 1)[0]
