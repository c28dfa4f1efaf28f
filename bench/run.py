"""`make bench`: formation, failover, graceful stop, PID-1 footprint and reaping; full runs
then add Pacemaker Remote figures (bench/remote.py).

Every figure is measured beside its baseline in the same run (this machine is shared and
noisy: ratios are what we compare). Real corosync and pacemaker run on namespace hosts
(tests/harness). A scenario that does not complete aborts the run with a non-zero exit
instead of printing a number. Results: bench/results/latest.json and docs/benchmarks.md.

    python -m bench.run [--quick] [--reps N] [--no-docs]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import unittest
from collections.abc import Callable
from pathlib import Path

from bench import scale
from tests.harness.cluster import (
    LAUNCHER_ARGV,
    Cluster,
    cluster_state,
)
from tests.harness.hosts import Host, assert_no_leftovers, require_harness, wait_for
from tests.harness.pinger import VIP, Pinger
from tests.hostdeps import first_line

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "latest.json"
DOCS = ROOT / "docs" / "benchmarks.md"
# token_coefficient 0: the token stays 600 ms with 3 nodes (corosync would make it 1250);
# consensus at corosync's minimum, 1.2 x token
FAST_PROFILE = {
    "PCMK_TOKEN_TIMEOUT": "600",
    "PCMK_TOKEN_COEFFICIENT": "0",
    "PCMK_CONSENSUS_TIMEOUT": "720",
}
FAKE = ROOT / "tests" / "supervisor" / "fakes" / "fake_daemon.py"


class BenchError(Exception):
    """A scenario did not complete: no figure may be reported for it."""


def log(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


# ---- cluster helpers ------------------------------------------------------------------


def formed(c: Cluster, n: int, timeout: float, t0: float) -> float:
    """Seconds from t0 until the first host sees n nodes online, quorum and a DC."""

    def ok(st: dict) -> bool:
        return st["dc_present"] and st["have_quorum"] and len(st["online"]) == n

    wait_for(lambda: cluster_state(c.hosts[0]), timeout, f"{n} nodes formed", ok, interval=0.1)
    return time.monotonic() - t0


def start_cluster(n: int, naive: bool = False, **env: str) -> tuple[Cluster, float]:
    c = Cluster(n)
    try:
        t0 = time.monotonic()
        c.start_together(naive, **env)
        return c, formed(c, n, 120, t0)
    except BaseException:
        c.teardown()
        raise


def add_vip(c: Cluster) -> str:
    h = c.hosts[0]
    h.run("pcs property set stonith-enabled=false")
    h.run(
        f"pcs resource create vip ocf:heartbeat:IPaddr2 ip={VIP} cidr_netmask=24 "
        "op monitor interval=2s"
    )
    holder: str = wait_for(lambda: vip_holder(c), 60, "the VIP started", lambda x: bool(x))
    return holder


def vip_holder(c: Cluster) -> str | None:
    """The node the VIP runs on, as the first host's crm_mon shows it."""
    nodes = cluster_state(c.hosts[0])["resources"].get("vip", {}).get("nodes") or []
    return nodes[0] if nodes else None


def with_client(c: Cluster) -> Host:
    """A host on the same switch that runs no cluster software: it pings the VIP."""
    client = c.network.add_host(name="client")
    client.start(["/bin/sleep", "infinity"])
    return client


def first_reply_after(pinger: Pinger, t0: float, timeout: float, what: str) -> float:
    """Seconds from t0 to the first echo reply after it (the pinger asks every 50 ms)."""
    wait_for(lambda: pinger.replies_after(t0), timeout, what, bool, interval=0.05)
    return min(x for x in pinger.times if x > t0) - t0


# ---- scenarios ------------------------------------------------------------------------


def bench_formation(n: int, naive: bool) -> float:
    c, secs = start_cluster(n, naive=naive)
    c.teardown()
    return secs


