"""The /dev/log relay: messages reach stdout in order, none lost, senders never stuck."""

from __future__ import annotations

import json
import signal

import pytest

from tests.helpers.launcher import send_burst, wait_for_socket

BURST = 10_000


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_burst_is_relayed_in_order_without_blocking_senders(launcher, fmt):
    launcher.start_piped(env={"PCMK_LOG_FORMAT": fmt})
    wait_for_socket(launcher)
    send_burst(launcher.log_socket, BURST)  # stdout is not read during the whole burst
    launcher.signal(signal.SIGTERM)
    out, _ = launcher.proc.communicate(timeout=60)
    assert launcher.proc.returncode == 0
    lines = out.decode().splitlines()
    if fmt == "json":
        records = [json.loads(line) for line in lines]
        got = [r["message"] for r in records if r["daemon"] == "burst"]
        assert all(set(r) >= {"time", "host", "daemon", "level", "message"} for r in records)
        assert {r["level"] for r in records if r["daemon"] == "burst"} == {"notice"}
    else:
        got = [line.split(": ", 1)[1] for line in lines if line.startswith("burst[42]: ")]
    assert got == [f"notice: message {i}" for i in range(BURST)]


def test_launcher_lines_are_prefixed(launcher):
    launcher.start()
    launcher.wait_event("pacemakerd start")
    launcher.signal(signal.SIGTERM)
    assert launcher.wait() == 0
    lines = launcher.output().splitlines()
    assert lines and all(line.startswith("[pcmk-launch] ") for line in lines), lines
