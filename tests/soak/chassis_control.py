#!/usr/bin/python3
"""ipmi_sim's `chassis_control` program for the soak's BMCs (tests/soak/bmc.py).

    chassis_control.py SOCKET NODE get power        -> prints "power:1" or "power:0"
    chassis_control.py SOCKET NODE set power 0|1    -> asks for power off / on; prints nothing

ipmi_sim (OpenIPMI's lanserv/extcmd.c) runs it through popen() for every Get Chassis Status
and Chassis Control it receives. The power itself belongs to the soak runner, which owns the
namespace hosts: this only forwards the request on the runner's unix socket. Standard library
only (it runs under the system python3). Anything else (reset, boot, identify) exits 1, which
ipmi_sim answers with an error completion code.
"""

from __future__ import annotations

import socket
import sys


def request(path: str, line: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(15)
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        return s.makefile().readline().strip()


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: chassis_control.py SOCKET NODE get power | set power 0|1")
        return 1
    path, node, op, *rest = argv
    if op == "get" and rest == ["power"]:
        answer = request(path, f"status {node}")
        if answer not in ("0", "1"):
            print(f"power status of {node}: {answer}")
            return 1
        print(f"power:{answer}")
        return 0
    if op == "set" and len(rest) == 2 and rest[0] == "power" and rest[1] in ("0", "1"):
        answer = request(path, f"{'on' if rest[1] == '1' else 'off'} {node}")
        if answer != "ok":
            print(f"power {rest[1]} of {node}: {answer}")
            return 1
        return 0
    print(f"not supported by the soak's BMC: {op} {' '.join(rest)}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
