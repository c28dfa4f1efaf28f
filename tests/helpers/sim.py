"""The real Supervisor in process, with a fake clock and a simulated process table.

SimSupervisor runs any service plan (the real cluster or remote plan, or one a test builds)
through the real state machine: spawn hands out pids, kill records what was sent, pidfds are
callbacks the test fires, helper commands (readiness probes, pre-stop steps, pacemakerd_state)
answer at once or run until the test ends them, and time moves only when the test calls
advance(). Nothing forks, nothing sleeps. What the real processes do is tested beside this,
in tests/supervisor/ (fake daemons) and tests/cluster/ (corosync and pacemaker).
"""

from __future__ import annotations

import signal
from collections.abc import Callable

from pcmk_launch.options import Options
from pcmk_launch.procs import PACEMAKER_SUBDAEMONS
from pcmk_launch.services import Service
from pcmk_launch.supervisor import Supervisor

GRACE = 5.0  # subdaemon_grace of a SimSupervisor unless a test sets it
HELPER_FIELDS = ("ready", "pre_stop", "shutting_down")


def exited(code: int) -> int:
    """The wait status of a process that exited with code."""
    return (code & 0xFF) << 8


def killed(signum: int) -> int:
    """The wait status of a process killed by signum."""
    return int(signum) & 0x7F


class SimSupervisor(Supervisor):
    """Supervisor with a simulated process table and clock.

    Helper commands are known by kind, "FIELD:SERVICE" (e.g. "ready:corosync",
    "pre_stop:pacemaker-remoted", "shutting_down:pacemakerd"), or "other". answers[kind] lists
    their exit codes, one per run (the last one repeats); None in it means that run does not
    end until the test calls helper_exits(kind). Without answers a helper exits 0, except
    pacemakerd_state, which answers shutting_down_answer.
    """

    def __init__(self, plan: list[Service] | None = None, **opts: object):
        self.now = 1000.0
        self.next_pid = 100
        self.tree: dict[int, dict[str, int]] = {}  # pid -> its children by name
        self.pidfds: dict[int, Callable[[], None]] = {}
        self.sent: list[tuple[int, int]] = []  # every (pid, signal) kill() sent
        self.spawned: list[tuple[float, str, int]] = []  # (when, argv[0], pid)
        self.cannot_run: set[str] = set()  # argv[0] whose exec fails
        self.helpers_run: list[tuple[float, str]] = []  # (when, kind)
        self.running_helpers: dict[int, tuple[str, Callable[[int], None]]] = {}
        self.answers: dict[str, list[int | None]] = {}
        self.shutting_down_answer = 1  # pacemakerd_state's exit: 1 = not shutting down
        self.respawns = True  # a new pacemakerd starts all its children
        opts.setdefault("subdaemon_grace", GRACE)
        super().__init__(
            Options(**opts), clock=lambda: self.now, plan=plan, find_children=self.find_children_sim
        )

    # -- the simulated world ------------------------------------------------------------
    def pid(self) -> int:
        self.next_pid += 1
        return self.next_pid

    def spawn(self, argv, quiet=False):
        if argv[0] in self.cannot_run:
            return None
        pid = self.pid()
        self.spawned.append((self.now, argv[0], pid))
        if argv[0] == "pacemakerd":
            kids = PACEMAKER_SUBDAEMONS if self.respawns else ()
            self.tree[pid] = {name: self.pid() for name in kids}
        return pid

    def find_children_sim(self, parent, names):
        return {n: p for n, p in self.tree.get(parent, {}).items() if n in names}

    def kill(self, pid, signum):
        self.sent.append((pid, signum))

    def watch_exit(self, pid, on_exit):
        self.pidfds[pid] = on_exit
        return pid

    def unwatch_exit(self, fd):
        self.pidfds.pop(fd, None)

    def helper_kind(self, argv: list[str]) -> str:
        for svc in self.plan:
            for field in HELPER_FIELDS:
                if getattr(svc, field) == argv:
                    return f"{field}:{svc.name}"
        return "other"

    def answer(self, kind: str) -> int | None:
        queue = self.answers.get(kind)
        if queue:
            return queue.pop(0) if len(queue) > 1 else queue[0]
        return self.shutting_down_answer if kind.startswith("shutting_down:") else 0

    def run_helper(self, argv, done, quiet=True):
        kind = self.helper_kind(argv)
        self.helpers_run.append((self.now, kind))
        code = self.answer(kind)
        if code is not None:
            done(exited(code))  # at once; as for a failed spawn, no pid to keep
            return None
        pid = self.pid()
        self.running_helpers[pid] = (kind, done)
        return pid

    # -- what the test does ---------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Let seconds pass, running every timer that falls due on the way, in order."""
        end = self.now + seconds
        while True:
            due = [t for t, _ in self.timers.values() if t <= end]
            if not due:
                break
            self.now = max(self.now, min(due))
            self.run_timers()
        self.now = end

    @property
    def pacemakerd(self) -> int:
        return self.pids["pacemakerd"]

    def subdaemon_exits(self, name: str, respawn: bool = False) -> None:
        kids = self.tree[self.pacemakerd]
        pid = kids.pop(name)
        if respawn:
            kids[name] = self.pid()
        self.pidfds[pid]()

    def service_exits(self, name: str, code: int = 0, signum: int | None = None) -> None:
        """The service's process ends (reaped): with exit code, or killed by signum."""
        pid = self.pids.pop(name)
        self.tree.pop(pid, None)
        self.on_exit(self.service(name), exited(code) if signum is None else killed(signum))

    def helper_exits(self, kind: str, code: int = 0, signum: int | None = None) -> None:
        """The oldest helper of kind still running ends (reaped)."""
        pid = next(p for p, (k, _) in self.running_helpers.items() if k == kind)
        _, done = self.running_helpers.pop(pid)
        done(exited(code) if signum is None else killed(signum))

    def helper_pid(self, kind: str) -> int:
        return next(p for p, (k, _) in self.running_helpers.items() if k == kind)

    def signals_to(self, pid: int) -> list[int]:
        return [s for p, s in self.sent if p == pid]

    def terms_to(self, pid: int) -> int:
        return self.signals_to(pid).count(signal.SIGTERM)

    def spawn_times(self, name: str) -> list[float]:
        return [t for t, argv0, _ in self.spawned if argv0 == name]
