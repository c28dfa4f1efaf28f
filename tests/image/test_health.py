"""HEALTHCHECK (`pcmk-launch health`): healthy only when this node is online in a quorate
partition with a DC. The turn to `healthy` is checked in test_standalone / test_compose;
here the negative cases, with `docker exec ... pcmk-launch health` directly (faster than
Docker's own status, whose first check runs one 10 s interval after the start).
"""

from __future__ import annotations

import json

from tests.image.dockerutil import (
    PASSPHRASE,
    PREFIX,
    create_network,
    dexec,
    docker,
    health_log,
    health_status,
    wait_for,
)


def test_health_without_a_running_cluster_is_exit_1_with_one_line(built_image):
    out = docker("run", "--rm", "--network", "none", built_image, "health", timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.startswith("unhealthy: ") and out.stdout.count("\n") == 1, out.stdout


def test_node_without_quorum_is_not_healthy(built_image, resources):
    """One container of a 3-node PCMK_NODE_LIST whose two peers never come."""
    network, subnet = create_network(resources, "lonely")
    addrs = [str(subnet[i]) for i in (11, 12, 13)]
    name = resources.container(f"{PREFIX}-lonely")
    docker(
        "run", "-d", "--network", network, "--ip", addrs[0], "--hostname", name, "--name", name,
        "-e", f"PCMK_NODE_LIST={' '.join(addrs)}", "-e", f"PCMK_AUTHKEY_PASSPHRASE={PASSPHRASE}",
        built_image,
        check=True,
    )  # fmt: skip

    def no_quorum():
        out = dexec(name, "pcmk-launch", "health")
        return "no quorum" in out.stdout, out

    out = wait_for(no_quorum, 60, "health reports no quorum", container=name)
    assert out.returncode == 1
    assert out.stdout == "unhealthy: this partition has no quorum\n", out.stdout

    status = dexec(name, "pcmk-launch", "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    data = json.loads(status.stdout)
    assert data["running"] and data["local_node"] == name
    assert data["quorate"] is False and data["healthy"] is False, data
    (node,) = [n for n in data["nodes"] if n["name"] == name]
    assert node["online"] is True and node["standby"] is False, data
    assert node["id"].isdigit(), data  # corosync's nodeid, for `nodes` and leftovers

    # Docker runs the same check: its first result (after one 10 s interval) is a failure
    entries = wait_for(
        lambda: (bool(log := health_log(name)), log), 30, "first health check", interval=0.5
    )
    assert entries[0]["ExitCode"] == 1, entries
    assert entries[0]["Output"].startswith("unhealthy: "), entries
    assert health_status(name) != "healthy"
