"""addresses.read_interfaces: the host's interface table from netifaces (a fake one here)."""

from __future__ import annotations

import sys
import types

from pcmk_launch import addresses


def test_an_interface_removed_while_it_is_read_is_left_out(monkeypatch):
    """netifaces lists it, then no longer knows it (a container's veth going away): the
    launcher must not die of a ValueError for that."""

    def ifaddresses(iface: str) -> dict:
        if iface == "veth-gone":
            raise ValueError("You must specify a valid interface name.")
        return {2: [{"addr": "192.0.2.11"}], 10: [{"addr": "2001:db8::11"}]}

    fake = types.SimpleNamespace(
        interfaces=lambda: ["eth0", "veth-gone"], ifaddresses=ifaddresses, AF_INET=2, AF_INET6=10
    )
    monkeypatch.setitem(sys.modules, "netifaces", fake)
    assert addresses.read_interfaces() == {"eth0": ["192.0.2.11", "2001:db8::11"]}
