"""Fixtures for the AWS area's unit tests: stubbed EC2 clients and moto, never the network."""
from __future__ import annotations


import pytest

from aws_stubs import VIP, FakeImds

boto3 = pytest.importorskip("boto3")
from botocore.stub import Stubber  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture
def ec2():
    """A real botocore EC2 client whose every request is answered by a Stubber."""
    client = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield client, stubber


@pytest.fixture
def aws_env(monkeypatch):
    """Fake credentials for moto; no real account, no shared config files."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_URL", "AWS_ENDPOINT_URL",
                 "AWS_EC2_METADATA_SERVICE_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


@pytest.fixture
def moto_vpc(aws_env):  # pylint: disable=redefined-outer-name,unused-argument
    """moto in-process: a VPC, two instances (ENI A, ENI B) and 3 tables routing the VIP to A."""
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        client = boto3.client("ec2", region_name="us-east-1")
        vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = client.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        instances = client.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2,
                                         SubnetId=subnet)["Instances"]
        enis = [i["NetworkInterfaces"][0]["NetworkInterfaceId"] for i in instances]
        tables = []
        for _attempt in range(3):
            rt = client.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
            client.create_route(RouteTableId=rt, DestinationCidrBlock=VIP, NetworkInterfaceId=enis[0])
            tables.append(rt)
        spare = client.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        other_vpc = client.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        other_subnet = client.create_subnet(VpcId=other_vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
        other_eni = client.create_network_interface(SubnetId=other_subnet)["NetworkInterface"]["NetworkInterfaceId"]
        yield {
            "client": client,
            "vpc": vpc,
            "eni_a": enis[0],
            "eni_b": enis[1],
            "instance_a": instances[0]["InstanceId"],
            "instance_b": instances[1]["InstanceId"],
            "tables": tables,
            "spare_table": spare,
            "other_vpc": other_vpc,
            "other_eni": other_eni,
        }


@pytest.fixture
def imds():
    """A fake IMDSv2 (stdlib http.server) on 127.0.0.1, ephemeral port; ``imds.url`` is its base."""
    with FakeImds.running() as server:
        yield server
