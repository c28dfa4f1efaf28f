"""Pure invariant checks and figures for the soak test (plain data in, plain data out)."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import Any


def convergence_problems(
    state: Mapping[str, Any], nodes: Iterable[str], expect: Mapping[str, int]
) -> list[str]:
    """What keeps a parsed crm_mon state (tests/harness/cluster.parse_crm_mon) from being
    converged: every node online, quorum, one DC, each resource active on exactly
    ``expect[rid]`` nodes, none failed. Empty list: converged."""
    problems = []
    nodes = sorted(nodes)
    if not state.get("have_quorum"):
        problems.append("no quorum")
    if not state.get("dc"):
        problems.append("no DC")
    offline = [n for n in nodes if not state["nodes"].get(n, {}).get("online")]
    if offline:
        problems.append(f"offline: {','.join(offline)}")
    for n in nodes:
        info = state["nodes"].get(n, {})
        if info.get("standby"):
            problems.append(f"{n} in standby")
        if info.get("unclean"):
            problems.append(f"{n} unclean")
    res = state.get("resources", {})
    for rid, want in sorted(expect.items()):
        entry = res.get(rid)
        if entry is None:
            problems.append(f"{rid} missing")
            continue
        if entry.get("failed"):
            problems.append(f"{rid} failed")
        have = len(entry.get("nodes", []))
        if have != want:
            problems.append(f"{rid} on {have} nodes {entry.get('nodes')}, want {want}")
    return problems


def missing_subdaemons(comms: Iterable[str], subdaemons: Iterable[str]) -> list[str]:
    """Which of pacemakerd's subdaemons are absent from a node's process names (/proc comm,
    cut to 15 characters). A node without them can still look converged in crm_mon."""
    present = {c.strip() for c in comms}
    return [d for d in subdaemons if d[:15] not in present]


# Faults that lose a node uncleanly while its addresses stay (as on a --net=host NIC): with
# fencing off they duplicate the VIP until the node rejoins and pacemaker's probe finds it
# active twice. SIGKILLed corosync is one of them: the launcher exits as designed, and
# without corosync pacemaker cannot stop the VIP.
UNCLEAN_LOSSES = frozenset({"power_cut_keep", "kill_corosync"})


def dup_vip_tolerated(
    kind: str | None, fencing: str, holders: set[str], being_fenced: set[str]
) -> bool:
    """Whether two VIP holders in one partition are measured rather than a violation.
    Fencing off: during an unclean loss. Fencing on: only while a holder is being powered
    off by its BMC (the fence time); pacemaker must not start the VIP elsewhere before."""
    if fencing == "off":
        return kind in UNCLEAN_LOSSES
    return bool(holders & being_fenced)


def vip_holders_problem(holders: Mapping[str, bool], partition: Iterable[set[str]]) -> str | None:
    """``holders``: node -> has the VIP on an up interface. Two holders in one partition
    (a set of nodes that can reach each other) is the split-brain the VIP must never show."""
    for side in partition:
        have = sorted(n for n in side if holders.get(n))
        if len(have) > 1:
            return f"VIP on {','.join(have)} in the same partition"
    return None


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); nan for no values."""
    if not values:
        return math.nan
    s = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(s)))
    return s[rank - 1]


def summarize(records: list[dict]) -> dict[str, dict]:
    """records: {"kind", "converge_s" (None: did not converge)} -> per kind count, p50/p95/max."""
    out: dict[str, dict] = {}
    for kind in sorted({r["kind"] for r in records}):
        times = [
            r["converge_s"] for r in records if r["kind"] == kind and r["converge_s"] is not None
        ]
        out[kind] = {
            "count": sum(1 for r in records if r["kind"] == kind),
            "p50": percentile(times, 50),
            "p95": percentile(times, 95),
            "max": max(times) if times else math.nan,
        }
    return out


HEADER = """# Soak test results

Written by `make soak` (tests/soak/run.py), one section per fencing mode: a run replaces
the section of its own mode and keeps the other. Replay a run with its seed and mode,
`make soak SOAK_SEED=<seed> SOAK_FENCING=<mode>`; a seed gives the same faults in both
modes. Convergence is timed from the start of a fault until every node reports all 5
nodes online, every resource started the expected number of times and one promoted
instance.
"""


