"""PCMK_NODE_LIST: parsing, resolution, cross-node checks and matching the local host."""

from __future__ import annotations

import pytest

from pcmk_launch import addresses, corosync_conf, nodelist, settings
from pcmk_launch.errors import ConfigError, ExitCode, Problems
from tests.unit.scenarios import load, refuse, resolver, table

H1 = "192.0.2.11"  # the host under test in most cases
V6 = "2001:db8::11"


def nodes_of(cluster: settings.Cluster) -> list[tuple[int, str | None, tuple[str, ...]]]:
    return [(n.nodeid, n.name, n.addrs) for n in cluster.nodes]


# ---------------------------------------------------------------- good lists

GOOD = [
    # id, list, local addresses, expected (nodeid, name, addrs)..., expected local nodeid
    ("one", "192.0.2.11", (H1,), [(1, None, (H1,))], 1),
    (
        "two",
        "192.0.2.11 192.0.2.12",
        ("192.0.2.12",),
        [(1, None, (H1,)), (2, None, ("192.0.2.12",))],
        2,
    ),
    (
        "three-newlines-tabs",
        "\n 192.0.2.11\t192.0.2.12\n\n192.0.2.13 \n",
        ("192.0.2.13",),
        [(1, None, (H1,)), (2, None, ("192.0.2.12",)), (3, None, ("192.0.2.13",))],
        3,
    ),
    (
        "named",
        "alpha=192.0.2.11 Beta_2=192.0.2.12 c.3-x=192.0.2.13",
        (H1,),
        [(1, "alpha", (H1,)), (2, "Beta_2", ("192.0.2.12",)), (3, "c.3-x", ("192.0.2.13",))],
        1,
    ),
    (
        "mixed-named-and-plain",
        "192.0.2.11 beta=192.0.2.12",
        (H1,),
        [(1, None, (H1,)), (2, "beta", ("192.0.2.12",))],
        1,
    ),
    (
        "multi-link",
        "a=192.0.2.11,198.18.0.11 b=192.0.2.12,198.18.0.12",
        ("198.18.0.12",),  # matching on the second link is enough
        [(1, "a", (H1, "198.18.0.11")), (2, "b", ("192.0.2.12", "198.18.0.12"))],
        2,
    ),
    (
        "link-families-may-differ",
        "a=192.0.2.11,2001:db8::11 b=192.0.2.12,2001:db8::12",
        (H1,),
        [(1, "a", (H1, V6)), (2, "b", ("192.0.2.12", "2001:db8::12"))],
        1,
    ),
    (
        "ipv6-plain-bracketed-noncanonical",
        "2001:db8::11 [2001:db8::12] 2001:DB8:0::0:13",
        (V6,),
        [(1, None, (V6,)), (2, None, ("2001:db8::12",)), (3, None, ("2001:db8::13",))],
        1,
    ),
    (
        "ipv6-bracketed-multi-link",
        "a=[2001:db8::11],[2001:db8:1::11] b=[2001:db8::12],[2001:db8:1::12]",
        ("2001:db8:1::12",),
        [
            (1, "a", (V6, "2001:db8:1::11")),
            (2, "b", ("2001:db8::12", "2001:db8:1::12")),
        ],
        2,
    ),
    (
        "hostnames-v4-preferred",
        "db1 db2 db3",
        ("192.0.2.13",),
        [(1, None, (H1,)), (2, None, ("192.0.2.12",)), (3, None, ("192.0.2.13",))],
        3,
    ),
    (
        "hostname-v6-only",
        "v6only v6only2",
        ("2001:db8::22",),
        [(1, None, ("2001:db8::21",)), (2, None, ("2001:db8::22",))],
        2,
    ),
    (
        "named-hostnames-multi-link",
        "n1=db1,link-a n2=db2,link-b",
        (H1,),
        [(1, "n1", (H1, "198.18.0.11")), (2, "n2", ("192.0.2.12", "198.18.0.12"))],
        1,
    ),
    ("single-loopback-is-fine", "127.0.0.1", (), [(1, None, ("127.0.0.1",))], 1),
    ("single-v6-loopback", "[::1]", (), [(1, None, ("::1",))], 1),
    (
        "32-nodes",
        " ".join(f"198.18.0.{i}" for i in range(1, 33)),
        ("198.18.0.32",),
        [(i, None, (f"198.18.0.{i}",)) for i in range(1, 33)],
        32,
    ),
    (
        "8-links",
        "n=" + ",".join(f"198.18.{i}.1" for i in range(8)),
        ("198.18.7.1",),
        [(1, "n", tuple(f"198.18.{i}.1" for i in range(8)))],
        1,
    ),
]


