"""The supervisor's service plan: which processes PID 1 runs, in which order, and what
their death means. Plain data; the supervisor (supervisor.py) runs any plan in its one loop.

Rules the supervisor applies to a plan (a list of Service, in start order):

- Start: services start one after the other, in list order. A service with a readiness
  probe (`ready`, an argv run with backoff until it exits 0) must pass it within
  `ready_timeout` before the next one starts; one without a probe counts as ready once
  it has been spawned.
- Stop (docker stop, or a FATAL death): services stop one at a time in the reverse of the
  start order, each with `stop_signal`, then SIGKILL after `stop_timeout`; the next one is
  stopped once the previous has exited. A service with a `pre_stop` argv gets its
  stop_signal only once that command has exited (whatever its status; `pre_stop_results`
  says what its exit codes mean); `stop_timeout` counts from the start of pre_stop.
- Death while running: FATAL stops everything and the launcher exits with `start_code`
  if nothing after the service had been started yet (it died during start-up), else with
  `death_code`. RESTART logs it and starts the service again after a backoff
  (`restart_delay`, doubling up to `restart_max`; back to `restart_delay` after it has run
  for `restart_max`); it never stops the cluster, and its SIGKILL on stop does not count
  as an unclean stop.
- Children: a service with `children` (names of processes it must itself keep running, as
  pacemakerd its subdaemons) has them watched through pidfds, so nothing polls while all
  run. Once every child has been seen, one gone for `children_grace` seconds (or not all
  there `ready_timeout` after a start) means the service will not bring it back: the
  supervisor restarts the service (stop_signal, SIGKILL of its group after stop_timeout,
  start again: "a recovery"), unless the service says it is shutting down on its own
  (`shutting_down`, an argv that exits 0 if so). Recoveries back off (none for the first
  in `recover_window`, then `restart_delay` doubling up to `restart_max`), and the service
  stays stopped for at least `recover_settle` seconds before it starts again; the supervisor
  gives up, stops everything cleanly and exits with `recover_code` after `recover_limit`
  restarts in a row that did not bring every child back, or more than `recover_burst`
  recoveries within `recover_window` seconds.

To add a service (an exporter, pacemaker-remoted, ...): build a Service in a plan function
below (or a new one for a new role) and put it at the place in the list that gives the
start and stop order you want. Nothing in the supervisor names a service.

Kept import-light (no dataclasses): this module is loaded into the long-running PID 1.
"""

from __future__ import annotations

import signal
import sys

from .errors import ExitCode
from .options import COROSYNC_CONF, Options
from .procs import PACEMAKER_SUBDAEMONS

RECOVER_SETTLE = 5.0  # pacemakerd: seconds between a recovery's stop and its start
FATAL = "fatal"  # its death stops everything
RESTART = "restart"  # its death is logged and it is started again with backoff


