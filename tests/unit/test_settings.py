"""PCMK_* scalar settings: defaults, good values, and every refusal with a "Fix:" hint."""

from __future__ import annotations

import pytest

from pcmk_launch import corosync_conf, settings
from pcmk_launch.errors import ConfigError, ExitCode, Problems
from tests.unit.scenarios import load, refuse

TWO = "192.0.2.11 192.0.2.12"
THREE = "192.0.2.11 192.0.2.12 192.0.2.13"
H1 = "192.0.2.11"


def parsed(env: dict[str, str]) -> settings.Settings:
    problems = Problems()
    s = settings.parse_settings(env, problems)
    assert not problems, problems.items
    return s


def test_defaults():
    s = parsed({})  # standalone: see test_cib for its properties
    assert s == settings.Settings(cluster_properties=settings.STANDALONE_PROPERTY_PAIRS)
    assert (s.cluster_name, s.transport, s.token_ms, s.consensus_ms) == (
        "docker",
        "knet",
        None,
        None,
    )
    assert s.quorum == ()
    assert s.cluster_properties == (("dc-deadtime", "1s"), ("stonith-enabled", "false"))
    assert (s.start_timeout, s.stop_timeout, s.corosync_stop_timeout) == (60.0, 90.0, 20.0)


def test_every_variable_has_a_default_and_a_description():
    for var, (default, description) in settings.VARIABLES.items():
        assert var.startswith("PCMK_") and var.upper() == var
        assert isinstance(default, str) and description


GOOD = [
    # env, attribute, expected value
    ({"PCMK_CLUSTER_NAME": "prod"}, "cluster_name", "prod"),
    ({"PCMK_CLUSTER_NAME": "a.b_c-1"}, "cluster_name", "a.b_c-1"),
    ({"PCMK_CLUSTER_NAME": "x" * 64}, "cluster_name", "x" * 64),
    ({"PCMK_TRANSPORT": "udpu"}, "transport", "udpu"),
    ({"PCMK_TRANSPORT": "knet"}, "transport", "knet"),
    ({"PCMK_TOKEN_TIMEOUT": "5000"}, "token_ms", 5000),
    ({"PCMK_TOKEN_TIMEOUT": " 5000 "}, "token_ms", 5000),
    ({"PCMK_TOKEN_TIMEOUT": ""}, "token_ms", None),
    ({"PCMK_TOKEN_TIMEOUT": "600000"}, "token_ms", 600000),
    ({"PCMK_CONSENSUS_TIMEOUT": "4000"}, "consensus_ms", 4000),
    ({"PCMK_TOKEN_COEFFICIENT": "0"}, "token_coefficient_ms", 0),
    ({"PCMK_TOKEN_COEFFICIENT": "650"}, "token_coefficient_ms", 650),
    ({"PCMK_TOKEN_COEFFICIENT": ""}, "token_coefficient_ms", None),
    ({"PCMK_TOKEN_TIMEOUT": "1000", "PCMK_CONSENSUS_TIMEOUT": "1200"}, "consensus_ms", 1200),
    ({"PCMK_START_TIMEOUT": "1"}, "start_timeout", 1.0),
    ({"PCMK_STOP_TIMEOUT": "86400"}, "stop_timeout", 86400.0),
    ({"PCMK_COROSYNC_STOP_TIMEOUT": "5"}, "corosync_stop_timeout", 5.0),
    ({"PCMK_QUORUM": ""}, "quorum", ()),
    ({"PCMK_QUORUM": "wait_for_all=1"}, "quorum", (("wait_for_all", "1"),)),
    (
        {"PCMK_QUORUM": " last_man_standing=1\nlast_man_standing_window=10000 "},
        "quorum",
        (("last_man_standing", "1"), ("last_man_standing_window", "10000")),
    ),
    (
        {"PCMK_QUORUM": "auto_tie_breaker_node=lowest"},
        "quorum",
        (("auto_tie_breaker_node", "lowest"),),
    ),
    ({"PCMK_QUORUM": "auto_tie_breaker_node=1,3"}, "quorum", (("auto_tie_breaker_node", "1 3"),)),
    ({"PCMK_QUORUM": "expected_votes=3"}, "quorum", (("expected_votes", "3"),)),
    ({"PCMK_CLUSTER_PROPERTIES": ""}, "cluster_properties", ()),
    (
        {"PCMK_CLUSTER_PROPERTIES": "stonith-enabled=false no-quorum-policy=ignore"},
        "cluster_properties",
        (("stonith-enabled", "false"), ("no-quorum-policy", "ignore")),
    ),
    (
        {"PCMK_CLUSTER_PROPERTIES": "dc-deadtime=5s cluster-recheck-interval=1min"},
        "cluster_properties",
        (("dc-deadtime", "5s"), ("cluster-recheck-interval", "1min")),
    ),
]