@pytest.mark.parametrize(
    "text, local, expected, local_id", [g[1:] for g in GOOD], ids=[g[0] for g in GOOD]
)
def test_good_lists(text, local, expected, local_id):
    cluster = load({"PCMK_NODE_LIST": text}, *local)
    assert nodes_of(cluster) == expected
    assert cluster.local.nodeid == local_id
    assert cluster.standalone is False


@pytest.mark.parametrize("text", ["", " ", "\n\t  \n"], ids=["empty", "space", "whitespace"])
def test_empty_list_is_standalone(text):
    cluster = load({"PCMK_NODE_LIST": text})
    assert cluster.standalone is True
    assert nodes_of(cluster) == [(1, None, ("127.0.0.1",))]
    assert cluster.local is cluster.nodes[0]


def test_unset_list_is_standalone():
    assert load({}).standalone is True


@pytest.mark.parametrize(
    "text, quorum, expected",
    [
        ("192.0.2.11", "", []),
        ("192.0.2.11 192.0.2.12", "", [("two_node", "1")]),
        ("192.0.2.11 192.0.2.12", "two_node=0", [("two_node", "0")]),
        ("192.0.2.11 192.0.2.12", "two_node=1", [("two_node", "1")]),
        ("192.0.2.11 192.0.2.12", "wait_for_all=0", [("wait_for_all", "0"), ("two_node", "1")]),
        ("192.0.2.11 192.0.2.12 192.0.2.13", "", []),
    ],
    ids=["1-node", "2-nodes-auto", "2-nodes-override-0", "2-nodes-explicit", "2-plus", "3-nodes"],
)
def test_two_node_is_automatic_for_exactly_two_nodes(text, quorum, expected):
    cluster = load({"PCMK_NODE_LIST": text, "PCMK_QUORUM": quorum}, H1)
    assert list(cluster.quorum) == expected


def test_resolver_is_asked_only_for_hostnames():
    res = resolver()
    load({"PCMK_NODE_LIST": "192.0.2.11 [192.0.2.12] db3"}, H1, res=res)
    assert res.calls == ["db3"]


# ---------------------------------------------------------------- ids and rendering per host

LIST3 = "alpha=192.0.2.11,198.18.0.11 beta=192.0.2.12,198.18.0.12 gamma=192.0.2.13,198.18.0.13"
HOSTS3 = [("192.0.2.11", "198.18.0.11"), ("192.0.2.12",), ("198.18.0.13",)]


def test_nodeids_are_positions_and_every_host_renders_the_same_bytes():
    outputs = set()
    for i, local in enumerate(HOSTS3, start=1):
        cluster = load({"PCMK_NODE_LIST": LIST3}, *local)
        assert [n.nodeid for n in cluster.nodes] == [1, 2, 3]
        assert cluster.local.nodeid == i
        outputs.add(corosync_conf.render(cluster))
    assert len(outputs) == 1


def test_nodeids_follow_the_written_order_not_the_addresses():
    cluster = load({"PCMK_NODE_LIST": "192.0.2.13 192.0.2.11 192.0.2.12"}, H1)
    assert nodes_of(cluster) == [
        (1, None, ("192.0.2.13",)),
        (2, None, (H1,)),
        (3, None, ("192.0.2.12",)),
    ]
    assert cluster.local.nodeid == 2


# ---------------------------------------------------------------- bad lists

NL = "PCMK_NODE_LIST"
MANY = " ".join(f"198.18.0.{i}" for i in range(1, 34))
NINE = "n=" + ",".join(f"198.18.{i}.1" for i in range(9))

