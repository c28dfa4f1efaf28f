"""The launcher's own lines, from the command line and from PID 1: one logger, real levels.

In the text format (the default) a line is "[pcmk-launch] MESSAGE" whatever its level. With
PCMK_LOG_FORMAT=json it is one object per line, like the daemons' lines the relay passes on
(logrelay.py), and its "level" is syslog's: "error" for a failure, "warning" for what an
operator should look at, "notice" for the rest.

Kept lean (no logging module): PID 1 imports it for the container's whole life.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from . import logrelay

LEVELS = logrelay.LEVELS
ERROR, WARNING, NOTICE = "error", "warning", "notice"


def to_stdout(line: str) -> None:
    # sys.stdout, not fd 1: the command line's other output goes there too, in order.
    print(line, flush=True)


class Logger:
    """Formats the launcher's lines and hands them to write (stdout, or PID 1's Writer)."""

    def __init__(self, write: Callable[[str], None] = to_stdout):
        self.write = write
        self.json_host: str | None = None  # None: the text format
        self.writer: logrelay.Writer | None = None

    def use_json(self, host: str | None = None) -> None:
        """PCMK_LOG_FORMAT=json from now on; host: the node name each line carries."""
        self.json_host = os.uname().nodename if host is None else host

    def line(self, message: str, level: str = NOTICE) -> str:
        if level not in LEVELS:
            raise ValueError(f"unknown log level {level!r}; one of {', '.join(LEVELS)}")
        return logrelay.launcher_line(message, level, self.json_host)

    def log(self, message: str, level: str = NOTICE) -> None:
        self.write(self.line(message, level))

    def notice(self, message: str) -> None:
        self.log(message, NOTICE)

    def warning(self, message: str) -> None:
        self.log(message, WARNING)

    def error(self, message: str) -> None:
        self.log(message, ERROR)

    def to_writer(self, writer: logrelay.Writer) -> None:
        """PID 1: from now on a thread owns stdout; lines are queued, never blocking."""
        self.writer, self.write = writer, writer.put

    def close(self, timeout: float = 5.0) -> None:
        """PID 1 at exit: the Writer says how many lines it dropped (a line of ours, in our
        format), writes what it holds and stops; later lines go to stdout directly."""
        writer, self.writer, self.write = self.writer, None, to_stdout
        if writer is not None:
            writer.close(timeout, line=self.line)


LOG = Logger()  # the process's one launcher logger: the command line's, or PID 1's
