"""Booth, the multi-site ticket manager: PCMK_BOOTH_* checked and rendered into booth.conf.

Pure functions over the environment. One Pacemaker cluster runs per site; booth grants each
ticket to one site at a time, with arbitrators (PCMK_ROLE=arbitrator) breaking ties. Every
site node and arbitrator is given the same PCMK_BOOTH_* values and renders the same file:

    PCMK_BOOTH_SITES="192.0.2.50 198.51.100.50"     each site's booth address (a VIP there)
    PCMK_BOOTH_ARBITRATORS="203.0.113.5"            arbitrators' addresses
    PCMK_BOOTH_TICKETS="db:expire=60,acquire-after=10 web"
    PCMK_BOOTH_PORT=9929

The booth key (booth's authfile, 8 to 64 bytes) is found like the other keys (authkey.py):
PCMK_BOOTH_AUTHKEY_FILE, PCMK_BOOTH_AUTHKEY_PASSPHRASE, the secret booth-authkey, or
/etc/booth/authkey. A passphrase gives the same key on every site and arbitrator: unlike the
corosync key it does not depend on PCMK_CLUSTER_NAME, which differs between sites.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import authkey
from .errors import Problems
from .nodelist import parse_address, show
from .options import BOOTH_PORT

DEFAULT_PORT = BOOTH_PORT  # booth's port unless PCMK_BOOTH_PORT says otherwise

SITES, ARBITRATORS, TICKETS, PORT = (
    "PCMK_BOOTH_SITES",
    "PCMK_BOOTH_ARBITRATORS",
    "PCMK_BOOTH_TICKETS",
    "PCMK_BOOTH_PORT",
)
KEY_FILE, KEY_PASSPHRASE = "PCMK_BOOTH_AUTHKEY_FILE", "PCMK_BOOTH_AUTHKEY_PASSPHRASE"
VARS = (SITES, ARBITRATORS, TICKETS, PORT, KEY_FILE, KEY_PASSPHRASE)
CONF = "/etc/booth/booth.conf"
KEYFILE = "/etc/booth/authkey"
SECRET = "/run/secrets/booth-authkey"
# booth's own rule for a ticket name (config.c: alphanumerics and '-'; '/' too, left out here
# because it would read as a path), shorter than BOOTH_NAME_LEN (64).
TICKET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}\Z")
# Per-ticket options we pass on, with booth's own limits (config.c).
INT_OPTIONS = {"expire": 1, "acquire-after": 0, "renewal-freq": 1, "timeout": 1, "retries": 3}
MODES = ("automatic", "manual")
DEFAULT_EXPIRE, DEFAULT_TIMEOUT, DEFAULT_RETRIES = 600, 5, 10  # booth's defaults
# booth before 1.2 loops for ever at start on Linux 6.9 and newer (ClusterLabs/booth PR #139).
FIXED_IN, BROKEN_FROM = (1, 2), (6, 9)


BOOTH_HOW = (
    "make one key for every site and arbitrator, e.g. `openssl rand -hex 32 > booth-authkey`, "
    f"and mount it on each (as the Docker secret booth-authkey, or at {KEYFILE}), or set the "
    f"same {KEY_PASSPHRASE} everywhere"
)
BOOTH_KEY = authkey.KeyKind(
    file_var=KEY_FILE,
    passphrase_var=KEY_PASSPHRASE,
    secret=SECRET,
    purpose="booth authkey",
    daemon="booth",
    needed="booth (PCMK_BOOTH_*) needs its authkey",
    how=BOOTH_HOW,
    chown="root:root",
    mode=0o600,
    loose_bits=0o044,
    min_len=8,  # booth's BOOTH_MIN_KEY_LEN and BOOTH_MAX_KEY_LEN
    max_len=64,
    derived_len=32,
    hex=True,
    salt_name="booth",  # every site and arbitrator, whatever its PCMK_CLUSTER_NAME
)


@dataclass(frozen=True)
class BoothKey:
    source: str
    fingerprint: str
    length: int
    data: bytes = field(repr=False)
    install: bool  # False when the key already is at KEYFILE


def resolve_key(
    env: Mapping[str, str], reader: authkey.KeyReader, problems: Problems
) -> BoothKey | None:
    """booth's authfile, always required; installed at KEYFILE (0600 root) unless it is there."""
    kdf = authkey.kdf_of(env, Problems())  # its problems are reported by the corosync key
    found = authkey.find_key(BOOTH_KEY, env, "booth", kdf, KEYFILE, reader, problems)
    if found is None:
        return None
    in_place = not found.derived and found.source == KEYFILE
    if in_place and found.loose:
        problems.add(
            f"the booth authkey {KEYFILE} is readable by group or others, and boothd refuses "
            f"such a key. Fix: chmod 0600 {KEYFILE} (on the host, for a bind mount)."
        )
        return None
    return BoothKey(
        found.source, authkey.fingerprint(found.data), len(found.data), found.data, not in_place
    )


