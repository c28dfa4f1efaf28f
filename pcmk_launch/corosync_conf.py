"""Render corosync.conf (corosync 3) from a validated Cluster with the package's template."""

from __future__ import annotations

import re

import jinja2

from .settings import Cluster

# Last line of defence: validation already restricts every value to plain words.
_SAFE = re.compile(r"[A-Za-z0-9_.:/@+\- ]*\Z")


def _safe(value: object) -> object:
    if isinstance(value, str) and not _SAFE.match(value):
        raise ValueError(f"unsafe value reached the corosync.conf template: {value!r}")
    return value


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("pcmk_launch", "templates"),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
    finalize=_safe,
    autoescape=False,
)


# corosync 3.1's own defaults, which decide knet's ping interval when we do not.
COROSYNC_TOKEN_MS = 3000
TOKEN_COEFFICIENT_MS = 650  # added per node above two
# knet checks its links every 200 ms: a shorter interval would not ping more often.
KNET_PING_MS = 200


def effective_token(token_ms: int | None, coefficient_ms: int | None, nodes: int) -> int:
    """The token corosync runs with: token, plus the coefficient per node above two (only
    from 3 nodes on; totemconfig.c), e.g. 750 ms becomes 1400 ms for 3 nodes."""
    per_node = TOKEN_COEFFICIENT_MS if coefficient_ms is None else coefficient_ms
    extra = per_node * (nodes - 2) if nodes > 2 else 0
    return (token_ms or COROSYNC_TOKEN_MS) + extra


def knet_ping_interval(token_ms: int | None, nodes: int, coefficient_ms: int | None = None) -> int:
    """The knet ping interval to render, in ms.

    knet pings every token/4 by default (912 ms for 3 nodes) and calls a link up after
    3 pongs, so peers find each other 2-3 s after start; at 200 ms they do within a second.
    The link-down timeout stays corosync's (token/2): only discovery gets faster.
    """
    return min(KNET_PING_MS, effective_token(token_ms, coefficient_ms, nodes) // 4)


def render(cluster: Cluster, check: bool = False, knet_fallback: bool = False) -> str:
    """The complete corosync.conf text for this cluster (identical on every host, but for
    knet_fallback, which hostcheck.knet_plan decides from this host's facts).

    check=True logs to stderr too, so that `corosync -t` on the copy can say what is wrong.
    """
    s = cluster.settings
    peers = s.transport == "knet" and len(cluster.nodes) > 1
    template = _ENV.get_template("corosync.conf.j2")
    return template.render(
        s=s,
        knet_links=len(cluster.local.addrs) if peers else 0,
        knet_ping_ms=knet_ping_interval(s.token_ms, len(cluster.nodes), s.token_coefficient_ms),
        nodes=cluster.nodes,
        quorum=cluster.quorum,
        crypto=cluster.crypto,
        check=check,
        knet_fallback=knet_fallback and s.transport == "knet",
    )
