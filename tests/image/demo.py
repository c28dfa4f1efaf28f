"""The compose demo (compose.yaml) as a test fixture helper, shared by the compose and
fencing tests: both need the same containers node1..node3 on 198.18.0.0/24."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import time
from dataclasses import dataclass

from tests.image.dockerutil import PREFIX, ROOT, container_names, docker, used_subnets
from tests.prereq import require

NODES = ("node1", "node2", "node3")
DEMO_SUBNET = ipaddress.ip_network("198.18.0.0/24")


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
    command = compose_command()
    taken = set(NODES) & container_names()
    require(not taken, f"containers {sorted(taken)} exist already (make demo-down?)")
    clash = [s for s in used_subnets() if s.version == 4 and s.overlaps(DEMO_SUBNET)]
    require(not clash, f"{DEMO_SUBNET} is in use already ({clash}; make demo-down?)")

    project = f"{PREFIX}-compose"
    command = [*command, "-p", project, "-f", str(ROOT / "compose.yaml")]
    demo = Demo(project, command, {**os.environ, "IMAGE": built_image})
    resources.on_cleanup(
        lambda: demo.compose("down", "--volumes", "--remove-orphans", "-t", str(down_timeout))
    )
    for node in NODES:  # in case `down` fails: removed by name, then the project's network
        resources.container(node)
    resources.network(f"{project}_cluster")

    t0 = time.monotonic()
    up = demo.compose("up", "-d", timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    formed = subprocess.run(
        [str(ROOT / "image/wait-demo.sh"), "--nodes", "3", "--timeout", "120"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert formed.returncode == 0, formed.stdout + formed.stderr
    demo.formed_output, demo.formed_after = formed.stdout, time.monotonic() - t0
    return demo
