"""Standalone node, the original README way: `docker run -d --net=host -v docker.sock IMAGE`.

One container for the whole module (--net=host shares this machine's network namespace, so
never two at once: corosync binds 127.0.0.1:5405 there). Then what an operator does with it:
crm_mon, `docker ps` through the mounted socket, pcs with an ocf:heartbeat:docker resource
that runs a sibling container on the host, and `docker stop`.

The resource's run_opts add `--network=none` (these tests create no container on Docker's
default 172.17 bridge) and `--init`: without an init, `sleep` is PID 1 of its container and
ignores SIGTERM, so the agent's `docker stop -t <stop timeout - 10s>` waits the full 80 s
before Docker kills it (the agent's behaviour, not the image's).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.image.dockerutil import (
    BASE_IMAGE,
    PREFIX,
    crm_mon,
    dexec,
    docker,
    health_status,
    inspect,
    logs,
    measure,
    started_at,
    wait_for,
    wait_formed,
)
from tests.prereq import require

HOSTNAME = os.uname().nodename  # --net=host: the node takes the host's name
SIBLING_IMAGE = BASE_IMAGE  # present locally: the image was built on it


def udp_port_in_use(port: int) -> bool:
    """Any UDP socket bound to `port` in this (the host's) network namespace."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local = line.split()[1]
            if int(local.rsplit(":", 1)[1], 16) == port:
                return True
    return False


@pytest.fixture(scope="module")
def standalone(built_image, module_resources) -> str:
    require(
        not udp_port_in_use(5405),
        "UDP port 5405 is busy in the host network namespace (another --net=host cluster?)",
    )
    name = module_resources.container(f"{PREFIX}-standalone")
    t0 = time.monotonic()
    docker(
        "run", "-d", "-v", "/var/run/docker.sock:/var/run/docker.sock", "--net=host",
        f"--name={name}", built_image,
        check=True,
    )  # fmt: skip
    wait_formed(name, online=1, timeout=90)
    measure(
        "standalone: crm_mon shows 1 node online with a DC after", f"{time.monotonic() - t0:.1f}s"
    )
    return name


def create_docker_resource(container: str, resources, resource: str) -> None:
    resources.container(resource)  # the agent names the host's container after the resource
    out = dexec(
        container, "pcs", "resource", "create", resource, "ocf:heartbeat:docker",
        f"image={SIBLING_IMAGE}", "run_cmd=sleep 100000", "run_opts=--network=none --init",
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def host_container(name: str) -> tuple[str, str, str] | None:
    """(state, image, command) of the host's container `name`, or None."""
    out = docker("ps", "-a", "--filter", f"name=^/{name}$", "--format", "{{.State}}")
    if not out.stdout.strip():
        return None
    return (
        inspect(name, "{{.State.Status}}"),
        inspect(name, "{{.Config.Image}}"),
        inspect(name, "{{json .Config.Cmd}}"),
    )


def wait_started(container: str, resource: str) -> None:
    def probe():
        mon = crm_mon(container)
        res = mon.resources.get(resource) if mon else None
        ok = res is not None and res["role"] == "Started" and res["nodes"] == [HOSTNAME]
        return ok, mon

    wait_for(probe, 60, f"{resource} Started on {HOSTNAME}", container=container)


def test_standalone_forms_a_one_node_cluster_named_after_the_host(standalone):
    mon = crm_mon(standalone)
    assert mon is not None
    assert mon.online == [HOSTNAME] and mon.offline == [], mon
    assert mon.dc == HOSTNAME and mon.quorate, mon
    text = dexec(standalone, "crm_mon", "-1")
    assert text.returncode == 0, text.stderr
    assert f"Online: [ {HOSTNAME} ]" in text.stdout, text.stdout
    assert "partition with quorum" in text.stdout


def test_pacemakers_daemons_started_through_the_gate_without_waiting_it_out(standalone):
    """The fencer, attribute manager and controller run from gated/ (image/pacemaker-gate
    exec'd them), and no gate gave up waiting: the socket names it waits for are this
    Pacemaker's."""
    ps = dexec(standalone, "ps", "-eo", "args")
    assert ps.returncode == 0, ps.stderr
    gated = dexec(standalone, "/usr/libexec/pcmk-launch/pacemaker-gate", "--gated").stdout.split()
    running = ps.stdout.splitlines()
    for daemon in gated:
        assert f"/usr/lib/pacemaker/gated/{daemon}" in running, ps.stdout
    assert "pacemaker-gate:" not in logs(standalone)


def test_standalone_sees_the_hosts_containers_through_the_socket(standalone):
    inside = dexec(standalone, "docker", "ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}")
    assert inside.returncode == 0, inside.stderr
    own_id = inspect(standalone, "{{.Id}}")
    assert f"{own_id} {standalone}" in inside.stdout.splitlines(), inside.stdout


def test_standalone_turns_healthy(standalone):
    out = dexec(standalone, "pcmk-launch", "health")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("healthy:") and out.stdout.count("\n") == 1, out.stdout
    # Docker's own status: the first check runs one interval (10 s) after the start
    wait_for(
        lambda: (health_status(standalone) == "healthy", health_status(standalone)),
        60,
        "docker health status healthy",
        interval=0.5,
        container=standalone,
    )
    measure(
        "standalone: docker health 'healthy' after start",
        f"{time.time() - started_at(standalone):.1f}s",
    )


def test_pcs_runs_and_removes_a_sibling_container(standalone, resources):
    require(
        docker("image", "inspect", SIBLING_IMAGE).returncode == 0,
        f"{SIBLING_IMAGE} not present locally (image/base-image.sh)",
    )
    out = dexec(standalone, "pcs", "property", "set", "stonith-enabled=false")
    assert out.returncode == 0, out.stdout + out.stderr
    query = dexec(standalone, "crm_attribute", "--type", "crm_config", "--name",
                  "stonith-enabled", "--query", "--quiet")  # fmt: skip
    assert query.stdout.strip() == "false", query.stdout + query.stderr

    meta = dexec(standalone, "crm_resource", "--show-metadata", "ocf:heartbeat:docker")
    assert meta.returncode == 0, meta.stderr
    for param in ("image", "run_cmd", "run_opts", "name"):
        assert f'<parameter name="{param}"' in meta.stdout, param

    resource = f"{PREFIX}-mycontainer"
    create_docker_resource(standalone, resources, resource)

    def running():
        found = host_container(resource)
        return found is not None and found[0] == "running", found

    wait_for(running, 60, f"host container {resource} running", container=standalone)
    state, image, cmd = host_container(resource)
    assert image == SIBLING_IMAGE and cmd == '["sleep","100000"]', (image, cmd)
    wait_started(standalone, resource)
    text = dexec(standalone, "crm_mon", "-1").stdout
    assert resource in text and f"Started {HOSTNAME}" in text, text

    t0 = time.monotonic()
    out = dexec(standalone, "pcs", "resource", "delete", resource, timeout=150)
    assert out.returncode == 0, out.stdout + out.stderr
    measure("pcs resource delete (docker resource)", f"{time.monotonic() - t0:.1f}s")
    assert host_container(resource) is None, "the resource's container is still on the host"
    mon = crm_mon(standalone)
    assert resource not in mon.resources, mon


def test_docker_stop_stops_managed_containers_then_exits_0(standalone, resources):
    """Last test of the module: it stops the standalone node."""
    require(docker("image", "inspect", SIBLING_IMAGE).returncode == 0, f"no {SIBLING_IMAGE}")
    dexec(standalone, "pcs", "property", "set", "stonith-enabled=false")
    resource = f"{PREFIX}-stopme"
    create_docker_resource(standalone, resources, resource)
    wait_started(standalone, resource)
    assert host_container(resource)[0] == "running"

    t0 = time.monotonic()
    out = docker("stop", "-t", "120", standalone, timeout=180)
    elapsed = time.monotonic() - t0
    assert out.returncode == 0, out.stderr
    measure("standalone: docker stop -t 120 with one docker resource", f"{elapsed:.1f}s")
    assert inspect(standalone, "{{.State.ExitCode}}") == "0"
    assert elapsed < 100, "took longer than PCMK_STOP_TIMEOUT: was something SIGKILLed?"
    assert host_container(resource) is None, "pacemaker did not stop its container on docker stop"
    text = logs(standalone)
    # pacemaker 2.1 logs the result as "ok", 3.0 as "OK"
    assert re.search(rf"Result of stop operation for {resource} on {HOSTNAME}: (ok|OK)", text)
    assert "clean stop" in text and "[pcmk-launch] exiting with code 0" in text, text[-3000:]
    assert "SIGKILL" not in text
