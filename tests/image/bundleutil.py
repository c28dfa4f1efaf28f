"""Helpers of the bundle tests (test_bundle.py, test_bundle_hosts.py): the bundle image,
a cluster of full nodes that hold the engine's raw socket (profile C), and a one-replica bundle
whose service is python's http.server.

What the containerised case needs (README, "Bundles (profile C)"):
- every `-v` source Pacemaker passes to the engine is a path on the engine's host. The remote
  key is taken from where the nodes' launcher installed it (/etc/pacemaker in the nodes is a
  volume, and the bundle maps that volume's host path and points PCMK_authkey_location at it),
  and the replica's /var/log is a second volume (`storage-map ... target-dir=/var/log`), so
  Pacemaker adds no /var/log/pacemaker/bundles mount on the host. Pacemaker always adds
  `-v /etc/pacemaker/authkey:/etc/pacemaker/authkey` as well: if the host has no such file,
  the engine creates an empty directory there, which the cluster's cleanup removes again;
- a bundle without `ip-range-start` connects to the node that runs the replica by that node's
  *name*, at `control-port`: the nodes resolve their own names to the engine's host (the
  network's gateway, `--add-host`), where the engine publishes the control port;
- all nodes share one engine here, so every container name is visible from every node and a
  control port can be published once per engine: one replica.
"""

from __future__ import annotations

import os
import random
import subprocess

from tests.image.dockerutil import (
    BASE_IMAGE,
    BASE_SUITE,
    DEFAULT_TAG,
    PREFIX,
    ROOT,
    Resources,
    create_network,
    crm_mon,
    dexec,
    docker,
    inspect,
    node_env,
    pcs,
    wait_for,
    wait_formed,
)

