"""PostgreSQL with PAF as a promotable bundle of three replicas (examples/postgresql) on a
HostCluster (hostcluster.py), as the README's recipe lays it out: what the database tests in
test_bundle_hosts.py and `make demo-db` (demo/db.py) both set up and watch.

The client is tests/image/pgclient.py (PostgreSQL's wire protocol in the standard library),
run in a client host's network namespace; it reaches the database through the VIP.
"""

from __future__ import annotations

import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.image.bundleutil import build_base_image
from tests.image.dockerutil import ROOT, wait_for
from tests.image.hostcluster import HostCluster

PG = "pgsql"
VIP = "192.0.2.100"
PG_PORT = 5432
TABLE = "acked"
PGCLIENT = str(Path(__file__).with_name("pgclient.py"))


def build_pg_image(tag: str) -> str:
    """examples/postgresql FROM the bundle base of the base under test, tagged `tag`."""
    base = build_base_image()
    out = subprocess.run(
        ["docker", "build", "-q", "-t", tag, "--build-arg", f"BASE={base}",
         str(ROOT / "examples/postgresql")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return tag


def pg_query(client: str, sql: str, host: str = VIP) -> subprocess.CompletedProcess:
    """`sql` through the VIP (or `host`) from the client's network namespace."""
    return subprocess.run(
        ["ip", "netns", "exec", client, "python3", PGCLIENT, "query", host, str(PG_PORT),
         "postgres", "postgres", sql],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def bootstrap_pg(cluster: HostCluster, image: str) -> None:
    """What PAF leaves to the operator: a primary initialised on one host, cloned to the
    others, all stopped cleanly (`pgbundle init`, `serve`, `clone` of the example image)."""
    first, *others = cluster.engines.hosts
    mount = ["-v", "/srv/pgbundle:/var/lib/pgbundle", "--entrypoint", "/usr/local/sbin/pgbundle"]
    env = ["-e", "PGBUNDLE_TRUST_CIDR=192.0.2.0/24"]
    first.docker("run", "--rm", "--net=host", *mount, *env, image, "init", check=True)
    first.docker("run", "-d", "--name", "pgboot", "--net=host", *mount, image, "serve",
                 check=True)  # fmt: skip
    try:
        for host in others:
            wait_for(
                lambda h=host: (
                    (
                        o := h.docker(
                            "run",
                            "--rm",
                            "--net=host",
                            *mount,
                            image,
                            "clone",
                            first.address,
                            timeout=120,
                        )
                    ).returncode
                    == 0,
                    o.stderr[-500:],
                ),  # fmt: skip
                60,
                f"pg_basebackup on {host.name} from {first.name}",
                interval=2,
            )
    finally:
        first.docker("stop", "-t", "30", "pgboot", timeout=60)
        first.docker("rm", "-f", "pgboot")


def create_pg(cluster: HostCluster, image: str, monitor: int = 15) -> None:
    """The recipe: the bundle, PAF in it (monitors every `monitor` and `monitor`+1 s: PAF
    gives the standbys their promotion scores at the primary's monitor), the VIP and its
    constraints; then enabled."""
    node = cluster.any_up()
    cluster.pcs(
        node, "resource", "bundle", "create", PG, "container", "docker", f"image={image}",
        "replicas=3", "promoted-max=1", "network=host",
        f"options=-e PGBUNDLE_PRIMARY={VIP} -e PGBUNDLE_TRUST_CIDR=192.0.2.0/24",
        "run-command=/usr/local/sbin/pgbundle remoted",
        "network", "control-port=3123",
        "storage-map", "id=pgsql-data", "source-dir=/srv/pgbundle",
        "target-dir=/var/lib/pgbundle",
        "--disabled",
    )  # fmt: skip
    cluster.pcs(
        node, "resource", "create", "pgsqld", "ocf:pgbundle:pgsqlms",
        "op", "start", "timeout=60s", "op", "stop", "timeout=60s",
        "op", "promote", "timeout=30s", "op", "demote", "timeout=120s",
        "op", "monitor", f"interval={monitor}s", "timeout=10s", "role=Promoted",
        "op", "monitor", f"interval={monitor + 1}s", "timeout=10s", "role=Unpromoted",
        "op", "notify", "timeout=60s",
        "meta", "notify=true", "bundle", PG,
        "--force",  # the agent is in the bundle's image only: pcs cannot read its metadata
    )  # fmt: skip
    cluster.pcs(
        node, "resource", "create", "pgsql-vip", "ocf:heartbeat:IPaddr2", f"ip={VIP}",
        "cidr_netmask=24", "nic=eth0", "op", "monitor", "interval=10s",
    )  # fmt: skip
    cluster.pcs(node, "constraint", "colocation", "add", "pgsql-vip", "with", "Promoted", PG,
              "INFINITY")  # fmt: skip
    # The VIP comes up after the promotion and goes only after the demotion: a demoting
    # primary's walsenders still reach the standbys (which connect to the VIP) and hand them
    # its shutdown checkpoint. Without the second order the VIP goes first, the old primary
    # waits wal_sender_timeout (60 s) in vain and comes back on a forked timeline. Optional:
    # a transition computed after the demote (another resource's event aborts the first)
    # has no demote left, and a mandatory order then blocks the VIP's stop until it ends.
    cluster.pcs(node, "constraint", "order", "promote", PG, "then", "start", "pgsql-vip",
              "symmetrical=false")  # fmt: skip
    cluster.pcs(node, "constraint", "order", "demote", PG, "then", "stop", "pgsql-vip",
              "kind=Optional", "symmetrical=false")  # fmt: skip
    cluster.pcs(node, "resource", "enable", PG)


def promotion_scores(cluster: HostCluster) -> dict[str, int]:
    """PAF's promotion score (node attribute master-pgsqld) of each node that has one."""
    out = cluster.exec(cluster.any_up(), "crm_mon", "-1", "-A", "--output-as=xml", timeout=30)
    scores = {}
    for node in ET.fromstring(out.stdout).iter("node"):
        for attr in node.iter("attribute"):
            if attr.get("name") == "master-pgsqld":
                scores[node.get("name", "")] = int(attr.get("value", "-1"))
    return scores


def wait_primary(
    cluster: HostCluster, client: str, not_on: str | None, standbys: int = 1, timeout: float = 240
):
    """Until one replica is Promoted (not on node `not_on`), the VIP answers as a primary and
    every other running replica (at least `standbys`) streams from it; (the promoted
    replica, the time seen)."""

    def probe():
        reps = cluster.replicas(PG)
        promoted = [r for r in reps if r.role == "Promoted" and r.host and r.host != not_on]
        if len(promoted) != 1:
            return False, reps
        out = pg_query(client, "SELECT pg_is_in_recovery()")
        if out.stdout.strip() != "f":
            return False, (reps, out.stderr[-300:])
        streaming = pg_query(
            client, "SELECT application_name FROM pg_stat_replication"
            " WHERE state = 'streaming'",
        ).stdout.split()  # fmt: skip
        running = [r.guest for r in reps if r.role == "Unpromoted" and r.host]
        # PAF makes a standby promotable (a promotion score) only at the primary's monitor
        scores = promotion_scores(cluster)
        ready = all(scores.get(g, -1) >= 0 for g in running)
        ok = sorted(streaming) == sorted(running) and len(running) >= standbys and ready
        return ok, (promoted[0] if ok else (reps, streaming, scores))

    primary = wait_for(probe, timeout, "a primary behind the VIP with its standbys streaming")
    return primary, time.monotonic()


class Writer:
    """tests/image/pgclient.py writing numbered rows through the VIP from the client host."""

    def __init__(self, client, name: str) -> None:
        self.log = client.dir / f"{name}.log"
        self.log.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", client.netns, "python3", PGCLIENT, "write", VIP,
             str(PG_PORT), "postgres", "postgres", TABLE, str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def acks(self) -> list[tuple[int, float]]:
        """(row, monotonic time) of every acknowledged commit so far."""
        if not self.log.exists():
            return []
        return [
            (int(f[1]), float(f[2]))
            for f in (line.split() for line in self.log.read_text().splitlines())
            if f and f[0] == "ack"
        ]

    def wait_acks(self, count: int, after: float, what: str) -> None:
        wait_for(
            lambda: (len([t for _, t in self.acks() if t > after]) >= count, self.acks()[-3:]),
            120, what, interval=0.2,
        )  # fmt: skip

    def stop(self) -> list[tuple[int, float]]:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.acks()


def check_no_acknowledged_row_lost(client, acks) -> None:
    out = pg_query(client.netns, f"SELECT id FROM {TABLE}")
    assert out.returncode == 0, out.stderr
    present = {int(v) for v in out.stdout.split()}
    lost = sorted({n for n, _ in acks} - present)
    assert not lost, f"{len(lost)} acknowledged rows lost: {lost[:20]}"


def timeline(writer: Writer, at: float) -> str:
    """What the client saw from `at` to its first acknowledged commit after the outage, in
    seconds after `at`: failed commits and connections, reconnections."""
    acks = writer.acks()
    times = sorted(t for _, t in acks)
    end = next((b for a, b in zip(times, times[1:], strict=False) if b > at and b - a > 1), at)
    events = []
    for line in writer.log.read_text().splitlines():
        f = line.split()
        if len(f) < 2 or f[0] not in ("lost", "connected", "connect-failed"):
            continue
        t = float(f[2] if f[0] == "lost" else f[1])
        if at <= t <= end:
            what = f[3].rstrip(":") if f[0] == "lost" else (f[2].rstrip(":") if len(f) > 2 else "")
            events.append(f"{t - at:+.1f}s {f[0]} {what}".rstrip())
    events.append(f"{end - at:+.1f}s first commit acknowledged")
    return "; ".join(events[:12])


def outage(acks: list[tuple[int, float]], at: float) -> float:
    """The write outage after `at`: the longest time between two acknowledged commits, the
    second one after `at` (the client was told nothing in between)."""
    times = sorted(t for _, t in acks)
    return max(b - a for a, b in zip(times, times[1:], strict=False) if b > at)
