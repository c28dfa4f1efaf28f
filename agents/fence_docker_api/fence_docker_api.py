#!/usr/bin/python3
"""fence_docker_api - fence agent for Pacemaker nodes that run as Docker containers.

Fencing a node kills its container through the Docker Engine API, then confirms the container
is no longer running (a container that no longer exists counts as off). The API is reached
over the local unix socket (default /var/run/docker.sock: one Docker host, e.g. the compose
demo) or over TCP with mutual TLS (`ip=dockerhost ssl=1 ca=... cert=... key=...`, port 2376:
nodes on several Docker hosts). The API version is negotiated with the engine (its
`API-Version`), never a hardcoded old one. Python 3 standard library only.

Installed in the image as /usr/sbin/fence_docker_api (Pacemaker looks for /usr/sbin/fence_*).
Called by Pacemaker with key=value lines on stdin (doc/FenceAgentAPI.md of fence-agents);
with command-line options for people:

    fence_docker_api -o status -n node1              # 0 running, 2 not running/missing, 1 error
    fence_docker_api -o off -n node1                 # kill, then wait until not running
    fence_docker_api -o list                         # every container: name,short id
    fence_docker_api -o list -a dockerhost -z --ca=ca.pem --cert=cert.pem --key=key.pem
    fence_docker_api -o metadata

Which container belongs to which node: the `plug` parameter (container name or id; an IP
address of the container with port_as_ip=1). Pacemaker passes it per target: from
pcmk_host_map ("node1:ctr1;node2:ctr2"), else the node name itself; a `plug` configured on the
device is a fixed target (one device per node, pcmk_host_list=node1 plug=ctr1).
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

AGENT = "fence_docker_api"
VERSION = "1.0.0"

# Engine API versions this agent speaks: it uses only endpoints and fields that are the same
# across this range (containers/json, containers/{id}/json|kill|start, _ping, version).
MIN_API = (1, 24)
MAX_API = (1, 51)

EC_OK = 0
EC_ERROR = 1
EC_OFF = 2  # status: reachable, container not running (or missing)

ACTIONS = (
    "on",
    "off",
    "reboot",
    "status",
    "list",
    "list-status",
    "monitor",
    "metadata",
    "validate-all",
)
TARGET_ACTIONS = ("on", "off", "reboot", "status")
POLL_INTERVAL = 0.25
TRUE_WORDS = ("1", "yes", "y", "true", "on")
FALSE_WORDS = ("0", "no", "n", "false", "off", "")


class FenceError(Exception):
    """Anything that makes the action fail (exit 1); the message goes to stderr."""


class Missing(FenceError):
    """The engine answered 404: no such container."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # string, integer, second, boolean (metadata content types)
    getopt: str  # metadata's getopt "mixed" attribute
    desc: str
    short: str | None = None
    long: str | None = None
    default: str | None = None
    deprecated: bool = False
    obsoletes: str | None = None


