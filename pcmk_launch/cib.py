"""The CIB on disk (pure part: XML in, XML or a verdict out): seed the very first one with
cluster properties, and tell when an existing one needs a newer Pacemaker than this image's.

Only a node that has no CIB yet gets one: an existing CIB is the cluster's data and is
never touched. Pacemaker accepts a cib.xml without its .sig file on first start.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

PROPERTY_SET_ID = "cib-bootstrap-options"  # the set pcs and crm_attribute write to


def seed(empty_cib: str, properties: Iterable[tuple[str, str]]) -> str:
    """Add the properties to the crm_config of an empty CIB (from `cibadmin --empty`)."""
    root = ET.fromstring(empty_cib)
    crm_config = root.find("configuration/crm_config")
    if crm_config is None:
        raise ValueError("not an empty CIB: no configuration/crm_config element")
    pset = ET.SubElement(crm_config, "cluster_property_set", id=PROPERTY_SET_ID)
    for name, value in properties:
        ET.SubElement(pset, "nvpair", id=f"{PROPERTY_SET_ID}-{name}", name=name, value=value)
    return ET.tostring(root, encoding="unicode") + "\n"


SCHEMA_RE = re.compile(r"pacemaker-(\d+)\.(\d+)")


def schema_version(name: str) -> tuple[int, int] | None:
    """(3, 9) for "pacemaker-3.9" or "pacemaker-3.9.rng"; None for anything else."""
    m = SCHEMA_RE.fullmatch(name.removesuffix(".rng"))
    return (int(m.group(1)), int(m.group(2))) if m else None


def too_new(cib_text: str, schema_files: Iterable[str]) -> tuple[str, str] | None:
    """(the CIB's schema, the newest this Pacemaker knows) when the CIB needs a newer Pacemaker.

    A node whose CIB was upgraded to a newer schema (cibadmin --upgrade under a newer
    Pacemaker) cannot read it after a downgrade; pacemaker-based would fail to start.
    """
    try:
        wanted = ET.fromstring(cib_text).get("validate-with", "")
    except ET.ParseError:
        return None  # pacemaker-based reports a damaged CIB itself (and keeps backups)
    version = schema_version(wanted)
    known = [v for v in map(schema_version, schema_files) if v]
    if version is None or not known or version <= max(known):
        return None
    newest = max(known)
    return wanted, f"pacemaker-{newest[0]}.{newest[1]}"