@pytest.mark.parametrize(
    "env, attr, expected", GOOD, ids=[f"{a}-{i}" for i, (_, a, _) in enumerate(GOOD)]
)
def test_good_values(env, attr, expected):
    assert getattr(parsed(env), attr) == expected


def test_pacemakers_own_lowercase_variables_are_not_ours_to_refuse():
    assert parsed({"PCMK_logfile": "/dev/null", "PCMK_debug": "yes", "PCMK_ipc_buffer": "1"})


def test_variables_of_other_programs_are_ignored():
    assert parsed({"PATH": "/bin", "PCMK": "x", "pcmk_node_list": "x", "XPCMK_FOO": "1"})


BAD = [
    # id, env, fragments that one single problem must all contain (besides "Fix:")
    (
        "cluster-name-space",
        {"PCMK_CLUSTER_NAME": "my cluster"},
        ["PCMK_CLUSTER_NAME", "'my cluster'"],
    ),
    ("cluster-name-empty", {"PCMK_CLUSTER_NAME": ""}, ["PCMK_CLUSTER_NAME", "''"]),
    ("cluster-name-dash", {"PCMK_CLUSTER_NAME": "-x"}, ["PCMK_CLUSTER_NAME", "'-x'"]),
    ("cluster-name-long", {"PCMK_CLUSTER_NAME": "x" * 65}, ["PCMK_CLUSTER_NAME", "xxxx"]),
    ("cluster-name-brace", {"PCMK_CLUSTER_NAME": "a}b"}, ["PCMK_CLUSTER_NAME", "'a}b'"]),
    ("transport-unknown", {"PCMK_TRANSPORT": "tcp"}, ["PCMK_TRANSPORT", "'tcp'"]),
    ("transport-udp", {"PCMK_TRANSPORT": "udp"}, ["PCMK_TRANSPORT", "'udp'"]),
    ("transport-case", {"PCMK_TRANSPORT": "KNET"}, ["PCMK_TRANSPORT", "'KNET'"]),
    ("transport-empty", {"PCMK_TRANSPORT": ""}, ["PCMK_TRANSPORT", "''"]),
    ("token-word", {"PCMK_TOKEN_TIMEOUT": "fast"}, ["PCMK_TOKEN_TIMEOUT", "'fast'"]),
    ("token-negative", {"PCMK_TOKEN_TIMEOUT": "-1"}, ["PCMK_TOKEN_TIMEOUT", "'-1'"]),
    ("token-fraction", {"PCMK_TOKEN_TIMEOUT": "1.5"}, ["PCMK_TOKEN_TIMEOUT", "'1.5'"]),
    ("token-unit", {"PCMK_TOKEN_TIMEOUT": "3s"}, ["PCMK_TOKEN_TIMEOUT", "'3s'"]),
    ("token-exp", {"PCMK_TOKEN_TIMEOUT": "3e3"}, ["PCMK_TOKEN_TIMEOUT", "'3e3'"]),
    ("token-hex", {"PCMK_TOKEN_TIMEOUT": "0x100"}, ["PCMK_TOKEN_TIMEOUT", "'0x100'"]),
    ("token-too-small", {"PCMK_TOKEN_TIMEOUT": "99"}, ["PCMK_TOKEN_TIMEOUT", "'99'"]),
    ("token-too-big", {"PCMK_TOKEN_TIMEOUT": "600001"}, ["PCMK_TOKEN_TIMEOUT", "'600001'"]),
    ("token-zero", {"PCMK_TOKEN_TIMEOUT": "0"}, ["PCMK_TOKEN_TIMEOUT", "'0'"]),
    ("consensus-word", {"PCMK_CONSENSUS_TIMEOUT": "x"}, ["PCMK_CONSENSUS_TIMEOUT", "'x'"]),
    ("coefficient-negative", {"PCMK_TOKEN_COEFFICIENT": "-1"}, ["PCMK_TOKEN_COEFFICIENT", "'-1'"]),
    ("coefficient-word", {"PCMK_TOKEN_COEFFICIENT": "none"}, ["PCMK_TOKEN_COEFFICIENT", "'none'"]),
    (
        "coefficient-too-big",
        {"PCMK_TOKEN_COEFFICIENT": "600001"},
        ["PCMK_TOKEN_COEFFICIENT", "'600001'"],
    ),
    ("consensus-too-small", {"PCMK_CONSENSUS_TIMEOUT": "119"}, ["PCMK_CONSENSUS_TIMEOUT", "'119'"]),
    (
        "consensus-below-1.2-token",
        {"PCMK_TOKEN_TIMEOUT": "1000", "PCMK_CONSENSUS_TIMEOUT": "1199"},
        ["PCMK_CONSENSUS_TIMEOUT=1199", "1.2", "1200"],
    ),
    (
        "consensus-below-1.2-token-rounding",
        {"PCMK_TOKEN_TIMEOUT": "1001", "PCMK_CONSENSUS_TIMEOUT": "1201"},
        ["PCMK_CONSENSUS_TIMEOUT=1201", "at least 1202"],
    ),
    ("start-timeout-zero", {"PCMK_START_TIMEOUT": "0"}, ["PCMK_START_TIMEOUT", "'0'"]),
    ("start-timeout-word", {"PCMK_START_TIMEOUT": "soon"}, ["PCMK_START_TIMEOUT", "'soon'"]),
    ("stop-timeout-big", {"PCMK_STOP_TIMEOUT": "86401"}, ["PCMK_STOP_TIMEOUT", "'86401'"]),
    (
        "corosync-stop-timeout-unit",
        {"PCMK_COROSYNC_STOP_TIMEOUT": "20s"},
        ["PCMK_COROSYNC_STOP_TIMEOUT", "'20s'"],
    ),
    ("quorum-no-value", {"PCMK_QUORUM": "wait_for_all"}, ["PCMK_QUORUM", "'wait_for_all'"]),
    ("quorum-empty-value", {"PCMK_QUORUM": "wait_for_all="}, ["PCMK_QUORUM", "'wait_for_all='"]),
    ("quorum-no-key", {"PCMK_QUORUM": "=1"}, ["PCMK_QUORUM", "'=1'"]),
    ("quorum-unknown", {"PCMK_QUORUM": "two_nodes=1"}, ["PCMK_QUORUM", "'two_nodes=1'"]),
    ("quorum-provider", {"PCMK_QUORUM": "provider=x"}, ["PCMK_QUORUM", "'provider=x'"]),
    (
        "quorum-bool-word",
        {"PCMK_QUORUM": "wait_for_all=yes"},
        ["PCMK_QUORUM", "'wait_for_all=yes'"],
    ),
    ("quorum-bool-2", {"PCMK_QUORUM": "two_node=2"}, ["PCMK_QUORUM", "'two_node=2'"]),
    ("quorum-int-zero", {"PCMK_QUORUM": "expected_votes=0"}, ["PCMK_QUORUM", "'expected_votes=0'"]),
    (
        "quorum-int-word",
        {"PCMK_QUORUM": "last_man_standing_window=10s"},
        ["PCMK_QUORUM", "'last_man_standing_window=10s'"],
    ),
    (
        "quorum-atb-node",
        {"PCMK_QUORUM": "auto_tie_breaker_node=first"},
        ["PCMK_QUORUM", "'auto_tie_breaker_node=first'"],
    ),
    (
        "quorum-atb-node-list",
        {"PCMK_QUORUM": "auto_tie_breaker_node=1,,2"},
        ["PCMK_QUORUM", "'auto_tie_breaker_node=1,,2'"],
    ),
    (
        "properties-no-value",
        {"PCMK_CLUSTER_PROPERTIES": "stonith-enabled"},
        ["PCMK_CLUSTER_PROPERTIES", "'stonith-enabled'"],
    ),
    (
        "properties-upper-name",
        {"PCMK_CLUSTER_PROPERTIES": "Stonith-Enabled=false"},
        ["PCMK_CLUSTER_PROPERTIES", "'Stonith-Enabled=false'"],
    ),
    (
        "properties-bad-value",
        {"PCMK_CLUSTER_PROPERTIES": "dc-deadtime=2s;rm"},
        ["PCMK_CLUSTER_PROPERTIES", "'dc-deadtime=2s;rm'"],
    ),
    ("unknown-var-typo", {"PCMK_NODELIST": TWO}, ["PCMK_NODELIST", "did you mean PCMK_NODE_LIST?"]),
    ("unknown-var-short", {"PCMK_TOKEN": "1"}, ["PCMK_TOKEN", "did you mean PCMK_TOKEN_TIMEOUT?"]),
    (
        "unknown-var-far",
        {"PCMK_ZZZZZZZZZZZZZZZZZ": "1"},
        ["PCMK_ZZZZZZZZZZZZZZZZZ", "not a variable"],
    ),
]


