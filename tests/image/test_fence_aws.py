"""The cloud variant (`make image CLOUD=1`, pacemaker_docker:cloud) against a local
EC2-compatible API (moto, as the cloud-VIP tests use): its fence_aws (Debian 13's
fence-agents-aws), issue 24: host-level fencing for profile A in a cloud; and its
ocf:pcmk-docker:cloud-vip, with the image's own boto3 (only EC2's, STS's and SSO's API models:
image/packages/cloud.dpkg.cfg).

Credentials and the endpoint come from the container's environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL: boto3 1.28 and newer), never from the CIB. fence_aws
4.16 always asks the instance metadata service at the hard-coded 169.254.169.254 for its own
instance id before it acts; the test sends that nowhere but to its own fake metadata service,
through HTTP_PROXY (which the agent's `requests` honours), on the test network's gateway.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import threading
import time

import pytest

from tests.agents.fake_imds import FakeIMDS
from tests.image.dockerutil import (
    PASSPHRASE,
    PREFIX,
    completed,
    container_state,
    create_network,
    crm_mon,
    docker,
    fence_history,
    measure,
    pcs,
    wait_for,
    wait_formed,
)
from tests.prereq import require

REGION = "us-east-1"
MOTO_EC2 = os.path.join(os.path.dirname(__file__), "..", "agents", "moto_ec2.py")


def free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def aws(cloud_image, module_resources):
    probe = docker("run", "--rm", "--entrypoint", "sh", cloud_image, "-c", "command -v fence_aws")
    require(
        probe.returncode == 0,
        "the cloud image has no fence_aws (Debian 13's ships fence-agents-aws; on Debian 12 build "
        "with CLOUD=1 EXTRA_PACKAGES=fence-agents)",
    )
    network, subnet = create_network(module_resources, "aws")
    gateway = str(subnet[1])
    port = free_port(gateway)
    moto = subprocess.Popen(
        [sys.executable, MOTO_EC2, "-H", gateway, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
    )
    endpoint = f"http://{gateway}:{port}"
    from tests.agents.world import client

    ec2 = client(endpoint)
    try:
        wait_for(lambda: (_ping(ec2), None), 30, "moto answers")
        image = ec2.describe_images()["Images"][0]["ImageId"]
        ids = [
            ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
            for _ in range(2)
        ]
        me, victim = ids
        with FakeIMDS(instance_id=me, mac="02:00:00:00:00:01", interface_id="eni-0",
                      host=gateway) as imds:  # fmt: skip
            yield cloud_image, network, endpoint, imds, ec2, victim
    finally:
        moto.terminate()
        moto.wait(10)


def _ping(ec2) -> bool:
    try:
        ec2.describe_regions()
        return True
    except Exception:
        return False


def fence(aws, action: str) -> subprocess.CompletedProcess:
    image, network, endpoint, imds, _, victim = aws
    gateway = endpoint.split("//")[1].split(":")[0]
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": endpoint,
        "HTTP_PROXY": imds.url,  # only the metadata requests: the endpoint is in NO_PROXY
        "NO_PROXY": gateway,
    }
    return docker(
        "run", "--rm", "--network", network, "--cap-drop=ALL", "--read-only",
        *(f"-e{k}={v}" for k, v in env.items()),
        "--entrypoint", "fence_aws", image,
        f"--region={REGION}", f"--plug={victim}", f"--action={action}",
        timeout=120,
    )  # fmt: skip


def state(aws) -> str:
    ec2, victim = aws[4], aws[5]
    return ec2.describe_instances(InstanceIds=[victim])["Reservations"][0]["Instances"][0]["State"][
        "Name"
    ]


def test_fence_aws_powers_an_instance_off_and_on_with_credentials_from_the_environment(aws):
    out = fence(aws, "status")
    assert out.returncode == 0 and "Status: ON" in out.stdout, out.stdout + out.stderr
    imds = aws[3]
    imds.reset_hits()
    out = fence(aws, "off")
    assert out.returncode == 0, out.stdout + out.stderr
    assert state(aws) == "stopped"
    # its own-instance check went to the fake metadata service, nowhere else
    assert "/latest/meta-data/instance-id" in imds.paths("GET"), imds.paths()
    out = fence(aws, "status")
    assert out.returncode == 2 and "Status: OFF" in out.stdout, out.stdout + out.stderr
    out = fence(aws, "on")
    assert out.returncode == 0, out.stdout + out.stderr
    assert state(aws) == "running"


def cloud_vip(aws, action: str, **params: str) -> subprocess.CompletedProcess:
    """The image's cloud-vip, run as pacemaker-execd would (OCF_RESKEY_*), as node1."""
    image, network, endpoint, *_ = aws
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "OCF_RESOURCE_INSTANCE": "cvip",
        "OCF_RESKEY_CRM_meta_on_node": "node1",
        "OCF_RESKEY_region": REGION,
        "OCF_RESKEY_endpoint_url": endpoint,
        **{f"OCF_RESKEY_{k}": v for k, v in params.items()},
    }
    return docker(
        "run", "--rm", "--network", network, "--cap-drop=ALL", "--read-only", "--tmpfs", "/run",
        *(f"-e{k}={v}" for k, v in env.items()),
        "--entrypoint", "/usr/lib/ocf/resource.d/pcmk-docker/cloud-vip", image, action,
        timeout=120,
    )  # fmt: skip


