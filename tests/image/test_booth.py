"""Multi-site clusters on a real engine (issue 27): two sites of two full nodes and a booth
arbitrator, each on a network of its own, joined only by a router container (no site shares a
layer-2 network with another). A ticket-constrained group (a VIP and a Dummy, loss-policy=stop)
runs at the site the ticket is granted to, and only there.

- The granted site is cut off (the router leaves its network): its booth cannot renew, the
  ticket expires there and Pacemaker stops the group; the other site acquires the ticket after
  expire + acquire-after and starts it. A watcher polls both sites every 0.5 s: never both.
- The arbitrator lost: nothing moves.
- `booth revoke` and `booth grant` move the ticket back, never both.
- The two sites lose each other but both reach the arbitrator: the holder keeps the ticket.
Ticket failover (cut to the group started at the other site) is printed as a TIMING line beside
the configured expire; it is not asserted.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from tests.image.dockerutil import (
    PASSPHRASE,
    PREFIX,
    ROOT,
    create_network,
    crm_mon,
    dexec,
    docker,
    inspect,
    measure,
    wait_for,
)

ARBITRATOR_IMAGE = os.environ.get("ARBITRATOR_IMAGE", "pacemaker_docker:arbitrator")
EXPIRE, ACQUIRE_AFTER = 20, 5
TICKET = f"db:expire={EXPIRE},acquire-after={ACQUIRE_AFTER},timeout=2,retries=3"
PROPS = "dc-deadtime=1s stonith-enabled=false"


class Sites:
    def __init__(self, image: str, resources):
        self.image, self.resources = image, resources
        self.nets, self.subnets = {}, {}
        for site in ("a", "b", "c"):  # c: the arbitrator's network
            self.nets[site], self.subnets[site] = create_network(resources, f"booth-{site}")
        self.booth_addr = {s: str(self.subnets[s][50]) for s in ("a", "b")}
        self.service_addr = {s: str(self.subnets[s][60]) for s in ("a", "b")}
        self.arbitrator_addr = str(self.subnets["c"][10])
        self.router = f"{PREFIX}-router"
        self.booth_env = [
            "-e", f"PCMK_BOOTH_SITES={self.booth_addr['a']} {self.booth_addr['b']}",
            "-e", f"PCMK_BOOTH_ARBITRATORS={self.arbitrator_addr}",
            "-e", f"PCMK_BOOTH_TICKETS={TICKET}",
            "-e", f"PCMK_BOOTH_AUTHKEY_PASSPHRASE={PASSPHRASE} booth",
        ]  # fmt: skip

    def name(self, node: str) -> str:
        return f"{PREFIX}-{node}"

    def gateway(self, site: str) -> str:
        return str(self.subnets[site][254])

    def route(self, container: str, site: str) -> None:
        """Routes to the other networks through the router, set from the host (the arbitrator
        image has no `ip`)."""
        pid = inspect(container, "{{.State.Pid}}")
        for other in ("a", "b", "c"):
            if other != site:
                subprocess.run(
                    ["nsenter", "-t", pid, "-n", "ip", "route", "replace",
                     str(self.subnets[other]), "via", self.gateway(site)],
                    check=True,
                )  # fmt: skip

    def unroute(self, container: str, other: str) -> None:
        """Cut this container off from another site's network (its route there goes)."""
        pid = inspect(container, "{{.State.Pid}}")
        subprocess.run(
            ["nsenter", "-t", pid, "-n", "ip", "route", "replace", "unreachable",
             str(self.subnets[other])],
            check=True,
        )  # fmt: skip

    def start_router(self) -> None:
        name = self.resources.container(self.router)
        docker(
            "run", "-d", "--name", name, "--network", self.nets["a"], "--ip", self.gateway("a"),
            "--sysctl", "net.ipv4.ip_forward=1", self.image, "sleep", "infinity",
            check=True,
        )  # fmt: skip
        for site in ("b", "c"):
            self.connect(site)

    def connect(self, site: str) -> None:
        docker("network", "connect", "--ip", self.gateway(site), self.nets[site], self.router,
               check=True)  # fmt: skip

    def start_site(self, site: str) -> None:
        nodes = [f"{site}1", f"{site}2"]
        addr = {n: str(self.subnets[site][10 + i]) for i, n in enumerate(nodes, 1)}
        node_list = " ".join(f"{n}={addr[n]}" for n in nodes)
        for n in nodes:
            name = self.resources.container(self.name(n))
            docker(
                "run", "-d", "--name", name, "--hostname", n, "--network", self.nets[site],
                "--ip", addr[n], "--cap-add=NET_ADMIN", "--cap-add=NET_RAW",
                "-e", f"PCMK_NODE_LIST={node_list}", "-e", f"PCMK_CLUSTER_NAME=site-{site}",
                "-e", f"PCMK_AUTHKEY_PASSPHRASE={PASSPHRASE}",
                "-e", f"PCMK_CLUSTER_PROPERTIES={PROPS}", *self.booth_env,
                "--stop-timeout", "120", self.image,
                check=True,
            )  # fmt: skip
            self.route(name, site)

    def start_arbitrator(self) -> None:
        name = self.resources.container(self.name("arb"))
        docker(
            "run", "-d", "--name", name, "--hostname", "arb", "--network", self.nets["c"],
            "--ip", self.arbitrator_addr, "-e", "PCMK_ROLE=arbitrator", *self.booth_env,
            ARBITRATOR_IMAGE,
            check=True,
        )  # fmt: skip
        self.route(name, "c")

    def configure(self, site: str) -> None:
        """The booth group (site address + booth-site) and the ticket-constrained group."""
        node = self.name(f"{site}1")
        for cmd in (
            ["pcs", "resource", "create", "booth-ip", "ocf:heartbeat:IPaddr2",
             f"ip={self.booth_addr[site]}", "cidr_netmask=24", "--group", "booth"],
            ["pcs", "resource", "create", "booth-site", "ocf:pacemaker:booth-site",
             "--group", "booth"],
            ["pcs", "resource", "create", "db-ip", "ocf:heartbeat:IPaddr2",
             f"ip={self.service_addr[site]}", "cidr_netmask=24", "--group", "db"],
            ["pcs", "resource", "create", "db-svc", "ocf:pacemaker:Dummy", "--group", "db"],
            ["cibadmin", "--create", "--scope", "constraints", "--xml-text",
             '<rsc_ticket id="db-needs-ticket" rsc="db" ticket="db" loss-policy="stop"/>'],
        ):  # fmt: skip
            out = dexec(node, *cmd)
            assert out.returncode == 0, f"{cmd}: {out.stdout}{out.stderr}"

    def running_at(self, site: str) -> bool | None:
        """Whether db-svc is started at this site (None: no answer from its nodes)."""
        for n in (f"{site}1", f"{site}2"):
            mon = crm_mon(self.name(n))
            if mon is not None:
                svc = mon.resources.get("db-svc", {})
                return svc.get("role") == "Started" and bool(svc.get("nodes"))
        return None

    def wait_running(self, site: str, timeout: float = 120) -> float:
        t0 = time.monotonic()
        wait_for(lambda: (self.running_at(site) is True, site), timeout, f"db at site {site}")
        return time.monotonic() - t0

    def booth(self, *args: str) -> str:
        out = dexec(self.name("arb"), "booth", *args, timeout=120)
        assert out.returncode == 0, f"booth {args}: {out.stdout}{out.stderr}"
        return out.stdout


