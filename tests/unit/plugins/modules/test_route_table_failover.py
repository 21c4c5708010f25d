"""main() of hapair.ha.route_table_failover, driven like Ansible drives it, against moto in-process."""
from __future__ import annotations

import pytest
import yaml

from ansible.module_utils import basic

from ansible_collections.hapair.ha.plugins.module_utils.aws.common import AwsError
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_table import DEFAULT_MAX_CONCURRENCY
from ansible_collections.hapair.ha.plugins.module_utils.common.aws_module import connection_argument_spec
from ansible_collections.hapair.ha.plugins.modules import route_table_failover

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    import contextlib
    import json
    from unittest import mock

    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args):
        with mock.patch.object(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))):
            yield

VIP = "10.1.0.10/32"


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


def _exit_json(_module, **kwargs):
    kwargs.setdefault("changed", False)
    raise ExitJson(kwargs)


def _fail_json(_module, **kwargs):
    raise FailJson(kwargs)


@pytest.fixture(autouse=True)
def _patch_exit(monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail_json)


def run_module(args, check_mode=False, diff=False):
    """Run main(); return (outcome, result) with outcome 'exit' or 'fail'."""
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        try:
            route_table_failover.main()
        except ExitJson as done:
            return "exit", done.args[0]
        except FailJson as failed:
            return "fail", failed.args[0]
    raise AssertionError("main() neither exited nor failed")


