"""Property tests: whatever the environment holds, load+render gives a well-formed corosync.conf
or a ConfigError, never another exception.

FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/unit/test_fuzz.py   # a longer run
"""

from __future__ import annotations

import ipaddress
import os

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from pcmk_launch import authkey, corosync_conf, nodelist
from pcmk_launch import settings as pcmk_settings
from pcmk_launch.errors import ConfigError, ExitCode
from tests.unit import confparse
from tests.unit.scenarios import CONF_DIR, KEY, RUN_DIR, FakeKeys, resolver, table

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# ---------------------------------------------------------------- strategies

TABLES = [
    table("192.0.2.11"),
    table("2001:db8::11"),
    table("192.0.2.11", "198.18.0.11"),
    table("192.0.2.12", "2001:db8::12"),
    table(),
]
ADDRESSES = [
    "192.0.2.11",
    "192.0.2.12",
    "192.0.2.13",
    "198.18.0.11",
    "198.18.0.12",
    "2001:db8::11",
    "[2001:db8::12]",
    "2001:DB8:0::13",
    "127.0.0.1",
    "::1",
    "0.0.0.0",
    "::",
    "fe80::2%eth0",
    "[fe80::3%x]",
    "::ffff:192.0.2.14",
    "192.0.2.256",
    "192.0.2",
    "::g",
    "[192.0.2.11]",
    "[2001:db8::11",
    "db1",
    "db2",
    "db3",
    "v6only",
    "loop",
    "junk",
    "nowhere",
    "link-a",
    "a..b",
    "-x",
    "x-",
    "",
]
NAMES = ["alpha", "Alpha", "beta", "n-1", "n.2", "_x", "", "a" * 63, "a" * 64, "é", "x}", "{", "#"]
SEPARATORS = [" ", "\n", "\t", "  \n ", "\r\n", "\u00a0", "\x1c"]
SPECIAL = "{}#:=,[]%. \n\t\r\x00\x1f\x7f\\\"'<>&;0123456789abcdefx"

chars = st.characters(blacklist_categories=("Cs",))
junk_text = st.one_of(
    st.text(chars, max_size=40),
    st.text(st.sampled_from(list(SPECIAL) + ["é", "\u2028", "\u00a0", "²", "٣"]), max_size=40),
)

entry = st.one_of(
    st.sampled_from(ADDRESSES),
    st.builds(
        lambda name, hosts: f"{name}={','.join(hosts)}",
        st.sampled_from(NAMES),
        st.lists(st.sampled_from(ADDRESSES), min_size=1, max_size=9),
    ),
    junk_text.filter(lambda t: len(t) < 12),
)


@st.composite
def near_valid_list(draw) -> str:
    entries = draw(st.lists(entry, max_size=6))
    out = ""
    for e in entries:
        out += e + draw(st.sampled_from(SEPARATORS))
    return out


@st.composite
def coherent_list(draw) -> tuple[str, dict[str, list[str]]]:
    """A mostly valid list (n nodes, k links, one family per link) and a host of it; then
    maybe one mutation, so the refusals tested are the near misses."""
    n = draw(st.integers(1, 6))
    k = draw(st.integers(1, 3))
    v6 = [draw(st.booleans()) for _ in range(k)]

    def addr(node: int, link: int) -> str:
        if v6[link]:
            text = f"2001:db8:{link}::{node + 10:x}"
            return f"[{text}]" if draw(st.booleans()) else text
        return f"192.0.2.{node + 10}" if link == 0 else f"198.18.{link}.{node + 10}"

    named = k > 1 or draw(st.booleans())
    entries = []
    for i in range(n):
        hosts = ",".join(addr(i, link) for link in range(k))
        entries.append(f"node{i}={hosts}" if named else hosts)
    mutation = draw(
        st.sampled_from(["none"] * 6 + ["dup", "case", "drop-link", "swap", "junk", "loop"])
    )
    i = draw(st.integers(0, n - 1))
    if mutation == "dup":
        entries.append(entries[i])
    elif mutation == "case" and named:
        entries.append(entries[i].replace("node", "NODE", 1).replace("192.0.2.", "192.0.2.1"))
    elif mutation == "drop-link" and k > 1:
        entries[i] = entries[i].rsplit(",", 1)[0]
    elif mutation == "swap" and k > 1:
        name, _, hosts = entries[i].partition("=")
        entries[i] = name + "=" + ",".join(reversed(hosts.split(",")))
    elif mutation == "junk":
        entries[i] = draw(entry)
    elif mutation == "loop":
        entries[i] = "127.0.0.1"
    host = draw(st.integers(-1, n - 1))  # -1: a host that is in no entry
    local = [] if host < 0 else [addr(host, link).strip("[]") for link in range(k)]
    local = local[: draw(st.integers(1, max(1, len(local))))]
    sep = draw(st.sampled_from(SEPARATORS[:4]))
    return sep.join(entries), table(*local)


