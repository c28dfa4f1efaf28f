"""Every golden config passes the real `corosync -t`, run in a throwaway network namespace.

`corosync -t` does check that one nodelist entry is an address of this host ("No valid name
found for local host", exit 8), so each golden is tested in a namespace holding exactly the
rendering host's addresses. Skips without root or corosync on a developer's machine; fails
in CI (CI=true).
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import subprocess
from pathlib import Path

import pytest

from pcmk_launch import corosync_conf
from pcmk_launch.errors import ConfigError
from tests.helpers.prereq import require_commands, require_root
from tests.unit.scenarios import BY_NAME, GOLDEN_DIR, load

_counter = itertools.count()
COROSYNC_TIMEOUT = 30


@pytest.fixture(autouse=True)
def _prereqs():
    require_root()
    require_commands("corosync", "ip")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


@contextlib.contextmanager
def netns(addrs: tuple[str, ...] | list[str]):
    """A fresh network namespace with lo up and the given addresses on dummy0."""
    name = f"pdunit{os.getpid()}{next(_counter)}"
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "set", "lo", "up")
        try:
            ip("-n", name, "link", "add", "dummy0", "type", "dummy")
        except subprocess.CalledProcessError:
            # Kernels without the dummy module (some CI sandboxes): a veth pair works too.
            ip("-n", name, "link", "add", "dummy0", "type", "veth", "peer", "name", "dummy0p")
            ip("-n", name, "link", "set", "dummy0p", "up")
        for addr in addrs:
            a = ipaddress.ip_address(addr)
            if a.is_loopback:
                continue  # lo already has 127.0.0.1 and ::1
            if a.version == 6:
                ip("-n", name, "addr", "add", f"{a}/64", "dev", "dummy0", "nodad")
            else:
                ip("-n", name, "addr", "add", f"{a}/24", "dev", "dummy0")
        ip("-n", name, "link", "set", "dummy0", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


# Inside `ip netns exec` the mount namespace is private too: a tmpfs over the key's directory
# gives corosync the authkey the config names, without touching the host's /etc or /run.
RUN_WITH_KEY = r"""
set -e
if [ -n "$2" ]; then
    dir=$(dirname "$2"); top=$dir
    while [ ! -d "$top" ]; do top=$(dirname "$top"); done
    mount -t tmpfs -o mode=0755 pdunit "$top"
    mkdir -p "$dir"
    head -c 256 /dev/urandom > "$2"
    chmod 0400 "$2"
