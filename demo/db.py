"""`make demo-db`: the PostgreSQL bundle of the README on three Docker hosts, on this machine.

    python -m demo.db up | down | status | sql SQL | write [SECONDS] | cut NODE | poweron NODE
                       | stop NODE | start NODE

A promotable bundle needs one replica per host (`network=host`) and one node per host, which
one Docker engine cannot give. So `up` makes three hosts here the way the image tests do
(tests/image/engines.py): a network namespace each on a switch (192.0.2.0/24), each with its
own dockerd, /etc/pacemaker and /srv, and a management network (198.18.9.0/24) on which each
engine's API stands in for the host's BMC. On them: three full nodes with `--net=host`, a
fence_docker_api device each (through the management network), and the README's database
recipe (tests/image/pgcluster.py: examples/postgresql's image, its bootstrap, the bundle, PAF,
the VIP 192.0.2.100 and its constraints), plus a client host. Nothing touches this machine's
own network or its Docker engine's containers.

`up` starts a keeper process that holds all of it and tears it down on `down` (SIGTERM): the
hosts live as long as it does. The other commands read build/demo-db/state.json. Root only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = ROOT / "build" / "demo-db"
IMAGE = os.environ.get("IMAGE", "pacemaker_docker:latest")
PG_IMAGE = "pacemaker_docker:pgdemo"  # examples/postgresql, built by `up`
PROPS = "dc-deadtime=1s"
UP_TIMEOUT = 900  # building the database image first can take minutes


class DemoError(Exception):
    """A message for the user (exit 2)."""


class Paths:
    """The demo's files: its state (what the commands read), the keeper's pid and log."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.state = base / "state.json"
        self.pidfile = base / "keeper.pid"
        self.log = base / "keeper.log"


def fail(message: str) -> int:
    print(f"demo-db: {message}", file=sys.stderr)
    return 2


# --- the keeper: holds the hosts, the cluster and the database ----------------------------


def keep(paths: Paths) -> int:
    """Set everything up, write the state, wait for SIGTERM or SIGINT, tear down."""
    from tests.image.engines import Engines
    from tests.image.hostcluster import HostCluster
    from tests.image.pgcluster import (
        PG,
        TABLE,
        VIP,
        bootstrap_pg,
        build_pg_image,
        create_pg,
        pg_query,
        wait_primary,
    )

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print("building the database image (examples/postgresql)", flush=True)
    build_pg_image(PG_IMAGE)
    print("making three Docker hosts", flush=True)
    engines = Engines(3, (IMAGE, PG_IMAGE), prefix="pddemo")
    try:
        cluster = HostCluster(engines, IMAGE, PROPS)
        print("starting a node on each host", flush=True)
        cluster.start()
        cluster.add_fencing()
        print("initialising the database and cloning it to every host", flush=True)
        bootstrap_pg(cluster, PG_IMAGE)
        client = engines.network.add_host(name="client")
        print("creating the bundle (3 replicas), PAF, the VIP", flush=True)
        create_pg(cluster, PG_IMAGE)
        wait_primary(cluster, client.netns, None, standbys=2, timeout=300)
        out = pg_query(client.netns, f"CREATE TABLE IF NOT EXISTS {TABLE} (id integer PRIMARY KEY)")
        if out.returncode != 0:
            raise DemoError(f"CREATE TABLE failed: {out.stderr.strip()}")
        state = {
            "keeper": os.getpid(),
            "vip": VIP,
            "bundle": PG,
            "client": {"netns": client.netns, "dir": str(client.dir)},
            "switch": engines.network.switch_ns,
            "nodes": {
                node: {
                    "host": h.name,
                    "netns": h.netns,
                    "sock": h.sock,
                    "address": h.address,
                    "mgmt": h.mgmt_address,
                    "port": h.harness_host.port,
                }
                for node, h in cluster.host.items()
            },
        }
        tmp = paths.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1) + "\n")
        tmp.rename(paths.state)
        print("ready", flush=True)
        while not stop:
            signal.pause()
    finally:
        paths.state.unlink(missing_ok=True)
        print("tearing down the hosts", flush=True)
        engines.teardown()
    return 0


