"""hapair-route-failover with nothing but its generated IAM policy, against a moto server that
enforces IAM.

A moto server on 127.0.0.1 (a free port) is started with ``INITIAL_NO_AUTH_ACTION_COUNT=0``:
from its first request on, every call must be signed by the keys of an IAM user and allowed by
that user's policies (moto's access control, http://docs.getmoto.org/en/latest/docs/iam.html).
Seeding the VPC and the IAM user opens that gate for a moment (``/moto-api/reset-auth``),
then it is closed again before the command runs.

The command runs the way the vip_route role installs it on a node: the collection's
``module_utils/aws`` files copied into a tree of their own, the role's wrapper, a 0600 settings
file (``self`` through IMDSv2 - a fake one on 127.0.0.1 - ``source_dest_check = keep``) holding
the keys of a user whose only policy is the one generated from those settings.

What moto can prove: moto's access control matches the *actions* of a policy; for EC2 it
checks every request against the resource ``*`` and ignores ARN conditions, so a statement
scoped to route-table ARNs never matches there. The user therefore gets the generated policy
with each statement's ``Resource`` widened to ``*`` and its ``Condition`` dropped
(:func:`as_moto_evaluates_it`; the actions are asserted unchanged). That the resource ARNs
and the ``ec2:Vpc`` condition are well-formed and apply to these actions is parliament's part
(test_route_failover_policy.py), not moto's.

Proved here: with those actions a failover works (a table added to the VPC after the policy was
written included); without any one of them it fails with AccessDenied.
"""
from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from aws_stubs import MAC, VIP, install_node_command

