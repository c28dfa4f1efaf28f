"""Scaling full nodes: formation time and the CPU-seconds every host spends to form, per node,
at N = 3, 5, 8, 16, the launcher against the naive start measured in the same run.

CPU is counted per host from its pid namespace at the moment the first host sees the
cluster formed: utime + stime + cutime + cstime of every live process in the namespace
(/proc/PID/stat). The children fields carry every process that has exited and been reaped
(a daemon's exited helpers by their parent, orphans and readiness probes by PID 1, which
also holds the prologue's), so nothing the host ran is missed. The harness's crm_mon polls
are reaped outside the namespace (by nsenter) and do not count.

A launcher cluster that does not form in time gives no figure (the run fails). The naive
start may not form at 16 nodes: that is reported as a fact (timeout, nodes online).

    python -m bench.scale [--sizes 3,5,8,16] [--reps N] [--lock FILE] [--no-docs]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from tests.harness.cluster import Cluster, cluster_state
from tests.harness.hosts import Host, assert_no_leftovers, require_harness

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "scale.json"
DOCS = ROOT / "docs" / "benchmarks.md"
SIZES = (3, 5, 8, 16)
QUICK_SIZES = (3,)
TICK = os.sysconf("SC_CLK_TCK")
BEGIN, END = "<!-- scale -->", "<!-- /scale -->"


class ScaleError(Exception):
    """A launcher cluster did not form: no figure may be reported for it."""


def log(text: str) -> None:
    print(f"bench.scale: {text}", file=sys.stderr, flush=True)


def timeout_for(n: int) -> float:
    """How long a launcher cluster of n may take before the run fails (generous: on two
    cores a 16-node start is CPU-bound, and other tenants may be busy)."""
    return max(60.0, 15.0 * n)


# ---- CPU accounting --------------------------------------------------------------------


def _stat(pid: str) -> tuple[str, int, int] | None:
    """(comm, own ticks, reaped children's ticks) of one process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    f = text.rsplit(")", 1)[1].split()
    # fields 14-17 of proc(5): utime stime cutime cstime (f[0] is field 3, state)
    return comm, int(f[11]) + int(f[12]), int(f[13]) + int(f[14])


def cpu_snapshot(hosts: list[Host]) -> dict[str, dict[str, float]]:
    """CPU-seconds per host and per daemon name across hosts, from one scan of /proc.

    Keys: "hosts" {host name: seconds}, "daemons" {comm: seconds}; PID 1's own time is
    "PID 1", everything reaped by any process of a host is "exited processes"."""
    ns_of = {}
    for h in hosts:
        if h.pid is not None:
            with contextlib.suppress(OSError):
                ns_of[os.readlink(f"/proc/{h.pid}/ns/pid")] = h
    per_host: dict[str, float] = defaultdict(float)
    per_daemon: dict[str, float] = defaultdict(float)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            h = ns_of.get(os.readlink(f"/proc/{entry.name}/ns/pid"))
        except OSError:
            continue
        st = _stat(entry.name) if h is not None else None
        if st is None:
            continue
        comm, own, reaped = st
        name = "PID 1" if int(entry.name) == h.pid else comm
        per_host[h.name] += (own + reaped) / TICK
        per_daemon[name] += own / TICK
        per_daemon["exited processes"] += reaped / TICK
    return {"hosts": dict(per_host), "daemons": dict(per_daemon)}


# ---- one formation ----------------------------------------------------------------------


@contextlib.contextmanager
def held(lock: str | None) -> Iterator[None]:
    """Hold an flock on `lock` (if given) while measuring: other heavy jobs on this
    machine wait, and they are not measured with us."""
    if not lock:
        yield
        return
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def formation(n: int, naive: bool, timeout: float, env: dict[str, str]) -> dict:
    """Start n hosts together; poll the first host until it sees n nodes online, quorum and
    a DC, or until `timeout`. CPU is read right then, before anything else runs."""
    c = Cluster(n)
    try:
        load_before = os.getloadavg()[0]
        t0 = time.monotonic()
        c.start_together(naive, **env)
        last: dict = {}
        done = False
        while time.monotonic() - t0 < timeout:
            with contextlib.suppress(Exception):  # the CIB is not up yet: not formed
                last = cluster_state(c.hosts[0], timeout=10)
                if last["dc_present"] and last["have_quorum"] and len(last["online"]) == n:
                    done = True
                    break
            time.sleep(0.25)
        secs = time.monotonic() - t0
        cpu = cpu_snapshot(c.hosts)
        dead = [h.name for h in c.hosts if not h.running]
        result = {
            "formed": done,
            "seconds": secs,
            "online": len(last.get("online", [])),
            "quorum": bool(last.get("have_quorum")),
            "cpu_total": sum(cpu["hosts"].values()),
            "cpu_per_node": sum(cpu["hosts"].values()) / n,
            "daemons": cpu["daemons"],
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
            "hosts_exited": dead,
        }
        if dead:
            raise ScaleError(f"{n} nodes: hosts exited while forming: {dead}\n{c.logs(20)}")
        if not done and not naive:
            raise ScaleError(
                f"{n} nodes (launcher) did not form in {timeout:.0f} s: "
                f"{result['online']} of {n} online, quorum {result['quorum']}"
            )
        return result
    finally:
        c.teardown()
        if os.environ.get("PD_KEEP") == "1":  # the hosts' logs, to read where the time went
            log(f"  kept host dirs: {c.base_dir}")
        else:
            c.network.remove_dir()


# ---- the scenario ----------------------------------------------------------------------


def run_scale(
    sizes: tuple[int, ...] = SIZES,
    reps: int = 1,
    naive_timeout: float = 150.0,
    lock: str | None = None,
    env: dict[str, str] | None = None,
    kinds: tuple[str, ...] = ("launcher", "naive"),
) -> dict:
    """Every size, launcher then naive in each repetition; raw runs and medians."""
    require_harness()
    rows = []
    for n in sizes:
        runs: dict[str, list[dict]] = {"launcher": [], "naive": []}
        for i in range(reps):
            for kind in kinds:
                log(f"{n} nodes, {kind} ({i + 1}/{reps})")
                with held(lock):
                    r = formation(
                        n,
                        kind == "naive",
                        naive_timeout if kind == "naive" else timeout_for(n),
                        env or {},
                    )
                state = "formed" if r["formed"] else f"NOT formed, {r['online']}/{n} online"
                log(
                    f"  {state} after {r['seconds']:.1f} s, {r['cpu_per_node']:.2f} CPU-s/node,"
                    f" load {r['load_before']:.1f} -> {r['load_after']:.1f}"
                )
                runs[kind].append(r)
        rows.append({"n": n, "naive_timeout": naive_timeout, **runs})
    assert_no_leftovers()
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "reps": reps, "rows": rows}


