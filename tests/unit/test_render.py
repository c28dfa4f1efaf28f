"""corosync.conf rendering against golden files in tests/unit/golden/.

Regenerate the goldens after an intended template change with

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_render.py

and review the diff (`git diff tests/unit/golden`) before committing it.
"""

from __future__ import annotations

import os

import pytest

from pcmk_launch import corosync_conf, settings
from pcmk_launch.nodelist import Node
from tests.unit import confparse
from tests.unit.scenarios import BY_NAME, GOLDEN_DIR, REPO, SCENARIOS, Scenario

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
IDS = [s.name for s in SCENARIOS]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_render_matches_golden(scenario: Scenario):
    text = scenario.render()
    if UPDATE:
        GOLDEN_DIR.mkdir(exist_ok=True)
        scenario.path.write_text(text)
    assert scenario.path.exists(), (
        f"golden {scenario.path} is missing; create it with UPDATE_GOLDEN=1 and review it"
    )
    assert text == scenario.path.read_text(), (
        f"rendering of {scenario.name!r} differs from {scenario.path}; if the change is "
        "intended, regenerate with UPDATE_GOLDEN=1 and review the diff"
    )


def test_every_golden_has_a_scenario():
    orphans = sorted(p.stem for p in GOLDEN_DIR.glob("*.conf") if p.stem not in BY_NAME)
    assert not orphans, f"golden files without a scenario in scenarios.py: {orphans}"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_every_host_renders_the_same_bytes(scenario: Scenario):
    """Node ids come from list positions, so each node of the list writes the same file."""
    mine = scenario.render()
    for other in scenario.others:
        assert scenario.render(other) == mine, f"host {other} renders a different file"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_golden_has_the_promised_structure(scenario: Scenario):
    conf = confparse.structure(scenario.render())
    assert [n["nodeid"] for n in conf.nodes] == [str(i) for i in range(1, len(conf.nodes) + 1)]
    assert conf.totem["version"] == "2"
    if scenario.name in ("standalone", "crypto_off", "udpu"):
        assert conf.totem["crypto_cipher"] == conf.totem["crypto_hash"] == "none"
        assert "keyfile" not in conf.totem
    else:
        assert (conf.totem["crypto_cipher"], conf.totem["crypto_hash"]) == ("aes256", "sha256")
        assert conf.totem["keyfile"].startswith("/")
    assert dict(conf.quorum)["provider"] == "corosync_votequorum"


def test_defaults_corosync_conf_is_the_standalone_rendering():
    """defaults/corosync.conf at the repo top documents the standalone config: keep in sync."""
    defaults = REPO / "defaults" / "corosync.conf"
    golden = BY_NAME["standalone"].path
    assert defaults.exists(), (
        f"{defaults} is missing; it must be a copy of {golden} (cp {golden} {defaults})"
    )
    assert defaults.read_text() == BY_NAME["standalone"].render(), (
        f"{defaults} differs from the standalone rendering; refresh it from {golden}"
    )


def conf(name: str) -> confparse.Conf:
    return confparse.structure(BY_NAME[name].render())


def test_standalone_is_one_loopback_node_without_name():
    c = conf("standalone")
    assert c.nodes == [{"ring0_addr": "127.0.0.1", "nodeid": "1"}]
    assert c.totem["cluster_name"] == "docker"
    assert c.totem["transport"] == "knet"
    assert [k for k, _ in c.quorum] == ["provider"]


def test_two_nodes_get_two_node_and_others_do_not():
    assert ("two_node", "1") in conf("two_nodes").quorum
    assert ("two_node", "0") in conf("two_nodes_two_node_off").quorum
    assert ("two_node", "1") not in conf("two_nodes_two_node_off").quorum
    for name in ("standalone", "one_node", "three_nodes", "options"):
        assert "two_node" not in dict(conf(name).quorum), name