def bench_failover(profile: dict[str, str]) -> float:
    """Power cut of the VIP's host -> first echo reply from the VIP on another host."""
    c, _ = start_cluster(3, **profile)
    pinger = None
    try:
        holder = c.host(add_vip(c))
        pinger = Pinger(with_client(c))
        first_reply_after(pinger, 0, 10, "the VIP answering before the power cut")
        t0 = time.monotonic()
        holder.power_cut()
        # An echo the dying holder answered while power_cut() ran is not a failover.
        done = time.monotonic()
        return first_reply_after(pinger, done, 90, "the VIP answering again") + done - t0
    finally:
        if pinger:
            pinger.stop()
        c.teardown()


def bench_graceful_stop() -> dict[str, float]:
    c, _ = start_cluster(3)
    pinger = None
    try:
        holder = c.host(add_vip(c))
        pinger = Pinger(with_client(c))
        first_reply_after(pinger, 0, 10, "the VIP answering before the stop")
        time.sleep(1.0)  # replies are flowing before the stop begins
        t0 = time.monotonic()
        code = holder.stop(timeout=120)
        stop_secs = time.monotonic() - t0
        first_reply_after(pinger, time.monotonic(), 60, "the VIP answering after the stop")
        time.sleep(1.0)  # a gap that opens after the first reply counts too
        log_text = holder.log_path.read_text(errors="replace")
        if code != 0:
            raise BenchError(f"graceful stop exited {code}:\n{log_text[-3000:]}")
        gap = pinger.longest_gap(t0 - 0.5)
        return {"stop": stop_secs, "gap": gap, "sigkills": float(log_text.count("SIGKILL"))}
    finally:
        if pinger:
            pinger.stop()
        c.teardown()


