"""playbooks/vip_failover_setup.yml against the VIP lab: converge, idempotence, check mode on a
drifted route, bad input (one clear error, no table changed)."""
from __future__ import annotations

import json
import time

import pytest

from tests.lab import ansible_run, aws
from tests.lab.pytest_support import default_release_only

from .conftest import LAB_VARS, PAIR, SETUP, dump

pytestmark = pytest.mark.lab

AGENT = "hapair-route-failover.service"
AGENT_SOCKET = "/run/hapair-route-failover/agent.sock"


def test_converge_then_idempotent(converged):
    v = converged
    first = v.first_run
    assert first.changed > 0, dump(first)
    # AWS side: every table routes the VIP to db-01's primary ENI; src/dst check off on both.
    assert v.tables_point_at("db-01"), v.routes()
    assert not v.source_dest_check("db-01") and not v.source_dest_check("db-02")
    # Hosts: the VIP on db-01 only, keepalived MASTER there and BACKUP on db-02.
    assert v.holders() == ["db-01"]
    v.wait(lambda: v.state("db-01") == "MASTER" and v.state("db-02") == "BACKUP", 10)
    # The app hosts of both zones reach the VIP, and db-01 answers.
    assert [v.app_reaches_vip(app) for app in ("app-1a", "app-1c")] == ["db-01", "db-01"]
    # The failover command and its settings (mode 0600), the hook, the IAM policy with real ARNs.
    for host in PAIR:
        assert v.lab.exec(host, "stat", "-c", "%a", "/etc/hapair/vip-route.conf").stdout.strip() == "600"
        assert v.lab.exec(host, "test", "-x", "/etc/keepalived/notify.d/50-vip-route").returncode == 0
        policy = json.loads(v.lab.exec(host, "cat", "/etc/hapair/vip-route-iam-policy.json").stdout)
        # Exactly what the command may call: it describes the tables, replaces the route in the
        # listed tables (creates it there, create_missing) and in every table of the VPC - those
        # it finds at failover time, so by the VPC (condition ec2:Vpc), not by table ARNs.
        # It never touches its ENI (self from IMDS, source_dest_check keep).
        arn = "arn:aws:ec2:us-east-1:123456789012"
        assert policy["Statement"] == [
            {"Sid": "DescribeTheRoutes", "Effect": "Allow", "Action": ["ec2:DescribeRouteTables"], "Resource": "*"},
            {"Sid": "MoveTheVipRouteInTheListedTables", "Effect": "Allow",
             "Action": ["ec2:CreateRoute", "ec2:ReplaceRoute"],
             "Resource": sorted(f"{arn}:route-table/{t}" for t in v.tables)},
            {"Sid": "MoveTheVipRouteInTheTablesOfTheVpc", "Effect": "Allow", "Action": ["ec2:ReplaceRoute"],
             "Resource": f"{arn}:route-table/*",
             "Condition": {"ArnEquals": {"ec2:Vpc": f"{arn}:vpc/{v.lab.model['vpc_id']}"}}},
        ], json.dumps(policy, indent=2)
        # keepalived: unicast peers on both networks, the secret not in keepalived.conf
        conf = v.lab.exec(host, "cat", "/etc/keepalived/keepalived.conf").stdout
        peer = "db-02" if host == "db-01" else "db-01"
        assert v.lab.ip(peer, "lan") in conf and v.lab.ip(peer, "hb") in conf
        assert "lab-vrrp" not in conf and "vrrp_sync_group VIP" in conf and "vrrp_script vip_route_check" in conf
        # the second heartbeat path's static route to the peer (the route-eth1 of a manual set-up)
        assert f"{v.lab.ip(peer, 'hb')} dev eth1 proto keepalived" in v.lab.exec(host, "ip", "route").stdout
        # the failover command's warm agent runs, root only
        assert v.lab.exec(host, "systemctl", "is-active", AGENT, check=False).stdout.strip() == "active"
        assert v.lab.exec(host, "stat", "-c", "%a %U", AGENT_SOCKET).stdout.strip() == "600 root"
    # The same policy is attached inline to the nodes' IAM role.
    attached = aws.client(v.lab.topo, "iam").get_role_policy(RoleName="hapair-db", PolicyName="hapair-vip-route")
    assert attached["PolicyDocument"] == policy
    # The MASTER transition ran the hook: keepalived's journal has it.
    assert "GROUP VIP -> MASTER" in v.notify_log("db-01")
    assert "50-vip-route: routes point at this node" in v.notify_log("db-01")

    again = v.run(SETUP)
    assert again.rc == 0 and again.changed == 0, dump(again)
    assert v.tables_point_at("db-01") and v.holders() == ["db-01"]


