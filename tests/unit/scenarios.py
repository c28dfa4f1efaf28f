"""Shared test data: fake interface tables, a dict-based resolver and the golden scenarios.

Only documentation ranges are used: 192.0.2.0/24, 198.18.0.0/15 and 2001:db8::/32.
Everything here is plain data handed to the pure core; nothing is patched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pcmk_launch import authkey, corosync_conf, settings
from pcmk_launch.addresses import InterfaceTable
from pcmk_launch.errors import ConfigError

GOLDEN_DIR = Path(__file__).parent / "golden"
REPO = Path(__file__).resolve().parents[2]

LOOPBACK = ("127.0.0.1", "::1")


def table(*addrs: str) -> InterfaceTable:
    """An interface table as netifaces would report it: lo, then one ethN per address."""
    out: InterfaceTable = {"lo": list(LOOPBACK)}
    for i, addr in enumerate(addrs):
        out[f"eth{i}"] = [addr]
    return out


class FakeResolver:
    """A resolver over a dict; remembers what it was asked."""

    def __init__(self, mapping: Mapping[str, Iterable[str]]):
        self.mapping = {k: list(v) for k, v in mapping.items()}
        self.calls: list[str] = []

    def __call__(self, name: str) -> list[str]:
        self.calls.append(name)
        return list(self.mapping.get(name, []))


HOSTS = {
    # v6 listed first by the resolver: the v4 address must still be chosen
    "db1": ["2001:db8::11", "192.0.2.11"],
    "db2": ["192.0.2.12", "2001:db8::12"],
    "db3": ["2001:db8::13", "192.0.2.13", "2001:db8::113"],
    "v6only": ["2001:db8::21"],
    "v6only2": ["2001:db8::22"],
    "loop": ["127.0.1.1"],  # the Debian /etc/hosts trap
    "junk": ["not-an-address", ""],
    "link-a": ["198.18.0.11"],
    "link-b": ["198.18.0.12"],
}


def resolver() -> FakeResolver:
    return FakeResolver(HOSTS)


CONF_DIR = "/etc/corosync"  # where load() looks for authkey beside corosync.conf
RUN_DIR = "/run/pcmk_launch"  # where a key derived from a passphrase goes
KEY = authkey.KeyFile(bytes(range(256)), uid=0, mode=0o400)


class FakeKeys:
    """A key reader over a dict: path -> KeyFile, or an OSError to raise; else not found."""

    def __init__(self, files: Mapping[str, authkey.KeyFile | OSError]):
        self.files = dict(files)

    def __call__(self, path: str) -> authkey.KeyFile:
        found = self.files.get(path)
        if found is None:
            raise FileNotFoundError(2, "No such file or directory", path)
        if isinstance(found, OSError):
            raise found
        return found


def keys() -> FakeKeys:
    """The usual host: a good authkey at /etc/corosync/authkey."""
    return FakeKeys({f"{CONF_DIR}/authkey": KEY})


def load(
    env: Mapping[str, str],
    *local: str,
    res: FakeResolver | None = None,
    key_reader: FakeKeys | None = None,
):
    """settings.load for a host that has the given addresses (and a good authkey)."""
    return settings.load(
        env,
        table(*local),
        res if res is not None else resolver(),
        key_reader=key_reader if key_reader is not None else keys(),
        conf_dir=CONF_DIR,
        run_dir=RUN_DIR,
    )


def refuse(env: Mapping[str, str], *local: str, **kwargs) -> ConfigError:
    """Load a config that must be refused; return the error."""
    try:
        cluster = load(env, *local, **kwargs)
    except ConfigError as exc:
        return exc
    raise AssertionError(f"accepted but should be refused: {env!r} -> {cluster!r}")


@dataclass(frozen=True)
class Scenario:
    """One golden: the environment, the host that renders it, and every node's addresses."""

    name: str
    env: dict[str, str]
    local: tuple[str, ...]  # addresses of the rendering host (its netns gets exactly these)
    others: tuple[tuple[str, ...], ...] = field(default=())  # the other nodes' addresses

    @property
    def path(self) -> Path:
        return GOLDEN_DIR / f"{self.name}.conf"

    def render(self, local: tuple[str, ...] | None = None) -> str:
        return corosync_conf.render(load(self.env, *(self.local if local is None else local)))