BAD = [
    # id, env, local addresses, fragments that one single problem must all contain
    ("garbage", {NL: "192.0.2.11 not_a_host!"}, (H1,), ["entry 2", "'not_a_host!'"]),
    ("braces", {NL: "192.0.2.11 {node}"}, (H1,), ["entry 2", "'{node}'"]),
    ("hash", {NL: "192.0.2.11 #comment"}, (H1,), ["'#comment'"]),
    ("colon-garbage", {NL: "192.0.2.11 a:b"}, (H1,), ["'a:b'"]),
    ("bad-v4", {NL: "192.0.2.11 192.0.2.256"}, (H1,), ["'192.0.2.256'"]),
    ("v4-leading-zero", {NL: "192.0.2.11 192.0.2.012"}, (H1,), ["'192.0.2.012'"]),
    ("bad-v6", {NL: "192.0.2.11 2001:db8::g1"}, (H1,), ["'2001:db8::g1'"]),
    ("half-bracket", {NL: "[2001:db8::11 2001:db8::12"}, (V6,), ["'[2001:db8::11'"]),
    ("no-address", {NL: "192.0.2.11 n2="}, (H1,), ["'n2='", "has no address"]),
    ("empty-link", {NL: "a=192.0.2.11, b=192.0.2.12"}, (H1,), ["'a=192.0.2.11,'", "''"]),
    ("empty-name", {NL: "=192.0.2.11 192.0.2.12"}, (H1,), ["'=192.0.2.11'", "node name"]),
    ("bad-name", {NL: "-a=192.0.2.11 192.0.2.12"}, (H1,), ["'-a'", "node name"]),
    ("unicode-name", {NL: "nöde=192.0.2.11 192.0.2.12"}, (H1,), ["'nöde'"]),
    ("long-name", {NL: "a" * 64 + "=192.0.2.11 192.0.2.12"}, (H1,), ["node name"]),
    ("hostname-trailing-dot", {NL: "db1. 192.0.2.12"}, (H1,), ["'db1.'"]),
    ("hostname-all-digits", {NL: "192.0.2 192.0.2.12"}, (H1,), ["'192.0.2'"]),
    (
        "dup-address",
        {NL: "192.0.2.11 192.0.2.12 192.0.2.11"},
        (H1,),
        ["192.0.2.11", "entries 1 and 3"],
    ),
    (
        "dup-address-canonical",
        {NL: "2001:db8::11 [2001:DB8:0::11]"},
        (V6,),
        ["2001:db8::11", "entries 1 and 2"],
    ),
    (
        "dup-address-across-links",
        {NL: "a=192.0.2.11,198.18.0.1 b=198.18.0.1,192.0.2.12"},
        (H1,),
        ["198.18.0.1", "entries 1 and 2"],
    ),
    (
        "dup-address-via-hostname",
        {NL: "db1 192.0.2.11"},
        (H1,),
        ["192.0.2.11", "entries 1 and 2"],
    ),
    (
        "dup-name-case-insensitive",
        {NL: "Alpha=192.0.2.11 alpha=192.0.2.12"},
        (H1,),
        ["'alpha'", "entries 1 and 2"],
    ),
    ("unresolvable", {NL: "192.0.2.11 nowhere"}, (H1,), ["'nowhere'", "does not resolve"]),
    ("resolves-to-junk", {NL: "192.0.2.11 junk"}, (H1,), ["'junk'", "does not resolve"]),
    (
        "unresolvable-second-link",
        {NL: "a=192.0.2.11,link-a b=192.0.2.12,nowhere"},
        (H1,),
        ["'nowhere'", "entry 2"],
    ),
    (
        "no-local-match",
        {NL: "192.0.2.21 192.0.2.22"},
        (H1, "2001:db8::11"),
        ["no entry", "Local addresses found", "192.0.2.11 (eth0)", "2001:db8::11 (eth1)"],
    ),
    (
        "no-local-match-loopback-only",
        {NL: "192.0.2.21 192.0.2.22"},
        (),
        ["no entry", "none but loopback"],
    ),
    (
        "two-local-matches",
        {NL: "192.0.2.11 192.0.2.12 198.18.0.11"},
        (H1, "198.18.0.11"),
        ["more than one", "entry 1 '192.0.2.11'", "entry 3 '198.18.0.11'"],
    ),
    ("loopback-v4", {NL: "127.0.0.1 192.0.2.11"}, (H1,), ["entry 1", "127.0.0.1", "loopback"]),
    ("loopback-v4-other", {NL: "192.0.2.11 127.0.1.1"}, (H1,), ["127.0.1.1", "loopback"]),
    ("loopback-v6", {NL: "::1 2001:db8::11"}, (V6,), ["::1", "loopback"]),
    (
        "loopback-via-hostname",
        {NL: "loop 192.0.2.11"},
        (H1,),
        ["'loop'", "127.0.1.1", "/etc/hosts"],
    ),
    ("mixed-link-0", {NL: "192.0.2.11 2001:db8::12"}, (H1,), ["link 0", "IPv4 and IPv6"]),
    (
        "mixed-link-1",
        {NL: "a=192.0.2.11,198.18.0.11 b=192.0.2.12,2001:db8::12"},
        (H1,),
        ["link 1", "IPv4 and IPv6"],
    ),
    (
        "mixed-via-hostname",
        {NL: "192.0.2.11 v6only"},
        (H1,),
        ["link 0", "IPv4 and IPv6"],
    ),
    (
        "link-counts",
        {NL: "a=192.0.2.11,198.18.0.11 b=192.0.2.12"},
        (H1,),
        ["different numbers of links", "entry 1 has 2", "entry 2 has 1"],
    ),
    ("nine-links", {NL: NINE}, ("198.18.0.1",), ["entry 1", "9 links", "at most 8"]),
    (
        "links-without-name",
        {NL: "192.0.2.11,198.18.0.11 b=192.0.2.12,198.18.0.12"},
        (H1,),
        ["entry 1", "'192.0.2.11,198.18.0.11'", "NAME=192.0.2.11,198.18.0.11"],
    ),
    (
        "udpu-several-links",
        {NL: "a=192.0.2.11,198.18.0.11 b=192.0.2.12,198.18.0.12", "PCMK_TRANSPORT": "udpu"},
        (H1,),
        ["PCMK_TRANSPORT=udpu", "one link"],
    ),
    (
        "two-node-needs-two",
        {NL: "192.0.2.11 192.0.2.12 192.0.2.13", "PCMK_QUORUM": "two_node=1"},
        (H1,),
        ["PCMK_QUORUM", "two_node=1", "3"],
    ),
    ("too-long", {NL: "192.0.2.11 " + "x" * 5000}, (H1,), ["5011 characters", "4096"]),
    ("too-many-nodes", {NL: MANY}, ("198.18.0.1",), ["33 nodes", "32"]),
]


