"""Soak runner: a seeded random fault sequence against 5 real nodes under the launcher.

    python -m tests.soak.run --seconds 600 --seed 1 [--fencing off|ipmi]
        [--json build/soak.json --md docs/soak.md --junit build/soak.xml]

Imperative shell around tests/soak/schedule.py (what to do) and tests/soak/judge.py (what
is wrong). Needs root, corosync, pacemaker, pcs and resource-agents (tests/harness).
Every violation is printed with seed and step; exit 1 when there was any.

--fencing off (stonith-enabled=false): the kept-address power cut and a SIGKILLed corosync
(unclean losses) are expected to leave the VIP on two hosts: measured (seconds until one
holder is left), not failed (judge.dup_vip_tolerated).

--fencing ipmi: fence_ipmilan against one ipmi_sim BMC per node (tests/soak/bmc.py), whose
power off kills the host and drops its addresses. Two VIP holders are then a violation,
except while one of them is being powered off (the fence time).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import sys
import threading
import time
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.harness import hosts
from tests.harness.cluster import LAUNCHER_ARGV, cluster_state, launcher_env
from tests.harness.hosts import Host, Network, wait_for
from tests.hostdeps import first_line, install_hint
from tests.soak import judge
from tests.soak.bmc import Bmcs
from tests.soak.schedule import SUBDAEMONS, Fault, cut_for_side, schedule

N_NODES = 5
VIP = "192.0.2.201"  # not the VIP of the other cluster tests (192.0.2.100)
CLIENT_ADDR = "192.0.2.60"
# The launcher's corosync token for 5 nodes (3000 + 650 per node above 2) and consensus
# (1.2 x token): a fault has "settled" once membership could have changed, plus a margin.
TOKEN_S = 3.0 + 0.65 * (N_NODES - 2)
SETTLE_S = TOKEN_S + 1.2 * TOKEN_S + 3.0
CONVERGE_BOUND_S = 120.0
FENCING = ("off", "ipmi")
STOP_TIMEOUT_S = 150.0
# Each clone id as parse_crm_mon lists it -> on how many nodes it must run when all are up.
EXPECT = {"vip": 1, "dummy": N_NODES, "stateful": N_NODES}


class Soak:
    def __init__(self, seed: int, seconds: float, fencing: str = "off"):
        self.seed = seed
        self.seconds = seconds
        self.fencing = fencing
        self.violations: list[dict] = []
        self.records: list[dict] = []
        self.dup_vip: list[dict] = []
        self.counter = 0
        self.step: Fault | None = None
        self.net = Network()
        self.nodes: list[Host] = [self.net.add_host() for _ in range(N_NODES)]
        self.client = self.net.add_host(name="client", address=CLIENT_ADDR)
        self.env = launcher_env(self.nodes)
        self.cut: set[str] = set()  # nodes cut off from the switch (either way)
        self.down: set[str] = set()  # nodes deliberately not running
        self._dup_since: float | None = None
        self._watch_stop = threading.Event()
        self._lock = threading.Lock()
        # The BMCs' view (fencing ipmi): power per node, power-offs under way, what they did.
        self.powered = {h.name: True for h in self.nodes}
        self.being_fenced: set[str] = set()
        self.fence_events: list[dict] = []
        self.cut_carrier: set[str] = set()
        self._life = {h.name: threading.RLock() for h in self.nodes}  # start/kill of one host
        self._closing = False
        self._step_t0 = time.monotonic()
        self.bmcs: Bmcs | None = None

    # ---- reporting -------------------------------------------------------------------

    def violation(self, what: str) -> None:
        step = self.step.step if self.step else -1
        kind = self.step.kind if self.step else "setup"
        v = {"seed": self.seed, "step": step, "kind": kind, "what": what}
        with self._lock:
            self.violations.append(v)
        print(f"VIOLATION seed={self.seed} step={step} ({kind}): {what}", flush=True)

    # ---- observation -----------------------------------------------------------------

    def holders(self) -> dict[str, bool]:
        """node -> VIP configured on its eth0 while eth0 is up (it would answer ARP)."""
        out = {}
        for h in self.nodes:
            res = h.ip("-o", "-4", "addr", "show", "dev", "eth0", check=False).stdout
            link = h.ip("-o", "link", "show", "dev", "eth0", check=False).stdout
            out[h.name] = f"inet {VIP}/" in res and "state UP" in link
        return out

    def partition(self) -> list[set[str]]:
        connected = {h.name for h in self.nodes if h.name not in self.cut}
        return [connected] + [{n} for n in sorted(self.cut)]

    def _watch(self) -> None:
        """Continuously (every 0.5 s): never two VIP holders on the switch."""
        reported = None
        while not self._watch_stop.wait(0.5):
            holders = self.holders()
            problem = judge.vip_holders_problem(holders, self.partition())
            step = self.step
            expected = judge.dup_vip_tolerated(
                step.kind if step else None,
                self.fencing,
                {n for n, has in holders.items() if has},
                set(self.being_fenced),
            )
            if problem and expected:
                if self._dup_since is None:
                    self._dup_since = time.monotonic()
            elif self._dup_since is not None:
                self.dup_vip.append(
                    {
                        "step": step.step if step else -1,
                        "seconds": time.monotonic() - self._dup_since,
                    }
                )
                self._dup_since = None
            if problem and not expected and problem != reported:
                self.violation(problem)
            reported = problem

    def state_of(self, h: Host) -> dict | None:
        try:
            return cluster_state(h, timeout=15)
        except Exception:
            return None

    def comms(self, h: Host) -> list[str]:
        """The process names running on a host (ps' comm column)."""
        try:
            return h.run(["ps", "-eo", "comm="], timeout=10).stdout.splitlines()
        except Exception:
            return []

    def raw_failures(self, h: Host) -> list[str]:
        try:
            out = h.run(["crm_mon", "-1", "--output-as=xml"], timeout=15).stdout
        except Exception:
            return []
        root = ET.fromstring(out)
        promoted = [
            r
            for r in root.iter("resource")
            if r.get("id") == "stateful" and r.get("role") in ("Promoted", "Master")
        ]
        fails = [
            f"{f.get('op_key')} on {f.get('node')}: {f.get('exitreason') or f.get('exitstatus')}"
            for f in root.iter("failure")
        ]
        if len(promoted) != 1:
            fails.append(f"stateful promoted on {len(promoted)} nodes")
        return fails

    def converge(self, t0: float) -> float | None:
        """Wait until every node sees the whole cluster converged; seconds since t0."""
        last: list[str] = ["not polled"]
        deadline = t0 + CONVERGE_BOUND_S
        while time.monotonic() < deadline:
            problems = []
            for h in self.nodes:
                st = self.state_of(h) if h.running else None
                if st is None:
                    problems.append(f"{h.name}: no crm_mon answer")
                    continue
                problems += [
                    f"{h.name}: {p}" for p in judge.convergence_problems(st, self.names, EXPECT)
                ]
                missing = judge.missing_subdaemons(self.comms(h), SUBDAEMONS)
                if missing:
                    problems.append(f"{h.name}: {', '.join(missing)} not running")
            if not problems:
                promoted = [p for p in self.raw_failures(self.nodes[0]) if "promoted on" in p]
                if not promoted:
                    return time.monotonic() - t0
                problems = promoted
            last = problems
            time.sleep(1)
        self.violation(f"not converged within {CONVERGE_BOUND_S:.0f}s: {'; '.join(last[:6])}")
        return None

    @property
    def names(self) -> list[str]:
        return [h.name for h in self.nodes]

    # ---- actions ----------------------------------------------------------------------

    def start(self, h: Host) -> None:
        """Start the launcher, unless it runs already (a BMC power-on may have started it)
        or the BMC holds the host powered off (its power-on will)."""
        with self._life[h.name]:
            self.down.discard(h.name)
            if not h.running and self.powered[h.name] and not self._closing:
                h.start(LAUNCHER_ARGV, self.env)

    def kill(self, h: Host) -> None:
        with self._life[h.name]:
            h.kill()

    # ---- the BMCs' power (fencing ipmi; tests/soak/bmc.py calls these) ------------------

    def power(self, op: str, node: str) -> str:
        """A BMC's chassis power request. Off and on answer at once and act in a thread, as
        a real BMC does: fence_ipmilan then polls the status until it changes."""
        if node not in self.powered:
            return f"unknown node {node}"
        if op == "status":
            return "1" if self.powered[node] else "0"
        if op not in ("on", "off"):
            return f"unknown operation {op}"
        if op == "off":
            self.being_fenced.add(node)
        act = self._power_off if op == "off" else self._power_on
        threading.Thread(target=act, args=(node,), daemon=True).start()
        return "ok"

    def _fence_event(self, node: str, what: str, had_vip: bool = False) -> None:
        step = self.step
        ev = {
            "step": step.step if step else -1,
            "kind": step.kind if step else "setup",
            "node": node,
            "what": what,
            "after_s": round(time.monotonic() - self._step_t0, 1),
            "had_vip": had_vip,
        }
        with self._lock:
            self.fence_events.append(ev)
        vip = " (it still held the VIP)" if had_vip else ""
        print(f"  BMC: {node} powered {what} {ev['after_s']}s into the step{vip}", flush=True)

    def _power_off(self, node: str) -> None:
        h = self.net.host(node)
        try:
            with self._life[node]:
                h.kill()
                # What a reboot loses: every address but the static one (the VIP first).
                out = h.ip("-o", "-4", "addr", "show", "dev", "eth0").stdout
                cidrs = re.findall(r"inet (\S+)", out)
                for cidr in cidrs:
                    if cidr.split("/")[0] != h.address:
                        h.ip("addr", "del", cidr, "dev", "eth0", check=False)
                self.powered[node] = False
            self._fence_event(node, "off", any(c.startswith(VIP + "/") for c in cidrs))
        except Exception as e:
            self.violation(f"BMC power off of {node} failed: {type(e).__name__}: {e}")
        finally:
            self.being_fenced.discard(node)

    def _power_on(self, node: str) -> None:
        h = self.net.host(node)
        try:
            with self._life[node]:
                self.powered[node] = True
                # A booting machine brings its own interface up again (a cable stays pulled).
                if "state DOWN" in h.ip("-o", "link", "show", "dev", "eth0").stdout and (
                    node not in self.cut_carrier
                ):
                    h.ip("link", "set", "eth0", "up")
                    self.cut.discard(node)
                self.start(h)
            self._fence_event(node, "on")
        except Exception as e:
            self.violation(f"BMC power on of {node} failed: {type(e).__name__}: {e}")

    def stop(self, h: Host) -> None:
        """Graceful stop: SIGTERM the launcher; it must exit 0 without any SIGKILL."""
        try:
            rc = h.stop(STOP_TIMEOUT_S)
        except TimeoutError:
            self.violation(f"{h.name} launcher did not stop within {STOP_TIMEOUT_S:.0f}s")
            return
        log = h.log_path.read_text(errors="replace")
        log = log[log.rfind("==== harness: start") :]
        if rc != 0:
            self.violation(f"{h.name} launcher stop exited {rc}")
        if "SIGKILL" in log:
            self.violation(f"{h.name} launcher stop used SIGKILL")
        self.check_no_strays(h)

    def check_no_strays(self, h: Host) -> None:
        """A stopped host has no process left in its network namespace."""
        with contextlib.suppress(OSError):
            pids = hosts._pids_in_netns(hosts._netns_inode(h.netns))
            if pids:
                self.violation(f"{h.name} stopped but pids {pids} remain in its netns")

    def check_zombies(self) -> None:
        """No zombie that stays a zombie for a second (the launcher reaps orphans)."""

        def zombies(h: Host) -> set[str]:
            try:
                res = h.run(["ps", "-eo", "pid=,stat=,comm="], check=False, timeout=10).stdout
            except Exception:  # powered off by its BMC meanwhile
                return set()
            return {
                line.split()[0] + " " + line.split()[-1]
                for line in res.splitlines()
                if len(line.split()) >= 3 and line.split()[1].startswith("Z")
            }

        for h in self.nodes:
            if not h.running:
                continue
            first = zombies(h)
            if first:
                time.sleep(1)
                if h.running and (left := first & zombies(h)):
                    self.violation(f"{h.name} zombies: {sorted(left)}")

    def pidof(self, h: Host, name: str) -> list[int]:
        try:
            res = h.run(["pidof", name], check=False, timeout=10)
        except Exception:  # powered off by its BMC meanwhile
            return []
        return [int(p) for p in res.stdout.split()]

    def admin(self) -> Host:
        for h in self.nodes:
            if h.running and h.name not in self.cut:
                return h
        raise RuntimeError("no running, connected node")

    def bump_counter(self) -> None:
        self.counter += 1
        try:
            self.admin().run(
                [
                    "crm_attribute",
                    "--type",
                    "crm_config",
                    "--name",
                    "soak-counter",
                    "--update",
                    str(self.counter),
                ],
                timeout=30,
            )
        except Exception as e:
            self.violation(f"could not write soak-counter={self.counter}: {e}")

    def check_counter(self) -> None:
        for h in self.nodes:
            if not h.running:
                self.violation(f"{h.name} not running when the soak-counter is read back")
                continue
            res = h.run(
                [
                    "crm_attribute",
                    "--type",
                    "crm_config",
                    "--name",
                    "soak-counter",
                    "--query",
                    "--quiet",
                ],
                check=False,
                timeout=30,
            )
            if res.stdout.strip() != str(self.counter):
                self.violation(f"{h.name} soak-counter {res.stdout.strip()!r}, want {self.counter}")

    def restart_policy(self) -> None:
        """A node whose launcher exited by itself is started again (restart: always)."""
        for h in self.nodes:
            if not h.running and h.name not in self.down and self.powered[h.name]:
                rc = h.returncode
                print(f"  {h.name} launcher exited {rc}; restart policy starts it", flush=True)
                self.start(h)

    def apply(self, f: Fault) -> None:
        hs = [self.net.host(n) for n in f.targets]
        h = hs[0]
        p = f.params
        if f.kind in ("power_cut_keep", "power_cut_drop"):
            if f.kind == "power_cut_keep":
                self.kill(h)
            else:
                with self._life[h.name]:
                    h.power_cut()
            self.check_no_strays(h)
            self.down.add(h.name)
            time.sleep(p["down"])
            self.start(h)
        elif f.kind == "graceful_stop":
            self.down.add(h.name)
            self.stop(h)
            time.sleep(p["down"])
            self.start(h)
        elif f.kind == "restart":
            self.down.add(h.name)
            self.stop(h)
            self.start(h)
        elif f.kind in ("partition_carrier", "partition_admin"):
            holder = next((n for n, has in self.holders().items() if has), None)
            cut = cut_for_side(f.targets, p["side"], holder, [n.name for n in self.nodes])
            if cut != f.targets:
                print(f"  VIP on {holder}, side={p['side']}: cutting {','.join(cut)}", flush=True)
            hs = [self.net.host(n) for n in cut]
            for x in hs:
                if f.kind == "partition_carrier":
                    x.link_down()
                    self.cut_carrier.add(x.name)
                else:
                    x.ip("link", "set", "eth0", "down")
                self.cut.add(x.name)
            time.sleep(SETTLE_S + p["hold"])
            for x in hs:
                if f.kind == "partition_carrier":
                    x.link_up()
                    self.cut_carrier.discard(x.name)
                else:
                    x.ip("link", "set", "eth0", "up")
                self.cut.discard(x.name)
        elif f.kind == "link_flap":
            for _ in range(p["flaps"]):
                h.link_down()
                time.sleep(p["period"])
                h.link_up()
                time.sleep(p["period"])
        elif f.kind == "kill_subdaemon":
            for pid in self.pidof(h, p["daemon"]):
                h.run(["kill", "-KILL", str(pid)], check=False)
        elif f.kind == "kill_corosync":
            for pid in self.pidof(h, "corosync"):
                h.run(["kill", "-KILL", str(pid)], check=False)
            try:
                wait_for(lambda: not h.running, 90, f"{h.name} launcher exits after corosync died")
            except hosts.WaitTimeout:
                self.violation(f"{h.name} launcher still running 90s after corosync was killed")
        elif f.kind == "standby":
            self.admin().run(["crm_standby", "--node", h.name, "--update", "on"], timeout=30)
            time.sleep(SETTLE_S + p["hold"])
            self.admin().run(["crm_standby", "--node", h.name, "--update", "off"], timeout=30)
        elif f.kind == "resource_fail":
            rid = p["resource"]
            res = self.admin().run(
                ["crm_resource", "--fail", "--resource", rid, "--node", h.name],
                check=False,
                timeout=30,
            )
            if res.returncode != 0:  # the fault did not happen: its step proves nothing
                self.violation(
                    f"fault not applied: crm_resource --fail {rid} exited {res.returncode}:"
                    f" {res.stderr.strip()[:200]}"
                )
        else:
            raise ValueError(f.kind)

    # ---- the run ----------------------------------------------------------------------

    def setup(self) -> None:
        self.client.start(["/bin/sleep", "infinity"])
        for h in self.nodes:
            self.start(h)
        a = self.nodes[0]
        wait_for(
            lambda: self.state_of(a) is not None and len(self.state_of(a)["online"]) == N_NODES,
            120,
            "5 nodes online",
        )
        if self.fencing == "ipmi":
            self.setup_fencing(a)
        else:
            a.run(["pcs", "property", "set", "stonith-enabled=false"], timeout=60)
        a.run(
            [
                "pcs",
                "resource",
                "create",
                "vip",
                "ocf:heartbeat:IPaddr2",
                f"ip={VIP}",
                "cidr_netmask=24",
                "nic=eth0",
                "op",
                "monitor",
                "interval=5s",
            ],
            timeout=60,
        )
        a.run(
            [
                "pcs",
                "resource",
                "create",
                "dummy",
                "ocf:pacemaker:Dummy",
                "op",
                "monitor",
                "interval=10s",
                "clone",
            ],
            timeout=60,
        )
        a.run(
            ["pcs", "resource", "create", "stateful", "ocf:pacemaker:Stateful", "promotable"],
            timeout=60,
        )
        t = self.converge(time.monotonic())
        if t is None:
            raise RuntimeError("the cluster never converged at setup")
        print(f"setup converged after {t:.1f}s", flush=True)

    def setup_fencing(self, a: Host) -> None:
        """One ipmi_sim per node and one fence_ipmilan device per node, then stonith on."""
        self.bmcs = Bmcs(self.net, self.nodes, self.power)
        self.bmcs.wait_ready(a)
        for h in self.nodes:
            res = a.run(
                ["pcs", "stonith", "create", f"fence-{h.name}", "fence_ipmilan",
                 *self.bmcs.stonith_params(h.name), "op", "monitor", "interval=60s"],
                check=False, timeout=60,
            )  # fmt: skip
            if res.returncode != 0:  # not HostCommandError: its text would show the password
                raise RuntimeError(f"pcs stonith create fence-{h.name}: {res.stderr.strip()}")
        a.run(["pcs", "property", "set", "stonith-enabled=true"], timeout=60)

    def run(self) -> int:
        watcher = threading.Thread(target=self._watch, daemon=True)
        t_start = time.monotonic()
        try:
            self.setup()
            watcher.start()
            faults = schedule(self.seed, self.names, 10_000)
            for f in faults:
                if time.monotonic() - t_start >= self.seconds:
                    break
                self.step = f
                print(f"{time.strftime('%H:%M:%S')} {f.describe()}", flush=True)
                self.bump_counter()
                t0 = self._step_t0 = time.monotonic()
                self.apply(f)
                time.sleep(SETTLE_S)
                self.restart_policy()
                took = self.converge(t0)
                fails = self.raw_failures(self.nodes[0])
                explained = f.kind in ("resource_fail", "kill_subdaemon", "power_cut_keep")
                if self.fencing != "off" and any(
                    e["step"] == f.step and e["what"] == "off" for e in self.fence_events
                ):
                    explained = True  # a fenced node's resources were lost with it
                if fails and not explained:
                    self.violation(f"failed actions: {'; '.join(fails)}")
                if fails:
                    self.admin().run(["crm_resource", "--cleanup"], check=False, timeout=60)
                self.check_counter()
                self.check_zombies()
                self.records.append({"step": f.step, "kind": f.kind, "converge_s": took})
                print(f"  converged after {took if took is None else round(took, 1)}s", flush=True)
        except Exception as e:  # a harness error ends the run and is reported like a violation
            self.violation(f"runner error: {type(e).__name__}: {e}")
        finally:
            self._watch_stop.set()
            with contextlib.suppress(RuntimeError):
                watcher.join(5)
            self._closing = True  # a BMC power-on from now on starts nothing
            for h in self.nodes:
                if h.running:
                    self.stop(h)
            self.elapsed = time.monotonic() - t_start
            if self.bmcs is not None:
                self.bmcs.close()
            hosts.teardown_all([self.net])
        return 1 if self.violations else 0


def require_ipmi() -> None:
    """fence_ipmilan, its ipmitool and ipmi_sim are there; else skip (CI=true: fail), as
    hosts.require_harness does."""
    missing = [c for c in ("fence_ipmilan", "ipmitool", "ipmi_sim") if not shutil.which(c)]
    if not missing:
        return
    msg = f"--fencing ipmi needs {', '.join(missing)}; {install_hint(missing)}"
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError(msg + " (CI=true: refusing to skip)")
    raise unittest.SkipTest(msg)


def versions() -> dict[str, str]:
    """What the run ran on, for the report: daemons, agents, kernel, Python, this tree."""

    def package(name: str) -> str:
        return first_line(["dpkg-query", "-W", "-f", "${Version}\n", name])

    tree = first_line(["git", "-C", str(Path(__file__).parent), "describe", "--always", "--dirty"])
    return {
        "corosync": first_line(["corosync", "-v"]).rsplit(" ", 1)[-1].strip("'."),
        "pacemaker": first_line(["pacemakerd", "--version"]).removeprefix("Pacemaker "),
        "resource-agents": package("resource-agents"),
        "fence-agents": package("fence-agents"),
        "openipmi": package("openipmi"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "tree": tree,
    }


def write(path: str | None, text: str) -> None:
    """Replace ``path`` whole (a reader never sees half a report); None: not asked for."""
    if path is None:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(path + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 600)))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", 1)))
    ap.add_argument("--json", default="build/soak.json")  # make soak: docs/soak-<fencing>.json
    ap.add_argument("--md", default="docs/soak.md")
    ap.add_argument("--junit", help="also write the run as JUnit XML (make test counts it)")
    ap.add_argument("--fencing", default=os.environ.get("SOAK_FENCING", "off"))
    a = ap.parse_args(argv)
    if a.fencing not in FENCING:
        print(
            f"soak: SOAK_FENCING (--fencing) is {a.fencing!r}: must be one of"
            f" {', '.join(FENCING)}; e.g. make soak SOAK_FENCING=ipmi",
            file=sys.stderr,
        )
        return 2
    meta: dict = {"seed": a.seed, "fencing": a.fencing}
    try:
        hosts.require_harness()
        if a.fencing == "ipmi":
            require_ipmi()
    except unittest.SkipTest as e:  # not CI: skip, saying what is missing
        print(f"soak: skipped: {e}", flush=True)
        write(a.junit, judge.junit_xml(meta, [], [], skipped=str(e)))
        return 0
    except RuntimeError as e:  # CI=true: a missing prerequisite fails
        print(f"soak: {e}", file=sys.stderr, flush=True)
        v = [{"seed": a.seed, "step": -1, "kind": "setup", "what": str(e)}]
        write(a.junit, judge.junit_xml(meta, [], v))
        return 1
    hosts.cleanup_stale_sessions()
    soak = Soak(a.seed, a.seconds, a.fencing)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rc = soak.run()
    summary = judge.summarize(soak.records)
    meta |= {
        "seconds": soak.elapsed,
        "nodes": N_NODES,
        "bound": CONVERGE_BOUND_S,
        "settle": SETTLE_S,
        "steps": len(soak.records),
        "dup_vip": soak.dup_vip,
        "fence_events": soak.fence_events,
        "versions": versions(),
    }
    md = judge.render_markdown(meta, summary, soak.violations)
    print(md)
    report = {**meta, "summary": summary, "records": soak.records, "violations": soak.violations}
    write(a.json, json.dumps(report, indent=1))
    if a.md is not None:
        old = Path(a.md).read_text() if Path(a.md).exists() else None
        write(a.md, judge.merge_report(old, a.fencing, md, FENCING))
    write(a.junit, judge.junit_xml(meta, soak.records, soak.violations))
    return rc


if __name__ == "__main__":
    sys.exit(main())
