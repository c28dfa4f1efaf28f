"""IPMI BMC simulators for the soak's namespace hosts (SOAK_FENCING=ipmi).

One ipmi_sim (Debian's openipmi) per node, each on its own address on the switch, in a "bmc"
namespace host of its own: the path fence_ipmilan (Debian's fence-agents) takes on bare
metal, from pacemaker-fenced on a node to the BMC of the node to fence. Each ipmi_sim's
`chassis_control` program (tests/soak/chassis_control.py) forwards Get Chassis Status and
Chassis Control power off/on to the runner over a unix socket; the runner powers the host
off (its processes killed, the addresses a reboot loses dropped) and on (its launcher
started again). Power state is the runner's: a host whose launcher crashed is still "on",
as a machine whose OS died is.

The BMC port is never cut by a fault: it stands for an out-of-band management network that
stays up while a node's own link is down.

`PowerSocket` and `start_sim` are the parts without namespaces: tests/image/test_profile_a.py
runs its BMCs with them on the host, one port each on a docker network's gateway address.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socketserver
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.harness.hosts import Host, Network, wait_for

HERE = Path(__file__).resolve().parent
CHASSIS_CONTROL = HERE / "chassis_control.py"
BMC_ADDR0 = 230  # the BMC host's own address; node i's BMC answers on 192.0.2.(230 + i)
USER = "admin"
# The BMC model ipmi_sim emulates (its example ipmisim1.emu): a bare BMC at IPMB 0x20.
EMU = "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n"
# ipmi_sim does not answer Get Channel Cipher Suites: ipmitool 1.8.19 then waits 10 s per
# call before it falls back, unless the suite is given (3: SHA1 + AES-128, the usual one).
CIPHER = "3"

Power = Callable[[str, str], str]  # (op: status|on|off, node) -> "1"/"0" or "ok"


def lan_conf(name: str, address: str, control: str, password: str, port: int = 623) -> str:
    """ipmi_sim's lan.conf (ipmi_lan(5)) for one BMC: IPMI 2.0 (lanplus) on address:port
    (UDP), one admin user, chassis power through ``control``."""
    return f"""name "{name}"
set_working_mc 0x20
  startlan 1
    addr {address} {port}
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid {secrets.token_hex(16)}
  endlan
  chassis_control "{control}"
  user 2 true "{USER}" "{password}" admin 10 md5
"""


def stonith_params(address: str, password: str, node: str) -> list[str]:
    """`pcs stonith create NAME fence_ipmilan ...` parameters for one node's BMC."""
    return [
        f"ip={address}",
        f"username={USER}",
        f"password={password}",
        "lanplus=1",
        f"cipher={CIPHER}",
        f"pcmk_host_list={node}",
    ]


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        words = self.rfile.readline().decode(errors="replace").split()
        server: _Server = self.server  # type: ignore[assignment]
        try:
            op, node = words
            answer = server.power(op, node)
        except Exception as e:  # an answer for ipmi_sim's log, never a crash of the server
            answer = f"error: {type(e).__name__}: {e}"
        self.wfile.write(answer.encode() + b"\n")


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    power: Power


class PowerSocket:
    """The unix socket every BMC's chassis_control asks (``status|on|off NODE``); each
    request is answered by ``power`` in a thread of its own. close() removes it."""

    def __init__(self, path: Path, power: Power):
        self.path = path
        self.server = _Server(str(path), _Handler)
        self.server.power = power
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def start_sim(
    d: Path,
    name: str,
    address: str,
    sock: Path,
    password: str,
    port: int = 623,
    wrap: Sequence[str] = (),
) -> subprocess.Popen:
    """One ipmi_sim, the BMC of node ``name``, on UDP address:port, in directory ``d`` (its
    config, state and log); its chassis power goes to the PowerSocket at ``sock``. ``wrap``
    runs it elsewhere (``ip netns exec NS``)."""
    (d / "state").mkdir(parents=True, exist_ok=True)
    control = f"/usr/bin/python3 {CHASSIS_CONTROL} {sock} {name}"
    conf = d / "lan.conf"
    conf.write_text(lan_conf(f"bmc-{name}", address, control, password, port))
    conf.chmod(0o600)  # it holds the BMC password
    (d / "sim.emu").write_text(EMU)
    with open(d / "ipmi_sim.log", "ab") as log:
        return subprocess.Popen(
            [*wrap, "ipmi_sim", "-n", "-c", str(conf), "-f", str(d / "sim.emu"),
             "-s", str(d / "state")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=d,
        )  # fmt: skip


class Bmcs:
    """The BMC host, one ipmi_sim per node and the power socket; close() ends them all."""

    def __init__(self, net: Network, nodes: list[Host], power: Power):
        self.password = secrets.token_urlsafe(12)
        self.host = net.add_host(name="bmc", address=f"{net.subnet}.{BMC_ADDR0}")
        self.dir = self.host.dir
        self.address = {h.name: f"{net.subnet}.{BMC_ADDR0 + i}" for i, h in enumerate(nodes, 1)}
        self.procs: dict[str, subprocess.Popen] = {}
        sock = self.dir / "power.sock"
        self.power_socket = PowerSocket(sock, power)
        try:
            for name, addr in self.address.items():
                self.host.ip("addr", "add", f"{addr}/24", "dev", "eth0")
                self._start_sim(name, addr, sock)
        except BaseException:
            self.close()
            raise

    def _start_sim(self, name: str, addr: str, sock: Path) -> None:
        self.procs[name] = start_sim(
            self.dir / f"ipmi-{name}", name, addr, sock, self.password,
            wrap=["ip", "netns", "exec", self.host.netns],
        )  # fmt: skip

    def stonith_params(self, node: str) -> list[str]:
        return stonith_params(self.address[node], self.password, node)

    def wait_ready(self, client: Host, timeout: float = 30) -> None:
        """Every BMC answers fence_ipmilan's status from ``client`` (options on stdin,
        as pacemaker-fenced passes them: the password stays off every command line)."""
        for node, addr in self.address.items():

            def answers(addr: str = addr) -> bool:
                opts = f"action=status\nip={addr}\nusername={USER}\npassword={self.password}\n"
                opts += f"lanplus=1\ncipher={CIPHER}\n"
                res = client.run(["fence_ipmilan"], input=opts, check=False, timeout=30)
                return res.returncode == 0

            wait_for(answers, timeout, f"BMC of {node} ({addr}) answers fence_ipmilan")

    def close(self) -> None:
        """Stop the simulators (by pid) and the socket; the BMC host goes with its network."""
        for p in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.power_socket.close()