@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
def test_bad_values(case):
    _, env, fragments = case
    err = refuse(env)
    assert err.exit_code == ExitCode.CONFIG == 2
    matching = [p for p in err.problems if all(f in p for f in fragments)]
    assert matching, f"no single problem contains all of {fragments}:\n{err.message()}"
    for problem in matching:
        assert "Fix:" in problem, f"problem has no 'Fix:' hint: {problem}"


def test_every_settings_problem_is_reported_at_once():
    env = {
        "PCMK_CLUSTER_NAME": "bad name",
        "PCMK_TRANSPORT": "tcp",
        "PCMK_TOKEN_TIMEOUT": "abc",
        "PCMK_CONSENSUS_TIMEOUT": "-3",
        "PCMK_START_TIMEOUT": "0",
        "PCMK_STOP_TIMEOUT": "forever",
        "PCMK_COROSYNC_STOP_TIMEOUT": "1.5",
        "PCMK_QUORUM": "wait_for_all=yes bogus=1 lonely",
        "PCMK_CLUSTER_PROPERTIES": "X=1 ok-name=<bad>",
        "PCMK_NODELIST": "x",
        "PCMK_NODE_LIST": "192.0.2.11 !!!",
    }
    err = refuse(env, H1)
    msg = err.message()
    for fragment in [
        "PCMK_CLUSTER_NAME='bad name'",
        "PCMK_TRANSPORT='tcp'",
        "PCMK_TOKEN_TIMEOUT='abc'",
        "PCMK_CONSENSUS_TIMEOUT='-3'",
        "PCMK_START_TIMEOUT='0'",
        "PCMK_STOP_TIMEOUT='forever'",
        "PCMK_COROSYNC_STOP_TIMEOUT='1.5'",
        "'wait_for_all=yes'",
        "'bogus=1'",
        "'lonely'",
        "'X=1'",
        "'ok-name=<bad>'",
        "PCMK_NODELIST is not",
        "'!!!'",
    ]:
        assert fragment in msg, f"{fragment!r} missing from:\n{msg}"
    assert len(err.problems) == 14


