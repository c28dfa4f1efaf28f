"""Pacemaker Remote nodes on namespace hosts, beside full nodes of a :class:`Cluster`.

- :func:`remoted_sbin` finds pacemaker-remoted, which deps/pacemaker-remote.sh unpacks into a
  cache dir (Debian's pacemaker-remote package conflicts with pacemaker, so it is not on the
  machine's PATH); :func:`remote_env` puts it on the PATH of remote hosts only;
- :func:`add_remote_resource` adds an ``ocf:pacemaker:remote`` connection with ``cibadmin``
  (what ``pcs cluster node add-remote`` does, without pcsd);
- :func:`remote_nodes` reads which nodes crm_mon lists as remote and which are online;
- :func:`start_remote_cluster` starts full nodes and remotes together, turns fencing off and
  adds one connection per remote (what tests/cluster/test_remote.py and bench/remote.py share);
- :func:`host_processes`, :func:`cpu_seconds` and :func:`memory_kb` read a host's process
  tree from /proc, for benchmark figures.

Stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cluster import LAUNCHER_ARGV, TEST_PASSPHRASE, Cluster, wait_state
from .hosts import BASE_ENV, HERE, Host

REMOTE_SCRIPT = HERE.parents[1] / "deps" / "pacemaker-remote.sh"
#: Shared by full and remote nodes: the launcher derives /etc/pacemaker/authkey from it.
REMOTE_PASSPHRASE = "pdtest-remote-passphrase-shared-by-all"


def remoted_sbin() -> tuple[Path | None, str]:
    """(dir holding pacemaker-remoted, "") or (None, why it is missing and how to get it)."""
    res = subprocess.run([str(REMOTE_SCRIPT), "dir"], capture_output=True, text=True)
    if res.returncode != 0:
        return None, res.stderr.strip()
    sbin = Path(res.stdout.strip()) / "usr" / "sbin"
    if not os.access(sbin / "pacemaker-remoted", os.X_OK):
        return None, (
            f"no {sbin}/pacemaker-remoted; as root on Debian: deps/pacemaker-remote.sh fetch "
            "(make cluster does it)"
        )
    return sbin, ""


def remote_env(sbin: Path, passphrase: str = REMOTE_PASSPHRASE, **extra: str) -> dict[str, str]:
    """The environment of a remote node's launcher: the role, the shared Pacemaker Remote key,
    and pacemaker-remoted on the PATH (only there)."""
    env = {
        "PCMK_ROLE": "remote",
        "PCMK_REMOTE_AUTHKEY_PASSPHRASE": passphrase,
        "PYTHONPATH": str(HERE.parents[1]),
        "PATH": f"{sbin}:{BASE_ENV['PATH']}",
    }
    env.update(extra)
    return env


def full_env_extra(passphrase: str = REMOTE_PASSPHRASE) -> dict[str, str]:
    """What full nodes add to :func:`~tests.harness.cluster.launcher_env` to drive remotes."""
    assert passphrase != TEST_PASSPHRASE
    return {"PCMK_REMOTE_AUTHKEY_PASSPHRASE": passphrase}


def remote_primitive(
    name: str,
    server: str,
    reconnect_interval: str = "10s",
    monitor_interval: str = "5s",
) -> str:
    """An ``ocf:pacemaker:remote`` connection: the remote node is named after the resource."""
    return (
        f'<primitive id="{name}" class="ocf" provider="pacemaker" type="remote">'
        f'<instance_attributes id="{name}-ia">'
        f'<nvpair id="{name}-server" name="server" value="{server}"/>'
        f'<nvpair id="{name}-reconnect" name="reconnect_interval" value="{reconnect_interval}"/>'
        "</instance_attributes>"
        f'<operations><op id="{name}-monitor" name="monitor" interval="{monitor_interval}"/>'
        "</operations></primitive>"
    )


def add_remote_resource(admin: Host, name: str, server: str, **kwargs: Any) -> None:
    admin.run(
        ["cibadmin", "--create", "--scope", "resources", "--xml-text"]
        + [remote_primitive(name, server, **kwargs)]
    )


def dummy_on_remotes(rid: str, monitor_interval: str = "5s") -> tuple[str, str]:
    """(primitive, constraint) XML: an ocf:pacemaker:Dummy, created stopped, that may only run
    on remote nodes (#kind is "remote" there, "cluster" on full nodes)."""
    prim = (
        f'<primitive id="{rid}" class="ocf" provider="pacemaker" type="Dummy">'
        f'<meta_attributes id="{rid}-meta">'
        f'<nvpair id="{rid}-target-role" name="target-role" value="Stopped"/></meta_attributes>'
        f'<operations><op id="{rid}-monitor" name="monitor" interval="{monitor_interval}"/>'
        "</operations></primitive>"
    )
    loc = (
        f'<rsc_location id="{rid}-on-remotes" rsc="{rid}">'
        f'<rule id="{rid}-on-remotes-rule" score="-INFINITY">'
        f'<expression id="{rid}-on-remotes-expr" attribute="#kind" operation="ne" '
        'value="remote"/></rule></rsc_location>'
    )
    return prim, loc


def add_dummies_on_remotes(admin: Host, ids: list[str]) -> None:
    """Each Dummy is created stopped, then constrained (the schema wants the resource to exist
    first), then started: it never runs on a full node, not even for a moment."""
    for rid in ids:
        prim, loc = dummy_on_remotes(rid)
        admin.run(["cibadmin", "--create", "--scope", "resources", "--xml-text", prim])
        admin.run(["cibadmin", "--create", "--scope", "constraints", "--xml-text", loc])
    for rid in ids:
        admin.run(["crm_resource", "--resource", rid, "--meta"] +
                  ["--delete-parameter", "target-role"])  # fmt: skip


def remote_nodes(state: Mapping[str, Any]) -> dict[str, bool]:
    """Remote node name -> online, from :func:`~tests.harness.cluster.parse_crm_mon`."""
    return {n: i["online"] for n, i in state["nodes"].items() if i["type"] == "remote"}


def dummy_state(host: Host, rid: str) -> str | None:
    """Inode and mtime of the Dummy's state file on ``host`` (its start touches it, its stop
    removes it): unchanged means it was not restarted. None when it is not running there."""
    res = host.run(["stat", "-c", "%i %Y.%y", f"/var/run/Dummy-{rid}.state"], check=False)
    return res.stdout.strip() if res.returncode == 0 else None


def where(state: Mapping[str, Any], rid: str) -> list[str]:
    """Nodes where resource ``rid`` is active and Started (empty: nowhere)."""
    r = state["resources"].get(rid)
    return list(r["nodes"]) if r and r["active"] and r["role"] == "Started" else []


def failed_actions(host: Host) -> list[dict[str, str]]:
    """The failed actions crm_mon lists, as attribute dicts (op_key, node, ...)."""
    out = host.run(["crm_mon", "-1", "--output-as=xml"], timeout=30).stdout
    return [dict(f.attrib) for f in ET.fromstring(out).iter("failure")]


@dataclass
class Formation:
    """Seconds from the start of every host: full nodes formed, connections added (fencing
    off first), every remote online."""

    formed: float
    added: float
    online: float


def start_remote_cluster(
    c: Cluster,
    full: Sequence[Host],
    remotes: Sequence[Host],
    full_env: Mapping[str, str],
    remote_env_: Mapping[str, str],
    timeout: float,
    reconnect_interval: str = "10s",
) -> Formation:
    """Start every full node and remote host together; once the full nodes have formed,
    set stonith-enabled=false (the hosts have no fence device) and add one connection per
    remote (one cibadmin each, as an operator would); wait until every remote is online."""
    t0 = time.monotonic()
    for h in full:
        h.start(LAUNCHER_ARGV, full_env)
    for h in remotes:
        h.start(LAUNCHER_ARGV, remote_env_)
    c.wait_converged(timeout=timeout, hosts=full)
    formed = time.monotonic() - t0
    admin = full[0]
    admin.run(["crm_attribute", "--type", "crm_config", "--name", "stonith-enabled"] +
              ["--update", "false"])  # fmt: skip
    for h in remotes:
        add_remote_resource(admin, h.name, h.address, reconnect_interval=reconnect_interval)
    added = time.monotonic() - t0
    wait_state(
        admin,
        lambda s: remote_nodes(s) == {h.name: True for h in remotes},
        timeout,
        f"{len(remotes)} remote nodes online",
    )
    return Formation(formed, added, time.monotonic() - t0)


# --------------------------------------------------------------------------
# a host's processes, for benchmarks


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat from field 3 (state) on: the command name may hold spaces."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def host_processes(hosts: Sequence[Host]) -> dict[str, list[int]]:
    """Host name -> its PID 1 and every descendant (root-namespace pids), from one /proc scan.
    Commands the harness runs in a host (nsenter) are not descendants: they do not count."""
    parent: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent[int(entry.name)] = int(_stat_fields(int(entry.name))[1])
    kids: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        kids.setdefault(ppid, []).append(pid)
    out = {}
    for h in hosts:
        todo, tree = ([h.pid] if h.pid else []), []
        while todo:
            p = todo.pop()
            tree.append(p)
            todo += kids.get(p, [])
        out[h.name] = tree
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU time (user + system) of these processes and of their reaped children: every
    process of a tree counted once, the dead ones through their parent's cutime/cstime."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            f = _stat_fields(pid)
            total += sum(int(x) for x in f[11:15])  # utime stime cutime cstime
    return total / tick


def memory_kb(pids: Sequence[int]) -> dict[str, dict[str, int]]:
    """Command name -> {"rss", "pss"} in kB, summed over these processes (smaps_rollup)."""
    out: dict[str, dict[str, int]] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            vals = {}
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss"):
                    vals[key.lower()] = int(rest.split()[0])
            entry = out.setdefault(name, {"rss": 0, "pss": 0})
            for k, v in vals.items():
                entry[k] += v
    return out
