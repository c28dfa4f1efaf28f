"""Separate Docker hosts for image tests: one dockerd per simulated host.

Each host is a network namespace plugged into a switch (tests/harness: 192.0.2.0/24 on a
bridge in its own namespace), with its own dockerd (own data-root, exec-root, pidfile and
socket) started in its own mount and UTS namespaces:

- containers run with `--net=host` share that host's namespace, as a node does on a real host
  (so IPaddr2 adds addresses where the engine publishes ports, and `ip-range-start` works);
- the host's `/etc/pacemaker`, `/var/log/pacemaker` and `/srv` are per-host directories
  bind-mounted in dockerd's mount namespace, so every `-v /etc/pacemaker/...` Pacemaker hands to the
  engine is that host's own, as on separate machines;
- the engine's default bridge takes 198.18.<10+N>.0/24, published ports use iptables
  (`userland-proxy: false`, so a connection to a port with nothing behind it is refused
  rather than accepted and dropped), rules that live in the host's namespace only;
- a second, out-of-band network (198.18.9.0/24, interface mgmt0, its own bridge in the
  switch's namespace) plays the hosts' BMCs: each engine's API listens there over TCP, for
  fence devices on the other hosts. `power_cut` unplugs a host's data link and kills its
  containers; its "BMC" stays reachable, as a real one does when the host loses power.

The images are copied from the main engine (`docker save`, once, then `docker load` into
every host). Teardown stops only the dockerds started here, by pid, then the namespaces.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.harness.hosts import Network
from tests.image.dockerutil import PREFIX, docker, wait_for

# Paths of a host's filesystem that differ per host (bind-mounted in dockerd's namespace).
HOST_DIRS = {
    "/etc/pacemaker": "etc-pacemaker",
    "/var/log/pacemaker": "log-pacemaker",
    "/srv": "srv",  # the host's data (a bundle's storage-map source-dir)
}
# Each engine also listens on its host's management address (plain HTTP: only the test's
# management switch reaches it), for fence_docker_api devices on the other hosts.
ENGINE_TCP_PORT = 2375
MGMT_SUBNET = "198.18.9"
MGMT_BRIDGE = "br-mgmt"


class EngineHost:
    """One simulated Docker host: `address` on the switch, its engine at `sock`."""

    def __init__(self, network: Network, index: int, base: Path) -> None:
        self.index = index
        self.name = f"host{index}"
        self.harness_host = network.add_host(name=self.name)
        self.address = self.harness_host.address
        self.netns = self.harness_host.netns
        self.mgmt_address = f"{MGMT_SUBNET}.{10 + index}"
        self.powered_off = False
        self._plug_mgmt(network)
        self.dir = base / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sock_path = self.dir / "docker.sock"
        self.sock = f"unix://{self.sock_path}"
        self.proc: subprocess.Popen | None = None

    def _plug_mgmt(self, network: Network) -> None:
        """mgmt0 in the host, its peer on the management bridge (both go with the
        namespaces at teardown)."""
        port = f"m{self.index}-{network.prefix}"[:15]
        network.switch("link", "add", port, "type", "veth", "peer", "name", "mgmt0",
                       "netns", self.netns)  # fmt: skip
        network.switch("link", "set", port, "master", MGMT_BRIDGE, "up")
        self.ip("addr", "add", f"{self.mgmt_address}/24", "dev", "mgmt0").check_returncode()
        self.ip("link", "set", "mgmt0", "up").check_returncode()

    def power_cut(self, *containers: str) -> None:
        """The host loses power: its data link goes dead (every address on it, a VIP
        included, leaves the network at once) and `containers` die. The engine and its
        management address stay up, in the role of the host's BMC."""
        self.powered_off = True
        self.harness_host.link_down()
        out = self.docker("kill", *containers)
        assert out.returncode == 0, out.stderr

    def power_on(self) -> None:
        """After a power cut: the data link back with only the host's own address, as after
        a reboot (a VIP the dead node had added must not come back with it). The caller
        starts the containers that should run again. Nothing for a host that is on."""
        if not self.powered_off:
            return
        own_address_only(self.netns, self.address)
        self.harness_host.link_up()
        self.powered_off = False

    def path(self, host_path: str) -> Path:
        """Where the host's `host_path` (one of HOST_DIRS) is in this machine's filesystem."""
        return self.dir / HOST_DIRS[host_path]

    def start(self) -> None:
        for sub in HOST_DIRS.values():
            (self.dir / sub).mkdir(exist_ok=True)
        config = {
            "bip": f"198.18.{10 + self.index}.1/24",
            "default-address-pools": [{"base": f"198.18.{20 + self.index}.0/24", "size": 28}],
            "userland-proxy": False,
        }
        (self.dir / "daemon.json").write_text(json.dumps(config) + "\n")
        binds = " && ".join(
            f"mount --bind {self.dir / sub} {target}" for target, sub in HOST_DIRS.items()
        )
        script = (
            f"hostname {self.name} && {binds} && exec dockerd"
            f" --config-file={self.dir}/daemon.json --data-root={self.dir}/data"
            f" --exec-root={self.dir}/exec --pidfile={self.dir}/dockerd.pid -H={self.sock}"
            # --tls=false, said explicitly: newer engines otherwise wait 15 s at start to warn
            f" -H=tcp://{self.mgmt_address}:{ENGINE_TCP_PORT} --tls=false"
        )
        log = os.open(self.dir / "dockerd.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.netns}", "unshare", "--mount", "--uts",
             "--propagation=private", "sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        os.close(log)  # the child has it

    def wait_ready(self) -> None:
        proc = self.proc
        assert proc is not None
        wait_for(
            lambda: (self.docker("info", timeout=10).returncode == 0 or proc.poll() is not None,
                     proc.poll()),
            90, f"{self.name}'s dockerd answers", interval=0.3,
        )  # fmt: skip
        assert proc.poll() is None, self.log_tail()

    def log_tail(self, chars: int = 3000) -> str:
        path = self.dir / "dockerd.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def docker(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return docker(*args, host=self.sock, **kwargs)

    def ip(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "-n", self.netns, *args], capture_output=True, text=True)

    def stop(self) -> None:
        """Remove every container of this engine, then stop dockerd (by pid)."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            ids = self.docker("ps", "-aq", timeout=30).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, timeout=180)
        stop_dockerd(proc, self.dir)
        self.proc = None


def own_address_only(netns: str, address: str) -> None:
    """The host's eth0 with its own address and nothing else, as after a reboot: what a dead
    node had added there (a VIP, a replica's address) is gone."""
    for args in (("addr", "flush", "dev", "eth0"), ("addr", "add", f"{address}/24", "dev", "eth0")):
        subprocess.run(["ip", "-n", netns, *args], check=True, capture_output=True)


def stop_dockerd(proc: subprocess.Popen, root: Path) -> None:
    """Stop a dockerd started with --exec-root=ROOT/exec (SIGTERM, then SIGKILL), and the
    containerd it started if that one outlives it (found by its pidfile, checked to be ours)."""
    containerd_pid = None
    with contextlib.suppress(OSError, ValueError):
        containerd_pid = int((root / "exec/containerd/containerd.pid").read_text().strip())
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    # dockerd stops the containerd it started; if it did not, that one is ours too
    if containerd_pid and _cmdline_has(containerd_pid, str(root)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(containerd_pid, signal.SIGKILL)


_removals: list[subprocess.Popen] = []


def remove_in_background(path: Path) -> None:
    """Delete `path` while the tests go on: three engines' image layers take rm -rf about
    14 s. It is renamed first (so it is gone for whoever looks), and the session waits for
    every removal before it ends (atexit)."""
    trash = path.with_name(path.name + ".removing")
    path.rename(trash)
    if not _removals:
        atexit.register(lambda: [p.wait() for p in _removals])
    # overlay2's layers are root-owned and many: rm -rf is faster than rmtree
    _removals.append(subprocess.Popen(["rm", "-rf", "--one-file-system", str(trash)]))


def _cmdline_has(pid: int, text: str) -> bool:
    try:
        return text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def unmount_below(path: Path) -> None:
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(path) + "/")), reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)


