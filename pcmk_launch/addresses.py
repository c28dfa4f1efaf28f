"""Which node-list entry is this host: match node addresses against local interfaces."""

from __future__ import annotations

import ipaddress

from .errors import Problems
from .nodelist import VAR, Node, ip_text, show

# interface name -> addresses on it; what netifaces reports, as plain data for tests
InterfaceTable = dict[str, list[str]]


def _canonical(addr: str) -> str | None:
    try:
        return ip_text(ipaddress.ip_address(addr.split("%", 1)[0]))
    except ValueError:
        return None


def local_set(table: InterfaceTable) -> dict[str, str]:
    """Map each local address (canonical form) to its interface."""
    found: dict[str, str] = {}
    for iface, addrs in table.items():
        for addr in addrs:
            canon = _canonical(addr)
            if canon:
                found.setdefault(canon, iface)
    return found


def find_local(nodes: list[Node], table: InterfaceTable, problems: Problems) -> Node | None:
    """The one node with an address on a local interface; every other case is a problem."""
    local = local_set(table)
    matches = [n for n in nodes if any(a in local for a in n.addrs)]
    if len(matches) == 1:
        return matches[0]
    listing = ", ".join(
        f"{a} ({i})" for a, i in sorted(local.items()) if not ipaddress.ip_address(a).is_loopback
    )
    if not matches:
        problems.add(
            f"{VAR}: no entry is an address of this host. Local addresses found: "
            f"{listing or 'none but loopback'}. Fix: add this host's static address to "
            f"{VAR} (run the container with --net=host so it sees the host's interfaces)."
        )
    else:
        which = ", ".join(f"entry {n.position} {show(n.text)}" for n in matches)
        problems.add(
            f"{VAR}: more than one entry is an address of this host ({which}). "
            "Fix: each host must appear once; remove the extra entries."
        )
    return None


def read_interfaces() -> InterfaceTable:  # pragma: no cover - thin shell over netifaces
    """The real interface table of this host (or network namespace)."""
    import netifaces

    table: InterfaceTable = {}
    for iface in netifaces.interfaces():
        try:
            info = netifaces.ifaddresses(iface)
        except ValueError:  # removed since it was listed (a veth of a container going away)
            continue
        addrs = [
            a["addr"] for fam in (netifaces.AF_INET, netifaces.AF_INET6) for a in info.get(fam, [])
        ]
        table[iface] = addrs
    return table