BUNDLE_IMAGE = f"{PREFIX}-bundle:test"
REMOTE_KEY = f"pdtest bundle remote key {PREFIX}"
# Where the replica finds the nodes' key (the key volume is mapped there).
KEY_DIR = "/etc/pacemaker-bundle"
# The test's service on the bundle base (`make image-bundle`: the remote image plus libqb's
# filesystem sockets, needed with network=host): a page to serve.
BUNDLE_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
RUN mkdir -p /srv/www && echo pdtest-bundle > /srv/www/index.html
"""


def build_base_image() -> str:
    """`make image-bundle` on the base under test: pacemaker_docker:bundle, or
    pacemaker_docker:<suite>-bundle on another base."""
    suffix = "" if DEFAULT_TAG == "latest" else f"{BASE_SUITE}-"
    base = f"pacemaker_docker:{suffix}bundle"
    if os.environ.get("PDTEST_NO_BUILD") == "1":
        return base
    out = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "image-bundle", f"BUNDLE_IMAGE={base}",
         f"BASE_IMAGE={BASE_IMAGE}"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, f"make image-bundle:\n{out.stdout[-3000:]}{out.stderr[-3000:]}"
    return base


def build_bundle_image(res: Resources) -> str:
    """The test's bundle image FROM the bundle base, removed with `res`."""
    base = build_base_image()
    out = subprocess.run(
        ["docker", "build", "-q", "-t", BUNDLE_IMAGE, "--build-arg", f"BASE={base}", "-"],
        input=BUNDLE_DOCKERFILE, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    res.on_cleanup(lambda: docker("rmi", "-f", BUNDLE_IMAGE))
    return BUNDLE_IMAGE


def host_has(image: str, path: str) -> bool:
    """Whether `path` exists on the engine's host (seen through a throwaway container)."""
    out = docker(
        "run", "--rm", "--network", "none", "-v", "/etc:/host-etc:ro", "--entrypoint", "sh",
        image, "-c", f"test -e /host-etc/{path}",
    )  # fmt: skip
    return out.returncode == 0


def remove_empty_host_dirs(image: str, paths: list[str]) -> None:
    """rmdir (empty directories only) what the engine created under the host's /etc."""
    if not paths:
        return
    args = " ".join(f"/host-etc/{p}" for p in paths)
    docker(
        "run", "--rm", "--network", "none", "-v", "/etc:/host-etc", "--entrypoint", "sh",
        image, "-c", f"for d in {args}; do [ -d $d ] && rmdir $d; done; true",
    )  # fmt: skip


def inspect_volume(name: str) -> str:
    return docker("volume", "inspect", "-f", "{{.Mountpoint}}", name, check=True).stdout.strip()


def free_port() -> int:
    return random.randint(20000, 29999)


class Cluster:
    """Full nodes on one user bridge network, each with the engine's raw socket and the key
    volume at /etc/pacemaker; `props`: PCMK_CLUSTER_PROPERTIES."""

    def __init__(
        self, image: str, res: Resources, nodes: tuple[str, ...], props: str, suffix: str
    ) -> None:
        self.image, self.res, self.nodes, self.props = image, res, nodes, props
        # The bundle always maps the host's /etc/pacemaker/authkey; note what the engine may
        # create there so that it can be removed again (containers first: cleanup runs
        # backwards).
        created = [p for p in ("pacemaker/authkey", "pacemaker") if not host_has(image, p)]
        res.on_cleanup(lambda: remove_empty_host_dirs(image, created))
        self.network, subnet = create_network(res, suffix)
        self.gateway = str(subnet[1])
        self.addr = {n: str(subnet[20 + i]) for i, n in enumerate(nodes)}
        self.name = {n: f"{PREFIX}-{suffix}-{n}" for n in nodes}
        self.key_volume = res.volume(f"{PREFIX}-{suffix}-key")
        self.log_volume = res.volume(f"{PREFIX}-{suffix}-log")
        for vol in (self.key_volume, self.log_volume):
            docker("volume", "create", vol, check=True)
        self.key_path = inspect_volume(self.key_volume)
        self.log_path = inspect_volume(self.log_volume)

    def run(self, node: str) -> None:
        node_list = " ".join(f"{n}={a}" for n, a in self.addr.items())
        hosts = [arg for n in self.nodes for arg in ("--add-host", f"{n}:{self.gateway}")]
        docker(
            "run", "-d", "--name", self.res.container(self.name[node]),
            # not the node's name: that one resolves to the engine's host (--add-host)
            "--hostname", self.name[node],
            "--network", self.network, "--ip", self.addr[node], *hosts,
            "-v", "/var/run/docker.sock:/var/run/docker.sock",
            "-v", f"{self.key_volume}:/etc/pacemaker",
            *node_env(node_list, REMOTE_KEY, self.props),
            "--stop-timeout", "120", self.image,
            check=True,
        )  # fmt: skip

    def start(self) -> None:
        for n in self.nodes:
            self.run(n)
        wait_formed(self.name[self.nodes[0]], len(self.nodes), timeout=120)

    def any_up(self) -> str:
        for n in self.nodes:
            if inspect(self.name[n], "{{.State.Running}}") == "true":
                return self.name[n]
        raise AssertionError("no node running")


def create_bundle(
    c: Cluster, node: str, bundle: str, service: str, network: list[str], port: int
) -> None:
    """A one-replica bundle of the bundle image whose service is python's http.server on
    `port` (ocf:heartbeat:anything), with the nodes' key and the log directory mapped in;
    `network`: the network option of its container and what follows `network` in pcs.
    Pacemaker names the replica's container {bundle}-docker-0: registered, so it is removed."""
    c.res.container(f"{bundle}-docker-0")
    pcs(
        node, "resource", "bundle", "create", bundle,
        "container", "docker", f"image={BUNDLE_IMAGE}", network[0],
        "replicas=1", f"options=-e PCMK_authkey_location={KEY_DIR}/authkey",
        "network", *network[1:],
        "storage-map", f"id={service}-key", f"source-dir={c.key_path}", f"target-dir={KEY_DIR}",
        "options=ro",
        "storage-map", f"id={service}-log", f"source-dir-root={c.log_path}",
        "target-dir=/var/log",
        "--disabled",
    )  # fmt: skip
    # Disabled until its resource is in: adding it changes the replica's run command, which
    # would restart a replica already started ("due to resource definition change").
    pcs(
        node, "resource", "create", service, "ocf:heartbeat:anything",
        "binfile=/usr/bin/python3",
        f"cmdline_options=-m http.server {port} --directory /srv/www", "bundle", bundle,
    )  # fmt: skip
    pcs(node, "resource", "enable", bundle)


def bridge_network(c: Cluster, service: str, http: int) -> list[str]:
    """The bundle options of a replica on the nodes' bridge network, its port 8080 published
    on the engine's host as `http`."""
    return [
        f"network={c.network}", f"control-port={free_port()}",
        "port-map", f"id={service}-http", f"port={http}", "internal-port=8080",
    ]  # fmt: skip


def where(c: Cluster, replica_id: str, service: str) -> tuple[list[str], list[str], object]:
    """Where the replica runs (only once it and its service are both Started), where the
    service runs (the guest node), and crm_mon's state."""
    mon = crm_mon(c.any_up())
    if mon is None:
        return [], [], mon
    replica = mon.resources.get(replica_id, {})
    web = mon.resources.get(service, {})
    started = replica.get("role") == "Started" and web.get("role") == "Started"
    return (replica.get("nodes", []) if started else []), web.get("nodes", []), mon


def started(c: Cluster, bundle: str, service: str) -> tuple[str, str]:
    """Waits until the bundle's replica 0 and its service run; the replica's node and that
    node's container."""
    replica_id, guest = f"{bundle}-docker-0", f"{bundle}-0"

    def probe():
        replica_nodes, web_nodes, mon = where(c, replica_id, service)
        return (len(replica_nodes) == 1 and web_nodes == [guest]), (replica_nodes, mon)

    replica_nodes, _ = wait_for(probe, 180, f"{replica_id} and {service} started")
    return replica_nodes[0], c.name[replica_nodes[0]]


def http_get(c: Cluster, node: str, port: int) -> str:
    url = f"http://{node}:{port}/"
    script = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read())"
    out = dexec(c.name[node], "python3", "-c", script, timeout=30)
    return out.stdout + out.stderr
