"""Unit tests for plugins/module_utils/aws/imds.py against a stdlib HTTP server on 127.0.0.1."""
from __future__ import annotations

import socket

import pytest
from aws_stubs import IDENTITY, MAC, TOKEN

from ansible_collections.hapair.ha.plugins.module_utils.aws.common import AwsError
from ansible_collections.hapair.ha.plugins.module_utils.aws.imds import ImdsClient


def test_primary_interface_and_region(imds):
    client = ImdsClient(imds.url, timeout=2)
    assert client.primary_interface() == {"mac": MAC, "network_interface_id": "eni-0bbbbbbbbbbbbbbb2",
                                          "vpc_id": "vpc-0aaaaaaaaaaaaaaa1"}
    assert client.region() == "eu-west-1"
    methods = [(m, p) for m, p, _h in imds.requests]
    assert methods[0] == ("PUT", "/latest/api/token")
    assert methods.count(("PUT", "/latest/api/token")) == 1  # the token is reused
    assert ("GET", "/latest/meta-data/mac") in methods
    assert ("GET", "/latest/meta-data/placement/region") in methods
    put_headers = imds.requests[0][2]
    assert int(put_headers.get("X-aws-ec2-metadata-token-ttl-seconds")) > 0
    assert imds.requests[1][2].get("X-aws-ec2-metadata-token") == TOKEN


def test_a_5xx_is_retried_once(imds):
    imds.fail_next = [503]
    client = ImdsClient(imds.url, timeout=2)
    assert client.region() == "eu-west-1"


@pytest.mark.parametrize("status", [403, 404, 405])
def test_token_refused_is_a_clear_error(imds, status):
    imds.token_status = status
    with pytest.raises(AwsError) as caught:
        ImdsClient(imds.url, timeout=2).region()
    assert f"HTTP {status}" in str(caught.value)
    assert "IMDSv2" in str(caught.value)
    assert len(imds.requests) == 1  # a 4xx is an answer, not retried


@pytest.mark.parametrize("key, value, what", [
    ("mac", "not-a-mac", "MAC address"),
    (f"network/interfaces/macs/{MAC}/interface-id", "<html>", "interface id"),
    (f"network/interfaces/macs/{MAC}/vpc-id", "", "VPC id"),
])
def test_garbage_metadata_is_rejected(imds, key, value, what):
    imds.metadata[key] = value
    with pytest.raises(AwsError, match=f"invalid {what}"):
        ImdsClient(imds.url, timeout=2).primary_interface()


def test_missing_path_is_an_error(imds):
    del imds.metadata["placement/region"]
    with pytest.raises(AwsError, match="HTTP 404"):
        ImdsClient(imds.url, timeout=2).region()


def test_unreachable_service_fails_fast():
    # A port nobody listens on: connection refused, no hang.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(AwsError, match="is this an EC2 instance"):
        ImdsClient(f"http://127.0.0.1:{port}", timeout=0.5).region()


@pytest.mark.parametrize("url", ["", "169.254.169.254", "ftp://x", None])
def test_bad_base_url(url):
    with pytest.raises(AwsError, match="invalid IMDS URL"):
        ImdsClient(url)


def test_proxy_environment_is_ignored(imds, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    assert ImdsClient(imds.url, timeout=2).region() == "eu-west-1"


# ---- metadata_facts: what hapair.ha.instance_metadata_facts returns --------------------------

def test_metadata_facts_have_ec2_metadata_facts_names_in_six_requests(imds):
    from ansible_collections.hapair.ha.plugins.module_utils.aws.imds import metadata_facts

    facts = metadata_facts(ImdsClient(imds.url, timeout=2))
    mac = MAC.replace(":", "_")
    assert facts["ec2_mac"] == MAC
    assert facts[f"ec2_network_interfaces_macs_{mac}_interface_id"] == "eni-0bbbbbbbbbbbbbbb2"
    assert facts[f"ec2_network_interfaces_macs_{mac}_vpc_id"] == "vpc-0aaaaaaaaaaaaaaa1"
    assert facts["ec2_instance_id"] == IDENTITY["instanceId"]
    assert facts["ec2_placement_region"] == "eu-west-1"
    assert facts["ec2_instance_identity_document_accountid"] == "123456789012"
    assert facts["ec2_instance_identity_document_availabilityzone"] == "eu-west-1a"
    assert facts["ec2_services_partition"] == "aws"
    assert len(imds.requests) == 6, [(m, p) for m, p, _h in imds.requests]


def test_metadata_facts_without_a_partition_leave_it_out(imds):
    from ansible_collections.hapair.ha.plugins.module_utils.aws.imds import metadata_facts

    del imds.metadata["services/partition"]
    facts = metadata_facts(ImdsClient(imds.url, timeout=2))
    assert "ec2_services_partition" not in facts and facts["ec2_instance_id"] == IDENTITY["instanceId"]


@pytest.mark.parametrize("document, message", [
    ("not json", "invalid identity document"),
    ('{"instanceId": "i-0123456789abcdef0", "accountId": "12", "region": "eu-west-1"}', "invalid accountId"),
    ('{"accountId": "123456789012", "region": "eu-west-1"}', "invalid instanceId"),
])
def test_a_bad_identity_document_is_a_clear_error(imds, document, message):
    from ansible_collections.hapair.ha.plugins.module_utils.aws.imds import metadata_facts

    imds.identity = document
    with pytest.raises(AwsError) as caught:
        metadata_facts(ImdsClient(imds.url, timeout=2))
    assert message in str(caught.value)


def test_a_failure_carries_its_http_status(imds):
    # what metadata_facts tells a missing key (404) from a refused or unreachable service by
    imds.token_status = 403
    with pytest.raises(AwsError) as caught:
        ImdsClient(imds.url, timeout=2).region()
    assert caught.value.details == {"url": f"{imds.url}/latest/api/token", "status": 403}
    with pytest.raises(AwsError) as caught:
        ImdsClient("http://127.0.0.1:9", timeout=1).region()
    assert caught.value.details["status"] is None
