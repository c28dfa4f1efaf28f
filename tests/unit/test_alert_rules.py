"""The example alert rules (alerts/) are valid Prometheus rules and fire as their unit tests
say, checked by the real promtool (Debian's prometheus package). The promtool tests skip without
it on a developer's machine and fail in CI (CI=true)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.helpers.prereq import require_commands

ALERTS = Path(__file__).resolve().parents[2] / "alerts"
RULES = ALERTS / "pacemaker.rules.yml"
RULE_TESTS = ALERTS / "pacemaker.rules.test.yml"
PROMTOOL_TIMEOUT = 60


def promtool(*args: str) -> subprocess.CompletedProcess:
    require_commands("promtool")
    return subprocess.run(
        ["promtool", *args], capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT
    )


def test_rules_are_valid() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_fire_as_their_unit_tests_say() -> None:
    done = promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_unit_test() -> None:
    """promtool passes a rule without tests; here each alert is tested at least once."""
    rules = re.findall(r"^\s*- alert: (\w+)$", RULES.read_text(), re.MULTILINE)
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert rules, RULES
    assert set(rules) <= tested, f"untested alerts: {sorted(set(rules) - tested)}"
