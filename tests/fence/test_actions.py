"""fence_docker_api's actions and exit codes against a fake Docker Engine on a unix socket
(tests/helpers/fakedocker.py): status 0/2/1, off = kill then confirmed not running, on, reboot,
list, monitor, API version negotiation, plugs as IP addresses, and TLS over TCP."""

from __future__ import annotations

import time

import pytest

from tests.helpers.fakedocker import FakeEngine, serve_unix


def sock(engine) -> str:
    return f"--socket={engine.socket}"


# --- status -----------------------------------------------------------------------------------


def test_status_running_is_0(run, engine):
    res = run("-o", "status", "-n", "node1", sock(engine))
    assert (res.rc, res.out.strip(), res.err) == (0, "Status: ON", "")


def test_status_paused_is_still_on(run, engine):
    engine.containers["node1"].paused = True
    assert run("-o", "status", "-n", "node1", sock(engine)).rc == 0


def test_status_exited_is_2(run, engine):
    res = run("-o", "status", "-n", "node3", sock(engine))
    assert res.rc == 2 and res.out.startswith("Status: OFF")


def test_status_missing_is_2_or_1_without_missing_as_off(run, engine):
    res = run("-o", "status", "-n", "gone", sock(engine))
    assert res.rc == 2 and "no container gone" in res.out
    res = run("-o", "status", "-n", "gone", sock(engine), "--missing-as-off=0")
    assert res.rc == 1 and "no such container" in res.err


def test_status_by_id_and_from_stdin(run, engine):
    cid = engine.containers["node2"].id
    assert run("-o", "status", "-n", cid[:12], sock(engine)).rc == 0
    res = run(stdin=f"action=status\nport=node3\nnodename=node3\nsocket={engine.socket}\n")
    assert res.rc == 2


def test_engine_unreachable_is_1_for_every_action(run, short_tmp):
    missing = f"--socket={short_tmp}/nothing.sock"
    for argv in (["-o", "status", "-n", "node1"], ["-o", "off", "-n", "node1"],
                 ["-o", "on", "-n", "node1"], ["-o", "reboot", "-n", "node1"],
                 ["-o", "list"], ["-o", "monitor"]):  # fmt: skip
        res = run(*argv, missing)
        assert res.rc == 1, argv
        assert "cannot reach the Docker API at unix://" in res.err, res.err


def test_a_404_that_is_not_no_such_container_is_an_error_not_off(run, engine):
    engine.page_not_found = True
    res = run("-o", "status", "-n", "node1", sock(engine))
    assert res.rc == 1 and "page not found" in res.err
    assert run("-o", "off", "-n", "node1", sock(engine)).rc == 1


def test_engine_error_is_1(run, engine):
    engine.api_version = "bad"  # the ping answers garbage: no version to use
    engine.ping_header = False
    res = run("-o", "status", "-n", "node1", sock(engine))
    assert res.rc == 1 and "ERROR" in res.err


# --- off --------------------------------------------------------------------------------------


def test_off_kills_and_confirms(run, engine):
    res = run("-o", "off", "-n", "node1", sock(engine))
    assert res.rc == 0 and "Success: Powered OFF" in res.out, res
    c = engine.containers["node1"]
    assert c.kills == 1 and not c.is_running()
    posts = engine.paths("POST")
    assert posts == [f"/v1.47/containers/{c.id}/kill?signal=KILL"], posts
    # confirmed by inspecting it after the kill
    assert engine.paths("GET")[-1] == f"/v1.47/containers/{c.id}/json"


def test_off_of_a_paused_container(run, engine):
    engine.containers["node1"].paused = True
    assert run("-o", "off", "-n", "node1", sock(engine)).rc == 0
    assert engine.containers["node1"].status == "exited"


def test_off_already_stopped_is_0(run, engine):
    res = run("-o", "off", "-n", "node3", sock(engine))
    assert res.rc == 0 and "not running" in res.out
    assert engine.containers["node3"].kills == 0


