"""Rolling upgrade of a running cluster from the Debian 12 image (Pacemaker 2.1) to the
default Debian 13 image (Pacemaker 3.0), one node at a time, as README "Upgrading" says.

The 3-node compose cluster of tests/image/demo.py (never a user's demo) starts on
pacemaker_docker:bookworm with fencing on, a VIP and a Dummy tied to it. A client pings the VIP
every 100 ms throughout. Each node is then re-created by compose on the new image with the
same volumes and name (a graceful `docker stop` first), and the next waits until it is back.
Afterwards: every node runs 3.0, the CIB has every resource and constraint it had, nobody was
fenced, the VIP was out at most once per replacement (the longest gap is reported), and
`cibadmin --upgrade` moves the CIB to 3.0's schema. Then a downgrade attempt: the old image
refuses the upgraded CIB with exit 2 and a message, and the node returns on the new image with
nothing lost.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET

import pytest

from pcmk_launch.cib import schema_version
from tests.harness.pinger import PING_PY
from tests.image.demo import NODES, Demo, start_demo
from tests.image.dockerutil import (
    BASE_SUITE,
    PREFIX,
    ROOT,
    container_state,
    crm_mon,
    dexec,
    docker,
    inspect,
    logs,
    make_image,
    measure,
    pacemaker_version,
    wait_for,
    wait_formed,
)
from tests.prereq import require

OLD_BASE = "debian:bookworm-slim"
OLD_IMAGE = "pacemaker_docker:bookworm"
OUTAGE = 1.0  # seconds without a reply, at 10 pings a second: the VIP was not served

pytestmark = pytest.mark.skipif(
    BASE_SUITE == "bookworm", reason="the image under test is the old one (BASE_IMAGE=bookworm)"
)


def pcs(node: str, *args: str) -> str:
    out = dexec(node, "pcs", *args, timeout=60)
    assert out.returncode == 0, f"pcs {' '.join(args)}: {out.stdout}{out.stderr}"
    return out.stdout


def configuration(node: str) -> ET.Element:
    out = dexec(node, "cibadmin", "--query", timeout=30)
    assert out.returncode == 0, out.stderr
    return ET.fromstring(out.stdout)


def kept(cib: ET.Element) -> set[tuple[str, str]]:
    """Resources, fence devices, constraints and properties by (tag, id)."""
    cfg = cib.find("configuration")
    assert cfg is not None
    sections = ("resources", "constraints", "crm_config")
    return {(e.tag, e.get("id", "")) for s in sections for e in cfg.findall(f"{s}//*[@id]")}


def replace_node(demo: Demo, node: str, image: str) -> None:
    """compose re-creates the node from `image`: docker stop (graceful), then a new container
    with the same name, hostname, address and volumes."""
    env = {**demo.env, "IMAGE": image}
    service = "node" + node[-1]
    up = subprocess.run(
        [*demo.command, "up", "-d", "--no-deps", service],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    image_id = docker("image", "inspect", "-f", "{{.Id}}", image).stdout.strip()
    assert inspect(node, "{{.Image}}") == image_id, f"{node} was not re-created from {image}"


def all_started(node: str, names: tuple[str, ...]):
    def probe():
        mon = crm_mon(node)
        if mon is None:
            return False, "crm_mon not answering"
        ok = (
            all(
                mon.resources.get(r, {}).get("role") == "Started"
                and len(mon.resources[r]["nodes"]) == 1
                for r in names
            )
            and len(mon.online) == 3
        )
        return ok, mon

    return wait_for(probe, 120, f"{node}: 3 online and {names} started", container=node)


def reply_gaps(ping_output: str) -> list[float]:
    """Seconds between consecutive replies of the pinger (10 a second while served)."""
    stamps = [float(w[2]) for w in (line.split() for line in ping_output.splitlines()) if
              len(w) == 3 and w[0] == "reply"]  # fmt: skip
    assert len(stamps) > 10, ping_output[-2000:]
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def test_rolling_upgrade_bookworm_to_trixie_then_a_refused_downgrade(built_image, resources):
    new_image = built_image
    make_image(OLD_IMAGE, OLD_BASE)
    old_image = OLD_IMAGE
    require(
        pacemaker_version(image=old_image).startswith("Pacemaker 2.")
        and pacemaker_version(image=new_image).startswith("Pacemaker 3."),
        f"{old_image} and {new_image} must be Pacemaker 2.x and 3.x",
    )
    demo = start_demo(old_image, resources, down_timeout=30)
    fencing = subprocess.run(
        [str(ROOT / "image/demo-fencing.sh"), "--container", NODES[0]],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert fencing.returncode == 0, fencing.stdout + fencing.stderr
    net = demo.env["DEMO_NET"]
    vip = f"{net}.100"
    pcs(NODES[0], "resource", "create", "pdtest-vip", "ocf:heartbeat:IPaddr2", f"ip={vip}",
        "cidr_netmask=24", "nic=eth0", "meta", "resource-stickiness=100")  # fmt: skip
    pcs(NODES[0], "resource", "create", "pdtest-dummy", "ocf:pacemaker:Dummy",
        "meta", "resource-stickiness=100")  # fmt: skip
    pcs(NODES[0], "constraint", "colocation", "add", "pdtest-dummy", "with", "pdtest-vip")
    pcs(NODES[0], "constraint", "order", "pdtest-vip", "then", "pdtest-dummy")
    all_started(NODES[0], ("pdtest-vip", "pdtest-dummy"))
    before = configuration(NODES[0])
    schema_before = before.get("validate-with", "")

    client = resources.container(f"{PREFIX}-upgrade-client")
    docker(
        "run", "-d", "--name", client, "--network", f"{demo.project}_cluster",
        "--ip", f"{net}.50", "--entrypoint", "python3", old_image,
        "-c", PING_PY, vip, "0", "0.1", "0.2",
        check=True,
    )  # fmt: skip

    for node in NODES:
        replace_node(demo, node, new_image)
        wait_formed(node, online=3, timeout=120)
        all_started(node, ("pdtest-vip", "pdtest-dummy"))
        assert pacemaker_version(node).startswith("Pacemaker 3."), pacemaker_version(node)

    docker("stop", "-t", "1", client)
    gaps = reply_gaps(logs(client))
    out = [round(g, 2) for g in gaps if g > OUTAGE]
    measure("upgrade: VIP outages (> 1 s) during 3 replacements", f"{len(out)} {out}")
    measure("upgrade: longest gap between VIP replies", f"{max(gaps):.2f}s")
    assert len(out) <= len(NODES), f"the VIP was out more than once per replacement: {out}"

    after = configuration(NODES[0])
    assert kept(before) <= kept(after), kept(before) - kept(after)
    history = dexec(NODES[0], "stonith_admin", "--history", "*", "--output-as=xml")
    assert history.returncode == 0, history.stderr
    assert ET.fromstring(history.stdout).find(".//fence_event") is None, history.stdout
    props = {nv.get("name"): nv.get("value") for nv in after.iter("nvpair")}
    assert props.get("stonith-enabled") == "true", props

    # The schema stays the old one until asked: 2.1 nodes could still join until then.
    upgrade = dexec(NODES[0], "cibadmin", "--upgrade", "--force")
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    schema_after = configuration(NODES[0]).get("validate-with", "")
    measure("upgrade: CIB schema", f"{schema_before} -> {schema_after}")
    assert schema_version(schema_after) > schema_version(schema_before), schema_after

    # Downgrade one node: the old image refuses the newer CIB its volume now holds.
    last = NODES[-1]
    wait_for(
        lambda: (schema_on_disk(last) == schema_after, schema_on_disk(last)),
        60,
        f"{last}: upgraded CIB written to its volume",
    )
    replace_node(demo, last, old_image)
    wait_for(
        lambda: (container_state(last) == "exited", container_state(last)),
        60,
        f"{last} on {old_image} exits",
    )
    assert inspect(last, "{{.State.ExitCode}}") == "2"
    text = logs(last)
    assert f"CIB schema {schema_after}" in text and "Fix: run this node on the newer image" in text
    # ... and nothing was lost: back on the new image it rejoins with every resource.
    replace_node(demo, last, new_image)
    wait_formed(last, online=3, timeout=120)
    all_started(last, ("pdtest-vip", "pdtest-dummy"))
    assert kept(before) <= kept(configuration(last))


def schema_on_disk(node: str) -> str:
    out = dexec(node, "sed", "-n", "s/.*validate-with=\"\\([^\"]*\\)\".*/\\1/p;q",
                "/var/lib/pacemaker/cib/cib.xml")  # fmt: skip
    return out.stdout.strip()
