"""`pcmk-launch nodes` through cli.main, with files in a temp dir and no corosync running:
what it writes, what it refuses (exit 2, nothing written), and which list a start uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pcmk_launch import cli

PASS = "correct horse battery staple"
LIST = "n1=192.0.2.11 n2=192.0.2.12"
ENV = {"PCMK_NODE_LIST": LIST, "PCMK_AUTHKEY_PASSPHRASE": PASS, "PCMK_CLUSTER_PROPERTIES": ""}
HERE = {"eth0": ["192.0.2.11"], "lo": ["127.0.0.1"]}


class Files:
    def __init__(self, tmp: Path):
        self.conf = tmp / "etc" / "corosync.conf"
        self.conf.parent.mkdir()
        self.stored = tmp / "lib" / "pcmk-node-list.json"
        self.tmp = tmp

    def main(self, *words: str, env=ENV) -> int:
        argv = [
            *words,
            f"--corosync-conf={self.conf}",
            f"--cib-file={self.tmp / 'cib.xml'}",
            f"--run-dir={self.tmp / 'run'}",
            f"--node-list-file={self.stored}",
        ]
        return cli.main(argv, env=env, interfaces=HERE)

    def nodeids(self) -> list[str]:
        return [
            line.split(":")[1].strip()
            for line in self.conf.read_text().splitlines()
            if line.strip().startswith("nodeid:")
        ]


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path)


def test_add_keeps_the_list_renders_it_and_prints_what_a_new_node_needs(files, capsys):
    assert files.main("nodes", "add", "n3=192.0.2.13") == 0
    out = capsys.readouterr().out
    new = "n1=192.0.2.11@1 n2=192.0.2.12@2 n3=192.0.2.13@3"
    assert f"this node now runs: {new}" in out
    assert f'PCMK_NODE_LIST="{new}"' in out
    assert "corosync does not run here" in out
    stored = json.loads(files.stored.read_text())
    assert stored["base"] == LIST and stored["nodes"] == new
    assert stored["change"] == "add n3=192.0.2.13"
    assert files.nodeids() == ["1", "2", "3"]
    assert "two_node" not in files.conf.read_text()  # 3 nodes now: off


def test_a_start_with_the_same_list_uses_the_changed_one_and_another_list_wins(files, capsys):
    assert files.main("nodes", "add", "n3=192.0.2.13") == 0
    assert files.main("render") == 0
    assert files.nodeids() == ["1", "2", "3"]
    other = {**ENV, "PCMK_NODE_LIST": "n1=192.0.2.11 n9=192.0.2.19"}
    assert files.main("render", env=other) == 0
    assert files.nodeids() == ["1", "2"] and "192.0.2.19" in files.conf.read_text()
    assert "two_node: 1" in files.conf.read_text()
    capsys.readouterr()
    assert files.main("nodes", "show") == 0
    out = capsys.readouterr().out
    assert "(last change: add n3=192.0.2.13)" in out and "<- this node" in out


@pytest.mark.parametrize(
    "words, says",
    [
        (("nodes", "add", "n3=999.0.2.13"), "is not an address or hostname"),
        (("nodes", "add", "n2=192.0.2.22"), "already in the list"),
        (("nodes", "add"), "needs at least one entry"),
        (("nodes", "remove", "n1"), "is this node"),
        (("nodes", "remove", "n7"), "no node in the list is 'n7'"),
        (("nodes", "replace", "n2"), "needs the node and its new entry"),
        (("nodes", "frob"), "unknown action 'frob'"),
        (("nodes", "add", "n3=192.0.2.13", "n4=192.0.2.13"), "already in the list"),
    ],
)
def test_bad_changes_exit_2_with_a_fix_and_write_nothing(files, capsys, words, says):
    assert files.main(*words) == 2
    err = capsys.readouterr().err
    assert says in err and "Fix:" in err, err
    assert not files.stored.exists() and not files.conf.exists()


def test_a_standalone_node_has_no_list_to_change(files, capsys):
    assert files.main("nodes", "add", "n3=192.0.2.13", env={"PCMK_CLUSTER_PROPERTIES": ""}) == 2
    assert "runs standalone" in capsys.readouterr().err
    assert not files.stored.exists()


def test_other_commands_take_no_extra_words(files, capsys):
    assert files.main("render", "extra") == 2
    assert "unexpected arguments: extra" in capsys.readouterr().err


def test_strangers_tell_a_leftover_from_a_node_other_nodes_added():
    from pcmk_launch.membership import strangers

    known = {1: "n1", 2: "n2", 3: "n3", 4: "n4"}
    assert strangers("n1=192.0.2.11@1 n2=192.0.2.12@2", known, (3,)) == (["n3"], ["n4"])
    assert strangers("n1=192.0.2.11 n2=192.0.2.12 n3=192.0.2.13 n4=192.0.2.14", known, ()) == (
        [],
        [],
    )


CIB_RESOURCES = """<resources>
  <primitive id="fence-n1" class="stonith" type="fence_docker_api">
    <instance_attributes id="a1">
      <nvpair id="a1-h" name="pcmk_host_list" value="n1"/>
    </instance_attributes>
  </primitive>
  <primitive id="fence-n2" class="stonith" type="fence_ipmilan">
    <instance_attributes id="a2">
      <nvpair id="a2-h" name="pcmk_host_map" value="n2:3;n9:4"/>
    </instance_attributes>
  </primitive>
  <primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2"/>
</resources>"""


def test_fencing_notes_name_the_device_to_delete_and_the_node_without_one():
    from pcmk_launch.nodes import fence_targets, fencing_notes

    targets = fence_targets(CIB_RESOURCES)
    assert targets == {"fence-n1": ["n1"], "fence-n2": ["n2", "n9"]}
    notes = fencing_notes(targets, added=["n4"], removed=["n2"])
    assert (
        "device fence-n2 still targets n2" in notes[0] and "pcs stonith delete fence-n2" in notes[0]
    )
    assert "no device targets n4 yet" in notes[1]
    assert fencing_notes(targets, added=["n9"], removed=[]) == []
    assert fencing_notes({}, added=["n4"], removed=["n2"]) == []
    assert fence_targets("not xml") == {}