def test_off_missing_counts_as_off_unless_told_otherwise(run, engine):
    res = run("-o", "off", "-n", "gone", sock(engine))
    assert res.rc == 0 and "counted as off" in res.out
    assert run("-o", "off", "-n", "gone", sock(engine), "--missing-as-off=0").rc == 1


def test_off_waits_for_a_container_that_takes_a_while(run, engine):
    engine.containers["node1"].stop_delay = 0.6
    t0 = time.monotonic()
    res = run("-o", "off", "-n", "node1", sock(engine), "--power-timeout=5")
    assert res.rc == 0, res
    assert 0.6 <= time.monotonic() - t0 < 5
    assert len(engine.paths("GET")) >= 4  # polled


def test_off_fails_when_the_container_does_not_stop_in_time(run, engine):
    engine.containers["node1"].never_stops = True
    t0 = time.monotonic()
    res = run("-o", "off", "-n", "node1", sock(engine), "--power-timeout=0.5")
    assert res.rc == 1 and "timed out after 0.5s" in res.err and "running" in res.err
    assert 0.5 <= time.monotonic() - t0 < 3


def test_off_kill_error_decided_by_the_state(run, engine):
    c = engine.containers["node1"]
    c.kill_status = 500
    res = run("-o", "off", "-n", "node1", sock(engine))
    assert res.rc == 1 and "HTTP 500" in res.err and "boom" in res.err
    c.running = False  # the kill failed, but the container is not running: it is off
    assert run("-o", "off", "-n", "node1", sock(engine)).rc == 0


def test_off_through_stdin_as_pacemaker_sends_it(run, engine):
    res = run(stdin=f"nodename=n1\naction=off\nport=n1\nplug=node1\nsocket={engine.socket}\n")
    assert res.rc == 0 and not engine.containers["node1"].is_running()


def test_delay_before_fencing(run, engine):
    t0 = time.monotonic()
    assert run("-o", "off", "-n", "node1", sock(engine), "--delay=0.3").rc == 0
    assert time.monotonic() - t0 >= 0.3
    t0 = time.monotonic()
    assert run("-o", "status", "-n", "node1", sock(engine), "--delay=5").rc == 2  # no delay
    assert time.monotonic() - t0 < 2


# --- on, reboot -------------------------------------------------------------------------------


def test_on_starts_and_confirms(run, engine):
    res = run("-o", "on", "-n", "node3", sock(engine))
    assert res.rc == 0 and "Success: Powered ON" in res.out
    assert engine.containers["node3"].starts == 1 and engine.containers["node3"].is_running()


def test_on_when_running_is_0(run, engine):
    assert run("-o", "on", "-n", "node1", sock(engine)).rc == 0
    assert engine.containers["node1"].starts == 0


def test_on_missing_or_failing_is_1(run, engine):
    res = run("-o", "on", "-n", "gone", sock(engine))
    assert res.rc == 1 and "cannot start" in res.err
    engine.containers["node3"].start_fails = True
    res = run("-o", "on", "-n", "node3", sock(engine))
    assert res.rc == 1 and "HTTP 500" in res.err


def test_reboot_is_off_then_on(run, engine):
    res = run("-o", "reboot", "-n", "node1", sock(engine))
    assert res.rc == 0 and "Rebooted" in res.out
    c = engine.containers["node1"]
    assert (c.kills, c.starts) == (1, 1) and c.is_running()
    kill = engine.requests.index(("POST", f"/v1.47/containers/{c.id}/kill?signal=KILL"))
    start = engine.requests.index(("POST", f"/v1.47/containers/{c.id}/start"))
    assert kill < start


