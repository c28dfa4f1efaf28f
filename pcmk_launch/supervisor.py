"""PID 1: run the role's service plan (services.py: corosync, then pacemakerd; or
pacemaker-remoted alone); reap everything; forward signals; watch that pacemakerd keeps
its subdaemons running and restart it when it does not; stop in reverse order.

One loop, tini style: every event (a signal, a child's exit, a watched subdaemon's exit
through its pidfd, a deadline) wakes a single select(); nothing polls while the cluster
runs. This one loop owns
all waiting: helper commands are spawned and reaped here too, so a global waitpid(-1)
never steals their exit status.

Kept lean on purpose (no jinja2, no argparse): it runs for the container's whole life.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import signal
import time
from collections.abc import Callable

from . import logrelay, procs, services
from .errors import ExitCode
from .launchlog import ERROR, LOG, NOTICE, WARNING
from .options import Options
from .services import FATAL, RESTART, Service

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}  # QUIT would panic pacemakerd
FORWARD_SIGNALS = {signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGALRM}
HANDLED = STOP_SIGNALS | FORWARD_SIGNALS | {signal.SIGCHLD, signal.SIGHUP}
# Children start with every catchable signal at its default disposition (Python ignores
# SIGPIPE and SIGXFSZ, and ignored dispositions survive exec) and an empty mask.
DEFAULT_IN_CHILD = set(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP}
PROGRESS_EVERY = 5.0
PR_SET_CHILD_SUBREAPER = 36


def log(message: str, level: str = NOTICE) -> None:
    LOG.log(message, level)


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        try:
            return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
        except ValueError:
            return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


RESERVED_SIGNALS = (32, 33)  # glibc's own (SIGCANCEL, SIGSETXID): Python cannot touch them
RT_SIGACTION = {"x86_64": 13, "aarch64": 134}


def reset_inherited_ignores() -> None:
    """Undo SIG_IGN on glibc's reserved signals if our parent left it (GNU make and any
    posix_spawn caller do): an ignored disposition survives exec and would reach every
    daemon. libc refuses sigaction() for these, so use the raw system call."""
    with open("/proc/self/status") as f:
        ignored = next(int(line.split()[1], 16) for line in f if line.startswith("SigIgn:"))
    todo = [sig for sig in RESERVED_SIGNALS if ignored & (1 << (sig - 1))]
    number = RT_SIGACTION.get(os.uname().machine)
    if not todo or number is None:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    default = ctypes.create_string_buffer(32)  # handler SIG_DFL, no flags, empty mask
    for sig in todo:
        if libc.syscall(number, sig, default, None, 8) != 0:
            log(f"cannot reset inherited SIG_IGN of signal {sig}", WARNING)


def become_subreaper() -> None:
    """When not PID 1, adopt orphans anyway (PR_SET_CHILD_SUBREAPER)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        log(f"cannot become a child subreaper: {os.strerror(ctypes.get_errno())}", WARNING)


PROBE_FAST_FOR = 5.0  # seconds after a spawn during which readiness is probed every 0.1 s