def test_consensus_alone_and_token_alone_are_not_compared_with_defaults():
    assert parsed({"PCMK_CONSENSUS_TIMEOUT": "1000"}).consensus_ms == 1000
    assert parsed({"PCMK_TOKEN_TIMEOUT": "10000"}).consensus_ms is None


@pytest.mark.parametrize(
    "value",
    ["²", "①", "３０００", "١٢٣٤"],
    ids=["superscript", "circled", "fullwidth", "arabic-indic"],
)
@pytest.mark.parametrize("var", ["PCMK_TOKEN_TIMEOUT", "PCMK_START_TIMEOUT", "PCMK_QUORUM"])
def test_non_ascii_digits_never_crash(var, value):
    """str.isdigit() is true for all of these, but int() fails on the first two.

    Either outcome is fine: refused with a ConfigError naming the value, or accepted and
    written as a plain ASCII number. Any other exception is a bug (exit code 1, traceback).
    """
    env = {var: f"expected_votes={value}" if var == "PCMK_QUORUM" else value}
    try:
        cluster = load(env)
    except ConfigError as err:
        assert any(value in p and "Fix:" in p for p in err.problems), err.message()
    else:
        assert corosync_conf.render(cluster).isascii()


def test_standalone_refuses_two_node_like_a_one_node_list():
    """two_node=1 on a single node is refused for a 1-entry list; standalone is one node too."""
    one = refuse({"PCMK_NODE_LIST": H1, "PCMK_QUORUM": "two_node=1"}, H1)
    assert "two_node=1" in one.message()
    standalone = refuse({"PCMK_QUORUM": "two_node=1"})
    assert "two_node=1" in standalone.message()


