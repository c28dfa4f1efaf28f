"""The supervisor level's helpers: drive the real launcher from outside, as PID 1 of a new pid
namespace or as a subreaper, with fake corosync / pacemakerd / corosync-cfgtool /
pacemaker-remoted (tests/supervisor/fakes/fake_daemon.py) first in PATH; read its events,
/proc, and its syslog socket. The fixtures that make a Launcher are in
tests/supervisor/conftest.py."""

from __future__ import annotations

import configparser
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "supervisor" / "fakes" / "fake_daemon.py"


def console_script(directory: Path) -> Path:
    """The `pcmk-launch` script pip makes from setup.cfg's console_scripts entry, written into
    directory the way pip writes it (the entry point is read from setup.cfg, not assumed)."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    entries = {
        name.strip(): target.strip() for name, _, target in (x.partition("=") for x in lines)
    }
    module, _, func = entries["pcmk-launch"].partition(":")
    script = directory / "pcmk-launch"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nfrom {module} import {func}\n"
        f"if __name__ == '__main__':\n    sys.exit({func}())\n"
    )
    script.chmod(0o755)
    return script


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def proc_status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def zombies_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            st = proc_status(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
        if st.get("PPid") == str(pid) and st.get("State", "").startswith("Z"):
            found.append(int(entry.name))
    return found


class Launcher:
    """One launcher run. `mode` is "pid1" (unshare --pid) or "subreaper" (plain child)."""

    def __init__(self, tmp: Path, mode: str):
        self.tmp, self.mode = tmp, mode
        self.bin = tmp / "bin"
        self.bin.mkdir()
        fakes = ("corosync", "pacemakerd", "corosync-cfgtool", "ha_cluster_exporter", "crmadmin")
        for name in (*fakes, "pacemaker-remoted"):
            wrapper = self.bin / name
            wrapper.write_text(
                "#!/bin/sh\n"
                "FAKE_SIGNALS=$(grep -E '^Sig(Blk|Ign)' /proc/$$/status | tr -s '\\t\\n' '  ')\n"
                f'export FAKE_SIGNALS\nexec {sys.executable} {FAKE} {name} "$@"\n'
            )
            wrapper.chmod(0o755)
        self.log = tmp / "events.log"
        self.log.touch()
        self.out = tmp / "launcher.out"
        self.proc: subprocess.Popen | None = None
        self.stdout_pipe = False
        self.entry = [sys.executable, "-m", "pcmk_launch"]  # or [console_script(...)]

    def start_piped(self, **kw) -> Launcher:
        """Start with stdout on a pipe that the test reads (or deliberately does not)."""
        self.stdout_pipe = True
        return self.start(**kw)

    def start(
        self, args: list[str] | None = None, env: dict[str, str] | None = None, **fake: str
    ) -> Launcher:
        """Start the launcher; `env` adds PCMK_* settings, `fake` sets FAKE_<KEY> options."""
        extra = env or {}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PCMK_", "FAKE_"))}
        env.update(
            PATH=f"{self.bin}:{env['PATH']}",
            FAKE_LOG=str(self.log),
            PCMK_CLUSTER_PROPERTIES="",
            PYTHONPATH=str(ROOT),
        )
        env.update({f"FAKE_{k.upper()}": v for k, v in fake.items()})
        env.update(extra)
        self.log_socket = self.tmp / "log"
        argv = [*map(str, self.entry), f"--corosync-conf={self.tmp}/corosync.conf"]
        argv.append(f"--log-socket={self.log_socket}")
        argv += args or []
        if self.mode == "pid1":
            argv = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", *argv]
        if self.stdout_pipe:
            self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE)
            return self
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        """The launcher's pid as seen from outside."""
        assert self.proc is not None
        if self.mode == "subreaper":
            return self.proc.pid
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            kids = children(self.proc.pid)
            if kids:
                return kids[0]
            time.sleep(0.005)
        raise AssertionError("unshare never forked the launcher")

    def wait_until_signals_blocked(self) -> None:
        """The earliest moment a signal can reach a PID 1 with no handler yet: once the
        interpreter has blocked them (before that the kernel drops it, as for any init)."""
        # In pid1 mode unshare's own forked child blocks SIGTERM for a moment before it
        # execs us: a signal sent then is dropped by the new init. Wait for our interpreter.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                pid = self.pid
                blocked = int(proc_status(pid)["SigBlk"], 16) & (1 << (signal.SIGTERM - 1))
                ours = os.readlink(f"/proc/{pid}/exe") == os.path.realpath(sys.executable)
                if blocked and ours:
                    return
            except (FileNotFoundError, ProcessLookupError, KeyError):
                pass
            time.sleep(0.001)
        raise AssertionError("the launcher never blocked its signals")

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def wait(self, timeout: float = 20) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"launcher did not exit in {timeout}s:\n{self.output()}") from None

    def events(self) -> list[tuple[float, str, str]]:
        out = []
        for line in self.log.read_text().splitlines():
            stamp, name, text = line.split(" ", 2)
            out.append((float(stamp), name, text))
        return out

    def event_texts(self) -> list[str]:
        return [f"{name} {text}" for _, name, text in self.events()]

    def wait_event(self, text: str, timeout: float = 10, count: int = 1) -> None:
        """Until `count` events contain `text`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(text in e for e in self.event_texts()) >= count:
                return
            time.sleep(0.01)
        raise AssertionError(
            f"not {count} event(s) {text!r} in {timeout}s: {self.event_texts()}\n{self.output()}"
        )

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_output(self, text: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.output()}"
            time.sleep(0.01)

    def cli(self, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
        """`pcmk-launch health|status` as `docker exec` would run it, with the node's env: in
        the pid and mount namespaces of the launcher when it is PID 1 of its own."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PCMK_")}
        enter = []
        if self.mode == "pid1":
            enter = ["nsenter", "-t", str(self.pid), "--pid", "--mount", "--"]
        return subprocess.run(
            [*enter, sys.executable, "-m", "pcmk_launch", *args],
            env={**clean, **env, "PYTHONPATH": str(ROOT), "PATH": f"{self.bin}:{clean['PATH']}"},
            capture_output=True,
            text=True,
            timeout=30,
        )

    def process(self, comm: str, parent: int | None = None) -> int:
        """The global pid of our process with this /proc comm (a child of `parent`)."""
        todo = [self.pid] if parent is None else [parent]
        while todo:
            pid = todo.pop()
            kids = children(pid)
            for kid in kids:
                try:
                    if Path(f"/proc/{kid}/comm").read_text().strip() == comm[:15]:
                        return kid
                except FileNotFoundError:
                    continue
            if parent is None:
                todo += kids
        raise AssertionError(f"no {comm} under pid {self.pid}")

    def cleanup(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        if self.mode == "subreaper":  # pids in the log are real ones only in this mode
            for text in self.event_texts():
                if " start pid=" in text:
                    pid = int(text.split("pid=")[1].split()[0])
                    try:
                        if FAKE.name in Path(f"/proc/{pid}/cmdline").read_text():
                            os.kill(pid, signal.SIGKILL)
                    except (FileNotFoundError, ProcessLookupError):
                        pass


def names(launcher) -> list[str]:
    return launcher.event_texts()


def index(events: list[str], text: str) -> int:
    for i, e in enumerate(events):
        if text in e:
            return i
    raise AssertionError(f"{text!r} not in {events}")


def wait_for_socket(launcher) -> None:
    deadline = time.monotonic() + 10
    while not launcher.log_socket.exists():
        assert time.monotonic() < deadline, "the launcher never bound its syslog socket"
        time.sleep(0.01)


def send_burst(path, count: int, tag: str = "burst") -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    # A sender stuck behind a full queue would time out here: the relay must keep draining
    # even while nobody reads the launcher's stdout.
    s.settimeout(10)
    s.connect(str(path))
    for i in range(count):
        s.send(f"<29>Dec  1 10:00:00 {tag}[42]: notice: message {i}".encode())
    s.close()
