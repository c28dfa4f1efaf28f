"""Command line: the imperative shell around the pure core.

pcmk-launch                 validate, write corosync.conf, then supervise (PID 1);
                            PCMK_ROLE=remote: install the remote key, supervise pacemaker-remoted
pcmk-launch --dry-run       print the plan and the config; write and start nothing
pcmk-launch render          validate and write the files, then exit
pcmk-launch nodes ...       show or change the node list of the running node (nodes.py)
pcmk-launch COMMAND ARGS    run COMMAND instead (docker-entrypoint convention)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import __version__
from .errors import ConfigError, ExitCode

SUBCOMMANDS = ("run", "render", "health", "status", "keygen", "nodes")
DEFAULT_COROSYNC_CONF = "/etc/corosync/corosync.conf"
SCHEMA_DIR = "/usr/share/pacemaker"  # pacemaker-X.Y.rng: the CIB schemas this Pacemaker reads
DEFAULT_CIB = "/var/lib/pacemaker/cib/cib.xml"
NODE_LIST_FILE = "/var/lib/corosync/pcmk-node-list.json"  # nodes.py: a list changed at runtime
# Directories the packages create; an empty volume mounted over them must get them back.
STATE_DIRS = (
    ("/var/lib/pacemaker/cib", 0o750),
    ("/var/lib/pacemaker/pengine", 0o750),
    ("/var/lib/pacemaker/blackbox", 0o750),
    ("/var/lib/pacemaker/cores", 0o750),
    ("/var/log/pacemaker", 0o770),
)


def log(message: str, level: str = "notice") -> None:
    from .launchlog import LOG

    LOG.log(message, level)


def error(message: str) -> None:
    print(f"pcmk-launch: {message}", file=sys.stderr, flush=True)


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
    p.add_argument("--corosync-conf", default=DEFAULT_COROSYNC_CONF, metavar="PATH")
    p.add_argument("--cib-file", default=DEFAULT_CIB, metavar="PATH", help="CIB to seed if absent")
    p.add_argument(
        "--log-socket",
        default="/dev/log",
        metavar="PATH",
        help="syslog socket to relay to stdout ('' for none)",
    )
    p.add_argument(
        "--check", action="store_true", help="also test the rendered file with `corosync -t`"
    )
    p.add_argument(
        "--run-dir", default="/run/pcmk_launch", metavar="DIR", help="where a derived key goes"
    )
    p.add_argument("--json", action="store_true", help="status: print JSON")
    p.add_argument("words", nargs="*", help=argparse.SUPPRESS)  # nodes ACTION ARGS
    p.add_argument(
        "--force", action="store_true", help="nodes remove: even a node that is a member"
    )
    p.add_argument(
        "--node-list-file",
        default=NODE_LIST_FILE,
        metavar="PATH",
        help="where `nodes` keeps the changed node list (on the corosync volume)",
    )
    return p


def local_node_name(env: Mapping[str, str]) -> str:
    """The name pacemaker gives this node: its NAME= in the list, else the hostname."""
    try:
        cluster = load_cluster(env)
    except ConfigError:
        return os.uname().nodename
    local = getattr(cluster, "local", None)  # a remote node is named by its cluster's resource
    return (local and local.name) or os.uname().nodename


def cluster_state(with_cib: bool = False):
    """One crm_mon call (and one cibadmin for status); raises ValueError with a reason."""
    from . import health

    try:
        mon = subprocess.run(
            ["crm_mon", "--one-shot", "--output-as=xml"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except FileNotFoundError:
        raise ValueError("crm_mon is not installed") from None
    except subprocess.TimeoutExpired:
        raise ValueError("crm_mon did not answer within 10s") from None
    if mon.returncode != 0 and "<current_dc" not in mon.stdout:
        detail = (
            health.failure_reason(mon.stdout)
            or (mon.stderr.strip().splitlines() or [f"exit code {mon.returncode}"])[-1]
        )
        raise ValueError(f"the cluster is not running here (crm_mon: {detail})")
    cib = None
    if with_cib:
        q = subprocess.run(
            ["cibadmin", "--query", "--scope", "resources"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        cib = q.stdout if q.returncode == 0 else None
    return health.parse(mon.stdout, cib)


def cmd_keygen() -> int:
    from . import authkey

    if sys.stdout.isatty():
        error("keygen prints binary key bytes: redirect it to a file, e.g. keygen > authkey")
        return ExitCode.CONFIG
    sys.stdout.buffer.write(os.urandom(authkey.KEY_SIZE))
    sys.stdout.flush()
    return ExitCode.OK


def remote_state(env: Mapping[str, str]):
    """pacemaker-remoted's pids, whether it listens on its port, and who is connected."""
    from . import health, listening, procs
    from .errors import Problems
    from .settings import _remote_port

    pids = procs.pids_named("pacemaker-remoted")
    port = _remote_port(env, Problems())
    tables = listening.read_tables()
    return health.RemoteState(
        tuple(sorted(pids)),
        port,
        listening.listening(port, tables),
        tuple(listening.peers(port, tables)),
    )


