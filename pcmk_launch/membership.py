"""Membership changes of a running cluster: pure functions over node-list text.

A container's PCMK_NODE_LIST is fixed at `docker run`. `pcmk-launch nodes add|remove|replace`
changes the list a node runs with, without re-creating it: the new list is kept in a small
file on the corosync volume (Stored) and wins over PCMK_NODE_LIST for as long as the
container is started with the same PCMK_NODE_LIST it had when the change was made. A
container started with another PCMK_NODE_LIST (the operator re-created it with the new list,
or any other) uses that one: the last list given, by `docker run` or by `nodes`, is in force.

Every changed list carries explicit ids (@ID), so that no node is ever renumbered: a list
of positions becomes the same ids written out, and a new node without @ID gets the list's
highest id plus one. That depends on the list alone, so every host given the same command
gives the same id, whatever it did before (the ids a host removed are kept in its Stored
record only to tell a leftover it removed from a node it never knew).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .errors import Problems
from .nodelist import VAR, Entry, parse, parse_address, show

STORED_VERSION = 1


@dataclass(frozen=True)
class Stored:
    """What `nodes` keeps on the volume."""

    base: str  # PCMK_NODE_LIST (normalised) when the change was made
    nodes: str  # the list in force since
    change: str = ""  # the last change, as the operator typed it
    retired: tuple[int, ...] = field(default=())  # ids this host removed from its list

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": STORED_VERSION,
                "base": self.base,
                "nodes": self.nodes,
                "change": self.change,
                "retired": list(self.retired),
            },
            indent=2,
        )


def normal(text: str) -> str:
    return " ".join(text.split())


def parse_stored(text: str) -> Stored | None:
    """The stored list, or None when the file is not one this version wrote."""
    try:
        data = json.loads(text)
        if data.get("version") != STORED_VERSION:
            return None
        retired = tuple(int(i) for i in data.get("retired", ()))
        return Stored(
            normal(str(data["base"])),
            normal(str(data["nodes"])),
            str(data.get("change", "")),
            retired,
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def effective(env_list: str, stored: Stored | None) -> tuple[str, bool]:
    """The node list in force and whether it is the stored one."""
    if stored is not None and stored.base == normal(env_list):
        return stored.nodes, True
    return env_list, False


@dataclass(frozen=True)
class Change:
    """A computed change: the new list and what it does."""

    nodes: str  # the new list, every entry with its @ID
    via: tuple[str, ...] = ()  # lists to apply first, in order (see replace)
    added: tuple[Entry, ...] = ()
    removed: tuple[Entry, ...] = ()
    retired: tuple[int, ...] = ()


def _with_id(entry: Entry, nodeid: int | None = None) -> str:
    """The entry's text with its id written out."""
    nodeid = entry.nodeid if nodeid is None else nodeid
    bare = entry.text.rpartition("@")[0] if entry.explicit else entry.text
    return f"{bare}@{nodeid}"


def _entries(text: str, problems: Problems) -> list[Entry]:
    return parse(text, problems)


def _new_entries(words: list[str], problems: Problems) -> list[Entry]:
    """Parse entries given on the command line (positions there mean nothing)."""
    out: list[Entry] = []
    for word in words:
        sub = Problems()
        found = parse(word, sub)
        for message in sub.items:
            problems.add(message.replace(f"{VAR} entry 1 ", "entry ", 1))
        out += found
    return out


def match(entry: Entry, selector: str) -> bool:
    """Whether a selector (a node name, one of its addresses, or its id) means this entry."""
    if entry.name is not None and entry.name.lower() == selector.lower():
        return True
    canon = parse_address(selector)
    if canon is not None:
        return any(parse_address(h) == canon for h in entry.hosts)
    if any(h.lower() == selector.lower() for h in entry.hosts):
        return True
    wanted = selector.removeprefix("@")
    return wanted.isdigit() and wanted.isascii() and int(wanted) == entry.nodeid


def _find(entries: list[Entry], selector: str, problems: Problems) -> Entry | None:
    found = [e for e in entries if match(e, selector)]
    if len(found) == 1:
        return found[0]
    listing = " ".join(_with_id(e) for e in entries)
    if not found:
        problems.add(
            f"no node in the list is {show(selector)}. Fix: name a node by its name, one of "
            f"its addresses or its id; the list is: {listing}"
        )
    else:
        problems.add(
            f"{show(selector)} matches several nodes ({', '.join(_with_id(e) for e in found)}). "
            "Fix: name the node by its id, e.g. @3."
        )
    return None


def _clash(entries: list[Entry], new: Entry) -> Entry | None:
    """An entry of the list that has the new entry's name, an address or its id."""
    for old in entries:
        if new.name and old.name and new.name.lower() == old.name.lower():
            return old
        if any(match(old, h) for h in new.hosts):
            return old
        if new.explicit and new.nodeid == old.nodeid:
            return old
    return None