# the variable a problem must name, where it is not PCMK_NODE_LIST
VAR_OF = {"udpu-several-links": "PCMK_TRANSPORT", "two-node-needs-two": "PCMK_QUORUM"}


@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
def test_bad_lists(case):
    name, env, local, fragments = case
    var = VAR_OF.get(name, NL)
    err = refuse(env, *local)
    assert err.exit_code == ExitCode.CONFIG == 2
    matching = [p for p in err.problems if all(f in p for f in fragments)]
    assert matching, f"no single problem contains all of {fragments}:\n{err.message()}"
    for problem in matching:
        assert var in problem, f"problem does not name {var}: {problem}"
        assert "Fix:" in problem, f"problem has no 'Fix:' hint: {problem}"
    assert err.message().startswith("configuration refused")


def test_every_node_list_problem_is_reported_at_once():
    text = (
        "a=192.0.2.11 "  # 1 fine (local)
        "garbage! "  # 2 bad syntax
        "b=192.0.2.12 "  # 3
        "A=192.0.2.13 "  # 4 duplicate name of 1
        "192.0.2.12 "  # 5 duplicate address of 3
        "nowhere "  # 6 unresolvable
        "127.0.0.1 "  # 7 loopback in a multi-node list
        "2001:db8::9 "  # 8 v6 in a v4 link
        "198.18.1.1,198.18.1.2"  # 9 several links without a name
    )
    env = {
        NL: text,
        "PCMK_TOKEN_TIMEOUT": "fast",
        "PCMK_TRANSPORT": "tcp",
        "PCMK_NODELIST": "oops",
    }
    err = refuse(env, H1)
    msg = err.message()
    for fragment in [
        "'garbage!'",
        "node name 'A' is given twice",
        "address 192.0.2.12 is given twice",
        "'nowhere' does not resolve",
        "127.0.0.1 is a loopback address",
        "mixes IPv4 and IPv6",
        "several links need a node name",
        "PCMK_TOKEN_TIMEOUT='fast'",
        "PCMK_TRANSPORT='tcp'",
        "PCMK_NODELIST is not a variable",
    ]:
        assert fragment in msg, f"{fragment!r} missing from:\n{msg}"
    assert len(err.problems) == 10
    assert msg.splitlines()[0].startswith("configuration refused: 10 problems")