def ring_id(host: Host) -> str | None:
    """corosync's current ring id on ``host`` ("1.d"): it changes with every membership
    change, so a changed id means the ring re-formed (a lost token, a leave or a join)."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        out = host.run(["corosync-quorumtool", "-s"], check=False, timeout=5).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Ring ID":
                return value.strip()
    return None


def count_ring_changes(c: Cluster, seconds: float) -> int:
    """Membership changes seen on any host over ``seconds`` (polled every second)."""
    rings = {h.name: ring_id(h) for h in c.hosts}
    changes = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(1.0)
        for h in c.hosts:
            now = ring_id(h)
            if now and now != rings[h.name]:
                changes, rings[h.name] = changes + 1, now
    return changes


HOG = "nohup sh -c 'while :; do :; done' >/dev/null 2>&1 &"  # one busy CPU, until teardown


def bench_busy_hosts(seconds: float, hogs: int = 2) -> dict[str, float]:
    """Fast profile, no fault: membership changes and VIP moves while every host runs
    ``hogs`` CPU-bound loops (2 per host: 6 on this machine's 2 cores), beside the same
    cluster idle for the same time. Any change here is a false failover. The hogs run
    inside the host's pid namespace and die with it at teardown."""
    c, _ = start_cluster(3, **FAST_PROFILE)
    try:
        holder = add_vip(c)
        idle = count_ring_changes(c, seconds)
        for h in c.hosts:
            h.run(" ".join([HOG] * hogs))
        busy = count_ring_changes(c, seconds)
        moved = vip_holder(c) != holder
        return {"busy": busy, "idle": idle, "vip_moved": float(moved)}
    finally:
        c.teardown()


def fake_bin(tmp: Path) -> Path:
    """Fake daemons for footprint figures; the start time is stamped by a shell, not Python."""
    bindir = tmp / "bin"
    bindir.mkdir()
    for name in ("corosync", "pacemakerd", "corosync-cfgtool"):
        stamp = f"date +%s.%N > {tmp}/{name}.started\n" if name == "corosync" else ""
        (bindir / name).write_text(f'#!/bin/sh\n{stamp}exec {sys.executable} {FAKE} {name} "$@"\n')
        (bindir / name).chmod(0o755)
    return bindir


def fake_env(tmp: Path, bindir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PCMK_", "FAKE_"))}
    env.update(
        PATH=f"{bindir}:{env['PATH']}",
        FAKE_LOG=str(tmp / "events.log"),
        PCMK_CLUSTER_PROPERTIES="",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def launcher_argv(tmp: Path) -> list[str]:
    return [*LAUNCHER_ARGV, f"--corosync-conf={tmp}/corosync.conf", f"--log-socket={tmp}/log"]


def bench_startup() -> dict[str, float]:
    """exec of the launcher -> corosync spawned, against `python -c pass`."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bindir = fake_bin(tmp)
        t0 = time.time()
        p = subprocess.Popen(
            launcher_argv(tmp), env=fake_env(tmp, bindir), stdout=subprocess.DEVNULL
        )
        stamp = tmp / "corosync.started"
        wait_for(
            lambda: stamp.exists() and stamp.read_text().strip(),
            10,
            "corosync spawned",
            bool,
            interval=0.001,
        )
        launcher = float(stamp.read_text()) - t0
        p.send_signal(signal.SIGTERM)
        p.wait(20)
    t0 = time.time()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return {"launcher": launcher, "python": time.time() - t0}


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for {pid}")


def ctx_switches(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise BenchError(f"no context switches for {pid}")


def with_fake_launcher(action: Callable[[int], object], **extra: str) -> object:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bindir = fake_bin(tmp)
        p = subprocess.Popen(
            launcher_argv(tmp), env=fake_env(tmp, bindir, **extra), stdout=subprocess.DEVNULL
        )
        try:
            log_file = tmp / "events.log"
            wait_for(
                lambda: log_file.exists() and "pacemakerd start" in log_file.read_text(),
                20,
                "the fake cluster up",
                bool,
                interval=0.02,
            )
            time.sleep(0.5)
            return action(p.pid)
        finally:
            p.send_signal(signal.SIGTERM)
            if p.wait(30) != 0:
                raise BenchError(f"the launcher exited {p.returncode}")


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (tini puts its child in a group of its own
    and cannot pass SIGKILL on, so neither kill() nor killpg() reaches them all)."""
    todo, tree = [pid], []
    while todo:
        p = todo.pop()
        tree.append(p)
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            todo += children(p)
    for p in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def with_process(argv: list[str], action: Callable[[int], object]) -> object:
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        return action(p.pid)
    finally:
        kill_tree(p.pid)
        p.wait()


def bench_memory() -> dict[str, float]:
    return {
        "launcher": with_fake_launcher(rss_kb) / 1024,
        "tini": with_process(["tini", "-s", "--", "sleep", "1000"], rss_kb) / 1024,
        "bash": with_process(["bash", "-c", "sleep 1000 & wait"], rss_kb) / 1024,
    }


def bench_idle(seconds: float, reps: int) -> dict[str, list[float]]:
    """Voluntary context switches over `seconds`: the launchers of `reps` healthy one-node
    clusters (one per host, measured in the same window) and as many idle tinis."""
    c = Cluster(reps)
    tinis: list[subprocess.Popen] = []
    try:
        for h in c.hosts:  # no node list: each host is its own standalone cluster
            h.start(LAUNCHER_ARGV, {"PYTHONPATH": str(ROOT)})
        for h in c.hosts:
            wait_for(
                lambda h=h: cluster_state(h),
                60,
                f"{h.name}'s one-node cluster",
                lambda st: st["dc_present"] and len(st["online"]) == 1,
                interval=0.2,
            )
        tinis = [
            subprocess.Popen(["tini", "-s", "--", "sleep", "1000"], stdout=subprocess.DEVNULL)
            for _ in range(reps)
        ]
        time.sleep(2)  # start-up settles
        pids = [h.pid for h in c.hosts] + [p.pid for p in tinis]
        before = [ctx_switches(p) for p in pids]
        time.sleep(seconds)
        counts = [float(ctx_switches(p) - b) for p, b in zip(pids, before, strict=True)]
        return {"launcher": counts[:reps], "tini": counts[reps:]}
    finally:
        for p in tinis:
            kill_tree(p.pid)
            p.wait()
        c.teardown()


ORPHAN_MAKER = """
import os, sys
n = int(sys.argv[1])
r, w = os.pipe()
os.set_inheritable(r, True)
if os.fork() == 0:                      # the parent that dies and leaves the orphans
    for _ in range(n):
        os.posix_spawn("/usr/bin/head", ["head", "-c1"], os.environ,
                       file_actions=[(os.POSIX_SPAWN_DUP2, r, 0)])
    import time
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write("%r %d" % (time.time(), os.getpid()))
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    os._exit(0)                          # closes w: every orphan reads EOF and exits
os.close(r)
os.close(w)
signal_wait = __import__("signal").pause
signal_wait()
"""


def bench_reaping(n: int) -> dict[str, dict[str, float]]:
    out = {}
    for who in ("launcher", "tini"):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            maker = tmp / "maker.py"
            maker.write_text(ORPHAN_MAKER)
            flag = tmp / "spawned"
            if who == "tini":
                argv = ["tini", "-s", "--", sys.executable, str(maker), str(n), str(flag)]
                p = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
                pid = p.pid
            else:
                bindir = fake_bin(tmp)
                (bindir / "pacemakerd").write_text(
                    f"#!/bin/sh\nexec {sys.executable} {maker} {n} {flag}\n"
                )
                p = subprocess.Popen(
                    launcher_argv(tmp), env=fake_env(tmp, bindir), stdout=subprocess.DEVNULL
                )
                pid = p.pid
            try:
                # The clock starts when the orphans' parent exits (it writes the time first).
                # Polls stay cheap (one children file per task, no per-child reads) so the
                # measuring does not compete with the reaping for the CPU.
                base = None  # the long-lived children, counted while the orphans are not ours
                while not flag.exists():
                    base = len(children(pid))
                    time.sleep(0.001)
                if base is None:
                    raise BenchError(f"{who}: the orphans' parent was done before it was watched")
                stamp, parent = flag.read_text().split()
                t0 = float(stamp)
                # The orphans are re-parented to the reaper once their parent has exited.
                while state(int(parent)) not in ("Z", "?"):
                    time.sleep(0.001)
                peak = 0
                while True:
                    left = len(children(pid)) - base
                    peak = max(peak, left)
                    if left <= 0:
                        break
                    if time.time() - t0 > 120:
                        raise BenchError(f"{who}: {left} orphans not reaped after 120 s")
                    time.sleep(0.001)
                done = time.time() - t0
                zombies = sum(1 for k in children(pid) if state(k) == "Z")
                out[who] = {"time": done, "peak_unreaped": float(peak), "zombies": float(zombies)}
            finally:
                if who == "launcher":
                    p.send_signal(signal.SIGTERM)
                else:
                    kill_tree(p.pid)
                p.wait(30)
    return out


def children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            kids += [int(c) for c in (task / "children").read_text().split()]
    return kids


def state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "?"


def image_size_mb() -> float | None:
    if not shutil.which("docker"):
        return None
    r = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Size}}", "pacemaker_docker:latest"],
        capture_output=True,
        text=True,
    )
    return int(r.stdout) / 1e6 if r.returncode == 0 else None