def test_quorum_words_keep_their_order_in_the_cluster():
    cluster = load({"PCMK_NODE_LIST": THREE, "PCMK_QUORUM": "wait_for_all=1 expected_votes=3"}, H1)
    assert cluster.quorum == (("wait_for_all", "1"), ("expected_votes", "3"))


def test_readme_documents_every_variable():
    from pathlib import Path

    from pcmk_launch.settings import VARIABLES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [v for v in VARIABLES if f"| `{v}` |" not in readme]
    assert not missing, f"README's configuration table lacks {missing}"


@pytest.mark.parametrize(("mode", "loose"), [(0o400, False), (0o600, False), (0o440, True)])
def test_a_group_or_world_readable_key_is_flagged_for_a_warning(mode, loose):
    from pcmk_launch import authkey
    from tests.unit.scenarios import CONF_DIR, KEY, FakeKeys, load

    reader = FakeKeys({f"{CONF_DIR}/authkey": authkey.KeyFile(KEY.data, uid=0, mode=mode)})
    cluster = load({"PCMK_NODE_LIST": "192.0.2.11 192.0.2.12"}, "192.0.2.11", key_reader=reader)
    assert cluster.crypto.loose is loose


def test_metrics_default_off_on_port_9664():
    s = parsed({})
    assert (s.metrics, s.metrics_address) == (False, ":9664")
    s = parsed({"PCMK_METRICS": "on", "PCMK_METRICS_ADDRESS": "[2001:db8::1]:9100"})
    assert (s.metrics, s.metrics_address) == (True, "[2001:db8::1]:9100")


@pytest.mark.parametrize("address", ["9664", "x:9664", ":0", ":65536", "192.0.2.999:1", "[zz]:1"])
def test_bad_metrics_settings_are_all_reported(address):
    problems = Problems()
    settings.parse_settings({"PCMK_METRICS": "yes", "PCMK_METRICS_ADDRESS": address}, problems)
    assert len(problems.items) == 2
    assert "PCMK_METRICS='yes'" in problems.items[0] and "Fix: use on or off" in problems.items[0]
    assert "PCMK_METRICS_ADDRESS" in problems.items[1] and "Fix:" in problems.items[1]
