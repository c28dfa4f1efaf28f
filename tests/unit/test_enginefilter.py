"""pcmk_launch.enginefilter: the Docker Engine API filter in front of fence_docker_api.

First the pure core: decide() over a table of the requests fence_docker_api makes (allowed)
and of everything else (create, exec, images, delete, other signals, path tricks, bodies,
upgrades...), owner() and filter_list(). Then the real filter, `python -m
pcmk_launch.enginefilter` in a subprocess, in front of the fake engine of
tests/helpers/fakedocker.py: the real fence_docker_api works through it for the allowed
containers and fails for the others, raw clients get 403 for everything else, and in each case
the fake engine's request log shows what reached the engine (for a denial: nothing).
"""

from __future__ import annotations

import http.client
import json
import os
import selectors
import signal
import socket
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pcmk_launch.enginefilter import FULL_ID, decide, filter_list, owner, trim_inspect
from tests.helpers.fakedocker import FakeEngine, serve_unix

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "agents/fence_docker_api/fence_docker_api.py"
ALLOWED = frozenset({"node1", "node3"})
ID1 = "1a" * 32
ID2 = "2b" * 32

# --- the pure core ----------------------------------------------------------------------------

# (method, target, headers) -> kind, ref, what the engine is asked for
ALLOWED_REQUESTS = [
    ("GET", "/_ping", {}, "ping", "", "/_ping"),
    ("GET", "/v1.47/_ping", {}, "ping", "", "/v1.47/_ping"),
    ("GET", "/version", {"User-Agent": "x"}, "version", "", "/version"),
    ("GET", "/v1.41/version", {}, "version", "", "/v1.41/version"),
    ("GET", "/v1.47/containers/json?all=1", {}, "list", "", "/v1.47/containers/json?all=1"),
    ("GET", "/containers/json?all=1", {}, "list", "", "/containers/json?all=1"),
    ("GET", "/v1.47/containers/node1/json", {}, "inspect", "node1", "/v1.47/containers/node1/json"),
    ("GET", "/containers/node3/json", {}, "inspect", "node3", "/containers/node3/json"),
    ("GET", "/v1.47/containers/node%31/json", {}, "inspect", "node1",
     "/v1.47/containers/node1/json"),
    ("GET", f"/v1.47/containers/{ID1}/json", {}, "inspect", ID1, f"/v1.47/containers/{ID1}/json"),
    ("POST", "/v1.47/containers/node1/kill?signal=KILL", {"Content-Length": "0"}, "kill", "node1",
     "/v1.47/containers/node1/kill?signal=KILL"),
    ("POST", f"/v1.51/containers/{ID1}/kill?signal=KILL", {}, "kill", ID1,
     f"/v1.51/containers/{ID1}/kill?signal=KILL"),
    ("POST", "/containers/node3/start", {"Connection": "close"}, "start", "node3",
     "/containers/node3/start"),
    ("POST", f"/v1.47/containers/{ID1}/start", {}, "start", ID1, f"/v1.47/containers/{ID1}/start"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "target", "headers", "kind", "ref", "forwarded"),
                         ALLOWED_REQUESTS)  # fmt: skip
def test_what_fence_docker_api_sends_is_allowed(method, target, headers, kind, ref, forwarded):
    d = decide(method, target, headers, ALLOWED)
    assert (d.allowed, d.kind, d.ref, d.target()) == (True, kind, ref, forwarded), d


