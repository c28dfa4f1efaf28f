"""Simulated hosts for multi-node tests of real corosync + pacemaker.

Stdlib only.  Needs root, iproute2 (``ip``) and util-linux (``unshare``,
``nsenter``).

Topology::

    netns <prefix>s (the "switch", holds bridge br0)
        br0 -- h1 ==veth== eth0 192.0.2.11/24   netns <prefix>h1  (host node1)
            -- h2 ==veth== eth0 192.0.2.12/24   netns <prefix>h2  (host node2)
            ...

Nothing is created in the root network namespace: the bridge lives in its own
namespace (Docker's FORWARD DROP policy cannot interfere) and the veth pairs are
created directly inside the switch/host namespaces.  Only 192.0.2.0/24
(TEST-NET-1) is used.

A host is started with :meth:`Host.start`: ``argv`` becomes PID 1 of
``ip netns exec NS unshare --mount --uts --ipc --pid --fork --mount-proc ...``
after the prologue ``host_init.sh`` has set the hostname, mounted private
tmpfs on /run, /dev/shm and /tmp, bind-mounted the per-host persistent
directories (see :data:`PERSISTENT_DIRS`) and neutralised /proc/sysrq-trigger.

Typical use (see tests/cluster/conftest.py for the pytest fixture)::

    net = Network()
    try:
        a, b = net.add_host("node1"), net.add_host("node2")
        a.start(["/bin/sleep", "inf"])
        print(a.run("hostname").stdout)
    finally:
        net.teardown()
    assert_no_leftovers()
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..hostdeps import install_hint

HERE = Path(__file__).resolve().parent
HOST_INIT = HERE / "host_init.sh"
# The image's start order for Pacemaker's daemons; hosts running the launcher get it too.
PACEMAKER_GATE = HERE.parents[1] / "image" / "pacemaker-gate"
# The checkout and its venv stay visible in the hosts even when they live under /tmp, which
# every host gets privately (a CI clone may well be there).
_UNDER_TMP = sorted(
    {p for p in (str(HERE.parents[1]), sys.prefix) if p == "/tmp" or p.startswith("/tmp/")}
)
KEEP_UNDER_TMP = [p for p in _UNDER_TMP if not any(p.startswith(q + "/") for q in _UNDER_TMP)]

#: Name prefix of everything (netns names, temp dirs) this test session creates.
SESSION_PREFIX = f"pd{os.getpid()}-"

#: The only subnet the harness ever uses (RFC 5737 TEST-NET-1).
SUBNET = "192.0.2"

#: Guest path -> name of the per-host persistent directory bind-mounted there.
PERSISTENT_DIRS: dict[str, str] = {
    "/etc/corosync": "etc-corosync",
    # The launcher installs the Pacemaker Remote key here: never into the machine's own.
    "/etc/pacemaker": "etc-pacemaker",
    "/var/lib/corosync": "var-lib-corosync",
    "/var/lib/pacemaker": "var-lib-pacemaker",
    "/var/log": "var-log",
}

#: Environment PID 1 and :meth:`Host.run` commands get (plus what the caller adds).
BASE_ENV: dict[str, str] = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
}

REQUIRED_TOOLS = (
    "ip",
    "unshare",
    "nsenter",
    "mount",
    "corosync",
    "corosync-cfgtool",
    "pacemakerd",
    "crm_mon",
    "cibadmin",
)

_network_ids = itertools.count(1)
# Every (pid, starttime) this session spawned, and every netns inode it created,
# for assert_no_leftovers().
_spawned: list[tuple[int, str]] = []
_netns_inodes: dict[int, str] = {}


class HarnessError(RuntimeError):
    """Something in the harness itself failed."""


class HostCommandError(subprocess.CalledProcessError):
    """A :meth:`Host.run` command failed; str() includes its output."""

    def __init__(self, host: str, returncode: int, cmd: Any, output: str, stderr: str):
        super().__init__(returncode, cmd, output, stderr)
        self.host = host

    def __str__(self) -> str:
        return (
            f"on {self.host}: {self.cmd!r} exited {self.returncode}\n"
            f"--- stdout ---\n{self.output}--- stderr ---\n{self.stderr}"
        )


class WaitTimeout(AssertionError):
    """:func:`wait_for` ran out of time; ``last`` is the last value seen."""

    def __init__(self, message: str, last: Any = None):
        super().__init__(message)
        self.last = last


# --------------------------------------------------------------------------
# prerequisites


def missing_prerequisites() -> list[str]:
    """Reasons why the harness cannot run here (empty list: it can)."""
    reasons = []
    if os.geteuid() != 0:
        reasons.append("not root")
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t, path=BASE_ENV["PATH"]) is None]
    if missing:
        reasons.append(f"missing tools: {', '.join(missing)}; {install_hint(missing)}")
    return reasons


def require_harness() -> None:
    """Skip (unittest.SkipTest, which pytest honours) when the harness cannot run: not root,
    or a tool it needs is missing (tests.helpers.prereq.require_root checks only root).

    With ``CI=true`` in the environment a missing prerequisite is an error
    instead (RuntimeError): CI must never silently skip the cluster tests.
    """
    reasons = missing_prerequisites()
    if not reasons:
        return
    msg = "cluster harness prerequisites: " + "; ".join(reasons)
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError(msg + " (CI=true: refusing to skip)")
    raise unittest.SkipTest(msg)


# --------------------------------------------------------------------------
# small helpers


def _sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run a harness command in the root namespace (never through a shell)."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, env=BASE_ENV)
    if check and proc.returncode != 0:
        raise HarnessError(f"{shlex.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def _starttime(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (start time), to tell a pid from a reused one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _live(pid: int) -> bool:
    """pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _alive(pid: int, starttime: str) -> bool:
    """The process we spawned as pid is still running (not reused, not a zombie)."""
    return _starttime(pid) == starttime and _live(pid)


