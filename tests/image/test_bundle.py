"""Pacemaker bundles started by containerised full nodes (issue 26), profile C.

Two full nodes on a user bridge network hold the engine's raw socket; Pacemaker in them starts
a bundle replica (an image built FROM pacemaker_docker:remote) through `ocf:heartbeat:docker`
on the same engine, connects to the pacemaker-remoted inside it, and runs a small HTTP server
there (`ocf:heartbeat:anything`), published through the bundle's port-map. The replica moves
when its node is stopped. A second bundle runs with network=host and its own control-port, its
pacemaker-remoted on socket files (libqb's force-filesystem-sockets in the bundle image). Both
Debian bases pass (BASE_IMAGE). What the containerised case needs: tests/image/bundleutil.py.
"""

from __future__ import annotations

import pytest

from tests.image.bundleutil import (
    KEY_DIR,
    Cluster,
    bridge_network,
    build_base_image,
    build_bundle_image,
    create_bundle,
    free_port,
    http_get,
    started,
)
from tests.image.dockerutil import PREFIX, docker, inspect, wait_for

NODES = ("b1", "b2")
BUNDLE = f"{PREFIX}-web"
REPLICA = f"{BUNDLE}-docker-0"  # Pacemaker's name for the replica's container
GUEST = f"{BUNDLE}-0"  # the replica's node name in the cluster
PROPS = "dc-deadtime=1s stonith-enabled=false"


@pytest.fixture(scope="module")
def cluster(built_image, module_resources):
    build_bundle_image(module_resources)
    c = Cluster(built_image, module_resources, NODES, PROPS, "bundle")
    c.start()
    return c


@pytest.fixture(scope="module")
def bridge_bundle(cluster):
    c, http = cluster, free_port()
    create_bundle(c, c.name[NODES[0]], BUNDLE, "web", bridge_network(c, "web", http), 8080)
    return c, http


def test_replica_runs_the_service_with_the_nodes_key(bridge_bundle):
    c, http = bridge_bundle
    node, _ = started(c, BUNDLE, "web")
    assert inspect(REPLICA, "{{.State.Running}}") == "true"
    mounts = inspect(REPLICA, "{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}").split()
    assert f"{c.key_path}:{KEY_DIR}" in mounts, mounts
    assert f"{c.log_path}/{GUEST}:/var/log" in mounts, mounts
    assert "/etc/pacemaker/authkey:/etc/pacemaker/authkey" in mounts, mounts
    assert not any(m.startswith("/var/log/pacemaker/bundles") for m in mounts), mounts
    assert inspect(REPLICA, "{{.HostConfig.NetworkMode}}") == c.network
    # Pacemaker removes a replica without -v: an anonymous volume would stay on the host
    assert inspect(REPLICA, "{{range .Mounts}}{{.Type}} {{end}}").split().count("volume") == 0
    page = wait_for(
        lambda: ("pdtest-bundle" in (t := http_get(c, node, http)), t),
        60,
        f"HTTP on {node}:{http} (the port-map, published by the engine)",
    )
    assert "pdtest-bundle" in page


def test_replica_moves_when_its_node_stops(bridge_bundle):
    c, http = bridge_bundle
    node, container = started(c, BUNDLE, "web")
    out = docker("stop", "-t", "120", container, timeout=300)
    assert out.returncode == 0, out.stderr
    other = next(n for n in NODES if n != node)
    new, _ = started(c, BUNDLE, "web")
    assert new == other
    assert "pdtest-bundle" in http_get(c, other, http)
    # Not "and back": on this test's single engine, the rejoining node's probe finds the
    # replica's container (same name, same engine) running and Pacemaker recovers a resource
    # "active on 2 nodes", which one engine per node never sees. The node stays stopped; the
    # next test needs only one.


HOST_BUNDLE = f"{PREFIX}-hweb"
HOST_REPLICA = f"{HOST_BUNDLE}-docker-0"


def test_host_network_bundle_with_a_control_port(cluster):
    """network=host: no port mapping; the replica's pacemaker-remoted listens on the control
    port in the engine host's namespace, with libqb's filesystem sockets (the bundle image's
    /etc/libqb/force-filesystem-sockets), and the node reaches it by its own name."""
    c = cluster
    control, http = free_port(), free_port()
    network = ["network=host", f"control-port={control}"]
    create_bundle(c, c.any_up(), HOST_BUNDLE, "hweb", network, http)
    node, _ = started(c, HOST_BUNDLE, "hweb")
    assert inspect(HOST_REPLICA, "{{.HostConfig.NetworkMode}}") == "host"
    env = inspect(HOST_REPLICA, "{{json .Config.Env}}")
    assert f"PCMK_remote_port={control}" in env, env
    # pacemaker-remoted's IPC sockets are files in the replica (without the libqb file they
    # would be abstract sockets of the host's network namespace: @lrmd, @cib_rw...)
    sockets = docker("exec", HOST_REPLICA, "find", "/", "-xdev", "-type", "s").stdout.split()
    assert any(s.endswith("/lrmd") for s in sockets), sockets
    page = wait_for(
        lambda: ("pdtest-bundle" in (t := http_get(c, node, http)), t),
        60,
        f"HTTP on the engine's host, port {http}",
    )
    assert "pdtest-bundle" in page


def test_docker_stop_reaches_pacemaker_remoted_in_a_replica(resources):
    """The bundle base runs the run-command under tini: `docker stop` (the docker agent's
    stop of a replica) makes pacemaker-remoted exit 0. As PID 1 itself it forks into a reaper
    that ignores SIGTERM, and the engine killed it (137) after the whole stop timeout."""
    name = resources.container(f"{PREFIX}-remoted-stop")
    docker("run", "-d", "--name", name, "--network", "none", build_base_image(),
           "/usr/sbin/pacemaker-remoted", check=True)  # fmt: skip
    # listening: its signal handlers are set up by then
    wait_for(
        lambda: (":3121" in (ss := docker("exec", name, "ss", "-Hltn").stdout), ss),
        60,
        "pacemaker-remoted listening in the replica",
    )
    assert docker("exec", name, "cat", "/proc/1/comm").stdout.strip() == "tini"
    docker("stop", "-t", "30", name, check=True)
    assert inspect(name, "{{.State.ExitCode}}") == "0"