def _next_id(entries: list[Entry]) -> int:
    return max([e.nodeid for e in entries] + [0]) + 1


def add(current: str, words: list[str], problems: Problems) -> Change:
    """The list with new nodes appended, each with its @ID or the next id above the list's."""
    entries = _entries(current, problems)
    new = _new_entries(words, problems)
    if problems:
        return Change(current)
    out = [_with_id(e) for e in entries]
    added: list[Entry] = []
    for entry in new:
        clash = _clash(entries + added, entry)
        if clash is not None:
            problems.add(
                f"{show(entry.text)} is already in the list as {show(_with_id(clash))}. Fix: "
                f"to give a node a new address, run `pcmk-launch nodes replace "
                f"{clash.name or clash.nodeid} {entry.text}`; to add another node, give it a "
                "name, addresses and id of its own."
            )
            continue
        nodeid = entry.nodeid if entry.explicit else _next_id(entries + added)
        added.append(_reparse(_with_id(entry, nodeid)))
        out.append(_with_id(entry, nodeid))
    return Change(" ".join(out), added=tuple(added))


def _reparse(word: str) -> Entry:
    return parse(word, Problems())[0]


def remove(
    current: str, selectors: list[str], retired: tuple[int, ...], problems: Problems
) -> Change:
    """The list without the named nodes (their ids join this host's removed ones)."""
    entries = _entries(current, problems)
    if problems:
        return Change(current)
    gone: list[Entry] = []
    for selector in selectors:
        entry = _find(entries, selector, problems)
        if entry is not None and entry not in gone:
            gone.append(entry)
    kept = [e for e in entries if e not in gone]
    if not problems and not kept:
        problems.add("that would remove every node. Fix: keep at least one node in the list.")
    return Change(
        " ".join(_with_id(e) for e in kept),
        removed=tuple(gone),
        retired=tuple(sorted(set(retired) | {e.nodeid for e in gone})),
    )


def replace(
    current: str, selector: str, word: str, retired: tuple[int, ...], problems: Problems
) -> Change:
    """One node's entry replaced (a host rebuilt with a new address, or a new host in a dead
    one's place). Same name (or an @ID given): the node keeps its id. A new name: a new id,
    and the old one is retired, because pacemaker knows a node by its id and name together."""
    entries = _entries(current, problems)
    new = _new_entries([word], problems)
    if problems:
        return Change(current)
    old = _find(entries, selector, problems)
    if old is None:
        return Change(current)
    rest = [e for e in entries if e is not old]
    entry = new[0]
    clash = _clash(rest, entry)
    if clash is not None:
        problems.add(
            f"{show(entry.text)} clashes with another node, {show(_with_id(clash))}. Fix: give "
            "the new node a name and addresses no other node has."
        )
        return Change(current)
    same = bool(entry.name and old.name and entry.name.lower() == old.name.lower())
    if entry.explicit:
        nodeid = entry.nodeid
    elif same:
        nodeid = old.nodeid
    else:
        nodeid = _next_id(entries)
    out = [_with_id(e) if e is not old else _with_id(entry, nodeid) for e in entries]
    keeps = nodeid == old.nodeid
    # corosync refuses to reload a node's new address under its old id ("To reconfigure an
    # interface it must be deleted and recreated"): the node leaves the list in one reload
    # and comes back with its new address in the next.
    moved = keeps and entry.hosts != old.hosts
    return Change(
        " ".join(out),
        via=(" ".join(_with_id(e) for e in rest),) if moved else (),
        added=(_reparse(_with_id(entry, nodeid)),),
        removed=(old,),
        retired=tuple(sorted(set(retired) | (set() if keeps else {old.nodeid}))),
    )


def listing(text: str) -> list[Entry]:
    """The entries of a list that is known to be valid."""
    return parse(text, Problems())


def with_ids(text: str) -> str:
    """A valid list with every id written out."""
    return " ".join(_with_id(e) for e in listing(text))


def strangers(
    current: str, known: dict[int, str], retired: tuple[int, ...]
) -> tuple[list[str], list[str]]:
    """Nodes pacemaker shows that are not in the list (pure): (leftovers, unknown).

    A leftover has an id this node removed: a removal whose purge a new DC undid. An unknown
    one was never in this node's list: most likely other nodes added it and this one has not
    yet (a change half done), or it was removed before this node's list was made."""
    listed = {e.nodeid for e in listing(current)}
    out = [(nodeid, name) for nodeid, name in known.items() if nodeid not in listed]
    left = sorted(name for nodeid, name in out if nodeid in retired)
    return left, sorted(name for nodeid, name in out if nodeid not in retired)
