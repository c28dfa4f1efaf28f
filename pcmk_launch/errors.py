"""The launcher's exit codes, the errors that carry a message for the operator (bad
configuration, a node that cannot be prepared, no cluster state to report), and how such a
message is printed."""

from __future__ import annotations

import sys
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the launcher; documented in the README."""

    OK = 0
    INTERNAL = 1  # a bug: unexpected exception
    CONFIG = 2  # bad environment, flags or files; nothing was written or started
    COROSYNC_START = 3  # corosync exited or never became ready during start-up
    DAEMON_DIED = 4  # corosync or pacemakerd died while the cluster was running
    KILLED = 5  # a daemon ignored SIGTERM for its whole grace period and was SIGKILLed
    WEDGED = 6  # pacemakerd left a subdaemon dead and restarting pacemakerd did not help


class ConfigError(Exception):
    """Bad configuration. Carries every problem found, not just the first."""

    exit_code = ExitCode.CONFIG

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(self.message())

    def message(self) -> str:
        n = len(self.problems)
        head = (
            "configuration refused: 1 problem" if n == 1 else f"configuration refused: {n} problems"
        )
        lines = [head + " (nothing was written or started):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class Problems:
    """Collects validation problems so all of them are reported at once (pcs style)."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        self.items.append(text)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)


class SetupError(ConfigError):
    """A file or directory this node needs could not be written (a read-only or full volume,
    one owned by another user). Exit 2 as for bad configuration: the fix is in how the
    container is run. What was written before it stays; nothing was started."""

    def message(self) -> str:
        lines = ["cannot prepare this node (nothing was started):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class NoClusterState(Exception):
    """crm_mon (or cibadmin) could not tell the cluster's state here: the cluster does not run,
    a tool is missing or did not answer. `health` and `status` say why and exit 1."""


def report(message: str) -> None:
    """A message for the operator on stderr: "pcmk-launch: MESSAGE"."""
    print(f"pcmk-launch: {message}", file=sys.stderr, flush=True)