@default_release_only
def test_the_failover_command_without_its_agent(converged):
    """vip_route_agent false: the agent is stopped and removed and the command runs in-process;
    true again brings it back. (What the role does here does not depend on the Debian release.)"""
    v = converged
    off = v.run(SETUP, vip_route_agent=False)
    assert off.rc == 0 and off.changed > 0, dump(off)
    for host in PAIR:
        assert v.lab.exec(host, "systemctl", "is-active", AGENT, check=False).stdout.strip() != "active"
        assert v.lab.exec(host, "test", "-e", f"/etc/systemd/system/{AGENT}", check=False).returncode != 0
        assert v.lab.exec(host, "test", "-e", AGENT_SOCKET, check=False).returncode != 0
        assert "agent_socket" not in v.lab.exec(host, "cat", "/etc/hapair/vip-route.conf").stdout
    dry = v.lab.exec("db-01", "/usr/local/sbin/hapair-route-failover", "--config", "/etc/hapair/vip-route.conf",
                     "--dry-run", check=False)
    assert dry.returncode == 0 and dry.stdout.count(" unchanged") == len(v.tables), dry.stdout + dry.stderr
    on = v.run(SETUP)
    assert on.rc == 0, dump(on)
    for host in PAIR:
        assert v.lab.exec(host, "systemctl", "is-active", AGENT, check=False).stdout.strip() == "active"
    # (the converge test above checks that a run with the agent changes nothing the second time)
    assert v.tables_point_at("db-01") and v.holders() == ["db-01"]


@default_release_only
def test_check_mode_on_drift_reports_and_changes_nothing(converged):
    v = converged
    drifted = v.tables[2]
    v.set_route(drifted, "db-02")
    before = v.routes()
    check = v.run(SETUP, check=True, diff=True)
    assert check.rc == 0, dump(check)
    assert check.changed >= 1, dump(check)
    assert f"{drifted}: {v.enis['db-02']}" in check.stdout.replace("'", "").replace('"', ""), dump(check)
    assert v.routes() == before
    # The MASTER's periodic check (a keepalived track script, run here by hand) repairs it.
    v.lab.exec("db-01", "/usr/local/libexec/hapair/vip-route-check", "/etc/hapair/vip-route-hook.conf")
    v.wait(lambda: v.tables_point_at("db-01"), 15)
    v.wait(lambda: "replaced" in v.lab.exec("db-01", "cat", "/var/log/hapair/vip-route.log", check=False).stdout, 5)
    log = v.lab.exec("db-01", "cat", "/var/log/hapair/vip-route.log").stdout
    assert f"{drifted}: {v.enis['db-02']} -> {v.enis['db-01']} replaced" in log, log
    # ... and the backup's check does nothing (it does not hold the VIP).
    v.set_route(drifted, "db-02")
    v.lab.exec("db-02", "/usr/local/libexec/hapair/vip-route-check", "/etc/hapair/vip-route-hook.conf")
    time.sleep(2)
    assert v.routes()[drifted] == v.enis["db-02"]
    v.set_route(drifted, "db-01")


def changed_tasks(stdout: str) -> list[str]:
    """The task of every ``changed: [host]`` result line, in output order."""
    task, out = "", []
    for line in stdout.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK ["):].rsplit("]", 1)[0]
        elif line.startswith("changed: ["):
            out.append(task)
    return out