def _describe(pid: int) -> str:
    """A leftover's command line and state, for the message that reports it."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        status = dict(
            line.split(":\t", 1)
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if ":\t" in line
        )
    except OSError:
        return "gone"
    what = argv.strip()[:200] or status.get("Name", "?")
    return f"{what}, state {status.get('State', '?')}, ppid {status.get('PPid', '?')}"


def _children(ppid: int) -> list[int]:
    """Children of ppid (CONFIG_PROC_CHILDREN may be off: scan /proc)."""
    kids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == ppid:
            kids.append(int(entry.name))
    return kids


def _track(pid: int) -> None:
    st = _starttime(pid)
    if st is not None:
        _spawned.append((pid, st))


def _netns_inode(name: str) -> int:
    return os.stat(f"/run/netns/{name}").st_ino


def _pids_in_netns(inode: int) -> list[int]:
    want = f"net:[{inode}]"
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry.name}/ns/net") == want:
                    pids.append(int(entry.name))
    return pids


def wait_for(
    probe: Callable[[], Any],
    timeout: float,
    what: str,
    until: Callable[[Any], bool] | None = None,
    interval: float = 0.5,
    describe: Callable[[Any], str] = repr,
) -> Any:
    """Call ``probe()`` until its value satisfies ``until`` (default: truthy).

    Returns that value.  Exceptions raised by ``probe`` count as "not yet" and
    are retried.  On timeout raises :class:`WaitTimeout` naming ``what``, the
    time waited and the last value (via ``describe``) or exception seen.
    """
    start = time.monotonic()
    deadline = start + timeout
    last: Any = None
    last_exc: BaseException | None = None
    while True:
        try:
            value = probe()
        except Exception as exc:  # any failure means "not yet"
            last_exc = exc
        else:
            last, last_exc = value, None
            if until(value) if until is not None else value:
                return value
        now = time.monotonic()
        if now >= deadline:
            break
        time.sleep(min(interval, deadline - now))
    seen = f"last error: {last_exc!r}" if last_exc is not None else f"last seen: {describe(last)}"
    raise WaitTimeout(
        f"timed out after {time.monotonic() - start:.1f}s waiting for {what}; {seen}", last
    )


# --------------------------------------------------------------------------
# network and hosts


class Network:
    """A switch (bridge br0 in its own netns) and the hosts plugged into it.

    ``base_dir`` holds each host's persistent directories and console log
    (default: a fresh temp dir under /tmp named after the session prefix).
    """

    def __init__(self, base_dir: str | os.PathLike | None = None, subnet: str = SUBNET):
        if subnet != SUBNET:
            raise ValueError(f"only {SUBNET}.0/24 may be used")
        self.prefix = f"{SESSION_PREFIX}{next(_network_ids)}"
        self.subnet = subnet
        if base_dir is None:
            base_dir = tempfile.mkdtemp(prefix=self.prefix + "-", dir="/tmp")
        self.base_dir = Path(base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.hosts: list[Host] = []
        self.switch_ns = f"{self.prefix}s"
        self._torn_down = False
        _sh("ip", "netns", "add", self.switch_ns)
        _netns_inodes[_netns_inode(self.switch_ns)] = self.switch_ns
        try:
            self.switch("link", "set", "lo", "up")
            self.switch("link", "add", "br0", "type", "bridge")
            # No STP: ports forward at once.
            self.switch(
                "link", "set", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"
            )  # fmt: skip
            self.switch("link", "set", "br0", "up")
        except BaseException:
            self.teardown()
            raise

    def switch(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``ip ARGS`` inside the switch namespace."""
        return _sh("ip", "-n", self.switch_ns, *args, check=check)

    def add_host(
        self,
        name: str | None = None,
        address: str | None = None,
        extra_binds: Mapping[str, str | os.PathLike] | None = None,
        seed_dirs: bool = True,
        shm_size: str | None = None,
    ) -> Host:
        """Create (not start) a host: its netns, veth and persistent dirs.

        ``name`` is the hostname (default ``node<N>``), ``address`` defaults to
        192.0.2.<10+N>.  ``extra_binds`` maps guest paths to host-side paths to
        bind-mount in addition to :data:`PERSISTENT_DIRS`.  ``seed_dirs=False``
        leaves the persistent dirs as they are (empty on first start), to test
        code that must create them itself.  ``shm_size`` limits /dev/shm as Docker's
        ``--shm-size`` does (its default: ``64m``); None leaves it unlimited.
        """
        if self._torn_down:
            raise HarnessError("network already torn down")
        index = len(self.hosts) + 1
        address = address or f"{self.subnet}.{10 + index}"
        net = ipaddress.ip_network(f"{self.subnet}.0/24")
        if ipaddress.ip_address(address) not in set(net.hosts()):
            raise ValueError(f"{address}: hosts must be in {net}")
        if address in {h.address for h in self.hosts}:
            raise ValueError(f"{address} is already used")
        host = Host(
            self,
            index=index,
            name=name or f"node{index}",
            address=address,
            extra_binds=extra_binds or {},
            seed_dirs=seed_dirs,
            shm_size=shm_size,
        )
        self.hosts.append(host)  # before plugging it in: teardown() then cleans up
        host._plug()
        return host

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def teardown(self) -> None:
        """Kill every host, delete all namespaces.  Idempotent, best effort, and
        raises at the end if something could not be cleaned."""
        errors = []
        for h in self.hosts:
            try:
                h.teardown()
            except Exception as exc:
                errors.append(f"{h.name}: {exc!r}")
        if not self._torn_down:
            inode = None
            with contextlib.suppress(OSError):
                inode = _netns_inode(self.switch_ns)
            if inode is not None:
                _kill_netns_pids(inode)
            self.switch("link", "del", "br0", check=False)
            res = _sh("ip", "netns", "del", self.switch_ns, check=False)
            if res.returncode != 0 and Path(f"/run/netns/{self.switch_ns}").exists():
                errors.append(f"switch netns: {res.stderr.strip()}")
            else:
                _forget_netns(inode)
                self._torn_down = True
        if errors:
            raise HarnessError("teardown problems: " + "; ".join(errors))

    def remove_dir(self) -> None:
        """Delete base_dir (persistent dirs and logs).  Call after teardown."""
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()


