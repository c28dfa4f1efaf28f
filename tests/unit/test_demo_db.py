"""demo/db.py's commands refuse what they cannot do with one line naming the fix (exit 2),
before touching any host (the demo itself runs in `make demo-db`)."""

from __future__ import annotations

import json

import pytest

from demo import db

STATE = {
    "keeper": 1,
    "vip": "192.0.2.100",
    "bundle": "pgsql",
    "client": {"netns": "x", "dir": "/nonexistent"},
    "switch": "x",
    "nodes": {f"node{i}": {"host": f"host{i}", "sock": "unix:///nonexistent"} for i in (1, 2, 3)},
}


@pytest.fixture
def running(tmp_path):
    (tmp_path / "state.json").write_text(json.dumps(STATE))
    return tmp_path


@pytest.mark.parametrize("argv", [["status"], ["cut", "node1"], ["sql", "SELECT 1"]])
def test_without_a_demo_the_commands_say_how_to_start_one(tmp_path, capsys, argv):
    assert db.main(argv, tmp_path) == 2
    err = capsys.readouterr().err
    assert err.strip() == "demo-db: no demo is running. Fix: make demo-db"


@pytest.mark.parametrize("cmd", ["cut", "poweron", "stop", "start"])
def test_an_unknown_node_is_named_with_the_ones_there_are(running, capsys, cmd):
    assert db.main([cmd, "node9"], running) == 2
    err = capsys.readouterr().err
    assert "NODE 'node9' is not one of node1, node2, node3" in err and "Fix:" in err


def test_write_takes_whole_seconds(running, capsys):
    assert db.main(["write", "1.5"], running) == 2
    assert "SECONDS '1.5' is not a whole number. Fix: e.g. write 60" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["cut"], ["up", "extra"]])
def test_anything_else_prints_the_usage(tmp_path, capsys, argv):
    assert db.main(argv, tmp_path) == 2
    assert "python -m demo.db up | down" in capsys.readouterr().err


def test_down_without_a_demo_is_a_no_op(tmp_path, capsys):
    assert db.main(["down"], tmp_path) == 0
    assert "no demo is running" in capsys.readouterr().out
