"""A cluster of full nodes, one per Docker host (tests/image/engines.py), laid out as on real
machines: each node runs with `--net=host` on its host, holds its host's engine socket and
its host's /etc/pacemaker (where the launcher installs the remote key that Pacemaker maps
into bundle replicas), and is fenced by a fence_docker_api device aimed at its host's engine
over TCP (each test engine listens on its host address, port 2375, plain HTTP: only the
test's switch reaches it).

Also: bundle replicas as crm_mon's XML shows them (`replicas`).
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from tests.image.dockerutil import PREFIX, Mon, node_env, parse_crm_mon, wait_for
from tests.image.engines import ENGINE_TCP_PORT, Engines

REMOTE_KEY = f"pdtest hosts remote key {PREFIX}"


@dataclass
class Replica:
    """One replica of a bundle: its index, the cluster node running its container (None when
    stopped), its guest node's name, its address (ip-range-start), and the role and node of
    the bundle's resource in it ('Stopped' when not running)."""

    index: int
    host: str | None
    guest: str
    address: str | None
    role: str


def replicas(xml: str, bundle: str) -> list[Replica]:
    root = ET.fromstring(xml)
    found = []
    for b in root.iter("bundle"):
        if b.get("id") != bundle:
            continue
        for rep in b.iter("replica"):
            index = int(rep.get("id", "0"))
            host, address, role = None, None, "Stopped"
            for res in rep.iter("resource"):
                rid = res.get("id", "")
                nodes = [n.get("name") for n in res.iter("node")]
                active = res.get("active") == "true" and res.get("failed") != "true"
                if rid == f"{bundle}-docker-{index}" or rid == f"{bundle}-podman-{index}":
                    host = nodes[0] if active and nodes else None
                elif rid.startswith(f"{bundle}-ip-"):
                    address = rid[len(f"{bundle}-ip-") :]
                elif rid != f"{bundle}-{index}" and active:
                    role = res.get("role", "Stopped")
            found.append(Replica(index, host, f"{bundle}-{index}", address, role))
    return sorted(found, key=lambda r: r.index)


class HostCluster:
    """Nodes node1..nodeN, node i on host i of `engines`; `props`: PCMK_CLUSTER_PROPERTIES."""

    def __init__(self, engines: Engines, image: str, props: str) -> None:
        self.engines, self.image, self.props = engines, image, props
        self.host = {f"node{h.index}": h for h in engines.hosts}
        self.nodes = tuple(self.host)

    def run(self, node: str) -> None:
        host = self.host[node]
        node_list = " ".join(f"{n}={h.address}" for n, h in self.host.items())
        # as DNS would: a replica without ip-range-start is reached at its node's name
        names = [arg for n, h in self.host.items() for arg in ("--add-host", f"{n}:{h.address}")]
        host.docker(
            "run", "-d", "--name", node, "--net=host", *names,
            "--cap-add=NET_ADMIN",  # IPaddr2: VIPs and the replicas' addresses
            "-v", f"{host.sock_path}:/var/run/docker.sock",
            "-v", "/etc/pacemaker:/etc/pacemaker",
            *node_env(node_list, REMOTE_KEY, self.props),
            "--stop-timeout", "120", self.image,
            check=True,
        )  # fmt: skip

    def start(self) -> None:
        for node in self.nodes:
            self.run(node)
        self.wait_formed(self.nodes[0], len(self.nodes))

    def exec(self, node: str, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return self.host[node].docker("exec", node, *cmd, timeout=timeout)

    def pcs(self, node: str, *args: str, timeout: float = 60) -> str:
        out = self.exec(node, "pcs", *args, timeout=timeout)
        assert out.returncode == 0, f"pcs {' '.join(args)} on {node}: {out.stdout}{out.stderr}"
        return out.stdout

    def running(self, node: str) -> bool:
        out = self.host[node].docker("inspect", "-f", "{{.State.Running}}", node)
        return out.stdout.strip() == "true"

    def any_up(self) -> str:
        for node in self.nodes:
            if self.running(node):
                return node
        raise AssertionError("no node running")

    def mon_xml(self, node: str | None = None) -> str:
        out = self.exec(node or self.any_up(), "crm_mon", "-1", "--output-as=xml", timeout=30)
        return out.stdout

    def mon(self, node: str | None = None) -> Mon | None:
        return parse_crm_mon(self.mon_xml(node))

    def wait_formed(self, node: str, online: int, timeout: float = 120) -> Mon:
        def probe():
            mon = self.mon(node)
            ok = mon is not None and mon.dc is not None and mon.quorate
            return ok and len([n for n in mon.online if n in self.host]) >= online, mon

        return wait_for(probe, timeout, f"{node}: {online} nodes online with a DC")

    def add_fencing(self) -> None:
        """A fence_docker_api device per node, aimed at its host's engine over TCP on the
        management network (the stand-in for the host's BMC: engines.py). A fenced
        node stays off (pcmk_reboot_action=off), as a power-cut machine does until someone
        turns it on: the test decides when it comes back."""
        node = self.any_up()
        for name, host in self.host.items():
            self.pcs(
                node, "stonith", "create", f"fence-{name}", "fence_docker_api",
                f"ip={host.mgmt_address}", f"ipport={ENGINE_TCP_PORT}", "ssl=0", f"plug={name}",
                f"pcmk_host_list={name}", "pcmk_reboot_action=off",
            )  # fmt: skip

    def replicas(self, bundle: str) -> list[Replica]:
        return replicas(self.mon_xml(), bundle)

    def logs(self, node: str, tail: int = 60) -> str:
        out = self.host[node].docker("logs", "--tail", str(tail), node, timeout=60)
        return out.stdout + out.stderr

    def dump_logs(self, tail: int = 60) -> None:
        for node in self.nodes:
            print(f"--- {node} (on {self.host[node].name}) ---\n{self.logs(node, tail)}")
        if any(self.running(n) for n in self.nodes):
            node = self.any_up()
            for cmd in (("crm_mon", "-1", "-rf"), ("stonith_admin", "--history", "*", "-V")):
                out = self.exec(node, *cmd, timeout=30)
                print(f"--- {' '.join(cmd)} on {node} ---\n{out.stdout}{out.stderr}")
