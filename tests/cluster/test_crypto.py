"""Encrypted and authenticated cluster traffic (issue "security"), with the real daemons.

A multi-node cluster is knet aes256/sha256 by default; the key comes from a shared
passphrase or an authkey file.  A host with another key never gets into the membership;
a host with no key refuses to start; PCMK_CRYPTO=off runs in clear text, with a warning.
The last test captures the traffic on the switch and looks for names in it.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

from tests.harness import hosts
from tests.harness.capture import COROSYNC_PORT, Capture, udp_datagrams
from tests.harness.cluster import (
    LAUNCHER_ARGV,
    cluster_state,
    launcher_env,
    wait_converged,
)
from tests.harness.hosts import Host

pytestmark = pytest.mark.root

OTHER_PASSPHRASE = "pdtest-passphrase-B-only-on-node4"
DERIVED_KEY = "/run/pcmk_launch/authkey"
OBSERVE_SECONDS = 15


def without_key(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "PCMK_AUTHKEY_PASSPHRASE"}


def totem(host: Host) -> dict[str, str]:
    """The totem section of the corosync.conf the launcher wrote on ``host``."""
    text = host.path("/etc/corosync/corosync.conf").read_text()
    section = re.search(r"^totem \{\n(.*?)^\}", text, re.M | re.S)
    assert section, text
    return dict(re.findall(r"^\s+(\w+): (\S+)$", section.group(1), re.M))


def membership(host: Host) -> tuple[set[int], bool, int, int]:
    """(corosync member node ids, quorate, total votes, expected votes) as ``host`` sees them."""
    members = host.run(["corosync-cmapctl", "-b", "runtime.members"]).stdout
    joined = re.findall(r"^runtime\.members\.(\d+)\.status \(str\) = joined$", members, re.M)
    q = host.run(["corosync-quorumtool", "-s"], check=False).stdout
    votes = re.search(r"^Total votes:\s+(\d+)", q, re.M)
    expected = re.search(r"^Expected votes:\s+(\d+)", q, re.M)
    assert votes and expected, q
    quorate = re.search(r"^Quorate:\s+Yes", q, re.M) is not None
    return {int(i) for i in joined}, quorate, int(votes.group(1)), int(expected.group(1))


def log_lines(host: Host) -> list[str]:
    return host.log_path.read_text(errors="replace").splitlines()


# ---------------------------------------------------------------------------


def test_host_with_another_key_is_never_admitted(make_cluster):
    c = make_cluster(4)
    good, bad = c.hosts[:3], c.hosts[3]
    env_a = launcher_env(c.hosts, names=True)
    env_b = {**env_a, "PCMK_AUTHKEY_PASSPHRASE": OTHER_PASSPHRASE}
    assert len(env_a["PCMK_NODE_LIST"].split()) == 4
    for h in good:
        h.start(LAUNCHER_ARGV, env_a)
    bad.start(LAUNCHER_ARGV, env_b)
    t0 = time.monotonic()
    state = wait_converged(good, offline=[bad.name], timeout=60)
    print(f"\nTIMING 3 of 4 (4th with another key) converged: {time.monotonic() - t0:.1f}s")
    assert not state["nodes"][bad.name]["online"]

    for h in c.hosts:  # crypto is on by default, with the derived key
        conf = totem(h)
        assert (conf["crypto_cipher"], conf["crypto_hash"]) == ("aes256", "sha256"), conf
        assert conf["keyfile"] == DERIVED_KEY
    for h in c.hosts:
        stat = h.run(["stat", "-c", "%U %a %s", DERIVED_KEY]).stdout.split()
        assert stat == ["root", "400", "256"], (h.name, stat)
    keys = {h.name: h.run(["sha256sum", DERIVED_KEY]).stdout.split()[0] for h in c.hosts}
    assert len({keys[h.name] for h in good}) == 1 and keys[bad.name] != keys["node1"]

    # A bounded observation window: the 4th never gets in, the 3 keep quorum (3 of 4 votes).
    deadline = time.monotonic() + OBSERVE_SECONDS
    polls = 0
    while time.monotonic() < deadline:
        for h in good:
            assert membership(h) == ({1, 2, 3}, True, 3, 4), h.name
        assert membership(bad) == ({4}, False, 1, 4)
        state = cluster_state(good[polls % 3])
        assert state["online"] == ["node1", "node2", "node3"], state
        assert state["offline"] == [bad.name] and state["have_quorum"], state
        polls += 1
        time.sleep(1)
    assert polls >= 5
    quorum_list = good[0].run(["corosync-quorumtool", "-l"]).stdout
    assert re.findall(r"^\s+(\d+)\s+1 ", quorum_list, re.M) == ["1", "2", "3"], quorum_list
    # It is the key that keeps it out: both sides drop each other's packets as undecryptable.
    pattern = re.compile(r"corosync\[\d+\]: \[KNET  \] rx: Unable to decrypt packet from (\S+):")
    from_bad = {m.group(1) for h in good for ln in log_lines(h) if (m := pattern.search(ln))}
    assert from_bad == {bad.address}
    to_bad = {m.group(1) for ln in log_lines(bad) if (m := pattern.search(ln))}
    assert to_bad == {h.address for h in good}

    # The same host with the right passphrase joins.
    assert bad.stop(60) == 0
    bad.start(LAUNCHER_ARGV, env_a)
    t1 = time.monotonic()
    c.wait_converged(timeout=60)
    print(f"TIMING 4th restarted with the right key: 4 online after {time.monotonic() - t1:.1f}s")
    for h in c.hosts:
        assert membership(h) == ({1, 2, 3, 4}, True, 4, 4), h.name


def test_cluster_forms_with_a_keygen_authkey_file(make_cluster):
    c = make_cluster(3)
    key = subprocess.run(
        [*LAUNCHER_ARGV, "keygen"],
        capture_output=True,
        check=True,
        timeout=30,
        env={**hosts.BASE_ENV, "PYTHONPATH": launcher_env([])["PYTHONPATH"]},
    ).stdout
    assert len(key) == 256
    for h in c.hosts:
        path = h.path("/etc/corosync/authkey")
        path.write_bytes(key)
        os.chown(path, 0, 0)
        os.chmod(path, 0o400)
    env = without_key(launcher_env(c.hosts))
    for h in c.hosts:
        h.start(LAUNCHER_ARGV, env)
    c.wait_converged(timeout=60)
    for h in c.hosts:
        conf = totem(h)
        assert (conf["crypto_cipher"], conf["crypto_hash"]) == ("aes256", "sha256"), conf
        assert conf["keyfile"] == "/etc/corosync/authkey"
        assert h.run(["test", "-e", DERIVED_KEY], check=False).returncode == 1
        assert h.path("/etc/corosync/authkey").read_bytes() == key  # the launcher left it alone
        assert not [ln for ln in log_lines(h) if "authkey" in ln and "warning" in ln.lower()]


def test_multi_node_host_without_a_key_refuses_to_start(make_cluster):
    c = make_cluster(3)
    h = c.hosts[0]
    h.start(LAUNCHER_ARGV, without_key(launcher_env(c.hosts)))
    assert h.wait(30) == 2
    text = h.log_path.read_text()
    assert "configuration refused" in text and "nothing was written or started" in text
    assert "keygen" in text and "PCMK_AUTHKEY_PASSPHRASE" in text and "PCMK_CRYPTO=off" in text
    assert not h.path("/etc/corosync/corosync.conf").exists()
    assert not h.path("/etc/corosync/authkey").exists()
    assert "started corosync" not in text


def test_crypto_off_renders_none_warns_and_forms(make_cluster):
    c = make_cluster(3)
    env = without_key(launcher_env(c.hosts, PCMK_CRYPTO="off"))
    for h in c.hosts:
        h.start(LAUNCHER_ARGV, env)
    c.wait_converged(timeout=60)
    for h in c.hosts:
        conf = totem(h)
        assert (conf["crypto_cipher"], conf["crypto_hash"]) == ("none", "none"), conf
        assert "keyfile" not in conf
        warnings = [
            ln for ln in log_lines(h) if ln.startswith("[pcmk-launch] WARNING: PCMK_CRYPTO=off")
        ]
        assert len(warnings) == 1, log_lines(h)[:5]
        assert "neither encrypted nor authenticated" in warnings[0]


# ---------------------------------------------------------------------------
# what an eavesdropper on the switch sees

CLEAR_CLUSTER_NAME = "pdcleartext"
CLEAR_NAMES = ["pdnodename1", "pdnodename2", "pdnodename3"]
CLEAR_VALUE = "pdsecretvalue"


def capture_formation(make_cluster, crypto: str) -> tuple[list, dict]:
    """Form a 3-node cluster while capturing the switch; write a property that must reach
    every node; return (UDP datagrams on the corosync port, capture summary)."""
    c = make_cluster(3)
    node_list = " ".join(f"{n}={h.address}" for n, h in zip(CLEAR_NAMES, c.hosts, strict=True))
    extra = {"PCMK_CLUSTER_NAME": CLEAR_CLUSTER_NAME, "PCMK_NODE_LIST": node_list}
    env = launcher_env(c.hosts, **extra)
    if crypto == "off":
        env = without_key({**env, "PCMK_CRYPTO": "off"})
    with Capture(c.network, c.base_dir / f"crypto-{crypto}.pcap", 20_000, 90) as cap:
        for h in c.hosts:
            h.start(LAUNCHER_ARGV, env)
        wait_converged(c.hosts, online=CLEAR_NAMES, timeout=60)
        c.hosts[0].run(
            ["crm_attribute", "--type", "crm_config", "--name", "pd-probe", "--update", CLEAR_VALUE]
        )
        last = c.hosts[-1]
        hosts.wait_for(
            lambda: last.run(["crm_attribute", "-t", "crm_config", "-n", "pd-probe", "-G", "-q"],
                             check=False).stdout.strip(),
            30, f"the property to reach {last.name}", until=lambda v: v == CLEAR_VALUE,
        )  # fmt: skip
        time.sleep(1)
    summary = cap.stop()
    datagrams = list(udp_datagrams(cap.frames(), port=COROSYNC_PORT))
    for h in c.hosts:
        h.stop(60)
    print(f"\ncapture crypto={crypto}: {summary}, {len(datagrams)} corosync datagrams")
    assert summary["ended_by"] == "stopped", summary  # not cut short by the bounds
    # Every host talked, to every other one, on the corosync port.
    pairs = {(d.src, d.dst) for d in datagrams}
    addrs = [h.address for h in c.hosts]
    assert pairs >= {(a, b) for a in addrs for b in addrs if a != b}, pairs
    return datagrams, summary


def found_in(datagrams: list, needles: list[bytes]) -> dict[bytes, int]:
    """needle -> number of datagrams whose payload contains it."""
    return {n: sum(1 for d in datagrams if n in d.payload) for n in needles}


NEEDLES = [
    CLEAR_CLUSTER_NAME.encode(),  # the CIB's cluster-name property, replicated over CPG
    *(n.encode() for n in CLEAR_NAMES),  # node names in pacemaker's CPG messages
    CLEAR_VALUE.encode(),  # a CIB update
    b'crm_sys_from="crmd"',  # controller messages (XML)
    b't="attrd"',  # attribute manager messages
    b"stonith-ng",  # fencer messages
    b"<cib",  # CIB sync
]


def test_eavesdropper_sees_names_only_without_crypto(make_cluster):
    off, _ = capture_formation(make_cluster, "off")
    seen_off = found_in(off, NEEDLES)
    print("crypto off, datagrams containing:", seen_off)
    assert all(seen_off.values()), seen_off

    on, _ = capture_formation(make_cluster, "on")
    seen_on = found_in(on, NEEDLES)
    print("crypto on, datagrams containing:", seen_on)
    assert not any(seen_on.values()), seen_on
    assert len(on) > 100
    # and nothing readable at all: no run of 12 printable bytes in any payload
    printable = [d.payload for d in on if re.search(rb"[ -~]{12}", d.payload)]
    assert len(printable) <= len(on) // 100, printable[:5]