# --- the commands ----------------------------------------------------------------------------


def load_state(paths: Paths) -> dict:
    try:
        return json.loads(paths.state.read_text())
    except FileNotFoundError:
        raise DemoError("no demo is running. Fix: make demo-db") from None


def keeper_pid(paths: Paths) -> int | None:
    try:
        pid = int(paths.pidfile.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def up(paths: Paths) -> int:
    if os.geteuid() != 0:
        raise DemoError("needs root (network namespaces and dockerds). Fix: sudo make demo-db")
    if keeper_pid(paths):
        raise DemoError("a demo is already running. Fix: make demo-db-down first")
    paths.base.mkdir(parents=True, exist_ok=True)
    paths.state.unlink(missing_ok=True)
    with open(paths.log, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "demo.db", "keep", str(paths.base)], cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    paths.pidfile.write_text(f"{proc.pid}\n")
    shown = 0
    deadline = time.monotonic() + UP_TIMEOUT
    while not paths.state.exists():
        text = paths.log.read_text(errors="replace")
        for line in text.splitlines()[shown:]:
            print(f"demo-db: {line}")
        shown = len(text.splitlines())
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=180)
            paths.pidfile.unlink(missing_ok=True)
            raise DemoError(f"setup failed; the whole log is {paths.log}:\n{text[-3000:]}")
        time.sleep(1)
    status(paths)
    print(HOWTO.format(py=os.path.relpath(sys.executable, ROOT)))
    return 0


HOWTO = """
The database: three replicas of examples/postgresql, one per host, synchronous replication,
the VIP 192.0.2.100 on the primary's host. Try it, as root in this directory:

  py={py}
  $py -m demo.db write 60      # a client writes numbered rows through the VIP for 60 s,
                               #   then checks that every acknowledged row is in the table
  $py -m demo.db cut node1     # meanwhile, in another shell: node1's host loses power
                               #   (pick the node that `status` shows the Promoted replica on)
  $py -m demo.db status        # node1 fenced, a standby promoted, the VIP moved
  $py -m demo.db poweron node1 # back: its replica is re-cloned and streams as a standby
  $py -m demo.db stop node2    # docker stop of a node: a switchover if it runs the primary
  $py -m demo.db start node2
  $py -m demo.db sql 'SELECT count(*) FROM acked'
  make demo-db-down            # everything goes
"""


def run_docker(node: dict, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "-H", node["sock"], *args], capture_output=True, text=True, timeout=timeout
    )


def node_state(state: dict, name: str) -> dict:
    nodes = state["nodes"]
    if name not in nodes:
        raise DemoError(f"NODE {name!r} is not one of {', '.join(nodes)}. Fix: e.g. node1")
    return nodes[name]


def status(paths: Paths) -> int:
    state = load_state(paths)
    for name, node in state["nodes"].items():
        out = run_docker(node, "inspect", "-f", "{{.State.Running}}", name)
        if out.stdout.strip() == "true":
            mon = run_docker(node, "exec", name, "crm_mon", "-1", "-A", timeout=30)
            print(mon.stdout or mon.stderr)
            return 0
    print("no node is running (`poweron` or `start` one)")
    return 1


def sql(paths: Paths, query: str) -> int:
    from tests.image.pgcluster import pg_query

    out = pg_query(load_state(paths)["client"]["netns"], query)
    print(out.stdout, end="")
    print(out.stderr, end="", file=sys.stderr)
    return out.returncode