fi
exec corosync -t -c "$1"
"""


def keyfile_of(text: str) -> str:
    for line in text.splitlines():
        key, _, value = line.strip().partition(": ")
        if key == "keyfile":
            return value
    return ""


def corosync_t(ns: str, path: Path) -> subprocess.CompletedProcess:
    """`corosync -t -c path` in the namespace, with a key where the config wants one."""
    keyfile = keyfile_of(path.read_text())
    return subprocess.run(
        ["ip", "netns", "exec", ns, "sh", "-c", RUN_WITH_KEY, "sh", str(path.resolve()), keyfile],
        capture_output=True,
        text=True,
        timeout=COROSYNC_TIMEOUT,
    )


def with_stderr_logging(text: str) -> str:
    """The same config, logging to stderr, so corosync's reasons for a refusal are visible.

    The launcher's own logging section sends corosync's messages to syslog; then `corosync -t`
    says nothing at all about a semantic error (only "parser error:" lines reach stderr).
    """
    head, sep, _ = text.partition("logging {")
    assert sep, "no logging section"
    return head + "logging {\n    to_stderr: yes\n    to_logfile: no\n    to_syslog: no\n}\n"


GOLDENS = sorted(GOLDEN_DIR.glob("*.conf"))


@pytest.mark.parametrize("golden", GOLDENS, ids=[p.stem for p in GOLDENS])
def test_golden_passes_corosync_t(golden: Path):
    scenario = BY_NAME.get(golden.stem)
    assert scenario is not None, f"{golden.name}: no scenario says which host it is for"
    with netns(scenario.local) as ns:
        result = corosync_t(ns, golden)
    assert result.returncode == 0, f"corosync -t refused {golden.name}: {result.stderr}"


def test_corosync_t_needs_a_local_address(tmp_path: Path):
    """A correct file fails `corosync -t` on a host that is not in its nodelist."""
    conf = tmp_path / "corosync.conf"
    conf.write_text(with_stderr_logging(BY_NAME["two_nodes"].path.read_text()))
    with netns(["192.0.2.99"]) as ns:
        result = corosync_t(ns, conf)
    assert result.returncode == 8
    assert "No valid name found for local host" in result.stderr


@pytest.mark.parametrize(
    "old, new, reason",
    [
        ("transport: knet", "transport: knot", "Invalid transport type"),
        ("nodeid: 2", "nodeid: two", 'Value of key "nodelist.node.1.nodeid"'),
        ("nodelist {", "nodelist", "parser error"),
    ],
    ids=["bad-transport", "bad-integer", "missing-brace"],
)
def test_corosync_t_refuses_a_broken_file(tmp_path: Path, old: str, new: str, reason: str):
    """What corosync -t does with a typo: exit code 8 and a reason on stderr."""
    text = with_stderr_logging(BY_NAME["two_nodes"].path.read_text())
    assert old in text
    conf = tmp_path / "corosync.conf"
    conf.write_text(text.replace(old, new, 1))
    with netns(BY_NAME["two_nodes"].local) as ns:
        result = corosync_t(ns, conf)
    assert result.returncode == 8, result
    assert reason in result.stderr


TWO = "192.0.2.11 192.0.2.12"


@pytest.mark.parametrize(
    "env",
    [
        {"PCMK_TOKEN_TIMEOUT": "100"},
        {"PCMK_NODE_LIST": TWO, "PCMK_TOKEN_TIMEOUT": "100"},
        {"PCMK_NODE_LIST": TWO, "PCMK_TOKEN_TIMEOUT": "600000", "PCMK_CONSENSUS_TIMEOUT": "720000"},
        {"PCMK_NODE_LIST": TWO, "PCMK_CONSENSUS_TIMEOUT": "120"},
        {"PCMK_NODE_LIST": TWO, "PCMK_TOKEN_TIMEOUT": "100", "PCMK_CONSENSUS_TIMEOUT": "120"},
        {"PCMK_CLUSTER_NAME": "c" * 64, "PCMK_QUORUM": "expected_votes=3600000"},
        {"PCMK_NODE_LIST": "n=" + ",".join(f"198.18.{i}.1" for i in range(8))},
        {"PCMK_NODE_LIST": " ".join(f"198.18.0.{i}" for i in range(1, 32)) + " 192.0.2.11"},
        {"PCMK_LOG_LEVEL": "debug"},
        {"PCMK_NODE_LIST": TWO, "PCMK_AUTHKEY_FILE": "/etc/corosync/authkey"},
        {"PCMK_NODE_LIST": TWO, "PCMK_TRANSPORT": "udpu"},
        {"PCMK_NODE_LIST": TWO, "PCMK_TRANSPORT": "udpu", "PCMK_CRYPTO": "off"},
        {
            "PCMK_NODE_LIST": " ".join(f"198.18.0.{i}" for i in range(1, 32)) + " 192.0.2.11",
            "PCMK_TOKEN_TIMEOUT": "600000",
            "PCMK_TOKEN_COEFFICIENT": "600000",
        },
        {
            "PCMK_NODE_LIST": "192.0.2.11 192.0.2.12 192.0.2.13",
            "PCMK_TOKEN_TIMEOUT": "750",
            "PCMK_TOKEN_COEFFICIENT": "0",
            "PCMK_CONSENSUS_TIMEOUT": "900",
        },
    ],
    ids=[
        "token-min-standalone",
        "token-min-2-nodes",
        "timeouts-max",
        "consensus-min",
        "token-and-consensus-min",
        "long-name-big-votes",
        "8-links",
        "32-nodes",
        "log-debug",
        "authkey-file",
        "udpu-crypto-default",
        "udpu-crypto-off",
        "coefficient-max-32-nodes",
        "fast-profile",
    ],
)
def test_values_the_launcher_accepts_pass_corosync_t(tmp_path: Path, env: dict[str, str]):
    """The launcher's limits must lie inside corosync's: what it accepts, corosync runs.

    Refusing such a value (with a ConfigError) passes this test as well.
    """
    if "PCMK_NODE_LIST" in env and env["PCMK_NODE_LIST"].startswith("n="):
        local = ["198.18.0.1"]
    elif "PCMK_NODE_LIST" in env:
        local = ["192.0.2.11"]
    else:
        local = []
    try:
        cluster = load(env, *local)
    except ConfigError:
        return  # refusing is fine too: the launcher must not accept what corosync refuses
    conf = tmp_path / "corosync.conf"
    conf.write_text(with_stderr_logging(corosync_conf.render(cluster)))
    with netns(local) as ns:
        result = corosync_t(ns, conf)
    assert result.returncode == 0, f"launcher accepted {env}, corosync -t says: {result.stderr}"
