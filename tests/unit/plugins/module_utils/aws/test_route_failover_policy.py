"""The IAM policy of hapair-route-failover (plugins/module_utils/aws/route_failover_policy.py) and
its filter: the statements per setting, bad input, and parliament's lint of every variant
(failing on any finding above LOW, and on parliament's INVALID group, which it rates LOW).

parliament checks the policy's grammar, that every action exists, that each action's resources
are of a type the action takes and that the condition keys apply to them (its copy of the
Service Authorization Reference). That the actions are enough for the command - and each of
them needed - is tested against moto in test_route_failover_iam_moto.py.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.hapair.ha.plugins.filter.aws import FilterModule
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_policy import (
    PolicyError,
    policy_actions,
    route_failover_policy,
)

RTB1, RTB2 = "rtb-0a1b2c3d4e5f60718", "rtb-0f1e2d3c4b5a69788"
VPC = "vpc-0123456789abcdef0"
ENI1, ENI2 = "eni-0aaaaaaaaaaaaaaa1", "eni-0bbbbbbbbbbbbbbb2"
ACCOUNT = "123456789012"
ARN = f"arn:aws:ec2:eu-west-1:{ACCOUNT}"
NODE = {"self": True, "source_dest_check": "keep"}  # what the vip_route role writes


def policy(**settings):
    return route_failover_policy(dict(NODE, **settings), region="eu-west-1", account_id=ACCOUNT)


def statement(doc, sid):
    found = [s for s in doc["Statement"] if s["Sid"] == sid]
    assert len(found) == 1, doc
    return found[0]


# ---- what the policy allows, per setting ----------------------------------------------------


def test_listed_tables_only_their_arns():
    doc = policy(route_table_ids=[RTB2, RTB1, RTB1])
    assert doc["Version"] == "2012-10-17"
    assert [s["Sid"] for s in doc["Statement"]] == ["DescribeTheRoutes", "MoveTheVipRouteInTheListedTables"]
    assert statement(doc, "DescribeTheRoutes") == {
        "Sid": "DescribeTheRoutes", "Effect": "Allow", "Action": ["ec2:DescribeRouteTables"], "Resource": "*"}
    move = statement(doc, "MoveTheVipRouteInTheListedTables")
    assert move["Action"] == ["ec2:ReplaceRoute"]
    assert move["Resource"] == [f"{ARN}:route-table/{RTB1}", f"{ARN}:route-table/{RTB2}"]
    assert "Condition" not in move
    assert policy_actions(doc) == ["ec2:DescribeRouteTables", "ec2:ReplaceRoute"]


def test_create_missing_adds_create_route_on_the_listed_tables_only():
    doc = policy(route_table_ids=[RTB1], vpc_id=VPC, create_missing=True)
    assert statement(doc, "MoveTheVipRouteInTheListedTables")["Action"] == ["ec2:CreateRoute", "ec2:ReplaceRoute"]
    # a table found through the VPC has the route already: it is only ever replaced
    assert statement(doc, "MoveTheVipRouteInTheTablesOfTheVpc")["Action"] == ["ec2:ReplaceRoute"]


def test_vpc_every_table_of_the_vpc_by_condition_not_by_arn():
    """The command finds the VPC's tables at failover time: a table added later must be covered,
    so the policy names no table - it names the VPC (condition key ec2:Vpc of route-table)."""
    doc = policy(vpc_id=VPC)
    assert [s["Sid"] for s in doc["Statement"]] == ["DescribeTheRoutes", "MoveTheVipRouteInTheTablesOfTheVpc"]
    move = statement(doc, "MoveTheVipRouteInTheTablesOfTheVpc")
    assert move == {"Sid": "MoveTheVipRouteInTheTablesOfTheVpc", "Effect": "Allow", "Action": ["ec2:ReplaceRoute"],
                    "Resource": f"{ARN}:route-table/*",
                    "Condition": {"ArnEquals": {"ec2:Vpc": f"{ARN}:vpc/{VPC}"}}}
    assert "rtb-" not in json.dumps(doc)


def test_unknown_region_or_account_uses_arnlike():
    doc = route_failover_policy(dict(NODE, vpc_id=VPC))
    move = statement(doc, "MoveTheVipRouteInTheTablesOfTheVpc")
    assert move["Resource"] == "arn:aws:ec2:*:*:route-table/*"
    assert move["Condition"] == {"ArnLike": {"ec2:Vpc": f"arn:aws:ec2:*:*:vpc/{VPC}"}}


def test_partition_goes_into_every_arn():
    doc = route_failover_policy(dict(NODE, route_table_ids=[RTB1], vpc_id=VPC), partition="aws-cn",
                                region="cn-north-1", account_id=ACCOUNT)
    text = json.dumps(doc)
    assert "arn:aws:" not in text and text.count(f"arn:aws-cn:ec2:cn-north-1:{ACCOUNT}:") == 3


def test_the_node_never_describes_or_modifies_its_eni_with_self_and_keep():
    """The role's settings (self, keep): the ENI and its VPC come from IMDS, source/destination
    check is not looked at - route_table.ensure_route_target makes no ENI call."""
    doc = policy(route_table_ids=[RTB1], vpc_id=VPC, create_missing=True)
    assert policy_actions(doc) == ["ec2:CreateRoute", "ec2:DescribeRouteTables", "ec2:ReplaceRoute"]


def test_an_explicit_target_is_described():
    doc = route_failover_policy({"route_table_ids": [RTB1], "network_interface_id": ENI1})
    assert statement(doc, "DescribeTheRoutesAndTheTarget")["Action"] == [
        "ec2:DescribeNetworkInterfaces", "ec2:DescribeRouteTables"]
    assert "ec2:ModifyNetworkInterfaceAttribute" not in policy_actions(doc)


def test_enforced_source_dest_check_on_the_given_enis():
    doc = policy(route_table_ids=[RTB1], source_dest_check="disable", network_interface_id=ENI1)
    assert "ec2:DescribeNetworkInterfaces" in policy_actions(doc)  # self, but the check is read
    assert statement(doc, "SetTheSourceDestCheckOfTheTarget")["Resource"] == [f"{ARN}:network-interface/{ENI1}"]
    with pytest.raises(PolicyError, match="to scope ModifyNetworkInterfaceAttribute"):
        policy(route_table_ids=[RTB1], source_dest_check="disable")
    doc = route_failover_policy(dict(NODE, route_table_ids=[RTB1], source_dest_check="enable"),
                                region="eu-west-1", account_id=ACCOUNT, network_interface_ids=[ENI2, ENI1])
    sdc = statement(doc, "SetTheSourceDestCheckOfTheTarget")
    assert sdc["Resource"] == [f"{ARN}:network-interface/{ENI1}", f"{ARN}:network-interface/{ENI2}"]
    doc = policy(vpc_id=VPC, source_dest_check="disable")
    sdc = statement(doc, "SetTheSourceDestCheckOfTheTarget")
    assert sdc["Resource"] == f"{ARN}:network-interface/*"
    assert sdc["Condition"] == {"ArnEquals": {"ec2:Vpc": f"{ARN}:vpc/{VPC}"}}


@pytest.mark.parametrize("settings, kwargs, message", [
    ({}, {}, "give route_table_ids and/or vpc_id"),
    ({"route_table_ids": "rtb-1"}, {}, "must be a list"),
    ({"route_table_ids": ["rtb-XYZ"]}, {}, "invalid route table id 'rtb-XYZ'"),
    ({"vpc_id": "vpc_1"}, {}, "invalid VPC id"),
    ({"vpc_id": VPC, "source_dest_check": "off"}, {}, "source_dest_check must be one of"),
    ({"vpc_id": VPC, "create_missing": "yes"}, {}, "create_missing must be a boolean"),
    ({"vpc_id": VPC, "self": "true"}, {}, "self must be a boolean"),
    ({"vpc_id": VPC, "network_interface_id": "eni-x"}, {}, "invalid network interface id"),
    ({"vpc_id": VPC}, {"region": "eu west"}, "region must be a region name"),
    ({"vpc_id": VPC}, {"account_id": "1234"}, "account_id must be a 12-digit"),
    ({"vpc_id": VPC}, {"partition": "azure"}, "partition must be an AWS partition"),
])
def test_bad_settings_one_clear_error(settings, kwargs, message):
    with pytest.raises(PolicyError, match=message):
        route_failover_policy(settings, **kwargs)
    with pytest.raises(PolicyError, match="must be a dict"):
        route_failover_policy([settings])


def test_filter_is_the_function():
    flt = FilterModule().filters()["route_failover_iam_policy"]
    settings = dict(NODE, vpc_id=VPC, route_table_ids=[RTB1])
    assert flt(settings, "aws", "eu-west-1", ACCOUNT) == policy(vpc_id=VPC, route_table_ids=[RTB1])
    # empty facts (no IMDS) fall back to the defaults
    assert flt(settings, "", "", "") == route_failover_policy(settings)
    # an account id written unquoted in YAML is an int; one with leading zeros lost them
    assert flt(settings, "aws", "eu-west-1", 12345678901) == route_failover_policy(
        settings, region="eu-west-1", account_id="012345678901")


def test_filter_reports_bad_input_as_a_filter_error():
    """In a process of its own: raising AnsibleFilterError imports the controller's
    ansible.errors, which marks the process as a controller for good (module_utils would then
    send the warnings of the module tests run later in this process to the display)."""
    code = (
        "from ansible.errors import AnsibleFilterError\n"
        "from ansible_collections.hapair.ha.plugins.filter.aws import FilterModule\n"
        "try:\n"
        "    FilterModule().filters()['route_failover_iam_policy']({})\n"
        "except AnsibleFilterError as err:\n"
        "    print('AnsibleFilterError:', err)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "AnsibleFilterError: route_failover_iam_policy: give route_table_ids and/or vpc_id"


# ---- fencing (vip_route_fencing = stop_peer) --------------------------------------------------


def test_no_fencing_no_instance_actions():
    for fencing in (None, "none"):
        doc = policy(vpc_id=VPC, fencing=fencing, peer_instance_id="i-0bbbbbbbbbbbbbbb2")
        assert "ec2:StopInstances" not in policy_actions(doc)
        assert "ec2:DescribeInstances" not in policy_actions(doc)


def test_fencing_adds_stop_instances_on_the_peer_only():
    doc = policy(vpc_id=VPC, fencing="stop_peer", peer_instance_id="i-0bbbbbbbbbbbbbbb2")
    assert statement(doc, "WatchTheInstances") == {
        "Sid": "WatchTheInstances", "Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"}
    assert statement(doc, "FenceThePeer") == {
        "Sid": "FenceThePeer", "Effect": "Allow", "Action": ["ec2:StopInstances"],
        "Resource": f"{ARN}:instance/i-0bbbbbbbbbbbbbbb2"}
    assert policy_actions(doc) == ["ec2:DescribeInstances", "ec2:DescribeRouteTables", "ec2:ReplaceRoute",
                                   "ec2:StopInstances"]


def test_shared_policy_lets_each_node_stop_only_its_peer_from_its_own_instance():
    doc = route_failover_policy(SHARED, region="eu-west-1", account_id=ACCOUNT, fence_pairs=PAIRS)
    first = statement(doc, "FenceThePeerOfi0aaaaaaaaaaaaaaa1")
    assert first["Resource"] == f"{ARN}:instance/i-0bbbbbbbbbbbbbbb2"
    assert first["Condition"] == {"ArnEquals": {"ec2:SourceInstanceARN": f"{ARN}:instance/i-0aaaaaaaaaaaaaaa1"}}
    second = statement(doc, "FenceThePeerOfi0bbbbbbbbbbbbbbb2")
    assert second["Resource"] == f"{ARN}:instance/i-0aaaaaaaaaaaaaaa1"


@pytest.mark.parametrize("settings, kwargs, message", [
    ({"fencing": "shoot"}, {}, "fencing must be none or stop_peer"),
    ({"fencing": "stop_peer"}, {}, "needs peer_instance_id"),
    ({"fencing": "stop_peer", "peer_instance_id": "db-02"}, {}, "invalid instance id"),
    ({"fencing": "stop_peer"}, {"fence_pairs": [["i-0a", "i-0a"]]}, "two different instance ids"),
    ({"fencing": "stop_peer"}, {"fence_pairs": "i-0a"}, "fence_pairs must be a list"),
])
def test_bad_fencing_settings(settings, kwargs, message):
    with pytest.raises(PolicyError, match=message):
        route_failover_policy(dict(NODE, vpc_id=VPC, **settings), **kwargs)


# ---- parliament -----------------------------------------------------------------------------

VARIANTS = {
    "role: listed tables": dict(NODE, route_table_ids=[RTB1, RTB2]),
    "role: listed tables, create missing": dict(NODE, route_table_ids=[RTB1, RTB2], create_missing=True),
    "role: vpc": dict(NODE, vpc_id=VPC),
    "role: vpc and listed tables, create missing": dict(NODE, vpc_id=VPC, route_table_ids=[RTB1], create_missing=True),
    "explicit target": {"route_table_ids": [RTB1], "network_interface_id": ENI1},
    "source/destination check on the ENI": dict(NODE, route_table_ids=[RTB1], source_dest_check="disable",
                                                network_interface_id=ENI1),
    "source/destination check in the vpc": dict(NODE, vpc_id=VPC, source_dest_check="enable"),
    "role: vpc, fencing the peer": dict(NODE, vpc_id=VPC, fencing="stop_peer", peer_instance_id="i-0bbbbbbbbbbbbbbb2"),
}
#: The policy both nodes share with fencing (fence_pairs), linted like the variants.
SHARED = dict(NODE, vpc_id=VPC, fencing="stop_peer")
PAIRS = [["i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2"], ["i-0bbbbbbbbbbbbbbb2", "i-0aaaaaaaaaaaaaaa1"]]
SEVERITY_ORDER = ["MUTE", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]


def lint(doc):
    """parliament's findings on ``doc`` as ``(severity, group, issue, detail)``, severity and group
    from its own config (config.yaml)."""
    parliament = pytest.importorskip("parliament")
    analyzed = parliament.analyze_policy_string(json.dumps(doc), include_community_auditors=False)
    out = []
    for finding in analyzed.findings:
        parliament.enhance_finding(finding)
        out.append((finding.severity, parliament.config[finding.issue].get("group"), finding.issue, finding.detail))
    return out


def blocking(findings):
    """Findings above LOW - and those of parliament's group INVALID, which it rates LOW although
    they make the policy wrong (an unknown action or service prefix, an invalid Sid, a condition
    operator of the wrong type)."""
    return [f for f in findings
            if SEVERITY_ORDER.index(f[0]) > SEVERITY_ORDER.index("LOW") or f[1] == "INVALID"]


@pytest.mark.parametrize("account", [ACCOUNT, "*"], ids=["known account", "unknown account"])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_parliament_finds_nothing_above_low(name, account):
    doc = route_failover_policy(VARIANTS[name], region="eu-west-1" if account != "*" else "*", account_id=account)
    findings = lint(doc)
    assert blocking(findings) == [], (findings, json.dumps(doc, indent=2))


def test_parliament_finds_nothing_above_low_in_the_shared_fencing_policy():
    """Except one known gap of parliament: ``ec2:SourceInstanceARN`` is a global condition key of
    role sessions on EC2 instances ("AWS global condition context keys", IAM User Guide,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-ec2-sourceinstancearn),
    present in every request made with an instance profile's credentials; parliament looks it up
    in StopInstances' own condition keys, where global keys are not listed. Only that finding,
    on that key, is allowed."""
    doc = route_failover_policy(SHARED, region="eu-west-1", account_id=ACCOUNT, fence_pairs=PAIRS)
    findings = lint(doc)
    known = ("MEDIUM", "INVALID", "UNKNOWN_CONDITION_FOR_ACTION",
             "Unknown condition ec2:SourceInstanceARN for action ec2:StopInstances")
    assert [f for f in blocking(findings) if f != known] == [], (findings, json.dumps(doc, indent=2))
    assert known in findings  # the gap is still there: drop this allowance when parliament learns the key


@pytest.mark.parametrize("broken, issue", [
    ({"Action": ["ec2:ReplaceRoutes"]}, "UNKNOWN_ACTION"),
    ({"Condition": {"ArnEquals": {"ec2:NoSuchKey": f"{ARN}:vpc/{VPC}"}}}, "UNKNOWN_CONDITION_FOR_ACTION"),
    ({"Resource": f"{ARN}:subnet/*"}, "RESOURCE_MISMATCH"),
    ({"Condition": {"ArnEquals": {"ec2:Vpc": VPC}}}, "MISMATCHED_TYPE"),  # the id, not the ARN
    ({"Condition": {"StringEquals": {"ec2:Vpc": f"{ARN}:vpc/{VPC}"}}}, "MISMATCHED_TYPE_BUT_USABLE"),
    ({"Sid": "Move the VIP route"}, "INVALID_SID"),
])
def test_the_lint_can_fail(broken, issue):
    """The same check flags a policy with a typo in an action, a condition key the action does
    not know, a resource type the action does not take, a VPC id where the key wants an ARN, a
    string operator on an ARN key, or an invalid Sid."""
    doc = policy(vpc_id=VPC)
    statement(doc, "MoveTheVipRouteInTheTablesOfTheVpc").update(broken)
    findings = blocking(lint(doc))
    assert issue in [f[2] for f in findings], findings
