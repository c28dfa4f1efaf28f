"""Is a TCP port listening on this host, and who is connected to it? Read from
/proc/net/tcp{,6}, never by connecting.

`python -m pcmk_launch.listening PORT` exits 0 when it is: the remote role's readiness probe.
"""

from __future__ import annotations

import ipaddress
import sys

LISTEN = "0A"  # the TCP_LISTEN state in /proc/net/tcp
ESTABLISHED = "01"


def listening(port: int, tables: list[str]) -> bool:
    """Whether any line of the given /proc/net/tcp texts is a socket listening on port."""
    for text in tables:
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == LISTEN and fields[1].endswith(f":{port:04X}"):
                return True
    return False


def _address(hex_addr: str) -> str:
    """/proc/net/tcp's address: 32-bit words in host (little-endian) byte order."""
    raw = bytes.fromhex(hex_addr)
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(swapped)
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


def peers(port: int, tables: list[str]) -> list[str]:
    """Remote addresses of the established connections to local port `port`, sorted."""
    found = set()
    for text in tables:
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == ESTABLISHED:
                local, remote = fields[1], fields[2]
                if local.endswith(f":{port:04X}"):
                    found.add(_address(remote.rpartition(":")[0]))
    return sorted(found)


def read_tables() -> list[str]:  # pragma: no cover - thin I/O shell
    tables = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                tables.append(f.read())
        except OSError:
            pass
    return tables


def main(argv: list[str]) -> int:  # pragma: no cover - thin I/O shell
    return 0 if listening(int(argv[0]), read_tables()) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
