"""`python -m pcmk_launch.pacemakerd_state`: exit 0 when the local pacemakerd says it is
shutting down (or has shut down), 1 otherwise (running, starting, or no answer).

The supervisor asks this before it restarts a pacemakerd whose subdaemons are missing: a
pacemakerd that stops on its own also takes them away, and must be let finish."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

STOPPING = {"shutting_down", "shutdown_complete"}


def state(crmadmin_xml: str) -> str | None:
    """pacemakerd's state from `crmadmin --pacemakerd --output-as=xml` (2.1 and 3.0)."""
    try:
        root = ET.fromstring(crmadmin_xml)
    except ET.ParseError:
        return None
    el = root.find(".//pacemakerd")
    return el.get("state") if el is not None else None


def main() -> int:
    try:
        out = subprocess.run(
            ["crmadmin", "--pacemakerd", "--output-as=xml", "--timeout=5000"],
            capture_output=True,
            text=True,
            timeout=8,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 1
    return 0 if state(out) in STOPPING else 1


if __name__ == "__main__":
    sys.exit(main())
