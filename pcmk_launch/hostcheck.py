"""What this node really gets from its host and engine, and what that means (issue 24).

`HostFacts` is plain data; `read_facts()` gathers it (the only part that touches the
system: /proc, a scheduler and rlimit probe in this short-lived process, `corosync -v`);
`findings()` and `knet_plan()` judge it, purely. The launcher logs the findings at start,
`--dry-run` prints them and `status --json` carries the facts.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

# knet asks for 8 MiB socket buffers. Without CAP_NET_ADMIN it gets 2 x net.core.[rw]mem_max
# (the kernel doubles what it is asked for) and, as a privileged handle, refuses anything less.
KNET_BUFFER = 8 * 1024 * 1024
SYSCTL_FIX = "sysctl -w net.core.rmem_max=4194304 net.core.wmem_max=4194304"
FALLBACK_SINCE = (3, 1, 1)  # corosync's system.allow_knet_handle_fallback
SHM_WANTED = 128 * 1024 * 1024  # corosync + pacemaker hold 33-48 MiB of IPC buffers there
ENGINE_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock")

# Capability numbers (linux/capability.h) of those a feature of ours needs.
CAPS = {
    "CHOWN": 0,
    "DAC_OVERRIDE": 1,
    "FOWNER": 3,
    "KILL": 5,
    "SETGID": 6,
    "SETUID": 7,
    "NET_ADMIN": 12,
    "NET_RAW": 13,
    "IPC_LOCK": 14,
    "SYS_ADMIN": 21,
    "SYS_NICE": 23,
    "SYS_RESOURCE": 24,
}


# What a full node cannot do without, measured on a real engine with each one dropped from
# the minimal set (issue 24): the stack fails in these ways, so the launcher refuses first.
REQUIRED_CAPS = {
    "CHOWN": "the launcher gives pacemaker's state directories to hacluster",
    "DAC_OVERRIDE": "the launcher writes the first CIB into hacluster's directory",
    "FOWNER": "corosync sets the mode of the IPC files it shares with pacemaker's daemons",
    "KILL": "pacemakerd stops its daemons, which run as hacluster (without it a stop hangs "
    "until Docker's SIGKILL)",
    "SETGID": "pacemakerd starts its daemons in the haclient group",
}
# A Pacemaker Remote node (PCMK_ROLE=remote), measured the same way: pacemaker-remoted runs
# as root; with CHOWN alone it starts, listens and stops cleanly.
REMOTE_REQUIRED_CAPS = {
    "CHOWN": "the launcher gives pacemaker's state directories to hacluster and the remote "
    "key to the haclient group",
}
# A booth arbitrator (PCMK_ROLE=arbitrator), measured the same way (Debian 13, booth 1.2):
# without SETUID or SETGID boothd exits at start ("setreuid() didn't work"), without KILL the
# launcher cannot stop it. CHOWN only spares a logged error (boothd chowns its lock file).
ARBITRATOR_REQUIRED_CAPS = {
    "KILL": "the launcher stops boothd, which runs as an unprivileged user",
    "SETGID": "boothd drops root for its own group at start",
    "SETUID": "boothd drops root for its own user at start",
}
# Without it the stack runs, but pacemaker's daemons stay root: warned, not refused.
LEAST_PRIVILEGE_CAPS = {"SETUID": "pacemakerd runs its daemons as hacluster instead of root"}


@dataclass(frozen=True)
class HostFacts:
    caps: tuple[str, ...]  # effective capabilities among CAPS, by name
    rmem_max: int | None  # net.core.rmem_max (None: unreadable)
    wmem_max: int | None
    realtime: str | None  # None: SCHED_RR can be had; else why not
    memlock: str | None  # None: RLIMIT_MEMLOCK can be raised to unlimited; else why not
    engine_socket: str | None  # a container engine's API socket mounted here
    corosync_version: tuple[int, ...] | None
    uid: int = 0  # the launcher's; capabilities are judged for root only
    shm_size: int | None = None  # bytes of /dev/shm (Docker's default: 64 MiB)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["knet_buffers"] = knet_plan(self)[0]
        return d


@dataclass(frozen=True)
class Finding:
    topic: str
    ok: bool
    text: str  # what the node got, and what that means
    fix: str = ""  # how to get the rest, when not ok

    def line(self) -> str:
        fix = f". Fix: {self.fix}" if self.fix and not self.ok else ""
        return f"{self.topic}: {self.text}{fix}"


def _kib(n: int) -> str:
    return f"{n // 1024} KiB"


def knet_plan(f: HostFacts) -> tuple[str, str]:
    """("full" | "fallback" | "refuse", why): how corosync's knet gets its socket buffers."""
    if "NET_ADMIN" in f.caps:
        return "full", "CAP_NET_ADMIN lets knet force its 8 MiB socket buffers"
    small = [
        f"net.core.{name}={value}"
        for name, value in (("rmem_max", f.rmem_max), ("wmem_max", f.wmem_max))
        if value is not None and 2 * value < KNET_BUFFER
    ]
    if not small:
        return "full", "the host's net.core.rmem_max/wmem_max allow knet's 8 MiB buffers"
    why = f"no CAP_NET_ADMIN and the host's {' and '.join(small)} (knet wants 4194304)"
    # An unknown version (no corosync here: a dry run on a workstation) is given the benefit.
    if f.corosync_version is None or f.corosync_version >= FALLBACK_SINCE:
        return "fallback", why
    return "refuse", why


