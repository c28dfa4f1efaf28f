"""Fixtures for the resource-agent tests (their helpers: tests/helpers/agents.py).

- ``moto_server``: moto in server mode (``moto_ec2.py``: moto plus AWS's AllowReassignment
  semantics) on 127.0.0.1:<free port> for the whole session, stopped at the end;
- ``world``: a fresh moto state (reset) with a VPC, a subnet, two instances and two route
  tables;
- ``agent``: runs ``agents/cloud-vip/cloud-vip`` the way pacemaker-execd does (a subprocess,
  parameters as ``OCF_RESKEY_*``), per simulated node (each with its own ``HA_RSCTMP``);
- ``make_cluster`` / ``cluster_prereqs``: the cluster harness fixtures of tests/cluster.

No test lets anything leave the machine: every boto3 client has an explicit local
``endpoint_url``, the agent always gets a local ``metadata_url`` (a closed port unless a
test serves one), and boto3's own instance-metadata lookups are disabled unless a test
points them at its fake.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

import pytest

from tests.cluster.conftest import (  # noqa: F401 (fixtures and the report hook they use)
    cluster_prereqs,
    make_cluster,
    pytest_runtest_makereport,
)
from tests.helpers.agents import (
    MOTO_EC2,
    Agent,
    closed_port_url,
    free_port,
    missing_modules,
    require_moto,
    wait_http,
)
from tests.helpers.prereq import require


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    require_moto()
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(MOTO_EC2), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/", 30, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def ec2(moto_server):
    from tests.agents.world import client

    return client(moto_server)


@pytest.fixture
def world(moto_server, ec2):
    from tests.agents.world import create_world

    req = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=10).close()
    return create_world(ec2)


@pytest.fixture
def agent(tmp_path, moto_server):
    return Agent(tmp_path, moto_server)


@pytest.fixture
def offline_agent(tmp_path):
    """For actions that must not need the API (meta-data, validate-all)."""
    missing = missing_modules("boto3")
    require(not missing, "boto3 not installed (pip install -e '.[test]')")
    return Agent(tmp_path, closed_port_url())
