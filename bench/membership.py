"""Membership changes: grow 3 -> 5, shrink by a middle node and the DC, replace a dead host,
each timed and with the VIP's longest gap at a client, against a VIP failover (the holder's
power cut) measured on the same cluster in the same run.

The steps are tests/harness/membership.py's, as the cluster test makes them: `pcmk-launch
nodes` on every member, the new node started with the list it prints. A step's time runs from
the first command (or the stop of the leaving node) until every node shows the new
membership with quorum, its CIB lists exactly the members and expected votes follow. A step
that loses quorum or moves a resource it did not have to fails the run (no figures).

    python -m bench.membership [--reps N] [--no-docs]
"""

from __future__ import annotations

import datetime
import statistics
import sys
from collections import defaultdict

from bench.run import DOCS, log, machine, section_main
from tests.harness import membership
from tests.harness.cluster import Cluster
from tests.harness.hosts import assert_no_leftovers, require_harness

RESULTS = DOCS.parents[1] / "bench" / "results" / "membership.json"
BEGIN, END = "<!-- membership -->", "<!-- /membership -->"


def one_run() -> list[membership.Step]:
    c = Cluster(3)
    try:
        client = c.network.add_host(name="client")
        client.start(["/bin/sleep", "infinity"])
        m = membership.start(c, client)
        steps = [membership.grow(m), membership.grow(m)]
        steps += [membership.shrink(m, "middle"), membership.shrink(m, "dc")]
        steps += [membership.replace_dead(m), membership.replace_dead(m, rename=True)]
        steps.append(membership.failover(m))
        if m.repurged:
            log(f"leftovers a new DC wrote back, purged again: {m.repurged}")
        return steps
    finally:
        c.teardown()
        c.network.remove_dir()
        assert_no_leftovers()


def run(reps: int) -> dict:
    require_harness()
    seconds: dict[str, list[float]] = defaultdict(list)
    gaps: dict[str, list[float]] = defaultdict(list)
    for i in range(reps):
        log(f"membership steps ({i + 1}/{reps})")
        for step in one_run():
            seconds[step.what].append(step.seconds)
            gaps[step.what].append(step.gap)
    return {
        "date": datetime.date.today().isoformat(),
        "reps": reps,
        "machine": machine(),
        "steps": {what: {"seconds": seconds[what], "gap": gaps[what]} for what in seconds},
    }


def table(result: dict) -> str:
    steps = result["steps"]
    base = next(v for k, v in steps.items() if k.startswith("failover"))
    base_gap = statistics.median(base["gap"])
    rows = [
        "| step | median time | VIP longest gap (median, max) | gap / failover gap |",
        "|---|---|---|---|",
    ]
    for what, v in steps.items():
        gap, worst = statistics.median(v["gap"]), max(v["gap"])
        rows.append(
            f"| {what} | {statistics.median(v['seconds']):.1f} s | {gap:.2f} s, {worst:.2f} s "
            f"| {gap / base_gap:.2f}× |"
        )
    return "\n".join(rows)


def section(result: dict) -> str:
    m = result["machine"]
    return (
        f"{BEGIN}\n### Latest membership run: {result['date']}, {result['reps']} repetitions\n\n"
        f"Machine: {m['cores']} cores, {m['corosync']}, {m['pacemaker']}; load average at the "
        f"end (1/5/15 min): {m['load']}. Namespace hosts, a client pinging the VIP every "
        f"50 ms; quorum was polled every 0.5 s and never lost (a loss fails the run).\n\n"
        f"{table(result)}\n{END}\n"
    )


def main(argv: list[str] | None = None) -> int:
    description = __doc__.split("\n")[0]
    return section_main(
        argv, description, "bench: membership", run, table, RESULTS, section, (BEGIN, END)
    )


if __name__ == "__main__":
    sys.exit(main())
