"""Settings from the environment: one dataclass, validated as a whole (every problem at once).

Pure: takes a mapping (os.environ in production, a dict in tests) and an interface table.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from . import addresses, authkey, booth, nodelist
from .booth import Booth, BoothKey
from .errors import Problems
from .nodelist import Node, show
from .options import (
    COROSYNC_STOP_TIMEOUT,
    LOG_FORMAT,
    METRICS_ADDRESS,
    REMOTE_PORT,
    RUN_DIR,
    START_TIMEOUT,
    STOP_TIMEOUT,
)

CLUSTER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
PROPERTY_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,63}\Z")
# '%': Pacemaker's percentages (load-threshold=80%); nothing here means anything in XML
PROPERTY_VALUE_RE = re.compile(r"[A-Za-z0-9_.:+%-]{1,64}\Z")
DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII only: str.isdigit() also accepts '²' and '３'

TRANSPORTS = ("knet", "udpu")

# Defaults worth a comment: dc-deadtime=1s lets fresh nodes elect a DC a second after they
# have joined instead of pacemaker's 20 s wait for peers that are already there. A node that
# comes later joins the DC it finds (a running DC offers it a join at once), so a short wait
# costs at most an extra election at start-up.
DEFAULT_PROPERTY_PAIRS = (("dc-deadtime", "1s"),)
DEFAULT_PROPERTIES = " ".join(f"{k}={v}" for k, v in DEFAULT_PROPERTY_PAIRS)
# A standalone node has no peer that could fence it, so fencing cannot help it; without this
# Pacemaker 3.0 starts no resource there and logs every transition as an error. A cluster of
# several nodes keeps Pacemaker's default (fencing on) and needs a fence device.
STANDALONE_PROPERTY_PAIRS = (*DEFAULT_PROPERTY_PAIRS, ("stonith-enabled", "false"))

# variable -> (default, one-line description); the README's table is checked against this.
VARIABLES: dict[str, tuple[str, str]] = {
    "PCMK_ROLE": (
        "cluster",
        "cluster: a full node (corosync + pacemakerd); remote: pacemaker-remoted; "
        "arbitrator: boothd",
    ),
    "PCMK_NODE_LIST": (
        "",
        "cluster nodes: ADDR, NAME=ADDR or NAME=ADDR,ADDR... ; empty: standalone",
    ),
    "PCMK_CLUSTER_NAME": ("docker", "corosync cluster_name"),
    "PCMK_TRANSPORT": ("knet", "knet, or udpu (one link only)"),
    "PCMK_TOKEN_TIMEOUT": ("", "totem token timeout in ms (corosync's default: 3000)"),
    "PCMK_TOKEN_COEFFICIENT": (
        "",
        "ms corosync adds to the token per node above two (corosync's default: 650)",
    ),
    "PCMK_CONSENSUS_TIMEOUT": ("", "totem consensus timeout in ms (default: 1.2 x token)"),
    "PCMK_QUORUM": ("", "votequorum options as key=value words"),
    "PCMK_CLUSTER_PROPERTIES": (
        DEFAULT_PROPERTIES,
        "properties seeded into a new CIB only (standalone: also stonith-enabled=false)",
    ),
    "PCMK_START_TIMEOUT": (
        f"{START_TIMEOUT:g}",
        "seconds corosync (remote: pacemaker-remoted) may take to be ready",
    ),
    "PCMK_STOP_TIMEOUT": (
        f"{STOP_TIMEOUT:g}",
        "seconds pacemaker may take to stop (resources move away)",
    ),
    "PCMK_COROSYNC_STOP_TIMEOUT": (
        f"{COROSYNC_STOP_TIMEOUT:g}",
        "seconds corosync may take to leave after pacemaker",
    ),
    "PCMK_CRYPTO": ("on", "on: knet aes256/sha256 with an authkey (multi-node); off: none"),
    "PCMK_AUTHKEY_FILE": (
        "",
        "the authkey to use (default: first of the Docker secret and /etc/corosync/authkey)",
    ),
    "PCMK_AUTHKEY_PASSPHRASE": ("", "derive the same authkey on every host from this"),
    "PCMK_REMOTE_AUTHKEY_FILE": (
        "",
        "Pacemaker Remote key (default: first of the Docker secret and /etc/pacemaker/authkey)",
    ),
    "PCMK_REMOTE_AUTHKEY_PASSPHRASE": ("", "derive the Pacemaker Remote key from this"),
    "PCMK_AUTHKEY_KDF": ("scrypt", "how passphrases become keys: scrypt, or hkdf (pre-scrypt)"),
    "PCMK_LOG_LEVEL": ("notice", "error, warning, notice, info or debug, for every daemon"),
    "PCMK_LOG_FORMAT": (LOG_FORMAT, "text, or json: one object per line for log shippers"),
    "PCMK_METRICS": ("off", "on: run ha_cluster_exporter, a Prometheus endpoint"),
    "PCMK_METRICS_ADDRESS": (
        METRICS_ADDRESS,
        "[HOST]:PORT the exporter listens on (empty HOST: all)",
    ),
    booth.SITES: ("", "multi-site: each site's booth address (a VIP there), space-separated"),
    booth.ARBITRATORS: ("", "multi-site: the booth arbitrators' addresses"),
    booth.TICKETS: ("", "multi-site: tickets, NAME[:expire=S,acquire-after=S,...] each"),
    booth.PORT: (str(booth.DEFAULT_PORT), "booth's UDP/TCP port, the same everywhere"),
    booth.KEY_FILE: ("", "booth's key (default: the secret booth-authkey, /etc/booth/authkey)"),
    booth.KEY_PASSPHRASE: ("", "derive booth's key from this, the same at every site"),
}
ROLES = ("cluster", "remote", "arbitrator")
# Settings that configure corosync, its key, the CIB seed or the exporter: a remote node runs
# none of these, so setting one there is a mistake worth refusing rather than ignoring.
CLUSTER_ONLY = (
    "PCMK_NODE_LIST",
    "PCMK_TRANSPORT",
    "PCMK_TOKEN_TIMEOUT",
    "PCMK_TOKEN_COEFFICIENT",
    "PCMK_CONSENSUS_TIMEOUT",
    "PCMK_QUORUM",
    "PCMK_CLUSTER_PROPERTIES",
    "PCMK_COROSYNC_STOP_TIMEOUT",
    "PCMK_CRYPTO",
    "PCMK_AUTHKEY_FILE",
    "PCMK_AUTHKEY_PASSPHRASE",
)
METRICS_VARS = ("PCMK_METRICS", "PCMK_METRICS_ADDRESS")
LOG_LEVELS = ("error", "warning", "notice", "info", "debug")
LOG_FORMATS = ("text", "json")

QUORUM_BOOL = ("wait_for_all", "last_man_standing", "auto_tie_breaker", "two_node")
QUORUM_INT = ("last_man_standing_window", "expected_votes")
QUORUM_KEYS = QUORUM_BOOL + QUORUM_INT + ("auto_tie_breaker_node",)


@dataclass(frozen=True)
class Settings:
    """Everything the launcher reads from the environment, validated."""

    role: str = "cluster"
    node_list: str = ""
    cluster_name: str = "docker"
    transport: str = "knet"
    token_ms: int | None = None
    token_coefficient_ms: int | None = None
    consensus_ms: int | None = None
    quorum: tuple[tuple[str, str], ...] = ()
    cluster_properties: tuple[tuple[str, str], ...] = DEFAULT_PROPERTY_PAIRS
    start_timeout: float = START_TIMEOUT
    stop_timeout: float = STOP_TIMEOUT
    corosync_stop_timeout: float = COROSYNC_STOP_TIMEOUT
    log_level: str = "notice"
    log_format: str = LOG_FORMAT
    metrics: bool = False
    metrics_address: str = METRICS_ADDRESS
    remote_port: int = REMOTE_PORT
    booth_port: int = booth.DEFAULT_PORT


@dataclass(frozen=True)
class ArbitratorNode:
    """PCMK_ROLE=arbitrator: boothd alone, voting on tickets between sites."""

    settings: Settings
    booth: Booth
    booth_key: BoothKey


@dataclass(frozen=True)
class RemoteNode:
    """PCMK_ROLE=remote: what pacemaker-remoted needs. No nodes, no corosync, no CIB."""

    settings: Settings
    remote_key: authkey.RemoteKey


@dataclass(frozen=True)
class Cluster:
    """What corosync.conf is rendered from: settings plus the checked nodes."""

    settings: Settings
    nodes: tuple[Node, ...]
    local: Node
    standalone: bool
    quorum: tuple[tuple[str, str], ...] = field(default=())  # with two_node filled in
    crypto: authkey.Crypto | None = None  # None: no encryption (standalone or PCMK_CRYPTO=off)
    remote_key: authkey.RemoteKey | None = None  # None: no Pacemaker Remote key set
    booth: Booth | None = None  # None: no PCMK_BOOTH_* (a single-site cluster)
    booth_key: BoothKey | None = None


def _number(
    env: Mapping[str, str], var: str, low: int, high: int, unit: str, problems: Problems
) -> int | None:
    raw = env.get(var, VARIABLES[var][0]).strip()
    if raw == "":
        return None
    if not DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        problems.add(
            f"{var}={show(raw)} is not a whole number of {unit} from {low} to {high}. "
            f"Fix: set e.g. {var}={max(low, min(high, 3000 if unit == 'ms' else 60))}, or unset it."
        )
        return None
    return int(raw)


def _pairs(env: Mapping[str, str], var: str, problems: Problems) -> list[tuple[str, str]]:
    out = []
    for word in env.get(var, VARIABLES[var][0]).split():
        key, sep, value = word.partition("=")
        if not sep or not key or not value:
            problems.add(f"{var}: {show(word)} is not key=value. Fix: write e.g. {var}='a=1 b=2'.")
            continue
        out.append((key, value))
    return out


def _quorum(env: Mapping[str, str], problems: Problems) -> tuple[tuple[str, str], ...]:
    out: dict[str, str] = {}
    for key, value in _pairs(env, "PCMK_QUORUM", problems):
        where = f"PCMK_QUORUM: {show(key + '=' + value)}"
        if key not in QUORUM_KEYS:
            problems.add(f"{where}: unknown option. Fix: use one of {', '.join(QUORUM_KEYS)}.")
        elif key in QUORUM_BOOL and value not in ("0", "1"):
            problems.add(f"{where}: {key} takes 0 or 1. Fix: write {key}=1 or {key}=0.")
        elif key in QUORUM_INT and not (DIGITS.fullmatch(value) and 0 < int(value) <= 3_600_000):
            problems.add(f"{where}: {key} takes a positive whole number. Fix: e.g. {key}=3.")
        elif key == "auto_tie_breaker_node" and not (
            value in ("lowest", "highest") or re.fullmatch(r"[0-9]{1,3}(,[0-9]{1,3})*", value)
        ):
            problems.add(
                f"{where}: takes lowest, highest or node ids separated by commas. "
                "Fix: e.g. auto_tie_breaker_node=lowest or auto_tie_breaker_node=1,2."
            )
        else:
            out[key] = value.replace(",", " ")  # the last one wins, as in corosync.conf
    return tuple(out.items())


def _properties(env: Mapping[str, str], problems: Problems) -> tuple[tuple[str, str], ...]:
    if "PCMK_CLUSTER_PROPERTIES" not in env and not env.get("PCMK_NODE_LIST", "").strip():
        return STANDALONE_PROPERTY_PAIRS
    out = []
    for key, value in _pairs(env, "PCMK_CLUSTER_PROPERTIES", problems):
        if not PROPERTY_NAME_RE.match(key) or not PROPERTY_VALUE_RE.match(value):
            problems.add(
                f"PCMK_CLUSTER_PROPERTIES: {show(key + '=' + value)} is not a valid property. "
                "Fix: names are lower-case words with '-', values letters, digits and ._:+%-"
                " (e.g. dc-deadtime=2s)."
            )
        else:
            out.append((key, value))
    return tuple(out)


def _unknown_variables(env: Mapping[str, str], problems: Problems) -> None:
    # Upper-case PCMK_ names are ours (pacemaker's own are PCMK_lowercase): a typo such as
    # PCMK_NODELIST would otherwise silently start a standalone node.
    for var in sorted(env):
        if re.fullmatch(r"PCMK_[A-Z0-9_]+", var) and var not in VARIABLES:
            import difflib  # only on this error path: it is slow to import

            # A truncated name (PCMK_TOKEN) means the longer one, whatever difflib scores.
            longer = [v for v in VARIABLES if v.startswith(var + "_")]
            guess = longer[:1] or difflib.get_close_matches(var, VARIABLES, n=1)
            hint = f"did you mean {guess[0]}?" if guess else f"known: {', '.join(VARIABLES)}."
            problems.add(f"{var} is not a variable pcmk_launch knows. Fix: {hint}")


METRICS_ADDRESS_RE = re.compile(r"(?P<host>[0-9.]*|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})\Z")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_metrics(env: Mapping[str, str], problems: Problems) -> tuple[bool, str]:
    raw = env.get("PCMK_METRICS", "off")
    if raw not in ("on", "off"):
        problems.add(f"PCMK_METRICS={show(raw)} is unknown. Fix: use on or off.")
    address = env.get("PCMK_METRICS_ADDRESS", METRICS_ADDRESS)
    m = METRICS_ADDRESS_RE.match(address)
    host = m and m["host"].strip("[]")
    if not m or not 0 < int(m["port"]) < 65536 or (host and not _is_ip(host)):
        problems.add(
            f"PCMK_METRICS_ADDRESS={show(address)} is not [HOST]:PORT with an IP address "
            "(or none, for all) and a port from 1 to 65535. Fix: e.g. PCMK_METRICS_ADDRESS=:9664 "
            "or PCMK_METRICS_ADDRESS=192.0.2.11:9664."
        )
    return raw == "on", address


def parse_settings(env: Mapping[str, str], problems: Problems) -> Settings:
    """Read and check every scalar setting; node list syntax is checked by build_cluster."""
    _unknown_variables(env, problems)
    role = env.get("PCMK_ROLE", "cluster")
    if role not in ROLES:
        problems.add(
            f"PCMK_ROLE={show(role)} is unknown. Fix: use cluster (a full node, the default), "
            "remote (a Pacemaker Remote node) or arbitrator (a booth arbitrator)."
        )
    name = env.get("PCMK_CLUSTER_NAME", "docker")
    if not CLUSTER_NAME_RE.match(name):
        problems.add(
            f"PCMK_CLUSTER_NAME={show(name)} is not a valid cluster name. Fix: use 1-64 "
            "letters, digits, '.', '_' or '-', starting with a letter or digit."
        )
    transport = env.get("PCMK_TRANSPORT", "knet")
    if transport not in TRANSPORTS:
        problems.add(f"PCMK_TRANSPORT={show(transport)} is unknown. Fix: use knet or udpu.")
    # Below ~126 ms corosync refuses a 2-node token; nothing that low is sane on a real network.
    token = _number(env, "PCMK_TOKEN_TIMEOUT", 200, 600_000, "ms", problems)
    coefficient = _number(env, "PCMK_TOKEN_COEFFICIENT", 0, 600_000, "ms", problems)
    consensus = _number(env, "PCMK_CONSENSUS_TIMEOUT", 240, 720_000, "ms", problems)
    if token and consensus and consensus < token * 1.2:
        problems.add(
            f"PCMK_CONSENSUS_TIMEOUT={consensus} is below 1.2 x PCMK_TOKEN_TIMEOUT ({token}), "
            "the minimum corosync.conf(5) gives for a stable membership. "
            f"Fix: set it to at least {-(-token * 6 // 5)} or unset it."
        )
    log_level = env.get("PCMK_LOG_LEVEL", "notice")
    if log_level not in LOG_LEVELS:
        problems.add(
            f"PCMK_LOG_LEVEL={show(log_level)} is unknown. Fix: use one of {', '.join(LOG_LEVELS)}."
        )
    log_format = env.get("PCMK_LOG_FORMAT", LOG_FORMAT)
    if log_format not in LOG_FORMATS:
        problems.add(f"PCMK_LOG_FORMAT={show(log_format)} is unknown. Fix: use text or json.")
    timeouts = {
        var: _number(env, var, 1, 86_400, "seconds", problems)
        for var in ("PCMK_START_TIMEOUT", "PCMK_STOP_TIMEOUT", "PCMK_COROSYNC_STOP_TIMEOUT")
    }
    metrics, metrics_address = parse_metrics(env, problems)
    return Settings(
        role=role if role in ROLES else "cluster",
        node_list=env.get("PCMK_NODE_LIST", ""),
        cluster_name=name,
        transport=transport,
        token_ms=token,
        token_coefficient_ms=coefficient,
        consensus_ms=consensus,
        quorum=_quorum(env, problems),
        cluster_properties=_properties(env, problems),
        start_timeout=float(timeouts["PCMK_START_TIMEOUT"] or START_TIMEOUT),
        stop_timeout=float(timeouts["PCMK_STOP_TIMEOUT"] or STOP_TIMEOUT),
        corosync_stop_timeout=float(
            timeouts["PCMK_COROSYNC_STOP_TIMEOUT"] or COROSYNC_STOP_TIMEOUT
        ),
        log_level=log_level,
        log_format=log_format,
        metrics=metrics,
        metrics_address=metrics_address,
    )


def pacemaker_env(settings: Settings, env: Mapping[str, str]) -> dict[str, str]:
    """Pacemaker's own variables that follow from ours; ones the operator set win."""
    wanted = {
        "PCMK_logfacility": "daemon",  # to /dev/log, which the launcher relays to stdout
        "PCMK_logfile": "none",  # no unrotated file growing inside the container
        "PCMK_logpriority": settings.log_level,
    }
    if settings.log_level == "debug":
        wanted["PCMK_debug"] = "yes"
    if settings.role == "arbitrator":
        # boothd -S logs to stderr (the container's log) and, through cluster-glue, to syslog
        # too: once is enough.
        wanted["HA_logfacility"] = "none"
    return {k: v for k, v in wanted.items() if k not in env}