@default_release_only
def test_secrets_are_never_shown_in_a_verbose_check_with_diff(converged):
    """Check mode with -vvv and --diff, given AWS keys and a new VRRP secret, on a node whose
    keepalived.conf drifted: the diff shows the changed line of keepalived.conf, the secrets
    file would change (reported, its content not shown), and neither the VRRP secret nor the
    AWS secret key or session token appears anywhere in Ansible's output (the access key id is
    not a secret: AWS and amazon.aws show it). Nothing is changed."""
    v = converged
    vrrp, secret, token = "Zq9xP4ss", "hapair/sentinel+Secret/Key0123456789abcd", "hapair-sentinel-session-token"
    conf, drift = "/etc/keepalived/keepalived.conf", "# hapair-drift-line-for-the-diff-test"
    before = (v.routes(), v.holders())
    sums = {host: v.lab.exec(host, "sha1sum", conf, "/etc/keepalived/hapair-auth.conf").stdout for host in PAIR}
    v.lab.exec("db-02", "cp", "-p", conf, conf + ".test-orig")
    v.lab.exec("db-02", "sh", "-c", f"echo '{drift}' >> {conf}")
    try:
        res = ansible_run.playbook(v.lab, SETUP, "-vvv", "-e", f"@{LAB_VARS}", extra_vars=v.extra_vars(
            keepalived_auth_pass=vrrp, aws_access_key="AKIAHAPAIRSENTINEL01", aws_secret_key=secret,
            aws_session_token=token), check=True, diff=True)
        assert res.rc == 0, dump(res)
        changed = changed_tasks(res.stdout)
        files_task = "hapair.ha.keepalived : Install the helpers, hooks, settings, VRRP secrets, drop-in and keepalived.conf"
        assert changed.count(files_task) == 2, changed
        # the drifted line is in the diff of keepalived.conf, as a removed line
        assert f"--- before: {conf}" in res.stdout and f"-{drift}" in [line.strip() for line in res.stdout.splitlines()], dump(res)
        # the secrets file is reported as changed on both nodes, its content never shown
        # (with -vvv the result is printed as well as the diff, and YAML may fold the sentence)
        assert " ".join(res.stdout.split()).count("(secret content of /etc/keepalived/hapair-auth.conf changed, not shown)") >= 2, \
            dump(res)
        for word in (vrrp, secret, token):
            assert word not in res.stdout and word not in res.stderr, (word, dump(res))
        # check mode changed nothing (the drift is still there, the other files are as they were)
        assert v.lab.exec("db-02", "tail", "-n", "1", conf).stdout.strip() == drift
        assert v.lab.exec("db-01", "sha1sum", conf, "/etc/keepalived/hapair-auth.conf").stdout == sums["db-01"]
        assert (v.routes(), v.holders()) == before
    finally:
        v.lab.exec("db-02", "mv", conf + ".test-orig", conf)
    assert v.lab.exec("db-02", "sha1sum", conf, "/etc/keepalived/hapair-auth.conf").stdout == sums["db-02"]


@default_release_only
@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"vip_route_vip": "198.19.47.300"}, "is not an IPv4 address or /32"),
        ({"vip_route_vip": "198.19.47.0/24"}, "is not an IPv4 address or /32"),
        ({"vip_route_route_table_ids": ["rtb-0123456789abcdef0"]}, "route table(s) not found in vpc-"),
        ({"vip_route_network_interface_id": "{{ 'eni-0123456789abcdef0' if inventory_hostname == 'db-01' else '' }}"},
         "eni-0123456789abcdef0"),
        ({"vip_route_network_interface_id": "{{ __other_eni if inventory_hostname == 'db-01' else '' }}"}, "is in vpc-"),
        ({"__bare": True, "vip_route_create_missing": False}, "(set create_missing to add it)"),
        ({"keepalived_auth_pass": ""}, "keepalived_auth_pass: a VRRP secret is required"),
        ({"vip_route_iam_role_name": "no-such-role"}, "there is no IAM role no-such-role"),
    ],
    ids=["bad-vip", "not-a-32", "unknown-table", "unknown-eni", "eni-of-another-vpc", "table-without-route",
         "no-vrrp-secret", "unknown-iam-role"],
)
def test_bad_input_one_clear_error_nothing_changed(converged, overrides, message):
    v = converged
    overrides = dict(overrides)
    if overrides.pop("__bare", False):
        overrides["vip_route_route_table_ids"] = [*v.tables, v.bare_table]
    overrides["__other_eni"] = v.other_vpc_eni
    before = v.routes([*v.tables, v.bare_table])
    result = v.run(SETUP, **overrides)
    assert result.rc != 0, dump(result)
    assert message in result.stdout, dump(result)
    assert result.changed == 0, dump(result)
    assert len({line for line in result.stdout.splitlines() if line.startswith("fatal:")}) >= 1
    assert v.routes([*v.tables, v.bare_table]) == before
    assert v.holders() == ["db-01"]
