"""logrelay: syslog datagrams to one line each, text or JSON (pure parts)."""

from __future__ import annotations

import json

import pytest

from pcmk_launch import logrelay


@pytest.mark.parametrize(
    ("datagram", "daemon", "pid", "level", "message"),
    [
        (b"<29>Dec  1 10:00:00 pacemaker-controld[82]:  notice: State transition",
         "pacemaker-controld", 82, "notice", "notice: State transition"),
        (b"<27>Dec 11 10:00:00 corosync[7]:   [KNET  ] link down", "corosync", 7, "error",
         "[KNET  ] link down"),
        (b"<30>IPaddr2(vip)[123]: INFO: Adding inet address", "IPaddr2(vip)", 123, "info",
         "INFO: Adding inet address"),
        (b"<31>no tag here at all", "syslog", None, "debug", "no tag here at all"),
        (b"garbage \xff without priority", "syslog", None, "notice",
         "garbage \ufffd without priority"),
    ],
)  # fmt: skip
def test_parse(datagram, daemon, pid, level, message):
    assert logrelay.parse(datagram) == {
        "daemon": daemon, "pid": pid, "level": level, "message": message
    }  # fmt: skip


def test_text_is_one_line_per_message():
    record = logrelay.parse(b"<29>tag[1]: two\nlines")
    assert logrelay.format_text(record) == "tag[1]: two\\nlines"


def test_json_has_the_fields_log_shippers_need():
    record = logrelay.parse(b"<28>pacemaker-fenced[9]: warning: x")
    obj = json.loads(logrelay.format_json(record, "node1", 0.5))
    assert obj == {"time": "1970-01-01T00:00:00.500Z", "host": "node1",
                   "daemon": "pacemaker-fenced", "pid": 9, "level": "warning",
                   "message": "warning: x"}  # fmt: skip


def test_launcher_lines():
    assert logrelay.launcher_line("hello") == "[pcmk-launch] hello"
    obj = json.loads(logrelay.launcher_line("bad", "error", "h"))
    assert obj["daemon"] == "pcmk-launch" and obj["level"] == "error"