PARAMS = (
    Param("action", "string", "-o, --action=[action]",
          "Fencing action: off, on, reboot, status, list, list-status, monitor, metadata,"
          " validate-all", "o", "action", "reboot"),
    Param("plug", "string", "-n, --plug=[container]",
          "Container of the node: name or id (an IP address of it with port_as_ip=1)."
          " Pacemaker passes it from pcmk_host_map, else the node name", "n", "plug",
          obsoletes="port"),
    Param("port", "string", "-n, --plug=[container]", "Container of the node (old name of plug)",
          deprecated=True),
    Param("socket", "string", "--socket=[path]",
          "Unix socket of the local Docker Engine API (used when ip is empty)",
          long="socket", default="/var/run/docker.sock"),
    Param("ip", "string", "-a, --ip=[host]",
          "Docker host (name or address) whose API listens on TCP; empty: the local socket",
          "a", "ip"),
    Param("ipport", "integer", "-u, --ipport=[port]",
          "TCP port of the Docker API (2376 with TLS, 2375 with ssl=0)", "u", "ipport", "2376"),
    Param("ssl", "boolean", "-z, --ssl",
          "TLS over TCP; on by default when ip is set (ssl=0: plain HTTP, anyone reaching the"
          " port controls the host)", "z", "ssl"),
    Param("ca", "string", "--ca=[file]",
          "CA certificate(s) (PEM) that signed the engine's certificate; default: the system's",
          long="ca"),
    Param("cert", "string", "--cert=[file]",
          "Client certificate (PEM) for mutual TLS (dockerd --tlsverify)", long="cert"),
    Param("key", "string", "--key=[file]", "Private key (PEM) of the client certificate",
          long="key"),
    Param("api_version", "string", "--api-version=[version]",
          "Docker Engine API version, e.g. 1.41; default: negotiated (the engine's, at most"
          f" {MAX_API[0]}.{MAX_API[1]})", long="api-version"),
    Param("api_timeout", "second", "--api-timeout=[seconds]",
          "Timeout of each API request", long="api-timeout", default="10"),
    Param("power_timeout", "second", "--power-timeout=[seconds]",
          "How long to wait for the container to stop after the kill (start after on)",
          long="power-timeout", default="20"),
    Param("delay", "second", "--delay=[seconds]", "Wait X seconds before fencing (off, reboot)",
          long="delay", default="0"),
    Param("missing_as_off", "boolean", "--missing-as-off=[0|1]",
          "A container that does not exist counts as off (status 2, off succeeds)",
          long="missing-as-off", default="1"),
    Param("port_as_ip", "boolean", "--port-as-ip",
          "The plug is an IP address of the container (its address on a Docker network)",
          long="port-as-ip", default="0"),
    Param("bundle_replicas", "boolean", "--bundle-replicas=[0|1]",
          "Off also kills the target node's bundle replicas on this engine (the containers of"
          " ocf:heartbeat:docker or podman in a bundle that the cluster status shows on the"
          " node Pacemaker names in nodename), so that a replica never runs twice",
          long="bundle-replicas", default="1"),
    Param("separator", "string", "-C, --separator=[char]",
          "Separator of the list action's columns", "C", "separator", ","),
    Param("verbose", "boolean", "-v, --verbose", "Log each API request to stderr", "v",
          "verbose", "0"),
)  # fmt: skip
BY_NAME = {p.name: p for p in PARAMS}
ALIASES = {"option": "action", "ipaddr": "ip", "debug": None}
# Given by Pacemaker (or the API) and not options of this agent: accepted without a warning.
PASSED_BY_CLUSTER = ("nodename", "nodeid", "agent")


# --- input ----------------------------------------------------------------------------------


def parse_stdin(text: str) -> tuple[dict[str, str], list[str]]:
    """key=value lines (FenceAgentAPI): `#` lines and blank lines ignored, the last value of a
    key wins, the value runs from the first `=` to the end of the line. Returns the options and
    warnings about lines that were ignored."""
    opts: dict[str, str] = {}
    warnings = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name:
            warnings.append(f"stdin line {number}: ignoring {raw.strip()!r} (not key=value)")
            continue
        if name in ALIASES:
            if ALIASES[name] is None:
                continue
            name = ALIASES[name]
        if name not in BY_NAME and name not in PASSED_BY_CLUSTER:
            warnings.append(f"ignoring unknown parameter {name!r}")
            continue
        opts[name] = value.strip()
    return opts, warnings


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2, which means "off" to a fence agent
        self.print_usage(sys.stderr)
        raise FenceError(f"bad command line: {message}")


def cli_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=AGENT,
        description="Fence a Pacemaker node that is a Docker container: kill it through the"
        " Docker Engine API (unix socket, or TCP with mutual TLS). Without options, reads"
        " key=value lines on stdin (the fence agent API).",
        epilog="Exit codes: 0 success (status: running), 1 error, 2 status: not running or no"
        " such container.",
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="help", help="show this help and exit")
    parser.add_argument("-V", "--version", action="version", version=f"{AGENT} {VERSION}")
    for p in PARAMS:
        if p.long is None:
            continue
        flags = [f"-{p.short}"] if p.short else []
        flags.append(f"--{p.long}")
        if p.kind == "boolean":
            parser.add_argument(
                *flags, dest=p.name, nargs="?", const="1", metavar="0|1", help=p.desc
            )
        else:
            metavar = p.getopt.rpartition("=")[2].strip("[]") or "value"
            parser.add_argument(*flags, dest=p.name, metavar=metavar.upper(), help=p.desc)
    return parser


def parse_cli(argv: list[str]) -> dict[str, str]:
    namespace = cli_parser().parse_args(argv)
    return {k: v for k, v in vars(namespace).items() if v is not None}


# --- configuration --------------------------------------------------------------------------