# ---- statistics and report ------------------------------------------------------------


def stats(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def repeat(reps: int, what: str, fn: Callable[[], float]) -> list[float]:
    values = []
    for i in range(reps):
        log(f"{what} ({i + 1}/{reps})")
        values.append(fn())
    return values


def run(reps: int, quick: bool) -> dict:
    require_harness()
    figures: dict[str, dict] = {}

    def figure(name, unit, values, base_name, base_values, target):
        s, b = stats(values), stats(base_values) if base_values else None
        ratio = s["median"] / b["median"] if b and b["median"] else None
        figures[name] = {
            "unit": unit,
            "value": s,
            "baseline": base_name,
            "baseline_value": b,
            "ratio": ratio,
            "target": target,
        }

    sizes = [3] if quick else [3, 5]
    for n in sizes:
        ours = repeat(reps, f"formation {n} nodes, launcher", lambda n=n: bench_formation(n, False))
        # quick: no naive baseline (its stock CIB waits 20 s; the cluster level runs it too)
        naive = (
            []
            if quick
            else repeat(reps, f"formation {n} nodes, naive", lambda n=n: bench_formation(n, True))
        )
        figure(
            f"formation, {n} nodes",
            "s",
            ours,
            "naive start, default CIB",
            naive,
            "≤ 3 s" if n == 3 else "",
        )
    default = repeat(reps, "failover, default token", lambda: bench_failover({}))
    fast = repeat(reps, "failover, fast profile", lambda: bench_failover(FAST_PROFILE))
    figure("failover, default token", "s", default, "", [], "≤ 9 s")
    figure(
        f"failover, fast profile (token {FAST_PROFILE['PCMK_TOKEN_TIMEOUT']}, "
        f"coefficient {FAST_PROFILE['PCMK_TOKEN_COEFFICIENT']}, "
        f"consensus {FAST_PROFILE['PCMK_CONSENSUS_TIMEOUT']})",
        "s",
        fast,
        "default token",
        default,
        "≤ 2.5 s",
    )
    # False failovers: the fast profile on busy hosts (issue 28 asks for 0).
    busy_secs = 5 if quick else 300
    busy = bench_busy_hosts(busy_secs)
    figure(
        f"fast profile, hosts busy {busy_secs:g} s: membership changes without a fault",
        "count",
        [busy["busy"]],
        "same cluster idle",
        [busy["idle"]],
        "0",
    )
    figure(
        f"fast profile, hosts busy {busy_secs:g} s: VIP moved",
        "count",
        [busy["vip_moved"]],
        "",
        [],
        "0",
    )
    stops = [bench_graceful_stop() for _ in range(reps)]
    figure("graceful stop: launcher exit", "s", [s["stop"] for s in stops], "", [], "≤ 1 s")
    figure("graceful stop: VIP gap", "s", [s["gap"] for s in stops], "", [], "≤ 100 ms")
    figure("graceful stop: SIGKILLs", "count", [s["sigkills"] for s in stops], "", [], "0")
    starts = [bench_startup() for _ in range(max(reps, 5))]
    figure(
        "launcher start-up (exec → corosync spawned)",
        "s",
        [s["launcher"] for s in starts],
        "python -c pass",
        [s["python"] for s in starts],
        "≤ interpreter + 50 ms",
    )
    mem = [bench_memory() for _ in range(reps)]
    figure(
        "PID-1 memory (RSS)",
        "MB",
        [m["launcher"] for m in mem],
        "tini",
        [m["tini"] for m in mem],
        "≤ 10 MB",
    )
    figure(
        "PID-1 memory (RSS) vs bash",
        "MB",
        [m["launcher"] for m in mem],
        "bash",
        [m["bash"] for m in mem],
        "",
    )
    window = 10 if quick else 60
    idle = bench_idle(window, reps)
    figure(f"idle wake-ups over {window} s", "count", idle["launcher"], "tini", idle["tini"], "0")
    orphans = 1000 if quick else 10_000
    reap = [bench_reaping(orphans) for _ in range(reps)]
    for key, name, unit, target in (
        ("time", f"reaping {orphans} orphans", "s", "≤ 2× tini"),
        ("peak_unreaped", "reaping: peak orphans not yet reaped", "count", ""),
        ("zombies", "reaping: zombies left at the end", "count", "0"),
    ):
        ours, tini = ([r[who][key] for r in reap] for who in ("launcher", "tini"))
        figure(name, unit, ours, "tini", tini, target)
    size = image_size_mb()
    if size is None and not quick:  # `make bench` builds it first
        raise BenchError("image size: no pacemaker_docker:latest image (run `make image`)")
    if size is not None:
        figure("image size", "MB", [size], "", [], "≤ 300 MB")
    # Full nodes at 3..16 with CPU per node (bench/scale.py); quick: 3 nodes only.
    scaled = scale.run_scale(scale.QUICK_SIZES if quick else scale.SIZES, 1 if quick else 2)
    assert_no_leftovers()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "quick": quick,
        "reps": reps,
        "machine": machine(),
        "figures": figures,
        "scale": scaled,
    }


