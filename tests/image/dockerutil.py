"""Helpers for the image-level tests: the docker CLI, crm_mon parsing, bounded waits, cleanup.

Everything a test creates is named `pdtest-<token>-...` (TOKEN is random per session) and is
registered with a `Resources` instance, which removes it even when the test fails. Nothing
that was not registered is ever touched.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import re
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pcmk_launch import health
from tests.helpers.fencing import fence_events

ROOT = Path(__file__).resolve().parents[2]
# The Debian base of the image under test, and its tag, chosen as image/image.mk does:
# the Dockerfile's ARG default is :latest, another base is pacemaker_docker:<suite>.
# Tests also use the base as a small sibling image that is present locally.
DEFAULT_BASE_IMAGE = re.search(
    r"^ARG +BASE_IMAGE=(\S+)", (ROOT / "Dockerfile").read_text(), re.M
).group(1)
BASE_IMAGE = os.environ.get("BASE_IMAGE") or DEFAULT_BASE_IMAGE
BASE_SUITE = BASE_IMAGE.rpartition(":")[2].split("-")[0]
DEFAULT_TAG = "latest" if BASE_IMAGE == DEFAULT_BASE_IMAGE else BASE_SUITE
IMAGE = os.environ.get("IMAGE") or f"pacemaker_docker:{DEFAULT_TAG}"
# The cloud variant (`make image CLOUD=1`: the image plus boto3 and fence_aws), named as
# image/image.mk names it: pacemaker_docker:cloud for the default base, :<suite>-cloud else.
CLOUD_IMAGE = os.environ.get("CLOUD_IMAGE") or (
    "pacemaker_docker:cloud" if DEFAULT_TAG == "latest" else f"pacemaker_docker:{BASE_SUITE}-cloud"
)
TOKEN = secrets.token_hex(3)
PREFIX = f"pdtest-{TOKEN}"
# Container networks of these tests, their compose demo's included: a /24 out of here (RFC 2544
# benchmarking range). A user's `make demo` has 198.18.0.0/24; stay out of it.
TEST_SUPERNET = ipaddress.ip_network("198.19.0.0/16")

# multi-node clusters need an authkey (PCMK_CRYPTO=on by default); every node derives it
PASSPHRASE = f"pdtest passphrase {TOKEN}"

MEASUREMENTS: dict[str, str] = {}

# Profile A's capabilities (README's multi-host line): everything else is dropped.
PROFILE_A_CAPS = (
    "CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETUID", "SETGID", "NET_ADMIN", "NET_RAW",
    "SYS_NICE",
)  # fmt: skip


def measure(key: str, value: str) -> None:
    """Record a number for the end-of-session summary (tests/image/conftest.py prints them)."""
    MEASUREMENTS[key] = value


def docker(
    *args: str, check: bool = False, timeout: float = 120, host: str | None = None
) -> subprocess.CompletedProcess:
    cmd = ["docker", *(["-H", host] if host else []), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(
            f"`{' '.join(cmd)}` exited {out.returncode}:\n{out.stdout}{out.stderr}".rstrip()
        )
    return out


def make_image(image: str, base: str, cloud: bool = False) -> str:
    """`make image` from this tree on Debian base `base`, tagged `image` (cached layers: seconds
    when nothing changed), with `cloud` its cloud variant (CLOUD=1); the last line of its
    summary, if any."""
    out = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "image", f"IMAGE={image}", f"BASE_IMAGE={base}"]
        + (["CLOUD=1"] if cloud else []),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, f"make image {image}:\n{out.stdout[-3000:]}{out.stderr[-3000:]}"
    summary = [line for line in out.stdout.splitlines() if line.startswith("built ")]
    return summary[-1] if summary else ""


def pacemaker_version(container: str | None = None, image: str | None = None) -> str:
    """First line of `pacemakerd --version` in a running container, or in a throwaway one."""
    if container is not None:
        out = dexec(container, "pacemakerd", "--version")
    else:
        out = docker("run", "--rm", "--network", "none", image, "pacemakerd", "--version")
    return out.stdout.split("\n")[0]


def node_env(node_list: str, remote_key: str, props: str) -> list[str]:
    """`docker run` arguments of a full node's configuration: its node list, the test's
    cluster passphrase, a Pacemaker Remote passphrase and PCMK_CLUSTER_PROPERTIES."""
    return [
        "-e", f"PCMK_NODE_LIST={node_list}",
        "-e", f"PCMK_AUTHKEY_PASSPHRASE={PASSPHRASE}",
        "-e", f"PCMK_REMOTE_AUTHKEY_PASSPHRASE={remote_key}",
        "-e", f"PCMK_CLUSTER_PROPERTIES={props}",
    ]  # fmt: skip


def dexec(container: str, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return docker("exec", container, *cmd, timeout=timeout)


def inspect(container: str, template: str) -> str:
    return docker("inspect", "-f", template, container, check=True).stdout.strip()


def logs(container: str, tail: int | None = None) -> str:
    args = ["logs", *(["--tail", str(tail)] if tail else []), container]
    out = docker(*args, timeout=60)
    return out.stdout + out.stderr


# --- cluster state ------------------------------------------------------------------------


@dataclass
class Mon:
    """What `crm_mon --output-as=xml` says, reduced to what the tests look at."""

    dc: str | None
    quorate: bool
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    resources: dict[str, dict] = field(default_factory=dict)

    @property
    def online(self) -> list[str]:
        return sorted(n for n, a in self.nodes.items() if a.get("online") == "true")

    @property
    def offline(self) -> list[str]:
        return sorted(n for n, a in self.nodes.items() if a.get("online") != "true")

    def __str__(self) -> str:
        res = " ".join(f"{r}={a['role']}@{','.join(a['nodes'])}" for r, a in self.resources.items())
        return (
            f"online {self.online} offline {self.offline} DC {self.dc} "
            f"quorum {self.quorate} resources [{res}]"
        )


def parse_crm_mon(text: str) -> Mon | None:
    """crm_mon's XML through the launcher's own parser (pcmk_launch.health.parse), as the
    strings these tests compare ("true"/"false"); None when it is no cluster status."""
    try:
        state = health.parse(text)
    except ValueError:
        return None

    def flag(value: bool) -> str:
        return "true" if value else "false"

    nodes = {
        n.name: {
            "name": n.name,
            "id": n.id,
            "type": n.type,
            "online": flag(n.online),
            "standby": flag(n.standby),
            "unclean": flag(n.unclean),
            "expected_up": flag(n.expected_up),
        }
        for n in state.nodes
    }
    resources: dict[str, dict] = {
        r.id: {
            "id": r.id,
            "resource_agent": r.agent,
            "role": r.role,
            "nodes": list(r.nodes),
            "active": flag(r.active),
            "failed": flag(r.failed),
        }
        for r in state.resources
    }
    return Mon(dc=state.dc, quorate=state.quorate, nodes=nodes, resources=resources)


def crm_mon(container: str) -> Mon | None:
    out = dexec(container, "crm_mon", "--one-shot", "--output-as=xml", timeout=30)
    return parse_crm_mon(out.stdout)


def wait_for(
    probe: Callable[[], tuple[bool, object]],
    timeout: float,
    what: str,
    interval: float = 1.0,
    container: str | None = None,
):
    """Call probe() until it returns (True, value); returns value. Bounded by `timeout`."""
    start = time.monotonic()
    last: object = None
    while True:
        try:
            done, last = probe()
        except subprocess.TimeoutExpired as exc:
            done, last = False, f"timed out: {exc}"
        if done:
            return last
        if container and container_state(container) in ("exited", "dead", "missing"):
            raise AssertionError(
                f"{what}: container {container} is {container_state(container)}; "
                f"last state: {last}\n--- docker logs --tail 40 ---\n{logs(container, 40)}"
            )
        if time.monotonic() - start > timeout:
            detail = (
                f"\n--- docker logs --tail 40 {container} ---\n{logs(container, 40)}"
                if container
                else ""  # logs(None) would raise and hide this message
            )
            raise AssertionError(
                f"{what}: not reached within {timeout:.0f}s; last state: {last}{detail}"
            )
        time.sleep(interval)


def pcs(container: str, *args: str, timeout: float = 60) -> str:
    """pcs in a node; its stdout, or an assertion naming the command and its output."""
    out = dexec(container, "pcs", *args, timeout=timeout)
    assert out.returncode == 0, f"pcs {' '.join(args)}: {out.stdout}{out.stderr}"
    return out.stdout


def fence_history(container: str, target: str) -> list[dict[str, str]]:
    """Every fencing event for `target` (stonith_admin --history --verbose: failures too)."""
    out = dexec(
        container, "stonith_admin", "--history", target, "--verbose", "--output-as=xml", timeout=30
    )
    return fence_events(out.stdout)


def completed(event: dict[str, str]) -> float:
    """The `completed` attribute as Unix time: '2026-12-01 07:52:45Z' (whole seconds, 2.1) or
    '2026-12-01 07:52:45.214631Z' (3.0)."""
    stamp = event.get("completed", "").rstrip("Z")
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()


def wait_formed(container: str, online: int, timeout: float = 90) -> Mon:
    """Until crm_mon in `container` shows `online` nodes online, a DC and quorum."""

    def probe():
        mon = crm_mon(container)
        ok = mon is not None and mon.dc is not None and mon.quorate and len(mon.online) >= online
        return ok, mon if mon is not None else "crm_mon not answering yet"

    return wait_for(probe, timeout, f"{container}: {online} online with DC", container=container)


def container_state(container: str) -> str:
    out = docker("inspect", "-f", "{{.State.Status}}", container)
    return out.stdout.strip() if out.returncode == 0 else "missing"


def health_status(container: str) -> str:
    return inspect(container, "{{if .State.Health}}{{.State.Health.Status}}{{end}}")


def health_log(container: str) -> list[dict]:
    return json.loads(inspect(container, "{{json .State.Health.Log}}")) or []


def started_at(container: str) -> float:
    """The container's State.StartedAt as a Unix time."""
    return docker_time(inspect(container, "{{.State.StartedAt}}"))