STANDALONE_NODE = Node(nodeid=1, name=None, addrs=("127.0.0.1",), text="standalone")


def _two_node_problem(count: int) -> str:
    return (
        f"PCMK_QUORUM: two_node=1 needs exactly 2 nodes; the cluster has {count}. "
        "Fix: remove two_node=1 (it is set automatically for 2 nodes)."
    )


def build_cluster(
    settings: Settings,
    interfaces: addresses.InterfaceTable,
    resolver: nodelist.Resolver,
    problems: Problems,
) -> Cluster | None:
    """Check the node list against this host; None when there were problems."""
    quorum = dict(settings.quorum)
    if not settings.node_list.strip():
        if quorum.get("two_node") == "1":
            problems.add(_two_node_problem(1))
        if problems:
            return None
        return Cluster(settings, (STANDALONE_NODE,), STANDALONE_NODE, True, settings.quorum)
    before = len(problems.items)
    entries = nodelist.parse(settings.node_list, problems)
    nodes = nodelist.resolve(entries, resolver, problems)
    nodelist.check(nodes, problems)
    if settings.transport == "udpu" and any(len(n.addrs) > 1 for n in nodes):
        problems.add("PCMK_TRANSPORT=udpu supports one link only. Fix: use knet for several links.")
    if quorum.get("two_node") == "1" and len(nodes) != 2:
        problems.add(_two_node_problem(len(nodes)))
    if len(nodes) == 2:
        quorum.setdefault("two_node", "1")
    # Matching a list that is itself wrong would only add noise to the report.
    list_ok = len(problems.items) == before
    local = addresses.find_local(nodes, interfaces, problems) if nodes and list_ok else None
    if problems or local is None:
        return None
    return Cluster(settings, tuple(nodes), local, False, tuple(quorum.items()))