def test_reboot_succeeds_when_only_the_on_part_fails(run, engine):
    """FenceAgentAPI: reboot is 0 once the off part succeeded."""
    engine.containers["node1"].start_fails = True
    res = run("-o", "reboot", "-n", "node1", sock(engine))
    assert res.rc == 0 and "not started again" in res.out and "WARNING" in res.err
    assert not engine.containers["node1"].is_running()
    res = run("-o", "reboot", "-n", "gone", sock(engine))
    assert res.rc == 0


def test_reboot_fails_when_the_off_part_fails(run, engine):
    engine.containers["node1"].never_stops = True
    res = run("-o", "reboot", "-n", "node1", sock(engine), "--power-timeout=0.3")
    assert res.rc == 1 and engine.containers["node1"].starts == 0


# --- list, monitor ----------------------------------------------------------------------------


def test_list_and_list_status(run, engine):
    res = run("-o", "list", sock(engine))
    assert res.rc == 0
    ids = {n: c.id[:12] for n, c in engine.containers.items()}
    assert res.out.splitlines() == [f"{n},{ids[n]}" for n in ("node1", "node2", "node3")]
    res = run("-o", "list-status", sock(engine), "-C", ";")
    assert res.out.splitlines()[2] == f"node3;{ids['node3']};OFF"
    assert engine.paths("GET")[-1].endswith("/containers/json?all=1")


def test_list_port_as_ip(run, engine):
    res = run("-o", "list", sock(engine), "--port-as-ip")
    assert res.rc == 0
    assert res.out.splitlines() == ["198.18.0.11,", "198.18.0.12,", "198.18.0.13,"]


def test_monitor(run, engine):
    assert run("-o", "monitor", sock(engine)).rc == 0
    assert run("-o", "monitor", "-n", "node3", sock(engine)).rc == 0  # exists (stopped)
    res = run("-o", "monitor", "-n", "nod1", sock(engine))  # a typo'd plug
    assert res.rc == 1 and "is the plug right?" in res.err


def test_verbose_logs_requests(run, engine):
    res = run("-o", "status", "-n", "node1", sock(engine), "-v")
    assert (
        res.rc == 0
        and "GET /_ping -> 200" in res.err
        and "/v1.47/containers/node1/json" in (res.err)
    )


# --- API versions -----------------------------------------------------------------------------


@pytest.fixture
def modern(short_tmp):
    """An engine that refuses old API versions (like Docker 29: minimum 1.44)."""
    fake = FakeEngine(api_version="1.52", min_version="1.44")
    fake.add("node1")
    served = serve_unix(fake, str(short_tmp / "modern.sock"))
    fake.socket = served.where
    yield fake
    served.stop()


def test_negotiates_with_an_engine_that_refuses_old_versions(run, modern):
    assert run("-o", "off", "-n", "node1", sock(modern)).rc == 0
    versioned = [p for p in modern.paths() if p.startswith("/v")]
    assert versioned and all(p.startswith("/v1.51/") for p in versioned), versioned  # MAX_API


def test_a_pinned_old_version_is_refused_by_the_engine(run, modern):
    res = run("-o", "status", "-n", "node1", sock(modern), "--api-version=1.11")
    assert res.rc == 1 and "client version 1.11 is too old" in res.err
    assert "/_ping" not in modern.paths()  # pinned: no negotiation
    res = run("-o", "status", "-n", "node1", sock(modern), "--api-version=1.45")
    assert res.rc == 0


def test_version_from_slash_version_without_ping_header(run, engine):
    engine.ping_header = False
    engine.api_version = "1.41"
    assert run("-o", "status", "-n", "node1", sock(engine)).rc == 0
    assert "/version" in engine.paths()
    assert engine.paths()[-1].startswith("/v1.41/")


def test_an_engine_older_than_the_agent_supports(run, engine):
    engine.api_version = "1.20"
    engine.min_version = "1.12"
    res = run("-o", "status", "-n", "node1", sock(engine))
    assert res.rc == 1 and "too old (this agent needs 1.24)" in res.err


