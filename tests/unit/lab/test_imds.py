"""The IMDS emulator's tree and HTTP behaviour, on 127.0.0.1 with an ephemeral port."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from tests.lab import imds

CFG = {
    "instance_id": "i-0123", "instance_type": "t3.medium", "ami_id": "ami-1", "account_id": "123456789012",
    "region": "eu-west-1", "availability_zone": "eu-west-1a", "hostname": "ip-198-19-0-10.ec2.internal",
    "vpc_cidr": "198.19.0.0/20", "instance_profile": "role-x", "http_tokens": "required",
    "interfaces": [
        {"device_index": 1, "interface_id": "eni-b", "local_ipv4": "198.19.1.10", "mac": "02:00:00:00:00:02",
         "subnet_id": "subnet-b", "subnet_cidr": "198.19.1.0/24", "vpc_id": "vpc-1"},
        {"device_index": 0, "interface_id": "eni-a", "local_ipv4": "198.19.0.10", "mac": "02:00:00:00:00:01",
         "subnet_id": "subnet-a", "subnet_cidr": "198.19.0.0/24", "vpc_id": "vpc-1"},
    ],
}


def test_tree_primary_interface_is_device_zero():
    tree = imds.build_tree(CFG)
    assert imds.lookup(tree, "/meta-data/mac") == (200, "02:00:00:00:00:01")
    assert imds.lookup(tree, "/meta-data/local-ipv4") == (200, "198.19.0.10")
    assert imds.lookup(tree, "/meta-data/network/interfaces/macs/02:00:00:00:00:02/interface-id") == (200, "eni-b")
    assert imds.lookup(tree, "/meta-data/network/interfaces/macs/02:00:00:00:00:02/device-number") == (200, "1")
    status, listing = imds.lookup(tree, "/meta-data/placement/")
    assert status == 200 and listing.split("\n") == ["availability-zone", "region"]
    assert imds.lookup(tree, "/meta-data/nope") == (404, None)
    doc = json.loads(imds.lookup(tree, "/dynamic/instance-identity/document")[1])
    assert (doc["instanceId"], doc["region"], doc["privateIp"]) == ("i-0123", "eu-west-1", "198.19.0.10")
    creds = json.loads(imds.lookup(tree, "/meta-data/iam/security-credentials/role-x")[1])
    assert creds["Code"] == "Success" and creds["AccessKeyId"]


def test_no_instance_profile_no_iam_tree():
    tree = imds.build_tree(dict(CFG, instance_profile=None))
    assert imds.lookup(tree, "/meta-data/iam/info") == (404, None)


@pytest.fixture()
def server(tmp_path):
    cfg = tmp_path / "imds.json"
    cfg.write_text(json.dumps(CFG))
    imds.Handler.config_path = str(cfg)
    srv = imds.Server(("127.0.0.1", 0), imds.Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", cfg
    srv.shutdown()
    srv.server_close()


def _req(url, method="GET", headers=None):
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=b"" if method == "PUT" else None)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


def test_imdsv2_token_flow(server):
    base, cfg = server
    assert _req(f"{base}/latest/meta-data/instance-id")[0] == 401
    assert _req(f"{base}/latest/api/token", "PUT")[0] == 400  # TTL header required
    assert _req(f"{base}/latest/api/token", "PUT", {imds.TOKEN_TTL_HEADER: "99999"})[0] == 400
    status, token = _req(f"{base}/latest/api/token", "PUT", {imds.TOKEN_TTL_HEADER: "60"})
    assert status == 200 and len(token) > 20
    assert _req(f"{base}/latest/meta-data/instance-id", headers={imds.TOKEN_HEADER: token}) == (200, "i-0123")
    assert _req(f"{base}/latest/meta-data/instance-id", headers={imds.TOKEN_HEADER: "forged"})[0] == 401
    # the config is re-read on every request (a moto reset + re-seed is seen at once)
    cfg.write_text(json.dumps(dict(CFG, instance_id="i-new", http_tokens="optional")))
    assert _req(f"{base}/latest/meta-data/instance-id", headers={imds.TOKEN_HEADER: token}) == (200, "i-new")
    assert _req(f"{base}/latest/meta-data/instance-id") == (200, "i-new")  # IMDSv1 allowed now
