"""Membership changes on a real engine (issue 25): containers on a bridge network, changed with
`docker exec ... pcmk-launch nodes` as the README says, none re-created.

Two nodes grow to three (two_node goes off, expected votes 3), a `docker restart` keeps the
changed list although the container's PCMK_NODE_LIST is the old one, then a stopped node is
removed (back to two: two_node on again) and purged from the CIB. A Dummy stays where it is
throughout and quorum is kept.
"""

from __future__ import annotations

import re

import pytest

from tests.image.dockerutil import (
    PASSPHRASE,
    PREFIX,
    create_network,
    crm_mon,
    dexec,
    docker,
    logs,
    wait_for,
)

PROPS = "dc-deadtime=1s stonith-enabled=false"


class Nodes:
    def __init__(self, image: str, resources, network: str, subnet):
        self.image, self.resources, self.network = image, resources, network
        self.addr = {f"m{i}": str(subnet[10 + i]) for i in (1, 2, 3)}
        self.name = {n: f"{PREFIX}-mem-{n}" for n in self.addr}

    def run(self, node: str, node_list: str) -> None:
        name = self.resources.container(self.name[node])
        vols = []
        for path, tag in (("/var/lib/pacemaker", "pcmk"), ("/var/lib/corosync", "coro")):
            vols += ["-v", f"{self.resources.volume(f'{name}-{tag}')}:{path}"]
        docker(
            "run", "-d", "--name", name, "--hostname", node, "--network", self.network,
            "--ip", self.addr[node], *vols, "-e", f"PCMK_NODE_LIST={node_list}",
            "-e", f"PCMK_AUTHKEY_PASSPHRASE={PASSPHRASE}", "-e", f"PCMK_CLUSTER_PROPERTIES={PROPS}",
            "--stop-timeout", "120", self.image,
            check=True,
        )  # fmt: skip

    def nodes(self, node: str, *words: str) -> str:
        out = dexec(self.name[node], "pcmk-launch", "nodes", *words, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        return re.search(r"^this node now runs: (.+)$", out.stdout, re.M).group(1)

    def quorum(self, node: str) -> tuple[int, bool]:
        """Expected votes and whether two_node is on (corosync-quorumtool's 2Node flag)."""
        out = dexec(self.name[node], "corosync-quorumtool", "-s").stdout
        votes = re.search(r"^Expected votes:\s+(\d+)", out, re.M)
        flags = re.search(r"^Flags:\s+(.*)$", out, re.M)
        assert votes and flags, out
        return int(votes.group(1)), "2Node" in flags.group(1).split()

    def members_agree(self, nodes: list[str], two_node: bool) -> None:
        """Every node: exactly `nodes` in its CIB, all online, votes and two_node to match."""
        for n in nodes:
            wait_for(
                lambda n=n: (
                    (m := crm_mon(self.name[n])) is not None
                    and m.quorate
                    and m.online == sorted(nodes) == sorted(m.nodes),
                    m,
                ),
                120,
                f"{n}: exactly {nodes} online",
                container=self.name[n],
            )
            assert self.quorum(n) == (len(nodes), two_node)


@pytest.fixture(scope="module")
def cluster(built_image, module_resources):
    network, subnet = create_network(module_resources, "mem")
    c = Nodes(built_image, module_resources, network, subnet)
    first = f"m1={c.addr['m1']} m2={c.addr['m2']}"
    c.run("m1", first)
    c.run("m2", first)
    c.members_agree(["m1", "m2"], two_node=True)
    out = dexec(c.name["m1"], "pcs", "resource", "create", "dummy", "ocf:pacemaker:Dummy")
    assert out.returncode == 0, out.stderr
    wait_for(
        lambda: (
            bool((m := crm_mon(c.name["m1"])) and m.resources.get("dummy", {}).get("nodes")),
            m,
        ),
        60,
        "the Dummy started",
    )
    return c


def dummy_node(c: Nodes) -> list[str]:
    mon = crm_mon(c.name["m1"])
    assert mon is not None and mon.quorate, mon
    return mon.resources["dummy"]["nodes"]


def test_grow_from_2_to_3_with_docker_exec(cluster):
    c = cluster
    where = dummy_node(c)
    lists = {c.nodes(n, "add", f"m3={c.addr['m3']}") for n in ("m1", "m2")}
    assert len(lists) == 1
    new = lists.pop()
    assert new.endswith(f"m3={c.addr['m3']}@3")
    c.run("m3", new)
    c.members_agree(["m1", "m2", "m3"], two_node=False)
    assert dummy_node(c) == where


def test_docker_restart_keeps_the_changed_list(cluster):
    c = cluster
    out = docker("restart", "-t", "120", c.name["m1"], timeout=300)
    assert out.returncode == 0, out.stderr
    c.members_agree(["m1", "m2", "m3"], two_node=False)
    assert "node list: the one changed by `pcmk-launch nodes add" in logs(c.name["m1"], 400)


def test_remove_a_stopped_node_back_to_two(cluster):
    c = cluster
    leaver = next(n for n in ("m2", "m3") if n not in dummy_node(c))
    out = docker("stop", "-t", "120", c.name[leaver], timeout=300)
    assert out.returncode == 0, out.stderr
    stays = [n for n in ("m1", "m2", "m3") if n != leaver]
    for n in stays:
        assert f"{leaver}=" not in c.nodes(n, "remove", leaver)
    c.members_agree(stays, two_node=True)
    status = dexec(c.name[stays[0]], "pcmk-launch", "status").stdout
    assert "leftover" not in status and "node list: " in status, status