def machine() -> dict[str, str]:
    return {
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "corosync": first_line(["corosync", "-v"]),
        "pacemaker": first_line(["pacemakerd", "--version"]),
        # The machine is shared: how busy it was says how far absolute times can be trusted.
        "load": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    if unit == "s":
        if v < 0.01:
            return f"{v * 1000:.1f} ms"
        return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"
    if unit == "MB":
        return f"{v:.1f} MB"
    return f"{v:.0f}"


def table(result: dict) -> str:
    rows = [
        "| figure | median | spread | n | baseline | baseline median | ratio | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, f in result["figures"].items():
        v, b, u = f["value"], f["baseline_value"], f["unit"]
        spread = f"{fmt(v['min'], u)} – {fmt(v['max'], u)}"
        ratio = f"{f['ratio']:.2f}×" if f["ratio"] is not None else "—"
        rows.append(
            f"| {name} | {fmt(v['median'], u)} | {spread} | {v['n']} | "
            f"{f['baseline'] or '—'} | {fmt(b['median'] if b else None, u)} | {ratio} | "
            f"{f['target'] or '—'} |"
        )
    return "\n".join(rows)


def write_docs(result: dict) -> None:
    m = result["machine"]
    text = DOCS.read_text() if DOCS.exists() else ""
    head = text.split("<!-- results -->")[0] if "<!-- results -->" in text else DEFAULT_DOC
    body = (
        f"<!-- results -->\n## Latest run: {result['date']}"
        f"{' (quick)' if result['quick'] else ''}, {result['reps']} repetitions\n\n"
        f"Machine: {m['cores']} cores, kernel {m['kernel']}, Python {m['python']}, "
        f"{m['corosync']}, {m['pacemaker']}; load average at the end (1/5/15 min): "
        f"{m.get('load', '?')}.\n\n{table(result)}\n\n{scale.section(result['scale'])}"
    )
    DOCS.parent.mkdir(exist_ok=True)
    DOCS.write_text(head + body)


DEFAULT_DOC = """# Benchmarks

`make bench` (about 15 minutes; `make bench-quick`: one repetition, 3 nodes) measures the
figures below on namespace hosts with the real daemons, each beside a baseline measured in
the same run, and rewrites the table (JSON: `bench/results/latest.json`). Absolute times
drift on a shared machine: compare ratios.

- formation: all hosts started together until the first host sees every node online, quorum
  and a DC. Baseline: the same daemons started the naive way (corosync, wait, pacemakerd)
  with a default CIB. The launcher gains its time twice: knet pings every 200 ms instead
  of token/4 (links up within a second instead of 2-3 s), and the seeded `dc-deadtime=1s`
  replaces pacemaker's 20 s wait for peers.
- failover: power cut of the VIP's host (every process SIGKILLed, its addresses gone) until
  the first echo reply from the VIP, asked every 50 ms by a client host that runs no
  cluster software. With the default token that is the token timeout (3000 ms + 650 ms per
  node above two) and consensus (1.2 x token) counted from the last token seen, then
  pacemaker (its controller waits 1 s for its own CIB updates before it schedules), then
  IPaddr2's start. The fast profile is `PCMK_TOKEN_TIMEOUT=600 PCMK_TOKEN_COEFFICIENT=0
  PCMK_CONSENSUS_TIMEOUT=720` (without the coefficient 0 corosync would make the token 1250 ms):
  a lost node is noticed in about 2 s instead of about 8 s, at the price of false alarms
  on a congested or lossy network (use it on a quiet LAN; keep the defaults across data
  centres).
- graceful stop: SIGTERM (`docker stop`) of the VIP's host until its launcher exits; the VIP
  gap is the longest interval between two echo replies at the client meanwhile.
- start-up (exec of the launcher until it spawns corosync) and memory use fake daemons,
  against `python -c pass`, `tini` and `bash`.
- idle wake-ups: the launchers of 5 real one-node clusters (one per host) and 5 idle
  `tini`s, counted over the same 60 s.
- reaping: the fake pacemakerd's child spawns 10,000 processes and exits, leaving them to
  the reaper (the launcher, or `tini -s`); the clock runs from that exit until the last
  one is reaped. The polls read only the reaper's children lists, so measuring does not
  compete with the reaping for the CPU.

"""


def replace_section(begin: str, end: str, new: str, docs: Path = DOCS) -> None:
    """Put a module's section (new, from begin to end) into docs/benchmarks.md: in place of
    its previous one, else before bench/run.py's results (which bench/run.py rewrites: what
    precedes them is kept), else at the end."""
    text = docs.read_text() if docs.exists() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + new + "\n" + rest.split(end, 1)[1].lstrip("\n")
    elif "<!-- results -->" in text:
        head, rest = text.split("<!-- results -->", 1)
        text = head + new + "\n<!-- results -->" + rest
    else:
        text += "\n" + new
    docs.write_text(text)


def publish(
    label: str,
    compute: Callable[[], dict],
    show: Callable[[dict], str],
    results: Path,
    write: Callable[[dict], None],
    no_docs: bool,
) -> int | None:
    """Run one benchmark and report it: its table on stdout, its JSON in `results`, its docs
    section unless `no_docs`; exit code 0. Any failure: 1, with no figure reported. A skip
    (not root, daemons missing): None, which the caller exits 0 on."""
    try:
        result = compute()
    except unittest.SkipTest as exc:  # with CI=true the harness raises an error instead
        print(f"{label}: skipped: {exc}", file=sys.stderr)
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means no figures
        print(f"{label}: FAILED, no figures reported: {exc}", file=sys.stderr)
        return 1
    print(show(result))
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")
    if not no_docs:
        write(result)
    return 0


def section_main(
    argv: list[str] | None,
    description: str,
    label: str,
    compute: Callable[[int], dict],
    show: Callable[[dict], str],
    results: Path,
    section: Callable[[dict], str],
    markers: tuple[str, str],
) -> int:
    """The command line of a benchmark with its own docs section (bench/remote.py,
    bench/membership.py): --reps and --no-docs, then publish()."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = p.parse_args(argv)

    def write(result: dict) -> None:
        replace_section(*markers, section(result))

    code = publish(label, lambda: compute(args.reps), show, results, write, args.no_docs)
    return code or 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1 repetition, 3 nodes only")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = p.parse_args(argv)
    reps = 1 if args.quick else args.reps
    code = publish("bench", lambda: run(reps, args.quick), table, RESULTS, write_docs, args.no_docs)
    if code != 0 or args.quick:  # None (skipped) too
        return code or 0
    from bench import membership, remote  # minutes each: full runs only

    tail = ["--no-docs"] if args.no_docs else []
    code = remote.main(["--reps", str(min(reps, 3)), *tail])
    return code or membership.main(["--reps", str(min(reps, 3)), *tail])


if __name__ == "__main__":
    sys.exit(main())