def test_names_links_and_families():
    assert [n.get("name") for n in conf("named").nodes] == ["alpha", "beta", "Gamma"]
    assert [confparse.addrs(n) for n in conf("multilink").nodes] == [
        ["192.0.2.11", "198.18.0.11"],
        ["192.0.2.12", "198.18.0.12"],
        ["192.0.2.13", "198.18.0.13"],
    ]
    assert [n["ring0_addr"] for n in conf("ipv6").nodes] == [
        "2001:db8::11",
        "2001:db8::12",
        "2001:db8::13",
    ]
    # db1 and db3 resolve to v6 first: the v4 address is chosen; no name is invented
    assert conf("hostnames").nodes == [
        {"ring0_addr": "192.0.2.11", "nodeid": "1"},
        {"ring0_addr": "192.0.2.12", "nodeid": "2"},
        {"ring0_addr": "192.0.2.13", "nodeid": "3"},
    ]
    assert conf("udpu").totem["transport"] == "udpu"


def test_knet_pings_every_200ms_on_each_link_of_a_real_cluster():
    """Fast link discovery: one interface block per link, none where there are no peers."""
    assert conf("three_nodes").interfaces == [{"linknumber": "0", "knet_ping_interval": "200"}]
    assert [i["linknumber"] for i in conf("multilink").interfaces] == ["0", "1"]
    for name in ("standalone", "one_node", "udpu"):
        assert conf(name).interfaces == [], name


@pytest.mark.parametrize(
    ("token", "nodes", "expected"),
    [
        (None, 2, 200),  # corosync would ping every 750 ms
        (None, 3, 200),  # 912 ms
        (None, 16, 200),
        (750, 2, 187),  # a fast profile's own default is already quicker: keep it
        (200, 2, 50),
        (800, 2, 200),
    ],
)
def test_knet_ping_interval_never_slower_than_corosyncs_default(token, nodes, expected):
    assert corosync_conf.knet_ping_interval(token, nodes) == expected


@pytest.mark.parametrize(
    ("token", "coefficient", "nodes", "expected"),
    [
        (None, None, 3, 3650),  # corosync's defaults
        (750, None, 3, 1400),  # what "token: 750" means for 3 nodes
        (750, 0, 3, 750),
        (750, 100, 5, 1050),
        (750, None, 2, 750),  # two nodes: the coefficient never applies
        (1000, 0, 16, 1000),
    ],
)
def test_effective_token_adds_the_coefficient_per_node_above_two(
    token, coefficient, nodes, expected
):
    assert corosync_conf.effective_token(token, coefficient, nodes) == expected


def test_the_fast_profile_renders_its_coefficient():
    c = conf("fast")
    assert (c.totem["token"], c.totem["token_coefficient"], c.totem["consensus"]) == (
        "750",
        "0",
        "900",
    )
    assert c.interfaces[0]["knet_ping_interval"] == "187"  # 750 / 4: faster than 200
    assert "token_coefficient" not in conf("options").totem  # unset: corosync's 650


def test_authkey_location():
    assert conf("two_nodes").totem["keyfile"] == "/etc/corosync/authkey"  # beside corosync.conf
    assert conf("passphrase").totem["keyfile"] == "/run/pcmk_launch/authkey"  # derived, written
    assert "keyfile" not in conf("standalone").totem  # loopback only: no crypto


def test_options_reach_totem_and_quorum():
    c = conf("options")
    assert c.totem["cluster_name"] == "prod-db.1"
    assert (c.totem["token"], c.totem["consensus"]) == ("5000", "6000")
    assert c.quorum[1:] == [
        ("wait_for_all", "1"),
        ("last_man_standing", "1"),
        ("last_man_standing_window", "20000"),
        ("auto_tie_breaker", "1"),
        ("auto_tie_breaker_node", "1 3"),
    ]
    assert "token" not in conf("three_nodes").totem
    assert "consensus" not in conf("three_nodes").totem


def test_template_refuses_unsafe_values_that_bypass_validation():
    """The template's last line of defence: a hand-built Cluster with a brace in it."""
    node = Node(1, None, ("192.0.2.11",), "192.0.2.11")
    bad = settings.Cluster(settings.Settings(cluster_name="x}\ntotem {"), (node,), node, False)
    with pytest.raises(ValueError, match="unsafe value"):
        corosync_conf.render(bad)