def resolve_host(name: str) -> list[str]:  # pragma: no cover - the real resolver
    """Addresses of a hostname in the resolver's order; [] when it does not resolve."""
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


def _no_key(path: str) -> authkey.KeyFile:
    raise FileNotFoundError(path)


def load(
    env: Mapping[str, str],
    interfaces: addresses.InterfaceTable,
    resolver: nodelist.Resolver = resolve_host,
    key_reader: authkey.KeyReader = _no_key,
    conf_dir: str = "/etc/corosync",
    run_dir: str = RUN_DIR,
    remote_owners: tuple[int, ...] = (0,),
) -> Cluster | RemoteNode | ArbitratorNode:
    """Settings, cluster and key in one go; raises ConfigError listing every problem.

    The default key_reader finds no key file, so pure callers (tests, previews) either give
    a fake reader or get the "no authkey" problem for a multi-node list (or a remote node).
    PCMK_ROLE=remote gives a RemoteNode instead of a Cluster.
    """
    problems = Problems()
    if env.get("PCMK_ROLE") == "remote":
        return load_remote(env, key_reader, problems, remote_owners)
    if env.get("PCMK_ROLE") == "arbitrator":
        return load_arbitrator(env, interfaces, key_reader, problems)
    settings = parse_settings(env, problems)
    cluster = build_cluster(settings, interfaces, resolver, problems)
    standalone = not settings.node_list.strip()

    crypto = authkey.resolve(
        env, settings.cluster_name, standalone, conf_dir, run_dir, key_reader, problems
    )
    remote_key = authkey.resolve_remote(
        env, settings.cluster_name, key_reader, problems, owners=remote_owners
    )
    sites = booth.parse(env, problems)
    booth_key = booth.resolve_key(env, key_reader, problems) if sites else None
    if crypto is not None and settings.transport == "udpu":
        problems.add(
            "PCMK_TRANSPORT=udpu cannot encrypt (corosync does crypto on knet only). "
            "Fix: use PCMK_TRANSPORT=knet (the default), or set PCMK_CRYPTO=off."
        )
    problems.raise_if_any()
    assert cluster is not None
    return replace(
        cluster,
        crypto=crypto,
        remote_key=remote_key,
        booth=sites,
        booth_key=booth_key,
        settings=replace(cluster.settings, booth_port=sites.port if sites else booth.DEFAULT_PORT),
    )


