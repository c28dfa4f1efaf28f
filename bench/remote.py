"""Pacemaker Remote figures: 3 full + 8 and 3 full + 24 remote nodes on namespace hosts.

- formation: every host's launcher started at once until every remote is online, in parts
  (the full nodes formed; one connection per remote added with cibadmin; all online), with
  the CPU-seconds the hosts spent by then (full nodes and remotes apart);
- failover: a remote that runs a Dummy loses power (its processes killed, its cable pulled
  and left out: it answers nothing, as a dead machine) until the Dummy runs on another
  remote, in parts: lost (crm_mon shows it offline), confirmed down (stonith_admin
  --confirm, as fencing is off), Started elsewhere. Baseline: the same with the harness'
  power_cut(), whose cable goes back in at once, so the dead host's kernel answers the
  connection with a reset (what a crashed pacemaker-remoted on a live machine looks like);
- memory: all processes of one remote host beside all processes of one full host, idle a
  few seconds after formation (RSS and PSS summed over the host's process tree).

Called by bench/run.py in full runs (not --quick); alone: python -m bench.remote [--reps N]
[--no-docs]. It rewrites its own section of docs/benchmarks.md (between the markers below)
and bench/results/remote.json.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.run import BenchError, log, machine, section_main, stats, table
from tests.harness.cluster import LAUNCHER_ARGV, Cluster, launcher_env, wait_state
from tests.harness.hosts import Host, assert_no_leftovers, require_harness
from tests.harness.remote import (
    add_dummies_on_remotes,
    cpu_seconds,
    full_env_extra,
    host_processes,
    memory_kb,
    remote_env,
    remote_nodes,
    remoted_sbin,
    start_remote_cluster,
    where,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "remote.json"
BEGIN, END = "<!-- remote -->", "<!-- /remote -->"
N_FULL = 3
SIZES = (8, 24)
RECONNECT = "10s"  # the connections' reconnect_interval (their monitor: every 5 s)
LONG = 300  # bounds a hang; measures nothing
IDLE = 10  # seconds after formation before memory is read


class RemoteBench:
    """3 full nodes and ``n`` remote hosts on one switch, started together."""

    def __init__(self, n: int, sbin: Path):
        self.c = Cluster(N_FULL)
        self.full = list(self.c.hosts)
        try:
            self.remotes = [self.c.network.add_host(name=f"remote{i}") for i in range(1, n + 1)]
        except BaseException:
            self.c.teardown()
            raise
        self.c.hosts += self.remotes  # torn down and logged with the full nodes
        self.full_env = launcher_env(self.full, **full_env_extra())
        self.remote_env = remote_env(sbin)
        self.viewer = self.full[0]  # never cut: its crm_mon is the clock's witness

    def form(self) -> dict[str, float]:
        f = start_remote_cluster(
            self.c, self.full, self.remotes, self.full_env, self.remote_env, LONG, RECONNECT
        )
        trees = host_processes(self.c.hosts)
        return {
            "formed": f.formed,
            "added": f.added - f.formed,
            "connected": f.online - f.added,
            "online": f.online,
            "cpu_full": sum(cpu_seconds(trees[h.name]) for h in self.full),
            "cpu_remote": sum(cpu_seconds(trees[h.name]) for h in self.remotes),
        }

    def memory(self) -> dict[str, dict]:
        """Per host kind: the median host's RSS and PSS (MB), and its processes by name."""
        trees = host_processes(self.c.hosts)
        out = {}
        for kind, hosts in (("full", self.full), ("remote", self.remotes)):
            per_host = [memory_kb(trees[h.name]) for h in hosts]
            totals = [
                {k: sum(p[k] for p in m.values()) / 1024 for k in ("rss", "pss")} for m in per_host
            ]
            out[kind] = {
                "rss": statistics.median(t["rss"] for t in totals),
                "pss": statistics.median(t["pss"] for t in totals),
                "processes": per_host[0],
            }
        return out

    def failover(self, silent: bool) -> dict[str, float]:
        rid = "dfail"
        if rid not in wait_state(self.viewer, lambda s: True, 60, "crm_mon")["resources"]:
            add_dummies_on_remotes(self.viewer, [rid])
        s = wait_state(
            self.viewer,
            lambda s: all(remote_nodes(s).values()) and len(where(s, rid)) == 1,
            LONG,
            f"every remote online, {rid} Started on one",
        )
        victim = next(h for h in self.remotes if h.name == where(s, rid)[0])
        others = {h.name for h in self.remotes} - {victim.name}
        t0 = time.monotonic()
        if silent:
            victim.link_down()  # the cable stays out until the Dummy has moved
            victim.kill()
        else:
            victim.power_cut()
        wait_state(
            self.viewer,
            lambda s: not remote_nodes(s).get(victim.name),
            LONG,
            f"{victim.name} seen lost",
            interval=0.2,
        )
        lost = time.monotonic() - t0
        # Fencing is off: pacemaker will not recover a lost remote's resources until the
        # node is known down; the bench, which cut the power, says so (a fence device would).
        self.viewer.run(["stonith_admin", "--confirm", victim.name], timeout=60)
        confirmed = time.monotonic() - t0
        wait_state(
            self.viewer,
            lambda s: len(where(s, rid)) == 1 and where(s, rid)[0] in others,
            LONG,
            f"{rid} Started on another remote",
            interval=0.2,
        )
        moved = time.monotonic() - t0
        self.bring_back(victim)
        return {"lost": lost, "confirm": confirmed - lost, "start": moved - confirmed,
                "total": moved}  # fmt: skip

    def bring_back(self, victim: Host) -> None:
        victim.link_up()
        victim.start(LAUNCHER_ARGV, self.remote_env)
        self.viewer.run(["crm_resource", "--cleanup", "--resource", victim.name], timeout=60)
        wait_state(
            self.viewer,
            lambda s: remote_nodes(s).get(victim.name) is True,
            LONG,
            f"{victim.name} online again",
        )


