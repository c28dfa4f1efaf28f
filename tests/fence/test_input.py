"""fence_docker_api's input: stdin key=value lines, the command line, option checks, metadata.
No Docker: nothing here opens a connection."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

# --- stdin ------------------------------------------------------------------------------------


def test_stdin_lines_comments_last_value_wins(agent):
    opts, warnings = agent.parse_stdin(
        "# a comment\n"
        "\n"
        "action=status\n"
        "   plug=node1\n"
        "plug=node2\n"
        "socket=/run/a=b.sock\n"
        "nodename=node2\n"
        "nodeid=2\n"
        "api_timeout=5  \r\n"
    )
    assert opts == {
        "action": "status",
        "plug": "node2",
        "socket": "/run/a=b.sock",  # the value runs from the first `=`
        "nodename": "node2",
        "nodeid": "2",
        "api_timeout": "5",
    }
    assert warnings == []


def test_stdin_aliases_and_what_is_ignored(agent):
    opts, warnings = agent.parse_stdin(
        "option=off\nipaddr=dockerhost\nport=ctr1\nfrobnicate=1\njust a line\n=x\n"
    )
    assert opts == {"action": "off", "ip": "dockerhost", "port": "ctr1"}
    assert len(warnings) == 3, warnings
    assert "unknown parameter 'frobnicate'" in warnings[0]
    assert "not key=value" in warnings[1] and "not key=value" in warnings[2]


def test_what_pacemaker_sends_is_understood(agent):
    """Pacemaker 2.1.5 sends nodename, port (from pcmk_host_map or the node name) and the
    device's own parameters; a configured plug is the container."""
    opts, warnings = agent.parse_stdin("nodename=node3\naction=off\nport=node3\nplug=ctr-3\n")
    assert warnings == []
    config, problems = agent.build_config(opts)
    assert problems == [] and config.plug == "ctr-3" and config.action == "off"
    config, _ = agent.build_config({"action": "off", "port": "ctr-3", "nodename": "node3"})
    assert config.plug == "ctr-3"
    config, _ = agent.build_config({"action": "off", "nodename": "node3"})
    assert config.plug == "node3"  # the API: nodename if no port


def test_unknown_stdin_parameter_is_a_warning_not_a_failure(run, engine):
    res = run(stdin=f"action=status\nplug=node1\nsocket={engine.socket}\nbogus=1\n")
    assert res.rc == 0 and "Status: ON" in res.out
    assert "WARNING: ignoring unknown parameter 'bogus'" in res.err


# --- command line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["-o", "off", "-n", "node1"],
        ["-ooff", "-nnode1"],
        ["--action=off", "--plug=node1"],
        ["--action", "OFF", "--plug", "node1"],
    ],
)
def test_command_line_forms(agent, argv):
    config, problems = agent.build_config(agent.parse_cli(argv))
    assert problems == [] and (config.action, config.plug) == ("off", "node1")


def test_command_line_booleans_and_values(agent):
    opts = agent.parse_cli(
        ["-o", "list", "-a", "dockerhost", "-u", "2376", "-z", "--missing-as-off=0",
         "--api-timeout", "3", "--power-timeout=7", "--delay", "1.5", "-C", ";", "-v"]
    )  # fmt: skip
    assert opts == {
        "action": "list",
        "ip": "dockerhost",
        "ipport": "2376",
        "ssl": "1",
        "missing_as_off": "0",
        "api_timeout": "3",
        "power_timeout": "7",
        "delay": "1.5",
        "separator": ";",
        "verbose": "1",
    }
    config, problems = agent.build_config(opts)
    assert problems == []
    assert config.ssl and config.ip == "dockerhost" and not config.missing_as_off
    assert (config.api_timeout, config.power_timeout, config.delay) == (3, 7, 1.5)
    assert config.endpoint == "https://dockerhost:2376"


def test_bad_command_line_exits_1_not_2(run):
    """argparse exits 2 on errors, which a fence agent's caller would read as "off"."""
    res = run("--no-such-option")
    assert res.rc == 1 and "bad command line" in res.err
    res = run("-o")
    assert res.rc == 1


def test_help_and_version(run, agent):
    res = run("--help")
    assert res.rc == 0 and "--plug" in res.out and "Exit codes" in res.out
    res = run("-V")
    assert res.rc == 0 and agent.VERSION in res.out


