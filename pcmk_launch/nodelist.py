"""Parse and check PCMK_NODE_LIST: pure functions over a string and an injected resolver.

Syntax: entries separated by whitespace; an entry is ADDR, NAME=ADDR or NAME=ADDR,ADDR,...
(one ADDR per knet link), optionally followed by @ID, the node's corosync nodeid. Without
ids, ids are 1..N by position, so every host that is given the same list writes the same
nodelist; with ids (every entry has one, or none does) a host keeps its id whatever is
added, removed or reordered around it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .errors import Problems

VAR = "PCMK_NODE_LIST"
MAX_NODES = 32  # corosync's and pacemaker's supported maximum
MAX_LINKS = 8  # knet's maximum number of links
MAX_TEXT = 4096
MAX_NODEID = 2**31 - 1  # corosync takes 32 bits; pacemaker prints ids as signed ints

# A node name is what pacemaker shows and pcs uses: a hostname-like word.
NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62})\Z")
HOST_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")

Resolver = Callable[[str], list[str]]


@dataclass(frozen=True)
class Entry:
    """One entry of the list as written, before name resolution."""

    position: int  # 1-based place in the list
    text: str
    name: str | None
    hosts: tuple[str, ...]  # address literals or hostnames, one per link
    nodeid: int  # the @ID written, else the position
    explicit: bool = False  # whether @ID was written


@dataclass(frozen=True)
class Node:
    """A cluster node: nodeid, optional name, one resolved address per link."""

    nodeid: int
    name: str | None
    addrs: tuple[str, ...]
    text: str  # the entry as the operator wrote it, for messages
    position: int = 0  # its place in the list (1-based), for messages; 0: not from a list


def show(value: str, limit: int = 60) -> str:
    """Quote a value for an error message: escaped, and cut if absurdly long."""
    text = value if len(value) <= limit else value[:limit] + "..."
    return repr(text)


def _is_hostname(text: str) -> bool:
    if len(text) > 253 or text.endswith("."):
        return False
    labels = text.split(".")
    return all(HOST_LABEL_RE.match(label) for label in labels) and not labels[-1].isdigit()


def ip_text(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The one text form of an address, the same on every Python version.

    Python 3.13 prints IPv4-mapped IPv6 addresses as ::ffff:192.0.2.1, older ones as
    ::ffff:c000:201 (gh-87799); matching node-list entries against interface addresses
    and rendering corosync.conf must not depend on which one runs, so pick the mixed
    notation RFC 5952 section 5 recommends.
    """
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return f"::ffff:{ip.ipv4_mapped}"
    return str(ip)


def parse_address(text: str) -> str | None:
    """Return the canonical form of an IP literal (IPv6 may be in brackets), else None."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ip_text(ipaddress.ip_address(text))
    except ValueError:
        return None


def unusable(addr: str) -> str | None:
    """Why corosync cannot use this address as a node's link address, or None."""
    ip = ipaddress.ip_address(addr)
    if "%" in addr or (ip.version == 6 and ip.is_link_local):
        return "a link-local address (it needs a scope that differs per host)"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    return None


def parse(text: str, problems: Problems) -> list[Entry]:
    """Split the list into entries and check their syntax; record every problem."""
    if len(text) > MAX_TEXT:
        problems.add(
            f"{VAR} is {len(text)} characters long; at most {MAX_TEXT} are accepted. "
            "Fix: list each node once, separated by single spaces."
        )
        return []
    entries: list[Entry] = []
    for position, word in enumerate(text.split(), start=1):
        where = f"{VAR} entry {position} {show(word)}"
        name: str | None = None
        rest, at, id_text = word.rpartition("@") if "@" in word else (word, "", "")
        if at and not (id_text.isdigit() and id_text.isascii() and 0 < int(id_text) <= MAX_NODEID):
            problems.add(
                f"{where}: {show(id_text)} after '@' is not a node id. Fix: write the id as a "
                f"number from 1 to {MAX_NODEID}, as in node1=192.0.2.1@1."
            )
            continue
        nodeid = int(id_text) if at else position
        if "=" in rest:
            name, _, rest = rest.partition("=")
            if not NAME_RE.match(name):
                problems.add(
                    f"{where}: {show(name)} is not a valid node name. Fix: use letters, digits, "
                    "'.', '_' or '-' (at most 63, starting with a letter or digit), "
                    "as in node1=192.0.2.1."
                )
                continue
        hosts = rest.split(",")
        bad = [h for h in hosts if not (parse_address(h) or _is_hostname(h))]
        if not rest or bad:
            what = "has no address" if not rest else f"{show(bad[0])} is not an address or hostname"
            problems.add(
                f"{where}: {what}. Fix: write ADDR, NAME=ADDR or NAME=ADDR,ADDR (IPv4, IPv6 or "
                "a hostname), entries separated by spaces."
            )
            continue
        literals = [(h, a) for h, a in ((h, parse_address(h)) for h in hosts) if a is not None]
        odd = [(h, why) for h, why in ((h, unusable(a)) for h, a in literals) if why]
        if odd:
            problems.add(
                f"{where}: {odd[0][0]} is {odd[0][1]}. Fix: use the host's static unicast "
                "address (IPv4, or a global or unique-local IPv6 address)."
            )
            continue
        if len(hosts) > MAX_LINKS:
            problems.add(
                f"{where}: {len(hosts)} links; knet supports at most {MAX_LINKS}. "
                "Fix: give at most 8 addresses per node."
            )
            continue
        if len(hosts) > 1 and name is None:
            problems.add(
                f"{where}: several links need a node name (corosync refuses them otherwise). "
                f"Fix: write NAME={rest}."
            )
            continue
        entries.append(Entry(position, word, name, tuple(hosts), nodeid, bool(at)))
    _check_ids(entries, problems)
    if len(entries) > MAX_NODES:
        problems.add(
            f"{VAR} has {len(entries)} nodes; at most {MAX_NODES} are supported. "
            f"Fix: list at most {MAX_NODES} hosts (pacemaker_remote scales further)."
        )
    return entries


