"""A stock host's socket-buffer limits for a test's duration (this machine is tuned to 4 MiB).

net.core.rmem_max and wmem_max are not per network namespace on this kernel, so the change is
host-wide: keep it to one test or module, and put back what was there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.prereq import require

STOCK = "212992"  # Debian's default
SYSCTLS = [Path(f"/proc/sys/net/core/{n}") for n in ("rmem_max", "wmem_max")]


@contextlib.contextmanager
def stock_socket_buffers() -> Iterator[None]:
    changed: list[tuple[Path, str]] = []  # put back even when a later one cannot be set
    try:
        for p in SYSCTLS:
            saved = p.read_text()
            try:
                p.write_text(STOCK)
            except OSError as exc:
                require(False, f"cannot set {p} to the stock value: {exc}")
            changed.append((p, saved))
        yield
    finally:
        for p, value in reversed(changed):
            p.write_text(value)