class Service:
    """One process of the plan. Every field has a default except name and argv."""

    name: str
    argv: list[str]
    ready: list[str] | None = None  # readiness probe: exits 0 once the service is ready
    ready_timeout: float = 60.0
    ready_note: str = ""  # what `ready` waits for, in words (the dry run's "would start")
    on_death: str = FATAL
    start_code: int = ExitCode.DAEMON_DIED  # FATAL death before the next service started
    death_code: int = ExitCode.DAEMON_DIED  # FATAL death later on
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 20.0
    stop_note: str = ""  # appended to "sending SIGTERM to NAME": what the stop does
    stop_knob: str = ""  # the setting that sets stop_timeout, named in the stop log line
    kill_note: str = ""  # why a SIGKILL after stop_timeout matters
    pre_stop: list[str] | None = None  # run to its end before stop_signal is sent
    pre_stop_note: str = ""  # what pre_stop does, logged when it starts
    pre_stop_results: dict[int, str] = {}  # its exit code -> what happened, logged
    kill_group: bool = False  # SIGKILL its whole process group, not just the process
    forward_signals: bool = False  # USR1, USR2, WINCH, ALRM sent to PID 1 go to it
    started_note: str = ""  # appended to "started NAME (pid N)"
    exit_notes: dict[int, str] = {}  # exit code -> what it means, for the death message
    restart_delay: float = 1.0
    restart_max: float = 30.0
    children: tuple[str, ...] = ()  # processes it keeps running itself, by name (comm)
    children_grace: float = 5.0  # a child gone this long: the service did not respawn it
    shutting_down: list[str] | None = None  # exits 0 while the service stops on its own
    recover_code: int = ExitCode.WEDGED  # exit code when recoveries do not help
    recover_limit: int = 3  # restarts in a row that did not bring every child back: give up
    recover_burst: int = 10  # at most this many recoveries ...
    recover_window: float = 600.0  # ... within this many seconds
    recover_settle: float = 0.0  # a recovery restart waits at least this long after the stop
    # SIGHUP while everything runs: these commands, one after the other, each only if the
    # previous exited 0 (e.g. re-render corosync.conf, then tell corosync to reload it).
    reload: list[list[str]] = []

    def __init__(self, name: str, argv: list[str], **fields: object):
        self.name, self.argv = name, list(argv)
        for key, value in fields.items():
            if not hasattr(Service, key) or key.startswith("_"):
                raise TypeError(f"unknown service field {key}")
            setattr(self, key, value)
        if self.on_death not in (FATAL, RESTART):
            raise ValueError(f"{name}: on_death must be FATAL or RESTART")

    def __repr__(self) -> str:
        return f"Service({self.name!r}, {self.argv!r}, on_death={self.on_death!r})"


def exporter(address: str) -> Service:
    """ha_cluster_exporter (PCMK_METRICS=on): a scrape target, never a reason to stop the
    cluster. Started last (it reads crm_mon, cibadmin and the corosync tools), stopped first."""
    return Service(
        "ha_cluster_exporter",
        # warn: its ~10 info lines at start say nothing the launcher's own line does not
        ["ha_cluster_exporter", f"--web.listen-address={address}", "--log.level=warn"],
        on_death=RESTART,
        stop_timeout=5.0,
        started_note=f"metrics on {address}",
        restart_delay=1.0,
        restart_max=30.0,
    )


def cluster_plan(opts: Options) -> list[Service]:
    """PCMK_ROLE=cluster: corosync (ready when corosync-cfgtool -s answers), then pacemakerd,
    then the metrics exporter if opts.metrics_address is set.

    `opts`: corosync_conf, the timeouts, metrics_address (options.Options)."""
    argv = ["corosync", "-f"]
    if opts.corosync_conf != COROSYNC_CONF:
        argv += ["-c", opts.corosync_conf]
    corosync = Service(
        "corosync",
        argv,
        ready=["corosync-cfgtool", "-s"],
        ready_note="ready once corosync-cfgtool -s answers",
        ready_timeout=opts.start_timeout,
        start_code=ExitCode.COROSYNC_START,
        stop_timeout=opts.corosync_stop_timeout,
        stop_note="it leaves the membership cleanly",
        kill_note="The other nodes will see this node as lost.",
    )
    pacemakerd = Service(
        "pacemakerd",
        ["pacemakerd"],
        stop_timeout=opts.stop_timeout,
        stop_note="resources stop or move",
        stop_knob="PCMK_STOP_TIMEOUT",
        kill_note="Its resources may not have been stopped cleanly.",
        kill_group=True,
        forward_signals=True,
        started_note="the cluster stack is up",
        exit_notes={100: "fatal: do not respawn"},  # CRM_EX_FATAL
        # pacemakerd may leave a subdaemon dead for good while corosync stays up ("Not
        # respawning ... until cluster returns"): restarting pacemakerd brings it back.
        children=PACEMAKER_SUBDAEMONS,
        children_grace=opts.subdaemon_grace,
        # The peers must have processed this node's clean leave before it comes back: a DC
        # still holding the stopped instance's shutdown attribute asks the new controller to
        # shut down, and it exits 100 ("unexpected shutdown request"; seen on Pacemaker 3.0
        # under load when the restart followed the stop at once).
        recover_settle=RECOVER_SETTLE,
        shutting_down=[sys.executable, "-m", "pcmk_launch.pacemakerd_state"],
        ready_timeout=opts.start_timeout,
    )
    plan = [corosync, pacemakerd]
    render = [
        sys.executable,
        "-m",
        "pcmk_launch",
        "render",
        f"--corosync-conf={opts.corosync_conf}",
    ]
    corosync.reload = [render, ["corosync-cfgtool", "-R"]]
    if opts.metrics_address:
        plan.append(exporter(opts.metrics_address))
    return plan