def is_remote(env: Mapping[str, str]) -> bool:
    return env.get("PCMK_ROLE", "cluster") == "remote"


def cmd_remote_health(env: Mapping[str, str]) -> int:
    from . import health

    state = remote_state(env)
    reason = health.judge_remote(state)
    if reason:
        print(f"unhealthy: {reason}")
        return 1
    conn = f"; cluster connected from {' '.join(state.peers)}" if state.peers else ""
    print(f"healthy: pacemaker-remoted is listening on TCP {state.port}{conn}")
    return 0


def cmd_remote_status(env: Mapping[str, str], as_json: bool) -> int:
    """A remote node knows its daemon and connections; the cluster's view only when a full
    node is connected (crm_mon then reaches the CIB through pacemaker-remoted)."""
    import json

    from . import health

    state = remote_state(env)
    reason = health.judge_remote(state)
    cluster, why = None, "no cluster connected"
    if state.peers:
        try:
            cluster = cluster_state(with_cib=True)
        except ValueError as exc:
            why = str(exc)
    host = os.uname().nodename
    if as_json:
        data = {"role": "remote", "running": bool(state.pids), "hostname": host}
        data.update(state.to_dict())
        data["connected"] = bool(state.peers)
        data["healthy"] = reason is None
        data["cluster"] = cluster.to_dict() if cluster else None
        if cluster is None:
            data["cluster_reason"] = why
        print(json.dumps(data, indent=2))
    else:
        sys.stdout.write(health.remote_summary(state, host))
        if cluster is not None:
            name = env.get("PCMK_CLUSTER_NAME", "docker")
            sys.stdout.write(health.summary(cluster, name, host))
        if reason:
            print(f"unhealthy: {reason}")
    return 0 if state.pids else 1


def cmd_health(env: Mapping[str, str]) -> int:
    from . import health, procs

    if is_remote(env):
        return cmd_remote_health(env)
    # The daemons first: crm_mon may still call this node online while its fencer is gone.
    reason = health.judge_daemons(procs.pacemaker_daemons())
    if reason is None:
        try:
            reason = health.judge(cluster_state(), local_node_name(env))
        except ValueError as exc:
            reason = str(exc)
    if reason:
        print(f"unhealthy: {reason}")
        return 1
    print("healthy: this node is online in a quorate partition with a DC")
    return 0


def host_report() -> dict:
    """status --json: what the node gets from its host (hostcheck) and what the running
    corosync really got (scheduling policy, locked memory)."""
    from . import hostcheck, procs

    facts = hostcheck.read_facts()
    corosync = procs.pids_named("corosync")
    return {
        "host": facts.to_dict(),
        "host_findings": [
            {"topic": f.topic, "ok": f.ok, "text": f.text, "fix": f.fix}
            for f in hostcheck.findings(facts)
        ],
        "corosync": hostcheck.corosync_got(corosync[0]) if corosync else None,
    }