def _forget_netns(inode: int | None) -> None:
    """A netns we deleted (and emptied first): its inode may be reused by others."""
    if inode is not None:
        _netns_inodes.pop(inode, None)


def _kill_netns_pids(inode: int, timeout: float = 10) -> None:
    """SIGKILL every process in one of *our* network namespaces."""
    deadline = time.monotonic() + timeout
    while pids := _pids_in_netns(inode):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise HarnessError(f"processes {pids} survive SIGKILL in netns inode {inode}")
        time.sleep(0.05)


def runs_launcher(argv: Sequence[str]) -> bool:
    """Whether argv is `python -m pcmk_launch ...` (any interpreter)."""
    return list(argv[1:3]) == ["-m", "pcmk_launch"]


class Host:
    """One simulated host: a netns with eth0 on the switch, persistent dirs,
    and (once started) a process tree in its own pid/mount/uts/ipc namespaces."""

    def __init__(
        self,
        network: Network,
        index: int,
        name: str,
        address: str,
        extra_binds: Mapping[str, str | os.PathLike],
        seed_dirs: bool,
        shm_size: str | None = None,
    ):
        self.network = network
        self.shm_size = shm_size
        self.index = index
        self.name = name
        self.address = address
        self.netns = f"{network.prefix}h{index}"
        self.port = f"h{index}"  # veth end on the bridge (inside the switch ns)
        self.dir = network.base_dir / name
        self.log_path = self.dir / "console.log"
        self.seed_dirs = seed_dirs
        self.binds: dict[str, Path] = {}
        for guest, sub in PERSISTENT_DIRS.items():
            self.binds[guest] = self.dir / sub
        for guest, src in extra_binds.items():
            self.binds[guest] = Path(src)
        for src in self.binds.values():
            src.mkdir(parents=True, exist_ok=True)
        self.argv: list[str] | None = None
        self.env: dict[str, str] = {}
        self.proc: subprocess.Popen | None = None
        self._pid1: int | None = None
        self._log = None
        self._killed = False
        self._torn_down = False

    def _plug(self) -> None:
        """Create the netns and the veth pair to the switch."""
        network = self.network
        _sh("ip", "netns", "add", self.netns)
        _netns_inodes[_netns_inode(self.netns)] = self.netns
        _sh(
            "ip", "-n", network.switch_ns, "link", "add", self.port,
            "type", "veth", "peer", "name", "eth0", "netns", self.netns,
        )  # fmt: skip
        network.switch("link", "set", self.port, "master", "br0", "up")
        self.ip("link", "set", "lo", "up")
        self.ip("addr", "add", f"{self.address}/24", "dev", "eth0")
        self.ip("link", "set", "eth0", "up")

    def __repr__(self) -> str:
        return f"<Host {self.name} {self.address} netns={self.netns} pid={self._pid1}>"

    # ---- paths ---------------------------------------------------------

    def path(self, guest_path: str) -> Path:
        """Host-side path of ``guest_path`` inside one of the bind-mounted dirs,
        e.g. ``h.path("/etc/corosync/corosync.conf")``; works while stopped."""
        for guest, src in sorted(self.binds.items(), key=lambda kv: -len(kv[0])):
            if guest_path == guest or guest_path.startswith(guest.rstrip("/") + "/"):
                return src / os.path.relpath(guest_path, guest)
        raise ValueError(f"{guest_path} is not under a persistent dir of {self.name}")

    # ---- network -------------------------------------------------------

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``ip ARGS`` in this host's network namespace."""
        return _sh("ip", "-n", self.netns, *args, check=check)

    def link_down(self) -> None:
        """Unplug the cable: set the switch-side veth end down."""
        self.network.switch("link", "set", self.port, "down")

    def link_up(self) -> None:
        self.network.switch("link", "set", self.port, "up")

    # ---- lifecycle -----------------------------------------------------

    @property
    def pid(self) -> int | None:
        """PID (in the root pid namespace) of the host's PID 1, if running."""
        return self._pid1 if self.running else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """Exit status of the last run (negative: killed by that signal).

        unshare(1) (util-linux 2.38) cannot re-raise SIGKILL and exits 1 when
        its child was SIGKILLed, so after :meth:`kill` this reports -9 itself.
        """
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is not None and self._killed:
            return -signal.SIGKILL
        return rc

    def start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 15,
        gate: bool | None = None,
    ) -> int:
        """Run ``argv`` as the host's PID 1; return its (root-namespace) pid.

        ``gate``: lay out /usr/lib/pacemaker as the image does (image/pacemaker-gate); by
        default when ``argv`` runs the launcher, not for a naive start of the daemons.

        ``env`` is added to :data:`BASE_ENV` (the harness' own environment is
        not inherited).  Output goes to ``self.log_path`` (appended, with a
        marker line per start).  Returns once the prologue has finished its
        mounts, i.e. :meth:`run` can be used immediately.
        """
        if self.running:
            raise HarnessError(f"{self.name} is already running")
        if self._torn_down:
            raise HarnessError(f"{self.name} is torn down")
        self.argv = list(argv)
        self.env = dict(env or {})
        self._killed = False
        if self._log is not None:
            self._log.close()
        self._log = open(self.log_path, "ab", buffering=0)  # noqa: SIM115
        self._log.write(f"==== harness: start {shlex.join(self.argv)} at {time.ctime()}\n".encode())
        ready_r, ready_w = os.pipe()
        bind_args: list[str] = []
        for guest, src in self.binds.items():
            bind_args += ["--bind", str(src), guest]
        for path in KEEP_UNDER_TMP:
            bind_args += ["--keep", path]
        if self.shm_size:
            bind_args += ["--shm-size", self.shm_size]
        if gate if gate is not None else runs_launcher(self.argv):
            bind_args += ["--pacemaker-gate", str(PACEMAKER_GATE)]
        cmd = [
            "ip", "netns", "exec", self.netns,
            "unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--mount-proc",
            "--propagation", "private", "--kill-child=SIGKILL",
            "/bin/bash", str(HOST_INIT), self.name, str(ready_w), "1" if self.seed_dirs else "0",
            *bind_args, "--", *self.argv,
        ]  # fmt: skip
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env={**BASE_ENV, **self.env},
                pass_fds=(ready_w,),
                start_new_session=True,  # own process group: killpg() in teardown
                cwd="/",
            )
        finally:
            os.close(ready_w)
        _track(self.proc.pid)
        try:
            ready = self._wait_ready(ready_r, ready_timeout)
        finally:
            os.close(ready_r)
        if not ready:
            self.kill()
            raise HarnessError(
                f"{self.name}: prologue did not get ready (exit {self.returncode});"
                f" log tail:\n{self.log_tail()}"
            )
        return self._pid1  # type: ignore[return-value]

    def _wait_ready(self, fd: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        buf = b""
        while b"ready" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 64)
                if not chunk:  # EOF: prologue died (or closed without "ready")
                    return False
                buf += chunk
        # `ip netns exec` execs unshare, so proc.pid is unshare; its only child
        # is the namespace's PID 1.
        kids = wait_for(lambda: _children(self.proc.pid), 5, f"PID 1 of {self.name}")
        self._pid1 = kids[0]
        _track(self._pid1)
        return True

    def signal(self, sig: int) -> None:
        """Send ``sig`` to PID 1 (PID 1 only gets signals it has a handler for)."""
        if self.running and self._pid1 is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid1, sig)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for PID 1 to exit; return its status (raises TimeoutExpired)."""
        if self.proc is None:
            raise HarnessError(f"{self.name} was never started")
        self.proc.wait(timeout)
        return self.returncode  # type: ignore[return-value]

    def kill(self, timeout: float = 10) -> int | None:
        """Power cut: SIGKILL PID 1, which kills the whole pid namespace.

        Returns once unshare has reaped PID 1, i.e. once every process of the
        pid namespace is gone (the kernel lets a namespace's init finish dying
        only after all its members).
        """
        if self.proc is None:
            return None
        if not self.running:
            return self.returncode
        self._killed = True
        if self._pid1 is None:  # start() failed before it learnt PID 1
            kids = _children(self.proc.pid)
            self._pid1 = kids[0] if kids else None
        self.signal(signal.SIGKILL)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            # Not reaped in time: kill unshare too (its own process group; not
            # reaped yet, so that pgid is still ours).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            return self.wait(5)

    def power_cut(self) -> int | None:
        """A power cut as the network sees it. kill() ends every process of the host,
        but its netns survives, and with it any address IPaddr2 added: the dead host would
        go on answering for the VIP. So: unplug, kill, drop the addresses a reboot loses
        (all but the static one), plug the cable back in."""
        self.link_down()
        rc = self.kill()
        out = self.ip("-o", "-4", "addr", "show", "dev", "eth0").stdout
        for cidr in re.findall(r"inet (\S+)", out):
            if cidr.split("/")[0] != self.address:
                self.ip("addr", "del", cidr, "dev", "eth0")
        self.link_up()
        return rc

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM PID 1 and wait for it; return its exit status.

        If it is still running after ``timeout``, kill it and raise TimeoutError.
        """
        if not self.running:
            return self.returncode if self.proc is not None else 0  # type: ignore[return-value]
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError(
                f"{self.name} did not stop within {timeout}s of SIGTERM (killed);"
                f" log tail:\n{self.log_tail()}"
            ) from None

    def restart(
        self,
        argv: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        hard: bool = False,
        stop_timeout: float = 60,
    ) -> int:
        """Stop (or, with ``hard``, kill) and start again, by default with the
        same argv/env.  Persistent dirs and the network namespace are kept."""
        if hard:
            self.kill()
        else:
            self.stop(stop_timeout)
        if argv is None and self.argv is None:
            raise HarnessError(f"{self.name} was never started")
        return self.start(
            argv if argv is not None else self.argv, env if env is not None else self.env
        )

    # ---- inside the host ------------------------------------------------

    def nsenter_argv(self) -> list[str]:
        """Prefix that runs a command inside the running host."""
        if not self.running:
            raise HarnessError(f"{self.name} is not running")
        return [
            "nsenter", "-t", str(self._pid1),
            "--mount", "--uts", "--ipc", "--net", "--pid", "--wd=/", "--",
        ]  # fmt: skip

    def run(
        self,
        cmd: str | Sequence[str],
        timeout: float = 30,
        check: bool = True,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess:
        """Run ``cmd`` inside the host (a str goes through ``sh -c``).

        Returns a CompletedProcess with text stdout/stderr.  ``check`` raises
        :class:`HostCommandError` on non-zero exit; on timeout the whole
        command (its process group) is killed and TimeoutExpired raised.
        """
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        proc = subprocess.Popen(
            self.nsenter_argv() + argv,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**BASE_ENV, **(env or {})},
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        res = subprocess.CompletedProcess(argv, proc.returncode, out, err)
        if check and res.returncode != 0:
            raise HostCommandError(self.name, res.returncode, cmd, out, err)
        return res

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # ---- teardown ------------------------------------------------------

    def teardown(self) -> None:
        """Kill the host's processes and delete its netns (idempotent)."""
        if self._torn_down:
            return
        if self.proc is not None:
            self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None
        inode = None
        with contextlib.suppress(OSError):
            inode = _netns_inode(self.netns)
        if inode is not None:
            _kill_netns_pids(inode)
        self.network.switch("link", "del", self.port, check=False)  # also removes eth0
        res = _sh("ip", "netns", "del", self.netns, check=False)
        if res.returncode != 0 and Path(f"/run/netns/{self.netns}").exists():
            raise HarnessError(f"ip netns del {self.netns}: {res.stderr.strip()}")
        _forget_netns(inode)
        self._torn_down = True


# --------------------------------------------------------------------------
# leftovers


def leftovers(prefix: str = SESSION_PREFIX) -> list[str]:
    """What this session left behind: netns names with ``prefix``, live
    processes it spawned, processes still in a netns it created, mounts whose
    path contains ``prefix``."""
    found = []
    for name in _netns_names():
        if name.startswith(prefix):
            found.append(f"netns {name}")
    for pid, st in _spawned:
        if _alive(pid, st):
            found.append(f"process {pid} ({_describe(pid)})")
    for inode, name in _netns_inodes.items():
        for pid in _pids_in_netns(inode):
            found.append(f"process {pid} in netns {name}")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mountpoint = line.split()[4]
        if prefix in mountpoint:
            found.append(f"mount {mountpoint}")
    return sorted(set(found))


def assert_no_leftovers(prefix: str = SESSION_PREFIX) -> None:
    left = leftovers(prefix)
    if left:
        raise AssertionError("harness left behind: " + ", ".join(left))


def cleanup_stale_sessions() -> list[str]:
    """Remove namespaces left by harness sessions whose process is gone
    (e.g. a pytest that was SIGKILLed): names ``pd<pid>-...`` with a dead pid.

    Kills the processes inside them and deletes them; returns their names.
    Namespaces of live sessions (other test runs on this machine) are left alone.
    """
    removed = []
    for name in _netns_names():
        m = re.match(r"pd(\d+)-", name)
        if not m or int(m.group(1)) == os.getpid() or _live(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            _kill_netns_pids(_netns_inode(name))
        _sh("ip", "netns", "del", name, check=False)
        removed.append(name)
    return removed


def _netns_names() -> list[str]:
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def teardown_all(networks: Iterable[Network]) -> None:
    """Tear down several networks, raising the first error after trying all."""
    first: BaseException | None = None
    for net in networks:
        try:
            net.teardown()
        except BaseException as exc:
            first = first or exc
    if first is not None:
        raise first
