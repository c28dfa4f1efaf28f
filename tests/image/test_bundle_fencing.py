"""Fencing covers bundles (issue 26): a node fenced through fence_docker_api loses its bundle
replicas too, before the fence reports success, so that a replica never runs twice.

A bundle replica is a sibling container on the node's engine (Pacemaker starts it through
`ocf:heartbeat:docker`). Killing only the node's container would leave it running; after the
fence Pacemaker starts the replica on another node: on another engine a second copy, on this
test's shared engine the docker agent finds the old one running and adopts it. Here two full
nodes with the engine's raw socket (profile C) and a fence_docker_api device each; the node
that runs the replica is frozen (`docker pause`). Its replica container must die (the engine's
own event) before the fence succeeds, and a new replica starts on the other node after.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.image.bundleutil import (
    Cluster,
    bridge_network,
    build_bundle_image,
    create_bundle,
    free_port,
    http_get,
    started,
)
from tests.image.dockerutil import (
    PREFIX,
    completed,
    docker,
    fence_history,
    inspect,
    measure,
    pcs,
    wait_for,
)

NODES = ("f1", "f2")
BUNDLE = f"{PREFIX}-fweb"
REPLICA = f"{BUNDLE}-docker-0"
PROPS = "dc-deadtime=1s stonith-enabled=false"  # enabled once the devices are in


@pytest.fixture(scope="module")
def fenced_bundle(built_image, module_resources):
    build_bundle_image(module_resources)
    c = Cluster(built_image, module_resources, NODES, PROPS, "bfence")
    c.start()
    first = c.name[NODES[0]]
    for n in NODES:
        # off, not reboot: on this shared engine a restarted node's probe would find the
        # replica's container (same name) running and report it active on 2 nodes
        pcs(
            first, "stonith", "create", f"fence_{n}", "fence_docker_api", f"plug={c.name[n]}",
            f"pcmk_host_list={n}", "pcmk_reboot_action=off", "op", "monitor", "interval=60s",
        )  # fmt: skip
        pcs(first, "constraint", "location", f"fence_{n}", "avoids", n)
    pcs(first, "property", "set", "stonith-enabled=true")
    http = free_port()
    create_bundle(c, first, BUNDLE, "fweb", bridge_network(c, "fweb", http), 8080)
    return c, http


def engine_events(container_id: str, since: float, until: float) -> list[dict]:
    """The engine's events of one container (by full id, so also of a removed one)."""
    out = docker(
        "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}",
        "--filter", f"container={container_id}", "--format", "{{json .}}",
        check=True, timeout=60,
    )  # fmt: skip
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_a_frozen_nodes_replica_dies_before_the_fence_succeeds_and_runs_once(fenced_bundle):
    c, http = fenced_bundle
    node, container = started(c, BUNDLE, "fweb")
    survivor = next(n for n in NODES if n != node)
    old = inspect(REPLICA, "{{.Id}}")
    t_freeze = time.time()
    docker("pause", container, check=True)

    def fenced():
        events = fence_history(c.name[survivor], node)
        done = [e for e in events if e.get("status") == "success"]
        return bool(done), done or events

    events = wait_for(fenced, 120, f"successful fencing of {node}")
    t_fenced = completed(events[0])
    assert inspect(container, "{{.State.Status}}") == "exited"  # pcmk_reboot_action=off

    new_node, _ = started(c, BUNDLE, "fweb")
    assert new_node == survivor
    assert "pdtest-bundle" in http_get(c, survivor, http)
    new = inspect(REPLICA, "{{.Id}}")
    assert new != old, "the old replica was adopted: it kept running through the fence"

    now = time.time() + 1
    died = [e["timeNano"] / 1e9 for e in engine_events(old, t_freeze, now) if e["status"] == "die"]
    began = [
        e["timeNano"] / 1e9 for e in engine_events(new, t_freeze, now) if e["status"] == "start"
    ]
    assert died, f"no die event of the old replica {old[:12]}"
    assert began, f"no start event of the new replica {new[:12]}"
    # The stonith history's time has whole seconds on Pacemaker 2.1: the replica died no
    # later than the second the fence completed in, and before its successor started.
    assert died[0] < t_fenced + 1, (died, t_fenced)
    assert died[0] < began[0], (died, began)
    measure("bundle fencing: freeze -> fence success (history)", f"{t_fenced - t_freeze:.1f}s")
    measure("bundle fencing: freeze -> new replica started", f"{began[0] - t_freeze:.1f}s")