def cmd_status(env: Mapping[str, str], as_json: bool) -> int:
    import json

    from . import health, procs
    from .errors import Problems
    from .plan import metrics_line
    from .settings import Settings, parse_metrics

    if is_remote(env):
        return cmd_remote_status(env, as_json)
    name = local_node_name(env)
    cluster_name = env.get("PCMK_CLUSTER_NAME", "docker")
    metrics, address = parse_metrics(env, Problems())
    daemons = procs.pacemaker_daemons()
    daemons_reason = health.judge_daemons(daemons)
    daemon_facts: dict[str, Any] = {
        "daemons": daemons,
        "missing_daemons": health.missing_daemons(daemons),
    }
    daemon_facts.update(host_report())
    try:
        state = cluster_state(with_cib=True)
    except ValueError as exc:
        if as_json:
            data = {"running": False, "reason": str(exc), "local_node": name, "healthy": False}
            print(json.dumps(data | daemon_facts, indent=2))
        else:
            print(f"not running: {exc}")
            print(health.daemons_line(daemons))
        return 1
    reason = daemons_reason or health.judge(state, name)
    members = node_list_report(env, state)
    if as_json:
        data = {"running": True, "cluster_name": cluster_name, "local_node": name}
        data.update(state.to_dict())
        data["healthy"] = reason is None
        data["unhealthy_reason"] = reason
        data.update(daemon_facts)
        data["metrics"] = {"on": metrics, "address": address}
        data.update(members)
        print(json.dumps(data, indent=2))
    else:
        sys.stdout.write(health.summary(state, cluster_name, name))
        print(health.daemons_line(daemons))
        print(metrics_line(Settings(metrics=metrics, metrics_address=address)))
        print(f"node list: {members['node_list']} (from {members['node_list_source']})")
        for left in members["leftover_nodes"]:
            print(
                f"leftover: pacemaker still shows {left}, which was removed from this node's "
                f"list. Fix: pcmk-launch nodes remove {left} (purges it again)"
            )
        for other in members["unknown_nodes"]:
            print(
                f"not in this node's list: pacemaker shows {other}. If other nodes added it, "
                f"run the same `pcmk-launch nodes add {other}=ADDR` here; if it was removed, "
                f"pcmk-launch nodes remove {other} purges it"
            )
        for f in daemon_facts["host_findings"]:
            if not f["ok"]:
                print(f"host: {f['topic']}: {f['text']}. Fix: {f['fix']}")
        if reason:
            print(f"unhealthy: {reason}")
    return 0


def node_list_report(env: Mapping[str, str], state) -> dict:
    """status: the node list in force, where it comes from, and nodes pacemaker still shows
    that are not in it (a removal not finished, or written back by a new DC)."""
    from .nodes import env_with_stored, read_stored, strangers

    current, used = env_with_stored(env, NODE_LIST_FILE)
    text = current.get(VAR_NODE_LIST, "")
    stored = read_stored(NODE_LIST_FILE) if used else None
    known = {int(n.id): n.name for n in state.nodes if n.id.isdigit()}
    left, unknown = strangers(text, known, stored.retired if stored else ())
    return {
        "node_list": text,
        "node_list_source": NODE_LIST_FILE if used else VAR_NODE_LIST,
        "leftover_nodes": left,
        "unknown_nodes": unknown,
    }


def load_cluster(
    env: Mapping[str, str],
    args: argparse.Namespace | None = None,
    interfaces=None,
    stored: bool = True,
):
    """Settings, node list and keys; with stored, the node list `nodes` changed, if in force."""
    from . import addresses, authkey, settings

    if stored:
        from .nodes import env_with_stored

        env, _ = env_with_stored(env, args.node_list_file if args else NODE_LIST_FILE)
    conf = args.corosync_conf if args else DEFAULT_COROSYNC_CONF
    ids = hacluster_ids()
    return settings.load(
        env,
        addresses.read_interfaces() if interfaces is None else interfaces,
        key_reader=authkey.read_key_file,
        conf_dir=os.path.dirname(os.path.abspath(conf)),
        run_dir=args.run_dir if args else "/run/pcmk_launch",
        remote_owners=(0,) if ids is None else (0, ids[0]),
    )


def write_key(crypto) -> None:
    """Put a derived key where corosync.conf says; a key file given by the operator stays."""
    from .fsutil import atomic_write

    if crypto is None:
        return
    if crypto.derived is not None:
        os.makedirs(os.path.dirname(crypto.keyfile), mode=0o700, exist_ok=True)
        atomic_write(crypto.keyfile, crypto.derived, mode=0o400)
    elif crypto.loose:
        log(
            f"warning: the authkey {crypto.keyfile} is readable by group or others; chmod 0400 it",
            "warning",
        )


