"""This node's configuration as the launcher reads it: the PCMK_* environment with the node list
in force (PCMK_NODE_LIST, or the list `pcmk-launch nodes` changed, kept in NODE_LIST_FILE), the
host's interfaces and the key files, validated as a whole by settings.load (the pure part)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from . import addresses, authkey, membership, settings
from .nodelist import VAR as VAR_NODE_LIST
from .options import COROSYNC_CONF, NODE_LIST_FILE, RUN_DIR
from .statedirs import hacluster_ids


def read_stored(path: str) -> membership.Stored | None:
    """The node list `nodes` changed, or None (never changed, or unreadable)."""
    try:
        with open(path, encoding="utf-8") as f:
            return membership.parse_stored(f.read())
    except (OSError, UnicodeDecodeError):
        return None


def env_with_stored(env: Mapping[str, str], path: str) -> tuple[Mapping[str, str], bool]:
    """The environment with the node list in force: the stored one when it was made from
    this container's PCMK_NODE_LIST (see membership.effective)."""
    nodes, used = membership.effective(env.get(VAR_NODE_LIST, ""), read_stored(path))
    return ({**env, VAR_NODE_LIST: nodes} if used else env), used


def env_list_matches(env: Mapping[str, str], stored: membership.Stored) -> bool:
    """The stored list was made from the PCMK_NODE_LIST this container was started with."""
    return stored.base == membership.normal(env.get(VAR_NODE_LIST, ""))


def load_cluster(
    env: Mapping[str, str],
    args: argparse.Namespace | None = None,
    interfaces: addresses.InterfaceTable | None = None,
    stored: bool = True,
) -> settings.Cluster | settings.RemoteNode | settings.ArbitratorNode:
    """Settings, node list and keys; with stored, the node list `nodes` changed, if in force.
    args: the command line's paths (default: the defaults); interfaces: the host's."""
    if stored:
        env, _ = env_with_stored(env, args.node_list_file if args else NODE_LIST_FILE)
    conf = args.corosync_conf if args else COROSYNC_CONF
    ids = hacluster_ids()
    return settings.load(
        env,
        addresses.read_interfaces() if interfaces is None else interfaces,
        key_reader=authkey.read_key_file,
        conf_dir=os.path.dirname(os.path.abspath(conf)),
        run_dir=args.run_dir if args else RUN_DIR,
        remote_owners=(0,) if ids is None else (0, ids[0]),
    )
