"""resource-agents' ocf-tester passes for cloud-vip against moto (issue 9).

ocf-tester runs the agent file itself, so this is also the test that its shebang
(``#!/usr/bin/python3``) works with Debian's python3-boto3, as in the image. It checks the
meta-data against ra-api-1.dtd, the permissions (meta-data as user nobody), and the
monitor/start/stop sequence with its idempotence rules.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.helpers.agents import AGENT, REGION, closed_port_url, fake_imds
from tests.helpers.prereq import require, require_commands

OCF_TESTER = "/usr/sbin/ocf-tester"


@pytest.fixture
def installed_agent():
    """A copy in a world-readable dir: ocf-tester runs meta-data as nobody, who may not
    reach the work tree (or pytest's 0700 tmp dirs)."""
    require_commands("xmllint", "su")
    require(os.access(OCF_TESTER, os.X_OK), f"{OCF_TESTER} missing (Debian: resource-agents)")
    probe = subprocess.run(
        ["/usr/bin/python3", "-c", "import boto3"], capture_output=True, text=True
    )
    require(probe.returncode == 0, "/usr/bin/python3 cannot import boto3 (python3-boto3)")
    d = Path(tempfile.mkdtemp(prefix="cloud-vip-ocf-tester-"))
    try:
        d.chmod(0o755)
        path = d / "cloud-vip"
        shutil.copy2(AGENT, path)
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(d, ignore_errors=True)


def ocf_tester(agent_path: Path, params: dict[str, str], tmp_path: Path):
    state = tmp_path / "rsctmp"
    state.mkdir(exist_ok=True)
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(tmp_path),
        "HA_RSCTMP": str(state),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    argv = [OCF_TESTER, "-n", "cvip"]
    for k, v in params.items():
        argv += ["-o", f"{k}={v}"]
    argv.append(str(agent_path))
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )


def assert_passed(res) -> None:
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "passed all tests" in out, out
    assert "* rc=" not in out, out


def test_ocf_tester_secondary_ip_with_metadata_discovery(
    installed_agent, world, moto_server, tmp_path
):
    a = world.instances[0]
    with fake_imds(instance_id=a.instance_id, mac=a.mac, interface_id=a.interface_id) as imds:
        res = ocf_tester(
            installed_agent,
            {
                "address": "10.0.1.100",
                "mode": "secondary-ip",
                "region": REGION,
                "endpoint_url": moto_server,
                "metadata_url": imds.url,
            },
            tmp_path,
        )
    assert_passed(res)


def test_ocf_tester_route_mode(installed_agent, world, moto_server, tmp_path):
    a = world.instances[0]
    res = ocf_tester(
        installed_agent,
        {
            "address": "172.31.250.10",
            "mode": "route",
            "route_tables": ",".join(world.route_tables),
            "region": REGION,
            "endpoint_url": moto_server,
            "instance_id": a.instance_id,
            "metadata_url": closed_port_url(),
        },
        tmp_path,
    )
    assert_passed(res)
