"""The deployment profiles under Debian's podman (rootful), beside Docker: the README's lines
with `podman` for `docker`, and podman's Docker-compatible API socket for the engine socket.

The image built for Docker is copied into podman's storage (`docker save | podman load`; put
back as it was afterwards). podman's API is `podman system service` on a socket in this
module's own directory, started and stopped by its pid. Everything is named
`pdtest-<token>-pm*` and removed at the end, anonymous volumes included.

Shown:
- profile A: one node from the README's line (a podman network and `--ip` instead of
  --net=host) forms, `pcmk-launch status` exits 0 and says healthy, the container has exactly
  the capabilities asked for, no-new-privileges and a read-only root; the image's HEALTHCHECK
  passes when run (`podman healthcheck run`: podman runs it from systemd timers, and there is
  no systemd here); `podman stop` returns 0 after the launcher's clean stop.
- fence_docker_api against podman's socket: status, off (SIGKILL, exit 137), on, reboot,
  list, monitor, a paused container, a missing one.
- profile B: the engine filter in front of podman's socket lets the agent fence its container
  and refuses a bystander and a create; two profile-A nodes on podman fence a frozen peer
  through it (pacemaker-fenced, fence_docker_api, the filter, podman).
- profile C: ocf:heartbeat:docker through podman's socket. What does not work, measured: the
  agent takes only Docker's "No such container" for a missing container, podman says "no
  such container", so a probe of a container that does not exist yet is an error (rc 1) and
  not "not running" (rc 7); and podman lists the image as localhost/NAME, so `image=NAME`
  is "not found" (rc 6). What works: a container created beforehand, `reuse=true`,
  `image=localhost/NAME`: pacemaker starts, stops and starts it again.

Measured on this machine and CI's (no CAP_SYS_RESOURCE in the bounding set): podman 4.3
(Debian 12) asks runc for RLIMIT_NOFILE and RLIMIT_NPROC of 1048576, above its own hard limits,
and every container fails ("error setting rlimit type 7: operation not permitted"). Where
that happens this module gives podman a containers.conf (CONTAINERS_CONF) whose
default_ulimits are podman's own hard limits, as README's Podman section says to do.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pcmk_launch.hostcheck import CAPS as CAP_BITS
from tests.helpers.prereq import require, require_commands, require_root
from tests.image.dockerutil import (
    PREFIX,
    PROFILE_A_CAPS,
    TEST_SUPERNET,
    Mon,
    completed,
    docker,
    measure,
    parse_crm_mon,
    used_subnets,
    wait_for,
)

PROFILE_A = [
    "--cap-drop=ALL",
    *(f"--cap-add={c}" for c in PROFILE_A_CAPS),
    "--security-opt=no-new-privileges",
    "--read-only",
    "--tmpfs", "/run", "--tmpfs", "/tmp", "--tmpfs", "/etc/corosync", "--tmpfs", "/var/log",
    "--shm-size=256m",
]  # fmt: skip
FILTER_DIR = "/run/pcmk-filter"
FILTER_SOCK = f"{FILTER_DIR}/docker.sock"
RA = "/usr/lib/ocf/resource.d/heartbeat/docker"

# CONTAINERS_CONF, once this module has written one (see the module's docstring)
PODMAN_ENV: dict[str, str] = {}


def podman(
    *args: str, check: bool = False, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    cmd = ["podman", *args]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(PODMAN_ENV if env is None else env)},
    )  # fmt: skip
    if check and out.returncode != 0:
        raise AssertionError(
            f"`{' '.join(cmd)}` exited {out.returncode}:\n{out.stdout}{quiet(out.stderr)}".rstrip()
        )
    return out


def quiet(stderr: str) -> str:
    """podman's stderr without its level=warning/error lines about things this host lacks
    (systemd for healthcheck timers, aardvark-dns, CNI plugins)."""
    return "\n".join(line for line in stderr.splitlines() if "level=" not in line)


def pexec(container: str, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return podman("exec", container, *cmd, timeout=timeout)


def pstate(container: str) -> str:
    out = podman("inspect", "--format", "{{.State.Status}}", container)
    return out.stdout.strip() if out.returncode == 0 else "missing"


def pinspect(container: str, template: str) -> str:
    return podman("inspect", "--format", template, container, check=True).stdout.strip()


def plogs(container: str, tail: int | None = None) -> str:
    out = podman("logs", *(["--tail", str(tail)] if tail else []), container, timeout=60)
    return out.stdout + quiet(out.stderr)


def crm_mon(container: str) -> Mon | None:
    out = pexec(container, "crm_mon", "--one-shot", "--output-as=xml", timeout=30)
    return parse_crm_mon(out.stdout)


def wait_formed(container: str, online: int, timeout: float = 120) -> Mon:
    def probe():
        if pstate(container) != "running":
            raise AssertionError(f"{container} is {pstate(container)}:\n{plogs(container, 40)}")
        mon = crm_mon(container)
        ok = mon is not None and mon.dc is not None and mon.quorate and len(mon.online) >= online
        return ok, mon if mon is not None else "crm_mon not answering yet"

    return wait_for(probe, timeout, f"{container}: {online} online with a DC")


def pcs(container: str, *args: str, timeout: float = 90) -> str:
    out = pexec(container, "pcs", *args, timeout=timeout)
    assert out.returncode == 0, f"pcs {' '.join(args)}: {out.stdout}{out.stderr}"
    return out.stdout


def api(sock: str, method: str, target: str, timeout: float = 10) -> tuple[int, str]:
    """One HTTP request to an engine API on a unix socket: (status, body)."""

    class Unix(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(sock)

    conn = Unix("localhost", timeout=timeout)
    try:
        conn.request(method, target)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


# --- what the module creates ----------------------------------------------------------------


@dataclass
class Made:
    """Containers, volumes and networks this module made in podman; removed at the end."""

    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)

    def container(self, name: str) -> str:
        self.containers.append(name)
        return name

    def volume(self, name: str) -> str:
        self.volumes.append(name)
        return name

    def dump_logs(self) -> None:
        for name in self.containers:
            if pstate(name) != "missing":
                print(f"--- podman logs --tail 60 {name} ---\n{plogs(name, 60)}")

    def cleanup(self) -> list[str]:
        problems = []
        # One call: podman stops and removes them in parallel (one by one, the 10 s stop of
        # each cluster node added up to a minute). -v: their anonymous volumes too.
        names = [n for n in reversed(self.containers) if pstate(n) != "missing"]
        if names:
            out = podman("rm", "-f", "-v", "-t", "10", *names, timeout=180)
            for name in names:
                if pstate(name) != "missing":
                    problems.append(f"podman rm -f -v {name}: {quiet(out.stderr)}")
        for name in reversed(self.volumes):
            if podman("volume", "exists", name).returncode != 0:
                continue
            out = podman("volume", "rm", "-f", name)
            if out.returncode != 0:
                problems.append(f"podman volume rm {name}: {quiet(out.stderr)}")
        for name in reversed(self.networks):
            if podman("network", "exists", name).returncode != 0:
                continue
            out = podman("network", "rm", "-f", name)
            if out.returncode != 0:
                problems.append(f"podman network rm {name}: {quiet(out.stderr)}")
        return problems


def leftovers() -> dict[str, list[str]]:
    """Anything of this session's in podman (the safety net after cleanup)."""
    containers = podman("ps", "-a", "--format", "{{.Names}}", "--filter", f"name={PREFIX}")
    volumes = podman("volume", "ls", "--format", "{{.Name}}", "--filter", f"name={PREFIX}")
    networks = podman("network", "ls", "--format", "{{.Name}}", "--filter", f"name={PREFIX}")
    return {
        "containers": containers.stdout.split(),
        "volumes": volumes.stdout.split(),
        "networks": networks.stdout.split(),
    }