# Exit codes of the remote role's pre_stop (remote_stop.py), here to keep PID 1's imports light.
STOP_NOT_CONNECTED = 0  # no cluster connected: SIGTERM ends the daemon at once, nothing runs
STOP_ASKS_ITSELF = 3  # this pacemaker-remoted version asks the cluster itself on SIGTERM
STOP_DISCONNECTED = 4  # asked: the cluster stopped this node's resources and disconnected


def remote_plan(opts: Options) -> list[Service]:
    """PCMK_ROLE=remote: pacemaker-remoted alone, ready once it listens on its TCP port
    (opts.remote_port: 3121, or pacemaker's PCMK_remote_port, which the daemon reads too).

    The probe reads /proc/net/tcp rather than connecting: a bare TCP connect would make
    pacemaker-remoted log a failed TLS handshake at every probe."""
    port = opts.remote_port
    remoted = Service(
        "pacemaker-remoted",
        ["pacemaker-remoted"],
        ready=[sys.executable, "-m", "pcmk_launch.listening", str(port)],
        ready_note=f"ready once it listens on TCP {port}",
        ready_timeout=opts.start_timeout,
        stop_timeout=opts.stop_timeout,
        stop_note="it asks the cluster to move its resources away first",
        stop_knob="PCMK_STOP_TIMEOUT",
        kill_note="Its resources may not have been stopped cleanly; the cluster may fence it.",
        kill_group=True,
        forward_signals=True,
        started_note=f"waiting for the cluster to connect on TCP {port}",
        # pacemaker-remoted 2.1.5 exits at once on SIGTERM: the launcher asks for it.
        pre_stop=[sys.executable, "-m", "pcmk_launch.remote_stop", str(port)],
        pre_stop_note="where pacemaker-remoted cannot (2.1.5), the launcher asks the cluster "
        "to move this node's resources away and waits until it has disconnected",
        pre_stop_results={
            STOP_NOT_CONNECTED: "no cluster is connected",
            STOP_ASKS_ITSELF: "this pacemaker-remoted asks the cluster itself",
            STOP_DISCONNECTED: "the cluster has stopped this node's resources and disconnected",
        },
    )
    return [remoted]


BOOTH_CONF = "/etc/booth/booth.conf"  # booth.CONF, here to keep PID 1's imports light


def arbitrator_plan(opts: Options) -> list[Service]:
    """PCMK_ROLE=arbitrator: boothd alone, in the foreground (-S), ready once it listens on
    booth's TCP port (opts.booth_port). It logs to stderr, that is the container's log; its
    syslog copy is turned off (HA_logfacility=none, in the daemons' environment)."""
    port = opts.booth_port
    boothd = Service(
        "boothd",
        ["boothd", "daemon", "-S", "-c", BOOTH_CONF],
        ready=[sys.executable, "-m", "pcmk_launch.listening", str(port)],
        ready_note=f"ready once it listens on TCP {port}",
        ready_timeout=opts.start_timeout,
        stop_timeout=min(opts.stop_timeout, 20.0),
        stop_note="an arbitrator holds no ticket: the sites keep theirs",
        started_note=f"booth arbitrator on port {port}",
    )
    return [boothd]


# PCMK_ROLE -> the plan the supervisor runs; a new role is a new entry, not a new branch.
PLANS = {"cluster": cluster_plan, "remote": remote_plan, "arbitrator": arbitrator_plan}