@dataclass(frozen=True)
class Ticket:
    name: str
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Booth:
    """A validated booth configuration (without its key)."""

    sites: tuple[str, ...]
    arbitrators: tuple[str, ...]
    tickets: tuple[Ticket, ...]
    port: int = DEFAULT_PORT
    members: tuple[str, ...] = field(default=())  # sites then arbitrators, booth's order


def wanted(env: Mapping[str, str]) -> bool:
    """Whether this node takes part in booth: any PCMK_BOOTH_* variable set."""
    return any(env.get(var, "").strip() for var in VARS)


def _addresses(env: Mapping[str, str], var: str, problems: Problems) -> tuple[str, ...]:
    out: list[str] = []
    for word in env.get(var, "").split():
        addr = parse_address(word)
        if addr is None:
            problems.add(
                f"{var}: {show(word)} is not an IP address. Fix: give each booth member's "
                "address (a site's is the VIP its booth runs on), separated by spaces."
            )
            continue
        ip = ipaddress.ip_address(addr)
        if ip.is_loopback or ip.is_unspecified or ip.is_multicast or ip.is_link_local:
            problems.add(
                f"{var}: {addr} cannot be reached from the other sites. Fix: use a routable "
                "unicast address."
            )
            continue
        out.append(addr)
    return tuple(out)