class Supervisor:
    """Runs a service plan (services.py): starts it in order, supervises, stops in reverse."""

    def __init__(
        self,
        opts: Options,
        clock: Callable[[], float] = time.monotonic,
        plan: list[Service] | None = None,
        find_children: Callable[[int, tuple[str, ...]], dict[str, int]] = procs.children_named,
    ):
        self.opts = opts
        self.clock = clock
        self.find_children = find_children
        self.plan = services.PLANS[opts.role](opts) if plan is None else plan
        self.pids: dict[str, int] = {}  # running services by name
        self.next_start = 0  # index in the plan of the next service to start
        self.up: set[str] = set()  # services past start-up: ready, or spawned without a probe
        self.stopping_now: Service | None = None  # the service being stopped
        self.delays: dict[str, float] = {}  # RESTART services: next backoff
        self.spawned_at: dict[str, float] = {}
        self.helpers: dict[int, Callable[[int], None]] = {}
        self.timers: dict[str, tuple[float, Callable[[], None]]] = {}
        self.stopping = False
        self.exit_code: int | None = None  # first failure wins; None means clean so far
        self.killed = False
        self.started_at = clock()
        self.probe_delay = 0.02
        self.pre_stop_pid: int | None = None  # a service's pre_stop step, while it runs
        self.selector: selectors.BaseSelector | None = None
        # Children watch (Service.children): per service, child name -> pid and its pidfd;
        # which are missing since when; recoveries done and restarts that did not help.
        self.watched: dict[str, dict[str, tuple[int, int | None]]] = {}
        self.missing: dict[str, dict[str, float]] = {}
        self.seen_all: set[str] = set()  # services whose children have all been seen
        self.recovering: dict[str, float] = {}  # service -> when its children went missing
        self.restarting: dict[str, tuple[float, int]] = {}  # stopped to recover: delay, pid
        self.recoveries: dict[str, list[float]] = {}
        self.failed_recoveries: dict[str, int] = {}
        self.scan_delay: dict[str, float] = {}

    # ---- the loop -------------------------------------------------------------------
    def run(self) -> int:
        rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        for sig in HANDLED:
            signal.signal(sig, lambda *_: None)  # the wakeup pipe carries the signal number
        signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        reset_inherited_ignores()
        signal.pthread_sigmask(signal.SIG_SETMASK, set())  # deliver what came during start-up
        if os.getpid() != 1:
            become_subreaper()
        self.rfd = rfd
        self.selector = selectors.DefaultSelector()
        self.selector.register(rfd, selectors.EVENT_READ, None)
        relay = self.open_relay()
        if relay is not None:
            self.selector.register(relay.sock, selectors.EVENT_READ, lambda: relay.drain())
        self.handle_signals()  # a SIGTERM that came before we started anything
        if not self.stopping:
            self.start_next()
        while not self.finished():
            for key, _ in self.selector.select(self.next_timeout()):
                if key.data is not None:
                    key.data()  # the log relay, or a watched child's pidfd
            self.handle_signals()
            self.run_timers()
        if relay is not None:
            relay.drain()
        return self.result()

    def open_relay(self) -> logrelay.Relay | None:
        writer = logrelay.Writer()
        LOG.to_writer(writer)
        if self.opts.log_format == "json":
            LOG.use_json()
        if not self.opts.log_socket:
            return None
        try:
            sock = logrelay.open_socket(self.opts.log_socket)
        except OSError as exc:
            log(
                f"cannot listen on {self.opts.log_socket}: {exc.strerror}; "
                "pacemaker's messages will not reach stdout",
                WARNING,
            )
            return None
        if sock is None:
            log(f"{self.opts.log_socket} already has a listener; leaving syslog to it")
            return None
        return logrelay.Relay(sock, writer, self.opts.log_format, os.uname().nodename)

    def finished(self) -> bool:
        return not self.pids and (self.stopping or self.exit_code is not None)

    def result(self) -> int:
        if self.exit_code is not None:
            return self.exit_code
        return ExitCode.KILLED if self.killed else ExitCode.OK

    def next_timeout(self) -> float | None:
        if not self.timers:
            return None  # idle: sleep until a signal or a child's exit
        return max(0.0, min(t for t, _ in self.timers.values()) - self.clock())

    def run_timers(self) -> None:
        now = self.clock()
        for name, (deadline, action) in list(self.timers.items()):
            if deadline <= now and self.timers.get(name) == (deadline, action):
                del self.timers[name]
                action()

    def after(self, name: str, delay: float, action: Callable[[], None]) -> None:
        self.timers[name] = (self.clock() + delay, action)

    def cancel(self, name: str) -> None:
        self.timers.pop(name, None)

    # ---- signals and children ---------------------------------------------------------
    def handle_signals(self) -> None:
        while True:
            try:
                data = os.read(self.rfd, 4096)
            except BlockingIOError:
                return
            # A storm of SIGCHLD bytes needs one reap pass, not one per byte; the kernel
            # merges pending standard signals anyway, so nothing is lost by merging here.
            for signum in dict.fromkeys(data):
                self.on_signal(signum)

    def on_signal(self, signum: int) -> None:
        if signum == signal.SIGCHLD:
            self.reap()
        elif signum in STOP_SIGNALS:
            self.request_stop(f"received {signal.Signals(signum).name}")
        elif signum == signal.SIGHUP:
            self.reload()
        elif signum in FORWARD_SIGNALS:
            for svc in self.plan:
                if svc.forward_signals and svc.name in self.pids:
                    log(f"forwarding {signal.Signals(signum).name} to {svc.name}")
                    self.kill(self.pids[svc.name], signum)

    def reap(self) -> None:
        """Collect every exited child: ours get their handler, orphans are just reaped."""
        by_pid = {pid: name for name, pid in self.pids.items()}
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in by_pid:
                name = by_pid.pop(pid)
                del self.pids[name]
                self.on_exit(self.service(name), status)
            elif pid in self.helpers:
                self.helpers.pop(pid)(status)

    def service(self, name: str) -> Service:
        return next(svc for svc in self.plan if svc.name == name)

    def spawn(self, argv: list[str], quiet: bool = False) -> int | None:
        """fork + exec, not posix_spawn: glibc's posix_spawn leaves its internal signals
        (32, 33) ignored in the child, and an ignored disposition survives exec."""
        errpipe_r, errpipe_w = os.pipe2(os.O_CLOEXEC)
        signal.pthread_sigmask(signal.SIG_BLOCK, DEFAULT_IN_CHILD)
        pid = os.fork()
        if pid == 0:  # child: reset what we changed, then exec
            try:
                os.close(errpipe_r)
                signal.set_wakeup_fd(-1)
                for sig in DEFAULT_IN_CHILD:
                    signal.signal(sig, signal.SIG_DFL)
                # setsid: a terminal's Ctrl-C reaches only us, so the stop stays ordered.
                os.setsid()
                if quiet:
                    null = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(null, 1)
                    os.dup2(null, 2)
                signal.pthread_sigmask(signal.SIG_SETMASK, set())
                os.execvp(argv[0], argv)
            except OSError as exc:
                os.write(errpipe_w, str(exc.errno).encode())
            finally:
                os._exit(127)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, DEFAULT_IN_CHILD)
        os.close(errpipe_w)
        with os.fdopen(errpipe_r, "rb") as f:
            failure = f.read()  # empty: exec succeeded and closed the pipe
        if failure:
            os.waitpid(pid, 0)
            log(f"cannot run {argv[0]}: {os.strerror(int(failure))}", ERROR)
            return None
        return pid

    def run_helper(
        self, argv: list[str], done: Callable[[int], None], quiet: bool = True
    ) -> int | None:
        pid = self.spawn(argv, quiet=quiet)
        if pid is None:
            done(127 << 8)
        else:
            self.helpers[pid] = done
        return pid

    @staticmethod
    def kill(pid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # ESRCH: it is gone already
            os.kill(pid, signum)

    def elapsed(self) -> str:
        return f"{self.clock() - self.started_at:.1f}s"

    # ---- start-up ---------------------------------------------------------------------
    def start_next(self) -> None:
        if self.stopping or self.next_start >= len(self.plan):
            return
        svc = self.plan[self.next_start]
        self.next_start += 1
        self.start(svc, first=True)

    def start(self, svc: Service, first: bool = False) -> None:
        pid = self.spawn(svc.argv)
        if pid is None:
            if svc.on_death == FATAL:
                self.fail(svc.start_code, f"{svc.name} could not be started")
            else:
                self.schedule_restart(svc)
                if first:
                    self.start_next()
            return
        self.pids[svc.name] = pid
        self.spawned_at[svc.name] = self.clock()
        if svc.children:
            self.watch_children(svc)
        if not first:
            log(f"restarted {svc.name} (pid {pid})")
        elif svc.ready is None:
            self.up.add(svc.name)
            note = f"; {svc.started_note}" if svc.started_note else ""
            log(f"started {svc.name} (pid {pid}){note}")
            self.start_next()
        else:
            log(f"started {svc.name} (pid {pid}); waiting until it is ready")
            self.after("start-deadline", svc.ready_timeout, lambda: self.start_timed_out(svc))
            self.progress(f"{svc.name} to become ready", svc.ready_timeout)
            self.probe(svc)

    def probe(self, svc: Service) -> None:
        if svc.name not in self.pids or self.stopping or svc.ready is None:
            return
        self.run_helper(svc.ready, lambda status: self.on_probe(svc, status))

    def on_probe(self, svc: Service, status: int) -> None:
        starting = self.plan[self.next_start - 1] is svc
        if svc.name not in self.pids or self.stopping or not starting:
            return
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            self.cancel("start-deadline")
            self.cancel("progress")
            self.up.add(svc.name)
            note = f"; {svc.started_note}" if svc.started_note else ""
            log(f"{svc.name} is ready ({self.elapsed()} after start){note}")
            self.start_next()
            return
        # Backoff keeps the first answer fast and the load of a slow start low: every 0.1 s
        # while a normal start would end (corosync answers ~0.4 s after its spawn, and
        # everything after it waits for this answer), every 0.5 s after PROBE_FAST_FOR.
        fast = self.clock() - self.spawned_at.get(svc.name, 0.0) < PROBE_FAST_FOR
        self.probe_delay = min(self.probe_delay * 2, 0.1 if fast else 0.5)
        self.after("probe", self.probe_delay, lambda: self.probe(svc))

    def start_timed_out(self, svc: Service) -> None:
        self.fail(
            svc.start_code,
            f"{svc.name} was not ready within PCMK_START_TIMEOUT={svc.ready_timeout:g}s",
        )

    def schedule_restart(self, svc: Service) -> None:
        delay = self.delays.get(svc.name, svc.restart_delay)
        self.delays[svc.name] = min(delay * 2, svc.restart_max)
        log(f"{svc.name} will be restarted in {delay:g}s", WARNING)
        self.after(f"restart-{svc.name}", delay, lambda: self.restart(svc))

    def restart(self, svc: Service) -> None:
        if not self.stopping and svc.name not in self.pids:
            self.start(svc)

    def progress(self, what: str, limit: float) -> None:
        started = self.clock()

        def tick() -> None:
            log(f"still waiting for {what}: {self.clock() - started:.0f}s of {limit:g}s")
            self.after("progress", PROGRESS_EVERY, tick)

        self.after("progress", PROGRESS_EVERY, tick)

    # ---- children: the processes a service must keep running itself ---------------------
    # pacemakerd respawns a subdaemon that dies, except when its check of the corosync
    # connection fails at that moment: then it waits for "the cluster to return", which never
    # happens while corosync stays up. We hold a pidfd per child (no polling while all run),
    # look for a respawned one with a short backoff scan, and restart the service when a
    # child stays gone (see services.py, "Children").
    def watch_children(self, svc: Service) -> None:
        """A service was (re)started: look for all its children until ready_timeout."""
        self.unwatch_children(svc)
        self.seen_all.discard(svc.name)  # a fresh start: its children are yet to come
        self.missing[svc.name] = dict.fromkeys(svc.children, self.clock())
        self.rescan(svc)
        self.after(f"wedge-{svc.name}", svc.ready_timeout, lambda: self.children_overdue(svc))

    def unwatch_children(self, svc: Service) -> None:
        for name in list(self.watched.get(svc.name, {})):
            self.drop_watch(svc, name)
        self.missing.pop(svc.name, None)
        self.cancel(f"scan-{svc.name}")
        self.cancel(f"wedge-{svc.name}")

    def drop_watch(self, svc: Service, name: str) -> None:
        _, fd = self.watched.get(svc.name, {}).pop(name, (0, None))
        if fd is not None:
            self.unwatch_exit(fd)

    def watch_exit(self, pid: int, on_exit: Callable[[], None]) -> int | None:
        """A pidfd, in the loop's selector, that calls on_exit when the process exits (any
        process, not only our child). None where the kernel has no pidfds (before 5.3): such
        a child is then looked for every children_grace seconds. ProcessLookupError: gone."""
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            raise
        except (AttributeError, OSError):
            return None
        if self.selector is not None:
            self.selector.register(fd, selectors.EVENT_READ, on_exit)
        return fd

    def unwatch_exit(self, fd: int) -> None:
        if self.selector is not None:
            self.selector.unregister(fd)
        os.close(fd)

    def rescan(self, svc: Service) -> None:
        self.scan_delay[svc.name] = 0.02
        self.after(f"scan-{svc.name}", 0.02, lambda: self.scan_children(svc))

    def scan_children(self, svc: Service) -> None:
        pid = self.pids.get(svc.name)
        if pid is None or self.stopping or svc.name in self.restarting:
            return
        found = self.find_children(pid, svc.children)
        watched = self.watched.setdefault(svc.name, {})
        missing = self.missing.setdefault(svc.name, {})
        polled = False
        for name in svc.children:
            cpid = found.get(name)
            if cpid is None:
                if name in watched:  # no pidfd told us (old kernel): gone now
                    self.drop_watch(svc, name)
                    self.child_missing(svc, name)
                continue
            if watched.get(name, (None, None))[0] != cpid:
                self.drop_watch(svc, name)
                try:
                    fd = self.watch_exit(cpid, functools.partial(self.child_gone, svc, name, cpid))
                    watched[name] = (cpid, fd)
                except ProcessLookupError:
                    continue  # exited between the scan and the pidfd: still missing
                since = missing.pop(name, None)
                if since is not None and svc.name in self.seen_all:
                    log(
                        f"{svc.name} respawned {name} (pid {cpid}), {self.clock() - since:.1f}s "
                        "after it exited"
                    )
            polled = polled or watched[name][1] is None
        if missing:
            delay = self.scan_delay.get(svc.name, 0.02)
            self.scan_delay[svc.name] = min(delay * 2, 1.0)
            self.after(f"scan-{svc.name}", delay, lambda: self.scan_children(svc))
            return
        self.cancel(f"wedge-{svc.name}")
        self.all_children_running(svc)
        if polled:
            self.after(f"scan-{svc.name}", svc.children_grace, lambda: self.scan_children(svc))

    def child_gone(self, svc: Service, name: str, pid: int) -> None:
        """A watched child's pidfd became readable: it has exited."""
        if self.watched.get(svc.name, {}).get(name, (None,))[0] != pid:
            return
        self.drop_watch(svc, name)
        if not self.stopping and svc.name in self.pids and svc.name not in self.restarting:
            self.child_missing(svc, name)

    def child_missing(self, svc: Service, name: str) -> None:
        missing = self.missing.setdefault(svc.name, {})
        if not missing:
            self.after(f"wedge-{svc.name}", svc.children_grace, lambda: self.children_overdue(svc))
        missing.setdefault(name, self.clock())
        if svc.name in self.seen_all:
            log(
                f"{name} of {svc.name} exited; waiting up to {svc.children_grace:g}s for "
                f"{svc.name} to respawn it"
            )
        self.rescan(svc)

    def all_children_running(self, svc: Service) -> None:
        first = svc.name not in self.seen_all and svc.name not in self.recoveries
        since = self.recovering.pop(svc.name, None)
        if since is not None:
            self.failed_recoveries.pop(svc.name, None)
            log(
                f"recovered: {svc.name} runs all {len(svc.children)} of its subdaemons again, "
                f"{self.clock() - since:.1f}s after the first went missing"
            )
        elif first:
            log(f"{svc.name} runs its {len(svc.children)} subdaemons; watching them")
        self.seen_all.add(svc.name)

    def children_overdue(self, svc: Service) -> None:
        """A deadline passed: some child has been missing too long (or never came)."""
        if self.stopping or svc.name not in self.pids or svc.name in self.restarting:
            return
        self.scan_children(svc)  # a fresh look first
        missing = self.missing.get(svc.name)
        if not missing:
            return
        limit = svc.children_grace if svc.name in self.seen_all else svc.ready_timeout
        now = self.clock()
        overdue = sorted(n for n, t in missing.items() if now - t >= limit - 1e-6)
        if not overdue:  # those missing now went later than the first: wait for them
            due = min(missing.values()) + limit - now
            self.after(f"wedge-{svc.name}", due, lambda: self.children_overdue(svc))
            return
        if svc.shutting_down is None:
            self.recover(svc, overdue)
            return

        # pacemakerd stopping on its own (a subdaemon exited fatally, or `crm node stop`) also
        # takes its subdaemons away: let it finish, its exit is handled as a death.
        def answered(status: int) -> None:
            self.cancel(f"asked-{svc.name}")
            if self.stopping or svc.name not in self.pids or svc.name in self.restarting:
                return
            if status == 0:
                log(f"{svc.name} is shutting down on its own; not restarting it")
            else:
                self.recover(svc, overdue)

        pid = self.run_helper(svc.shutting_down, answered)
        if pid is not None:
            self.after(f"asked-{svc.name}", 10.0, lambda: self.kill(pid, signal.SIGKILL))

    def recover(self, svc: Service, overdue: list[str]) -> None:
        now = self.clock()
        missing = self.missing.get(svc.name, {})
        since = min((missing[n] for n in overdue if n in missing), default=now)
        what = ", ".join(overdue)
        if svc.name in self.recovering:  # the last restart did not bring them back
            self.failed_recoveries[svc.name] = self.failed_recoveries.get(svc.name, 0) + 1
        failed = self.failed_recoveries.get(svc.name, 0)
        done = [t for t in self.recoveries.get(svc.name, []) if now - t < svc.recover_window]
        why = ""
        if failed >= svc.recover_limit:
            why = f"{svc.name} was restarted {failed} times in a row and {what} never came back"
        elif len(done) >= svc.recover_burst:
            why = (
                f"{what} of {svc.name} went missing again after {len(done)} recoveries in "
                f"{svc.recover_window:g}s"
            )
        if why:
            self.fail(
                svc.recover_code,
                f"{why}: giving up. Stopping the whole stack cleanly and "
                f"exiting with code {int(svc.recover_code)}, so that the container's "
                "restart policy starts this node afresh",
            )
            return
        done.append(now)
        self.recoveries[svc.name] = done
        self.recovering.setdefault(svc.name, since)
        backoff = (
            0.0
            if len(done) == 1
            else min(svc.restart_delay * 2 ** (len(done) - 2), svc.restart_max)
        )
        delay = max(backoff, svc.recover_settle)
        pid = self.pids[svc.name]
        log(
            f"error: {what} of {svc.name} gone for {now - since:.1f}s and not respawned: "
            f"{svc.name} will not recover it by itself. Restarting {svc.name}; the services "
            f"started before it stay up (recovery {len(done)} in {svc.recover_window:g}s)",
            ERROR,
        )
        self.unwatch_children(svc)
        self.restarting[svc.name] = (delay, pid)
        self.after(f"kill-{svc.name}", svc.stop_timeout, lambda: self.kill_to_recover(svc))
        self.send_stop_signal(svc)

    def kill_to_recover(self, svc: Service) -> None:
        pid = self.pids.get(svc.name)
        if pid is None:
            return
        log(
            f"WARNING: {svc.name} did not stop within {svc.stop_timeout:g}s: sending SIGKILL "
            f"to it and its group.{f' {svc.kill_note}' if svc.kill_note else ''}",
            WARNING,
        )
        self.kill(-pid, signal.SIGKILL)
        self.kill(pid, signal.SIGKILL)

    def recovered_exit(self, svc: Service, status: int) -> None:
        """The service stopped so that it can be started again (recover())."""
        delay, _ = self.restarting.pop(svc.name)
        # Children that outlived it are ours now (we reap orphans) and each leads its own
        # process group: kill them, or the next pacemakerd would find them half alive.
        for name, pid in self.find_children(os.getpid(), svc.children).items():
            log(f"{name} (pid {pid}) outlived {svc.name}: sending SIGKILL", WARNING)
            self.kill(pid, signal.SIGKILL)
        if os.WIFEXITED(status) and svc.exit_notes.get(os.WEXITSTATUS(status)):
            self.on_fatal_exit(svc, status)  # e.g. pacemakerd's 100: do not respawn
            return
        when = f" in {delay:g}s" if delay else ""
        log(f"{svc.name} stopped ({describe_status(status)}); starting it again{when}")
        self.after(f"restart-{svc.name}", delay, lambda: self.restart(svc))

    # ---- reload -------------------------------------------------------------------------
    def all_started(self) -> bool:
        return self.next_start >= len(self.plan) and all(
            svc.name in self.pids for svc in self.plan if svc.on_death == FATAL
        )

    def reload(self) -> None:
        steps = [cmd for svc in self.plan if svc.name in self.pids for cmd in svc.reload]
        if self.stopping or not self.all_started():
            log("SIGHUP ignored: the services are not all running")
            return
        if not steps:
            log("SIGHUP ignored: nothing in this role reloads")
            return
        log("SIGHUP: running " + ", then ".join(" ".join(cmd[-2:]) for cmd in steps))
        self.reload_step(steps)

    def reload_step(self, steps: list[list[str]]) -> None:
        cmd, rest = steps[0], steps[1:]

        def done(status: int) -> None:
            what = " ".join(cmd[-2:])
            if status != 0:
                log(
                    f"reload: {what} failed ({describe_status(status)}); the rest was not run",
                    WARNING,
                )
            elif rest:
                self.reload_step(rest)
            else:
                log(f"reload: {what} finished, {describe_status(status)}")

        self.run_helper(cmd, done, quiet=False)

    # ---- stopping -----------------------------------------------------------------------
    def request_stop(self, why: str) -> None:
        if self.stopping:
            log(f"{why}: already stopping")
            return
        log(f"{why}: stopping the cluster stack ({self.elapsed()} after start)")
        self.begin_stop()

    def fail(self, code: int, why: str) -> None:
        log(f"error: {why}", ERROR)
        if self.exit_code is None:
            self.exit_code = code
        if not self.stopping:
            self.begin_stop()

    def begin_stop(self) -> None:
        self.stopping = True
        for name in ("probe", "start-deadline", "progress"):
            self.cancel(name)
        for svc in self.plan:
            self.cancel(f"restart-{svc.name}")
            self.unwatch_children(svc)
        self.stop_next()

    def stop_next(self) -> None:
        """Stop the last running service of the plan; its exit brings us back here."""
        self.cancel("progress")
        running = [svc for svc in self.plan if svc.name in self.pids]
        if not running:
            self.stopping_now = None
            return
        svc = self.stopping_now = running[-1]
        self.after(f"kill-{svc.name}", svc.stop_timeout, lambda: self.kill_service(svc))
        self.progress(f"{svc.name} to stop", svc.stop_timeout)
        if svc.pre_stop is None:
            self.send_stop_signal(svc)
            return
        note = f": {svc.pre_stop_note}" if svc.pre_stop_note else ""
        log(f"before stopping {svc.name}{note}")
        self.pre_stop_pid = self.run_helper(
            svc.pre_stop, lambda status: self.pre_stop_done(svc, status), quiet=False
        )

    def pre_stop_done(self, svc: Service, status: int) -> None:
        self.pre_stop_pid = None
        if svc.name not in self.pids or self.stopping_now is not svc:
            return  # it exited (or was killed) meanwhile
        code = os.waitstatus_to_exitcode(status)
        what = svc.pre_stop_results.get(code) if os.WIFEXITED(status) else None
        if what is None:
            log(f"{svc.name}'s pre-stop step failed ({describe_status(status)})", WARNING)
        else:
            log(what)
        self.send_stop_signal(svc)

    def send_stop_signal(self, svc: Service) -> None:
        name = signal.Signals(svc.stop_signal).name
        if svc.stop_knob:
            note = f"; {svc.stop_note} (up to {svc.stop_timeout:g}s, {svc.stop_knob})"
        else:
            note = f"; {svc.stop_note}" if svc.stop_note else ""
        log(f"sending {name} to {svc.name}{note}")
        self.kill(self.pids[svc.name], svc.stop_signal)

    def kill_service(self, svc: Service) -> None:
        pid = self.pids.get(svc.name)
        if pid is None:
            return
        note = f" {svc.kill_note}" if svc.kill_note else ""
        log(
            f"WARNING: {svc.name} did not stop within {svc.stop_timeout:g}s: "
            f"sending SIGKILL.{note}",
            WARNING,
        )
        if svc.on_death == FATAL:  # a RESTART service holds nothing that a kill could lose
            self.killed = True
        if svc.kill_group:
            self.kill(-pid, signal.SIGKILL)
        self.kill(pid, signal.SIGKILL)
        self.end_pre_stop()

    def end_pre_stop(self) -> None:
        """A pre-stop step still waiting is moot once its service is gone."""
        if self.pre_stop_pid is not None:
            self.kill(self.pre_stop_pid, signal.SIGKILL)

    def on_exit(self, svc: Service, status: int) -> None:
        self.cancel(f"kill-{svc.name}")
        if svc.children:
            self.unwatch_children(svc)
        if self.stopping and svc is self.stopping_now:
            self.cancel("progress")
            self.end_pre_stop()
            if self.pids:
                log(f"{svc.name} stopped ({describe_status(status)})")
            else:
                clean = " clean stop" if self.exit_code is None and not self.killed else ""
                log(
                    f"{svc.name} stopped ({describe_status(status)});{clean} after {self.elapsed()}"
                )
            self.stop_next()
        elif svc.name in self.restarting:
            self.recovered_exit(svc, status)
        elif svc.on_death == RESTART:
            if self.stopping:
                return
            ran = self.clock() - self.spawned_at.get(svc.name, self.clock())
            if ran >= svc.restart_max:
                self.delays.pop(svc.name, None)  # it ran fine for a while: start over
            log(f"{svc.name} died ({describe_status(status)})", WARNING)
            self.schedule_restart(svc)
        else:
            self.on_fatal_exit(svc, status)

    def on_fatal_exit(self, svc: Service, status: int) -> None:
        # Not "the next service has not started": the plan's last service never has a next.
        during_start = not self.stopping and svc.name not in self.up
        if during_start and svc.ready is not None:
            self.fail(
                svc.start_code,
                f"{svc.name} exited during start-up ({describe_status(status)}); "
                "see its messages above",
            )
            return
        code = svc.start_code if during_start else svc.death_code
        note = (
            svc.exit_notes.get(os.waitstatus_to_exitcode(status)) if os.WIFEXITED(status) else None
        )
        if note:
            self.fail(code, f"{svc.name} exited with {os.WEXITSTATUS(status)} ({note})")
        else:
            self.fail(code, f"{svc.name} died ({describe_status(status)})")


def main(opts: Options) -> int:
    """PID 1 after the command line's hand-off (__main__.py)."""
    code = Supervisor(opts).run()
    log(f"exiting with code {int(code)}")
    LOG.close()
    return int(code)