# --- the engine -----------------------------------------------------------------------------


@dataclass
class Podman:
    image: str  # as the README's lines name it (podman finds it as localhost/...)
    ref: str  # what `podman images` lists: localhost/NAME:TAG
    work: Path
    socket: str  # podman's Docker-compatible API
    network: str
    subnet: ipaddress.IPv4Network
    authkey: Path
    made: Made

    def addr(self, host: int) -> str:
        return str(self.subnet[host])


def hard_limits(pid: int) -> dict[str, int]:
    """The hard RLIMIT_NOFILE and RLIMIT_NPROC of a process (unlimited: 1048576, podman's
    default)."""
    text = Path(f"/proc/{pid}/limits").read_text()
    found = {}
    for key, name in (("nofile", "Max open files"), ("nproc", "Max processes")):
        m = re.search(rf"^{name}\s+\S+\s+(\S+)", text, re.M)
        assert m, text
        found[key] = 1048576 if m.group(1) == "unlimited" else int(m.group(1))
    return found


def start_service(sock: str, env: dict[str, str]) -> subprocess.Popen:
    """`podman system service` on `sock`, until stop_service(); answers /_ping when returned."""
    log = open(f"{sock}.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{sock}"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env},
    )  # fmt: skip
    log.close()

    def answers() -> tuple[bool, str]:
        if proc.poll() is not None:
            raise AssertionError(
                f"podman system service exited {proc.returncode}: "
                f"{Path(f'{sock}.log').read_text()[-2000:]}"
            )
        try:
            status, body = api(sock, "GET", "/_ping", timeout=2)
        except OSError as exc:
            return False, str(exc)
        return (status, body) == (200, "OK"), (status, body)

    try:
        wait_for(answers, 30, f"podman system service on {sock} answers /_ping", interval=0.2)
    except BaseException:
        stop_service(proc)
        raise
    return proc


