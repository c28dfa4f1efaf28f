"""launchlog: the launcher's own lines, one logger for the command line and PID 1, with
real levels in PCMK_LOG_FORMAT=json; the relay's dropped-messages line in the same format."""

from __future__ import annotations

import json
import os

import pytest

from pcmk_launch import launchlog, logrelay
from pcmk_launch.launchlog import LOG, Logger
from pcmk_launch.options import Options
from pcmk_launch.supervisor import Supervisor


@pytest.fixture
def lines() -> list[str]:
    return []


def test_text_lines_look_the_same_at_every_level(lines):
    logger = Logger(lines.append)
    logger.notice("started corosync")
    logger.warning("WARNING: PCMK_CRYPTO=off")
    logger.error("error: corosync died")
    assert lines == [
        "[pcmk-launch] started corosync",
        "[pcmk-launch] WARNING: PCMK_CRYPTO=off",
        "[pcmk-launch] error: corosync died",
    ]


def test_json_lines_carry_their_level(lines):
    logger = Logger(lines.append)
    logger.use_json("node1")
    logger.log("started corosync")
    logger.warning("corosync will be restarted in 1s")
    logger.error("error: corosync died")
    records = [json.loads(line) for line in lines]
    assert [r["level"] for r in records] == ["notice", "warning", "error"]
    assert {r["daemon"] for r in records} == {"pcmk-launch"}
    assert {r["host"] for r in records} == {"node1"}
    assert {r["pid"] for r in records} == {os.getpid()}
    assert records[1]["message"] == "corosync will be restarted in 1s"


def test_an_unknown_level_is_a_bug_not_a_line(lines):
    with pytest.raises(ValueError, match="unknown log level 'warn'"):
        Logger(lines.append).log("x", "warn")
    assert not lines


def test_levels_are_syslogs():
    assert {launchlog.ERROR, launchlog.WARNING, launchlog.NOTICE} <= set(logrelay.LEVELS)


def read_all(fd: int) -> str:
    out = b""
    while chunk := os.read(fd, 65536):
        out += chunk
    return out.decode()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_dropped_messages_are_counted_in_the_launchers_format(monkeypatch, fmt):
    r, w = os.pipe()
    logger = Logger()
    if fmt == "json":
        logger.use_json("node1")
    logger.to_writer(logrelay.Writer(w))
    monkeypatch.setattr(logrelay, "MAX_QUEUED", 0)  # stdout "stuck": every line is dropped
    for _ in range(3):
        logger.log("lost")
    logger.close()
    os.close(w)
    (line,) = read_all(r).splitlines()
    os.close(r)
    if fmt == "text":
        assert line == "[pcmk-launch] 3 log messages dropped: stdout was stuck"
    else:
        obj = json.loads(line)
        assert obj["level"] == "warning" and obj["daemon"] == "pcmk-launch"
        assert obj["message"] == "3 log messages dropped: stdout was stuck"
    assert logger.writer is None and logger.write is launchlog.to_stdout


def test_after_close_lines_go_to_stdout(capfd):
    logger = Logger()
    r, w = os.pipe()
    logger.to_writer(logrelay.Writer(w))
    logger.close()
    os.close(w)
    os.close(r)
    logger.log("exiting with code 0")
    assert capfd.readouterr().out == "[pcmk-launch] exiting with code 0\n"


@pytest.fixture
def json_log(monkeypatch, lines):
    """The process's logger (the supervisor's), in JSON mode, into lines."""
    monkeypatch.setattr(LOG, "write", lines.append)
    monkeypatch.setattr(LOG, "json_host", "node1")
    return lines


def test_supervisor_warnings_carry_level_warning(json_log, monkeypatch):
    sup = Supervisor(Options())
    monkeypatch.setattr(sup, "kill", lambda pid, signum: None)
    pacemakerd = sup.service("pacemakerd")
    sup.pids["pacemakerd"] = 4242
    sup.kill_service(pacemakerd)
    sup.stopping = True  # so that fail() only logs and records its code
    sup.fail(3, "corosync died")
    records = [json.loads(line) for line in json_log]
    levels = {r["message"].split(":")[0]: r["level"] for r in records}
    assert levels["WARNING"] == "warning" and levels["error"] == "error"
