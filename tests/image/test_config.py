"""What `docker run` does with bad settings, with a command after the image name, and with
--dry-run. All in containers without a network (--network none), removed on exit (--rm)."""

from __future__ import annotations

import re

from tests.image.dockerutil import docker


def run(image: str, *args: str, env: dict[str, str] | None = None):
    opts = [f"-e={k}={v}" for k, v in (env or {}).items()]
    return docker("run", "--rm", "--network", "none", *opts, image, *args, timeout=60)


def test_bad_node_list_is_refused_with_exit_2(built_image):
    out = run(built_image, env={"PCMK_NODE_LIST": "garbage{"})
    assert out.returncode == 2, out.stdout + out.stderr
    assert "PCMK_NODE_LIST" in out.stderr and "garbage{" in out.stderr, out.stderr
    assert "nothing was written or started" in out.stderr
    assert "started corosync" not in out.stdout + out.stderr


def test_every_problem_is_listed_at_once(built_image):
    out = run(built_image, env={"PCMK_NODELIST": "192.0.2.1", "PCMK_TRANSPORT": "carrier-pigeon"})
    assert out.returncode == 2, out.stdout + out.stderr
    assert "2 problems" in out.stderr, out.stderr
    assert "did you mean PCMK_NODE_LIST?" in out.stderr
    assert "PCMK_TRANSPORT" in out.stderr


def test_a_command_after_the_image_runs_instead_of_the_cluster(built_image):
    out = run(built_image, "crm_mon", "--version")
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.match(r"Pacemaker [23]\.", out.stdout), out.stdout  # 2.1 (Debian 12), 3.0 (13)
    assert "[pcmk-launch]" not in out.stdout  # no cluster start
    missing = run(built_image, "no-such-command")
    assert missing.returncode == 127 and "no-such-command" in missing.stderr, missing


def test_dry_run_prints_the_config_and_starts_nothing(built_image):
    out = run(built_image, "--dry-run")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "dry run: nothing is written or started" in out.stdout
    assert "standalone" in out.stdout
    assert "--- /etc/corosync/corosync.conf ---" in out.stdout
    assert "cluster_name: docker" in out.stdout and "ring0_addr: 127.0.0.1" in out.stdout
    assert "started corosync" not in out.stdout