def write_remote_key(remote) -> None:
    """Install the Pacemaker Remote key where pacemaker reads it, readable by haclient."""
    from .authkey import REMOTE_MODE
    from .fsutil import atomic_write

    if remote is None:
        return
    if remote.loose:
        log(f"warning: the authkey {remote.source} is readable by others; chmod 0640 it", "warning")
    if not remote.install:
        return
    ids = hacluster_ids()
    owner = (0, ids[1]) if ids is not None and os.geteuid() == 0 else None
    directory = os.path.dirname(remote.keyfile)
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o750)
        if owner is not None:  # pacemaker-controld (hacluster) must get through to the key
            os.chown(directory, *owner)
    atomic_write(remote.keyfile, remote.data, mode=REMOTE_MODE, owner=owner)


def check_with_corosync(path: str) -> None:
    """Run the real `corosync -t` on a rendered file (needs the local node to match)."""
    if not shutil.which("corosync"):
        raise ConfigError("--check needs the corosync binary, which is not installed here.")
    result = subprocess.run(
        ["corosync", "-t", "-c", path], capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        out = (result.stderr + result.stdout).strip().replace("\n", " | ")
        out = out or f"exit code {result.returncode}, no message (corosync logs to syslog)"
        raise ConfigError(f"corosync -t refused the rendered config: {out}")


def write_config(text: str, path: str, probe_text: str | None = None) -> None:
    """Write corosync.conf atomically; with probe_text, let `corosync -t` test it first."""
    from .fsutil import atomic_write

    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(
            f"--corosync-conf {path}: directory {directory} does not exist. "
            "Fix: create it or point --corosync-conf elsewhere."
        )
    try:
        if probe_text is not None:
            # Test a copy beside the target first, so a refused file never replaces a good one.
            probe = path + ".check"
            atomic_write(probe, probe_text.encode())
            try:
                check_with_corosync(probe)
            finally:
                os.unlink(probe)
        atomic_write(path, text.encode(), mode=0o644)
    except OSError as exc:
        raise ConfigError(
            f"--corosync-conf {path}: cannot write it: {exc.strerror}. "
            "Fix: point --corosync-conf at a writable file path."
        ) from None


def hacluster_ids() -> tuple[int, int] | None:
    import grp
    import pwd

    try:
        return pwd.getpwnam("hacluster").pw_uid, grp.getgrnam("haclient").gr_gid
    except KeyError:
        return None


def ensure_state_dirs(state_dirs=STATE_DIRS, ids: tuple[int, int] | None = None) -> None:
    """Recreate missing package directories (an empty volume hides the image's ones), and
    give back to hacluster what a volume's previous image wrote as its own hacluster."""
    ids = ids or hacluster_ids()
    if ids is None or os.geteuid() != 0:
        return
    for path, mode in state_dirs:
        if not os.path.isdir(path):
            os.makedirs(path, mode=mode, exist_ok=True)
            os.chown(path, *ids)
            continue
        moved = readopt(path, ids)
        if moved:
            log(
                f"{path}: gave {moved} entries to hacluster:haclient ({ids[0]}:{ids[1]}); "
                "the volume was written by an image whose hacluster had other ids"
            )


def foreign_ids(st_uid: int, st_gid: int, ids: tuple[int, int]) -> tuple[int, int] | None:
    """The owner an entry of a pacemaker state directory should have, if it is not its own:
    anything not root's and not this image's hacluster/haclient was the previous image's."""
    uid = ids[0] if st_uid not in (0, ids[0]) else st_uid
    gid = ids[1] if st_gid not in (0, ids[1]) else st_gid
    return (uid, gid) if (uid, gid) != (st_uid, st_gid) else None


def readopt(top: str, ids: tuple[int, int]) -> int:
    """chown top and every entry under it that foreign_ids() says is stale; how many."""
    paths = [top]
    for directory, dirs, files in os.walk(top):
        paths += [os.path.join(directory, name) for name in dirs + files]
    moved = 0
    for path in paths:
        st = os.lstat(path)
        owner = foreign_ids(st.st_uid, st.st_gid, ids)
        if owner is not None:
            os.lchown(path, *owner)
            moved += 1
    return moved


def seed_cib(cluster, path: str) -> str | None:
    """Write a first CIB with the configured properties, only where none exists."""
    from . import cib
    from .fsutil import atomic_write

    props = cluster.settings.cluster_properties
    if not props or os.path.exists(path):
        return None
    if not shutil.which("cibadmin"):
        return "cibadmin not found; CIB not seeded"
    empty = subprocess.run(
        ["cibadmin", "--empty"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, cib.seed(empty, props).encode(), mode=0o600, owner=hacluster_ids())
    return "seeded a new CIB with " + " ".join(f"{k}={v}" for k, v in props)


def check_cib_schema(path: str, schema_dir: str = SCHEMA_DIR) -> None:
    """Refuse a CIB that this Pacemaker cannot read (a downgrade after a schema upgrade)."""
    from . import cib

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        schemas = os.listdir(schema_dir)
    except OSError:
        return  # no CIB yet (seeded below), or no schemas to compare with
    found = cib.too_new(text, schemas)
    if found:
        raise ConfigError(
            f"{path} is written in CIB schema {found[0]}, newer than this image's Pacemaker "
            f"reads (up to {found[1]}): the cluster's CIB was upgraded by a newer Pacemaker "
            "(cibadmin --upgrade), which cannot be undone. Fix: run this node on the newer "
            "image again; the CIB was left as it is."
        )


def render_files(args: argparse.Namespace, env: Mapping[str, str], interfaces=None):
    """Validate, then prepare what the role needs (ROLE_SETUP); the node it was done for."""
    node = load_cluster(env, args, interfaces)
    if node.settings.log_format == "json" and not args.dry_run:
        from .launchlog import LOG

        LOG.use_json()
    if args.command == "run" and not args.dry_run and node.settings.role == "cluster":
        from .nodes import read_stored

        stored = read_stored(args.node_list_file)
        if stored is not None and env_list_matches(env, stored):
            log(
                f"node list: the one changed by `pcmk-launch nodes {stored.change}` "
                f"({args.node_list_file}), not {VAR_NODE_LIST} as given at docker run"
            )
    return ROLE_SETUP[node.settings.role](args, node)


VAR_NODE_LIST = "PCMK_NODE_LIST"


def env_list_matches(env: Mapping[str, str], stored) -> bool:
    from .membership import normal

    return stored.base == normal(env.get(VAR_NODE_LIST, ""))


NO_REMOTED = (
    "pacemaker-remoted is not installed here (Debian's pacemaker-remote package conflicts with "
    "pacemaker, so the full image has none)."
)
NO_REMOTED_FIX = "run the remote image (make image-remote), or install pacemaker-remote."


def prepare_remote(args: argparse.Namespace, node):
    """PCMK_ROLE=remote: no corosync.conf and no CIB; only the key pacemaker-remoted reads."""
    from . import plan

    if args.check:
        raise ConfigError(
            "--check tests corosync.conf with `corosync -t`, and a remote node (PCMK_ROLE=remote) "
            "has none. Fix: drop --check."
        )
    missing = shutil.which("pacemaker-remoted") is None
    if args.dry_run:
        sys.stdout.write("pcmk-launch dry run: nothing is written or started.\n")
        sys.stdout.write(plan.describe_remote(node))
        if missing:
            sys.stdout.write(f"warning: {NO_REMOTED}\n")
        return node
    if missing and args.command == "run":
        raise ConfigError(f"PCMK_ROLE=remote: {NO_REMOTED} Fix: {NO_REMOTED_FIX}")
    from . import hostcheck

    facts = getattr(args, "host_facts", None) or hostcheck.read_facts()
    refusal = hostcheck.caps_refusal(facts, hostcheck.REMOTE_REQUIRED_CAPS)
    if refusal:
        raise ConfigError(refusal)
    ensure_state_dirs()
    write_remote_key(node.remote_key)
    log(
        f"Pacemaker Remote node: authkey {node.remote_key.keyfile} "
        f"({node.remote_key.fingerprint}); no corosync.conf, no CIB"
    )
    return node


def prepare_cluster(args: argparse.Namespace, cluster):
    """PCMK_ROLE=cluster: corosync.conf, its key, the remote key if set, a first CIB."""
    from functools import partial

    from . import corosync_conf, hostcheck

    check_cib_schema(args.cib_file)
    facts = getattr(args, "host_facts", None) or hostcheck.read_facts()
    knet = cluster.settings.transport == "knet"
    refusals = [hostcheck.caps_refusal(facts), hostcheck.knet_refusal(facts) if knet else None]
    if any(refusals):
        raise ConfigError([r for r in refusals if r])
    fallback = knet and hostcheck.knet_plan(facts)[0] == "fallback"
    findings = hostcheck.findings(facts, knet=knet)
    render = partial(corosync_conf.render, knet_fallback=fallback)
    text = render(cluster)
    if args.dry_run:
        from . import plan

        paths = {"corosync_conf": args.corosync_conf, "cib": args.cib_file}
        sys.stdout.write("pcmk-launch dry run: nothing is written or started.\n")
        sys.stdout.write(plan.describe(cluster, paths, [f.line() for f in findings]))
        sys.stdout.write(f"--- {args.corosync_conf} ---\n{text}")
        if args.check:
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                probe = cluster
                if cluster.crypto and cluster.crypto.derived:  # not written in a dry run
                    from dataclasses import replace

                    key = replace(cluster.crypto, keyfile=os.path.join(tmp, "authkey"))
                    write_key(key)
                    probe = replace(cluster, crypto=key)
                path = os.path.join(tmp, "corosync.conf")
                write_config(render(probe), path, render(probe, check=True))
            sys.stdout.write("corosync -t: the rendered config is valid\n")
        return cluster
    ensure_state_dirs()
    if cluster.crypto is None and not cluster.standalone:
        log(
            "WARNING: PCMK_CRYPTO=off: cluster traffic is neither encrypted nor authenticated; "
            "anyone who reaches UDP port 5405 can join or forge messages",
            "warning",
        )
    write_key(cluster.crypto)
    write_remote_key(cluster.remote_key)
    probe = render(cluster, check=True) if args.check else None
    write_config(text, args.corosync_conf, probe)
    log(f"wrote {args.corosync_conf} ({describe_local(cluster)})")
    if args.command == "run":
        for finding in findings:  # what this node really got from its host and engine
            if finding.ok:
                log(finding.line())
            else:
                log("WARNING: " + finding.line(), "warning")
    note = seed_cib(cluster, args.cib_file)
    if note:
        log(note)
    return cluster


ROLE_SETUP = {"cluster": prepare_cluster, "remote": prepare_remote}


def describe_local(cluster) -> str:
    if cluster.standalone:
        return "standalone one-node cluster"
    return f"{len(cluster.nodes)} nodes, this host is nodeid {cluster.local.nodeid}"


Handoff = Callable[[dict], None]


def supervisor_handoff(args: argparse.Namespace, cluster) -> dict:
    """What PID 1 needs to become the supervisor: its options and the daemons' environment."""
    from .settings import pacemaker_env

    s = cluster.settings
    return {
        "supervise": [
            f"--corosync-conf={args.corosync_conf}",
            f"--start-timeout={s.start_timeout:g}",
            f"--stop-timeout={s.stop_timeout:g}",
            f"--corosync-stop-timeout={s.corosync_stop_timeout:g}",
            f"--log-socket={args.log_socket}",
            f"--log-format={s.log_format}",
            f"--metrics-address={s.metrics_address if s.metrics else ''}",
            f"--role={s.role}",
            f"--remote-port={s.remote_port}",
        ],
        "env": pacemaker_env(s, os.environ),
    }


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    interfaces: dict[str, list[str]] | None = None,
    handoff: Handoff | None = None,
    host_facts=None,
) -> int:
    """Entry point; env, interfaces and host_facts (hostcheck.HostFacts) are injectable
    (default: the real ones).

    Running the cluster or a user's command is handed off (see __main__): PID 1 becomes
    it, while this code runs in a child that exits.
    """
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
    if args.command == "health":
        return cmd_health(env)
    if args.command == "status":
        return cmd_status(env, args.json)
    if args.command == "nodes":
        from .nodes import cmd_nodes

        return cmd_nodes(args, env, interfaces)
    if args.words:
        error(f"unexpected arguments: {' '.join(args.words)}. Fix: see pcmk-launch --help")
        return ExitCode.CONFIG
    try:
        cluster = render_files(args, env, interfaces)
    except ConfigError as exc:
        error(exc.message())
        return exc.exit_code
    if args.command == "render" or args.dry_run:
        return ExitCode.OK
    return _handoff(handoff, supervisor_handoff(args, cluster))


def _handoff(handoff: Handoff | None, what: dict) -> int:
    if handoff is None:
        raise RuntimeError("running needs `python -m pcmk_launch`, which becomes what it hands off")
    handoff(what)
    return ExitCode.OK
