"""Node ids that never shift and the list changes of `pcmk-launch nodes` (pure core)."""

from __future__ import annotations

import pytest

from pcmk_launch import membership, nodelist
from pcmk_launch.errors import Problems

THREE = "m1=192.0.2.1 m2=192.0.2.2 m3=192.0.2.3"


def entries(text: str) -> list[nodelist.Entry]:
    problems = Problems()
    found = nodelist.parse(text, problems)
    assert not problems.items, problems.items
    return found


def ids(text: str) -> dict[str, int]:
    return {e.name or e.hosts[0]: e.nodeid for e in entries(text)}


# ---- @ID in the node list


def test_ids_are_positions_without_at_and_as_written_with_it():
    assert ids(THREE) == {"m1": 1, "m2": 2, "m3": 3}
    assert ids("m3=192.0.2.3@3 m1=192.0.2.1@1 m4=192.0.2.4@7") == {"m3": 3, "m1": 1, "m4": 7}
    assert ids("192.0.2.1@4 192.0.2.2@2") == {"192.0.2.1": 4, "192.0.2.2": 2}
    assert ids("m1=192.0.2.1,198.18.0.1@5") == {"m1": 5}


@pytest.mark.parametrize(
    "text, words",
    [
        ("m1=192.0.2.1@1 m2=192.0.2.2", ["entry 2 'm2=192.0.2.2' has no @ID", "entry 1"]),
        ("m1=192.0.2.1@2 m2=192.0.2.2@2", ["node id 2 is given twice", "entries 1"]),
        ("m1=192.0.2.1@0", ["'0' after '@' is not a node id", "from 1 to 2147483647"]),
        ("m1=192.0.2.1@x", ["'x' after '@' is not a node id"]),
        ("m1=192.0.2.1@", ["'' after '@' is not a node id"]),
        ("m1=192.0.2.1@2147483648", ["is not a node id"]),
        ("m1=192.0.2.1@١", ["is not a node id"]),  # a non-ASCII digit
    ],
)
def test_bad_ids_are_refused_naming_the_entry_and_the_fix(text, words):
    problems = Problems()
    nodelist.parse(text, problems)
    assert len(problems.items) == 1
    for word in words:
        assert word in problems.items[0]
    assert "Fix:" in problems.items[0]


def test_messages_name_the_entry_by_its_place_not_its_id():
    problems = Problems()
    nodes = nodelist.resolve(entries("m1=192.0.2.1@10 m2=192.0.2.1@20"), lambda _: [], problems)
    nodelist.check(nodes, problems)
    assert "(entries 1 and 2)" in problems.items[0]


# ---- the stored list


def test_the_stored_list_is_in_force_only_for_the_list_it_was_made_from():
    stored = membership.Stored(base=THREE, nodes=THREE + " m4=192.0.2.4@4", change="add")
    assert membership.effective(THREE, stored) == (stored.nodes, True)
    assert membership.effective("  " + THREE.replace(" ", "   "), stored)[1]
    other = "m1=192.0.2.1 m2=192.0.2.2"
    assert membership.effective(other, stored) == (other, False)
    assert membership.effective(THREE, None) == (THREE, False)


def test_stored_round_trip_and_foreign_files_are_ignored():
    stored = membership.Stored(THREE, THREE + " m4=192.0.2.4@4", "add m4=192.0.2.4", (7,))
    assert membership.parse_stored(stored.to_json()) == stored
    for text in ("", "[]", "{}", '{"version": 99, "base": "", "nodes": ""}', "not json"):
        assert membership.parse_stored(text) is None


# ---- add, remove, replace


def change(fn, *args):
    problems = Problems()
    result = fn(*args, problems)
    return result, problems.items


def test_add_writes_every_id_out_and_gives_the_next_free_one():
    result, problems = change(membership.add, THREE, ["m4=192.0.2.4"])
    assert problems == []
    assert result.nodes == ("m1=192.0.2.1@1 m2=192.0.2.2@2 m3=192.0.2.3@3 m4=192.0.2.4@4")
    assert [e.nodeid for e in result.added] == [4]
    two, _ = change(membership.add, THREE, ["m4=192.0.2.4", "192.0.2.5"])
    assert two.nodes.endswith("m4=192.0.2.4@4 192.0.2.5@5")


def test_a_new_id_depends_on_the_list_alone_so_every_host_gives_the_same():
    # nothing but the list decides it: hosts with other histories (removals) agree
    result, _ = change(membership.add, "m1=192.0.2.1@1 m2=192.0.2.2@5", ["m6=192.0.2.6"])
    assert result.nodes.endswith("m6=192.0.2.6@6")


@pytest.mark.parametrize(
    "word, says",
    [
        ("m2=192.0.2.9", "already in the list as 'm2=192.0.2.2@2'"),
        ("m9=192.0.2.3", "already in the list as 'm3=192.0.2.3@3'"),
        ("m9=192.0.2.9@1", "already in the list as 'm1=192.0.2.1@1'"),
        ("m9=not_an_address", "is not an address or hostname"),
    ],
)
def test_add_refuses_a_clash_or_a_bad_entry(word, says):
    _, problems = change(membership.add, THREE, [word])
    assert len(problems) == 1 and says in problems[0], problems


def test_remove_by_name_address_or_id_keeps_every_other_id():
    for selector in ("m2", "M2", "192.0.2.2", "2", "@2"):
        result, problems = change(membership.remove, THREE, [selector], ())
        assert problems == []
        assert result.nodes == "m1=192.0.2.1@1 m3=192.0.2.3@3"
        assert result.retired == (2,)
        assert [e.name for e in result.removed] == ["m2"]


def test_remove_refuses_unknown_or_every_node():
    _, problems = change(membership.remove, THREE, ["m9"], ())
    assert "no node in the list is 'm9'" in problems[0]
    assert "m1=192.0.2.1@1 m2=192.0.2.2@2 m3=192.0.2.3@3" in problems[0]
    _, problems = change(membership.remove, "m1=192.0.2.1", ["m1"], ())
    assert "every node" in problems[0]


def test_replace_keeps_the_id_for_the_same_name_and_retires_it_for_a_new_one():
    same, problems = change(membership.replace, THREE, "m3", "m3=192.0.2.33", ())
    assert problems == []
    assert same.nodes == "m1=192.0.2.1@1 m2=192.0.2.2@2 m3=192.0.2.33@3"
    assert same.retired == ()
    # corosync reloads a new address only for a node that left the list first
    assert same.via == ("m1=192.0.2.1@1 m2=192.0.2.2@2",)
    new, _ = change(membership.replace, THREE, "m3", "m9=192.0.2.9", (7,))
    assert new.nodes == "m1=192.0.2.1@1 m2=192.0.2.2@2 m9=192.0.2.9@4"
    assert new.retired == (3, 7)
    assert new.via == ()
    clash, problems = change(membership.replace, THREE, "m3", "m9=192.0.2.1", ())
    assert "clashes with another node, 'm1=192.0.2.1@1'" in problems[0]


def test_the_changed_lists_are_valid_node_lists():
    result, _ = change(membership.add, THREE, ["m4=192.0.2.4"])
    result, _ = change(membership.remove, result.nodes, ["m2"], result.retired)
    result, _ = change(membership.add, result.nodes, ["m5=192.0.2.5"])
    assert ids(result.nodes) == {"m1": 1, "m3": 3, "m4": 4, "m5": 5}
