"""Pacemaker's fencing history as plain data, for every test level: one parser for the
`<fence_event>` elements that both `stonith_admin --history --output-as=xml` and
`crm_mon --output-as=xml --include=fencing` print."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def fence_events(xml_text: str) -> list[dict[str, str]]:
    """Each <fence_event>'s attributes (target, action, status, completed...); [] when the
    text is no XML (the daemon was not reachable)."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return []
    return [dict(e.attrib) for e in root.iter("fence_event")]
