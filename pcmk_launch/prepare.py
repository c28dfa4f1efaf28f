"""What a start (or `render`) does before any daemon runs, per role (ROLE_SETUP): check the host,
recreate the state directories, write the keys and corosync.conf, seed a first CIB; with
--dry-run, print what would be done (preview.py) and write nothing."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import Any

from . import booth, bundlehost, hostcheck, preview
from .addresses import InterfaceTable
from .cibfile import check_cib_schema, seed_cib
from .conffiles import write_booth, write_config, write_key, write_remote_key
from .config import env_list_matches, load_cluster, read_stored
from .errors import ConfigError
from .launchlog import LOG
from .nodelist import VAR as VAR_NODE_LIST
from .settings import ArbitratorNode, Cluster, RemoteNode
from .statedirs import clear_boot_dirs, ensure_state_dirs

Node = Cluster | RemoteNode | ArbitratorNode  # what a role was prepared for

NO_REMOTED = (
    "pacemaker-remoted is not installed here (Debian's pacemaker-remote package conflicts with "
    "pacemaker, so the full image has none)."
)
NO_REMOTED_FIX = "run the remote image (make image-remote), or install pacemaker-remote."


def render_files(
    args: argparse.Namespace, env: Mapping[str, str], interfaces: InterfaceTable | None = None
) -> Node:
    """Validate, then prepare what the role needs (ROLE_SETUP); the node it was done for."""
    node = load_cluster(env, args, interfaces)
    if node.settings.log_format == "json" and not args.dry_run:
        LOG.use_json()
    if args.command == "run" and not args.dry_run and node.settings.role == "cluster":
        stored = read_stored(args.node_list_file)
        if stored is not None and env_list_matches(env, stored):
            LOG.notice(
                f"node list: the one changed by `pcmk-launch nodes {stored.change}` "
                f"({args.node_list_file}), not {VAR_NODE_LIST} as given at docker run"
            )
    return ROLE_SETUP[node.settings.role](args, node)


def prepare_state_dirs(args: argparse.Namespace) -> None:
    """The state directories, and on a start what a host's boot empties (not on `render`,
    which a reload runs while resource agents run)."""
    ensure_state_dirs()
    if args.command == "run":
        clear_boot_dirs()


def prepare_remote(args: argparse.Namespace, node: RemoteNode) -> RemoteNode:
    """PCMK_ROLE=remote: no corosync.conf and no CIB; only the key pacemaker-remoted reads."""
    if args.check:
        raise ConfigError(
            "--check tests corosync.conf with `corosync -t`, and a remote node (PCMK_ROLE=remote) "
            "has none. Fix: drop --check."
        )
    missing = shutil.which("pacemaker-remoted") is None
    if args.dry_run:
        sys.stdout.write("pcmk-launch dry run: nothing is written or started.\n")
        sys.stdout.write(preview.describe_remote(node))
        if missing:
            sys.stdout.write(f"warning: {NO_REMOTED}\n")
        return node
    if missing and args.command == "run":
        raise ConfigError(f"PCMK_ROLE=remote: {NO_REMOTED} Fix: {NO_REMOTED_FIX}")
    facts = getattr(args, "host_facts", None) or hostcheck.read_facts(version=False)
    refusal = hostcheck.caps_refusal(facts, hostcheck.REMOTE_REQUIRED_CAPS)
    if refusal:
        raise ConfigError(refusal)
    prepare_state_dirs(args)
    write_remote_key(node.remote_key)
    LOG.notice(
        f"Pacemaker Remote node: authkey {node.remote_key.keyfile} "
        f"({node.remote_key.fingerprint}); no corosync.conf, no CIB"
    )
    return node


def prepare_cluster(args: argparse.Namespace, cluster: Cluster) -> Cluster:
    """PCMK_ROLE=cluster: corosync.conf, its key, the remote key if set, a first CIB."""
    # Here, not at the top: the remote image has no jinja2, and its role never renders.
    from . import corosync_conf

    check_cib_schema(args.cib_file)
    facts = getattr(args, "host_facts", None) or hostcheck.with_version_if_needed(
        hostcheck.read_facts(version=False)
    )
    knet = cluster.settings.transport == "knet"
    refusals = [hostcheck.caps_refusal(facts), hostcheck.knet_refusal(facts) if knet else None]
    if any(refusals):
        raise ConfigError([r for r in refusals if r])
    fallback = knet and hostcheck.knet_plan(facts)[0] == "fallback"
    findings = hostcheck.findings(facts, knet=knet)
    keyfile = cluster.remote_key.keyfile if cluster.remote_key else None
    bundle_key = bundlehost.read_finding(facts.engine_socket, keyfile)
    findings += [bundle_key] if bundle_key else []
    render = partial(corosync_conf.render, knet_fallback=fallback)
    text = render(cluster)
    if args.dry_run:
        paths = {"corosync_conf": args.corosync_conf, "cib": args.cib_file}
        sys.stdout.write("pcmk-launch dry run: nothing is written or started.\n")
        sys.stdout.write(preview.describe(cluster, paths, [f.line() for f in findings]))
        sys.stdout.write(f"--- {args.corosync_conf} ---\n{text}")
        if args.check:
            check_in_a_scratch_dir(cluster, render)
            sys.stdout.write("corosync -t: the rendered config is valid\n")
        if cluster.booth is not None and cluster.booth_key is not None:
            prepare_booth(args, cluster.booth, cluster.booth_key, "cluster")
        return cluster
    prepare_state_dirs(args)
    if cluster.crypto is None and not cluster.standalone:
        LOG.warning(
            "WARNING: PCMK_CRYPTO=off: cluster traffic is neither encrypted nor authenticated; "
            "anyone who reaches UDP port 5405 can join or forge messages"
        )
    write_key(cluster.crypto)
    write_remote_key(cluster.remote_key)
    probe = render(cluster, check=True) if args.check else None
    write_config(text, args.corosync_conf, probe)
    LOG.notice(f"wrote {args.corosync_conf} ({describe_local(cluster)})")
    if args.command == "run":
        for finding in findings:  # what this node really got from its host and engine
            if finding.ok:
                LOG.notice(finding.line())
            else:
                LOG.warning("WARNING: " + finding.line())
    seed_cib(cluster, args.cib_file)
    if cluster.booth is not None and cluster.booth_key is not None:
        prepare_booth(args, cluster.booth, cluster.booth_key, "cluster")
    return cluster


def booth_hang_refusal(role: str) -> str | None:
    """booth before 1.2 loops for ever at start on Linux 6.9 and newer: refuse to run it."""
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "booth"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version, kernel = out.stdout.strip(), os.uname().release
    if out.returncode != 0 or not booth.hangs_on(version, kernel):
        return None
    what = "the arbitrator" if role == "arbitrator" else "this site's boothd"
    return (
        f"booth {version} loops for ever at start on this host's kernel, Linux {kernel} (fixed "
        f"in booth 1.2: ClusterLabs/booth PR #139), so {what} would never come up. Fix: run the "
        "Debian 13 image (pacemaker_docker:latest, or make image-arbitrator on the default "
        "base), whose booth is 1.2, or a host kernel older than 6.9."
    )


def prepare_booth(
    args: argparse.Namespace, conf: booth.Booth, key: booth.BoothKey, role: str
) -> None:
    """A site node (role cluster) and an arbitrator: booth.conf and booth's key, unless this is
    a dry run."""
    text = booth.render(conf)
    members = f"{len(conf.sites)} sites, {len(conf.arbitrators)} arbitrator(s)"
    tickets = " ".join(t.name for t in conf.tickets)
    if args.dry_run:
        sys.stdout.write(
            f"booth: {members}, tickets {tickets}, port {conf.port}; authkey "
            f"{booth.KEYFILE} ({key.fingerprint})\n--- {booth.CONF} ---\n{text}"
        )
        return
    refusal = booth_hang_refusal(role)
    if refusal:
        raise ConfigError(refusal)
    write_booth(text, booth.CONF, key, booth.KEYFILE)
    LOG.notice(
        f"wrote {booth.CONF} ({members}, tickets {tickets}, port {conf.port}; authkey "
        f"{booth.KEYFILE}, {key.fingerprint})"
    )


def prepare_arbitrator(args: argparse.Namespace, node: ArbitratorNode) -> ArbitratorNode:
    """PCMK_ROLE=arbitrator: booth.conf and its key; boothd is the only daemon."""
    if args.check:
        raise ConfigError(
            "--check tests corosync.conf with `corosync -t`, and an arbitrator "
            "(PCMK_ROLE=arbitrator) has none. Fix: drop --check."
        )
    if args.dry_run:
        sys.stdout.write("pcmk-launch dry run: nothing is written or started.\n")
        sys.stdout.write("role: booth arbitrator (boothd alone: no corosync, no pacemaker)\n")
    else:
        facts = getattr(args, "host_facts", None) or hostcheck.read_facts(version=False)
        refusals = [hostcheck.caps_refusal(facts, hostcheck.ARBITRATOR_REQUIRED_CAPS)]
        if shutil.which("boothd") is None:
            refusals.append(
                "PCMK_ROLE=arbitrator: boothd is not installed here. Fix: run the arbitrator "
                "image (make image-arbitrator) or the full image."
            )
        if any(refusals):
            raise ConfigError([r for r in refusals if r])
    prepare_booth(args, node.booth, node.booth_key, "arbitrator")
    return node


def check_in_a_scratch_dir(cluster: Cluster, render: Callable[..., str]) -> None:
    """--dry-run --check: `corosync -t` on the rendered file, with a derived key (which a dry
    run does not write where corosync.conf says) in a temporary directory."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = cluster
        if cluster.crypto and cluster.crypto.derived:
            key = replace(cluster.crypto, keyfile=os.path.join(tmp, "authkey"))
            write_key(key)
            probe = replace(cluster, crypto=key)
        path = os.path.join(tmp, "corosync.conf")
        write_config(render(probe), path, render(probe, check=True))


ROLE_SETUP: dict[str, Callable[[argparse.Namespace, Any], Node]] = {
    "cluster": prepare_cluster,
    "remote": prepare_remote,
    "arbitrator": prepare_arbitrator,
}


def describe_local(cluster: Cluster) -> str:
    if cluster.standalone:
        return "standalone one-node cluster"
    return f"{len(cluster.nodes)} nodes, this host is nodeid {cluster.local.nodeid}"
