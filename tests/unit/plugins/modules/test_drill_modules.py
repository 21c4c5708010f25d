"""main() of hapair.ha.drill_report and hapair.ha.drill_routes_info, as Ansible runs them (the
second against moto in-process)."""
from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET

import pytest

from ansible.module_utils import basic

from ansible_collections.hapair.ha.plugins.modules import drill_report, drill_routes_info

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    import contextlib

    from unittest import mock

    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args):
        with mock.patch.object(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))):
            yield

T0 = 1767268800.0
VIP = "10.1.0.10/32"


class Done(Exception):
    pass


@pytest.fixture(autouse=True)
def _patch_exit(monkeypatch):
    def exit_json(_module, **kwargs):
        raise Done(("exit", kwargs))

    def fail_json(_module, **kwargs):
        raise Done(("fail", kwargs))
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


def run(main, args, check_mode=False):
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)):
        try:
            main()
        except Done as done:
            return done.args[0]
    raise AssertionError("main() neither exited nor failed")


def report_args(dest):
    return {
        "dest": str(dest), "name": "failover-drill-gl-1-gl-2", "title": "Failover drill: gl-1 + gl-2",
        "summary": {"pair": "gl-1, gl-2"},
        "phases": [{"name": "checks", "start": T0, "end": T0 + 10},
                   {"name": "takeover", "label": "VIP served by gl-2", "start": "fault", "end": "served_by_peer",
                    "end_fallback": "watch_timeout", "kind": "outage", "clock": "client-1"}],
        "events": [{"name": "fault", "at": str(T0 + 12), "clock": "gl-1"}],
        "watch_log": f"start {T0 + 11}\nprobe {T0 + 11} {T0 + 11.1} 0 old\nserved_by_peer {T0 + 13} {T0 + 13.5}\n",
        "watch_clock": "client-1", "rto_start": "fault",
        "marker": {"checked": True, "written": True, "before": True, "after": True},
        "checks": [{"name": "restored", "ok": True, "detail": "gl-1 BACKUP"}],
    }


def test_drill_report_writes_three_files(tmp_path):
    outcome, result = run(drill_report.main, report_args(tmp_path / "r"))
    assert outcome == "exit", result
    assert result["changed"] and result["ok"] and result["rto_seconds"] == 1.5 and result["total_seconds"] == 13.5
    assert json.loads(open(result["paths"]["json"], encoding="utf-8").read())["rto_seconds"] == 1.5
    assert open(result["paths"]["markdown"], encoding="utf-8").read() == result["markdown"]
    ET.parse(result["paths"]["svg"])
    phases = result["report"]["phases"]
    assert [(p["name"], p["status"], p["seconds"]) for p in phases] == [("checks", "ok", 10.0), ("takeover", "ok", 1.5)]


def test_drill_report_check_mode(tmp_path):
    outcome, result = run(drill_report.main, report_args(tmp_path / "r"), check_mode=True)
    assert outcome == "exit" and not result["changed"] and not (tmp_path / "r").exists()
    assert result["markdown"].startswith("# Failover drill: gl-1 + gl-2")


def test_drill_report_bad_input(tmp_path):
    args = report_args(tmp_path)
    args["phases"][0]["status"] = "great"
    outcome, result = run(drill_report.main, args)
    assert outcome == "fail" and "status must be one of" in result["msg"]


boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")


@pytest.fixture
def vpc(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_URL", "AWS_ENDPOINT_URL",
                 "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_REGION", "us-east-1"), ("AWS_DEFAULT_REGION", "us-east-1"),
                        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
                        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")):
        monkeypatch.setenv(name, value)
    with moto.mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        enis = [ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"] for _eni in (1, 2)]
        tables = []
        for _table in range(3):
            rtb = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
            ec2.create_route(RouteTableId=rtb, DestinationCidrBlock=VIP, NetworkInterfaceId=enis[0])
            tables.append(rtb)
        yield {"ec2": ec2, "vpc": vpc_id, "old": enis[0], "new": enis[1], "tables": tables}


def test_drill_routes_info_sees_the_switch(vpc, monkeypatch):
    """The tables move to the new ENI just before the module's second poll."""
    real = drill_routes_info.describe_route_tables
    calls = []

    def describe(*args, **kwargs):
        calls.append(time.time())
        if len(calls) == 2:
            for rtb in vpc["tables"]:
                vpc["ec2"].replace_route(RouteTableId=rtb, DestinationCidrBlock=VIP, NetworkInterfaceId=vpc["new"])
        return real(*args, **kwargs)
    monkeypatch.setattr(drill_routes_info, "describe_route_tables", describe)
    outcome, result = run(drill_routes_info.main, {"vip": "10.1.0.10", "vpc_id": vpc["vpc"],
                                                   "network_interface_id": vpc["new"], "timeout": 30, "interval": 0.05})
    assert outcome == "exit", result
    assert result["changed"] is False and result["switched"] and result["failed_polls"] == 0
    assert result["polls"] == 2 and calls[0] <= result["last_other_at"] <= calls[1] <= result["switched_at"]
    assert [t["route_table_id"] for t in result["tables"]] == sorted(vpc["tables"])
    assert {t["target_before"] for t in result["tables"]} == {vpc["old"]}
    assert {t["on_target_at"] for t in result["tables"]} == {result["switched_at"]}


def test_drill_routes_info_times_out(vpc):
    outcome, result = run(drill_routes_info.main, {"vip": VIP, "route_table_ids": vpc["tables"][:2],
                                                   "network_interface_id": vpc["new"], "timeout": 0.3})
    assert outcome == "exit" and not result["switched"] and result["switched_at"] is None
    assert {t["target_now"] for t in result["tables"]} == {vpc["old"]} and len(result["tables"]) == 2


@pytest.mark.parametrize("args, message", [
    ({"vip": "10.1.0.0/24", "vpc_id": "vpc-12345678"}, "is a /24 network"),
    ({"vip": VIP}, "give route_table_ids and/or vpc_id"),
])
def test_drill_routes_info_bad_input(vpc, args, message):
    outcome, result = run(drill_routes_info.main, dict(args, network_interface_id=vpc["new"]))
    assert outcome == "fail" and message in result["msg"], result