@pytest.fixture
def lab(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_URL", "AWS_ENDPOINT_URL",
                 "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    with moto.mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        instances = ec2.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2, SubnetId=subnet)["Instances"]
        enis = [i["NetworkInterfaces"][0]["NetworkInterfaceId"] for i in instances]
        tables = []
        for _attempt in range(3):
            rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
            ec2.create_route(RouteTableId=rt, DestinationCidrBlock=VIP, NetworkInterfaceId=enis[0])
            tables.append(rt)
        yield {"ec2": ec2, "vpc": vpc, "eni_a": enis[0], "eni_b": enis[1], "tables": tables,
               "instance_b": instances[1]["InstanceId"]}


def current(lab_):
    found = {}
    for rt in lab_["ec2"].describe_route_tables(RouteTableIds=lab_["tables"])["RouteTables"]:
        found[rt["RouteTableId"]] = next(r.get("NetworkInterfaceId") for r in rt["Routes"]
                                         if r.get("DestinationCidrBlock") == VIP)
    return found


def test_switch_then_idempotent(lab):
    args = {"vip": "10.1.0.10", "route_table_ids": lab["tables"], "network_interface_id": lab["eni_b"]}
    outcome, result = run_module(args)
    assert outcome == "exit", result
    assert result["changed"] is True
    assert [t["route_table_id"] for t in result["route_tables"]] == lab["tables"]
    assert all(t["previous_target"] == lab["eni_a"] and t["changed"] for t in result["route_tables"])
    assert result["source_dest_check"]["changed"] is True  # moto's default is on; the module turns it off
    assert "diff" not in result
    assert current(lab) == {t: lab["eni_b"] for t in lab["tables"]}

    outcome, result = run_module(args)
    assert (outcome, result["changed"]) == ("exit", False)
    assert result["api_calls"] == 2


def test_check_mode_with_diff_changes_nothing(lab):
    outcome, result = run_module({"vip": VIP, "vpc_id": lab["vpc"], "instance_id": lab["instance_b"]},
                                 check_mode=True, diff=True)
    assert outcome == "exit", result
    assert result["changed"] is True
    assert result["diff"]["before"]["route_tables"] == {t: lab["eni_a"] for t in lab["tables"]}
    assert result["diff"]["after"]["route_tables"] == {t: lab["eni_b"] for t in lab["tables"]}
    assert current(lab) == {t: lab["eni_a"] for t in lab["tables"]}


def test_aliases_and_connection_options(lab):
    outcome, result = run_module({"vip": VIP, "route_tables": lab["tables"][:1], "eni_id": lab["eni_b"],
                                  "aws_region": "us-east-1", "aws_access_key_id": "testing",
                                  "aws_secret_access_key": "testing", "source_dest_check": True})
    assert outcome == "exit", result
    assert result["source_dest_check"] == {"network_interface_id": lab["eni_b"], "previous": True,
                                           "desired": True, "changed": False}


@pytest.mark.parametrize("args, message", [
    ({"vip": "10.1.0.0/24"}, "is a /24 network"),
    ({"vip": "fd00::1"}, "IPv6"),
    ({"vip": "10.1.0.999"}, "not a valid IPv4 address"),
    ({"route_table_ids": ["rtb-0123456789abcdef0"]}, "route table not found"),
])
def test_bad_input_fails_once_and_changes_nothing(lab, args, message):
    base = {"vip": VIP, "route_table_ids": lab["tables"], "network_interface_id": lab["eni_b"]}
    outcome, result = run_module(dict(base, **args))
    assert outcome == "fail"
    assert result["msg"].startswith(f"Failed to point the route for {dict(base, **args)['vip']} at {lab['eni_b']}: ")
    assert message in result["msg"]
    assert current(lab) == {t: lab["eni_a"] for t in lab["tables"]}


@pytest.mark.parametrize("args, message", [
    ({"vip": VIP, "network_interface_id": "eni-1"}, "one of the following is required: route_table_ids, vpc_id"),
    ({"vip": VIP, "vpc_id": "vpc-1"}, "one of the following is required: network_interface_id, instance_id"),
    ({"vip": VIP, "vpc_id": "vpc-1", "network_interface_id": "eni-1", "instance_id": "i-1"}, "mutually exclusive"),
    ({"vpc_id": "vpc-1", "network_interface_id": "eni-1"}, "missing required arguments: vip"),
])
def test_argument_spec_rules(lab, args, message):
    outcome, result = run_module(args)
    assert outcome == "fail"
    assert message in result["msg"]


def test_profile_with_keys_is_refused_without_leaking_the_secret(lab):
    outcome, result = run_module({"vip": VIP, "vpc_id": lab["vpc"], "network_interface_id": lab["eni_b"],
                                  "profile": "prod", "secret_key": "s3cr3t-value"})
    assert outcome == "fail"
    assert "profile and access keys" in result["msg"]
    assert "s3cr3t-value" not in repr(result)


def test_secret_options_are_no_log():
    spec = connection_argument_spec()
    assert spec["secret_key"]["no_log"] and spec["session_token"]["no_log"]


def test_legacy_aliases_still_work(lab):
    outcome, result = run_module({"vip": VIP, "route_tables": lab["tables"][:1], "eni_id": lab["eni_b"],
                                  "ec2_region": "us-east-1", "ec2_access_key": "testing",
                                  "ec2_secret_key": "testing", "security_token": "token"}, check_mode=True)
    assert outcome == "exit", result
    assert result["changed"] is True


def test_endpoint_url_from_aws_endpoint_url_or_ec2_url(lab, monkeypatch):
    seen = []

    def aws_client(module, *_args, **_kwargs):
        seen.append(module.params["endpoint_url"])
        raise AwsError("stopped before any call")

    monkeypatch.setattr(route_table_failover, "aws_client", aws_client)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://ec2.example.invalid")
    base = {"vip": VIP, "vpc_id": lab["vpc"], "network_interface_id": lab["eni_b"]}
    assert run_module(base)[0] == "fail"
    assert run_module(dict(base, ec2_url="https://vpce.example.invalid"))[0] == "fail"
    assert seen == ["https://ec2.example.invalid", "https://vpce.example.invalid"]


def test_no_region_fails_with_one_clear_message(lab, monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    outcome, result = run_module({"vip": VIP, "vpc_id": lab["vpc"], "network_interface_id": lab["eni_b"]})
    assert outcome == "fail"
    assert result["msg"] == (f"Failed to point the route for {VIP} at {lab['eni_b']}: "
                             "no AWS region: set the region option, AWS_REGION or AWS_DEFAULT_REGION")


# ---- max_concurrency ----------------------------------------------------------------------


def test_max_concurrency_is_documented_with_the_module_utils_default():
    option = yaml.safe_load(route_table_failover.DOCUMENTATION)["options"]["max_concurrency"]
    assert option["type"] == "int"
    assert option["default"] == DEFAULT_MAX_CONCURRENCY


@pytest.mark.parametrize("value", [None, 3])
def test_max_concurrency_reaches_the_client_and_the_work(lab, monkeypatch, value):
    seen = {}
    real_aws_client, real_ensure = route_table_failover.aws_client, route_table_failover.ensure_route_target

    def aws_client(*args, **kwargs):
        client = real_aws_client(*args, **kwargs)
        seen["pool_for"] = kwargs.get("max_concurrency")
        seen["pool"] = client.client.meta.config.max_pool_connections
        seen["botocore_retries"] = client.client.meta.config.retries
        return client

    def ensure_route_target(*args, **kwargs):
        seen["ensure"] = kwargs.get("max_concurrency")
        return real_ensure(*args, **kwargs)

    monkeypatch.setattr(route_table_failover, "aws_client", aws_client)
    monkeypatch.setattr(route_table_failover, "ensure_route_target", ensure_route_target)
    args = {"vip": VIP, "route_table_ids": lab["tables"], "network_interface_id": lab["eni_b"]}
    if value is not None:
        args["max_concurrency"] = value
    outcome, result = run_module(args)
    assert outcome == "exit", result
    expected = DEFAULT_MAX_CONCURRENCY if value is None else value
    assert seen == {"pool_for": expected, "ensure": expected, "pool": max(10, expected),
                    "botocore_retries": {"total_max_attempts": 1, "mode": "standard"}}
    assert [t["route_table_id"] for t in result["route_tables"]] == lab["tables"]
    assert current(lab) == {t: lab["eni_b"] for t in lab["tables"]}


@pytest.mark.parametrize("value", [0, -2])
def test_max_concurrency_below_1_is_refused_before_the_client_is_made(monkeypatch, value):
    def aws_client(*_args, **_kwargs):
        raise AssertionError("no client for a bad max_concurrency")

    monkeypatch.setattr(route_table_failover, "aws_client", aws_client)
    outcome, result = run_module({"vip": VIP, "vpc_id": "vpc-0123456789abcdef0",
                                  "network_interface_id": "eni-0123456789abcdef0", "max_concurrency": value})
    assert outcome == "fail"
    assert result["msg"] == (f"Failed to point the route for {VIP} at eni-0123456789abcdef0: "
                             f"max_concurrency must be an integer of at least 1, got {value}")
