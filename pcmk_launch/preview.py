"""What --dry-run prints: what the node would write and start (pure). The start order is
the service plan's (services.PLANS), so the preview cannot tell another story than PID 1."""

from __future__ import annotations

from . import options, services
from .settings import Cluster, RemoteNode, Settings


def start_line(s: Settings, corosync_conf: str = options.COROSYNC_CONF) -> str:
    """The "would start" line: the role's service plan in start order, and what each waits
    for before the next one starts."""
    opts = options.for_settings(s, corosync_conf, options.LOG_SOCKET)
    steps = [
        f"{svc.name}, {svc.ready_note}" if svc.ready_note else svc.name
        for svc in services.PLANS[s.role](opts)
    ]
    return "would start: " + ", then ".join(steps)


def metrics_line(s: Settings) -> str:
    """Whether the exporter runs, and where to scrape it."""
    if not s.metrics:
        return "metrics: off (PCMK_METRICS=on starts ha_cluster_exporter)"
    host, _, port = s.metrics_address.rpartition(":")
    return (
        f"metrics: on, ha_cluster_exporter on {s.metrics_address} "
        f"(scrape http://{host or 'THIS-HOST'}:{port}/metrics)"
    )


def describe(cluster: Cluster, paths: dict[str, str], host: list[str] | None = None) -> str:
    """What a cluster node would write and start; `host`: hostcheck's finding lines."""
    s = cluster.settings
    lines = []
    if cluster.standalone:
        lines.append("mode: standalone one-node cluster (PCMK_NODE_LIST is empty)")
    else:
        links = len(cluster.nodes[0].addrs)
        lines.append(
            f"mode: cluster of {len(cluster.nodes)} nodes, transport {s.transport}, "
            f"{links} link{'s' if links > 1 else ''}"
        )
    lines.append(f"cluster name: {s.cluster_name}")
    lines.append(f"local node: nodeid {cluster.local.nodeid} ({cluster.local.text})")
    lines.append("nodes:")
    for n in cluster.nodes:
        name = n.name or "(this host's hostname)"
        mark = "   <- this host" if n is cluster.local else ""
        lines.append(f"  nodeid {n.nodeid:<3} {', '.join(n.addrs):<32} name: {name}{mark}")
    quorum = " ".join(f"{k}={v}" for k, v in cluster.quorum) or "corosync defaults"
    lines.append(f"quorum: {quorum}")
    c = cluster.crypto
    if c is not None:
        how = "derived from PCMK_AUTHKEY_PASSPHRASE, written there" if c.derived else "as given"
        lines.append(
            f"crypto: aes256/sha256, authkey {c.keyfile} ({how}; {c.length} bytes, {c.fingerprint})"
        )
    elif not cluster.standalone:
        lines.append(
            "crypto: OFF (PCMK_CRYPTO=off): traffic is neither encrypted nor authenticated"
        )
    r = cluster.remote_key
    if r is not None:
        where = f"installed at {r.keyfile}" if r.install else "in place"
        lines.append(
            f"pacemaker remote authkey: from {r.source}, {where} ({r.length} bytes, "
            f"{r.fingerprint})"
        )
    lines.append(f"would write: {paths['corosync_conf']}")
    props = " ".join(f"{k}={v}" for k, v in s.cluster_properties)
    if props:
        lines.append(f"would seed a new CIB at {paths['cib']} with {props} (only if none exists)")
    lines.append(start_line(s, paths["corosync_conf"]))
    lines.append(metrics_line(s))
    lines.append(
        f"timeouts: start {s.start_timeout:g}s, pacemaker stop {s.stop_timeout:g}s, "
        f"corosync stop {s.corosync_stop_timeout:g}s"
    )
    lines += [f"host: {line}" for line in host or ()]
    return "\n".join(lines) + "\n"


def describe_remote(node: RemoteNode) -> str:
    """PCMK_ROLE=remote: what runs, the key, the port, and how a full node adds this one."""
    s, r = node.settings, node.remote_key
    port = s.remote_port
    where = f"installed at {r.keyfile}" if r.install else "in place"
    salt = f", salted with cluster name {s.cluster_name}" if r.source.endswith("PASSPHRASE") else ""
    return (
        "\n".join(
            [
                "mode: Pacemaker Remote node (PCMK_ROLE=remote): runs resources for a cluster, "
                "no corosync, no quorum vote, no CIB of its own",
                f"pacemaker remote authkey: from {r.source}{salt}, {where} "
                f"({r.length} bytes, {r.fingerprint})",
                "would write: no corosync.conf, no CIB",
                start_line(s),
                f"listens on: TCP {port}; every full node must reach it there, with the same key",
                "add it from a full node: pcs resource create NAME ocf:pacemaker:remote "
                f"server=THIS-HOST-ADDRESS{'' if port == options.REMOTE_PORT else f' port={port}'} "
                "reconnect_interval=60 op monitor interval=20 --force",
                "metrics: not on a remote node (scrape a full node: its metrics cover remotes)",
                f"timeouts: start {s.start_timeout:g}s, pacemaker-remoted stop {s.stop_timeout:g}s",
            ]
        )
        + "\n"
    )
