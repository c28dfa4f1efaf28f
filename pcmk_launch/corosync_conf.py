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


def render(cluster: Cluster, check: bool = False) -> str:
    """The complete corosync.conf text for this cluster (identical on every host).

    check=True logs to stderr too, so that `corosync -t` on the copy can say what is wrong.
    """
    template = _ENV.get_template("corosync.conf.j2")
    return template.render(
        s=cluster.settings,
        nodes=cluster.nodes,
        quorum=cluster.quorum,
        crypto=cluster.crypto,
        check=check,
    )
