"""A small, strict corosync.conf parser for checking what the launcher renders.

Grammar (a strict subset of corosync's): blank lines, `# comment` lines, `name {`,
`}` and `key: value` lines. Anything else, or unbalanced braces, is a ParseError.
`structure()` then checks the shape the launcher promises and returns plain data.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from pcmk_launch import settings

SECTION_RE = re.compile(r"([A-Za-z0-9_]+)\s*\{\Z")
ITEM_RE = re.compile(r"([A-Za-z0-9_]+):[ \t]*(.*?)[ \t]*\Z")
TOKEN_RE = re.compile(r"[A-Za-z0-9_.:/@+-]+\Z")

TOP_SECTIONS = ("totem", "nodelist", "quorum", "logging")
TOTEM_KEYS = {
    "version",
    "cluster_name",
    "transport",
    "crypto_cipher",
    "crypto_hash",
    "keyfile",
    "token",
    "token_coefficient",
    "consensus",
}
NODE_KEYS = {f"ring{i}_addr" for i in range(8)} | {"name", "nodeid"}
INTERFACE_KEYS = {"linknumber", "knet_ping_interval"}
QUORUM_KEYS = {"provider", *settings.QUORUM_KEYS}
LOGGING_KEYS = {
    "to_stderr",
    "to_logfile",
    "to_syslog",
    "syslog_facility",
    "syslog_priority",
    "debug",
    "timestamp",
    "fileline",
}
MULTI_TOKEN_KEYS = {"auto_tie_breaker_node"}  # corosync takes a space-separated id list


class ParseError(ValueError):
    pass


@dataclass
class Section:
    name: str
    line: int
    items: list[tuple[str, str]] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)

    def sections(self, name: str) -> list[Section]:
        return [c for c in self.children if c.name == name]

    def keys(self) -> list[str]:
        return [k for k, _ in self.items]

    def as_dict(self) -> dict[str, str]:
        return dict(self.items)


def parse(text: str) -> Section:
    """Parse into a tree; the root is an unnamed section."""
    if not text.endswith("\n"):
        raise ParseError("no final newline")
    bad = [c for c in text if (ord(c) < 32 and c != "\n") or ord(c) == 127]
    if bad:
        raise ParseError(f"control characters in the file: {bad[:5]!r}")
    root = Section("", 0)
    stack = [root]
    for lineno, raw in enumerate(text.split("\n")[:-1], start=1):
        line = raw.strip(" ")
        if not line or line.startswith("#"):
            continue
        if line == "}":
            if len(stack) == 1:
                raise ParseError(f"line {lineno}: '}}' closes nothing")
            stack.pop()
            continue
        m = SECTION_RE.match(line)
        if m:
            child = Section(m.group(1), lineno)
            stack[-1].children.append(child)
            stack.append(child)
            continue
        m = ITEM_RE.match(line)
        if m and m.group(2):
            stack[-1].items.append((m.group(1), m.group(2)))
            continue
        raise ParseError(f"line {lineno}: not a section, '}}' or key: value: {raw!r}")
    if len(stack) != 1:
        raise ParseError(f"section {stack[-1].name!r} (line {stack[-1].line}) is never closed")
    return root


@dataclass
class Conf:
    totem: dict[str, str]
    nodes: list[dict[str, str]]
    quorum: list[tuple[str, str]]
    logging: dict[str, str]
    interfaces: list[dict[str, str]]


def _check_items(section: Section, allowed: set[str], where: str, unique: bool = True) -> None:
    for key, value in section.items:
        if key not in allowed:
            raise ParseError(f"{where}: key {key!r} is not one the launcher may write")
        words = value.split(" ") if key in MULTI_TOKEN_KEYS else [value]
        if not all(TOKEN_RE.match(w) for w in words):
            raise ParseError(f"{where}: {key} has a value that is not a single token: {value!r}")
    keys = section.keys()
    if unique and len(keys) != len(set(keys)):
        raise ParseError(f"{where}: a key is given twice: {keys}")
    if section.children and where not in ("nodelist", "totem"):
        raise ParseError(f"{where}: unexpected subsection {section.children[0].name!r}")


def _subsections(parent: Section, name: str, keys: set[str]):
    """(index, where, fields) of each subsection of `parent`, all of which must be `name`."""
    for i, sub in enumerate(parent.children):
        if sub.name != name:
            raise ParseError(f"{parent.name}: unexpected subsection {sub.name!r}")
        where = f"{parent.name} {name} #{i + 1}"
        _check_items(sub, keys, where)  # also refuses deeper subsections
        yield i, where, sub.as_dict()


def structure(text: str) -> Conf:
    """Parse and check the launcher's promised shape; ParseError says what is wrong."""
    root = parse(text)
    if root.items:
        raise ParseError(f"keys outside any section: {root.keys()}")
    names = [c.name for c in root.children]
    if sorted(names) != sorted(TOP_SECTIONS):
        raise ParseError(f"top-level sections are {names}, expected each of {TOP_SECTIONS} once")
    totem, nodelist, quorum, logging = (root.sections(n)[0] for n in TOP_SECTIONS)
    _check_items(totem, TOTEM_KEYS, "totem")
    interfaces = []
    for i, where, iface in _subsections(totem, "interface", INTERFACE_KEYS):
        if iface.get("linknumber") != str(i):
            raise ParseError(f"{where}: linknumber is not {i}: {iface}")
        interfaces.append(iface)
    # Duplicate quorum keys are tolerated here (corosync keeps the last one).
    _check_items(quorum, QUORUM_KEYS, "quorum", unique=False)
    _check_items(logging, LOGGING_KEYS, "logging")
    if nodelist.items:
        raise ParseError(f"nodelist: keys outside node sections: {nodelist.keys()}")
    nodes = []
    for _, where, fields in _subsections(nodelist, "node", NODE_KEYS):
        rings = sorted(k for k in fields if k.startswith("ring"))
        if rings != [f"ring{j}_addr" for j in range(len(rings))] or not rings:
            raise ParseError(f"{where}: ring keys are not ring0_addr..ringN_addr: {rings}")
        for ring in rings:
            try:
                ipaddress.ip_address(fields[ring])
            except ValueError as exc:
                raise ParseError(f"{where}: {ring} is not an IP address: {fields[ring]!r}") from exc
        if "nodeid" not in fields:
            raise ParseError(f"{where}: no nodeid")
        nodes.append(fields)
    if not nodes:
        raise ParseError("nodelist has no node")
    return Conf(totem.as_dict(), nodes, list(quorum.items), logging.as_dict(), interfaces)


def addrs(node: dict[str, str]) -> list[str]:
    """The ring addresses of a parsed node, in link order."""
    return [node[f"ring{i}_addr"] for i in range(8) if f"ring{i}_addr" in node]