THREE = "192.0.2.11 192.0.2.12 192.0.2.13"
N2, N3 = ("192.0.2.12",), ("192.0.2.13",)

SCENARIOS = [
    Scenario("standalone", {}, ()),
    Scenario("one_node", {"PCMK_NODE_LIST": "192.0.2.11"}, ("192.0.2.11",)),
    Scenario("two_nodes", {"PCMK_NODE_LIST": "192.0.2.11 192.0.2.12"}, ("192.0.2.11",), (N2,)),
    Scenario(
        "two_nodes_two_node_off",
        {"PCMK_NODE_LIST": "192.0.2.11 192.0.2.12", "PCMK_QUORUM": "two_node=0 wait_for_all=1"},
        ("192.0.2.12",),
        (("192.0.2.11",),),
    ),
    Scenario("three_nodes", {"PCMK_NODE_LIST": THREE}, ("192.0.2.11",), (N2, N3)),
    Scenario(
        "named",
        {"PCMK_NODE_LIST": "alpha=192.0.2.11 beta=192.0.2.12 Gamma=192.0.2.13"},
        ("192.0.2.12",),
        (("192.0.2.11",), N3),
    ),
    Scenario(
        "multilink",
        {
            "PCMK_NODE_LIST": "alpha=192.0.2.11,198.18.0.11 beta=192.0.2.12,198.18.0.12 "
            "gamma=192.0.2.13,198.18.0.13"
        },
        ("192.0.2.11", "198.18.0.11"),
        (("192.0.2.12", "198.18.0.12"), ("192.0.2.13", "198.18.0.13")),
    ),
    Scenario(
        "ipv6",
        # plain, bracketed and non-canonical forms: all written canonically
        {"PCMK_NODE_LIST": "2001:db8::11 [2001:db8::12] 2001:DB8:0:0:0:0:0:13"},
        ("2001:db8::13",),
        (("2001:db8::11",), ("2001:db8::12",)),
    ),
    Scenario(
        "hostnames",
        {"PCMK_NODE_LIST": "db1 db2 db3"},
        ("192.0.2.12",),
        (("192.0.2.11",), ("192.0.2.13",)),
    ),
    Scenario(
        "udpu",
        # knet is the only transport corosync encrypts: udpu needs PCMK_CRYPTO=off
        {"PCMK_NODE_LIST": THREE, "PCMK_TRANSPORT": "udpu", "PCMK_CRYPTO": "off"},
        ("192.0.2.13",),
        (("192.0.2.11",), N2),
    ),
    Scenario(
        "options",
        {
            "PCMK_NODE_LIST": THREE,
            "PCMK_CLUSTER_NAME": "prod-db.1",
            "PCMK_TOKEN_TIMEOUT": "5000",
            "PCMK_CONSENSUS_TIMEOUT": "6000",
            "PCMK_QUORUM": "wait_for_all=1 last_man_standing=1 last_man_standing_window=20000 "
            "auto_tie_breaker=1 auto_tie_breaker_node=1,3",
        },
        ("192.0.2.11",),
        (N2, N3),
    ),
    Scenario(
        # a short token (README, "How fast a node is failed over"): 750 ms that stays 750 ms
        # with 3 nodes
        "fast",
        {
            "PCMK_NODE_LIST": THREE,
            "PCMK_TOKEN_TIMEOUT": "750",
            "PCMK_TOKEN_COEFFICIENT": "0",
            "PCMK_CONSENSUS_TIMEOUT": "900",
        },
        ("192.0.2.11",),
        (N2, N3),
    ),
]
SCENARIOS += [
    Scenario(
        "crypto_off",
        {"PCMK_NODE_LIST": "192.0.2.11 192.0.2.12", "PCMK_CRYPTO": "off"},
        ("192.0.2.11",),
        (N2,),
    ),
    Scenario(
        "passphrase",
        {
            "PCMK_NODE_LIST": "192.0.2.11 192.0.2.12",
            "PCMK_AUTHKEY_PASSPHRASE": "correct horse battery staple",
        },
        ("192.0.2.12",),
        (("192.0.2.11",),),
    ),
]
BY_NAME = {s.name: s for s in SCENARIOS}