K = "?signal=KILL"
# (method, target, headers, a word of the reason)
FORBIDDEN = [
    # creating, running and reading anything else
    ("POST", "/v1.47/containers/create?name=x", {}, "endpoint"),
    ("POST", "/containers/create", {}, "endpoint"),
    ("POST", "/v1.47/containers/node1/exec", {}, "endpoint"),
    ("POST", "/v1.47/exec/abc/start", {}, "endpoint"),
    ("GET", "/v1.47/images/json", {}, "endpoint"),
    ("POST", "/v1.47/images/create?fromImage=alpine", {}, "endpoint"),
    ("DELETE", "/v1.47/images/alpine", {}, "GET and POST"),
    ("DELETE", "/v1.47/containers/node1?force=1", {}, "GET and POST"),
    ("POST", "/v1.47/containers/node1/attach?stream=1&stdin=1", {}, "endpoint"),
    ("GET", "/v1.47/containers/node1/logs?stdout=1", {}, "endpoint"),
    ("GET", "/v1.47/containers/node1/archive?path=/etc", {}, "endpoint"),
    ("PUT", "/v1.47/containers/node1/archive?path=/", {}, "GET and POST"),
    ("GET", "/v1.47/containers/node1/export", {}, "endpoint"),
    ("GET", "/v1.47/containers/node1/top", {}, "endpoint"),
    ("POST", "/v1.47/containers/node1/stop", {}, "endpoint"),
    ("POST", "/v1.47/containers/node1/restart", {}, "endpoint"),
    ("POST", "/v1.47/containers/node1/pause", {}, "endpoint"),
    ("POST", "/v1.47/containers/node1/update", {}, "endpoint"),
    ("POST", "/v1.47/containers/node1/rename?name=node2", {}, "endpoint"),
    ("POST", "/v1.47/containers/node1/wait", {}, "endpoint"),
    ("POST", "/v1.47/containers/prune", {}, "endpoint"),
    ("POST", "/v1.47/build", {}, "endpoint"),
    ("GET", "/v1.47/volumes", {}, "endpoint"),
    ("POST", "/v1.47/volumes/create", {}, "endpoint"),
    ("GET", "/v1.47/networks", {}, "endpoint"),
    ("POST", "/v1.47/networks/bridge/connect", {}, "endpoint"),
    ("GET", "/v1.47/info", {}, "endpoint"),
    ("GET", "/v1.47/system/df", {}, "endpoint"),
    ("GET", "/v1.47/events", {}, "endpoint"),
    ("GET", "/v1.47/swarm", {}, "endpoint"),
    ("GET", "/v1.47/secrets", {}, "endpoint"),
    ("GET", "/v1.47/plugins", {}, "endpoint"),
    ("POST", "/v1.47/plugins/pull", {}, "endpoint"),
    ("POST", "/session", {}, "endpoint"),
    ("POST", "/grpc", {}, "endpoint"),
    ("POST", "/v1.47/auth", {}, "endpoint"),
    ("GET", "/", {}, "endpoint"),
    ("GET", "", {}, "endpoint"),
    # kill: only SIGKILL, only of an allowed container, never by short id or name trick
    ("POST", "/v1.47/containers/node1/kill?signal=TERM", {}, "signal=KILL"),
    ("POST", "/v1.47/containers/node1/kill?signal=SIGKILL", {}, "signal=KILL"),
    ("POST", "/v1.47/containers/node1/kill?signal=kill", {}, "signal=KILL"),
    ("POST", "/v1.47/containers/node1/kill?signal=KILL&signal=TERM", {}, "signal=KILL"),
    ("POST", "/v1.47/containers/node1/kill?", {}, "signal=KILL"),
    ("POST", "/v1.47/containers/node1/kill", {}, "signal=KILL"),
    ("POST", "/v1.47/containers/node2/kill" + K, {}, "'node2'"),
    ("POST", "/v1.47/containers/NODE1/kill" + K, {}, "'NODE1'"),
    ("POST", "/v1.47/containers/node1x/kill" + K, {}, "'node1x'"),
    ("POST", f"/v1.47/containers/{ID1[:12]}/kill" + K, {}, "not one of"),
    ("POST", f"/v1.47/containers/{ID1.upper()}/kill" + K, {}, "not one of"),
    ("POST", f"/v1.47/containers/{ID1}0/kill" + K, {}, "not one of"),
    ("POST", "/v1.47/containers/node1/../node2/kill" + K, {}, "endpoint"),
    ("POST", "/v1.47/containers/../containers/node2/kill" + K, {}, "endpoint"),
    ("POST", "/v1.47/containers/node1%2F..%2Fnode2/kill" + K, {}, "not one of"),
    ("POST", "/v1.47/containers/node1%2fkill" + K, {}, "endpoint"),
    ("POST", "/v1.47/containers/node1%00/kill" + K, {}, "not one of"),
    ("POST", "/v1.47/containers/node%2531/kill" + K, {}, "'node%31'"),
    ("POST", "/v1.47/containers/%2e%2e/kill" + K, {}, "'..'"),
    ("POST", "/v1.47/containers/node%ff/kill" + K, {}, "UTF-8"),
    ("POST", "/v1.47/containers/ node1/kill" + K, {}, "not one of"),
    ("POST", "//v1.47/containers/node1/kill" + K, {}, "endpoint"),
    ("POST", "/v1.47//containers/node1/kill" + K, {}, "endpoint"),
    ("POST", "/v1.47/containers//node1/kill" + K, {}, "endpoint"),
    ("POST", "/v1.47/containers/node1/kill/" + K, {}, "endpoint"),
    ("POST", "/V1.47/containers/node1/kill" + K, {}, "endpoint"),
    ("POST", "/v1/containers/node1/kill" + K, {}, "endpoint"),
    ("POST", "/v1.47.0/containers/node1/kill" + K, {}, "endpoint"),
    ("POST", "http://localhost/v1.47/containers/node1/kill" + K, {}, "endpoint"),
    ("POST", "/v1.47/containers/node1/kill?signal=KILL#x", {}, "endpoint"),
    ("post", "/v1.47/containers/node1/kill" + K, {}, "GET and POST"),
    ("GET", "/v1.47/containers/node1/kill" + K, {}, "POST only"),
    # start, inspect, list, ping: exactly as the agent sends them
    ("POST", "/v1.47/containers/node2/start", {}, "'node2'"),
    ("POST", "/v1.47/containers/node1/start?detachKeys=x", {}, "no query"),
    ("GET", "/v1.47/containers/node1/start", {}, "POST only"),
    ("GET", "/v1.47/containers/node2/json", {}, "'node2'"),
    ("GET", "/v1.47/containers/node1/json?size=1", {}, "no query"),
    ("POST", "/v1.47/containers/node1/json", {}, "GET only"),
    ("GET", "/v1.47/containers/json", {}, "all=1"),
    ("GET", "/v1.47/containers/json?all=true", {}, "all=1"),
    ("GET", "/v1.47/containers/json?all=1&size=1", {}, "all=1"),
    ('GET', '/v1.47/containers/json?all=1&filters={"name":["x"]}', {}, "all=1"),
    ("POST", "/v1.47/containers/json?all=1", {}, "GET only"),
    ("GET", "/_ping?x=1", {}, "no query"),
    ("HEAD", "/_ping", {}, "GET and POST"),
    ("OPTIONS", "/_ping", {}, "GET and POST"),
    ("POST", "/_ping", {}, "GET only"),
    # bodies and hijacks, even on an allowed endpoint
    ("POST", "/v1.47/containers/node1/start", {"Content-Length": "2"}, "body"),
    ("POST", "/v1.47/containers/node1/kill" + K, {"content-length": " 5 "}, "body"),
    ("GET", "/v1.47/containers/node1/json", {"Content-Length": "10"}, "body"),
    ("POST", "/v1.47/containers/node1/start", {"Transfer-Encoding": "chunked"}, "body"),
    ("POST", "/v1.47/containers/node1/start", {"TRANSFER-ENCODING": "identity"}, "body"),
    ("POST", "/v1.47/containers/node1/start", {"Connection": "Upgrade", "Upgrade": "tcp"},
     "upgrade"),
    ("GET", "/v1.47/containers/node1/json", {"Upgrade": "h2c"}, "upgrade"),
    ("POST", "/v1.47/containers/node1/start", {"Connection": "keep-alive, upgrade"}, "upgrade"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "target", "headers", "why"), FORBIDDEN)