class Engines:
    """`count` Docker hosts on one switch, each with `images` loaded from the main engine."""

    def __init__(self, count: int, images: tuple[str, ...], prefix: str = PREFIX) -> None:
        self.base = Path(tempfile.mkdtemp(prefix=f"{prefix}-engines-", dir="/var/tmp"))
        self.network = Network(base_dir=self.base / "harness")
        self.hosts: list[EngineHost] = []
        try:
            self.network.switch("link", "add", MGMT_BRIDGE, "type", "bridge")
            self.network.switch("link", "set", MGMT_BRIDGE, "up")
            for i in range(1, count + 1):
                self.hosts.append(EngineHost(self.network, i, self.base))
            for host in self.hosts:
                host.start()
            for host in self.hosts:
                host.wait_ready()
            self.load(images)
        except BaseException:
            self.teardown()
            raise

    def load(self, images: tuple[str, ...]) -> None:
        """Copy `images` from the main engine into every host's (one save, parallel loads)."""
        if not images:
            return
        tar = self.base / "images.tar"
        docker("save", "-o", str(tar), *images, check=True, timeout=600)
        try:
            with ThreadPoolExecutor(len(self.hosts)) as pool:
                outs = list(
                    pool.map(lambda h: h.docker("load", "-q", "-i", str(tar), timeout=900),
                             self.hosts)
                )  # fmt: skip
        finally:
            tar.unlink(missing_ok=True)
        for host, out in zip(self.hosts, outs, strict=True):
            assert out.returncode == 0, f"{host.name}: docker load: {out.stderr}"

    def host(self, name: str) -> EngineHost:
        return next(h for h in self.hosts if h.name == name)

    def teardown(self) -> None:
        problems = []

        def stop(host: EngineHost) -> None:
            try:
                host.stop()
            except Exception as exc:  # keep tearing down
                problems.append(f"{host.name}: {exc!r}")

        with ThreadPoolExecutor(max(len(self.hosts), 1)) as pool:  # each waits on its dockerd
            list(pool.map(stop, self.hosts))
        try:
            self.network.teardown()
        except Exception as exc:
            problems.append(repr(exc))
        unmount_below(self.base)
        if not problems:
            remove_in_background(self.base)
        assert not problems, problems
        assert not self.base.exists(), f"{self.base} left"

    def __enter__(self) -> Engines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()
