"""`make test`'s driver: run each level (`make LEVEL`), then one summary of them all.

    python -m tests.levels lint unit+supervisor+agents cluster image-test image-test-bookworm \
        bench-quick soak-quick

`A+B` runs levels A and B at the same time (for make test's time on 2 cores; only levels that
measure nothing and leave each other alone): their output is kept in JUNIT_DIR/LEVEL.log and
printed, one level after the other, once both have ended.

Every level runs even when an earlier one failed, so one run shows everything that is broken.
Pytest levels and soak-quick (one case per fault step) are counted from their JUnit XML
(JUNIT_DIR, which the Makefile passes to them); the others (lint, bench-quick) count as one
check each. Exit 0 only when no level
failed. The last line is the total, as `total: N passed, N failed, N skipped`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# JUNIT_DIR: a run inside another root filesystem (tests/hostroot) keeps its results apart.
JUNIT_DIR = Path(os.environ.get("JUNIT_DIR") or ROOT / "build" / "test-results")


def counts(junit: Path) -> dict[str, int] | None:
    """passed/failed/skipped/xfailed of one pytest run, from its JUnit XML (None: no file)."""
    if not junit.exists():
        return None
    root = ET.parse(junit).getroot()
    c = {"passed": 0, "failed": 0, "skipped": 0, "xfailed": 0}
    for case in root.iter("testcase"):
        kinds = {child.tag for child in case}
        skipped = case.find("skipped")
        if kinds & {"failure", "error"}:
            c["failed"] += 1
        elif skipped is not None and skipped.get("type") == "pytest.xfail":
            c["xfailed"] += 1
        elif skipped is not None:
            c["skipped"] += 1
        else:
            c["passed"] += 1
    return c


def run_level(level: str) -> dict:
    print(f"\n===== make {level} =====", flush=True)
    return run_group([level])[0]


def run_group(levels: list[str]) -> list[dict]:
    """`make LEVEL` for each of `levels` at once; one level runs with the output as it comes."""
    procs, logs = [], []
    for level in levels:
        (JUNIT_DIR / f"{level}.xml").unlink(missing_ok=True)
        log = open(JUNIT_DIR / f"{level}.log", "w") if len(levels) > 1 else None  # noqa: SIM115
        logs.append(log)
        cmd = ["make", "--no-print-directory", level, f"JUNIT_DIR={JUNIT_DIR}"]
        procs.append((subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log), time.monotonic()))
    ended: dict[str, float] = {}  # each level's own time, whichever ends first
    while True:
        for level, (proc, _) in zip(levels, procs, strict=True):
            if level not in ended and proc.poll() is not None:
                ended[level] = time.monotonic()
        if len(ended) == len(levels):
            break
        time.sleep(0.2)
    results = []
    for level, (proc, t0), log in zip(levels, procs, logs, strict=True):
        results.append(level_result(level, proc.returncode, ended[level] - t0))
        if log is not None:
            log.close()
            print(f"\n===== make {level} (beside {' '.join(sorted(set(levels) - {level}))}) =====")
            print((JUNIT_DIR / f"{level}.log").read_text(errors="replace"), end="", flush=True)
    return results


def level_result(level: str, rc: int, seconds: float) -> dict:
    junit = JUNIT_DIR / f"{level}.xml"
    c = counts(junit)
    if c is None:  # not a pytest level: the level itself is one check
        c = {"passed": int(rc == 0), "failed": int(rc != 0), "skipped": 0, "xfailed": 0}
    elif rc != 0 and not c["failed"]:  # failed outside any test (collection, make, cleanup)
        c["failed"] = 1
    return {"level": level, "rc": rc, "seconds": seconds, **c}


def summary(results: list[dict], wall: float) -> str:
    lines = [f"{'level':<12} {'result':<7} {'passed':>6} {'failed':>6} {'skipped':>7}"
             f" {'xfailed':>7} {'time':>8}"]  # fmt: skip
    for r in results:
        result = "ok" if r["rc"] == 0 else "FAILED"
        lines.append(
            f"{r['level']:<12} {result:<7} {r['passed']:>6} {r['failed']:>6} {r['skipped']:>7}"
            f" {r['xfailed']:>7} {minutes(r['seconds']):>8}"
        )
    total = {k: sum(r[k] for r in results) for k in ("passed", "failed", "skipped", "xfailed")}
    lines.append(
        f"{'all':<12} {'':<7} {total['passed']:>6} {total['failed']:>6} {total['skipped']:>7}"
        f" {total['xfailed']:>7} {minutes(wall):>8}"
    )
    lines.append(
        f"total: {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped"
    )
    return "\n".join(lines)


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    JUNIT_DIR.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    results = []
    for group in argv:
        levels = group.split("+")
        if len(levels) == 1:
            results.append(run_level(levels[0]))
        else:
            print(f"\n===== make {' and '.join(levels)}, at the same time =====", flush=True)
            results += run_group(levels)
    print(f"\n===== make test: summary ({os.uname().nodename}) =====")
    print(summary(results, time.monotonic() - t0))
    return 0 if all(r["rc"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
