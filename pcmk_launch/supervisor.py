"""PID 1: start corosync, then pacemakerd; reap everything; forward signals; stop in order.

One loop, tini style: every event (a signal, a child's exit, a deadline) wakes a single
select() on the signal wakeup pipe; nothing polls while the cluster runs. This one loop owns
all waiting: helper commands are spawned and reaped here too, so a global waitpid(-1)
never steals their exit status.

Kept lean on purpose (no jinja2, no argparse): it runs for the container's whole life.
"""

from __future__ import annotations

import errno
import os
import selectors
import signal
import sys
import time
from collections.abc import Callable

from . import logrelay
from .errors import ExitCode

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}  # QUIT would panic pacemakerd
FORWARD_SIGNALS = {signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGALRM}
HANDLED = STOP_SIGNALS | FORWARD_SIGNALS | {signal.SIGCHLD, signal.SIGHUP}
# Children start with every catchable signal at its default disposition (Python ignores
# SIGPIPE and SIGXFSZ, and ignored dispositions survive exec) and an empty mask.
DEFAULT_IN_CHILD = set(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP}
PROGRESS_EVERY = 5.0
PACEMAKER_NO_RESPAWN = 100  # CRM_EX_FATAL: pacemakerd asks not to be restarted
PR_SET_CHILD_SUBREAPER = 36


class Options:
    """The supervisor's settings, already validated by the CLI that hands them over.

    A plain class, not a dataclass: importing dataclasses (and inspect) would cost the
    long-running PID 1 about 13 ms of start-up and 1 MB of memory."""

    corosync_conf = "/etc/corosync/corosync.conf"
    start_timeout = 60.0
    stop_timeout = 90.0
    corosync_stop_timeout = 20.0
    log_socket = "/dev/log"  # "" disables the syslog relay
    log_format = "text"

    def __init__(self, **values: object):
        for key, value in values.items():
            if not hasattr(Options, key) or key.startswith("_"):
                raise TypeError(f"unknown option {key}")
            setattr(self, key, value)


_writer: logrelay.Writer | None = None  # set while the supervisor runs
_json_host: str | None = None  # set in JSON mode


def log(message: str, level: str = "notice") -> None:
    line = logrelay.launcher_line(message, level, _json_host)
    if _writer is not None:
        _writer.put(line)
    else:
        os.write(1, (line + "\n").encode())


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
            log(f"cannot reset inherited SIG_IGN of signal {sig}", "warning")