# --- option checks ----------------------------------------------------------------------------


def test_defaults(agent):
    config, problems = agent.build_config({"action": "status", "plug": "node1"})
    assert problems == []
    assert config.socket == "/var/run/docker.sock" and config.ip is None and not config.ssl
    assert config.endpoint == "unix:///var/run/docker.sock"
    assert (config.api_timeout, config.power_timeout, config.delay) == (10, 20, 0)
    assert config.missing_as_off and not config.port_as_ip and config.api_version is None
    assert agent.build_config({})[0].action == "reboot"  # the API's default action


def test_tcp_defaults_to_tls_on_2376_plain_is_2375(agent):
    config, problems = agent.build_config({"action": "list", "ip": "10.0.0.5"})
    assert problems == [] and config.ssl and config.ipport == 2376
    config, problems = agent.build_config({"action": "list", "ip": "10.0.0.5", "ssl": "0"})
    assert problems == [] and not config.ssl and config.endpoint == "http://10.0.0.5:2375"
    config, _ = agent.build_config({"action": "list", "ip": "[2001:db8::5]", "ipport": "9"})
    assert config.endpoint == "https://[2001:db8::5]:9"


def test_every_problem_is_reported_at_once(agent, tmp_path):
    _, problems = agent.build_config(
        {
            "action": "explode",
            "api_timeout": "soon",
            "power_timeout": "0",
            "delay": "-1",
            "ipport": "70000",
            "missing_as_off": "maybe",
            "api_version": "latest",
            "socket": "docker.sock",
        }
    )
    text = "\n".join(problems)
    for word in ("explode", "api_timeout", "power_timeout", "delay", "missing_as_off",
                 "api_version", "socket", "ipport"):  # fmt: skip
        assert word in text, (word, text)
    assert len(problems) == 8


@pytest.mark.parametrize(
    "opts, fragment",
    [
        ({"action": "off"}, "needs a plug"),
        ({"action": "status", "plug": "../../images"}, "not a container name"),
        ({"action": "status", "plug": "a b"}, "not a container name"),
        ({"action": "status", "plug": "node1", "port_as_ip": "1"}, "not an IP address"),
        ({"action": "list", "ssl": "1"}, "ssl=1 needs ip="),
        ({"action": "list", "ca": "/etc/hostname"}, "only used with TLS"),
        ({"action": "list", "ip": "h", "cert": "/nonexistent.pem"}, "not a readable file"),
        ({"action": "list", "ip": "h", "key": "/etc/hostname"}, "key= needs cert="),
        ({"action": "list", "power_timeout": "nan"}, "power_timeout"),
        ({"action": "list", "api_timeout": "inf"}, "api_timeout"),
    ],
)
def test_bad_options(agent, opts, fragment):
    _, problems = agent.build_config(opts)
    assert any(fragment in p for p in problems), problems


def test_plug_forms(agent):
    for plug, expected in (("/node1", "node1"), ("0123abcdef", "0123abcdef"), ("a.b_c-d", None)):
        config, problems = agent.build_config({"action": "status", "plug": plug})
        assert problems == [] and config.plug == (expected or plug)
    config, problems = agent.build_config(
        {"action": "status", "plug": "[2001:db8::0011]", "port_as_ip": "yes"}
    )
    assert problems == [] and config.plug == "2001:db8::11"


def test_validate_all(run):
    assert run("-o", "validate-all").rc == 0
    res = run("-o", "validate-all", "--power-timeout", "-3", "--socket", "relative")
    assert res.rc == 1 and res.err.count("ERROR") == 2
    res = run("-o", "validate-all", "-a", "dockerhost", "--ssl=0")
    assert res.rc == 0 and "unauthenticated" in res.err
    assert run(stdin="action=validate-all\nplug=node1\n").rc == 0


# --- metadata ---------------------------------------------------------------------------------

BOOLEAN = {"0", "1"}
CONTENT_TYPES = {"boolean", "string", "second", "integer", "select"}