def write(paths: Paths, seconds: float | None) -> int:
    """Numbered rows through the VIP until `seconds` pass (or Ctrl-C), then the check."""
    from tests.image.pgcluster import Writer, check_no_acknowledged_row_lost, outage

    state = load_state(paths)
    client = SimpleNamespace(netns=state["client"]["netns"], dir=Path(state["client"]["dir"]))
    start = time.monotonic()
    writer = Writer(client, f"write-{int(time.time())}")
    print(f"writing through {state['vip']}; log: {writer.log}; Ctrl-C stops", flush=True)
    try:
        while seconds is None or time.monotonic() - start < seconds:
            time.sleep(1)
            print(f"\r{len(writer.acks())} commits acknowledged", end="", flush=True)
    except KeyboardInterrupt:
        pass
    acks = writer.stop()
    print()
    if len(acks) < 2:
        raise DemoError("no commits were acknowledged (is a primary up? `status`)")
    gap = outage(acks, start)
    try:
        check_no_acknowledged_row_lost(client, acks)
    except AssertionError as exc:
        print(f"LOST: {exc}")
        return 1
    print(f"{len(acks)} commits acknowledged, all of them in the table; longest wait for a"
          f" commit {gap:.1f} s")  # fmt: skip
    return 0


def cut(paths: Paths, name: str) -> int:
    """The node's host loses power: data link down, the node and its replicas killed."""
    state = load_state(paths)
    node = node_state(state, name)
    subprocess.run(["ip", "-n", state["switch"], "link", "set", node["port"], "down"], check=True)
    ids = run_docker(node, "ps", "-q", "--filter", f"name=^{name}$",
                     "--filter", f"name=^{state['bundle']}-docker-").stdout.split()  # fmt: skip
    if ids:
        run_docker(node, "kill", *ids)
    print(f"{node['host']} lost power ({name} and its replicas killed, its link down)")
    return 0


def poweron(paths: Paths, name: str) -> int:
    """As after a reboot: the host's own address only (the dead node's VIP must not come
    back), the link up, the node started."""
    from tests.image.engines import own_address_only

    state = load_state(paths)
    node = node_state(state, name)
    own_address_only(node["netns"], node["address"])
    subprocess.run(["ip", "-n", state["switch"], "link", "set", node["port"], "up"], check=True)
    return start_node(paths, name)


def stop_node(paths: Paths, name: str) -> int:
    node = node_state(load_state(paths), name)
    out = run_docker(node, "stop", "-t", "120", name, timeout=180)
    print(out.stdout.strip() or out.stderr.strip())
    return out.returncode


def start_node(paths: Paths, name: str) -> int:
    node = node_state(load_state(paths), name)
    out = run_docker(node, "start", name)
    print(out.stdout.strip() or out.stderr.strip())
    return out.returncode


def down(paths: Paths) -> int:
    pid = keeper_pid(paths)
    if pid is None:
        print("demo-db: no demo is running")
        paths.pidfile.unlink(missing_ok=True)
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 300
    while keeper_pid(paths) and time.monotonic() < deadline:
        time.sleep(0.5)
    if keeper_pid(paths):
        raise DemoError(f"the keeper (pid {pid}) did not stop in 300 s; its log: {paths.log}")
    paths.pidfile.unlink(missing_ok=True)
    print("demo-db: the hosts, nodes and database are gone")
    return 0


USAGE = "usage:\n" + (__doc__ or "").split("\n\n")[1]


def main(argv: list[str], base: Path = STATE_DIR) -> int:
    paths = Paths(base)
    cmd, args = (argv[0], argv[1:]) if argv else ("", [])
    one = {"cut": cut, "poweron": poweron, "stop": stop_node, "start": start_node}
    try:
        if cmd in ("up", "down", "status") and not args:
            return {"up": up, "down": down, "status": status}[cmd](paths)
        if cmd == "keep" and len(args) == 1:  # up's background process
            return keep(Paths(Path(args[0])))
        if cmd in one and len(args) == 1:
            return one[cmd](paths, args[0])
        if cmd == "sql" and len(args) == 1:
            return sql(paths, args[0])
        if cmd == "write" and len(args) <= 1:
            if args and not args[0].isdigit():
                raise DemoError(f"SECONDS {args[0]!r} is not a whole number. Fix: e.g. write 60")
            return write(paths, float(args[0]) if args else None)
    except DemoError as exc:
        return fail(str(exc))
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
