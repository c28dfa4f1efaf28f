"""Cluster-level helpers on top of :mod:`tests.harness.hosts`.

- :func:`corosync_conf` renders a corosync 3 (knet) config for a set of hosts;
- :func:`seed_cib` writes an initial cib.xml (e.g. dc-deadtime) before first start;
- :func:`cluster_state` parses ``crm_mon --output-as=xml`` run inside a host (with the
  launcher's own parser, pcmk_launch.health);
- :func:`wait_converged` / :func:`wait_state` poll it with a deadline;
- :class:`Cluster` bundles a :class:`~tests.harness.hosts.Network` and its hosts.

Stdlib only, and pcmk_launch.health (stdlib too).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pcmk_launch import health

from .hosts import HERE, Host, Network, assert_no_leftovers, wait_for

NAIVE_START = HERE / "naive_start.sh"
NAIVE_ARGV = ["/bin/bash", str(NAIVE_START)]
# The product: the launcher as PID 1, exactly as the image's ENTRYPOINT runs it.
LAUNCHER_ARGV = [sys.executable, "-m", "pcmk_launch"]
TEST_PASSPHRASE = "pdtest-passphrase-shared-by-all-hosts"


def node_list(hosts: Sequence[Host], names: bool = False) -> str:
    """PCMK_NODE_LIST for these hosts: plain addresses, or NAME=ADDR entries."""
    return " ".join(f"{h.name}={h.address}" if names else h.address for h in hosts)


def launcher_env(hosts: Sequence[Host], names: bool = False, **extra: str) -> dict[str, str]:
    """What an operator passes with -e: the node list, a shared key, fast test timeouts."""
    env = {
        "PCMK_NODE_LIST": node_list(hosts, names),
        "PCMK_AUTHKEY_PASSPHRASE": TEST_PASSPHRASE,
        "PYTHONPATH": str(HERE.parents[1]),
    }
    env.update(extra)
    return env


# --------------------------------------------------------------------------
# configuration files


def corosync_conf(
    hosts: Sequence[Host],
    cluster_name: str = "pdtest",
    names: bool = True,
    totem: Mapping[str, Any] | None = None,
    quorum: Mapping[str, Any] | None = None,
) -> str:
    """corosync.conf for ``hosts``: knet, no crypto, votequorum, log to stderr.

    ``names`` adds ``name: <hostname>`` to each nodelist entry (what pcs does;
    pacemaker then never has to guess node names).  ``totem``/``quorum`` add or
    override keys of those sections, e.g. ``totem={"token": 1000}``.
    """
    totem_keys: dict[str, Any] = {
        "version": 2,
        "cluster_name": cluster_name,
        "transport": "knet",
        "crypto_cipher": "none",
        "crypto_hash": "none",
        **(totem or {}),
    }
    quorum_keys: dict[str, Any] = {"provider": "corosync_votequorum", **(quorum or {})}
    lines = ["totem {"]
    lines += [f"    {k}: {v}" for k, v in totem_keys.items()]
    lines += ["}", "", "nodelist {"]
    for h in hosts:
        lines.append("    node {")
        lines.append(f"        ring0_addr: {h.address}")
        if names:
            lines.append(f"        name: {h.name}")
        lines.append(f"        nodeid: {h.index}")
        lines.append("    }")
    lines += ["}", "", "quorum {"]
    lines += [f"    {k}: {v}" for k, v in quorum_keys.items()]
    lines += [
        "}",
        "",
        "logging {",
        "    to_stderr: yes",
        "    to_syslog: no",
        "    to_logfile: no",
        "    timestamp: hires",
        "}",
        "",
    ]
    return "\n".join(lines)


def write_corosync_conf(hosts: Sequence[Host], **kwargs: Any) -> str:
    """Write :func:`corosync_conf` into every host's /etc/corosync (root, 0644)."""
    text = corosync_conf(hosts, **kwargs)
    for h in hosts:
        path = h.path("/etc/corosync/corosync.conf")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.chmod(path, 0o644)
    return text


def _ids(name: str) -> tuple[int, int]:
    import grp
    import pwd

    return pwd.getpwnam(name).pw_uid, grp.getgrnam("haclient").gr_gid


def empty_cib(properties: Mapping[str, str] | None = None, resources_xml: str = "") -> str:
    """``cibadmin --empty`` plus cluster properties and optional <resources> content."""
    xml = subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True).stdout
    root = ET.fromstring(xml)
    config = root.find("configuration")
    assert config is not None
    crm_config = config.find("crm_config")
    assert crm_config is not None
    if properties:
        nvset = ET.SubElement(crm_config, "cluster_property_set", id="cib-bootstrap-options")
        for name, value in properties.items():
            ET.SubElement(
                nvset, "nvpair", id=f"cib-bootstrap-options-{name}", name=name, value=value
            )
    if resources_xml:
        resources = config.find("resources")
        assert resources is not None
        for child in ET.fromstring(f"<r>{resources_xml}</r>"):
            resources.append(child)
    return ET.tostring(root, encoding="unicode") + "\n"


