"""fence_docker_api and bundles: an off also kills the target node's bundle replicas on the
same engine (the containers Pacemaker started there through ocf:heartbeat:docker or podman),
found in the cluster status (crm_mon XML) under the node Pacemaker names in `nodename`."""

from __future__ import annotations

import pytest


def resource(rid: str, agent: str, *nodes: str) -> str:
    where = "".join(f'<node name="{n}" id="{n}" cached="true"/>' for n in nodes)
    return (
        f'<resource id="{rid}" resource_agent="{agent}" role="{"Started" if nodes else "Stopped"}"'
        f' active="{"true" if nodes else "false"}" nodes_running_on="{len(nodes)}">'
        f"{where}</resource>"
    )


def replica(n: int, bundle: str, node: str | None, kind: str = "docker") -> str:
    on = (node,) if node else ()
    return (
        f'<replica id="{n}">'
        + resource(f"{bundle}-ip-192.0.2.{10 + n}", "ocf:heartbeat:IPaddr2", *on)
        + resource("web", "ocf:heartbeat:apache", *((f"{bundle}-{n}",) if node else ()))
        + resource(f"{bundle}-{kind}-{n}", f"ocf:heartbeat:{kind}", *on)
        + resource(f"{bundle}-{n}", "ocf:pacemaker:remote", *on)
        + "</replica>"
    )


# As crm_mon --output-as=xml prints it (2.1 and 3.0): bundle > replica > resource > node.
STATUS = (
    '<pacemaker-result api-version="2.25" request="crm_mon --output-as=xml">'
    '<summary><current_dc present="true" name="n2"/></summary>'
    "<resources>"
    '<bundle id="web-bundle" type="docker" image="pcmk:web" unique="false" managed="true">'
    + replica(0, "web-bundle", "n1")
    + replica(1, "web-bundle", "n2")
    + replica(2, "web-bundle", None)
    + "</bundle>"
    '<bundle id="db" type="podman" image="pcmk:db" unique="false" managed="true">'
    + replica(0, "db", "n1", kind="podman")
    + "</bundle>"
    # a container outside any bundle: its name is the agent's `name`, not known here
    + resource("plain-docker", "ocf:heartbeat:docker", "n1")
    + "</resources></pacemaker-result>"
)
REPLICAS_ON_N1 = ["db-podman-0", "web-bundle-docker-0"]


@pytest.fixture
def bundled(engine):
    """The engine also runs every replica of STATUS and the plain container."""
    for name in ("web-bundle-docker-0", "web-bundle-docker-1", "db-podman-0", "plain-docker"):
        engine.add(name)
    return engine


def stdin(engine, *extra: str) -> str:
    lines = ["action=off", "nodename=n1", "port=node1", f"socket={engine.socket}", *extra]
    return "\n".join(lines) + "\n"


def running(engine) -> set[str]:
    return {name for name, c in engine.containers.items() if c.is_running()}


def test_replicas_on_a_node_from_crm_mon_xml(agent):
    assert agent.replicas_on(STATUS, "n1") == REPLICAS_ON_N1
    assert agent.replicas_on(STATUS, "n2") == ["web-bundle-docker-1"]
    assert agent.replicas_on(STATUS, "web-bundle-0") == []  # a guest node holds no container
    assert agent.replicas_on(STATUS, "n3") == []


def test_off_kills_the_node_then_its_replicas(run, bundled):
    res = run(stdin=stdin(bundled), status=STATUS)
    assert res.rc == 0, res
    assert running(bundled) == {"node2", "web-bundle-docker-1", "plain-docker"}
    assert "bundle replicas killed: db-podman-0, web-bundle-docker-0" in res.out
    kills = [p for p in bundled.paths("POST") if p.endswith("/kill?signal=KILL")]
    # the node first (by its id): it cannot restart a replica after
    assert bundled.containers["node1"].id in kills[0], kills


def test_reboot_starts_the_node_again_but_not_its_replicas(run, bundled):
    res = run(stdin=stdin(bundled, "action=reboot"), status=STATUS)
    assert res.rc == 0, res
    assert {"node1", "node2"} <= running(bundled)
    assert not {"web-bundle-docker-0", "db-podman-0"} & running(bundled)


def test_a_replica_not_on_this_engine_or_already_stopped_is_fine(run, engine):
    engine.add("web-bundle-docker-0", running=False)  # db-podman-0: not on this engine at all
    res = run(stdin=stdin(engine), status=STATUS)
    assert res.rc == 0, res
    assert "bundle replicas killed" not in res.out


def test_a_replica_that_does_not_stop_fails_the_fence(run, bundled):
    bundled.containers["web-bundle-docker-0"].never_stops = True
    res = run(stdin=stdin(bundled, "power_timeout=0.3"), status=STATUS)
    assert res.rc == 1
    assert "web-bundle-docker-0 (bundle replica)" in res.err and "timed out" in res.err


def test_bundle_replicas_0_leaves_them(run, bundled):
    res = run(stdin=stdin(bundled, "bundle_replicas=0"), status=STATUS)
    assert res.rc == 0 and "web-bundle-docker-0" in running(bundled)


def test_without_nodename_or_crm_mon_only_the_node_is_fenced(run, bundled):
    # by hand, no nodename: the plug alone
    res = run("-o", "off", "-n", "node1", f"--socket={bundled.socket}", status=STATUS)
    assert res.rc == 0 and "web-bundle-docker-0" in running(bundled)
    bundled.containers["node1"].running = True
    # crm_mon not installed (None): said on stderr, not an error
    res = run(stdin=stdin(bundled), status=None)
    assert res.rc == 0 and "crm_mon not found" in res.err
    assert "web-bundle-docker-0" in running(bundled)


def test_a_cluster_status_that_cannot_be_read_fails_the_fence(run, agent, bundled):
    def broken():
        raise agent.FenceError("crm_mon failed (exit code 102), so ...")

    res = run(stdin=stdin(bundled), status=broken)
    assert res.rc == 1 and "crm_mon failed" in res.err
    assert run(stdin=stdin(bundled), status="<not xml").rc == 1


def test_metadata_names_the_parameter(run):
    meta = run("-o", "metadata").out
    assert 'name="bundle_replicas"' in meta and 'default="1"' in meta
