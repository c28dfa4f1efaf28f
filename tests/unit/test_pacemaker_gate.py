"""image/pacemaker-gate: holds a Pacemaker daemon back until the sockets it connects to first
listen, then execs the real one with the same pid and arguments. Driven here as pacemakerd
runs it (under the daemon's name) against a fake /proc/net/unix and fake real daemons."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from pcmk_launch.procs import PACEMAKER_SUBDAEMONS

GATE = Path(__file__).resolve().parents[2] / "image" / "pacemaker-gate"


def socket_line(name: str) -> str:
    """A /proc/net/unix line of a listening socket: abstract ones show their NULs as @."""
    return f"0000000000000000: 00000002 00000000 00010000 0001 01 4242 {name}\n"


class Gate:
    """A directory laid out as the image's /usr/lib/pacemaker, with a fake /proc/net/unix."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.unix = tmp / "unix"
        self.unix.write_text("Num       RefCount Protocol Flags    Type St Inode Path\n")
        self.real = tmp / "gated"
        self.real.mkdir()
        self.ran = tmp / "ran"

    def listen(self, *names: str) -> None:
        with self.unix.open("a") as f:
            f.writelines(socket_line(n) for n in names)

    def start(self, name: str, *args: str, tries: int = 250) -> subprocess.Popen[str]:
        real = self.real / name
        real.write_text(f'#!/bin/sh\necho "$$ $*" > {self.ran}\n')
        real.chmod(0o755)
        link = self.tmp / name
        link.symlink_to(GATE)
        env = {
            "PATH": "/usr/bin:/bin",
            "GATE_UNIX": str(self.unix),
            "GATE_DIR": str(self.real),
            "GATE_TRIES": str(tries),
        }
        return subprocess.Popen([str(link), *args], env=env, stderr=subprocess.PIPE, text=True)

    def ran_as(self) -> tuple[int, str]:
        pid, _, args = self.ran.read_text().strip().partition(" ")
        return int(pid), args


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    return Gate(tmp_path)


def test_it_stands_in_for_three_of_pacemakers_daemons() -> None:
    out = subprocess.run([str(GATE), "--gated"], capture_output=True, text=True, check=True)
    gated = out.stdout.split()
    assert gated == ["pacemaker-fenced", "pacemaker-attrd", "pacemaker-controld"]
    assert set(gated) <= set(PACEMAKER_SUBDAEMONS)


@pytest.mark.parametrize(
    ("name", "sockets"),
    [
        ("pacemaker-fenced", ["@cib_rw@@@@"]),
        ("pacemaker-attrd", ["@cib_rw@@@@"]),
        ("pacemaker-controld", ["@cib_rw@@@@", "@stonith-ng@@", "@attrd@@@@"]),
        # libqb's socket files (/etc/libqb/force-filesystem-sockets)
        ("pacemaker-controld", ["/run/cib_rw", "/run/stonith-ng", "/run/attrd"]),
        ("pacemaker-based", []),  # not gated: straight through
    ],
)
def test_listening_sockets_let_the_daemon_start_at_once(
    gate: Gate, name: str, sockets: list[str]
) -> None:
    gate.listen(*sockets)
    p = gate.start(name, "--a", "b c")
    assert p.wait(10) == 0
    assert p.stderr is not None and p.stderr.read() == ""
    # exec, not a child: pacemakerd watches the pid it started
    assert gate.ran_as() == (p.pid, "--a b c")


def test_the_controller_waits_for_each_of_its_sockets(gate: Gate) -> None:
    gate.listen("@cib_rw@@@@", "@cib_ro@@@@", "@stonith-ng-other@@", "@attrdx@@")
    p = gate.start("pacemaker-controld")
    time.sleep(0.3)  # several of its 20 ms looks: a name that only starts the same is no match
    assert p.poll() is None and not gate.ran.exists()
    gate.listen("@stonith-ng@@@")
    time.sleep(0.3)
    assert p.poll() is None and not gate.ran.exists()
    gate.listen("@attrd@@@@")
    assert p.wait(10) == 0
    assert gate.ran_as()[0] == p.pid


def test_a_socket_that_never_listens_delays_the_daemon_but_does_not_stop_it(gate: Gate) -> None:
    p = gate.start("pacemaker-fenced", tries=3)
    assert p.wait(10) == 0
    assert p.stderr is not None
    assert p.stderr.read() == (
        "pacemaker-gate: pacemaker-fenced: cib_rw is not listening after 5 s; starting anyway\n"
    )
    assert gate.ran_as()[0] == p.pid
