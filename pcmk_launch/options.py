"""The launcher's defaults, in one place, and the options the command line hands to PID 1.

The command line (cli.py) validates the environment in a forked child and hands PID 1 what it
is to become through a pipe (__main__.py). For the supervisor that is one Options, sent as a
JSON object whose keys are Options' fields (Options.to_dict / Options.from_dict): nothing is
re-parsed from strings, and a field unknown or of the wrong type is refused.

Kept import-light (no dataclasses, nothing of ours): PID 1 imports it for the container's
whole life.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing and settings stay out of PID 1; mypy reads them
if TYPE_CHECKING:
    from typing import Any

    from .settings import Settings

# Paths and flags of the command line
COROSYNC_CONF = "/etc/corosync/corosync.conf"  # corosync's own default path
CIB_FILE = "/var/lib/pacemaker/cib/cib.xml"
RUN_DIR = "/run/pcmk_launch"  # where a key derived from a passphrase goes
LOG_SOCKET = "/dev/log"  # syslog socket relayed to stdout; "" for none
NODE_LIST_FILE = "/var/lib/corosync/pcmk-node-list.json"  # nodes.py: a list changed at runtime

# Settings (PCMK_* variables) that have a default
START_TIMEOUT = 60.0  # PCMK_START_TIMEOUT, seconds
STOP_TIMEOUT = 90.0  # PCMK_STOP_TIMEOUT
COROSYNC_STOP_TIMEOUT = 20.0  # PCMK_COROSYNC_STOP_TIMEOUT
LOG_FORMAT = "text"  # PCMK_LOG_FORMAT
METRICS_ADDRESS = ":9664"  # PCMK_METRICS_ADDRESS (ha_cluster_exporter's own default port)
REMOTE_PORT = 3121  # pacemaker-remoted's TCP port; pacemaker's own PCMK_remote_port moves it
BOOTH_PORT = 9929  # booth's UDP/TCP port (PCMK_BOOTH_PORT)


class Options:
    """What the supervisor runs with, already validated by the command line.

    A plain class, not a dataclass: importing dataclasses (and inspect) would cost the
    long-running PID 1 about 13 ms of start-up and 1 MB of memory. Each field's type is the
    type of its default."""

    corosync_conf: str = COROSYNC_CONF
    start_timeout: float = START_TIMEOUT
    stop_timeout: float = STOP_TIMEOUT
    corosync_stop_timeout: float = COROSYNC_STOP_TIMEOUT
    log_socket: str = LOG_SOCKET  # "" disables the syslog relay
    log_format: str = LOG_FORMAT
    metrics_address: str = ""  # "": no exporter; else [HOST]:PORT for ha_cluster_exporter
    role: str = "cluster"  # picks the plan: services.PLANS
    remote_port: int = REMOTE_PORT  # remote role: where pacemaker-remoted listens
    booth_port: int = BOOTH_PORT  # arbitrator role: where boothd listens
    subdaemon_grace: float = 5.0  # a pacemaker subdaemon gone this long was not respawned

    def __init__(self, **values: Any):
        for key, value in values.items():
            if key not in FIELDS:
                raise TypeError(f"unknown option {key}")
            setattr(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        """Every field, for the pipe to PID 1 (JSON)."""
        return {key: getattr(self, key) for key in FIELDS}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Options:
        """The Options to_dict gave (a field left out keeps its default); refuses an unknown
        field and a value of the wrong type (an int is a float, a bool is not a number)."""
        values = dict(values)
        for key, value in values.items():
            want = FIELDS.get(key)
            if want is None:
                raise TypeError(f"unknown option {key}")
            accepted = (int, float) if want is float else want
            if isinstance(value, bool) or not isinstance(value, accepted):
                raise TypeError(f"option {key} must be {want.__name__}, not {value!r}")
            if want is float:
                values[key] = float(values[key])
        return cls(**values)

    def __repr__(self) -> str:
        return f"Options({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"


# field name -> its type (the type of its default)
FIELDS: dict[str, type] = {
    key: type(value)
    for key, value in vars(Options).items()
    if not key.startswith("_") and not callable(value) and not isinstance(value, classmethod)
}


def for_settings(s: Settings, corosync_conf: str, log_socket: str) -> Options:
    """The Options a node with these validated settings runs with."""
    return Options(
        corosync_conf=corosync_conf,
        start_timeout=s.start_timeout,
        stop_timeout=s.stop_timeout,
        corosync_stop_timeout=s.corosync_stop_timeout,
        log_socket=log_socket,
        log_format=s.log_format,
        metrics_address=s.metrics_address if s.metrics else "",
        role=s.role,
        remote_port=s.remote_port,
        booth_port=s.booth_port,
    )
