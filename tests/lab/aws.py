"""The lab's fake AWS: a moto server in its own network namespace, and the EC2 model of the
lab's hosts (VPC, subnets, one instance per ``ec2`` host with an ENI per network).

moto stands in for EC2 and Route 53 only; see ../../../shared/LAB-NOTES.md (and
tests/lab/README.md) for what it models and what it does not.
"""
from __future__ import annotations

import json
import os
import time
import urllib.request

import boto3
from botocore.config import Config

from .topology import Topology

MOTO_PORT = 5000
ACCOUNT_ID = "123456789012"  # moto's default account
# moto ships this AMI in every region's default set.
AMI_ID = "ami-12c6146b"
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def endpoint(topo: Topology) -> str:
    return f"http://{topo.moto_ip}:{MOTO_PORT}"


def client(topo: Topology, service: str, **kwargs):
    """A boto3 client for the lab's moto server (fake credentials, no retries hidden)."""
    return boto3.client(
        service,
        endpoint_url=endpoint(topo),
        region_name=kwargs.pop("region_name", topo.region),
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30),
        **FAKE_CREDENTIALS,
        **kwargs,
    )


def reset(topo: Topology) -> None:
    req = urllib.request.Request(f"{endpoint(topo)}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (lab address)
        resp.read()


def wait_ready(topo: Topology, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{endpoint(topo)}/moto-api/", timeout=2) as resp:  # noqa: S310
                resp.read()
            # The first EC2 call loads moto's EC2 backend (~1 s): pay it here, not in a test.
            client(topo, "ec2").describe_vpcs()
            return
        except Exception as err:  # noqa: BLE001 - retried until the deadline
            last = err
            time.sleep(0.2)
    raise RuntimeError(f"moto server at {endpoint(topo)} did not answer within {timeout}s: {last}")


def seed(topo: Topology) -> dict:
    """Create the EC2 model of the lab in moto; returns the ids (also used for IMDS)."""
    ec2 = client(topo, "ec2")
    region = topo.region

    def tag(kind: str, name: str) -> list:
        return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}, {"Key": "hapair-lab", "Value": topo.name}]}]

    vpc_id = ec2.create_vpc(CidrBlock=str(topo.vpc_cidr), TagSpecifications=tag("vpc", f"lab-{topo.name}"))["Vpc"]["VpcId"]
    subnets = {}
    for sn in topo.subnets:
        resp = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=str(sn.cidr),
            AvailabilityZone=f"{region}{sn.az}",
            TagSpecifications=tag("subnet", sn.name),
        )
        subnets[sn.name] = {"id": resp["Subnet"]["SubnetId"], "cidr": str(sn.cidr), "az": f"{region}{sn.az}", "network": sn.network}

    instances = {}
    for host in topo.hosts.values():
        if host.ec2 is None:
            continue
        first_net = host.networks[0]
        first_subnet = subnets[topo.subnet_for(host.name, first_net).name]
        resp = ec2.run_instances(
            ImageId=AMI_ID,
            MinCount=1,
            MaxCount=1,
            InstanceType=host.ec2.get("instance_type", "t3.medium"),
            SubnetId=first_subnet["id"],
            PrivateIpAddress=str(topo.host_ip(host.name, first_net)),
            TagSpecifications=tag("instance", host.name),
        )
        inst = resp["Instances"][0]
        interfaces = [
            {
                "network": first_net,
                "device_index": 0,
                "interface_id": inst["NetworkInterfaces"][0]["NetworkInterfaceId"],
                "subnet_id": first_subnet["id"],
                "subnet_cidr": first_subnet["cidr"],
                "local_ipv4": str(topo.host_ip(host.name, first_net)),
                "mac": topo.mac(host.name, first_net),
                "vpc_id": vpc_id,
            }
        ]
        for device_index, net in enumerate(host.networks[1:], start=1):
            sn = subnets[topo.subnet_for(host.name, net).name]
            eni = ec2.create_network_interface(
                SubnetId=sn["id"],
                PrivateIpAddress=str(topo.host_ip(host.name, net)),
                Description=f"{host.name} {net}",
            )["NetworkInterface"]["NetworkInterfaceId"]
            ec2.attach_network_interface(DeviceIndex=device_index, InstanceId=inst["InstanceId"], NetworkInterfaceId=eni)
            interfaces.append(
                {
                    "network": net,
                    "device_index": device_index,
                    "interface_id": eni,
                    "subnet_id": sn["id"],
                    "subnet_cidr": sn["cidr"],
                    "local_ipv4": str(topo.host_ip(host.name, net)),
                    "mac": topo.mac(host.name, net),
                    "vpc_id": vpc_id,
                }
            )
        instances[host.name] = {
            "instance_id": inst["InstanceId"],
            "availability_zone": first_subnet["az"],
            "interfaces": interfaces,
        }
    return {"endpoint_url": endpoint(topo), "region": region, "vpc_id": vpc_id, "vpc_cidr": str(topo.vpc_cidr), "subnets": subnets, "instances": instances}


def imds_config(topo: Topology, host: str, model: dict) -> dict:
    inst = model["instances"][host]
    spec = topo.hosts[host].ec2 or {}
    return {
        "instance_id": inst["instance_id"],
        "instance_type": spec.get("instance_type", "t3.medium"),
        "ami_id": AMI_ID,
        "account_id": ACCOUNT_ID,
        "region": model["region"],
        "availability_zone": inst["availability_zone"],
        "hostname": f"ip-{inst['interfaces'][0]['local_ipv4'].replace('.', '-')}.ec2.internal",
        "vpc_cidr": model["vpc_cidr"],
        "interfaces": inst["interfaces"],
        "instance_profile": spec.get("instance_profile"),
        "http_tokens": spec.get("http_tokens", "required"),
    }


def dump(path, data) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)