node_list = st.one_of(near_valid_list(), junk_text, st.just(""))

numbers = st.one_of(
    st.integers(-5, 800_000).map(str),
    st.sampled_from(["", " 3000 ", "²", "①", "３０００", "1e3", "0x10", "3000\n", "100", "126"]),
    junk_text,
)
QUORUM_VALUES = ["0", "1", "2", "yes", "lowest", "highest", "1,2", "1,,2", "3600000", "3600001"]
QUORUM_VALUES += ["²", "３", "", "a b", "x}"]
quorum_word = st.builds(
    lambda k, v: f"{k}={v}",
    st.sampled_from([*pcmk_settings.QUORUM_KEYS, "provider", "bogus", ""]),
    st.sampled_from(QUORUM_VALUES),
)
PROPERTY_NAMES = ["dc-deadtime", "stonith-enabled", "Bad", "a<b", "x&y", "", "no-quorum-policy"]
PROPERTY_VALUES = ["2s", "false", "<x>", "a&b", '"q"', "'q'", "1:2+3", "", "ignore"]
property_word = st.builds(
    lambda k, v: f"{k}={v}",
    st.sampled_from(PROPERTY_NAMES),
    st.sampled_from(PROPERTY_VALUES),
)


def words(word):
    return st.lists(st.one_of(word, junk_text), max_size=5).map(" ".join)


def choice(*good: str):
    return st.one_of(st.sampled_from(list(good)), junk_text)


STRATEGIES = {
    "PCMK_NODE_LIST": node_list,
    "PCMK_CLUSTER_NAME": choice("docker", "prod.db-1", "c" * 64, "c" * 65, "a b", "x}", "", "é"),
    "PCMK_TRANSPORT": choice("knet", "udpu", "udp", "", "KNET", "knet\n"),
    "PCMK_TOKEN_TIMEOUT": numbers,
    "PCMK_CONSENSUS_TIMEOUT": numbers,
    "PCMK_QUORUM": words(quorum_word),
    "PCMK_CLUSTER_PROPERTIES": words(property_word),
    "PCMK_START_TIMEOUT": numbers,
    "PCMK_STOP_TIMEOUT": numbers,
    "PCMK_COROSYNC_STOP_TIMEOUT": numbers,
    "PCMK_LOG_LEVEL": choice("error", "warning", "notice", "info", "debug", "err", "DEBUG"),
    "PCMK_LOG_FORMAT": choice("text", "json", "xml", ""),
    "PCMK_ROLE": choice("cluster", "remote", "", "Remote"),
    "PCMK_CRYPTO": choice("on", "off", "", "yes", "ON"),
    "PCMK_AUTHKEY_FILE": choice(
        "/etc/corosync/authkey",
        "/keys/good",
        "/keys/short",
        "/keys/user",
        "/keys/unreadable",
        "/keys/missing",
        "/keys/a b",
        "/keys/../etc/shadow",
        "keys/relative",
        "/keys/x}",
        "",
    ),
    "PCMK_AUTHKEY_PASSPHRASE": choice("", "p" * 16, "p" * 15, "p" * 1025, "correct horse battery"),
}
# every variable the launcher knows is fuzzed, also ones added after this file was written
VALUE = {var: STRATEGIES.get(var, junk_text) for var in pcmk_settings.VARIABLES}
extra_vars = st.dictionaries(
    st.one_of(st.from_regex(r"PCMK_[A-Z0-9_]{1,12}", fullmatch=True), st.sampled_from(["PCMK_x"])),
    junk_text,
    max_size=2,
)


KEYS = FakeKeys(
    {
        f"{CONF_DIR}/authkey": KEY,
        "/keys/good": KEY,
        "/keys/short": authkey.KeyFile(b"k" * 16, 0, 0o400),
        "/keys/user": authkey.KeyFile(KEY.data, 1000, 0o400),
        "/keys/unreadable": PermissionError(13, "Permission denied"),
    }
)
key_readers = st.sampled_from([KEYS, FakeKeys({})])  # a host with keys, and one without


@st.composite
def environment(draw) -> dict[str, str]:
    return {**draw(extra_vars), **draw(st.fixed_dictionaries({}, optional=VALUE))}


# ---------------------------------------------------------------- the property


def family(addr: str) -> int:
    return ipaddress.ip_address(addr).version


def load(env, tbl, keys):
    return pcmk_settings.load(
        env, tbl, resolver(), key_reader=keys, conf_dir=CONF_DIR, run_dir=RUN_DIR
    )