def knet_refusal(f: HostFacts) -> str | None:
    """The one message for a host where corosync's knet cannot start at all, else None."""
    plan, why = knet_plan(f)
    if plan != "refuse":
        return None
    version = ".".join(map(str, f.corosync_version or ())) or "unknown"
    return (
        f"corosync (version {version}) cannot start here: knet needs 8 MiB socket buffers and "
        f"gets less ({why}), and this corosync has no unprivileged fallback (3.1.1 and "
        f"newer have). Fix: docker run --cap-add=NET_ADMIN, or on the host: {SYSCTL_FIX}"
    )


def missing_caps(f: HostFacts, required: dict[str, str] = REQUIRED_CAPS) -> list[str]:
    """Required capabilities this root process lacks (none is judged for another user)."""
    return [c for c in required if c not in f.caps] if f.uid == 0 else []


def caps_refusal(f: HostFacts, required: dict[str, str] = REQUIRED_CAPS) -> str | None:
    """The one message for a container without what its role cannot do without."""
    missing = missing_caps(f, required)
    if not missing:
        return None
    why = "; ".join(f"CAP_{c}: {required[c]}" for c in missing)
    adds = " ".join(f"--cap-add={c}" for c in missing)
    return (
        f"this container lacks {len(missing)} capabilit{'y' if len(missing) == 1 else 'ies'} "
        f"this node needs ({why}). Fix: docker run {adds} (or keep Docker's default "
        "capabilities; the README's deployment profiles list each one)"
    )


def findings(f: HostFacts, knet: bool = True) -> list[Finding]:
    """Every fact the node's operator should know, judged. knet: the transport is knet."""
    out = []
    plan, why = knet_plan(f)
    if not knet:
        pass
    elif plan == "full":
        out.append(Finding("socket buffers", True, f"8 MiB for knet ({why})"))
    else:
        smallest = min(v for v in (f.rmem_max, f.wmem_max) if v is not None)
        out.append(
            Finding(
                "socket buffers",
                False,
                f"{why}: corosync falls back to unprivileged knet sockets with "
                f"{_kib(2 * smallest)} buffers (allow_knet_handle_fallback); enough for a "
                "small cluster, but bursts of traffic may be dropped",
                f"docker run --cap-add=NET_ADMIN, or on the host: {SYSCTL_FIX}",
            )
        )
    if f.realtime is None:
        out.append(Finding("real-time scheduling", True, "corosync can run at SCHED_RR"))
    else:
        out.append(
            Finding(
                "real-time scheduling",
                False,
                f"not available ({f.realtime}): corosync runs at normal priority, so a busy "
                "host can delay its token and make the others fail this node over for nothing",
                "docker run --cap-add=SYS_NICE --ulimit rtprio=99; where the host's kernel "
                "has real-time group scheduling (a cpu.rt_runtime_us file in its cgroup), "
                "also dockerd --cpu-rt-runtime=950000 and docker run --cpu-rt-runtime=950000",
            )
        )
    if f.memlock is None:
        out.append(Finding("locked memory", True, "corosync can lock its memory (no swap-out)"))
    else:
        out.append(
            Finding(
                "locked memory",
                False,
                f"not available ({f.memlock}): corosync's memory may be swapped out under "
                "memory pressure, and a swapped-out corosync misses its token",
                "docker run --ulimit memlock=-1 (CAP_IPC_LOCK alone does not do it: corosync "
                "raises RLIMIT_MEMLOCK first and gives up if it cannot)",
            )
        )
    for cap, why in LEAST_PRIVILEGE_CAPS.items():
        if f.uid == 0 and cap not in f.caps:
            out.append(
                Finding(
                    "least privilege",
                    False,
                    f"no CAP_{cap}: pacemaker's daemons run as root (with it, {why})",
                    f"docker run --cap-add={cap}",
                )
            )
    if f.shm_size is not None and f.shm_size < SHM_WANTED:
        out.append(
            Finding(
                "shared memory",
                False,
                f"/dev/shm holds {f.shm_size // 2**20} MiB; corosync and pacemaker keep 33-48 "
                "MiB of IPC buffers there, more while daemons reconnect, and a daemon that "
                "cannot get its buffers fails to connect",
                "docker run --shm-size=256m (compose: shm_size: 256m)",
            )
        )
    vip_missing = [c for c in ("NET_ADMIN", "NET_RAW") if c not in f.caps]
    if not vip_missing:
        out.append(Finding("IPaddr2 VIPs", True, "possible (CAP_NET_ADMIN, CAP_NET_RAW)"))
    else:
        missing = " and ".join(f"CAP_{c}" for c in vip_missing)
        out.append(
            Finding(
                "IPaddr2 VIPs",
                False,
                f"will fail: no {missing} (adding an address needs NET_ADMIN, announcing it "
                "with ARP needs NET_RAW)",
                " ".join(f"--cap-add={c}" for c in vip_missing) + " (only if you run VIPs)",
            )
        )
    if f.engine_socket:
        out.append(
            Finding(
                "engine socket",
                True,
                f"{f.engine_socket} is mounted: fence_docker_api and ocf:heartbeat:docker can "
                "use it, and so can anyone who gets into this container, with root on the host",
            )
        )
    else:
        out.append(
            Finding(
                "engine socket",
                True,
                "none mounted (needed only to fence or run containers through the engine)",
            )
        )
    return out