def test_cloud_vip_moves_an_address_with_the_images_boto3(aws):
    ec2, me = aws[4], aws[3].data["instance-id"]
    eni = ec2.describe_instances(InstanceIds=[me])["Reservations"][0]["Instances"][0][
        "NetworkInterfaces"
    ][0]
    subnet = ec2.describe_subnets(SubnetIds=[eni["SubnetId"]])["Subnets"][0]["CidrBlock"]
    address = str(ipaddress.ip_network(subnet)[200])
    params = {
        "address": address,
        "instance_id": me,
        "interface_id": eni["NetworkInterfaceId"],
        "metadata_url": "http://127.0.0.1:9",  # asks nothing: instance and interface are given
    }

    def holders() -> list[str]:
        from tests.agents.world import holders

        return holders(ec2, address)

    out = cloud_vip(aws, "monitor", **params)
    assert out.returncode == 7, out.stdout + out.stderr  # not running
    out = cloud_vip(aws, "start", **params)
    assert out.returncode == 0, out.stdout + out.stderr
    assert holders() == [eni["NetworkInterfaceId"]]
    out = cloud_vip(aws, "monitor", **params)
    assert out.returncode == 0, out.stdout + out.stderr
    out = cloud_vip(aws, "stop", **params)
    assert out.returncode == 0, out.stdout + out.stderr
    assert holders() == []


class Chassis:
    """The instances' power, as the soak's IPMI simulator is for its hosts: an instance that
    moto reports stopping or stopped has its node's container killed at once."""

    def __init__(self, ec2, machines: dict[str, str]):
        self.ec2, self.machines = ec2, machines  # instance id -> container
        self.killed: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.3):
            found = self.ec2.describe_instances(InstanceIds=list(self.machines))
            for res in found["Reservations"]:
                for inst in res["Instances"]:
                    iid, now = inst["InstanceId"], inst["State"]["Name"]
                    if now in ("stopping", "stopped") and iid not in self.killed:
                        docker("kill", self.machines[iid], timeout=60)
                        self.killed[iid] = time.time()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def test_fence_aws_in_a_cluster_powers_off_a_frozen_node_for_real(aws, module_resources):
    """Two nodes of the cloud image, one fence_aws device per node (credentials from the
    containers' environment); the node on the victim instance freezes, the other fences it
    through the EC2 API, and the instance's power-off really ends that node."""
    image, network, endpoint, imds, ec2, victim = aws
    me = imds.data["instance-id"]
    gateway = endpoint.split("//")[1].split(":")[0]
    subnet = ipaddress.ip_network(f"{gateway}/24", strict=False)
    addr = {"n1": str(subnet[11]), "n2": str(subnet[12])}
    names = {n: module_resources.container(f"{PREFIX}-aws-{n}") for n in addr}
    env = {
        "PCMK_NODE_LIST": " ".join(f"{n}={a}" for n, a in addr.items()),
        "PCMK_AUTHKEY_PASSPHRASE": PASSPHRASE,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": endpoint,
        "HTTP_PROXY": imds.url,  # fence_aws's own-instance check goes to the fake IMDS only
        "NO_PROXY": gateway,
    }
    for n in addr:
        docker(
            "run", "-d", "--name", names[n], "--hostname", n, "--network", network,
            "--ip", addr[n], *(f"-e{k}={v}" for k, v in env.items()), image,
            check=True,
        )  # fmt: skip
    chassis = Chassis(ec2, {victim: names["n2"]})
    try:
        wait_formed(names["n1"], online=2, timeout=120)
        for node, plug in (("n1", me), ("n2", victim)):
            pcs(
                names["n1"], "stonith", "create", f"fence-{node}", "fence_aws",
                f"region={REGION}", f"plug={plug}", f"pcmk_host_list={node}",
                "pcmk_reboot_action=off", "op", "monitor", "interval=60s",
            )  # fmt: skip
        wait_for(
            lambda: (
                (m := crm_mon(names["n1"])) is not None
                and m.resources.get("fence-n2", {}).get("role") == "Started",
                m,
            ),
            60,
            "fence-n2 started",
        )
        t0 = time.time()
        # The cgroup freezer can fail while processes fork ("unable to freeze"): try again.
        wait_for(
            lambda: (docker("pause", names["n2"]).returncode == 0, None),
            30,
            "n2 frozen",
            interval=0.5,
        )

        def fenced():
            history = fence_history(names["n1"], "n2")
            return any(e.get("status") == "success" for e in history), history

        events = wait_for(fenced, 120, "n2 fenced through fence_aws")
        # The chassis polls the API every 0.3 s: the kill may follow the confirmation.
        wait_for(lambda: (victim in chassis.killed, chassis.killed), 30, "the instance's power off")
        assert state(aws) == "stopped"
        # pacemaker asks for a reboot; pcmk_reboot_action=off makes the device power it off
        ok = [e for e in events if e.get("status") == "success"]
        took = completed(ok[0]) - t0
        measure("fence_aws: node frozen -> instance off -> fencing confirmed", f"{took:.1f} s")
        wait_for(lambda: (container_state(names["n2"]) == "exited", None), 30, "n2 is off")
        mon = wait_formed(names["n1"], online=1, timeout=60)
        assert mon.quorate and "n2" in mon.offline, mon
    finally:
        chassis.stop()