def test_everything_else_is_denied(method, target, headers, why):
    d = decide(method, target, headers, ALLOWED)
    assert not d.allowed and why.lower() in d.reason.lower(), d


class TwoHeaders:
    """A repeated header, as http.server's message has it: items() yields both."""

    def items(self):
        return [("Content-Length", "0"), ("Content-Length", "7")]


def test_a_repeated_content_length_counts_each_copy():
    assert not decide("POST", "/containers/node1/start", TwoHeaders(), ALLOWED).allowed


def test_allowed_names_are_exact():
    assert decide("GET", "/containers/node1/json", {}, frozenset({"node"})).allowed is False
    assert decide("GET", "/containers/node/json", {}, frozenset({"node1"})).allowed is False
    assert decide("GET", "/containers/node1/json", {}, frozenset()).allowed is False


def inspected(cid: str, name: str) -> bytes:
    return json.dumps({"Id": cid, "Name": "/" + name, "State": {"Running": True}}).encode()


def test_owner_is_the_id_when_the_engine_resolved_the_ref_to_an_allowed_container():
    assert owner(inspected(ID1, "node1"), "node1", ALLOWED) == ID1
    assert owner(inspected(ID1, "node1"), ID1, ALLOWED) == ID1
    # an id of a container that is not allowed
    assert owner(inspected(ID2, "node2"), ID2, ALLOWED) is None
    # a hex-looking allowed name that the engine took as the id prefix of another container
    assert owner(inspected(ID2, "node2"), "2222", ALLOWED | {"2222"}) is None
    # an allowed container, but not the one asked for
    assert owner(inspected(ID1, "node1"), "node3", ALLOWED) is None
    for bad in (b"", b"not json", b"[]", b'{"Id": "1", "Name": "/node1"}', b'{"Name": "/node1"}'):
        assert owner(bad, "node1", ALLOWED) is None, bad
    assert FULL_ID.fullmatch(ID1)


