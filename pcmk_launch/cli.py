"""Command line: parse it and hand each command to the module that does it.

pcmk-launch                 validate, write corosync.conf, then supervise (PID 1);
                            PCMK_ROLE=remote: install the remote key, supervise pacemaker-remoted
pcmk-launch --dry-run       print the plan and the config; write and start nothing
pcmk-launch render          validate and write the files, then exit
pcmk-launch health|status   is this node well, and what the cluster says (queries.py)
pcmk-launch keygen          print a new random key (for PCMK_REMOTE_AUTHKEY_FILE & co.)
pcmk-launch nodes ...       show or change the node list of the running node (nodes.py)
pcmk-launch COMMAND ARGS    run COMMAND instead (docker-entrypoint convention)

Validating and writing is prepare.py's (per role), reading the configuration config.py's.
Running the cluster or a user's command is handed off (__main__.py): PID 1 becomes it,
while this code runs in a child that exits.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import __version__, options
from .authkey import KEY_SIZE
from .errors import ConfigError, ExitCode, report
from .hostcheck import HostFacts
from .prepare import Node, render_files
from .settings import pacemaker_env

SUBCOMMANDS = ("run", "render", "health", "status", "keygen", "nodes")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pcmk-launch",
        description="Render corosync.conf from PCMK_* variables, then run corosync and "
        "pacemakerd as PID 1 of a container (PCMK_ROLE=remote: pacemaker-remoted alone). "
        "Any other first word is run as a command.",
        epilog="Exit codes: 0 clean stop, 2 bad configuration, 3 corosync failed to start, "
        "4 a daemon died, 5 a daemon had to be SIGKILLed.",
    )
    p.add_argument("--version", action="version", version=f"pcmk-launch {__version__}")
    p.add_argument("command", nargs="?", choices=SUBCOMMANDS, default="run", help=argparse.SUPPRESS)
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan and corosync.conf; change nothing"
    )
    p.add_argument("--corosync-conf", default=options.COROSYNC_CONF, metavar="PATH")
    p.add_argument(
        "--cib-file", default=options.CIB_FILE, metavar="PATH", help="CIB to seed if absent"
    )
    p.add_argument(
        "--log-socket",
        default=options.LOG_SOCKET,
        metavar="PATH",
        help="syslog socket to relay to stdout ('' for none)",
    )
    p.add_argument(
        "--check", action="store_true", help="also test the rendered file with `corosync -t`"
    )
    p.add_argument(
        "--run-dir", default=options.RUN_DIR, metavar="DIR", help="where a derived key goes"
    )
    p.add_argument("--json", action="store_true", help="status: print JSON")
    p.add_argument("words", nargs="*", help=argparse.SUPPRESS)  # nodes ACTION ARGS
    p.add_argument(
        "--force", action="store_true", help="nodes remove: even a node that is a member"
    )
    p.add_argument(
        "--node-list-file",
        default=options.NODE_LIST_FILE,
        metavar="PATH",
        help="where `nodes` keeps the changed node list (on the corosync volume)",
    )
    return p


def cmd_keygen() -> int:
    if sys.stdout.isatty():
        report("keygen prints binary key bytes: redirect it to a file, e.g. keygen > authkey")
        return ExitCode.CONFIG
    sys.stdout.buffer.write(os.urandom(KEY_SIZE))
    sys.stdout.flush()
    return ExitCode.OK


Handoff = Callable[[dict[str, Any]], None]


def supervisor_handoff(args: argparse.Namespace, node: Node) -> dict[str, Any]:
    """What PID 1 needs to become the supervisor: its Options (as a dict, for the pipe) and
    the daemons' environment."""
    opts = options.for_settings(node.settings, args.corosync_conf, args.log_socket)
    return {"supervise": opts.to_dict(), "env": pacemaker_env(node.settings, os.environ)}


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    interfaces: dict[str, list[str]] | None = None,
    handoff: Handoff | None = None,
    host_facts: HostFacts | None = None,
) -> int:
    """Entry point of the command line; env, interfaces and host_facts (hostcheck.HostFacts)
    are injectable (default: the real ones). handoff receives what PID 1 is to become
    (__main__.py passes one; without it, running is refused)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    if argv and not argv[0].startswith("-") and argv[0] not in SUBCOMMANDS:
        return _handoff(handoff, {"exec": argv})
    args = parser().parse_args(argv)
    args.host_facts = host_facts
    if args.command != "run" or args.dry_run:
        signal.pthread_sigmask(signal.SIG_SETMASK, set())  # a plain tool: Ctrl-C works
    if args.command == "keygen":
        return cmd_keygen()
    if args.command in ("health", "status", "nodes"):
        # Imported here: a node's start (every `docker run`) needs none of them.
        from . import nodes, queries

        if args.command == "health":
            return queries.cmd_health(env)
        if args.command == "status":
            return queries.cmd_status(env, args.json)
        return nodes.cmd_nodes(args, env, interfaces)
    if args.words:
        report(f"unexpected arguments: {' '.join(args.words)}. Fix: see pcmk-launch --help")
        return ExitCode.CONFIG
    try:
        node = render_files(args, env, interfaces)
    except ConfigError as exc:
        report(exc.message())
        return exc.exit_code
    if args.command == "render" or args.dry_run:
        return ExitCode.OK
    return _handoff(handoff, supervisor_handoff(args, node))


def _handoff(handoff: Handoff | None, what: dict[str, Any]) -> int:
    if handoff is None:
        raise RuntimeError(
            "running needs pcmk_launch.__main__ (python -m pcmk_launch, or the pcmk-launch "
            "script), which becomes what it hands off"
        )
    handoff(what)
    return ExitCode.OK