def test_one_negotiation_per_run(run, engine):
    assert run("-o", "reboot", "-n", "node1", sock(engine)).rc == 0
    assert engine.paths().count("/_ping") == 1


# --- plugs as IP addresses --------------------------------------------------------------------


def test_port_as_ip_finds_the_container(run, engine):
    assert run("-o", "status", "-n", "198.18.0.12", sock(engine), "--port-as-ip").rc == 0
    assert run("-o", "off", "-n", "198.18.0.12", sock(engine), "--port-as-ip").rc == 0
    assert not engine.containers["node2"].is_running()
    # stopped: found by its static address, so `on` can start it again
    assert run("-o", "status", "-n", "198.18.0.12", sock(engine), "--port-as-ip").rc == 2
    assert run("-o", "on", "-n", "198.18.0.12", sock(engine), "--port-as-ip").rc == 0
    assert engine.containers["node2"].is_running()
    assert run("-o", "status", "-n", "198.18.0.99", sock(engine), "--port-as-ip").rc == 2


def test_port_as_ip_paused_holds_its_address(run, engine):
    engine.containers["node1"].paused = True
    engine.add("old-node1", running=False, static_ips=["198.18.0.11"])  # stopped, same address
    assert run("-o", "off", "-n", "198.18.0.11", sock(engine), "--port-as-ip").rc == 0
    assert engine.containers["node1"].kills == 1


def test_port_as_ip_never_guesses(run, engine):
    engine.add("intruder", ips=["198.18.0.11"])
    res = run("-o", "off", "-n", "198.18.0.11", sock(engine), "--port-as-ip")
    assert res.rc == 1 and "several containers" in res.err
    assert engine.containers["node1"].kills == 0 and engine.containers["intruder"].kills == 0


# --- TCP with mutual TLS ----------------------------------------------------------------------


def tls_args(tls_engine, certs, ca=None, cert=True):
    args = ["-a", "127.0.0.1", "-u", tls_engine.port, "-z", f"--ca={ca or certs.ca}"]
    if cert:
        args += [f"--cert={certs.client_cert}", f"--key={certs.client_key}"]
    return args


def test_tls_with_a_client_certificate(run, tls_engine, certs):
    res = run("-o", "status", "-n", "node1", *tls_args(tls_engine, certs))
    assert res.rc == 0, res.err
    res = run("-o", "off", "-n", "node1", *tls_args(tls_engine, certs))
    assert res.rc == 0 and tls_engine.containers["node1"].kills == 1


def test_tls_from_stdin(run, tls_engine, certs):
    res = run(
        stdin=f"action=status\nplug=node1\nip=127.0.0.1\nipport={tls_engine.port}\nssl=1\n"
        f"ca={certs.ca}\ncert={certs.client_cert}\nkey={certs.client_key}\n"
    )
    assert res.rc == 0, res.err


def test_tls_without_a_client_certificate_fails(run, tls_engine, certs):
    res = run("-o", "status", "-n", "node1", *tls_args(tls_engine, certs, cert=False))
    assert res.rc == 1 and "cannot reach the Docker API at https://127.0.0.1:" in res.err


def test_tls_refuses_an_engine_signed_by_another_ca(run, tls_engine, certs):
    res = run("-o", "status", "-n", "node1", *tls_args(tls_engine, certs, ca=certs.other_ca))
    assert res.rc == 1 and "CERTIFICATE_VERIFY_FAILED" in res.err
    assert tls_engine.requests == []


def test_plain_http_against_tls_fails(run, tls_engine):
    res = run("-o", "status", "-n", "node1", "-a", "127.0.0.1", "-u", tls_engine.port, "--ssl=0")
    assert res.rc == 1


def test_unreachable_tcp_endpoint_is_1(run):
    res = run("-o", "status", "-n", "node1", "-a", "127.0.0.1", "-u", "1", "--ssl=0")
    assert res.rc == 1 and "cannot reach the Docker API at http://127.0.0.1:1" in res.err
