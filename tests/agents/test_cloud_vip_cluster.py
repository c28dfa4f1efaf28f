"""ocf:pcmk-docker:cloud-vip in a real 3-node cluster (issue 9): a power cut moves the VIP
in the cloud API to the node where pacemaker restarts it.

Topology (tests/harness): node1..node3 (192.0.2.11-13) run the launcher as PID 1; a fourth
host ``cloud`` (192.0.2.50) runs moto's EC2 server as its PID 1. Each node is one moto
instance, and each node's *own* loopback serves that instance's identity and instance-role
credentials (a fake metadata service at 127.0.0.1:8775, in the node's netns and pid ns, so it
dies with the node). The resource's parameters are therefore the same on every node, as
pacemaker requires: ``metadata_url=http://127.0.0.1:8775`` answers differently on each, the
way 169.254.169.254 does on EC2. No credentials are in the CIB or in the launcher's
environment: boto3 takes them from that metadata service.

The agent reaches pacemaker as /usr/lib/ocf/resource.d/pcmk-docker/cloud-vip through a bind
mount in each host's private mount namespace (``extra_binds``); only the empty mount point is
created on the machine if it is missing, and removed again afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.agents.world import World
from tests.harness import hosts
from tests.harness.cluster import LAUNCHER_ARGV, cluster_state, describe_state
from tests.harness.hosts import Host, wait_for
from tests.helpers.agents import AGENT, FAKE_IMDS, MOTO_EC2, REGION, WORLD, require_moto
from tests.helpers.prereq import require

pytestmark = pytest.mark.root

VIP = "192.0.2.100"
CLOUD_ADDR = "192.0.2.50"
ENDPOINT = f"http://{CLOUD_ADDR}:5000"
IMDS_PORT = 8775
PROVIDER_DIR = Path("/usr/lib/ocf/resource.d/pcmk-docker")


@pytest.fixture
def provider_mountpoint():
    """The bind mount needs an existing mount point on the machine: create the empty
    provider dir only if it is missing, and remove it again (if still empty)."""
    require(Path("/usr/lib/ocf/resource.d").is_dir(), "no /usr/lib/ocf/resource.d (pacemaker)")
    created = not PROVIDER_DIR.exists()
    if created:
        PROVIDER_DIR.mkdir(mode=0o755)
    try:
        yield PROVIDER_DIR
    finally:
        if created:
            with contextlib.suppress(OSError):
                PROVIDER_DIR.rmdir()


@pytest.fixture
def agent_dir():
    d = Path(tempfile.mkdtemp(prefix="cloud-vip-provider-"))
    try:
        d.chmod(0o755)
        shutil.copy2(AGENT, d / "cloud-vip")
        (d / "cloud-vip").chmod(0o755)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def start_imds(host: Host, inst) -> subprocess.Popen:
    """The node's own metadata service, inside its namespaces (it dies with the node)."""
    proc = subprocess.Popen(
        [
            *host.nsenter_argv(),
            sys.executable, str(FAKE_IMDS), "--port", str(IMDS_PORT),
            "--instance-id", inst.instance_id, "--mac", inst.mac,
            "--interface-id", inst.interface_id, "--region", REGION, "--credentials", "--log-hits",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=hosts.BASE_ENV,
    )  # fmt: skip
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("ready"):
        proc.kill()
        raise RuntimeError(f"fake IMDS on {host.name} did not start: {line!r}")
    return proc


def stop_imds(proc: subprocess.Popen) -> str:
    """Kill a fake metadata service (nsenter's child inside the host, then nsenter) and
    return what it printed. Never waits for EOF: a live child would hold the pipe open."""
    for pid in hosts._children(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    chunks = []
    with contextlib.suppress(BlockingIOError, OSError):
        while chunk := os.read(proc.stdout.fileno(), 65536):
            chunks.append(chunk)
    proc.stdout.close()
    return b"".join(chunks).decode(errors="replace")


def cloud_cmd(cloud: Host, *args: str) -> str:
    return cloud.run(
        [sys.executable, str(WORLD), "--endpoint", "http://127.0.0.1:5000", *args], timeout=60
    ).stdout


def local_vip(host: Host) -> bool:
    out = host.ip("-o", "-4", "addr", "show", "dev", "eth0").stdout
    return f"inet {VIP}/32" in out


def cvip_failures(host: Host) -> list[str]:
    xml = host.run(["crm_mon", "-1", "--inactive", "--output-as=xml"]).stdout
    return [
        f"{f.get('node')}:{f.get('op_key')}:{f.get('exitreason', '')}"
        for f in ET.fromstring(xml).iter("failure")
        if (f.get("op_key") or "").startswith("cvip_")
    ]


def probe_result(viewer: Host, node: str) -> str | None:
    """The rc-code of cvip's probe (a monitor with interval 0) on node, from viewer's CIB;
    None until the probe has run there since the node (re)joined and has finished (while it
    runs, Pacemaker records it as pending: op-status -1, rc-code 193)."""
    xml = viewer.run(["cibadmin", "--query", "--scope", "status"]).stdout
    for state in ET.fromstring(xml).iter("node_state"):
        if state.get("uname") != node:
            continue
        for rsc in state.iter("lrm_resource"):
            if rsc.get("id") == "cvip":
                for op in rsc.iter("lrm_rsc_op"):
                    probe = op.get("operation") == "monitor" and op.get("interval") == "0"
                    if probe and op.get("op-status") == "0":
                        return op.get("rc-code")
    return None


def test_cloud_vip_moves_with_a_power_cut(provider_mountpoint, agent_dir, make_cluster, capsys):
    require_moto()
    probe = subprocess.run(["/usr/bin/python3", "-c", "import boto3"], capture_output=True)
    require(
        probe.returncode == 0, "/usr/bin/python3 cannot import boto3 (apt install python3-boto3)"
    )
    require(shutil.which("pcs") is not None, "pcs not installed")

    c = make_cluster(3, extra_binds={str(provider_mountpoint): agent_dir})
    cloud = c.network.add_host("cloud", address=CLOUD_ADDR)
    cloud.start(
        [sys.executable, str(MOTO_EC2), "-H", "0.0.0.0", "-p", "5000"],
        {"AWS_EC2_METADATA_DISABLED": "true"},
    )
    ping_moto = (
        "import urllib.request as u; u.urlopen('http://127.0.0.1:5000/moto-api/', timeout=2)"
    )
    wait_for(
        lambda: cloud.run([sys.executable, "-c", ping_moto], check=False).returncode == 0,
        30,
        "moto server on the cloud host",
    )
    world = World.from_json(
        cloud_cmd(
            cloud, "create", "--instances", "3",
            "--vpc-cidr", "192.0.2.0/24", "--subnet-cidr", "192.0.2.0/25",
        )
    )  # fmt: skip
    instance_of = {h.name: inst for h, inst in zip(c.hosts, world.instances, strict=True)}
    node_of_eni = {inst.interface_id: name for name, inst in instance_of.items()}

    def holder() -> list[str]:
        return [
            node_of_eni.get(e, e) for e in json.loads(cloud_cmd(cloud, "holders", "--address", VIP))
        ]

    imds_procs: list[tuple[str, subprocess.Popen]] = []
    try:
        # No shared credentials file either (HOME is /root): the instance role it is.
        env = c.start_launchers(
            AWS_CONFIG_FILE="/nonexistent/aws-config",
            AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
        )
        imds_procs += [(h.name, start_imds(h, instance_of[h.name])) for h in c.hosts]
        c.wait_converged(timeout=90)

        admin = c.hosts[0]
        admin.run(["pcs", "property", "set", "stonith-enabled=false"])
        admin.run(
            [
                "pcs", "resource", "create", "cvip", "ocf:pcmk-docker:cloud-vip",
                f"address={VIP}", "mode=secondary-ip", f"region={REGION}",
                f"endpoint_url={ENDPOINT}", f"metadata_url=http://127.0.0.1:{IMDS_PORT}",
                "add_local=true", "interface=eth0", "api_timeout=2", "retries=1",
                "op", "monitor", "interval=5s",
            ],
            timeout=60,
        )  # fmt: skip

        def placed(viewer: Host) -> tuple[list[str], list[str]]:
            res = cluster_state(viewer)["resources"].get("cvip", {})
            return (res.get("nodes", []) if res.get("active") else []), holder()

        nodes, held = wait_for(
            lambda: placed(admin),
            90,
            "cvip started on one node, which holds the VIP in the API",
            until=lambda p: len(p[0]) == 1 and p[0] == p[1],
        )
        first = c.host(nodes[0])
        assert local_vip(first)
        assert not any(local_vip(h) for h in c.hosts if h is not first)
        assert not cvip_failures(admin)

        # Power cut on the node holding the VIP.
        survivors = [h for h in c.hosts if h is not first]
        t0 = time.monotonic()
        first.power_cut()
        moved = wait_for(
            holder,
            120,
            f"the VIP's assignment to move from {first.name} to a survivor",
            until=lambda hs: len(hs) == 1 and hs[0] in {h.name for h in survivors},
        )[0]
        failover = time.monotonic() - t0
        new = c.host(moved)
        viewer = survivors[0]
        state = wait_for(
            lambda: cluster_state(viewer),
            60,
            f"crm_mon: cvip Started on {moved}",
            until=lambda s: (
                s["resources"].get("cvip", {}).get("nodes") == [moved]
                and s["resources"]["cvip"]["active"]
            ),
            describe=describe_state,
        )
        assert first.name in state["offline"]
        wait_for(lambda: local_vip(new), 30, f"{VIP} on {moved}'s eth0")
        with capsys.disabled():
            print(
                f"\nTIMING cloud-vip failover (power cut {first.name} -> API assignment on "
                f"{moved}): {failover:.1f}s"
            )

        # The dead node comes back: its probe finds nothing (7), the VIP stays put.
        first.start(LAUNCHER_ARGV, env)
        imds_procs.append((first.name, start_imds(first, instance_of[first.name])))
        c.wait_converged(timeout=90)
        # Handshakes instead of a fixed wait: the rejoined node's probe is in the CIB, and a
        # monitor of cvip run now on its holder (as pacemaker runs it) still finds it there.
        probed = wait_for(
            lambda: probe_result(viewer, first.name),
            60,
            f"cvip's probe on {first.name} in the CIB",
            until=lambda rc: rc is not None,
        )
        assert probed == "7", f"the probe on {first.name} found cvip (rc {probed})"
        check = new.run(
            ["crm_resource", "--force-check", "--resource", "cvip"],
            check=False,
            env={"AWS_CONFIG_FILE": "/nonexistent/aws-config"},  # as the daemons: no files
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert holder() == [moved]
        s = cluster_state(viewer)
        assert s["resources"]["cvip"]["nodes"] == [moved], describe_state(s)
        assert not cvip_failures(viewer)
        assert not local_vip(first)

        # A clean stop through pacemaker releases it in the API and locally.
        admin.run(["pcs", "resource", "disable", "cvip"])
        wait_for(holder, 60, "the VIP unassigned after disable", until=lambda hs: hs == [])
        wait_for(lambda: not local_vip(new), 30, f"{VIP} gone from {moved}'s eth0")
    finally:
        served: dict[str, str] = {}
        for name, p in imds_procs:
            served[name] = served.get(name, "") + stop_imds(p)
    # Identity and credentials came from each node's own metadata service (instance role).
    for name in (first.name, moved):
        assert "GET /latest/meta-data/iam/security-credentials/" in served[name], served[name]
        assert "GET /latest/meta-data/instance-id" in served[name], served[name]