# ---- report -----------------------------------------------------------------------------


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _spread(runs: list[dict], key: str, fmt: str) -> str:
    lo, hi = min(r[key] for r in runs), max(r[key] for r in runs)
    return format(lo, fmt) if len(runs) == 1 else f"{lo:{fmt}} – {hi:{fmt}}"


def _naive_time(row: dict) -> str:
    runs = row["naive"]
    formed = [r for r in runs if r["formed"]]
    if len(formed) == len(runs):
        return f"{_median(runs, 'seconds'):.1f} s"
    missing = [f"{r['online']}/{row['n']} online" for r in runs if not r["formed"]]
    head = f"{_median(formed, 'seconds'):.1f} s, " if formed else ""
    return (
        f"{head}{len(runs) - len(formed)} of {len(runs)} not formed in "
        f"{row['naive_timeout']:.0f} s ({', '.join(missing)})"
    )


def table(result: dict) -> str:
    rows = [
        "| nodes | formation | spread | CPU-s/node | naive start | naive CPU-s/node"
        " | time ratio | CPU ratio | load before → after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        ours, naive = row["launcher"], row["naive"]
        formed = all(r["formed"] for r in naive)
        t, cpu = _median(ours, "seconds"), _median(ours, "cpu_per_node")
        naive_cpu = _median(naive, "cpu_per_node")
        # A naive start that timed out gives a lower bound only.
        bound = "" if formed else "≤ "
        time_ratio = f"{bound}{t / _median(naive, 'seconds'):.2f}×"
        cpu_ratio = f"{bound}{cpu / naive_cpu:.2f}×" if naive_cpu else "—"
        rows.append(
            f"| {row['n']} | {t:.1f} s | {_spread(ours, 'seconds', '.1f')} s | {cpu:.2f} | "
            f"{_naive_time(row)} | {naive_cpu:.2f}{'' if formed else ' (at timeout)'} | "
            f"{time_ratio} | {cpu_ratio} | "
            f"{_median(ours, 'load_before'):.1f} → {_median(ours, 'load_after'):.1f} |"
        )
    return "\n".join(rows)


def daemon_table(result: dict) -> str:
    """CPU-seconds per node by daemon at the largest size (launcher, median run)."""
    row = result["rows"][-1]
    n = row["n"]
    names = sorted(
        {k for r in row["launcher"] + row["naive"] for k in r["daemons"]},
        key=lambda k: -statistics.median(r["daemons"].get(k, 0) for r in row["launcher"]),
    )
    out = [f"| {n} nodes: CPU-s/node by process | launcher | naive start |", "|---|---|---|"]
    for k in names:
        ours = statistics.median(r["daemons"].get(k, 0) for r in row["launcher"]) / n
        naive = statistics.median(r["daemons"].get(k, 0) for r in row["naive"]) / n
        if ours >= 0.005 or naive >= 0.005:
            out.append(f"| {k} | {ours:.2f} | {naive:.2f} |")
    return "\n".join(out)


def section(result: dict) -> str:
    """The generated part of docs/benchmarks.md's "Scaling full nodes" section."""
    return (
        f"{BEGIN}\n## Scaling full nodes: latest run {result['date']}, "
        f"{result['reps']} repetition(s)\n\n{table(result)}\n\n{daemon_table(result)}\n{END}\n"
    )


def write_docs(result: dict, path: Path = DOCS) -> None:
    """Replace the generated scale section (or append it) and leave the rest alone."""
    text = path.read_text()
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1].lstrip("\n")
        text = before + section(result) + after
    else:
        text = text.rstrip("\n") + "\n\n" + section(result)
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default=",".join(map(str, SIZES)))
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--naive-timeout", type=float, default=150.0)
    p.add_argument("--lock", help="flock this file around each formation (shared machine)")
    p.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for every launcher (experiments)"
    )
    p.add_argument("--only", choices=("launcher", "naive"), help="one kind (experiments)")
    p.add_argument("--no-docs", action="store_true")
    p.add_argument("--json", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    env = dict(e.split("=", 1) for e in args.env)
    sizes = tuple(int(x) for x in args.sizes.split(","))
    try:
        kinds = (args.only,) if args.only else ("launcher", "naive")
        result = run_scale(sizes, args.reps, args.naive_timeout, args.lock, env, kinds)
    except Exception as exc:  # noqa: BLE001 - any failure means no figures
        print(f"bench.scale: FAILED, no figures reported: {exc}", file=sys.stderr)
        return 1
    result["env"] = env
    if not args.only:
        print(table(result))
        print(daemon_table(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_docs and not args.only:
        write_docs(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