def test_filter_list_keeps_only_allowed_containers():
    listed = [
        {"Id": ID1, "Names": ["/node1"], "State": "running"},
        {"Id": ID2, "Names": ["/node2"], "State": "running"},
        {"Id": "3" * 64, "Names": ["/node3", "/web/db"], "State": "exited"},
        {"Id": "4" * 64, "Names": ["/other/node1"], "State": "running"},  # a link alias
        {"Id": "5" * 64, "Names": None},
        {"Id": "6" * 64},
        "node1",
    ]
    kept = json.loads(filter_list(json.dumps(listed).encode(), ALLOWED))
    assert [c["Id"] for c in kept] == [ID1, "3" * 64]
    assert kept[0] == listed[0]  # unchanged otherwise
    for bad in (b"", b"garbage", b'{"message": "x"}', b"null"):
        assert filter_list(bad, ALLOWED) == b"[]"


# --- the real filter in front of the fake engine ---------------------------------------------


@pytest.fixture
def engine(short_tmp):
    """node1 and node2 running, node3 exited; the filter allows node1 and node3."""
    fake = FakeEngine()
    fake.add("node1", id=ID1)
    fake.add("node2", id=ID2)
    fake.add("node3", running=False)
    served = serve_unix(fake, str(short_tmp / "engine.sock"))
    fake.socket = served.where
    yield fake
    served.stop()


@dataclass
class Filter:
    proc: subprocess.Popen
    socket: str
    banner: str
    err: Path

    def log(self) -> str:
        return self.err.read_text()


