"""A small EC2 world in moto for the cloud-vip tests: VPC, subnet, instances, route tables.

Used in-process (``create_world(client(url))``) and, inside a simulated host that can reach
the moto host, as a program printing JSON::

    python tests/agents/world.py --endpoint URL create --instances 3 --subnet-cidr 10.0.1.0/24
    python tests/agents/world.py --endpoint URL holders --address 10.0.1.100

Every client here gets an explicit ``endpoint_url`` and dummy keys: nothing leaves the
machine, and boto3's credential chain (with its instance metadata lookup) is never asked.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass, field

import boto3

REGION = "us-east-1"
AMI = "ami-12c6146b"  # one of moto's built-in images


@dataclass
class Instance:
    instance_id: str
    interface_id: str
    mac: str
    private_ip: str


@dataclass
class World:
    vpc_id: str
    subnet_id: str
    instances: list[Instance]
    route_tables: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> World:
        data = json.loads(text)
        data["instances"] = [Instance(**i) for i in data["instances"]]
        return cls(**data)


def client(endpoint_url: str):
    # loopback, the namespace hosts' 192.0.2.0/24, the image tests' networks in 198.18.0.0/15
    if not endpoint_url.startswith(
        ("http://127.", "http://192.0.2.", "http://198.18.", "http://198.19.")
    ):
        raise ValueError(f"refusing a non-local EC2 endpoint: {endpoint_url}")
    return boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def create_world(
    ec2,
    instances: int = 2,
    vpc_cidr: str = "10.0.0.0/16",
    subnet_cidr: str = "10.0.1.0/24",
    route_tables: int = 2,
) -> World:
    vpc = ec2.create_vpc(CidrBlock=vpc_cidr)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
    made = ec2.run_instances(ImageId=AMI, MinCount=instances, MaxCount=instances, SubnetId=subnet)[
        "Instances"
    ]
    out = []
    for inst in made:
        eni = inst["NetworkInterfaces"][0]
        out.append(
            Instance(
                inst["InstanceId"],
                eni["NetworkInterfaceId"],
                eni["MacAddress"],
                eni["PrivateIpAddress"],
            )
        )
        # Route mode needs it off, as on AWS (the agent warns otherwise).
        ec2.modify_network_interface_attribute(
            NetworkInterfaceId=eni["NetworkInterfaceId"], SourceDestCheck={"Value": False}
        )
    rtbs = [
        ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"] for _ in range(route_tables)
    ]
    return World(vpc, subnet, out, rtbs)


def holders(ec2, address: str) -> list[str]:
    """Interfaces that have ``address`` as a secondary private IP (scans them all: moto's
    addresses.private-ip-address filter only sees primaries)."""
    found = []
    for eni in ec2.describe_network_interfaces()["NetworkInterfaces"]:
        for a in eni.get("PrivateIpAddresses", []):
            if a.get("PrivateIpAddress") == address and not a.get("Primary"):
                found.append(eni["NetworkInterfaceId"])
    return sorted(found)


def routes(ec2, route_tables: list[str], cidr: str) -> dict[str, str | None]:
    """route table -> target (interface or instance id) of its ``cidr`` entry, or None."""
    out: dict[str, str | None] = {}
    for t in ec2.describe_route_tables(RouteTableIds=route_tables)["RouteTables"]:
        target = None
        for r in t.get("Routes", []):
            if r.get("DestinationCidrBlock") == cidr:
                target = r.get("NetworkInterfaceId") or r.get("InstanceId") or "other"
        out[t["RouteTableId"]] = target
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="moto world for the cloud-vip tests")
    ap.add_argument("--endpoint", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    c.add_argument("--instances", type=int, default=2)
    c.add_argument("--vpc-cidr", default="10.0.0.0/16")
    c.add_argument("--subnet-cidr", default="10.0.1.0/24")
    c.add_argument("--route-tables", type=int, default=1)
    h = sub.add_parser("holders")
    h.add_argument("--address", required=True)
    args = ap.parse_args(argv)
    ec2 = client(args.endpoint)
    if args.cmd == "create":
        world = create_world(
            ec2, args.instances, args.vpc_cidr, args.subnet_cidr, args.route_tables
        )
        print(world.to_json())
    else:
        print(json.dumps(holders(ec2, args.address)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
