"""ocf:pcmk-docker:cloud-vip against a real EC2-compatible HTTP endpoint (moto in server mode).

Issue 9. The agent runs as a subprocess with OCF_RESKEY_* parameters, exactly as
pacemaker-execd runs it; two "nodes" (A and B) are two instances in moto, each with its own
HA_RSCTMP. Checks exit codes, idempotence, failover, validation, meta-data, identity
discovery through a fake instance metadata service (IMDSv2 token, IMDSv1 fallback, timeout)
and that a monitor costs one API call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.agents.world import holders, routes
from tests.helpers.agents import AGENT, REGION, closed_port_url, fake_imds
from tests.helpers.prereq import require, require_commands

VIP = "10.0.1.100"
OVERLAY = "172.31.250.10"  # route mode: an address outside the VPC


def sip(world, node: int, **extra: str) -> dict[str, str]:
    """secondary-ip parameters with explicit ids for instance ``node`` of the world."""
    inst = world.instances[node]
    return {
        "address": VIP,
        "mode": "secondary-ip",
        "instance_id": inst.instance_id,
        "interface_id": inst.interface_id,
        **extra,
    }


def route(world, node: int, **extra: str) -> dict[str, str]:
    inst = world.instances[node]
    return {
        "address": OVERLAY,
        "mode": "route",
        "route_tables": ",".join(world.route_tables),
        "instance_id": inst.instance_id,
        **extra,
    }


def imds_for(world, node: int, **kwargs):
    inst = world.instances[node]
    return fake_imds(
        instance_id=inst.instance_id, mac=inst.mac, interface_id=inst.interface_id, **kwargs
    )


# --------------------------------------------------------------------------
# meta-data, usage, validation (no API needed)


def test_meta_data_is_ocf_1_1(tmp_path):
    # No OCF_ROOT, no parameters, no boto3 needed: what `crm_resource --show-metadata` does.
    res = subprocess.run(
        [sys.executable, "-S", str(AGENT), "meta-data"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=30,
    )
    assert res.returncode == 0, res.stderr
    root = ET.fromstring(res.stdout)
    assert root.tag == "resource-agent" and root.get("name") == "cloud-vip"
    assert root.findtext("version") == "1.1"
    assert root.find("longdesc").get("lang") == "en" and root.findtext("shortdesc")
    params = {p.get("name"): p for p in root.iter("parameter")}
    for name in (
        "address",
        "mode",
        "region",
        "endpoint_url",
        "interface_id",
        "instance_id",
        "instance_map",
        "metadata_url",
        "route_tables",
        "interface",
        "add_local",
        "api_timeout",
        "retries",
    ):
        p = params[name]
        assert p.find("longdesc").get("lang") == "en" and p.findtext("longdesc").strip()
        assert p.find("shortdesc").get("lang") == "en" and p.findtext("shortdesc").strip()
        content = p.find("content")
        assert content.get("type") in ("string", "integer", "boolean")
        assert content.get("default") is not None
    assert params["address"].get("required") == "1"
    assert params["metadata_url"].find("content").get("default") == "http://169.254.169.254"
    assert not [n for n in params if any(w in n for w in ("secret", "access_key", "token"))]
    actions = {a.get("name"): a for a in root.iter("action")}
    assert {"start", "stop", "monitor", "validate-all", "meta-data"} <= set(actions)
    assert all(a.get("timeout", "").endswith("s") for a in actions.values())
    assert actions["monitor"].get("interval")


@pytest.mark.parametrize(
    "schema, args",
    [
        # What ocf-tester checks (cwd: the DTD's dir, as the DOCTYPE names it relatively).
        ("/usr/share/resource-agents/ra-api-1.dtd", ["--valid"]),
        # What pcs checks before it accepts an OCF 1.1 agent.
        ("/usr/share/pcs/data/ocf-1.1.rng", ["--relaxng", "/usr/share/pcs/data/ocf-1.1.rng"]),
    ],
)
def test_meta_data_validates(schema, args):
    require_commands("xmllint")
    require(os.path.exists(schema), f"{schema} missing (resource-agents, pcs)")
    xml = subprocess.run(
        [sys.executable, str(AGENT), "meta-data"], capture_output=True, text=True, timeout=30
    ).stdout
    lint = subprocess.run(
        ["xmllint", "--noout", *args, "-"],
        input=xml,
        capture_output=True,
        text=True,
        cwd=os.path.dirname(schema),
        timeout=30,
    )
    assert lint.returncode == 0, lint.stderr
    assert "error" not in lint.stderr, lint.stderr


@pytest.mark.parametrize(
    "argv, rc",
    [([], 2), (["usage"], 0), (["promote"], 3), (["notify"], 3), (["reload"], 3)],
)
def test_usage_and_unimplemented_actions(argv, rc):
    res = subprocess.run(
        [sys.executable, str(AGENT), *argv], capture_output=True, text=True, timeout=30
    )
    assert res.returncode == rc, res.stderr


VALID = {"address": VIP, "instance_id": "i-0123", "interface_id": "eni-0123"}


@pytest.mark.parametrize(
    "params, rc, reason",
    [
        ({**VALID}, 0, ""),
        ({**VALID, "address": ""}, 6, "address is required"),
        ({**VALID, "address": "10.0.1.300"}, 6, "not an IP address"),
        ({**VALID, "address": "fd00::1"}, 6, "only IPv4"),
        ({**VALID, "mode": "elastic"}, 6, "mode="),
        ({**VALID, "mode": "route"}, 6, "needs route_tables"),
        ({**VALID, "api_timeout": "soon"}, 6, "not an integer"),
        ({**VALID, "retries": "-1"}, 6, "at least 0"),
        ({**VALID, "add_local": "maybe"}, 6, "not a boolean"),
        ({**VALID, "endpoint_url": "ftp://x"}, 6, "not an http(s) URL"),
        ({**VALID, "instance_map": "nodeA"}, 6, "NODE:INSTANCE_ID"),
        ({**VALID, "instance_map": "nodeB:i-1;nodeC:i-2"}, 2, "not in instance_map"),
        ({**VALID, "add_local": "true", "interface": "pdnosuch0"}, 2, "does not exist here"),
    ],
)
def test_validate_all(offline_agent, params, rc, reason):
    res = offline_agent.run("validate-all", params)
    assert res.rc == rc, res
    assert reason in res.exit_reason, res


@pytest.mark.parametrize(
    "name",
    ["aws_access_key_id", "aws_secret_access_key", "access_key", "secret", "session_token"],
)
def test_credentials_as_parameters_are_refused(offline_agent, name):
    value = "AKIAVERYSECRETVALUE42"
    for action in ("validate-all", "start", "monitor", "stop"):
        res = offline_agent.run(action, {**VALID, name: value})
        assert res.rc == 6, res
        assert name in res.exit_reason and "clear text" in res.exit_reason
        assert value not in res.stdout + res.stderr  # never echoed into logs


def test_boto3_missing_is_not_installed(offline_agent):
    # -S: no site-packages, so no boto3 (the stdlib is all the agent needs before that).
    res = offline_agent.run("validate-all", VALID, python=[sys.executable, "-S"])
    assert res.rc == 5, res
    assert "boto3" in res.exit_reason
    res = offline_agent.run("meta-data", VALID, python=[sys.executable, "-S"])
    assert res.rc == 0


# --------------------------------------------------------------------------
# secondary-ip mode


def test_secondary_ip_lifecycle_and_idempotence(agent, world, ec2):
    a = world.instances[0]
    assert agent.run("monitor", sip(world, 0)).rc == 7
    res = agent.run("stop", sip(world, 0))  # stop when stopped
    assert res.rc == 0, res
    assert "UnassignPrivateIpAddresses" not in res.api_calls

    res = agent.run("start", sip(world, 0))
    assert res.rc == 0, res
    assert res.api_calls.count("AssignPrivateIpAddresses") == 1
    assert holders(ec2, VIP) == [a.interface_id]
    assert agent.run("monitor", sip(world, 0)).rc == 0

    res = agent.run("start", sip(world, 0))  # start when started: no change
    assert res.rc == 0, res
    assert res.api_calls == ["DescribeNetworkInterfaces"]

    res = agent.run("stop", sip(world, 0))
    assert res.rc == 0, res
    assert "UnassignPrivateIpAddresses" in res.api_calls
    assert holders(ec2, VIP) == []
    assert agent.run("monitor", sip(world, 0)).rc == 7
    assert agent.run("stop", sip(world, 0)).rc == 0


def test_secondary_ip_failover_takes_the_address(agent, world, ec2):
    a, b = world.instances
    assert agent.run("start", sip(world, 0), node="nodeA").rc == 0
    assert holders(ec2, VIP) == [a.interface_id]

    # Node A "dies"; pacemaker starts the resource on B: AllowReassignment moves it.
    res = agent.run("start", sip(world, 1), node="nodeB")
    assert res.rc == 0, res
    assert holders(ec2, VIP) == [b.interface_id]
    assert agent.run("monitor", sip(world, 1), node="nodeB").rc == 0
    assert agent.run("monitor", sip(world, 0), node="nodeA").rc == 7

    # A comes back and is told to stop (or probes): it must not take it from B.
    res = agent.run("stop", sip(world, 0), node="nodeA")
    assert res.rc == 0, res
    assert "UnassignPrivateIpAddresses" not in res.api_calls
    assert holders(ec2, VIP) == [b.interface_id]

    assert agent.run("stop", sip(world, 1), node="nodeB").rc == 0
    assert holders(ec2, VIP) == []


def test_the_fake_refuses_reassignment_without_the_flag(world, ec2):
    """The failover above proves AllowReassignment is sent: without it, as on AWS, moving
    an address held by another interface is refused."""
    a, b = world.instances
    ec2.assign_private_ip_addresses(NetworkInterfaceId=a.interface_id, PrivateIpAddresses=[VIP])
    with pytest.raises(ec2.exceptions.ClientError, match="AllowReassignment"):
        ec2.assign_private_ip_addresses(NetworkInterfaceId=b.interface_id, PrivateIpAddresses=[VIP])
    assert holders(ec2, VIP) == [a.interface_id]


def test_primary_address_is_a_configuration_error(agent, world):
    res = agent.run("start", {**sip(world, 0), "address": world.instances[0].private_ip})
    assert res.rc == 6, res
    assert "primary address" in res.exit_reason


def test_unknown_interface_is_a_configuration_error(agent, world):
    res = agent.run("monitor", {**sip(world, 0), "interface_id": "eni-0000000000000000f"})
    assert res.rc == 6, res


# --------------------------------------------------------------------------
# route mode


def test_route_mode_lifecycle_failover_and_stop(agent, world, ec2):
    a, b = world.instances
    cidr = f"{OVERLAY}/32"
    rtbs = world.route_tables
    # One table already has the entry, pointing elsewhere: start replaces it; the other
    # has none: start creates it.
    ec2.create_route(
        RouteTableId=rtbs[0], DestinationCidrBlock=cidr, NetworkInterfaceId=b.interface_id
    )
    assert agent.run("monitor", route(world, 0)).rc == 7

    res = agent.run("start", route(world, 0))
    assert res.rc == 0, res
    assert sorted(res.api_calls).count("ReplaceRoute") == 1
    assert sorted(res.api_calls).count("CreateRoute") == 1
    assert routes(ec2, rtbs, cidr) == {t: a.interface_id for t in rtbs}
    assert agent.run("monitor", route(world, 0)).rc == 0
    res = agent.run("start", route(world, 0))
    assert res.rc == 0 and res.api_calls == ["DescribeRouteTables"], res

    # Failover to B.
    res = agent.run("start", route(world, 1), node="nodeB")
    assert res.rc == 0, res
    assert routes(ec2, rtbs, cidr) == {t: b.interface_id for t in rtbs}
    assert agent.run("monitor", route(world, 0)).rc == 7
    assert agent.run("monitor", route(world, 1), node="nodeB").rc == 0
    # A's stop leaves B's routes alone.
    res = agent.run("stop", route(world, 0))
    assert res.rc == 0 and "DeleteRoute" not in res.api_calls, res
    assert routes(ec2, rtbs, cidr) == {t: b.interface_id for t in rtbs}

    # B's stop deletes the entries that point at it (see README: route-mode stop).
    res = agent.run("stop", route(world, 1), node="nodeB")
    assert res.rc == 0, res
    assert res.api_calls.count("DeleteRoute") == 2
    assert routes(ec2, rtbs, cidr) == {t: None for t in rtbs}
    assert agent.run("monitor", route(world, 1), node="nodeB").rc == 7
    assert agent.run("stop", route(world, 1), node="nodeB").rc == 0


def test_route_mode_partly_ours_is_a_failure(agent, world, ec2):
    a, b = world.instances
    cidr = f"{OVERLAY}/32"
    t1, t2 = world.route_tables
    ec2.create_route(RouteTableId=t1, DestinationCidrBlock=cidr, NetworkInterfaceId=a.interface_id)
    ec2.create_route(RouteTableId=t2, DestinationCidrBlock=cidr, NetworkInterfaceId=b.interface_id)
    res = agent.run("monitor", route(world, 0))
    assert res.rc == 1, res
    assert "partly active" in res.exit_reason
    # Recovery (pacemaker stops, then starts): stop removes only our entry.
    assert agent.run("stop", route(world, 0)).rc == 0
    assert routes(ec2, [t1, t2], cidr) == {t1: None, t2: b.interface_id}
    assert agent.run("start", route(world, 0)).rc == 0
    assert routes(ec2, [t1, t2], cidr) == {t1: a.interface_id, t2: a.interface_id}


def test_route_mode_unknown_table_is_a_configuration_error(agent, world):
    res = agent.run("monitor", {**route(world, 0), "route_tables": "rtb-00000000000000bad"})
    assert res.rc == 6, res


# --------------------------------------------------------------------------
# identity: instance metadata (IMDSv2, IMDSv1), instance_map, cache


def test_discovery_imdsv2_and_cheap_monitor(agent, world, ec2):
    a = world.instances[0]
    with imds_for(world, 0, require_token=True) as imds:
        params = {"address": VIP, "metadata_url": imds.url, "region": ""}
        res = agent.run("start", params)
        assert res.rc == 0, res
        assert holders(ec2, VIP) == [a.interface_id]
        # A token first, then every GET with it; region from placement/region.
        assert imds.hits[0][:2] == ("PUT", "/latest/api/token")
        assert all(ok for m, _, ok in imds.hits if m == "GET")
        got = {p.rsplit("/meta-data/", 1)[1] for p in imds.paths("GET")}
        assert {"instance-id", "mac", "placement/region"} <= got
        cached = json.loads(agent.state_file().read_text())
        assert (cached["instance_id"], cached["interface_id"], cached["region"]) == (
            a.instance_id,
            a.interface_id,
            REGION,
        )
        assert agent.state_file().stat().st_mode & 0o077 == 0

        imds.reset_hits()
        res = agent.run("monitor", params)
        assert res.rc == 0, res
        assert res.api_calls == ["DescribeNetworkInterfaces"]  # one call...
        assert imds.hits == []  # ...and no metadata request
        assert agent.run("stop", params).rc == 0
        assert imds.hits == []


def test_discovery_falls_back_to_imdsv1(agent, world, ec2):
    a = world.instances[0]
    with imds_for(world, 0, v2=False) as imds:
        res = agent.run("start", {"address": VIP, "metadata_url": imds.url})
        assert res.rc == 0, res
        assert imds.paths("PUT") == ["/latest/api/token"]  # tried, 404
        assert not any(ok for m, _, ok in imds.hits if m == "GET")  # v1: no token
        assert holders(ec2, VIP) == [a.interface_id]


def test_discovery_times_out(agent, world):
    with imds_for(world, 0, delay=5) as imds:
        res = agent.run(
            "start", {"address": VIP, "metadata_url": imds.url, "metadata_timeout": "1"}
        )
    assert res.rc == 1, res
    assert "instance metadata" in res.exit_reason
    assert res.elapsed < 4.5, res  # token PUT (1 s) + one GET (1 s), not 5 s each
    assert not agent.state_file().exists()


def test_metadata_unreachable_without_ids_is_an_error(agent, world):
    res = agent.run("monitor", {"address": VIP, "metadata_url": closed_port_url()})
    assert res.rc == 1, res
    assert "instance metadata" in res.exit_reason


def test_instance_map_finds_the_interface_through_the_api(agent, world, ec2):
    a, b = world.instances
    params = {
        "address": VIP,
        "instance_map": f"nodeA:{a.instance_id};nodeB:{b.instance_id}",
    }
    res = agent.run("start", params, node="nodeB")
    assert res.rc == 0, res
    assert holders(ec2, VIP) == [b.interface_id]
    res = agent.run("monitor", params, node="nodeB")
    assert res.rc == 0 and res.api_calls == ["DescribeNetworkInterfaces"], res
    assert agent.run("monitor", params, node="nodeA").rc == 7
    # A node that is not in the map cannot run it: validate/start 2, probe 7, stop 0.
    assert agent.run("validate-all", params, node="nodeC").rc == 2
    assert agent.run("start", params, node="nodeC").rc == 2
    assert agent.run("monitor", params, node="nodeC").rc == 7
    assert agent.run("stop", params, node="nodeC").rc == 0
    assert agent.run("stop", params, node="nodeB").rc == 0
    assert holders(ec2, VIP) == []


def test_changed_parameters_invalidate_the_cache(agent, world, ec2):
    a, b = world.instances
    with imds_for(world, 0) as imds:
        assert agent.run("start", {"address": VIP, "metadata_url": imds.url}).rc == 0
    # Same node, now mapped to B: the cached A identity must not be used.
    params = {"address": VIP, "instance_map": f"nodeA:{b.instance_id}"}
    assert agent.run("start", params).rc == 0
    assert holders(ec2, VIP) == [b.interface_id]


# --------------------------------------------------------------------------
# credentials and API failures


def test_instance_role_credentials_from_metadata(agent, world, ec2):
    a = world.instances[0]
    with imds_for(world, 0, credentials=True) as imds:
        extra = {
            # boto3 may ask the metadata service, but only this one.
            "AWS_EC2_METADATA_DISABLED": "false",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url + "/",
        }
        params = {"address": VIP, "metadata_url": imds.url}
        res = agent.run("start", params, extra=extra, credentials=False)
        assert res.rc == 0, res
        assert any("iam/security-credentials/" in p for p in imds.paths("GET"))
        assert holders(ec2, VIP) == [a.interface_id]


def test_no_credentials_is_an_api_error(agent, world):
    res = agent.run("monitor", sip(world, 0), credentials=False)
    assert res.rc == 1, res
    assert "NoCredentials" in res.exit_reason


def test_api_unreachable_fails_within_the_timeouts(agent, world):
    params = {**sip(world, 0), "endpoint_url": closed_port_url(), "api_timeout": "1"}
    for action in ("monitor", "start", "stop"):
        res = agent.run(action, {**params, "retries": "1"})
        assert res.rc == 1, res
        assert "API error" in res.exit_reason
        assert res.elapsed < 20, res


def test_operation_timeout_caps_the_retries(agent, world):
    # 5 retries of 2 x 4 s would take 48 s; a 10 s monitor timeout leaves room for one.
    params = {**sip(world, 0), "endpoint_url": closed_port_url(), "api_timeout": "4"}
    res = agent.run(
        "monitor", {**params, "retries": "5"}, extra={"OCF_RESKEY_CRM_meta_timeout": "10000"}
    )
    assert res.rc == 1, res
    assert "1 attempt(s) per request fit the 10s timeout" in res.stderr