def remote_port(env: Mapping[str, str], problems: Problems) -> int:
    """pacemaker-remoted's port: pacemaker's own PCMK_remote_port, which the daemon reads
    from the same environment; the readiness probe must look at the same port."""
    raw = env.get("PCMK_remote_port", "").strip()
    if not raw:
        return REMOTE_PORT
    if not DIGITS.fullmatch(raw) or not 0 < int(raw) < 65536:
        problems.add(
            f"PCMK_remote_port={show(raw)} is not a TCP port from 1 to 65535. "
            f"Fix: unset it (pacemaker-remoted's default is {REMOTE_PORT}) or set e.g. "
            f"PCMK_remote_port={REMOTE_PORT}."
        )
        return REMOTE_PORT
    return int(raw)


def load_arbitrator(
    env: Mapping[str, str],
    interfaces: addresses.InterfaceTable,
    key_reader: authkey.KeyReader,
    problems: Problems,
) -> ArbitratorNode:
    """PCMK_ROLE=arbitrator: booth's configuration and key; one of PCMK_BOOTH_ARBITRATORS must
    be this host's (boothd finds its role by its own address). Nothing of a cluster node."""
    remote_key = ("PCMK_REMOTE_AUTHKEY_FILE", "PCMK_REMOTE_AUTHKEY_PASSPHRASE")
    not_here: tuple[str, ...] = (*CLUSTER_ONLY, *METRICS_VARS, *remote_key)
    for var in not_here:
        value = env.get(var, "").strip()
        if value and not (var == "PCMK_METRICS" and value == "off"):
            problems.add(
                f"{var} is set, but PCMK_ROLE=arbitrator runs boothd alone: no corosync, no "
                f"pacemaker, no exporter. Fix: unset {var} on the arbitrator."
            )
    rest = {k: v for k, v in env.items() if k not in not_here}
    conf = booth.parse(env, problems, role="arbitrator")
    key = booth.resolve_key(env, key_reader, problems)
    settings = parse_settings(rest, problems)
    if conf is not None:
        local = addresses.local_set(interfaces)
        if not any(a in local for a in conf.arbitrators):
            listing = ", ".join(sorted(a for a in local if a not in ("127.0.0.1", "::1")))
            problems.add(
                f"{booth.ARBITRATORS}: none of {' '.join(conf.arbitrators)} is an address of "
                f"this host (it has {listing or 'only loopback'}). Fix: list this host's "
                "address, and run the container with --net=host or --ip ADDR."
            )
    problems.raise_if_any()
    assert conf is not None and key is not None
    return ArbitratorNode(replace(settings, cluster_properties=(), booth_port=conf.port), conf, key)