def _check_ids(entries: list[Entry], problems: Problems) -> None:
    """Ids are all written or all positions (a mix would renumber the unwritten ones when an
    entry moves), and every id is given once."""
    written = [e for e in entries if e.explicit]
    if written and len(written) != len(entries):
        bare = next(e for e in entries if not e.explicit)
        problems.add(
            f"{VAR}: entry {bare.position} {show(bare.text)} has no @ID while entry "
            f"{written[0].position} {show(written[0].text)} has one. Fix: give every entry its "
            "id, or none (then ids are positions); a running cluster's ids are its positions, "
            "so write each entry's position as its id, e.g. node1=192.0.2.1@1."
        )
        return
    seen: dict[int, Entry] = {}
    for entry in written:
        first = seen.setdefault(entry.nodeid, entry)
        if first is not entry:
            problems.add(
                f"{VAR}: node id {entry.nodeid} is given twice (entries {first.position} "
                f"{show(first.text)} and {entry.position} {show(entry.text)}). Fix: every node "
                "keeps an id of its own; give the new one an id no node has had."
            )


def resolve(entries: Iterable[Entry], resolver: Resolver, problems: Problems) -> list[Node]:
    """Turn entries into nodes, resolving hostnames; an address literal is taken as it is.

    A hostname that resolves to several addresses gives its first IPv4 address (else its
    first IPv6 one), so the written config does not depend on resolver order tricks.
    """
    nodes: list[Node] = []
    for entry in entries:
        addrs: list[str] = []
        for host in entry.hosts:
            literal = parse_address(host)
            if literal:
                addrs.append(literal)
                continue
            found = [a for a in (parse_address(x) for x in resolver(host)) if a]
            if not found:
                problems.add(
                    f"{VAR} entry {entry.position} {show(entry.text)}: hostname {show(host)} "
                    "does not resolve. Fix: use an IP address, or make the name resolvable "
                    "in the container (DNS, or --add-host NAME:ADDR)."
                )
                break
            v4 = [a for a in found if ipaddress.ip_address(a).version == 4]
            addrs.append((v4 or found)[0])
        else:
            nodes.append(Node(entry.nodeid, entry.name, tuple(addrs), entry.text, entry.position))
    return nodes


def check(nodes: list[Node], problems: Problems) -> None:
    """Checks across nodes: duplicates, link counts, address families, loopback."""
    seen_addr: dict[str, int] = {}
    seen_name: dict[str, int] = {}
    for node in nodes:
        for addr in node.addrs:
            if addr in seen_addr:
                problems.add(
                    f"{VAR}: address {addr} is given twice (entries {seen_addr[addr]} and "
                    f"{node.position}). Fix: every node needs addresses of its own."
                )
            seen_addr.setdefault(addr, node.position)
        if node.name is not None:
            key = node.name.lower()
            if key in seen_name:
                problems.add(
                    f"{VAR}: node name {show(node.name)} is given twice (entries "
                    f"{seen_name[key]} and {node.position}). Fix: give every node its own name."
                )
            seen_name.setdefault(key, node.position)
    if len(nodes) > 1:
        for node in nodes:
            loop = [a for a in node.addrs if ipaddress.ip_address(a).is_loopback]
            if loop:
                problems.add(
                    f"{VAR} entry {node.position} {show(node.text)}: {loop[0]} is a loopback "
                    "address, which other hosts cannot reach. Fix: use the host's own static "
                    "address (for a hostname, check /etc/hosts does not map it to 127.x)."
                )
    counts = {len(n.addrs) for n in nodes}
    if len(counts) > 1:
        detail = ", ".join(f"entry {n.position} has {len(n.addrs)}" for n in nodes)
        problems.add(
            f"{VAR}: nodes have different numbers of links ({detail}). "
            "Fix: give every node the same number of addresses."
        )
    links = min(counts) if counts else 0
    for link in range(links):
        versions = {ipaddress.ip_address(n.addrs[link]).version for n in nodes}
        if len(versions) > 1:
            problems.add(
                f"{VAR}: link {link} mixes IPv4 and IPv6 addresses. Fix: all addresses of "
                f"link {link} (position {link + 1} in each entry) must be of one family."
            )
