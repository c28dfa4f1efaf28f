"""Bundles across three Docker hosts (issue 26): one engine per host, as in production.

tests/image/engines.py makes the hosts (a network namespace each, with its own dockerd and its
own /etc/pacemaker); tests/image/hostcluster.py runs a full node on each with `--net=host`,
its host's engine socket and /etc/pacemaker, and a fence_docker_api device per node aimed at
its host's engine over TCP on a management network (the stand-in for the host's BMC).
Pacemaker in the nodes then runs bundles the way its documentation lays them out, which one
shared engine cannot show:

- a bridge network with `ip-range-start`: each replica gets an address on the host that runs
  it (an IPaddr2 resource in the node, on the host's eth0), where the engine publishes its
  control port and port-map; the replica's hostname is its guest node's name;
- a replica follows its node: stopped gracefully, and power-cut (the node's container killed,
  its replica left running as a sibling until the fence kills it), and a replica never runs
  on two hosts at once, also when the node comes back;
- `network=host` with a control port: one replica per host, each serving on its host;
- PostgreSQL with PAF, the README's recipe (tests/image/pgcluster.py): a power cut of the
  primary's host and a `docker stop` of its node lose no acknowledged commit.

The nodes and bundles need nothing of the host but what the README lists: the remote key at
the host's /etc/pacemaker/authkey (the launcher installs it there) and /var/log/pacemaker.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.helpers.fencing import fence_events
from tests.image.bundleutil import BUNDLE_IMAGE, build_bundle_image
from tests.image.dockerutil import PREFIX, completed, docker, docker_time, measure, wait_for
from tests.image.engines import EngineHost, Engines
from tests.image.hostcluster import HostCluster, Replica
from tests.image.pgcluster import (
    PG,
    TABLE,
    Writer,
    bootstrap_pg,
    build_pg_image,
    check_no_acknowledged_row_lost,
    create_pg,
    outage,
    pg_query,
    timeline,
    wait_primary,
)

# load-threshold: the three hosts share this machine's CPUs and its load average, so each
# node would slow its cluster down (one job at a time) for the others' load as well.
PROPS = "dc-deadtime=1s load-threshold=300%"
WEB = "web"
FIRST_ADDRESS = 192, 0, 2, 131


@pytest.fixture(scope="module")
def hosts(request, built_image, module_resources):
    images = [built_image, build_bundle_image(module_resources)]
    # the database's image too, in the same save and loads, when a test here will use it
    if any("pg" in item.fixturenames for item in request.session.items
           if item.module is request.module):  # fmt: skip
        images.append(build_pg_image(PG_IMAGE))
        module_resources.on_cleanup(lambda: docker("rmi", "-f", PG_IMAGE))
    engines = Engines(3, tuple(images))
    cluster = HostCluster(engines, built_image, PROPS)
    failed = request.session.testsfailed
    try:
        cluster.start()
        cluster.add_fencing()
        yield cluster
    except BaseException:
        failed = -1
        raise
    finally:
        if request.session.testsfailed != failed:
            cluster.dump_logs(tail=int(os.environ.get("PDTEST_LOG_LINES", "150")))
        engines.teardown()


@pytest.fixture(autouse=True)
def power_back_on(hosts):
    """Every node runs again after each test, also one that failed with a node off (the
    tests that stop or cut a node start it again themselves, and wait for it)."""
    yield
    for node in hosts.nodes:
        hosts.host[node].power_on()
        if not hosts.running(node):
            hosts.host[node].docker("start", node)


def http_from(cluster: HostCluster, host: str, address: str, port: int) -> str:
    """GET http://address:port/ from inside `host`'s network namespace (another machine)."""
    url = f"http://{address}:{port}/"
    script = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read())"
    out = subprocess.run(
        ["ip", "netns", "exec", cluster.host[host].netns, "python3", "-c", script],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return out.stdout + out.stderr


def inspect_on(engine: EngineHost, container: str, template: str) -> str:
    return engine.docker("inspect", "-f", template, container, check=True).stdout.strip()


def running_everywhere(cluster: HostCluster, container: str) -> list[str]:
    """The hosts whose engine runs `container`."""
    return [
        h.name
        for h in cluster.engines.hosts
        if h.docker("inspect", "-f", "{{.State.Running}}", container).stdout.strip() == "true"
    ]


def wait_replicas(cluster: HostCluster, bundle: str, count: int, what: str) -> list[Replica]:
    """Until `count` replicas of `bundle` run their resource ('Started'), each on a node."""

    def probe():
        reps = cluster.replicas(bundle)
        up = [r for r in reps if r.host and r.role == "Started"]
        return len(up) == count, reps

    return wait_for(probe, 180, what)


def create_web(cluster: HostCluster, bundle: str, replicas: int, network: list[str], port: int):
    """A bundle of the test's bundle image serving /srv/www with python's http.server on
    `port` (ocf:heartbeat:anything): created disabled, its resource added, then enabled
    (adding the resource changes the replicas' run command)."""
    node = cluster.any_up()
    cluster.pcs(
        node, "resource", "bundle", "create", bundle, "container", "docker",
        f"image={BUNDLE_IMAGE}", f"replicas={replicas}", *network, "--disabled",
    )  # fmt: skip
    cluster.pcs(
        node, "resource", "create", f"{bundle}-http", "ocf:heartbeat:anything",
        "binfile=/usr/bin/python3",
        f"cmdline_options=-m http.server {port} --directory /srv/www", "bundle", bundle,
    )  # fmt: skip
    cluster.pcs(node, "resource", "enable", bundle)


def delete_bundle(cluster: HostCluster, bundle: str, replicas: int) -> None:
    cluster.pcs(cluster.any_up(), "resource", "delete", bundle, "--force", timeout=180)
    wait_for(
        lambda: (
            not any(running_everywhere(cluster, f"{bundle}-docker-{i}") for i in range(replicas)),
            [running_everywhere(cluster, f"{bundle}-docker-{i}") for i in range(replicas)],
        ),
        120,
        f"{bundle}'s replicas gone from every engine",
    )


@pytest.fixture(scope="module")
def web(hosts):
    """Two replicas on a bridge network with ip-range-start (three hosts: one is free)."""
    address = ".".join(map(str, FIRST_ADDRESS))
    network = [
        "network", f"ip-range-start={address}", "host-interface=eth0", "host-netmask=24",
        "port-map", "id=web-http-port", "port=8080",
    ]  # fmt: skip
    create_web(hosts, WEB, 2, network, 8080)
    yield hosts
    delete_bundle(hosts, WEB, 2)


def test_bridge_replicas_get_addresses_on_their_hosts(web):
    reps = wait_replicas(web, WEB, 2, "both replicas of web started")
    assert len({r.host for r in reps}) == 2, reps
    assert [r.address for r in reps] == ["192.0.2.131", "192.0.2.132"], reps
    for rep in reps:
        engine = web.host[rep.host]
        container = f"{WEB}-docker-{rep.index}"
        # Pacemaker names the replica's host after its guest node (-h), which agents rely on
        out = engine.docker("exec", container, "uname", "-n")
        assert out.stdout.strip() == rep.guest, out
        ports = engine.docker("port", container).stdout
        assert f"{rep.address}:8080" in ports and f"{rep.address}:3121" in ports, ports
        # the log directory Pacemaker maps is the host's own
        assert (engine.path("/var/log/pacemaker") / "bundles" / rep.guest).is_dir()
        other = next(n for n in web.nodes if n != rep.host)
        page = wait_for(
            lambda a=rep.address, o=other: (
                "pdtest-bundle" in (t := http_from(web, o, a, 8080)),
                t,
            ),
            60,
            f"{rep.guest}'s service at {rep.address}:8080 from {other}",
        )
        assert "pdtest-bundle" in page
        assert running_everywhere(web, container) == [engine.name]


def test_replica_follows_a_stopped_node_and_never_runs_twice(web):
    reps = wait_replicas(web, WEB, 2, "both replicas of web started")
    moved = reps[0]
    free = next(n for n in web.nodes if n not in {r.host for r in reps})
    out = web.host[moved.host].docker("stop", "-t", "120", moved.host, timeout=300)
    assert out.returncode == 0, out.stderr
    container = f"{WEB}-docker-{moved.index}"

    def moved_there():
        now = {r.index: r for r in wait_replicas(web, WEB, 2, "web back to two replicas")}
        return now[moved.index].host == free, now

    wait_for(moved_there, 120, f"{moved.guest} on {free}")
    # the node stopped its replica before it left; the address went with the replica
    assert running_everywhere(web, container) == [web.host[free].name]
    other = next(n for n in web.nodes if n not in (free, moved.host))
    assert "pdtest-bundle" in http_from(web, other, moved.address, 8080)
    # back: the node rejoins; its engine has no replica, so nothing is "active on 2 nodes"
    assert web.host[moved.host].docker("start", moved.host).returncode == 0
    web.wait_formed(other, 3)
    reps = wait_replicas(web, WEB, 2, "web with all nodes back")
    for rep in reps:
        assert len(running_everywhere(web, f"{WEB}-docker-{rep.index}")) == 1, rep


def test_power_cut_replica_is_killed_before_it_starts_elsewhere(web):
    """The node's container is killed and its replica keeps running on the engine, as after
    a crash of the node alone: the fence (fence_docker_api over TCP) kills the replica before
    Pacemaker starts it on another node."""
    reps = wait_replicas(web, WEB, 2, "both replicas of web started")
    cut = reps[0]
    container = f"{WEB}-docker-{cut.index}"
    engine = web.host[cut.host]
    assert engine.docker("kill", cut.host).returncode == 0
    survivor = next(n for n in web.nodes if n != cut.host)

    def recovered():
        now = {r.index: r for r in web.replicas(WEB)}
        rep = now[cut.index]
        return rep.host not in (None, cut.host) and rep.role == "Started", now

    now = wait_for(recovered, 180, f"{cut.guest} started on another node after the fence")
    new_engine = web.host[now[cut.index].host]
    assert running_everywhere(web, container) == [new_engine.name]
    history = web.exec(survivor, "stonith_admin", "--history", cut.host, "--output-as=xml")
    fenced = [e for e in fence_events(history.stdout) if e.get("status") == "success"]
    assert fenced, history.stdout
    # the old replica died before the fence reported success, the new one started after it
    # (Pacemaker 2.1 records whole seconds: its success lies within the second it names)
    done = completed(fenced[-1])
    done_by = done + (0 if "." in fenced[-1].get("completed", "") else 1)
    died = docker_time(inspect_on(engine, container, "{{.State.FinishedAt}}"))
    born = docker_time(inspect_on(new_engine, container, "{{.State.StartedAt}}"))
    assert died <= done_by and done <= born, (died, done, born)
    assert engine.docker("start", cut.host).returncode == 0
    web.wait_formed(survivor, 3)
    wait_replicas(web, WEB, 2, "web with the cut node back")
    assert len(running_everywhere(web, container)) == 1


def test_host_network_replicas_serve_on_every_host(hosts):
    bundle, port = "hweb", 8081
    network = ["network=host", "network", "control-port=3122"]
    create_web(hosts, bundle, 3, network, port)
    try:
        reps = wait_replicas(hosts, bundle, 3, "three replicas of hweb started")
        assert len({r.host for r in reps}) == 3, reps
        for rep in reps:
            engine = hosts.host[rep.host]
            container = f"{bundle}-docker-{rep.index}"
            sockets = engine.docker("exec", container, "find", "/", "-xdev", "-type", "s")
            assert any(s.endswith("/lrmd") for s in sockets.stdout.split()), sockets
            other = next(n for n in hosts.nodes if n != rep.host)
            page = wait_for(
                lambda a=engine.address, o=other: (
                    "pdtest-bundle" in (t := http_from(hosts, o, a, port)),
                    t,
                ),
                60,
                f"{rep.guest}'s service on {engine.name}:{port}",
            )
            assert "pdtest-bundle" in page
    finally:
        delete_bundle(hosts, bundle, 3)


# --- PostgreSQL with PAF, a promotable bundle of three replicas (examples/postgresql) -------

PG_IMAGE = f"{PREFIX}-pg:test"


@pytest.fixture(scope="module")
def pg(hosts):
    bootstrap_pg(hosts, PG_IMAGE)
    client = hosts.engines.network.add_host(name="client")
    # the recipe's 15 s and 16 s, shorter: each step here waits for the promotion scores
    create_pg(hosts, PG_IMAGE, monitor=5)
    wait_primary(hosts, client.netns, None)
    out = pg_query(client.netns, f"CREATE TABLE {TABLE} (id integer PRIMARY KEY)")
    assert out.returncode == 0, out.stderr
    return hosts, client


def test_database_survives_a_power_cut_of_its_primary(pg):
    """The primary's host loses power: its data link goes dead, the VIP with it, and its
    node and replica die at once. The cluster fences the node through the host's BMC (its
    engine on the management network), PAF promotes the standby that has the most WAL, the
    VIP follows; every commit the client was told about is there. The host comes back and
    the replica rejoins as a standby (its crashed primary's data re-cloned)."""
    cluster, client = pg
    primary, _ = wait_primary(cluster, client.netns, None)
    writer = Writer(client, "power-cut")
    try:
        writer.wait_acks(50, 0, "the client's first commits through the VIP")
        engine = cluster.host[primary.host]
        cut = time.monotonic()
        engine.power_cut(primary.host, f"{PG}-docker-{primary.index}")
        new, promoted = wait_primary(cluster, client.netns, not_on=primary.host)
        writer.wait_acks(50, promoted, "commits through the VIP after the promotion")
    finally:
        acks = writer.stop()
    assert new.host != primary.host
    check_no_acknowledged_row_lost(client, acks)
    gap = outage(acks, cut)
    measure(
        "database power cut",
        f"write outage {gap:.1f}s, new primary seen {promoted - cut:.1f}s after the cut, "
        f"{len(acks)} commits acknowledged, none lost",
    )
    measure("database power cut, the client's view", timeline(writer, cut))
    engine.power_on()
    assert engine.docker("start", primary.host).returncode == 0
    wait_primary(cluster, client.netns, None, standbys=2)


def test_database_switches_over_on_docker_stop(pg):
    """`docker stop` of the primary's node: Pacemaker demotes and stops its replica, PAF
    promotes a standby that has the old primary's last WAL; no acknowledged commit is lost."""
    cluster, client = pg
    primary, _ = wait_primary(cluster, client.netns, None, standbys=2)
    writer = Writer(client, "switchover")
    try:
        writer.wait_acks(50, 0, "the client's first commits through the VIP")
        engine = cluster.host[primary.host]
        stop = time.monotonic()
        out = engine.docker("stop", "-t", "120", primary.host, timeout=300)
        assert out.returncode == 0, out.stderr
        took = time.monotonic() - stop
        assert (
            engine.docker("inspect", "-f", "{{.State.ExitCode}}", primary.host).stdout.strip()
            == "0"
        )
        new, promoted = wait_primary(cluster, client.netns, not_on=primary.host)
        writer.wait_acks(50, promoted, "commits through the VIP after the switchover")
    finally:
        acks = writer.stop()
    check_no_acknowledged_row_lost(client, acks)
    gap = outage(acks, stop)
    measure(
        "database switchover (docker stop)",
        f"write outage {gap:.1f}s, docker stop {took:.1f}s, {len(acks)} commits acknowledged,"
        " none lost",
    )
    measure("database switchover, the client's view", timeline(writer, stop))
    assert engine.docker("start", primary.host).returncode == 0
    wait_primary(cluster, client.netns, None, standbys=2)