def become_subreaper() -> None:
    """When not PID 1, adopt orphans anyway (PR_SET_CHILD_SUBREAPER)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        log(f"cannot become a child subreaper: {os.strerror(ctypes.get_errno())}", "warning")


class Supervisor:
    def __init__(self, opts: Options, clock: Callable[[], float] = time.monotonic):
        self.opts = opts
        self.clock = clock
        self.corosync: int | None = None
        self.pacemakerd: int | None = None
        self.helpers: dict[int, Callable[[int], None]] = {}
        self.timers: dict[str, tuple[float, Callable[[], None]]] = {}
        self.stopping = False
        self.exit_code: int | None = None  # first failure wins; None means clean so far
        self.killed = False
        self.started_at = clock()
        self.probe_delay = 0.02

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
        selector = selectors.DefaultSelector()
        selector.register(rfd, selectors.EVENT_READ)
        relay = self.open_relay()
        if relay is not None:
            selector.register(relay.sock, selectors.EVENT_READ)
        self.handle_signals()  # a SIGTERM that came before we started anything
        if not self.stopping:
            self.start_corosync()
        while not self.finished():
            ready = selector.select(self.next_timeout())
            if relay is not None and any(key.fd != rfd for key, _ in ready):
                relay.drain()
            self.handle_signals()
            self.run_timers()
        if relay is not None:
            relay.drain()
        return self.result()

    def open_relay(self) -> logrelay.Relay | None:
        global _writer, _json_host
        _writer = logrelay.Writer()
        if self.opts.log_format == "json":
            _json_host = os.uname().nodename
        if not self.opts.log_socket:
            return None
        try:
            sock = logrelay.open_socket(self.opts.log_socket)
        except OSError as exc:
            log(
                f"cannot listen on {self.opts.log_socket}: {exc.strerror}; "
                "pacemaker's messages will not reach stdout",
                "warning",
            )
            return None
        if sock is None:
            log(f"{self.opts.log_socket} already has a listener; leaving syslog to it")
            return None
        return logrelay.Relay(sock, _writer, self.opts.log_format, os.uname().nodename)

    def finished(self) -> bool:
        return (
            self.corosync is None
            and self.pacemakerd is None
            and (self.stopping or self.exit_code is not None)
        )

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
        elif signum in FORWARD_SIGNALS and self.pacemakerd is not None:
            log(f"forwarding {signal.Signals(signum).name} to pacemakerd")
            self.kill(self.pacemakerd, signum)

    def reap(self) -> None:
        """Collect every exited child: ours get their handler, orphans are just reaped."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.corosync:
                self.corosync = None
                self.on_corosync_exit(status)
            elif pid == self.pacemakerd:
                self.pacemakerd = None
                self.on_pacemakerd_exit(status)
            elif pid in self.helpers:
                self.helpers.pop(pid)(status)

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
            log(f"cannot run {argv[0]}: {os.strerror(int(failure))}", "error")
            return None
        return pid

    def run_helper(self, argv: list[str], done: Callable[[int], None], quiet: bool = True) -> None:
        pid = self.spawn(argv, quiet=quiet)
        if pid is None:
            done(127 << 8)
        else:
            self.helpers[pid] = done

    @staticmethod
    def kill(pid: int, signum: int) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
        except OSError as exc:
            if exc.errno != errno.ESRCH:
                raise

    def elapsed(self) -> str:
        return f"{self.clock() - self.started_at:.1f}s"

    # ---- start-up ---------------------------------------------------------------------
    def start_corosync(self) -> None:
        argv = ["corosync", "-f"]
        if self.opts.corosync_conf != Options.corosync_conf:
            argv += ["-c", self.opts.corosync_conf]
        self.corosync = self.spawn(argv)
        if self.corosync is None:
            self.fail(ExitCode.COROSYNC_START, "corosync could not be started")
            return
        log(f"started corosync (pid {self.corosync}); waiting until it is ready")
        self.after("start-deadline", self.opts.start_timeout, self.start_timed_out)
        self.progress("corosync to become ready", self.opts.start_timeout)
        self.probe()

    def probe(self) -> None:
        if self.corosync is None or self.stopping:
            return
        self.run_helper(["corosync-cfgtool", "-s"], self.on_probe)

    def on_probe(self, status: int) -> None:
        if self.corosync is None or self.stopping or self.pacemakerd is not None:
            return
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            self.cancel("start-deadline")
            self.cancel("progress")
            log(f"corosync is ready ({self.elapsed()} after start)")
            self.start_pacemakerd()
            return
        # Backoff keeps the first answer fast and the load of a slow start low.
        self.probe_delay = min(self.probe_delay * 2, 0.5)
        self.after("probe", self.probe_delay, self.probe)

    def start_timed_out(self) -> None:
        self.fail(
            ExitCode.COROSYNC_START,
            f"corosync was not ready within PCMK_START_TIMEOUT={self.opts.start_timeout:g}s",
        )

    def start_pacemakerd(self) -> None:
        self.pacemakerd = self.spawn(["pacemakerd"])
        if self.pacemakerd is None:
            self.fail(ExitCode.DAEMON_DIED, "pacemakerd could not be started")
            return
        log(f"started pacemakerd (pid {self.pacemakerd}); the cluster stack is up")

    def progress(self, what: str, limit: float) -> None:
        started = self.clock()

        def tick() -> None:
            log(f"still waiting for {what}: {self.clock() - started:.0f}s of {limit:g}s")
            self.after("progress", PROGRESS_EVERY, tick)

        self.after("progress", PROGRESS_EVERY, tick)

    # ---- reload -------------------------------------------------------------------------
    def reload(self) -> None:
        if self.stopping or self.pacemakerd is None:
            log("SIGHUP ignored: the cluster is not running")
            return
        log("SIGHUP: re-rendering corosync.conf, then corosync-cfgtool -R")
        argv = [sys.executable, "-m", "pcmk_launch", "render"]
        argv.append(f"--corosync-conf={self.opts.corosync_conf}")
        self.run_helper(argv, self.on_rendered, quiet=False)

    def on_rendered(self, status: int) -> None:
        if status != 0:
            log(f"reload: config not rewritten ({describe_status(status)}); corosync keeps its own")
            return
        self.run_helper(
            ["corosync-cfgtool", "-R"],
            lambda st: log(f"reload: corosync-cfgtool -R finished, {describe_status(st)}"),
            quiet=False,
        )

    # ---- stopping -----------------------------------------------------------------------
    def request_stop(self, why: str) -> None:
        if self.stopping:
            log(f"{why}: already stopping")
            return
        log(f"{why}: stopping the cluster stack ({self.elapsed()} after start)")
        self.begin_stop()

    def fail(self, code: ExitCode, why: str) -> None:
        log(f"error: {why}", "error")
        if self.exit_code is None:
            self.exit_code = code
        if not self.stopping:
            self.begin_stop()

    def begin_stop(self) -> None:
        self.stopping = True
        for name in ("probe", "start-deadline", "progress"):
            self.cancel(name)
        if self.pacemakerd is not None:
            log(
                f"sending SIGTERM to pacemakerd; resources stop or move (up to "
                f"{self.opts.stop_timeout:g}s, PCMK_STOP_TIMEOUT)"
            )
            self.kill(self.pacemakerd, signal.SIGTERM)
            self.after("kill-pacemakerd", self.opts.stop_timeout, self.kill_pacemakerd)
            self.progress("pacemakerd to stop", self.opts.stop_timeout)
        else:
            self.stop_corosync()

    def kill_pacemakerd(self) -> None:
        if self.pacemakerd is not None:
            log(
                f"WARNING: pacemakerd did not stop within {self.opts.stop_timeout:g}s: "
                "sending SIGKILL. Its resources may not have been stopped cleanly."
            )
            self.killed = True
            self.kill(-self.pacemakerd, signal.SIGKILL)  # its whole process group
            self.kill(self.pacemakerd, signal.SIGKILL)

    def stop_corosync(self) -> None:
        self.cancel("progress")
        if self.corosync is None:
            return
        log("sending SIGTERM to corosync; it leaves the membership cleanly")
        self.kill(self.corosync, signal.SIGTERM)
        self.after("kill-corosync", self.opts.corosync_stop_timeout, self.kill_corosync)
        self.progress("corosync to stop", self.opts.corosync_stop_timeout)

    def kill_corosync(self) -> None:
        if self.corosync is not None:
            log(
                f"WARNING: corosync did not stop within {self.opts.corosync_stop_timeout:g}s: "
                "sending SIGKILL. The other nodes will see this node as lost."
            )
            self.killed = True
            self.kill(self.corosync, signal.SIGKILL)

    def on_pacemakerd_exit(self, status: int) -> None:
        self.cancel("kill-pacemakerd")
        self.cancel("progress")
        if self.stopping:
            log(f"pacemakerd stopped ({describe_status(status)})")
            self.stop_corosync()
        elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == PACEMAKER_NO_RESPAWN:
            self.fail(ExitCode.DAEMON_DIED, "pacemakerd exited with 100 (fatal: do not respawn)")
        else:
            self.fail(ExitCode.DAEMON_DIED, f"pacemakerd died ({describe_status(status)})")

    def on_corosync_exit(self, status: int) -> None:
        self.cancel("kill-corosync")
        if self.stopping and self.pacemakerd is None:
            self.cancel("progress")
            clean = " clean stop" if self.exit_code is None and not self.killed else ""
            log(f"corosync stopped ({describe_status(status)});{clean} after {self.elapsed()}")
        elif self.pacemakerd is None and not self.stopping:
            self.fail(
                ExitCode.COROSYNC_START,
                f"corosync exited during start-up ({describe_status(status)}); "
                "see its messages above",
            )
        else:
            self.fail(ExitCode.DAEMON_DIED, f"corosync died ({describe_status(status)})")


def parse_args(argv: list[str]) -> Options:
    values: dict[str, object] = {}
    for arg in argv:
        key, _, value = arg.removeprefix("--").partition("=")
        key = key.replace("-", "_")
        if key.startswith("_") or not hasattr(Options, key):
            raise SystemExit(f"pcmk_launch.supervisor: unknown option {arg!r}")
        text_options = ("corosync_conf", "log_socket", "log_format")
        values[key] = value if key in text_options else float(value)
    return Options(**values)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    code = Supervisor(opts).run()
    log(f"exiting with code {int(code)}")
    if _writer is not None:
        _writer.close()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