def seed_cib(
    hosts: Iterable[Host],
    properties: Mapping[str, str] | None = None,
    resources_xml: str = "",
) -> str:
    """Write an initial /var/lib/pacemaker/cib/cib.xml (no .sig) on each host.

    Owner hacluster:haclient, mode 0600, in a cib/ dir hacluster:haclient 0750
    (what pacemaker-based itself uses).  Only meant for a first start: a CIB
    already on disk is overwritten.
    """
    text = empty_cib(properties, resources_xml)
    uid, gid = _ids("hacluster")
    for h in hosts:
        path = h.path("/var/lib/pacemaker/cib/cib.xml")
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chown(path.parent, uid, gid)
        os.chmod(path.parent, 0o750)
        path.write_text(text)
        os.chown(path, uid, gid)
        os.chmod(path, 0o600)
    return text


# --------------------------------------------------------------------------
# cluster state


def parse_crm_mon(xml: str) -> dict[str, Any]:
    """``crm_mon --output-as=xml``, parsed by the launcher's own parser (pcmk_launch.health,
    as `pcmk-launch status` does), as the plain dict the tests read::

        {"dc": "node1" | None, "dc_present": bool, "have_quorum": bool,
         "nodes": {name: {"id", "online", "standby", "unclean", "type"}},
         "online": [names], "offline": [names],
         "resources": {id: {"agent", "role", "active", "failed", "nodes": [names]}}}

    Resources inside groups/clones/bundles are listed flat by their own id (clone instances
    share an id, so their ``nodes`` are merged). Raises ValueError for output that is not a
    cluster status (e.g. before the CIB is up).
    """
    mon = health.parse(xml)
    nodes = {
        n.name: {
            "id": n.id,
            "online": n.online,
            "standby": n.standby,
            "unclean": n.unclean,
            "type": n.type,
        }
        for n in mon.nodes
    }
    resources: dict[str, dict[str, Any]] = {}
    for r in mon.resources:
        entry = resources.setdefault(
            r.id, {"agent": r.agent, "role": r.role, "active": False, "failed": False, "nodes": []}
        )
        entry["active"] = entry["active"] or r.active
        entry["failed"] = entry["failed"] or r.failed
        if r.active:
            entry["role"] = r.role
        entry["nodes"] = sorted(entry["nodes"] + list(r.nodes))
    return {
        "dc": mon.dc,
        "dc_present": mon.dc is not None,
        "have_quorum": mon.quorate,
        "nodes": nodes,
        "online": sorted(n.name for n in mon.nodes if n.online),
        "offline": sorted(n.name for n in mon.nodes if not n.online),
        "resources": resources,
    }


def cluster_state(host: Host, timeout: float = 15) -> dict[str, Any]:
    """Run ``crm_mon -1 --inactive --output-as=xml`` on ``host`` and parse it.

    Raises (HostCommandError, ValueError, TimeoutExpired) when crm_mon
    cannot answer, e.g. before the CIB is up: :func:`wait_state` retries those.
    """
    res = host.run(["crm_mon", "-1", "--inactive", "--output-as=xml"], timeout=timeout)
    return parse_crm_mon(res.stdout)


def describe_state(state: Any) -> str:
    if isinstance(state, dict):
        return json.dumps({k: v for k, v in state.items() if k != "nodes"}, sort_keys=True)
    return repr(state)


def wait_state(
    host: Host,
    predicate: Callable[[dict[str, Any]], bool],
    timeout: float,
    what: str,
    interval: float = 0.5,
) -> dict[str, Any]:
    """Poll :func:`cluster_state` on ``host`` until ``predicate(state)``;
    on timeout :class:`~tests.harness.hosts.WaitTimeout` shows the last state."""
    return wait_for(
        lambda: cluster_state(host),
        timeout,
        f"{what} (crm_mon on {host.name})",
        until=predicate,
        interval=interval,
        describe=describe_state,
    )


def converged(online: Iterable[str], offline: Iterable[str] = ()) -> Callable[[dict], bool]:
    """Predicate: a DC, quorum, exactly ``online`` online and ``offline`` offline."""
    want_on, want_off = sorted(online), sorted(offline)

    def pred(state: dict[str, Any]) -> bool:
        return (
            state["dc_present"]
            and state["dc"] in want_on
            and state["have_quorum"]
            and state["online"] == want_on
            and state["offline"] == want_off
        )

    return pred