def check_accepted(env, cluster: pcmk_settings.Cluster, tbl, keys) -> None:
    text = corosync_conf.render(cluster)
    conf = confparse.structure(text)  # raises ParseError on a malformed file
    s = cluster.settings
    assert conf.totem["cluster_name"] == s.cluster_name == env.get("PCMK_CLUSTER_NAME", "docker")
    assert conf.totem["transport"] == s.transport in pcmk_settings.TRANSPORTS
    if s.token_ms:
        assert conf.totem["token"] == str(s.token_ms)
    if s.token_ms and s.consensus_ms:
        assert s.consensus_ms >= 1.2 * s.token_ms
    crypto = (conf.totem["crypto_cipher"], conf.totem["crypto_hash"])
    if cluster.crypto is None:
        assert crypto == ("none", "none") and "keyfile" not in conf.totem
        assert cluster.standalone or env.get("PCMK_CRYPTO") == "off"
    else:
        assert crypto == ("aes256", "sha256")
        assert conf.totem["keyfile"] == cluster.crypto.keyfile
        assert conf.totem["keyfile"].startswith("/") and "/../" not in conf.totem["keyfile"]
        assert s.transport == "knet", "corosync encrypts only knet"

    nodes = conf.nodes
    links = [confparse.addrs(n) for n in nodes]
    assert [n["nodeid"] for n in nodes] == [str(i) for i in range(1, len(nodes) + 1)]
    assert links == [list(n.addrs) for n in cluster.nodes]
    assert 1 <= len(nodes) <= 32
    assert len({len(a) for a in links}) == 1 and len(links[0]) <= 8
    flat = [a for addrs in links for a in addrs]
    assert len(flat) == len(set(flat)), "an address is used twice"
    names = [n["name"].lower() for n in nodes if "name" in n]
    assert len(names) == len(set(names)), "a name is used twice"
    if len(links[0]) > 1:
        assert len(names) == len(nodes), "several links need names"
        assert s.transport == "knet"
    for link in range(len(links[0])):
        assert len({family(a[link]) for a in links}) == 1, f"link {link} mixes families"
    if len(nodes) > 1:
        assert not any(ipaddress.ip_address(a).is_loopback for a in flat)

    quorum = dict(conf.quorum)
    if len(nodes) == 2:
        assert quorum.get("two_node") in ("0", "1")
    elif not cluster.standalone:
        assert quorum.get("two_node", "0") == "0"

    if cluster.standalone:
        assert not env.get("PCMK_NODE_LIST", "").strip()
        return
    local_addrs = {nodelist.parse_address(a) for addrs in tbl.values() for a in addrs}
    assert set(cluster.local.addrs) & local_addrs
    # the same list on any other node of it gives the same bytes
    for node in cluster.nodes[:3]:
        other = load(env, table(*node.addrs), keys)
        assert other.local.nodeid == node.nodeid
        assert corosync_conf.render(other) == text


def check(env: dict[str, str], tbl, keys=KEYS) -> None:
    try:
        cluster = load(env, tbl, keys)
    except ConfigError as err:
        event("refused")
        assert err.exit_code == ExitCode.CONFIG
        assert err.problems and all(isinstance(p, str) and p for p in err.problems)
        for problem in err.problems:
            assert "\n" not in problem, f"a raw newline in a problem: {problem!r}"
        return
    if isinstance(cluster, pcmk_settings.RemoteNode):
        event("accepted: remote")
        assert env.get("PCMK_ROLE") == "remote" and cluster.remote_key is not None
        assert not any(env.get(v, "").strip() for v in pcmk_settings.CLUSTER_ONLY)
        return
    event("accepted: standalone" if cluster.standalone else f"accepted: {len(cluster.nodes)} nodes")
    check_accepted(env, cluster, tbl, keys)


@FUZZ
@given(text=junk_text, tbl=st.sampled_from(TABLES))
@example(text="192.0.2.11 {\n}\n#", tbl=TABLES[0])
def test_arbitrary_node_list_text(text, tbl):
    check({"PCMK_NODE_LIST": text}, tbl)


@FUZZ
@given(text=near_valid_list(), tbl=st.sampled_from(TABLES))
@example(text="2001:db8::11 fe80::2%eth0", tbl=TABLES[1])
def test_near_valid_node_lists(text, tbl):
    check({"PCMK_NODE_LIST": text}, tbl)


@FUZZ
@given(case=coherent_list())
def test_coherent_node_lists(case):
    text, tbl = case
    check({"PCMK_NODE_LIST": text}, tbl)


@FUZZ
@given(case=coherent_list(), env=environment(), keys=key_readers)
@example(
    case=("192.0.2.10 192.0.2.11", table("192.0.2.10")), env={"PCMK_TRANSPORT": "udpu"}, keys=KEYS
)
def test_coherent_list_with_arbitrary_environment(case, env, keys):
    text, tbl = case
    check({**env, "PCMK_NODE_LIST": text}, tbl, keys)


@FUZZ
@given(env=environment(), tbl=st.sampled_from(TABLES), keys=key_readers)
@example(env={"PCMK_TOKEN_TIMEOUT": "²"}, tbl=TABLES[0], keys=KEYS)
@example(env={"PCMK_QUORUM": "expected_votes=３"}, tbl=TABLES[0], keys=KEYS)
def test_arbitrary_environment(env, tbl, keys):
    check(env, tbl, keys)
