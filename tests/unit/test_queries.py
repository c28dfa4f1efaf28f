"""queries.py: health and status when pacemaker's tools are missing, slow or say the cluster
does not run (fake crm_mon and cibadmin first in PATH): a reason and exit 1, never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pcmk_launch import cli, queries
from pcmk_launch.errors import NoClusterState
from tests.unit.test_health import NOT_CONNECTED, RUNNING

ONE_NODE_UP = RUNNING.format(q="true", n3="true")


@pytest.fixture
def tools(tmp_path: Path, monkeypatch):
    """Put fake tools in an otherwise empty PATH: tools(name=script_body)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))

    def make(**scripts: str) -> None:
        for name, body in scripts.items():
            path = bin_dir / name
            path.write_text(f"#!/bin/sh\n{body}\n")
            path.chmod(0o755)

    return make


def xml_out(tmp_path: Path, text: str) -> str:
    """A shell line that prints text (kept in a file: no quoting to get wrong)."""
    f = tmp_path / f"out{len(os.listdir(tmp_path))}.xml"
    f.write_text(text)
    return f"/bin/cat {f}"


def test_no_crm_mon_is_a_reason(tools):
    tools()
    with pytest.raises(NoClusterState, match="crm_mon is not installed"):
        queries.cluster_state()


def test_a_crm_mon_that_does_not_answer_is_a_reason(tools, monkeypatch):
    monkeypatch.setattr(queries, "TOOL_TIMEOUT", 0.2)
    tools(crm_mon="exec /bin/sleep 5")
    with pytest.raises(NoClusterState, match=r"crm_mon did not answer within 0.2s"):
        queries.cluster_state()


def test_a_cluster_that_does_not_run_is_crm_mons_reason(tools, tmp_path):
    tools(crm_mon=xml_out(tmp_path, NOT_CONNECTED) + "; exit 102")
    with pytest.raises(NoClusterState, match=r"the cluster is not running here \(crm_mon: Not"):
        queries.cluster_state()


@pytest.mark.parametrize(
    ("cibadmin", "why"),
    [(None, "cibadmin is not installed"), ("exec /bin/sleep 5", "cibadmin did not answer")],
)
def test_without_cibadmin_status_shows_the_cluster_without_addresses(
    tools, tmp_path, monkeypatch, capsys, cibadmin, why
):
    """crm_mon answered, so the cluster runs: status says so (exit 0), and on stderr why the
    resources' addresses are missing; its JSON stays what it always is."""
    monkeypatch.setattr(queries, "TOOL_TIMEOUT", 0.5)
    tools(crm_mon=xml_out(tmp_path, ONE_NODE_UP), **({"cibadmin": cibadmin} if cibadmin else {}))
    state = queries.cluster_state(with_cib=True)
    assert state.dc == "node2" and state.resources[0].ip is None
    assert f"pcmk-launch: {why}" in capsys.readouterr().err
    assert cli.main(["status", "--json"], env={}) == 0
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert data["running"] is True and data["dc"] == "node2"
    assert why in out.err and "resource addresses are not shown" in out.err


def test_status_and_health_without_crm_mon_exit_1_with_the_reason(tools, capsys):
    tools()
    assert cli.main(["status"], env={}) == 1
    assert capsys.readouterr().out.startswith("not running: crm_mon is not installed\n")
    assert cli.main(["status", "--json"], env={}) == 1
    data = json.loads(capsys.readouterr().out)
    assert (data["running"], data["reason"]) == (False, "crm_mon is not installed")
    assert cli.main(["health"], env={}) == 1  # pacemakerd is not running here either
    assert capsys.readouterr().out.startswith("unhealthy: ")