# ---- reading the facts (the imperative part) -----------------------------------------------
def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def effective_caps(status_text: str) -> tuple[str, ...]:
    """Names among CAPS set in a /proc/PID/status CapEff line."""
    line = next((x for x in status_text.splitlines() if x.startswith("CapEff:")), "CapEff: 0")
    bits = int(line.split()[1], 16)
    return tuple(name for name, bit in CAPS.items() if bits & (1 << bit))


def probe_realtime() -> str | None:
    """Whether this process may switch to SCHED_RR at corosync's priority; it switches back."""
    try:
        policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(
            0, os.SCHED_RR, os.sched_param(os.sched_get_priority_max(os.SCHED_RR))
        )
        os.sched_setscheduler(0, policy, param)
    except OSError as exc:
        return f"SCHED_RR refused: {exc.strerror}"
    return None


def probe_memlock() -> str | None:
    """Whether RLIMIT_MEMLOCK can be raised to unlimited, as corosync does before mlockall."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if hard == resource.RLIM_INFINITY:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY,) * 2)
    except (OSError, ValueError):
        return f"RLIMIT_MEMLOCK is {_kib(hard)} and cannot be raised"
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (soft, hard))
    return None


def corosync_version(run: Callable[..., Any] = subprocess.run) -> tuple[int, ...] | None:
    try:
        out = run(["corosync", "-v"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"version '?(\d+(?:\.\d+)+)", out)
    return tuple(int(x) for x in m.group(1).split(".")) if m else None


def read_facts(version: bool = True) -> HostFacts:
    """This host's facts. version=False skips `corosync -v` (a process spawn on every start)."""
    with open("/proc/self/status") as f:
        caps = effective_caps(f.read())
    sock = next((p for p in ENGINE_SOCKETS if os.path.exists(p)), None)
    return HostFacts(
        caps=caps,
        rmem_max=_read_int("/proc/sys/net/core/rmem_max"),
        wmem_max=_read_int("/proc/sys/net/core/wmem_max"),
        realtime=probe_realtime(),
        memlock=probe_memlock(),
        engine_socket=sock,
        corosync_version=corosync_version() if version else None,
        uid=os.geteuid(),
        shm_size=shm_bytes(),
    )


def with_version_if_needed(
    f: HostFacts, read: Callable[[], tuple[int, ...] | None] = corosync_version
) -> HostFacts:
    """Ask corosync its version only where knet_plan depends on it (buffers it cannot get)."""
    if f.corosync_version is not None or knet_plan(f)[0] == "full":
        return f
    return replace(f, corosync_version=read())


def shm_bytes() -> int | None:
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return None
    return st.f_blocks * st.f_frsize


def corosync_got(pid: int) -> dict[str, Any]:
    """What a running corosync really got: its scheduling policy and locked memory."""
    names = {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_RR: "SCHED_RR", os.SCHED_FIFO: "SCHED_FIFO"}
    try:
        policy = names.get(os.sched_getscheduler(pid), "other")
    except OSError:
        policy = None
    locked = None
    try:
        with open(f"/proc/{pid}/status") as f:
            line = next((x for x in f if x.startswith("VmLck:")), None)
        locked = int(line.split()[1]) if line else None
    except OSError:
        pass
    return {"pid": pid, "scheduler": policy, "locked_kib": locked}