def load_remote(
    env: Mapping[str, str],
    key_reader: authkey.KeyReader,
    problems: Problems,
    remote_owners: tuple[int, ...] = (0,),
) -> RemoteNode:
    """PCMK_ROLE=remote: refuse what only full nodes use, require the Pacemaker Remote key."""
    for var in CLUSTER_ONLY:
        if env.get(var, "").strip():
            problems.add(
                f"{var} is set, but it only applies to full cluster nodes (corosync, its key "
                "and the CIB), and PCMK_ROLE=remote runs pacemaker-remoted alone. "
                f"Fix: unset {var} on this remote node."
            )
    for var in METRICS_VARS:
        value = env.get(var, "").strip()
        if value and not (var == "PCMK_METRICS" and value == "off"):
            problems.add(
                f"{var}={show(value)}: a remote node cannot run the metrics exporter: "
                "ha_cluster_exporter reads crm_mon and the corosync tools of a full node. "
                f"Fix: unset {var} here and scrape a full node, whose metrics cover the "
                "remote nodes too."
            )
    # The refused settings are not validated as well: one message for each is enough.
    rest = {k: v for k, v in env.items() if k not in CLUSTER_ONLY + METRICS_VARS}
    settings = replace(
        parse_settings(rest, problems),
        cluster_properties=(),
        remote_port=remote_port(env, problems),
    )
    remote_key = authkey.resolve_remote(
        env, settings.cluster_name, key_reader, problems, required=True, owners=remote_owners
    )
    authkey.kdf_of(env, problems)  # resolve_remote leaves a bad PCMK_AUTHKEY_KDF to us
    problems.raise_if_any()
    assert remote_key is not None
    return RemoteNode(settings, remote_key)
