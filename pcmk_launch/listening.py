"""Is a TCP port listening on this host? Read from /proc/net/tcp{,6}, never by connecting.

`python -m pcmk_launch.listening PORT` exits 0 when it is: the remote role's readiness probe.
"""

from __future__ import annotations

import sys

LISTEN = "0A"  # the TCP_LISTEN state in /proc/net/tcp


def listening(port: int, tables: list[str]) -> bool:
    """Whether any line of the given /proc/net/tcp texts is a socket listening on port."""
    for text in tables:
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == LISTEN and fields[1].endswith(f":{port:04X}"):
                return True
    return False


def main(argv: list[str]) -> int:  # pragma: no cover - thin I/O shell
    tables = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                tables.append(f.read())
        except OSError:
            pass
    return 0 if listening(int(argv[0]), tables) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
