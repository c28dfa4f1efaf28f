"""`make test`'s driver: run each level (`make LEVEL`), then one summary of them all.

    python -m tests.levels lint unit supervisor cluster agents image-test image-test-bookworm \
        bench-quick soak-quick

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
    junit = JUNIT_DIR / f"{level}.xml"
    junit.unlink(missing_ok=True)
    print(f"\n===== make {level} =====", flush=True)
    t0 = time.monotonic()
    rc = subprocess.run(
        ["make", "--no-print-directory", level, f"JUNIT_DIR={JUNIT_DIR}"], cwd=ROOT
    ).returncode
    seconds = time.monotonic() - t0
    c = counts(junit)
    if c is None:  # not a pytest level: the level itself is one check
        c = {"passed": int(rc == 0), "failed": int(rc != 0), "skipped": 0, "xfailed": 0}
    elif rc != 0 and not c["failed"]:  # failed outside any test (collection, make, cleanup)
        c["failed"] = 1
    return {"level": level, "rc": rc, "seconds": seconds, **c}


def summary(results: list[dict]) -> str:
    lines = [f"{'level':<12} {'result':<7} {'passed':>6} {'failed':>6} {'skipped':>7}"
             f" {'xfailed':>7} {'time':>8}"]  # fmt: skip
    for r in results:
        result = "ok" if r["rc"] == 0 else "FAILED"
        lines.append(
            f"{r['level']:<12} {result:<7} {r['passed']:>6} {r['failed']:>6} {r['skipped']:>7}"
            f" {r['xfailed']:>7} {minutes(r['seconds']):>8}"
        )
    total = {k: sum(r[k] for r in results) for k in ("passed", "failed", "skipped", "xfailed")}
    wall = sum(r["seconds"] for r in results)
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
    results = [run_level(level) for level in argv]
    print(f"\n===== make test: summary ({os.uname().nodename}) =====")
    print(summary(results))
    return 0 if all(r["rc"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
