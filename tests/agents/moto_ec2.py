"""moto in server mode, with AWS's ``AllowReassignment`` semantics for secondary private IPs.

moto 5 (checked with 5.2.5) ignores ``AllowReassignment`` in AssignPrivateIpAddresses: the
address then sits on both interfaces, where AWS moves it (with the flag) or refuses (without
it). The cloud-vip failover relies on that documented behaviour, so this wrapper patches
moto's EC2 response handler to do what AWS does, then runs moto's own server::

    python tests/agents/moto_ec2.py -H 127.0.0.1 -p PORT      # same options as moto_server

Without the flag an address held by another interface is refused with
``InvalidParameterValue``, so a test can tell that the agent asked for reassignment.
"""

from __future__ import annotations

import sys

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses.elastic_network_interfaces import ElasticNetworkInterfaces
from moto.server import main

_assign = ElasticNetworkInterfaces.assign_private_ip_addresses


def assign_private_ip_addresses(self):  # a method of ElasticNetworkInterfaces
    eni_id = self._get_param("NetworkInterfaceId")
    wanted = set(self._get_param("PrivateIpAddresses", []) or [])
    allow = self._get_bool_param("AllowReassignment", False)
    for other in list(self.ec2_backend.enis.values()):
        if other.id == eni_id:
            continue
        for item in list(other.private_ip_addresses):
            ip = item.get("PrivateIpAddress")
            if ip not in wanted:
                continue
            if item.get("Primary"):
                raise EC2ClientError(
                    "InvalidParameterValue", f"{ip} is the primary address of {other.id}"
                )
            if not allow:
                raise EC2ClientError(
                    "InvalidParameterValue",
                    f"{ip} is already assigned to {other.id} (AllowReassignment not set)",
                )
            other.private_ip_addresses.remove(item)
    return _assign(self)


ElasticNetworkInterfaces.assign_private_ip_addresses = assign_private_ip_addresses

if __name__ == "__main__":
    main(sys.argv[1:])