@dataclass
class Config:
    action: str
    plug: str | None
    socket: str
    ip: str | None
    ipport: int
    ssl: bool
    ca: str | None
    cert: str | None
    key: str | None
    api_version: tuple[int, int] | None
    api_timeout: float
    power_timeout: float
    delay: float
    missing_as_off: bool
    port_as_ip: bool
    separator: str
    verbose: bool
    node: str | None = None  # the cluster node being fenced (Pacemaker's nodename)
    bundle_replicas: bool = True

    @property
    def endpoint(self) -> str:
        if self.ip:
            host = f"[{self.ip}]" if ":" in self.ip else self.ip
            return f"{'https' if self.ssl else 'http'}://{host}:{self.ipport}"
        return f"unix://{self.socket}"


NAME_RE = re.compile(r"^/?[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _boolean(value: str, name: str, problems: list[str]) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word not in FALSE_WORDS:
        problems.append(f"{name}={value!r}: not a boolean (1/0, yes/no, true/false, on/off)")
    return False


def _number(value: str, name: str, problems: list[str], minimum: float) -> float:
    try:
        number = float(value)
    except ValueError:
        problems.append(f"{name}={value!r}: not a number")
        return minimum
    if not minimum <= number < float("inf"):  # also refuses nan
        problems.append(f"{name}={value!r}: must be a number >= {minimum:g}")
        return minimum
    return number


def parse_version(text: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"v?(\d+)\.(\d+)", text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def build_config(opts: dict[str, str]) -> tuple[Config, list[str]]:
    """Checks every option; returns the configuration and every problem found (all at once)."""
    problems: list[str] = []

    def get(name: str) -> str:
        value = opts.get(name)
        return (BY_NAME[name].default or "") if value is None else value

    action = get("action").strip().lower()
    if action not in ACTIONS:
        problems.append(f"action={action!r}: unknown action (one of {', '.join(ACTIONS)})")

    plug = opts.get("plug") or opts.get("port") or opts.get("nodename") or None
    port_as_ip = _boolean(get("port_as_ip"), "port_as_ip", problems)
    if plug is not None:
        plug = plug.strip()
        if port_as_ip:
            try:
                plug = str(ipaddress.ip_address(plug.strip("[]")))
            except ValueError:
                problems.append(f"plug={plug!r}: not an IP address (port_as_ip=1)")
        elif not NAME_RE.match(plug):
            problems.append(f"plug={plug!r}: not a container name or id")
        else:
            plug = plug.lstrip("/")
    if action in TARGET_ACTIONS and not plug:
        problems.append(f"action {action} needs a plug (-n/--plug, plug=: the container)")

    ip = get("ip").strip().strip("[]") or None
    ssl_given = opts.get("ssl")
    use_ssl = _boolean(ssl_given, "ssl", problems) if ssl_given is not None else bool(ip)
    port_text = opts.get("ipport") or ("2376" if use_ssl else "2375")
    try:
        ipport = int(port_text)
        if not 0 < ipport < 65536:
            raise ValueError
    except ValueError:
        problems.append(f"ipport={port_text!r}: not a TCP port")
        ipport = 2376
    sock = get("socket").strip()
    if not ip and not sock.startswith("/"):
        problems.append(f"socket={sock!r}: must be an absolute path")
    files = {}
    for name in ("ca", "cert", "key"):
        path = get(name).strip() or None
        files[name] = path
        if path is None:
            continue
        if not ip or not use_ssl:
            problems.append(f"{name}= is only used with TLS over TCP (ip=..., ssl=1)")
        elif not os.access(path, os.R_OK):
            problems.append(f"{name}={path!r}: not a readable file")
    if files["key"] and not files["cert"]:
        problems.append("key= needs cert= (the client certificate)")
    if use_ssl and not ip:
        problems.append("ssl=1 needs ip= (the Docker host); the unix socket has no TLS")

    api_version = None
    if get("api_version").strip():
        api_version = parse_version(get("api_version"))
        if api_version is None:
            problems.append(f"api_version={get('api_version')!r}: not a version like 1.41")

    config = Config(
        action=action,
        plug=plug,
        socket=sock,
        ip=ip,
        ipport=ipport,
        ssl=use_ssl,
        ca=files["ca"],
        cert=files["cert"],
        key=files["key"],
        api_version=api_version,
        api_timeout=_number(get("api_timeout"), "api_timeout", problems, 0.1),
        power_timeout=_number(get("power_timeout"), "power_timeout", problems, 0.1),
        delay=_number(get("delay"), "delay", problems, 0),
        missing_as_off=_boolean(get("missing_as_off"), "missing_as_off", problems),
        port_as_ip=port_as_ip,
        separator=get("separator") or ",",
        verbose=_boolean(get("verbose"), "verbose", problems),
        node=(opts.get("nodename") or "").strip() or None,
        bundle_replicas=_boolean(get("bundle_replicas"), "bundle_replicas", problems),
    )
    return config, problems


# --- Docker Engine API ----------------------------------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _message(body: object) -> str:
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return str(body).strip()[:300]


class DockerAPI:
    def __init__(self, config: Config):
        self.config = config
        self.version: tuple[int, int] | None = config.api_version
        self._tls: ssl.SSLContext | None = None

    def _connection(self) -> http.client.HTTPConnection:
        c = self.config
        if not c.ip:
            return UnixHTTPConnection(c.socket, c.api_timeout)
        if not c.ssl:
            return http.client.HTTPConnection(c.ip, c.ipport, timeout=c.api_timeout)
        if self._tls is None:  # verifies the engine's certificate and name; ours if given
            self._tls = ssl.create_default_context(cafile=c.ca)
            if c.cert:
                self._tls.load_cert_chain(c.cert, c.key)
        return http.client.HTTPSConnection(c.ip, c.ipport, timeout=c.api_timeout, context=self._tls)

    def request(
        self, method: str, path: str, versioned: bool = True
    ) -> tuple[int, http.client.HTTPMessage, object]:
        if versioned:
            if self.version is None:
                self.negotiate()
            path = "/v{}.{}{}".format(*self.version, path)  # type: ignore[misc]
        started = time.monotonic()
        conn = None
        try:
            conn = self._connection()
            conn.request(method, path, headers={"User-Agent": f"{AGENT}/{VERSION}"})
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else str(exc) or repr(exc)
            raise FenceError(
                f"cannot reach the Docker API at {self.config.endpoint}: {reason}"
            ) from exc
        finally:
            if conn is not None:
                conn.close()
        text = raw.decode("utf-8", "replace")
        try:
            body: object = json.loads(text) if text.strip() else None
        except ValueError:
            body = text
        if self.config.verbose:
            took = time.monotonic() - started
            log(f"{method} {path} -> {resp.status} ({took * 1000:.0f} ms) {text[:200].strip()}")
        return resp.status, resp.headers, body

    def negotiate(self) -> tuple[int, int]:
        """The engine's API version (GET /_ping's API-Version, else GET /version's ApiVersion),
        at most MAX_API. A version pinned with api_version is used as it is."""
        if self.version is not None:
            return self.version
        status, headers, body = self.request("GET", "/_ping", versioned=False)
        if status != 200:
            raise FenceError(f"Docker API ping: HTTP {status}: {_message(body)}")
        server = parse_version(headers.get("API-Version") or "")
        if server is None:
            status, _, body = self.request("GET", "/version", versioned=False)
            if status != 200 or not isinstance(body, dict):
                raise FenceError(f"Docker API version: HTTP {status}: {_message(body)}")
            server = parse_version(str(body.get("ApiVersion", "")))
            if server is None:
                raise FenceError(f"Docker API version: no ApiVersion in {_message(body)}")
        if server < MIN_API:
            raise FenceError(
                "Docker engine API {}.{} is too old (this agent needs {}.{})".format(
                    *server, *MIN_API
                )
            )
        self.version = min(server, MAX_API)
        return self.version

    def _check(self, what: str, status: int, body: object, ok: tuple[int, ...]) -> None:
        # Only the engine's own "No such container" is a missing container (counted as off):
        # any other 404 (a proxy, a wrong path) is an error.
        if status == 404 and "no such container" in _message(body).lower():
            raise Missing(f"{what}: {_message(body)}")
        if status not in ok:
            raise FenceError(f"{what}: HTTP {status}: {_message(body)}")

    def inspect(self, ref: str) -> dict:
        status, _, body = self.request("GET", f"/containers/{quote(ref)}/json")
        self._check(f"inspect {ref}", status, body, (200,))
        if not isinstance(body, dict):
            raise FenceError(f"inspect {ref}: unexpected answer {_message(body)}")
        return body

    def kill(self, ref: str) -> bool:
        """POST kill (SIGKILL); True if the engine killed it, False if it was not running."""
        status, _, body = self.request("POST", f"/containers/{quote(ref)}/kill?signal=KILL")
        if status == 409:  # "is not running"
            return False
        self._check(f"kill {ref}", status, body, (204, 200))
        return True

    def start(self, ref: str) -> None:
        status, _, body = self.request("POST", f"/containers/{quote(ref)}/start")
        self._check(f"start {ref}", status, body, (204, 304))

    def containers(self) -> list[dict]:
        status, _, body = self.request("GET", "/containers/json?all=1")
        self._check("list containers", status, body, (200,))
        if not isinstance(body, list):
            raise FenceError(f"list containers: unexpected answer {_message(body)}")
        return body


def quote(ref: str) -> str:
    return urllib.parse.quote(ref, safe="")


def container_name(summary: dict) -> str:
    names = summary.get("Names") or []
    return names[0].lstrip("/") if names else str(summary.get("Id", ""))[:12]


def container_ips(summary: dict) -> list[str]:
    """Addresses a container has (running) or is configured with (static IPAM), any network."""
    found = []
    networks = (summary.get("NetworkSettings") or {}).get("Networks") or {}
    for net in networks.values():
        ipam = net.get("IPAMConfig") or {}
        for value in (
            net.get("IPAddress"),
            net.get("GlobalIPv6Address"),
            ipam.get("IPv4Address"),
            ipam.get("IPv6Address"),
        ):
            try:
                addr = str(ipaddress.ip_address(value)) if value else None
            except ValueError:
                continue
            if addr and addr not in found:
                found.append(addr)
    return found


# --- actions --------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"{AGENT}: {message}", file=sys.stderr, flush=True)


def resolve(api: DockerAPI, config: Config) -> str | None:
    """The full id of the plug's container, or None when there is none."""
    assert config.plug
    if not config.port_as_ip:
        try:
            return str(api.inspect(config.plug)["Id"])
        except Missing:
            return None
    matches = [c for c in api.containers() if config.plug in container_ips(c)]
    running = [c for c in matches if c.get("State") in ("running", "paused", "restarting")]
    if len(running) > 1 or (not running and len(matches) > 1):
        names = ", ".join(container_name(c) for c in (running or matches))
        raise FenceError(f"plug {config.plug}: several containers have this address ({names})")
    chosen = (running or matches or [None])[0]
    return str(chosen["Id"]) if chosen else None


def is_running(info: dict) -> bool:
    # A paused container is still running: it holds its addresses and resources.
    return bool((info.get("State") or {}).get("Running"))


def state_text(info: dict) -> str:
    state = info.get("State") or {}
    return str(state.get("Status") or ("running" if state.get("Running") else "not running"))


def wait_until(api: DockerAPI, cid: str, running: bool, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            info = api.inspect(cid)
        except Missing:
            if not running:
                return  # removed: certainly not running
            raise
        if is_running(info) == running:
            return
        if time.monotonic() >= deadline:
            raise FenceError(
                f"timed out after {timeout:g}s waiting for container {what} to"
                f" {'start' if running else 'stop'} (it is {state_text(info)})"
            )
        time.sleep(POLL_INTERVAL)


# --- bundle replicas ------------------------------------------------------------------------
# A bundle's replica is a sibling container on the node's engine, started by the node through
# ocf:heartbeat:docker (or podman). Killing the node's container leaves it running, and once
# the fence succeeds Pacemaker starts the replica elsewhere: it would run twice. So an off
# also kills the replicas the cluster status shows on the target node. Pacemaker names a
# replica's container resource <bundle>-docker-<n>, and the agent names the container after
# its resource (lib/pengine/bundle.c sets no `name`).

CONTAINER_AGENTS = ("ocf:heartbeat:docker", "ocf:heartbeat:podman")
StatusSource = Callable[[], str | None]


def crm_mon_status() -> str | None:
    """The cluster status as crm_mon XML; None where crm_mon is not installed (the agent run
    by hand outside a cluster node)."""
    try:
        out = subprocess.run(
            ["crm_mon", "--one-shot", "--output-as=xml"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired:
        raise FenceError(
            "crm_mon timed out: cannot tell which bundle replicas the node runs"
        ) from None
    if out.returncode != 0:
        why = (out.stderr or out.stdout).strip()[-300:]
        raise FenceError(
            f"crm_mon failed (exit code {out.returncode}), so the node's bundle replicas are"
            f" unknown: {why}"
        )
    return out.stdout


def replicas_on(status_xml: str, node: str) -> list[str]:
    """The containers of every bundle replica that crm_mon's XML shows active on `node`."""
    try:
        root = ET.fromstring(status_xml)
    except ET.ParseError as exc:
        raise FenceError(f"crm_mon printed no valid XML: {exc}") from None
    names = {
        str(rsc.get("id"))
        for bundle in root.iter("bundle")
        for rsc in bundle.iter("resource")
        if rsc.get("resource_agent") in CONTAINER_AGENTS
        and any(n.get("name") == node for n in rsc.findall("node"))
    }
    return sorted(names)


def kill_replicas(api: DockerAPI, config: Config, status: StatusSource) -> str:
    """Kills the target node's bundle replicas on this engine and waits until each is stopped;
    says what it did ("" when there was nothing to do)."""
    if not (config.bundle_replicas and config.node):
        return ""
    xml = status()
    if xml is None:
        log("WARNING: crm_mon not found: not looking for the node's bundle replicas")
        return ""
    killed = []
    for name in replicas_on(xml, config.node):
        try:
            if api.kill(name):
                killed.append(name)
            wait_until(api, name, False, config.power_timeout, f"{name} (bundle replica)")
        except Missing:
            continue  # not on this engine, or already removed: not running here
    return f"; bundle replicas killed: {', '.join(killed)}" if killed else ""


def power_off(api: DockerAPI, config: Config, status: StatusSource = crm_mon_status) -> str:
    """Kills the node's container (first, so that the node cannot restart a replica), then its
    bundle replicas."""
    node_off = _node_off(api, config)
    return node_off + kill_replicas(api, config, status)


def _node_off(api: DockerAPI, config: Config) -> str:
    cid = resolve(api, config)
    if cid is None:
        if config.missing_as_off:
            return f"no container {config.plug} (counted as off)"
        raise FenceError(f"no such container: {config.plug} (missing_as_off=0)")
    try:
        killed = api.kill(cid)
    except Missing:
        return f"container {config.plug} was removed (counted as off)"
    except FenceError as exc:
        # The state decides: a kill that failed on a container that is not running anyway is off.
        try:
            if not is_running(api.inspect(cid)):
                return f"container {config.plug} is not running"
        except FenceError:
            pass
        raise exc
    wait_until(api, cid, False, config.power_timeout, config.plug or cid)
    return f"container {config.plug} {'killed' if killed else 'is not running'}"


def power_on(api: DockerAPI, config: Config) -> str:
    cid = resolve(api, config)
    if cid is None:
        raise FenceError(f"no such container: {config.plug} (cannot start it)")
    api.start(cid)
    wait_until(api, cid, True, config.power_timeout, config.plug or cid)
    return f"container {config.plug} started"


def do_status(api: DockerAPI, config: Config) -> int:
    cid = resolve(api, config)
    if cid is None:
        if not config.missing_as_off:
            raise FenceError(f"no such container: {config.plug} (missing_as_off=0)")
        print(f"Status: OFF (no container {config.plug})")
        return EC_OFF
    info = api.inspect(cid)
    if is_running(info):
        print("Status: ON")
        return EC_OK
    print(f"Status: OFF ({state_text(info)})")
    return EC_OFF


def do_list(api: DockerAPI, config: Config, with_status: bool) -> int:
    sep = config.separator
    for summary in sorted(api.containers(), key=container_name):
        status = "ON" if summary.get("State") in ("running", "paused") else "OFF"
        # Every column is something the plug accepts, so that Pacemaker's dynamic-list (which
        # takes every word as a target) never learns a name this agent would not find.
        if config.port_as_ip:
            rows = [[ip, ""] for ip in container_ips(summary)]
        else:
            rows = [[container_name(summary), str(summary.get("Id", ""))[:12]]]
        for row in rows:
            print(sep.join(row + ([status] if with_status else [])))
    return EC_OK


def do_monitor(api: DockerAPI, config: Config) -> int:
    api.negotiate()
    # A device with a fixed plug: that container must exist (a typo would count as off).
    if config.plug and resolve(api, config) is None:
        raise FenceError(f"no container {config.plug}: is the plug right?")
    return EC_OK


def run(config: Config, status: StatusSource = crm_mon_status) -> int:
    api = DockerAPI(config)
    action = config.action
    if action in ("off", "reboot") and config.delay:
        time.sleep(config.delay)
    if action == "off":
        detail = power_off(api, config, status)
        print(f"Success: Powered OFF ({detail})")
        return EC_OK
    if action == "on":
        print(f"Success: Powered ON ({power_on(api, config)})")
        return EC_OK
    if action == "reboot":
        detail = power_off(api, config, status)
        try:
            power_on(api, config)
        except FenceError as exc:  # the node is fenced; "on" failing is a don't-care (API)
            log(f"WARNING: reboot: {detail}, but it did not start again: {exc}")
            print(f"Success: Powered OFF ({detail}); not started again")
            return EC_OK
        print(f"Success: Rebooted ({detail}, started again)")
        return EC_OK
    if action == "status":
        return do_status(api, config)
    if action in ("list", "list-status"):
        return do_list(api, config, action == "list-status")
    if action == "monitor":
        return do_monitor(api, config)
    raise FenceError(f"unhandled action {action}")  # pragma: no cover


# --- metadata -------------------------------------------------------------------------------

LONGDESC = (
    "fence_docker_api fences a cluster node that runs as a Docker container: it kills the"
    " container through the Docker Engine API (POST /containers/{id}/kill) and succeeds only"
    " once the engine reports it not running; a container that no longer exists counts as off."
    " The API is reached on the local unix socket (nodes on one Docker host) or over TCP with"
    " mutual TLS (ip, ssl, ca, cert, key: nodes on several hosts). The API version is"
    " negotiated with the engine. Map nodes to containers with pcmk_host_map or plug. Killing"
    " a container fences the node only if the container has its own network namespace: with"
    " --net=host, addresses the node added (IPaddr2) stay on the host; fence such nodes at"
    " host level (fence_ipmilan, a cloud agent) and use this agent as a second level at most."
)


def metadata() -> str:
    lines = [
        '<?xml version="1.0" ?>',
        f'<resource-agent name="{AGENT}" shortdesc='
        '"Fence agent for nodes that are Docker containers (Docker Engine API)">',
        f"<longdesc>{escape(LONGDESC)}</longdesc>",
        "<vendor-url>https://docs.docker.com/engine/api/</vendor-url>",
        "<parameters>",
    ]
    for p in PARAMS:
        attrs = f'name="{p.name}" unique="0" required="0"'
        if p.deprecated:
            attrs += ' deprecated="1"'
        if p.obsoletes:
            attrs += f' obsoletes="{p.obsoletes}"'
        default = f" default={quoteattr(p.default)}" if p.default is not None else ""
        lines += [
            f"\t<parameter {attrs}>",
            f"\t\t<getopt mixed={quoteattr(p.getopt)} />",
            f'\t\t<content type="{p.kind}"{default} />',
            f'\t\t<shortdesc lang="en">{escape(p.desc)}</shortdesc>',
            "\t</parameter>",
        ]
    lines += ["</parameters>", "<actions>"]
    for action in ACTIONS:
        extra = ' automatic="0"' if action == "on" else ""
        lines.append(f'\t<action name="{action}"{extra} />')
    lines += ["</actions>", "</resource-agent>"]
    return "\n".join(lines) + "\n"


# --- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None, stdin=None, status: StatusSource = crm_mon_status) -> int:
    """`status` gives the cluster status (crm_mon XML) that names the target's bundle
    replicas; tests pass their own."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv:
            opts = parse_cli(argv)
        else:
            opts, warnings = parse_stdin((stdin or sys.stdin).read())
            for warning in warnings:
                log(f"WARNING: {warning}")
        config, problems = build_config(opts)
        if config.action == "metadata":
            sys.stdout.write(metadata())
            return EC_OK
        if problems:
            for problem in problems:
                log(f"ERROR: {problem}")
            return EC_ERROR
        if config.action == "validate-all":
            if config.ip and not config.ssl:
                log("WARNING: ssl=0: the Docker API over plain TCP is unauthenticated")
            return EC_OK
        return run(config, status)
    except FenceError as exc:
        log(f"ERROR: {exc}")
        return EC_ERROR
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0) if isinstance(exc.code, int) else EC_OK
    except KeyboardInterrupt:
        return EC_ERROR


if __name__ == "__main__":
    sys.exit(main())