def wait_converged(
    hosts: Sequence[Host],
    online: Iterable[str] | None = None,
    offline: Iterable[str] = (),
    timeout: float = 120,
) -> dict[str, Any]:
    """Wait until *every* host in ``hosts`` sees :func:`converged` (one partition,
    same DC).  ``online`` defaults to the hosts' names.  Returns the state seen
    last on the first host."""
    names = sorted(online) if online is not None else sorted(h.name for h in hosts)
    deadline = time.monotonic() + timeout
    pred = converged(names, offline)
    states = {}
    for h in hosts:
        states[h.name] = wait_state(
            h, pred, max(deadline - time.monotonic(), 1), f"{names} online, {list(offline)} offline"
        )
    dcs = {s["dc"] for s in states.values()}
    if len(dcs) != 1:
        # A DC change just happened between polls: ask once more, all must agree.
        return wait_for(
            lambda: [cluster_state(h) for h in hosts],
            max(deadline - time.monotonic(), 5),
            "all hosts to agree on one DC",
            until=lambda ss: all(pred(s) for s in ss) and len({s["dc"] for s in ss}) == 1,
            describe=lambda ss: "; ".join(describe_state(s) for s in ss or []),
        )[0]
    return states[hosts[0].name]


# --------------------------------------------------------------------------
# a cluster of hosts


class Cluster:
    """``n`` hosts on one switch.  Used through the ``make_cluster`` fixture."""

    def __init__(self, n: int, base_dir: str | os.PathLike | None = None, **host_kwargs: Any):
        self.network = Network(base_dir)
        self.hosts: list[Host] = []
        try:
            for _ in range(n):
                self.hosts.append(self.network.add_host(**host_kwargs))
        except BaseException:
            self.network.teardown()
            raise

    @property
    def base_dir(self) -> Path:
        return self.network.base_dir

    def host(self, name: str) -> Host:
        return self.network.host(name)

    @property
    def names(self) -> list[str]:
        return [h.name for h in self.hosts]

    def write_corosync_conf(self, **kwargs: Any) -> str:
        return write_corosync_conf(self.hosts, **kwargs)

    def seed_cib(self, properties: Mapping[str, str] | None = None, resources_xml: str = "") -> str:
        return seed_cib(self.hosts, properties, resources_xml)

    def start(self, argv: Sequence[str] = tuple(NAIVE_ARGV), env: Mapping[str, str] | None = None):
        for h in self.hosts:
            h.start(argv, env)

    def start_launchers(self, names: bool = False, **extra: str) -> dict[str, str]:
        """Start pcmk-launch as PID 1 on every host with the same environment; returns it."""
        env = launcher_env(self.hosts, names, **extra)
        for h in self.hosts:
            h.start(LAUNCHER_ARGV, env)
        return env

    def start_together(self, naive: bool = False, **env: str) -> None:
        """Every host at once: the launcher with `env`, or (naive) the same daemons the naive
        way, a bench's baseline: corosync, wait, pacemakerd, default CIB."""
        if naive:
            self.write_corosync_conf()
            self.start()
        else:
            self.start_launchers(**env)

    def running(self) -> list[Host]:
        return [h for h in self.hosts if h.running]

    def wait_converged(
        self, timeout: float = 120, hosts: Sequence[Host] | None = None, offline: Iterable[str] = ()
    ) -> dict[str, Any]:
        """Wait until ``hosts`` (default: the running ones) see themselves all
        online, the rest of ``offline`` offline, with quorum and one DC."""
        hosts = list(hosts) if hosts is not None else self.running()
        return wait_converged(hosts, [h.name for h in hosts], offline, timeout)

    def teardown(self) -> None:
        self.network.teardown()

    def finish(self, failed: bool) -> None:
        """End of a module's own cluster: logs if it failed, teardown, its host dirs kept
        when it failed or PD_KEEP=1, then the machine-wide leftover check."""
        if failed:
            print(self.logs(80))
        try:
            self.teardown()
        finally:
            if failed or os.environ.get("PD_KEEP") == "1":
                print(f"kept host dirs: {self.base_dir}")
            else:
                self.network.remove_dir()
        assert_no_leftovers()

    def logs(self, lines: int = 30) -> str:
        """Tails of every host's console log and pacemaker.log, for failure reports."""
        out = []
        for h in self.hosts:
            out.append(f"===== {h.name} console ({h.log_path})\n{h.log_tail(lines)}")
            plog = h.path("/var/log/pacemaker/pacemaker.log")
            if plog.exists():
                tail = "\n".join(plog.read_text(errors="replace").splitlines()[-lines:])
                out.append(f"===== {h.name} pacemaker.log ({plog})\n{tail}")
        return "\n".join(out)
