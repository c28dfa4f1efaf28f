"""The lean Pacemaker Remote image (`make image-remote`, pacemaker_docker:remote) with the
real pacemaker-remoted, driven by a real full node.

The image: no corosync or pacemakerd, PCMK_ROLE=remote preset, TCP 3121 exposed; its size is
reported beside the full image's. Then a standalone full node and a remote container share a
user network and one remote key (the same passphrase): the full node adds the remote with an
ocf:pacemaker:remote resource (no pcsd), the remote comes online in crm_mon, a Dummy runs on
it, and `docker stop` of the remote moves the Dummy away first and exits 0.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.image.dockerutil import (
    PREFIX,
    ROOT,
    create_network,
    crm_mon,
    dexec,
    docker,
    health_status,
    inspect,
    logs,
    measure,
    wait_for,
    wait_formed,
)

REMOTE_IMAGE = "pacemaker_docker:remote"
KEY = {"PCMK_REMOTE_AUTHKEY_PASSPHRASE": "pdtest remote passphrase, not a secret"}


@pytest.fixture(scope="module")
def remote_image(built_image) -> str:
    out = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "image-remote", f"REMOTE_IMAGE={REMOTE_IMAGE}"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, f"make image-remote:\n{out.stdout[-3000:]}{out.stderr[-3000:]}"
    sizes = {
        tag: int(docker("image", "inspect", "-f", "{{.Size}}", tag, check=True).stdout) / 1e6
        for tag in (built_image, REMOTE_IMAGE)
    }
    measure("image size: full / remote", " / ".join(f"{v:.0f} MB" for v in sizes.values()))
    return REMOTE_IMAGE


def sh(image: str, script: str) -> subprocess.CompletedProcess:
    return docker("run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", script)


def test_remote_image_has_pacemaker_remoted_and_no_cluster_daemons(remote_image):
    out = sh(remote_image, "command -v pacemaker-remoted; command -v corosync pacemakerd pcs")
    assert out.stdout.split() == ["/usr/sbin/pacemaker-remoted"], out.stdout + out.stderr
    assert "PCMK_ROLE=remote" in inspect(remote_image, "{{json .Config.Env}}")
    assert "3121/tcp" in inspect(remote_image, "{{json .Config.ExposedPorts}}")


def test_remote_without_a_key_is_refused_with_exit_2(remote_image, resources):
    # named and registered: if it ran instead of refusing, cleanup removes it
    name = resources.container(f"{PREFIX}-remote-nokey")
    out = docker("run", "--rm", "--name", name, "--network", "none", remote_image, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "PCMK_REMOTE_AUTHKEY" in out.stderr, out.stderr


def run_node(image: str, name: str, network: str, ip: str, env: dict[str, str]) -> None:
    opts = [f"-e={k}={v}" for k, v in env.items()]
    docker(
        "run", "-d", "--name", name, "--hostname", name, "--network", network, "--ip", ip,
        "--cap-add=NET_ADMIN", *opts, image,
        check=True,
    )  # fmt: skip


def remote_online(full: str, remote: str):
    def probe():
        mon = crm_mon(full)
        node = (mon.nodes.get(remote) if mon else None) or {}
        return node.get("type") == "remote" and node.get("online") == "true", mon

    return probe


def test_full_node_runs_a_resource_on_the_remote_and_its_stop_moves_it(
    built_image, remote_image, resources
):
    network, subnet = create_network(resources, "remote")
    full = resources.container(f"{PREFIX}-full")
    remote = resources.container(f"{PREFIX}-remote")
    full_ip, remote_ip = str(subnet[10]), str(subnet[21])
    run_node(built_image, full, network, full_ip, KEY)
    run_node(remote_image, remote, network, remote_ip, KEY)
    wait_formed(full, online=1, timeout=90)
    wait_for(lambda: (health_status(remote) == "healthy", health_status(remote)), 90,
             f"{remote} healthy (pacemaker-remoted listening)", container=remote)  # fmt: skip

    t0 = time.monotonic()
    for args in (
        ["resource", "create", remote, "ocf:pacemaker:remote", f"server={remote_ip}",
         "reconnect_interval=30", "op", "monitor", "interval=10", "--force"],
        ["resource", "create", "pdtest-dummy", "ocf:pacemaker:Dummy"],
        ["constraint", "location", "pdtest-dummy", "prefers", f"{remote}=100"],
    ):  # fmt: skip
        out = dexec(full, "pcs", *args, timeout=60)
        assert out.returncode == 0, f"pcs {args}: {out.stdout}{out.stderr}"
    wait_for(remote_online(full, remote), 90, f"{remote} online as a remote node", container=full)
    measure("remote: resource created -> remote node online", f"{time.monotonic() - t0:.1f}s")

    def dummy_on(node: str):
        def probe():
            mon = crm_mon(full)
            r = (mon.resources.get("pdtest-dummy") if mon else None) or {}
            return r.get("role") == "Started" and r.get("nodes") == [node], mon

        return probe

    wait_for(dummy_on(remote), 90, "Dummy started on the remote", container=full)
    status = dexec(remote, "pcmk-launch", "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    assert json.loads(status.stdout)["connected"] is True, status.stdout

    stop = docker("stop", "-t", "60", remote, timeout=90)
    assert stop.returncode == 0, stop.stderr
    assert inspect(remote, "{{.State.ExitCode}}") == "0", logs(remote)[-3000:]
    # pacemaker-remoted asked the cluster to move the Dummy before it stopped
    wait_for(dummy_on(full), 60, "Dummy moved to the full node", container=full)
    mon = crm_mon(full)
    failed = dexec(full, "crm_mon", "--one-shot", "--output-as=xml")
    assert "<failure " not in failed.stdout, failed.stdout
    assert mon is not None


HARDENED_REMOTE = [
    "--security-opt=no-new-privileges", "--read-only",
    "--tmpfs=/run", "--tmpfs=/tmp", "--tmpfs=/var/log", "--tmpfs=/etc/pacemaker",
]  # fmt: skip


@pytest.mark.parametrize("caps", [["--cap-add=CHOWN"], []], ids=["chown", "none"])
def test_a_hardened_remote_needs_only_chown(remote_image, resources, caps):
    """Measured: with CHOWN alone (every other capability dropped, no privilege gain, a
    read-only root) a remote starts, listens and stops with 0; without it the launcher
    refuses at once, naming CAP_CHOWN."""
    name = resources.container(f"{PREFIX}-remote-hard-{'chown' if caps else 'none'}")
    env = [f"-e{k}={v}" for k, v in KEY.items()]
    docker(
        "run", "-d", "--name", name, "--network", "none", "--cap-drop=ALL", *caps,
        *HARDENED_REMOTE, *env, remote_image,
        check=True,
    )  # fmt: skip
    if not caps:
        wait_for(lambda: ((s := inspect(name, "{{.State.Status}}")) == "exited", s), 60, "refused")
        assert inspect(name, "{{.State.ExitCode}}") == "2"
        assert "CAP_CHOWN: " in logs(name) and "--cap-add=CHOWN" in logs(name)
        return
    wait_for(
        lambda: ((h := dexec(name, "pcmk-launch", "health")).returncode == 0, h.stdout),
        60, "remote healthy", container=name,
    )  # fmt: skip
    assert docker("stop", "-t", "60", name, timeout=90).returncode == 0
    assert inspect(name, "{{.State.ExitCode}}") == "0", logs(name)[-2000:]