class Watcher:
    """Polls both sites every 0.5 s; records every moment db-svc runs at both."""

    def __init__(self, s: Sites):
        self.s, self.both, self.polls = s, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            a, b = self.s.running_at("a"), self.s.running_at("b")
            self.polls += 1
            if a and b:
                self.both.append(time.monotonic())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        assert self.polls > 0
        assert not self.both, f"db ran at both sites at once ({len(self.both)} polls)"


@pytest.fixture(scope="module")
def sites(built_image, module_resources):
    if os.environ.get("PDTEST_NO_BUILD") != "1":
        out = subprocess.run(
            [
                "make",
                "-s",
                "-C",
                str(ROOT),
                "image-arbitrator",
                f"ARBITRATOR_IMAGE={ARBITRATOR_IMAGE}",
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    s = Sites(built_image, module_resources)
    s.start_router()
    s.start_arbitrator()
    for site in ("a", "b"):
        s.start_site(site)
    for site in ("a", "b"):
        wait_for(
            lambda site=site: (
                (m := crm_mon(s.name(f"{site}1"))) is not None and m.quorate and len(m.online) == 2,
                m,
            ),
            120,
            f"site {site} formed",
        )
        s.configure(site)
    wait_for(lambda: ("leader: NONE" in s.booth("list"), None), 60, "booth up, ticket not granted")
    s.booth("grant", "-s", s.booth_addr["a"], "db")
    s.wait_running("a")
    assert s.running_at("b") is False
    return s


def test_the_group_runs_at_the_granted_site_only(sites):
    s = sites
    listed = s.booth("list")
    assert f"leader: {s.booth_addr['a']}" in listed, listed
    status = dexec(s.name("a1"), "pcmk-launch", "status").stdout
    assert "ticket db: granted to this site" in status, status
    status = dexec(s.name("b1"), "pcmk-launch", "status").stdout
    assert "ticket db: not granted here" in status, status
    arb = dexec(s.name("arb"), "pcmk-launch", "status").stdout
    assert f"booth ticket db: held by {s.booth_addr['a']}" in arb, arb


def test_a_site_cut_off_loses_the_ticket_and_the_other_takes_over(sites):
    s = sites
    watcher = Watcher(s)
    try:
        docker("network", "disconnect", s.nets["a"], s.router, check=True)
        took = s.wait_running("b", timeout=EXPIRE * 4 + 60)
        wait_for(lambda: (s.running_at("a") is False, None), 60, "db stopped at the cut site")
    finally:
        watcher.stop()
    measure(
        f"booth ticket failover, site cut off (expire {EXPIRE} s, acquire-after {ACQUIRE_AFTER} s)",
        f"{took:.1f} s",
    )
    s.connect("a")  # heal: site a rejoins booth and the ticket stays where it is
    time.sleep(EXPIRE)
    assert s.running_at("b") is True and s.running_at("a") is False


def test_losing_the_arbitrator_moves_nothing(sites):
    s = sites
    watcher = Watcher(s)
    try:
        assert docker("stop", "-t", "30", s.name("arb"), timeout=60).returncode == 0
        time.sleep(EXPIRE * 2)
        assert s.running_at("b") is True and s.running_at("a") is False
        assert docker("start", s.name("arb"), timeout=60).returncode == 0
        s.route(s.name("arb"), "c")
    finally:
        watcher.stop()


def test_revoke_and_grant_move_the_ticket_cleanly(sites):
    s = sites
    watcher = Watcher(s)
    try:
        wait_for(
            lambda: (
                (out := dexec(s.name("arb"), "booth", "list")).returncode == 0
                and f"leader: {s.booth_addr['b']}" in out.stdout,
                out.stdout + out.stderr,
            ),
            60,
            "the arbitrator back in booth, seeing site b hold the ticket",
        )
        s.booth("revoke", "-s", s.booth_addr["b"], "db")
        wait_for(lambda: (s.running_at("b") is False, None), 60, "db stopped at site b")
        s.booth("grant", "-s", s.booth_addr["a"], "db")
        s.wait_running("a")
    finally:
        watcher.stop()


def test_sites_that_lose_each_other_but_reach_the_arbitrator_keep_the_ticket_where_it_is(sites):
    """booth's rule: the holder renews with the arbitrator's vote (2 of 3), so it keeps the
    ticket; the other site, with only the arbitrator's vote for it too, cannot take it."""
    s = sites
    assert s.running_at("a") is True
    watcher = Watcher(s)
    try:
        for site, other in (("a", "b"), ("b", "a")):
            for n in (f"{site}1", f"{site}2"):
                s.unroute(s.name(n), other)
        time.sleep(EXPIRE * 2)
        assert s.running_at("a") is True and s.running_at("b") is False
        listed = dexec(s.name("arb"), "booth", "list").stdout
        assert f"leader: {s.booth_addr['a']}" in listed, listed
    finally:
        for site in ("a", "b"):
            for n in (f"{site}1", f"{site}2"):
                s.route(s.name(n), site)
        watcher.stop()