def check_metadata(text: str) -> ET.Element:
    """The structure fence-agents' lib/metadata.rng prescribes (checked by hand: no schema
    library in the standard library)."""
    root = ET.fromstring(text)
    assert root.tag == "resource-agent"
    assert set(root.attrib) == {"name", "shortdesc"}
    children = [c.tag for c in root]
    assert children == ["longdesc", "vendor-url", "parameters", "actions"], children
    params = root.find("parameters")
    assert len(params) >= 1
    for p in params:
        assert p.tag == "parameter"
        assert set(p.attrib) <= {"name", "unique", "required", "deprecated", "obsoletes"}
        assert p.get("name") and p.get("unique") in BOOLEAN and p.get("required") in BOOLEAN
        assert p.get("deprecated", "0") in BOOLEAN
        tags = [c.tag for c in p]
        assert tags[:2] == ["getopt", "content"] and set(tags[2:]) == {"shortdesc"}, tags
        assert set(p.find("getopt").attrib) == {"mixed"}
        content = p.find("content")
        assert content.get("type") in CONTENT_TYPES and set(content.attrib) <= {"type", "default"}
        if content.get("type") == "boolean" and content.get("default") is not None:
            assert content.get("default") in BOOLEAN
        for desc in p.findall("shortdesc"):
            assert desc.get("lang") and (desc.text or "").strip()
    actions = root.find("actions")
    for a in actions:
        assert a.tag == "action" and set(a.attrib) <= {"name", "on_target", "automatic"}
        for flag in ("on_target", "automatic"):
            assert a.get(flag, "0") in BOOLEAN
    return root


def test_metadata_is_valid_and_complete(run, agent):
    res = run("-o", "metadata")
    assert res.rc == 0 and res.err == ""
    root = check_metadata(res.out)
    assert root.get("name") == "fence_docker_api"
    actions = [a.get("name") for a in root.iter("action")]
    for needed in ("on", "off", "reboot", "status", "list", "monitor", "metadata",
                   "validate-all"):  # fmt: skip
        assert needed in actions
    params = {p.get("name"): p for p in root.iter("parameter")}
    assert set(params) == {p.name for p in agent.PARAMS}
    for name in (
        "socket",
        "ip",
        "ipport",
        "ssl",
        "ca",
        "cert",
        "key",
        "plug",
        "port",
        "api_timeout",
        "power_timeout",
        "api_version",
        "missing_as_off",
        "delay",
    ):
        assert name in params, name  # fmt: skip
    assert params["plug"].get("obsoletes") == "port" and params["port"].get("deprecated") == "1"
    # Pacemaker passes the target itself: nothing is required of the device's configuration
    assert all(p.get("required") == "0" for p in params.values())
    assert params["socket"].find("content").get("default") == "/var/run/docker.sock"
    assert params["power_timeout"].find("content").get("type") == "second"
    # Every getopt names an option the command line really accepts
    parser_flags = {o for a in agent.cli_parser()._actions for o in a.option_strings}
    for p in params.values():
        for flag in p.find("getopt").get("mixed").replace(",", " ").split():
            assert flag.partition("=")[0] in parser_flags, flag


def test_metadata_from_stdin_ignores_bad_options(run):
    """Pacemaker asks for metadata with nothing but action=metadata (as user hacluster)."""
    res = run(stdin="action=metadata\n")
    assert res.rc == 0 and check_metadata(res.out) is not None
    res = run(stdin="action=metadata\npower_timeout=never\n")
    assert res.rc == 0 and res.out.startswith("<?xml")


def test_as_a_real_process(agent):
    """The file itself: stdin mode and command-line mode, exit codes of a real process."""
    cmd = [sys.executable, agent.__file__]
    meta = subprocess.run([*cmd, "-o", "metadata"], capture_output=True, text=True, timeout=30)
    assert meta.returncode == 0 and check_metadata(meta.stdout) is not None
    meta = subprocess.run(
        cmd, input="action=metadata\n", capture_output=True, text=True, timeout=30
    )
    assert meta.returncode == 0 and meta.stdout.startswith("<?xml")
    bad = subprocess.run(
        cmd, input="action=off\n", capture_output=True, text=True, timeout=30
    )  # no plug
    assert bad.returncode == 1 and "needs a plug" in bad.stderr
    down = subprocess.run(
        [*cmd, "-o", "status", "-n", "node1", "--socket", "/nonexistent/docker.sock"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert down.returncode == 1 and "cannot reach the Docker API" in down.stderr