def test_link_count_mismatch_is_reported_with_the_other_list_problems():
    # (the per-link family check needs equal link counts, so it is not run then)
    env = {NL: "a=192.0.2.11 a=192.0.2.12,198.18.0.12 nowhere 192.0.2.11"}
    msg = refuse(env, H1).message()
    for fragment in ["'a' is given twice", "'nowhere'", "192.0.2.11 is given twice", "links ("]:
        assert fragment in msg, f"{fragment!r} missing from:\n{msg}"


def test_a_scoped_ipv6_literal_never_reaches_the_template():
    """fe80::2%eth0 parses as an address (Python keeps the scope); '%' is not template-safe."""
    try:
        cluster = load({NL: "2001:db8::11 fe80::2%eth0"}, V6)
    except ConfigError as err:
        assert "'fe80::2%eth0'" in err.message() and "Fix:" in err.message()
    else:
        assert "%" not in corosync_conf.render(cluster)


def test_udpu_is_never_rendered_with_crypto():
    """corosync: "crypto_cipher & crypto_hash are only valid for the Knet transport"."""
    try:
        cluster = load({NL: "192.0.2.11 192.0.2.12", "PCMK_TRANSPORT": "udpu"}, H1)
    except ConfigError as err:
        assert "PCMK_TRANSPORT" in err.message() and "Fix:" in err.message()
    else:
        assert "crypto_cipher: none" in corosync_conf.render(cluster)


# ---------------------------------------------------------------- the pure pieces directly


def test_parse_keeps_positions_of_good_entries_after_a_bad_one():
    problems = Problems()
    entries = nodelist.parse("192.0.2.11 %%% n3=db1,link-a", problems)
    assert [(e.position, e.name, e.hosts) for e in entries] == [
        (1, None, ("192.0.2.11",)),
        (3, "n3", ("db1", "link-a")),
    ]
    assert len(problems.items) == 1 and "entry 2 '%%%'" in problems.items[0]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("192.0.2.1", "192.0.2.1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        ("::ffff:c000:201", "::ffff:192.0.2.1"),
        ("[::FFFF:192.0.2.1]", "::ffff:192.0.2.1"),
        ("0:0:0:0:0:ffff:c000:201", "::ffff:192.0.2.1"),
        ("[192.0.2.1", None),
        ("192.0.2.1]", None),
        ("host", None),
        ("", None),
        ("1", None),
    ],
)
def test_parse_address(text, expected):
    assert nodelist.parse_address(text) == expected


def test_resolve_takes_first_v4_else_first_v6():
    problems = Problems()
    entries = nodelist.parse("db3 v6only", problems)
    nodes = nodelist.resolve(entries, resolver(), problems)
    assert [n.addrs for n in nodes] == [("192.0.2.13",), ("2001:db8::21",)]
    assert not problems


def test_check_passes_a_consistent_list():
    problems = Problems()
    nodes = nodelist.resolve(nodelist.parse(LIST3, problems), resolver(), problems)
    nodelist.check(nodes, problems)
    assert not problems


def test_find_local_ignores_scope_and_reports_interfaces():
    nodes = [
        nodelist.Node(1, None, ("2001:db8::11",), "2001:db8::11"),
        nodelist.Node(2, None, ("2001:db8::12",), "2001:db8::12"),
    ]
    problems = Problems()
    tbl = {"lo": ["127.0.0.1"], "eth0": ["fe80::1%eth0", "2001:db8::12"]}
    assert addresses.find_local(nodes, tbl, problems) is nodes[1]
    assert not problems
    assert addresses.find_local(nodes, table("192.0.2.99"), problems) is None
    assert "192.0.2.99 (eth0)" in problems.items[0]
    assert "127.0.0.1" not in problems.items[0]  # loopback is not worth listing


def test_config_error_message_lists_every_problem():
    err = ConfigError(["one", "two"])
    assert err.problems == ["one", "two"]
    assert err.message().splitlines() == [
        "configuration refused: 2 problems (nothing was written or started):",
        "  - one",
        "  - two",
    ]
    assert ConfigError("only").message().startswith("configuration refused: 1 problem ")


def test_mapped_address_matches_interface_in_either_form():
    # an interface reporting the hex form must match an entry written dotted, and back
    for entry, iface_addr in [
        ("::ffff:192.0.2.1", "::ffff:c000:201"),
        ("::ffff:c000:201", "::ffff:192.0.2.1"),
    ]:
        assert addresses.local_set({"eth0": [iface_addr]}) == {"::ffff:192.0.2.1": "eth0"}
        assert nodelist.parse_address(entry) in addresses.local_set({"eth0": [iface_addr]})
