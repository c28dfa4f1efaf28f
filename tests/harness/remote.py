"""Pacemaker Remote nodes on namespace hosts, beside full nodes of a :class:`Cluster`.

- :func:`remoted_sbin` finds pacemaker-remoted, which deps/pacemaker-remote.sh unpacks into a
  cache dir (Debian's pacemaker-remote package conflicts with pacemaker, so it is not on the
  machine's PATH); :func:`remote_env` puts it on the PATH of remote hosts only;
- :func:`add_remote_resource` adds an ``ocf:pacemaker:remote`` connection with ``cibadmin``
  (what ``pcs cluster node add-remote`` does, without pcsd);
- :func:`remote_nodes` reads which nodes crm_mon lists as remote and which are online.

Stdlib only.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .cluster import TEST_PASSPHRASE
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
