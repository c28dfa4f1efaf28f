"""Seed the very first CIB with cluster properties (pure part: XML in, XML out).

Only a node that has no CIB yet gets one: an existing CIB is the cluster's data and is
never touched. Pacemaker accepts a cib.xml without its .sig file on first start.
"""

from __future__ import annotations

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