@pytest.fixture
def launch(tmp_path):
    """launch(listen, *args, env=) -> Filter: `python -m pcmk_launch.enginefilter` once it has
    printed its readiness line (or exited); whatever still runs at the end is killed."""
    started: list[Filter] = []

    def _launch(listen: Path, *args: str, env: dict | None = None) -> Filter:
        err = tmp_path / f"filter{len(started)}.err"
        proc = subprocess.Popen(
            [sys.executable, "-m", "pcmk_launch.enginefilter", "--listen", str(listen), *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err.open("w"),
            text=True,
            env={**os.environ, **(env or {})},
        )
        f = Filter(proc, str(listen), "", err)
        started.append(f)
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            ready = sel.select(timeout=15)
        f.banner = proc.stdout.readline() if ready else ""
        if not f.banner:  # end of its output: it exited (or it hangs: a failure)
            assert ready, f"no readiness line in 15 s: {f.log()}"
            proc.wait(timeout=15)
        return f

    yield _launch
    for f in started:
        if f.proc.poll() is None:
            f.proc.kill()
            f.proc.wait()
        f.proc.stdout.close()


def stop_filter(f: Filter) -> int:
    """SIGTERM (if it still runs) and its exit code."""
    if f.proc.poll() is None:
        f.proc.send_signal(signal.SIGTERM)
    return f.proc.wait(timeout=15)


@pytest.fixture
def filt(launch, short_tmp, engine):
    f = launch(short_tmp / "filter.sock", "--engine", engine.socket, "--allow", "node1,node3")
    assert f.proc.poll() is None, f.log()
    yield f
    assert stop_filter(f) == 0, f.log()


def agent(sock: str, *argv: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(AGENT), f"--socket={sock}", "--power-timeout=5", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=10)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def call(sock: str, method: str, target: str, body=None, headers=None, chunked=False):
    """-> (status, headers, parsed body) of one request through http.client."""
    conn = UnixConnection(sock)
    try:
        conn.request(method, target, body=body, headers=headers or {}, encode_chunked=chunked)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw
    return resp.status, resp.headers, parsed


def raw_exchange(sock: str, data: bytes) -> bytes:
    """Bytes in, everything the filter answers until it closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(sock)
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_readiness_line_and_socket_mode(filt, engine):
    assert filt.banner.strip() == (
        f"pcmk engine filter: listening on {filt.socket}, forwarding to {engine.socket},"
        " allowing node1, node3"
    )
    st = os.stat(filt.socket)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    assert os.listdir(os.path.dirname(filt.socket)).count("filter.sock") == 1  # no temp left


def test_fence_agent_status_list_monitor_through_the_filter(filt, engine):
    res = agent(filt.socket, "-o", "status", "-n", "node1")
    assert (res.returncode, res.stdout.strip()) == (0, "Status: ON"), res
    assert agent(filt.socket, "-o", "status", "-n", "node3").returncode == 2
    assert agent(filt.socket, "-o", "status", "-n", ID1).returncode == 0  # by full id
    res = agent(filt.socket, "-o", "list")
    assert res.returncode == 0 and res.stdout.splitlines() == [
        f"node1,{ID1[:12]}",
        f"node3,{engine.containers['node3'].id[:12]}",
    ], res  # node2 exists, but the filter does not show it
    res = agent(filt.socket, "-o", "list-status")
    assert res.returncode == 0 and [line.split(",")[2] for line in res.stdout.splitlines()] == [
        "ON",
        "OFF",
    ]
    assert agent(filt.socket, "-o", "monitor", "-n", "node1").returncode == 0
    assert agent(filt.socket, "-o", "monitor").returncode == 0
    assert engine.paths("POST") == []


def test_fence_agent_off_on_reboot_of_an_allowed_container(filt, engine):
    node1 = engine.containers["node1"]
    res = agent(filt.socket, "-o", "off", "-n", "node1")
    assert res.returncode == 0 and "Success: Powered OFF" in res.stdout, res
    assert node1.kills == 1 and not node1.is_running()
    # the agent killed it by the full id; the filter checked that id with the engine first
    assert engine.paths("POST") == [f"/v1.47/containers/{ID1}/kill?signal=KILL"]
    assert agent(filt.socket, "-o", "status", "-n", "node1").returncode == 2
    res = agent(filt.socket, "-o", "on", "-n", "node1")
    assert res.returncode == 0 and node1.starts == 1 and node1.is_running(), res
    res = agent(filt.socket, "-o", "reboot", "-n", "node1")
    assert res.returncode == 0 and "Rebooted" in res.stdout, res
    assert (node1.kills, node1.starts) == (2, 2)
    res = agent(filt.socket, "-o", "off", "-n", "node3")  # allowed, already stopped
    assert res.returncode == 0 and "not running" in res.stdout, res
    # a missing container still counts as off: the engine's own 404 comes through
    del engine.containers["node3"]
    res = agent(filt.socket, "-o", "off", "-n", "node3")
    assert res.returncode == 0 and "counted as off" in res.stdout, res


def test_fence_agent_cannot_touch_a_container_that_is_not_allowed(filt, engine):
    node2 = engine.containers["node2"]
    for argv in (["-o", "off", "-n", "node2"], ["-o", "off", "-n", ID2],
                 ["-o", "reboot", "-n", "node2"], ["-o", "on", "-n", "node2"],
                 ["-o", "status", "-n", "node2"], ["-o", "monitor", "-n", "node2"]):  # fmt: skip
        res = agent(filt.socket, *argv)
        assert res.returncode == 1, (argv, res)
        assert "HTTP 403: pcmk engine filter:" in res.stderr and "is not allowed" in res.stderr
    assert node2.kills == 0 and node2.running
    assert engine.paths("POST") == []
    # by name the engine saw nothing for node2; by full id only the filter's own inspect
    seen = [p for p in engine.paths() if "node2" in p or ID2 in p]
    assert seen == [f"/v1.47/containers/{ID2}/json"], seen


def test_raw_requests_other_than_the_agents_get_403_and_never_reach_the_engine(filt, engine):
    create = json.dumps({"Image": "debian", "Cmd": ["sh"], "HostConfig": {"Privileged": True}})
    requests = [
        ("POST", "/v1.47/containers/create?name=evil", create, {"Content-Type": "text/json"}),
        ("POST", "/v1.47/containers/node1/exec", json.dumps({"Cmd": ["sh"]}), {}),
        ("GET", "/v1.47/images/json", None, {}),
        ("DELETE", "/v1.47/containers/node1?force=1", None, {}),
        ("POST", "/v1.47/containers/node1/kill?signal=SIGTERM", None, {}),
        ("POST", "/v1.47/containers/node2/kill?signal=KILL", None, {}),
        ("POST", "/v1.47/containers/node1%2F..%2Fnode2/kill?signal=KILL", None, {}),
        ("POST", "/v1.47/containers/node1/attach?stream=1", None,
         {"Connection": "Upgrade", "Upgrade": "tcp"}),
        ("POST", "/v1.47/containers/node1/start", "{}", {}),
        ("GET", "/v1.47/info", None, {}),
        ("GET", "/v1.47/events", None, {}),
        ("POST", "/v1.47/build", None, {}),
        ("POST", "/session", None, {"Connection": "Upgrade", "Upgrade": "h2c"}),
    ]  # fmt: skip
    for method, target, body, headers in requests:
        status, resp_headers, answer = call(filt.socket, method, target, body, headers)
        assert status == 403, (method, target, status, answer)
        assert resp_headers["Content-Type"] == "application/json"
        assert answer["message"].startswith(
            f"pcmk engine filter: {method} {target} is not allowed: "
        )
    status, _, answer = call(filt.socket, "POST", "/containers/node1/start", iter([b"{}"]),
                             chunked=True)  # fmt: skip
    assert status == 403 and "body" in answer["message"]
    status, headers, answer = call(filt.socket, "HEAD", "/_ping")
    assert status == 403 and answer is None and headers["Content-Length"] != "0"
    assert engine.requests == []
    assert engine.containers["node1"].running and engine.containers["node2"].running
    # one line on stderr per denial
    lines = filt.log().splitlines()
    assert len(lines) == len(requests) + 2, lines
    assert lines[0] == (
        "pcmk engine filter: POST /v1.47/containers/create?name=evil is not allowed:"
        " requests with a body are not forwarded"
    )


def test_raw_id_and_prefix_tricks_stop_at_the_filter_s_own_inspect(launch, short_tmp, engine):
    # A hex-looking allowed name that no container has: the engine would take it as an id
    # prefix of node2. The filter asks the engine which container it means, and refuses.
    prefix = ID2[:8]
    f = launch(short_tmp / "filter.sock", "--engine", engine.socket,
               env={"PCMK_ENGINE_FILTER_ALLOW": prefix})  # fmt: skip
    try:
        assert f.banner.endswith(f"allowing {prefix}\n")
        for target in (f"/v1.47/containers/{prefix}/kill?signal=KILL",
                       f"/v1.47/containers/{prefix}/start", f"/v1.41/containers/{prefix}/json",
                       f"/v1.47/containers/{ID2}/kill?signal=KILL"):  # fmt: skip
            method = "GET" if target.endswith("/json") else "POST"
            status, _, answer = call(f.socket, method, target)
            assert status == 403 and "is not an allowed container" in answer["message"], answer
        assert engine.paths("POST") == [] and engine.containers["node2"].kills == 0
        assert set(engine.paths("GET")) == {
            f"/v1.47/containers/{prefix}/json", f"/v1.41/containers/{prefix}/json",
            f"/v1.47/containers/{ID2}/json",
        }  # fmt: skip
    finally:
        assert stop_filter(f) == 0


def test_malformed_requests_get_json_errors(filt, engine):
    for data in (
        b"GARBAGE\r\n\r\n",
        b"GET /_ping HTTP/2.0\r\n\r\n",
        b"GET /x HTTP/1.1 extra\r\n\r\n",
    ):
        head, _, body = raw_exchange(filt.socket, data).partition(b"\r\n\r\n")
        assert head.split()[1] in (b"400", b"505"), head
        assert json.loads(body)["message"].startswith("pcmk engine filter: bad request")
    # an absolute-form target, a second request on the same connection: one answer, closed
    answer = raw_exchange(
        filt.socket,
        b"GET http://localhost/_ping HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 403") and answer.count(b"HTTP/1.1") == 1, answer
    assert b"Connection: close" in answer
    assert engine.requests == []


def test_allowed_answers_are_relayed_with_the_engine_s_headers(filt, engine):
    status, headers, body = call(filt.socket, "GET", "/_ping")
    assert (status, headers["API-Version"], body) == (200, "1.47", b"OK")
    assert headers["Connection"] == "close"
    status, _, body = call(filt.socket, "GET", "/v1.47/containers/node1/json")
    assert status == 200 and body["Id"] == ID1
    status, _, body = call(filt.socket, "POST", "/v1.47/containers/node1/kill?signal=KILL")
    assert status == 204 and body is None
    status, _, body = call(filt.socket, "POST", "/v1.47/containers/node1/kill?signal=KILL")
    assert status == 409 and "is not running" in body["message"]
    status, _, body = call(filt.socket, "POST", "/v1.47/containers/node1/start")
    assert status == 204
    status, _, body = call(filt.socket, "POST", "/v1.47/containers/node1/start")
    assert status == 304
    status, _, body = call(filt.socket, "GET", "/v1.11/containers/node1/json")
    assert status == 400 and "too old" in str(body)  # the engine's own error


def test_engine_gone_is_502(filt, engine, short_tmp):
    os.unlink(engine.socket)
    status, _, body = call(filt.socket, "GET", "/_ping")
    assert status == 502 and "did not answer" in body["message"]
    res = agent(filt.socket, "-o", "status", "-n", "node1")
    assert res.returncode == 1 and "HTTP 502" in res.stderr


def test_stale_socket_replaced_and_sigterm_removes_it(launch, short_tmp, engine):
    listen = short_tmp / "filter.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(listen))
    stale.close()  # a socket file nobody listens on: what a crashed run leaves
    f = launch(listen, "--engine", engine.socket, "--allow", "node1", "--group", str(os.getgid()))
    assert f.proc.poll() is None, f.log()
    assert call(f.socket, "GET", "/_ping")[0] == 200
    assert os.stat(f.socket).st_gid == os.getgid()
    assert stop_filter(f) == 0
    assert sorted(os.listdir(short_tmp)) == ["engine.sock"]


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        ([], {}, ["--allow is empty", "PCMK_ENGINE_FILTER_ALLOW"]),
        (["--allow", " , "], {}, ["--allow is empty"]),
        (["--allow", "node1,node 2"], {}, ["--allow 'node 2'", "not a container name"]),
        (["--allow", "node1,../x"], {}, ["--allow '../x'", "not a container name"]),
        ([], {"PCMK_ENGINE_FILTER_ALLOW": "-x"}, ["--allow '-x'"]),
        (["--allow", "node1", "--group", "no-such-group-pd"], {}, ["--group 'no-such-group-pd'"]),
    ],
)
def test_bad_input_is_refused_with_exit_2_and_nothing_created(
    launch, short_tmp, engine, args, env, words
):
    f = launch(short_tmp / "filter.sock", "--engine", engine.socket, *args,
               env={"PCMK_ENGINE_FILTER_ALLOW": "", **env})  # fmt: skip
    assert stop_filter(f) == 2 and f.banner == ""
    log = f.log()
    assert "nothing was written or started" in log
    for word in words:
        assert word in log, log
    assert sorted(os.listdir(short_tmp)) == ["engine.sock"]


def test_a_missing_engine_or_listen_path_is_refused_and_a_file_never_replaced(launch, short_tmp):
    listen = short_tmp / "filter.sock"
    f = launch(listen, "--engine", str(short_tmp / "nope.sock"), "--allow", "node1")
    assert stop_filter(f) == 2
    assert f"--engine '{short_tmp}/nope.sock': No such file or directory" in f.log()
    assert "-v /var/run/docker.sock:/var/run/docker.sock" in f.log()
    assert not listen.exists()
    regular = short_tmp / "precious"
    regular.write_text("keep me")
    f = launch(regular, "--engine", str(regular), "--allow", "node1")
    assert stop_filter(f) == 2
    assert f"--engine '{regular}': not a unix socket" in f.log()
    assert f"--listen '{regular}': exists and is not a socket" in f.log()
    assert regular.read_text() == "keep me"
    f = launch(short_tmp / "no-dir" / "f.sock", "--engine", str(regular), "--allow", "node1")
    assert stop_filter(f) == 2
    assert f"no directory {short_tmp}/no-dir" in f.log()
    f = launch(short_tmp / ("x" * 100), "--engine", str(regular), "--allow", "node1")
    assert stop_filter(f) == 2 and "too long for a unix socket" in f.log()
    assert sorted(os.listdir(short_tmp)) == ["precious"]


def test_an_inspect_answer_keeps_only_what_the_agent_reads():
    full = {
        "Id": "a" * 64,
        "Name": "/node1",
        "State": {"Running": True, "Status": "running"},
        "Config": {"Env": ["PCMK_AUTHKEY_PASSPHRASE=secret"]},
        "Mounts": [{"Source": "/etc"}],
    }
    trimmed = json.loads(trim_inspect(json.dumps(full).encode()))
    assert trimmed == {k: full[k] for k in ("Id", "Name", "State")}