from ansible_collections.hapair.ha.plugins.module_utils.aws import route_failover_cli
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_policy import (
    policy_actions,
    route_failover_policy,
)

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto")

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ADMIN = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    def __init__(self, url):
        self.url = url

    def _post(self, path, data=b""):
        req = urllib.request.Request(self.url + path, method="POST", data=data,
                                     headers={"Content-Type": "text/plain"})  # a form body would be eaten by Flask
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (127.0.0.1)
            return resp.read()

    def enforce_iam(self, on):
        """Close (0 requests without auth) or open (unlimited) moto's IAM gate."""
        self._post("/moto-api/reset-auth", b"0" if on else b"inf")

    def reset(self):
        self._post("/moto-api/reset")

    def client(self, service, **creds):
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, **(creds or ADMIN))


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory):
    """A moto server on 127.0.0.1 that enforces IAM from its first request."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    moto_bin = Path(sys.executable).parent / "moto_server"
    for _attempt in range(3):  # a free port may be taken between the look-up and the bind
        port = _free_port()
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="0")
        with open(log, "wb") as out:
            proc = subprocess.Popen([str(moto_bin), "-H", "127.0.0.1", "-p", str(port)], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        server = MotoServer(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(server.url + "/moto-api/", timeout=2) as resp:  # noqa: S310
                    resp.read()
                break
            except OSError:
                time.sleep(0.2)
        if proc.poll() is None:
            break
    else:
        pytest.fail(f"moto server did not start: {log.read_text()[-2000:]}")
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def node_command(tmp_path_factory):
    """The failover command as the role installs it: the package tree and the wrapper."""
    return install_node_command(tmp_path_factory.mktemp("node"), Path(route_failover_cli.__file__).parent)


@pytest.fixture
def world(moto_server, imds):  # pylint: disable=redefined-outer-name
    """A fresh VPC: two nodes (ENI A holds the VIP routes, ENI B is this node), two tables routing
    the VIP to A, a table of the VPC without the route, and IMDS saying "you are B"."""
    moto_server.enforce_iam(False)
    moto_server.reset()
    ec2 = moto_server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    instances = ec2.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2, SubnetId=subnet)["Instances"]
    eni_a, eni_b = (i["NetworkInterfaces"][0]["NetworkInterfaceId"] for i in instances)
    tables = []
    for _n in range(2):
        rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock=VIP, NetworkInterfaceId=eni_a)
        tables.append(rtb)
    bare = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    imds.metadata[f"network/interfaces/macs/{MAC}/interface-id"] = eni_b
    imds.metadata[f"network/interfaces/macs/{MAC}/vpc-id"] = vpc
    imds.metadata["placement/region"] = REGION
    yield {"server": moto_server, "ec2": ec2, "vpc": vpc, "eni_a": eni_a, "eni_b": eni_b, "tables": tables,
           "bare": bare, "imds": imds}
    moto_server.enforce_iam(False)


def targets(world, table_ids):  # pylint: disable=redefined-outer-name
    world["server"].enforce_iam(False)
    found = {}
    for rt in world["ec2"].describe_route_tables(RouteTableIds=list(table_ids))["RouteTables"]:
        found[rt["RouteTableId"]] = next((r.get("NetworkInterfaceId") for r in rt["Routes"]
                                          if r.get("DestinationCidrBlock") == VIP), None)
    return found


def as_moto_evaluates_it(policy):
    """The policy with every statement's Resource ``*`` and no Condition: moto checks EC2 calls
    against the resource ``*`` and cannot evaluate ec2:Vpc, so only the actions are compared."""
    widened = copy.deepcopy(policy)
    for statement in widened["Statement"]:
        statement["Resource"] = "*"
        statement.pop("Condition", None)
    assert policy_actions(widened) == policy_actions(policy)
    return widened


def without(policy, action):
    """The policy minus one action (statements left without any action dropped)."""
    out = copy.deepcopy(policy)
    for statement in out["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != action]
    out["Statement"] = [s for s in out["Statement"] if s["Action"]]
    assert action not in policy_actions(out)
    return out


def node_user(world, name, policy):  # pylint: disable=redefined-outer-name
    """An IAM user whose only policy is ``policy``; returns its keys."""
    world["server"].enforce_iam(False)
    iam = world["server"].client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="hapair-vip-route", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    assert iam.list_attached_user_policies(UserName=name)["AttachedPolicies"] == []
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["hapair-vip-route"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def failover(world, node_command, tmp_path, settings, keys):  # pylint: disable=redefined-outer-name
    """Run the installed command with ``settings`` and ``keys``, moto's IAM gate closed."""
    lines = [f"vip = {VIP}", "self = true", "source_dest_check = keep", f"region = {REGION}",
             f"endpoint_url = {world['server'].url}", f"imds_url = {world['imds'].url}",
             f"access_key = {keys[0]}", f"secret_key = {keys[1]}",
             f"create_missing = {str(settings.get('create_missing', False)).lower()}"]
    if settings.get("route_table_ids"):
        lines.append("route_table_ids = " + " ".join(settings["route_table_ids"]))
    if settings.get("vpc_id"):
        lines.append(f"vpc_id = {settings['vpc_id']}")
    config = tmp_path / "vip-route.conf"
    config.write_text("[route_failover]\n" + "\n".join(lines) + "\n")
    config.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_"))}
    env.update(AWS_CONFIG_FILE="/nonexistent/aws-config", AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials")
    world["server"].enforce_iam(True)
    try:
        return subprocess.run([sys.executable, str(node_command), "--config", str(config), "--json"],
                              capture_output=True, text=True, env=env, timeout=120, check=False)
    finally:
        world["server"].enforce_iam(False)


SCENARIOS = {
    # the role with vip_route_vpc_id: every table of the VPC routing the VIP
    "vpc": lambda w: {"vpc_id": w["vpc"], "self": True, "source_dest_check": "keep"},
    # the role with vip_route_route_table_ids and create_missing: one table lacks the route
    "listed tables, create missing": lambda w: {"route_table_ids": [*w["tables"], w["bare"]], "create_missing": True,
                                                "self": True, "source_dest_check": "keep"},
}


def _policy(settings):
    return route_failover_policy(settings, region=REGION, account_id=ACCOUNT)


def test_iam_is_enforced(world):  # pylint: disable=redefined-outer-name
    """The gate is really closed while the command runs: unknown keys, and a user without a
    policy, are refused."""
    server = world["server"]
    server.enforce_iam(True)
    try:
        with pytest.raises(Exception, match="InvalidClientTokenId|AuthFailure"):
            server.client("ec2").describe_route_tables()
    finally:
        server.enforce_iam(False)
    keys = node_user(world, "nobody", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ec2:DescribeVpcs"], "Resource": "*"}]})
    server.enforce_iam(True)
    try:
        with pytest.raises(Exception, match="AccessDenied"):
            server.client("ec2", aws_access_key_id=keys[0], aws_secret_access_key=keys[1]).describe_route_tables()
    finally:
        server.enforce_iam(False)


def test_failover_in_a_vpc_with_a_table_added_after_the_policy(world, node_command, tmp_path):  # pylint: disable=redefined-outer-name
    settings = SCENARIOS["vpc"](world)
    policy = _policy(settings)
    keys = node_user(world, "db-node", as_moto_evaluates_it(policy))
    # After the policy was written (a converge), someone adds a table routing the VIP to the VPC.
    later = world["ec2"].create_route_table(VpcId=world["vpc"])["RouteTable"]["RouteTableId"]
    world["ec2"].create_route(RouteTableId=later, DestinationCidrBlock=VIP, NetworkInterfaceId=world["eni_a"])
    assert later not in json.dumps(policy)

    proc = failover(world, node_command, tmp_path, settings, keys)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    result = json.loads(proc.stdout)
    assert sorted(e["route_table_id"] for e in result["route_tables"]) == sorted([*world["tables"], later])
    tables = [*world["tables"], later]
    assert targets(world, tables) == {t: world["eni_b"] for t in tables}


def test_failover_with_listed_tables_creating_a_missing_route(world, node_command, tmp_path):  # pylint: disable=redefined-outer-name
    settings = SCENARIOS["listed tables, create missing"](world)
    keys = node_user(world, "db-node", as_moto_evaluates_it(_policy(settings)))
    proc = failover(world, node_command, tmp_path, settings, keys)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    actions = {e["route_table_id"]: e["action"] for e in json.loads(proc.stdout)["route_tables"]}
    assert actions == {world["tables"][0]: "replace", world["tables"][1]: "replace", world["bare"]: "create"}
    tables = [*world["tables"], world["bare"]]
    assert targets(world, tables) == {t: world["eni_b"] for t in tables}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_action_of_the_policy_is_needed(world, node_command, tmp_path, scenario):  # pylint: disable=redefined-outer-name
    """Without any one action of its policy the failover fails with AccessDenied naming it, and
    the tables are not all moved."""
    settings = SCENARIOS[scenario](world)
    policy = as_moto_evaluates_it(_policy(settings))
    tables = settings.get("route_table_ids") or world["tables"]
    before = targets(world, tables)
    actions = policy_actions(policy)
    assert actions == (["ec2:DescribeRouteTables", "ec2:ReplaceRoute"] if scenario == "vpc"
                       else ["ec2:CreateRoute", "ec2:DescribeRouteTables", "ec2:ReplaceRoute"])
    for number, action in enumerate(actions):
        keys = node_user(world, f"lacks-{number}", without(policy, action))
        proc = failover(world, node_command, tmp_path, settings, keys)
        assert proc.returncode == 1, (action, proc.stdout, proc.stderr)
        answer = json.loads(proc.stdout)
        assert answer["failed"] is True and answer["error_code"] == "AccessDenied", (action, answer)
        assert f"not authorized to perform: {action}" in answer["msg"], (action, answer)
        now = targets(world, tables)
        assert now != {t: world["eni_b"] for t in tables}, (action, now)
        # put the routes back for the next action
        world["server"].enforce_iam(False)
        for rtb, target in before.items():
            if target is None and now[rtb] is not None:
                world["ec2"].delete_route(RouteTableId=rtb, DestinationCidrBlock=VIP)
            elif target is not None and now[rtb] != target:
                world["ec2"].replace_route(RouteTableId=rtb, DestinationCidrBlock=VIP, NetworkInterfaceId=target)
        assert targets(world, tables) == before


def test_moto_cannot_judge_resource_arns(world, node_command, tmp_path):  # pylint: disable=redefined-outer-name
    """Why the user gets the widened policy: moto checks an EC2 call against the resource ``*``,
    which no route-table ARN matches, so the policy as written is refused there at ReplaceRoute
    (on AWS, its ARNs and condition decide). Should moto learn EC2 resource ARNs, this fails and
    the widening can go."""
    settings = SCENARIOS["listed tables, create missing"](world)
    keys = node_user(world, "db-node", _policy(settings))
    proc = failover(world, node_command, tmp_path, settings, keys)
    assert proc.returncode == 1, proc.stdout
    answer = json.loads(proc.stdout)
    assert answer["error_code"] == "AccessDenied" and "not authorized to perform: ec2:" in answer["msg"], answer
    assert "ec2:DescribeRouteTables" not in answer["msg"]  # the statement on * is honoured
