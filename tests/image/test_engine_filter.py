"""The engine filter (pcmk_launch.enginefilter) in front of the real dockerd.

The filter runs as a container of the image with the engine's socket mounted and its own
socket in a volume; a "node" container mounts only that volume. Through it, fence_docker_api
can fence (off, status, on, list) the allowed victim container and nothing else: the
bystander survives, and creating a container, listing images, killing with another signal or
killing the bystander get 403 from the filter. `docker stop` ends the filter with 0 and takes
its socket away.
"""

from __future__ import annotations

import json

from tests.image.dockerutil import PREFIX, container_state, dexec, docker, inspect, logs, wait_for

FILTER_DIR = "/run/pcmk-filter"
FILTER_SOCK = f"{FILTER_DIR}/docker.sock"

# Run inside the node container: each [method, target, body] -> [status, answer text].
RAW_CLIENT = r"""
import http.client, json, socket, sys

class Unix(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(sys.argv[1])

out = []
for method, target, body in json.loads(sys.argv[2]):
    conn = Unix("localhost", timeout=20)
    headers = {"Content-Type": "application/json"} if body else {}
    conn.request(method, target, body=body, headers=headers)
    resp = conn.getresponse()
    out.append([resp.status, resp.read().decode()])
    conn.close()
print(json.dumps(out))
"""


def sleeper(image: str, name: str, *args: str) -> None:
    docker("run", "-d", "--name", name, "--network", "none", *args,
           "--entrypoint", "sleep", image, "infinity", check=True)  # fmt: skip


def fence(node: str, *argv: str):
    return dexec(node, "fence_docker_api", "--socket", FILTER_SOCK, *argv, timeout=90)


def test_a_node_behind_the_filter_fences_the_allowed_container_and_nothing_else(
    built_image, resources
):
    volume = resources.volume(f"{PREFIX}-efilter")
    docker("volume", "create", volume, check=True)
    victim = resources.container(f"{PREFIX}-efvictim")
    bystander = resources.container(f"{PREFIX}-efbystander")
    sleeper(built_image, victim)
    sleeper(built_image, bystander)

    filt = resources.container(f"{PREFIX}-efilter")
    docker(
        "run", "-d", "--name", filt, "--network", "none", "--entrypoint", "python3",
        "-v", "/var/run/docker.sock:/var/run/docker.sock", "-v", f"{volume}:{FILTER_DIR}",
        built_image, "-m", "pcmk_launch.enginefilter", "--listen", FILTER_SOCK,
        "--allow", victim, check=True,
    )  # fmt: skip
    banner = wait_for(
        lambda: ("listening on" in (text := logs(filt)), text),
        30,
        "the filter's readiness line",
        interval=0.2,
        container=filt,
    )
    assert f"listening on {FILTER_SOCK}, forwarding to /var/run/docker.sock, allowing {victim}" in (
        banner
    )

    node = resources.container(f"{PREFIX}-efnode")
    sleeper(built_image, node, "-v", f"{volume}:{FILTER_DIR}")
    assert dexec(node, "test", "-e", "/var/run/docker.sock").returncode != 0
    assert dexec(node, "stat", "-c", "%F %a", FILTER_SOCK).stdout.strip() == "socket 660"

    # the victim: every action of the agent works
    res = fence(node, "--plug", victim, "--action", "status")
    assert (res.returncode, res.stdout.strip()) == (0, "Status: ON"), res
    res = fence(node, "--action", "list")
    assert res.returncode == 0 and [line.split(",")[0] for line in res.stdout.splitlines()] == [
        victim
    ], res  # the bystander, the node and the filter exist but are not shown
    assert fence(node, "--plug", victim, "--action", "monitor").returncode == 0
    res = fence(node, "--plug", victim, "--action", "off")
    assert res.returncode == 0 and "Success: Powered OFF" in res.stdout, res
    assert container_state(victim) == "exited"
    assert inspect(victim, "{{.State.ExitCode}}") == "137"  # SIGKILL
    assert fence(node, "--plug", victim, "--action", "status").returncode == 2
    res = fence(node, "--plug", victim, "--action", "on")
    assert res.returncode == 0 and container_state(victim) == "running", res

    # the bystander: untouchable, by name or by id
    bystander_id = inspect(bystander, "{{.Id}}")
    for plug in (bystander, bystander_id):
        res = fence(node, "--plug", plug, "--action", "off")
        assert res.returncode == 1 and "HTTP 403: pcmk engine filter:" in res.stderr, res
    assert container_state(bystander) == "running"

    # raw API requests through the filtered socket
    created = resources.container(f"{PREFIX}-efcreated")  # removed if the filter failed
    spec = json.dumps({"Image": built_image, "Cmd": ["true"], "HostConfig": {"Privileged": True}})
    requests = [
        ["POST", f"/containers/create?name={created}", spec],
        ["POST", f"/v1.41/containers/create?name={created}", None],
        ["GET", "/v1.41/images/json", None],
        ["GET", "/images/json", None],
        ["POST", f"/v1.41/containers/{bystander}/kill?signal=KILL", None],
        ["POST", f"/v1.41/containers/{victim}/kill?signal=TERM", None],
        ["POST", f"/v1.41/containers/{victim}/exec", json.dumps({"Cmd": ["id"]})],
        ["DELETE", f"/v1.41/containers/{victim}?force=1", None],
        ["GET", "/v1.41/info", None],
    ]
    out = dexec(node, "python3", "-c", RAW_CLIENT, FILTER_SOCK, json.dumps(requests + [
        ["GET", "/_ping", None]]))  # fmt: skip
    assert out.returncode == 0, out.stderr
    answers = json.loads(out.stdout)
    for (method, target, _), (status, text) in zip(requests, answers, strict=False):
        assert status == 403, (method, target, status, text)
        assert json.loads(text)["message"].startswith(
            f"pcmk engine filter: {method} {target} is not allowed: "
        )
    assert answers[-1] == [200, "OK"]  # the same socket does forward what the agent needs
    assert container_state(created) == "missing"
    assert container_state(bystander) == "running" and container_state(victim) == "running"
    denials = [line for line in logs(filt).splitlines() if "is not allowed" in line]
    assert len(denials) == len(requests) + 2, denials  # the two fenced bystander attempts

    # docker stop: exit 0, the socket is gone
    docker("stop", "-t", "10", filt, check=True)
    assert inspect(filt, "{{.State.ExitCode}}") == "0"
    assert dexec(node, "test", "-e", FILTER_SOCK).returncode != 0