def stop_service(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def podman_subnets() -> list[ipaddress.IPv4Network]:
    names = podman("network", "ls", "--format", "{{.Name}}").stdout.split()
    nets = json.loads(podman("network", "inspect", *names).stdout or "[]") if names else []
    return [
        ipaddress.ip_network(s["subnet"], strict=False)
        for n in nets
        for s in n.get("subnets") or []
        if ":" not in s["subnet"]
    ]


def create_network(made: Made, name: str) -> ipaddress.IPv4Network:
    """A podman bridge network with a /24 out of TEST_SUPERNET that neither Docker's networks,
    podman's nor this host's routes use."""
    candidates = list(TEST_SUPERNET.subnets(new_prefix=24))
    random.shuffle(candidates)
    last = ""
    for subnet in candidates[:20]:
        used = [u for u in used_subnets() if u.version == 4] + podman_subnets()
        if any(subnet.overlaps(u) for u in used):
            continue
        out = podman(
            "network", "create", "--subnet", str(subnet), "--disable-dns",
            "--label", "pdtest=1", name,
        )  # fmt: skip
        if out.returncode == 0:
            made.networks.append(name)
            return subnet
        last = quiet(out.stderr)
    raise AssertionError(f"could not create a podman network in {TEST_SUPERNET}: {last}")


def copy_image(image: str) -> tuple[str, str | None, bool]:
    """The image in podman's storage as in Docker's: (ref, podman's previous id of ref,
    loaded?)."""
    name = image if "/" in image.split(":")[0] else f"localhost/{image}"
    ref = name if ":" in name.rsplit("/", 1)[1] else f"{name}:latest"
    want = docker("image", "inspect", "-f", "{{.Id}}", image, check=True).stdout.strip()
    before = podman("image", "inspect", "--format", "{{.Id}}", ref)
    before_id = before.stdout.strip() if before.returncode == 0 else None
    if before_id == want.removeprefix("sha256:"):
        return ref, before_id, False
    t0 = time.monotonic()
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    try:
        load = subprocess.run(
            ["podman", "load"], stdin=save.stdout, capture_output=True, text=True, timeout=600,
            env={**os.environ, **PODMAN_ENV},
        )  # fmt: skip
    finally:
        assert save.stdout is not None
        save.stdout.close()
        save.wait(120)
    assert save.returncode == 0 and load.returncode == 0, (save.returncode, load.stderr)
    got = podman("image", "inspect", "--format", "{{.Id}}", ref, check=True).stdout.strip()
    assert got == want.removeprefix("sha256:"), (ref, got, want)
    measure("podman: docker save | podman load", f"{time.monotonic() - t0:.1f}s")
    return ref, before_id, True


def restore_image(ref: str, before_id: str | None) -> None:
    """Take our copy out of podman's storage; a tag that was there before points back to its
    image."""
    podman("rmi", ref, check=True)
    if before_id:
        podman("tag", before_id, ref, check=True)


@pytest.fixture(scope="module")
def pm(built_image, request):
    require_root()
    require_commands("podman")
    info = podman("info", "--format", "{{.Host.NetworkBackend}} {{.Host.CgroupsVersion}}")
    require(info.returncode == 0, f"`podman info` fails: {quiet(info.stderr)}")
    version = podman("version", "--format", "{{.Client.Version}}").stdout.strip()
    backend, cgroups = info.stdout.split()
    measure("podman", f"{version}, {backend}, cgroups {cgroups}")

    made = Made()
    work = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-pm-"))
    sock = str(work / "podman.sock")
    undo: list = []
    try:
        ref, before_id, loaded = copy_image(built_image)
        if loaded:
            undo.append(lambda: restore_image(ref, before_id))

        # Does a container start as podman is configured? Where it cannot set its rlimits,
        # give it podman's own hard limits as the defaults (see the module's docstring).
        probe = made.container(f"{PREFIX}-pmprobe")
        plain = podman("run", "--rm", "--name", probe, "--network", "none",
                       "--entrypoint", "true", built_image)  # fmt: skip
        service = start_service(sock, {})
        undo.append(lambda: stop_service(service))
        if plain.returncode != 0:
            error = quiet(plain.stderr)
            require("error setting rlimit" in error, f"podman cannot run a container: {error}")
            limits = hard_limits(service.pid)
            conf = work / "containers.conf"
            conf.write_text(
                "[containers]\n"
                f'default_ulimits = ["nofile={limits["nofile"]}:{limits["nofile"]}", '
                f'"nproc={limits["nproc"]}:{limits["nproc"]}"]\n'
            )
            PODMAN_ENV["CONTAINERS_CONF"] = str(conf)
            undo.append(lambda: PODMAN_ENV.clear())
            print(f"podman run without containers.conf: {error}")
            measure("podman: default ulimits refused", error[error.find("error setting rlimit") :])
            measure("podman: containers.conf default_ulimits", f"{limits}")
            stop_service(service)
            undo.pop()
            service = start_service(sock, PODMAN_ENV)
            undo.append(lambda: stop_service(service))
            again = podman("run", "--rm", "--name", probe, "--network", "none",
                           "--entrypoint", "true", built_image)  # fmt: skip
            assert again.returncode == 0, quiet(again.stderr)

        network = f"{PREFIX}-pmnet"
        subnet = create_network(made, network)
        authkey = work / "authkey"  # the README's keygen line; its output is raw bytes
        raw = subprocess.run(
            ["podman", "run", "--rm", "--network", "none", built_image, "keygen"],
            capture_output=True, timeout=120, env={**os.environ, **PODMAN_ENV},
        )  # fmt: skip
        assert raw.returncode == 0 and len(raw.stdout) == 256, (raw.returncode, raw.stderr)
        authkey.write_bytes(raw.stdout)
        authkey.chmod(0o400)

        yield Podman(built_image, ref, work, sock, network, subnet, authkey, made)
    finally:
        failed = any(
            getattr(getattr(item, f"rep_{when}", None), "failed", False)
            for item in request.session.items
            if item.module is request.module
            for when in ("setup", "call")
        )
        if failed:
            made.dump_logs()
        problems = made.cleanup()
        for fn in reversed(undo):
            try:
                fn()
            except Exception as exc:  # keep cleaning up
                problems.append(f"cleanup: {exc}")
        shutil.rmtree(work, ignore_errors=True)
        left = leftovers()
        if any(left.values()):
            for name in left["containers"]:
                podman("rm", "-f", "-v", "-t", "0", name)
            for name in left["volumes"]:
                podman("volume", "rm", "-f", name)
            for name in left["networks"]:
                podman("network", "rm", "-f", name)
            problems.append(f"left behind in podman (now removed): {left}")
        if problems:
            pytest.fail("podman cleanup incomplete:\n" + "\n".join(problems), pytrace=False)


def sleeper(pm: Podman, name: str, *args: str) -> str:
    """A container that sleeps (its own image, no network), for the fence agent to act on."""
    podman("run", "-d", "--name", pm.made.container(name), "--network", "none", *args,
           "--entrypoint", "sleep", pm.image, "infinity", check=True)  # fmt: skip
    return name


def node(
    pm: Podman, name: str, host: int, node_list: str | None, *extra: str, read_only: bool = True
) -> str:
    """`podman run` of a node: the README's profile A line, on this module's podman network
    (--ip and --hostname) instead of --net=host; `extra` before the image."""
    opts = PROFILE_A if read_only else [o for o in PROFILE_A if o != "--read-only"]
    pcmk = pm.made.volume(f"{name}-pcmk")
    coro = pm.made.volume(f"{name}-coro")
    podman(
        "run", "-d", "--name", pm.made.container(name), "--hostname", name,
        "--network", pm.network, "--ip", pm.addr(host), *opts,
        "-v", f"{pm.authkey}:/etc/corosync/authkey:ro",
        "-v", f"{pcmk}:/var/lib/pacemaker", "-v", f"{coro}:/var/lib/corosync",
        *(["-e", f"PCMK_NODE_LIST={node_list}"] if node_list else []),
        *extra, "--stop-timeout", "120", pm.image,
        check=True,
    )  # fmt: skip
    return name


def engine_filter(pm: Podman, name: str, volume: str, allow: str) -> str:
    """Profile B's filter (python3 -m pcmk_launch.enginefilter) in front of podman's socket."""
    podman(
        "run", "-d", "--name", pm.made.container(name), "--network", "none",
        "--entrypoint", "python3", "-v", f"{pm.socket}:/var/run/docker.sock",
        "-v", f"{volume}:{FILTER_DIR}", pm.image, "-m", "pcmk_launch.enginefilter",
        "--listen", FILTER_SOCK, "--allow", allow,
        check=True,
    )  # fmt: skip
    wait_for(
        lambda: ("listening on" in (text := plogs(name)), text),
        30,
        f"{name}'s readiness line",
        interval=0.2,
    )
    return name


# --- profile A ------------------------------------------------------------------------------


def test_a_profile_a_node_forms_and_stops_cleanly_under_podman(pm):
    name = f"{PREFIX}-pma"
    t0 = time.monotonic()
    node(pm, name, 11, pm.addr(11))
    mon = wait_formed(name, online=1)
    formed = time.monotonic() - t0
    measure("podman: profile A node, podman run -> formed", f"{formed:.1f}s")
    assert mon.online == [name] and mon.dc == name, str(mon)

    status = pexec(name, "pcmk-launch", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    data = json.loads(pexec(name, "pcmk-launch", "status", "--json").stdout)
    assert data["healthy"] is True and data["missing_daemons"] == [], data
    assert data["host"]["engine_socket"] is None, data["host"]

    mask = sum(1 << CAP_BITS[c] for c in PROFILE_A_CAPS)
    proc1 = pexec(name, "cat", "/proc/1/status").stdout
    fields = dict(line.split(":\t", 1) for line in proc1.splitlines() if ":\t" in line)
    assert int(fields["CapBnd"], 16) == mask, (fields["CapBnd"], hex(mask))
    assert int(fields["CapEff"], 16) == mask, (fields["CapEff"], hex(mask))
    assert fields["NoNewPrivs"].strip() == "1"
    assert pinspect(name, "{{.HostConfig.ReadonlyRootfs}}") == "true"
    assert pexec(name, "touch", "/usr/local/x").returncode != 0  # read-only root
    assert pexec(name, "touch", "/run/x").returncode == 0  # its tmpfs

    # podman runs HEALTHCHECKs from systemd timers; run the image's by hand
    health = podman("healthcheck", "run", name, timeout=60)
    assert health.returncode == 0, health.stdout + quiet(health.stderr)

    t0 = time.monotonic()
    stop = podman("stop", name, timeout=180)
    stopped = time.monotonic() - t0
    assert stop.returncode == 0, quiet(stop.stderr)
    measure("podman: profile A node, podman stop -> exited", f"{stopped:.1f}s")
    assert pinspect(name, "{{.State.ExitCode}}") == "0", plogs(name, 40)
    text = plogs(name)
    assert "clean stop after" in text and "[pcmk-launch] exiting with code 0" in text, text[-3000:]
    assert "corosync stopped (exit code 0)" in text, text[-3000:]


# --- fence_docker_api against podman's socket ----------------------------------------------


def test_fence_docker_api_fences_a_podman_container_through_podmans_socket(pm):
    victim = sleeper(pm, f"{PREFIX}-pmvictim")
    agent = sleeper(pm, f"{PREFIX}-pmagent", "-v", f"{pm.socket}:/var/run/docker.sock")

    def fence(*argv: str) -> subprocess.CompletedProcess:
        # the default socket, /var/run/docker.sock: podman's, mounted there (profile C's way)
        return pexec(agent, "fence_docker_api", *argv, timeout=90)

    res = fence("--plug", victim, "--action", "status")
    assert (res.returncode, res.stdout.strip()) == (0, "Status: ON"), res
    assert fence("--plug", victim, "--action", "monitor").returncode == 0
    res = fence("--action", "list")
    names = [line.split(",")[0] for line in res.stdout.splitlines()]
    assert res.returncode == 0 and victim in names and agent in names, res

    res = fence("--plug", victim, "--action", "off")
    assert res.returncode == 0 and "Success: Powered OFF" in res.stdout, res
    assert pstate(victim) == "exited"
    assert pinspect(victim, "{{.State.ExitCode}}") == "137"  # SIGKILL: a power cut
    res = fence("--plug", victim, "--action", "status")
    assert res.returncode == 2 and "Status: OFF" in res.stdout, res
    # off again: podman answers a kill of a stopped container with 500 (Docker: 409)
    res = fence("--plug", victim, "--action", "off")
    assert res.returncode == 0 and "not running" in res.stdout, res

    res = fence("--plug", victim, "--action", "on")
    assert res.returncode == 0 and pstate(victim) == "running", res
    started = pinspect(victim, "{{.State.StartedAt}}")
    res = fence("--plug", victim, "--action", "reboot")
    assert res.returncode == 0 and pstate(victim) == "running", res
    assert pinspect(victim, "{{.State.StartedAt}}") != started

    podman("pause", victim, check=True)
    res = fence("--plug", victim, "--action", "status")
    assert (res.returncode, res.stdout.strip()) == (0, "Status: ON"), res  # paused is on
    res = fence("--plug", victim, "--action", "off")
    assert res.returncode == 0 and pstate(victim) == "exited", res

    missing = f"{PREFIX}-pmnosuch"
    res = fence("--plug", missing, "--action", "status")
    assert res.returncode == 2 and f"no container {missing}" in res.stdout, res
    res = fence("--plug", missing, "--action", "off")  # missing_as_off=1
    assert res.returncode == 0 and "counted as off" in res.stdout, res
    res = fence("--plug", missing, "--action", "on")
    assert res.returncode == 1 and "no such container" in res.stderr, res


# --- profile B: the engine filter in front of podman ----------------------------------------


def test_profile_b_filter_in_front_of_podman_allows_only_its_containers(pm):
    volume = pm.made.volume(f"{PREFIX}-pmfv")
    podman("volume", "create", volume, check=True)
    victim = sleeper(pm, f"{PREFIX}-pmbvictim")
    bystander = sleeper(pm, f"{PREFIX}-pmbbystander")
    filt = engine_filter(pm, f"{PREFIX}-pmbfilter", volume, victim)
    client = sleeper(pm, f"{PREFIX}-pmbnode", "-v", f"{volume}:{FILTER_DIR}")
    assert pexec(client, "test", "-e", "/var/run/docker.sock").returncode != 0

    def fence(*argv: str) -> subprocess.CompletedProcess:
        return pexec(client, "fence_docker_api", "--socket", FILTER_SOCK, *argv, timeout=90)

    res = fence("--plug", victim, "--action", "status")
    assert (res.returncode, res.stdout.strip()) == (0, "Status: ON"), res
    res = fence("--action", "list")
    assert res.returncode == 0 and [ln.split(",")[0] for ln in res.stdout.splitlines()] == [
        victim
    ], res
    res = fence("--plug", victim, "--action", "off")
    assert res.returncode == 0 and pstate(victim) == "exited", res
    assert pinspect(victim, "{{.State.ExitCode}}") == "137"
    res = fence("--plug", victim, "--action", "on")
    assert res.returncode == 0 and pstate(victim) == "running", res

    for plug in (bystander, pinspect(bystander, "{{.Id}}")):
        res = fence("--plug", plug, "--action", "off")
        assert res.returncode == 1 and "HTTP 403: pcmk engine filter:" in res.stderr, res
    assert pstate(bystander) == "running"
    # what the agent never asks for: refused whatever the engine behind
    raw = (
        "import http.client, socket, sys\n"
        "class U(http.client.HTTPConnection):\n"
        "    def connect(self):\n"
        "        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(sys.argv[1])\n"
        "for m, t in (('POST', '/v1.41/containers/create'), ('GET', '/v1.41/images/json'),\n"
        "             ('POST', '/v4.0.0/libpod/containers/create')):\n"
        "    c = U('localhost', timeout=20); c.request(m, t, body=b'{}')\n"
        "    print(c.getresponse().status)\n"
    )
    out = pexec(client, "python3", "-c", raw, FILTER_SOCK)
    assert out.stdout.split() == ["403", "403", "403"], out

    stop = podman("stop", "-t", "10", filt, timeout=60)
    assert stop.returncode == 0 and pinspect(filt, "{{.State.ExitCode}}") == "0", plogs(filt)
    assert pexec(client, "test", "-e", FILTER_SOCK).returncode != 0


def test_profile_b_nodes_on_podman_fence_a_frozen_peer_through_the_filter(pm):
    volume = pm.made.volume(f"{PREFIX}-pmcv")
    podman("volume", "create", volume, check=True)
    nodes = [f"{PREFIX}-pmb1", f"{PREFIX}-pmb2"]
    engine_filter(pm, f"{PREFIX}-pmcfilter", volume, ",".join(nodes))
    addrs = " ".join(pm.addr(h) for h in (21, 22))
    for name, host in zip(nodes, (21, 22), strict=True):
        node(pm, name, host, addrs, "-v", f"{volume}:{FILTER_DIR}")
    t0 = time.monotonic()
    for name in nodes:
        wait_formed(name, online=2)
    measure("podman: profile B, 2 nodes -> formed", f"{time.monotonic() - t0:.1f}s")

    first, victim = nodes
    for name in nodes:
        pcs(
            first, "stonith", "create", f"fence-{name}", "fence_docker_api", f"plug={name}",
            f"socket={FILTER_SOCK}", f"pcmk_host_list={name}", "pcmk_reboot_action=off",
        )  # fmt: skip
        pcs(first, "constraint", "location", f"fence-{name}", "avoids", name, "--force")
    pcs(first, "property", "set", "stonith-enabled=true")

    def devices_started():
        mon = crm_mon(first)
        ok = mon is not None and all(
            mon.resources.get(f"fence-{n}", {}).get("role") == "Started" for n in nodes
        )
        return ok, mon

    wait_for(devices_started, 90, "both fence devices started")

    t_freeze = time.time()
    t0 = time.monotonic()
    podman("pause", victim, check=True)
    wait_for(
        lambda: ((s := pstate(victim)) == "exited", s),
        90,
        f"{victim} killed through the filter",
        interval=0.5,
    )
    killed = time.monotonic() - t0
    assert pinspect(victim, "{{.State.ExitCode}}") == "137"

    def fenced():
        out = pexec(first, "stonith_admin", "--history", victim, "--verbose", "--output-as=xml")
        try:
            events = [dict(e.attrib) for e in ET.fromstring(out.stdout).iter("fence_event")]
        except ET.ParseError:
            return False, out.stdout + out.stderr
        done = [e for e in events if e.get("status") == "success" and completed(e) >= int(t_freeze)]
        return bool(done), done or events

    events = wait_for(fenced, 60, f"successful fencing of {victim} in {first}'s history")
    assert events[0]["target"] == victim and events[0]["delegate"] == first, events
    measure("podman: profile B, podman pause -> container killed", f"{killed:.1f}s")
    mon = crm_mon(first)
    assert mon is not None and mon.quorate and mon.online == [first], str(mon)
    assert pstate(first) == "running"


# --- profile C: ocf:heartbeat:docker through podman's socket --------------------------------


def test_profile_c_ocf_docker_runs_a_created_container_through_podmans_socket(pm):
    name = f"{PREFIX}-pmc"
    # profile C: the raw engine socket (podman's here) and a writable root
    node(pm, name, 31, None, "-v", f"{pm.socket}:/var/run/docker.sock", read_only=False)
    wait_formed(name, online=1)
    web = pm.made.container(f"{PREFIX}-pmweb")

    def agent(action: str, image: str, **params: str) -> subprocess.CompletedProcess:
        env = {"OCF_ROOT": "/usr/lib/ocf", "OCF_RESOURCE_INSTANCE": "web",
               "OCF_RESKEY_image": image, "OCF_RESKEY_name": web,
               "OCF_RESKEY_CRM_meta_timeout": "60000",
               **{f"OCF_RESKEY_{k}": v for k, v in params.items()}}  # fmt: skip
        args = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        return podman("exec", *args, name, RA, action, timeout=120)

    # Measured limits (README, Podman): if one of these starts to pass, podman or the agent
    # changed; say so there.
    res = agent("monitor", pm.ref)
    assert res.returncode == 1 and "no such container" in res.stderr, (
        "ocf:heartbeat:docker's probe of a container that does not exist yet: expected rc 1 "
        f"(it matches only Docker's 'No such container'), got {res}"
    )
    res = agent("validate-all", pm.image)
    assert res.returncode == 6 and "could not be found" in res.stderr, (
        f"image={pm.image}: expected rc 6 (podman lists it as {pm.ref}), got {res}"
    )

    # What works: the container exists beforehand (--init: it stops on SIGTERM at once),
    # reuse=true keeps it, the image as podman lists it.
    podman("create", "--name", web, "--init", "--network", "none", "--entrypoint", "sleep",
           pm.image, "infinity", check=True)  # fmt: skip
    assert agent("validate-all", pm.ref, reuse="true").returncode == 0
    pcs(name, "property", "set", "stonith-enabled=false")
    pcs(name, "resource", "create", "web", "ocf:heartbeat:docker", f"image={pm.ref}",
        f"name={web}", "reuse=true", "op", "monitor", "interval=10s")  # fmt: skip

    def role(want: str):
        mon = crm_mon(name)
        got = mon.resources.get("web", {}).get("role") if mon else None
        return got == want, mon

    wait_for(lambda: role("Started"), 90, "web Started")
    assert pstate(web) == "running"
    t0 = time.monotonic()
    pcs(name, "resource", "disable", "web")
    wait_for(lambda: role("Stopped"), 90, "web Stopped")
    measure(
        "podman: ocf:heartbeat:docker stop via podman's socket", f"{time.monotonic() - t0:.1f}s"
    )
    assert pstate(web) == "exited"  # kept: reuse=true
    pcs(name, "resource", "enable", "web")
    wait_for(lambda: role("Started"), 90, "web Started again")
    assert pstate(web) == "running"
    mon = crm_mon(name)
    assert mon is not None and mon.resources["web"].get("failed") != "true", str(mon)
    failures = pexec(name, "crm_mon", "--one-shot", "--failcounts").stdout
    assert "fail-count" not in failures, failures
    with contextlib.suppress(AssertionError):
        pcs(name, "resource", "disable", "web")  # let the cleanup find it stopped