def _ticket(word: str, problems: Problems) -> Ticket | None:
    name, _, rest = word.partition(":")
    where = f"{TICKETS} entry {show(word)}"
    if not TICKET_RE.match(name):
        problems.add(
            f"{where}: {show(name)} is not a booth ticket name. Fix: letters, digits and '-' "
            "(booth allows no other), at most 63, e.g. ticket-db."
        )
        return None
    options: dict[str, str] = {}
    for pair in rest.split(",") if rest else ():
        key, eq, value = pair.partition("=")
        if key in INT_OPTIONS and eq and value.isdigit() and value.isascii():
            if int(value) < INT_OPTIONS[key] or (key == "retries" and int(value) > 100):
                high = " to 100" if key == "retries" else " or more"
                problems.add(
                    f"{where}: {key}={value} is out of range. Fix: {key} is "
                    f"{INT_OPTIONS[key]}{high} (seconds, but retries)."
                )
                return None
            options[key] = str(int(value))
        elif key == "mode" and value in MODES:
            options[key] = value
        else:
            known = ", ".join([*INT_OPTIONS, "mode"])
            problems.add(
                f"{where}: {show(pair)} is not an option we pass to booth. Fix: write "
                f"NAME:KEY=VALUE,KEY=VALUE with KEY one of {known} (numbers in seconds; mode "
                "automatic or manual), e.g. db:expire=60,acquire-after=10."
            )
            return None
    expire = int(options.get("expire", DEFAULT_EXPIRE))
    renewal = int(options.get("renewal-freq", expire // 2 or 1))
    timeout = int(options.get("timeout", DEFAULT_TIMEOUT))
    retries = int(options.get("retries", DEFAULT_RETRIES))
    if timeout * (retries + 1) >= renewal:
        problems.add(
            f"{where}: booth needs timeout*(retries+1) < the renewal period; here "
            f"{timeout}*({retries}+1) = {timeout * (retries + 1)} s is not less than {renewal} s "
            "(renewal-freq, else expire/2). Fix: raise expire or renewal-freq, or lower "
            "timeout or retries (e.g. expire=60,timeout=2,retries=5)."
        )
        return None
    return Ticket(name, tuple(options.items()))


def parse(env: Mapping[str, str], problems: Problems, role: str = "cluster") -> Booth | None:
    """The booth configuration, or None when booth is not wanted (a cluster node without
    PCMK_BOOTH_*). An arbitrator always needs one. Records every problem."""
    if role != "arbitrator" and not wanted(env):
        return None
    before = len(problems.items)
    sites = _addresses(env, SITES, problems)
    arbitrators = _addresses(env, ARBITRATORS, problems)
    if len(sites) < 2:
        problems.add(
            f"{SITES} names {len(sites)} site(s); booth moves tickets between at least 2. "
            f'Fix: {SITES}="SITE1_ADDR SITE2_ADDR", each site\'s booth address (its VIP).'
        )
    members = sites + arbitrators
    if len(sites) >= 2 and len(members) < 3:
        problems.add(
            f"booth needs at least 3 members to grant a ticket after a site is lost; there are "
            f"{len(members)}. Fix: add an arbitrator ({ARBITRATORS}=ADDR, a node started with "
            "PCMK_ROLE=arbitrator at a third place)."
        )
    if role == "arbitrator" and not arbitrators:
        problems.add(f"PCMK_ROLE=arbitrator needs {ARBITRATORS}. Fix: list this host's address.")
    dup = sorted({a for a in members if members.count(a) > 1})
    if dup:
        problems.add(
            f"booth: {', '.join(dup)} is given more than once in {SITES}/{ARBITRATORS}. Fix: "
            "every site and arbitrator needs an address of its own."
        )
    if len({ipaddress.ip_address(a).version for a in members}) > 1:
        problems.add(
            f"booth: {SITES} and {ARBITRATORS} mix IPv4 and IPv6. Fix: use one family "
            "(booth compares the addresses it finds on its interfaces with these)."
        )
    words = env.get(TICKETS, "").split()
    if not words:
        problems.add(f"{TICKETS} is empty. Fix: name at least one ticket, e.g. {TICKETS}=db.")
    tickets = [t for t in (_ticket(w, problems) for w in words) if t is not None]
    names = [t.name for t in tickets]
    if len(set(names)) != len(names):
        problems.add(f"{TICKETS}: a ticket is named twice. Fix: name each ticket once.")
    port = DEFAULT_PORT
    raw = env.get(PORT, "").strip()
    if raw:
        if raw.isdigit() and raw.isascii() and 0 < int(raw) < 65536:
            port = int(raw)
        else:
            problems.add(
                f"{PORT}={show(raw)} is not a port from 1 to 65535. Fix: unset it (booth's "
                f"default is {DEFAULT_PORT}) or give the same port everywhere."
            )
    if len(problems.items) > before:
        return None
    return Booth(sites, arbitrators, tuple(tickets), port, members)


def render(booth: Booth, authfile: str = KEYFILE) -> str:
    """booth.conf: the same on every site node and arbitrator."""
    lines = [
        "# booth.conf written by pcmk_launch from PCMK_BOOTH_* at every start.",
        'transport = "UDP"',
        f"port = {booth.port}",
        f'authfile = "{authfile}"',
    ]
    lines += [f'site = "{a}"' for a in booth.sites]
    lines += [f'arbitrator = "{a}"' for a in booth.arbitrators]
    for ticket in booth.tickets:
        lines.append(f'ticket = "{ticket.name}"')
        lines += [f"    {k} = {v}" for k, v in ticket.options]
    return "\n".join(lines) + "\n"


def version_tuple(text: str) -> tuple[int, ...] | None:
    """(1, 2) from `boothd --version` output such as "boothd 1.2 (build ...)"."""
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def hangs_on(booth_version: str, kernel_release: str) -> bool:
    """Whether this booth loops for ever at start on this kernel (booth < 1.2, Linux >= 6.9)."""
    booth, kernel = version_tuple(booth_version), version_tuple(kernel_release)
    return bool(booth and kernel and booth < FIXED_IN and kernel >= BROKEN_FROM)