def run(reps: int) -> dict:
    require_harness()
    sbin, why = remoted_sbin()
    if sbin is None:
        raise BenchError(f"pacemaker-remoted: {why}")
    formation: dict[int, list[dict[str, float]]] = {n: [] for n in SIZES}
    memory: dict[int, dict] = {}
    failover: dict[str, list[dict[str, float]]] = {"silent": [], "reset": []}
    for n in SIZES:
        for i in range(reps):
            log(f"remote formation 3 full + {n} remotes ({i + 1}/{reps})")
            rb = RemoteBench(n, sbin)
            failed = True
            try:
                formation[n].append(rb.form())
                if i == reps - 1:  # the last cluster of each size stays for the rest
                    time.sleep(IDLE)
                    memory[n] = rb.memory()
                    if n == SIZES[0]:
                        for k in range(reps):
                            for kind in ("silent", "reset"):
                                log(f"remote failover, {kind} ({k + 1}/{reps})")
                                failover[kind].append(rb.failover(kind == "silent"))
                failed = False
            finally:
                rb.c.finish(failed)
    assert_no_leftovers()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "reps": reps,
        "machine": machine(),
        "formation": {str(n): v for n, v in formation.items()},
        "failover": failover,
        "memory": {str(n): v for n, v in memory.items()},
        "figures": figures(formation, failover, memory),
    }


def figures(formation: dict, failover: dict, memory: dict) -> dict[str, dict]:
    """The rows of the table, in bench/run.py's schema."""
    out: dict[str, dict] = {}

    def figure(name: str, unit: str, values: list[float], base: str = "", base_values=()):
        s, b = stats(values), stats(list(base_values)) if base_values else None
        out[name] = {
            "unit": unit,
            "value": s,
            "baseline": base,
            "baseline_value": b,
            "ratio": s["median"] / b["median"] if b and b["median"] else None,
            "target": "report",
        }

    def col(rows: list[dict], key: str, f: Callable[[float], float] = float) -> list[float]:
        return [f(r[key]) for r in rows]

    small, big = (formation[n] for n in SIZES)
    tag = f"3 full + {SIZES[1]}"
    base = f"3 full + {SIZES[0]}"
    figure(f"{tag}: all started → every remote online", "s", col(big, "online"), base,
           col(small, "online"))  # fmt: skip
    figure(f"{tag}: full nodes formed", "s", col(big, "formed"), base, col(small, "formed"))
    figure(f"{tag}: {SIZES[1]} connections added (cibadmin each)", "s", col(big, "added"), base,
           col(small, "added"))  # fmt: skip
    figure(f"{tag}: last added → every remote online", "s", col(big, "connected"), base,
           col(small, "connected"))  # fmt: skip
    for who in ("full", "remote"):
        figure(f"{tag}: CPU-seconds, all {who} hosts, until online", "s",
               col(big, f"cpu_{who}"), base, col(small, f"cpu_{who}"))  # fmt: skip
    figure(f"{tag}: CPU-seconds per remote host", "s",
           [r["cpu_remote"] / SIZES[1] for r in big], base,
           [r["cpu_remote"] / SIZES[0] for r in small])  # fmt: skip
    silent, reset = failover["silent"], failover["reset"]
    figure("remote power cut → Dummy Started on another remote", "s", col(silent, "total"),
           "killed, host answers (reset)", col(reset, "total"))  # fmt: skip
    for key, what in (("lost", "until seen offline"), ("confirm", "stonith_admin --confirm"),
                      ("start", "confirmed → Started elsewhere")):  # fmt: skip
        figure(f"remote power cut: {what}", "s", col(silent, key),
               "killed, host answers (reset)", col(reset, key))  # fmt: skip
    for n in SIZES:
        m = memory[n]
        for key in ("rss", "pss"):
            figure(f"memory of one remote host ({key.upper()}), 3 full + {n}", "MB",
                   [m["remote"][key]], "one full host", [m["full"][key]])  # fmt: skip
    return out


# /proc/PID/comm is cut at 15 characters, and our launcher is a python process.
NAMES = {
    "pacemaker-remot": "pacemaker-remoted",
    "pacemaker-contr": "pacemaker-controld",
    "pacemaker-sched": "pacemaker-schedulerd",
    "pacemaker-fence": "pacemaker-fenced",
}


def processes_line(procs: dict[str, dict[str, int]]) -> str:
    parts = sorted(procs.items(), key=lambda kv: -kv[1]["rss"])
    return ", ".join(
        f"{'launcher' if name.startswith('python') else NAMES.get(name, name)} "
        f"{v['rss'] / 1024:.1f}"
        for name, v in parts
    )


def section(result: dict) -> str:
    m = result["machine"]
    mem = result["memory"][str(SIZES[0])]
    return (
        f"{BEGIN}\n### Latest Pacemaker Remote run: {result['date']}, {result['reps']} "
        f"repetitions\n\nMachine: {m['cores']} cores, {m['corosync']}, {m['pacemaker']}; load "
        f"average at the end (1/5/15 min): {m['load']}.\n\n{table(result)}\n\n"
        f"RSS by process (MB), 3 full + {SIZES[0]}: remote host: "
        f"{processes_line(mem['remote']['processes'])}; full host: "
        f"{processes_line(mem['full']['processes'])}.\n{END}\n"
    )


def main(argv: list[str] | None = None) -> int:
    description = __doc__.split("\n")[0]
    return section_main(
        argv, description, "bench: remote", run, table, RESULTS, section, (BEGIN, END)
    )


if __name__ == "__main__":
    sys.exit(main())