def render_markdown(
    meta: Mapping[str, Any], summary: Mapping[str, dict], violations: list[dict]
) -> str:
    """One run's section: its figures, violations, VIP duplicates and power-offs."""
    lines = [
        f"## Fencing {meta['fencing']}",
        "",
        f"seed {meta['seed']}, {meta['seconds']:.0f} s, {meta['nodes']} nodes, fencing"
        f" {meta['fencing']}, convergence bound {meta['bound']} s, {meta['steps']} faults",
    ]
    if meta.get("settle"):
        lines[-1] += f", settle {meta['settle']:.1f} s (token + consensus + margin)"
    if meta.get("versions"):
        lines += ["", "versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())]
    lines += [
        "",
        "| fault | count | p50 s | p95 s | max s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for kind, s in summary.items():
        lines.append(
            f"| {kind} | {s['count']} | {s['p50']:.1f} | {s['p95']:.1f} | {s['max']:.1f} |"
        )
    lines += ["", f"### Violations: {len(violations)}", ""]
    for v in violations:
        lines.append(f"- seed {v['seed']} step {v['step']} ({v['kind']}): {v['what']}")
    if meta.get("dup_vip"):
        if meta["fencing"] == "off":
            lines += ["", "### Duplicate VIP after unclean losses (fencing off)", ""]
        else:
            lines += ["", "### Duplicate VIP while a holder was being fenced", ""]
        for d in meta["dup_vip"]:
            lines.append(f"- step {d['step']}: {d['seconds']:.1f} s")
    offs = [e for e in meta.get("fence_events", []) if e["what"] == "off"]
    if meta["fencing"] != "off":
        lines += ["", f"### Fencing ({meta['fencing']}): {len(offs)} power-offs", ""]
        lines.append("Seconds from the start of the fault to the BMC's power-off.")
        lines.append("")
        for e in offs:
            vip = ", it still held the VIP" if e.get("had_vip") else ""
            lines.append(
                f"- step {e['step']} ({e['kind']}): {e['node']} after {e['after_s']} s{vip}"
            )
    return "\n".join(lines) + "\n"


def _sections(text: str) -> dict[str, str]:
    """The marked sections of a report written by :func:`merge_report`, by fencing mode."""
    return {
        m.group(1): m.group(0)
        for m in re.finditer(r"<!-- soak:(\w+) -->\n.*?<!-- /soak:\1 -->\n", text, re.S)
    }


def merge_report(old: str | None, fencing: str, section: str, order: Iterable[str]) -> str:
    """The report with ``section`` as the one for ``fencing``; the other modes' sections of
    ``old`` (a previous report, None: none) kept, in ``order``."""
    sections = _sections(old or "")
    sections[fencing] = f"<!-- soak:{fencing} -->\n{section}<!-- /soak:{fencing} -->\n"
    modes = [m for m in order if m in sections] + sorted(set(sections) - set(order))
    return HEADER + "".join("\n" + sections[m] for m in modes)


def junit_xml(
    meta: Mapping[str, Any],
    records: list[dict],
    violations: list[dict],
    skipped: str | None = None,
) -> str:
    """The run as JUnit XML, for `make test`'s per-level counts (tests/levels.py): one case
    for the setup and one per fault step, failed when a violation names its step; or one
    skipped case (``skipped``: why the run could not happen)."""
    suite = ET.Element("testsuite", name="soak")
    name = f"seed{meta.get('seed')}"

    def case(test: str) -> ET.Element:
        return ET.SubElement(suite, "testcase", classname=f"soak.{name}", name=test)

    if skipped is not None:
        ET.SubElement(case("run"), "skipped", message=skipped)
    else:
        kinds = {-1: "setup"} | {r["step"]: r["kind"] for r in records}
        kinds |= {v["step"]: v["kind"] for v in violations if v["step"] not in kinds}
        for step in sorted(kinds):
            c = case("setup" if step == -1 else f"step {step} {kinds[step]}")
            found = [v["what"] for v in violations if v["step"] == step]
            if found:
                ET.SubElement(c, "failure", message=found[0]).text = "\n".join(found)
    failures = sum(1 for c in suite if c.find("failure") is not None)
    skips = sum(1 for c in suite if c.find("skipped") is not None)
    suite.attrib.update(tests=str(len(suite)), failures=str(failures), skipped=str(skips))
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode") + "\n"
