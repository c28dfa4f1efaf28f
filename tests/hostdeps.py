"""Which Debian package provides a command, from deps/host-packages.txt (the one list that
`make test` installs from), so that a skip can say how to install what is missing.
Standard library only: the harness and the bench use it too."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

PACKAGES = Path(__file__).resolve().parents[1] / "deps" / "host-packages.txt"


@cache
def package_of() -> dict[str, str]:
    """command -> package."""
    owners = {}
    for line in PACKAGES.read_text().splitlines():
        words = line.split()
        if len(words) == 3 and not line.startswith("#"):
            for command in words[2].split(","):
                owners[command] = words[0]
    return owners


def install_hint(commands: list[str]) -> str:
    packages = sorted({package_of().get(c, c) for c in commands})
    return f"as root: apt-get install {' '.join(packages)} (or make host-deps-test)"


def first_line(cmd: list[str]) -> str:
    """The first line `cmd` prints (a version, say), or "?" where it cannot say."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
        return out.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"