def docker_time(stamp: str) -> float:
    """A time docker prints (RFC 3339 in UTC, with nanoseconds) as a Unix time."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    base = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return base + float("0." + (frac or "0"))


# --- cleanup --------------------------------------------------------------------------------


class Resources:
    """Containers, networks and volumes a test made; `cleanup()` removes exactly those."""

    def __init__(self) -> None:
        self.containers: list[str] = []
        self.networks: list[str] = []
        self.volumes: list[str] = []
        self.callbacks: list[Callable[[], None]] = []

    def container(self, name: str) -> str:
        self.containers.append(name)
        return name

    def network(self, name: str) -> str:
        self.networks.append(name)
        return name

    def volume(self, name: str) -> str:
        self.volumes.append(name)
        return name

    def on_cleanup(self, fn: Callable[[], None]) -> None:
        self.callbacks.append(fn)

    def dump_logs(self) -> None:
        for name in self.containers:
            if container_state(name) != "missing":
                print(f"--- docker logs --tail 60 {name} ---\n{logs(name, 60)}")

    def cleanup(self) -> list[str]:
        problems = []
        for fn in reversed(self.callbacks):
            try:
                fn()
            except Exception as exc:  # keep cleaning up
                problems.append(f"cleanup callback: {exc}")
        for name in reversed(self.containers):
            if container_state(name) == "missing":
                continue
            out = docker("rm", "-f", "-v", name, timeout=180)
            if out.returncode != 0 and container_state(name) != "missing":
                problems.append(f"docker rm -f -v {name}: {out.stderr.strip()}")
        for name in reversed(self.networks):
            if docker("network", "inspect", name).returncode != 0:
                continue
            out = docker("network", "rm", name)
            if out.returncode != 0:
                problems.append(f"docker network rm {name}: {out.stderr.strip()}")
        for name in reversed(self.volumes):
            if docker("volume", "inspect", name).returncode != 0:
                continue
            out = docker("volume", "rm", "-f", name)
            if out.returncode != 0:
                problems.append(f"docker volume rm {name}: {out.stderr.strip()}")
        return problems


def used_subnets() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    ids = docker("network", "ls", "-q", check=True).stdout.split()
    subnets = []
    if ids:
        out = docker(
            "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", *ids
        ).stdout
        subnets += [ipaddress.ip_network(s, strict=False) for s in out.split()]
    routes = subprocess.run(["ip", "-o", "-4", "route"], capture_output=True, text=True).stdout
    for line in routes.splitlines():
        dest = line.split()[0]
        if dest != "default":
            subnets.append(ipaddress.ip_network(dest, strict=False))
    return subnets


def create_network(resources: Resources, suffix: str) -> tuple[str, ipaddress.IPv4Network]:
    """A user bridge network with a free /24 out of TEST_SUPERNET."""
    name = resources.network(f"{PREFIX}-{suffix}")
    candidates = list(TEST_SUPERNET.subnets(new_prefix=24))
    random.shuffle(candidates)
    last = ""
    for subnet in candidates[:20]:
        if any(subnet.overlaps(u) for u in used_subnets() if u.version == 4):
            continue
        out = docker(
            "network", "create", "--driver", "bridge", "--subnet", str(subnet),
            "--label", "pdtest=1", name,
        )  # fmt: skip
        if out.returncode == 0:
            return name, subnet
        last = out.stderr.strip()  # raced with someone else: next subnet
    raise AssertionError(f"could not create a network in {TEST_SUPERNET}: {last}")
