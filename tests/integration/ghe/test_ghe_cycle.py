"""GitHub Enterprise Server HA against the lab: two simulated appliances (+ a spare) and moto.

One lab for the module; the tests run in file order and each starts from the state the previous
one left (the cycle of the issue): security group -> replica set up (key authorised through the
Manage API) -> in sync -> bad input refused -> geo replica added and removed -> 9th refused ->
planned failover (check mode first) -> DNS read back from moto -> data on the new primary ->
re-pairing without overwrite refused -> fail-back -> promotion refused while CRITICAL, allowed
with the overrides (check mode; then a disaster promotion with the primary's link cut) -> old
primary re-paired -> teardown -> Manage API -> no secret in any output.
"""
from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request

import pytest

from .conftest import DOMAIN, PRIMARY, REPLICA, SPARE, ok, refused, text

pytestmark = pytest.mark.lab

REPLICATION = "ghe_replication.yml"
FAILOVER = "ghe_failover.yml"
FAILBACK = "ghe_failback.yml"
TEARDOWN = "ghe_teardown.yml"
WRONG_PASSWORD = "not-the-Manage-password-4Kq8"


def ingress(group):
    """{(proto, port): ({cidr...}, {group id...})} of a security group read from moto."""
    out = {}
    for perm in group["IpPermissions"]:
        key = (perm["IpProtocol"], perm.get("FromPort"))
        cidrs, groups = out.setdefault(key, (set(), set()))
        cidrs.update(r["CidrIp"] for r in perm.get("IpRanges", []))
        cidrs.update(r["CidrIpv6"] for r in perm.get("Ipv6Ranges", []))
        groups.update(p["GroupId"] for p in perm.get("UserIdGroupPairs", []))
    return out


def test_replication_converges(ghe_lab):
    g = ghe_lab
    assert g.role(PRIMARY) == g.role(REPLICA) == "standalone"
    ok(g.run(REPLICATION))
    # The replica is configured against the primary, replicating and in sync (status read
    # on the node itself, which compares its data with the primary's).
    assert g.role(REPLICA) == "replica" and g.role(PRIMARY) == "primary"
    conf = g.cluster_conf(PRIMARY)
    assert f"ipv4 = {g.ip(REPLICA)}" in conf and "replica = enabled" in conf
    rc, out = g.status(REPLICA)
    assert rc == 0 and out.count("OK:") == 5, out
    # The key was authorised on the primary through the Manage API (not the lab's own key).
    replica_key = g.lab.exec(REPLICA, "cat", "/home/admin/.ssh/id_ed25519.pub").stdout.split()[1]
    assert replica_key in g.authorized_keys(PRIMARY)
    assert g.http_status(PRIMARY) == 200 and g.http_status(REPLICA) == 503
    # Security group: peers through the group itself, admins and clients by address; the admin
    # and replication ports never open to the world; attached to both appliances only.
    group = g.security_group()
    rules = ingress(group)
    for key in (("tcp", 122), ("udp", 1194), ("tcp", 8443)):
        assert "0.0.0.0/0" not in rules[key][0] and "::/0" not in rules[key][0], rules
    assert rules[("tcp", 122)] == ({"198.19.48.1/32"}, {group["GroupId"]})
    assert rules[("udp", 1194)] == (set(), {group["GroupId"]})
    # 8443 also between the peers: a new replica authorises its key on the primary's Manage API.
    assert rules[("tcp", 8443)] == ({"198.19.48.1/32"}, {group["GroupId"]})
    assert rules[("tcp", 22)] == ({"198.19.48.0/24"}, set())
    enis = g.eni_groups()
    assert "ghe-appliances" in enis[PRIMARY] and "ghe-appliances" in enis[REPLICA]
    assert "ghe-appliances" not in enis[SPARE] and "default" in enis[PRIMARY]
    # DNS in the public and the private zone: git and *.git -> primary, git-standby -> replica.
    assert g.records() == g.expected_records(PRIMARY, REPLICA)


def test_replication_converges_again_without_change(ghe_lab):
    res = ok(ghe_lab.run(REPLICATION))
    assert res.changed == 0, res.stdout[-4000:]


def test_check_mode_on_drift_reports_and_changes_nothing(ghe_lab):
    g = ghe_lab
    g.lab.exec(REPLICA, "ghe-repl-stop")
    g.set_record(f"git.{DOMAIN}", g.ip(SPARE))
    before = (g.status(REPLICA), g.records())
    assert before[0][1].strip() == "Replication is not running"
    check = ok(g.run(REPLICATION, check=True, diff=True))
    # ghe-2: replication would start; ghe-1 (running the controller-side AWS tasks once): DNS.
    assert check.recap[REPLICA]["changed"] >= 1 and check.recap[PRIMARY]["changed"] >= 1, check.stdout[-4000:]
    assert f"git.{DOMAIN} -> {g.ip(PRIMARY)} (public)" in check.stdout
    assert (g.status(REPLICA), g.records()) == before
    # A real run repairs both.
    assert ok(g.run(REPLICATION)).changed >= 2
    g.wait_in_sync(REPLICA)
    assert g.records() == g.expected_records(PRIMARY, REPLICA)


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"ghe_primary": "ghe-9"}, "ghe_primary must name the primary appliance in the inventory"),
        ({"dns_failover_ttl": 10}, "dns_failover_ttl: 10 s is outside 60-300 s"),
        ({"ghe_api_password": ""}, "ghe_api_password (root site administrator password of the primary) is required"),
        ({"ghe_security_groups_admin_cidrs": ["0.0.0.0/0"]}, "would open 122/tcp, 1194/udp or 8443/tcp to the whole internet"),
    ],
    ids=["unknown-primary", "ttl-10", "no-password", "admin-open-to-world"],
)
def test_bad_input_one_clear_error_nothing_changed(ghe_lab, extra, message):
    g = ghe_lab
    before = (g.cluster_conf(PRIMARY), g.records(), g.security_group()["IpPermissions"])
    refused(g.run(REPLICATION, **extra), message)
    assert (g.cluster_conf(PRIMARY), g.records(), g.security_group()["IpPermissions"]) == before


def test_wrong_api_password_one_clear_error(ghe_lab):
    g = ghe_lab
    keys = g.authorized_keys(PRIMARY)
    res = refused(g.run(REPLICATION, ghe_replicas_group="ghe_replicas:ghe_spare", ghe_api_password=WRONG_PASSWORD),
                  f"https://{g.ip(PRIMARY)}:8443/manage/v1/access/ssh refused the replica key: HTTP 401 "
                  "(wrong root site administrator password?)")
    assert "fatal: [ghe-3]" in res.stdout and WRONG_PASSWORD not in res.stdout + res.stderr
    assert g.role(SPARE) == "standalone" and g.authorized_keys(PRIMARY) == keys


def test_geo_replica_added_then_removed(ghe_lab):
    g = ghe_lab
    g.write_repo(PRIMARY, "geo", "geo-1")
    ok(g.run(REPLICATION, ghe_replicas_group="ghe_replicas:ghe_spare"))
    conf = g.cluster_conf(PRIMARY)
    assert conf.count("replica = enabled") == 2 and f"ipv4 = {g.ip(SPARE)}" in conf, conf
    assert g.role(SPARE) == "replica" and g.status(SPARE)[0] == 0
    assert g.repo(SPARE, "geo") == "geo-1" and g.status(REPLICA)[0] == 0
    ok(g.run(TEARDOWN, ghe_appliances_group="ghe_spare"))
    conf = g.cluster_conf(PRIMARY)
    assert g.role(SPARE) == "standalone" and conf.count("replica = enabled") == 1 and g.ip(SPARE) not in conf
    assert g.status(REPLICA)[0] == 0


def test_ninth_replica_refused(ghe_lab):
    g = ghe_lab
    conf = g.cluster_conf(PRIMARY)
    fake = "".join(
        f'[cluster "geo-{i}"]\n  hostname = geo-{i}\n  uuid = 00000000-0000-0000-0000-00000000000{i}\n'
        f"  replica = enabled\n  ipv4 = 198.19.48.{200 + i}\n" for i in range(1, 8)
    )
    g.lab.exec(PRIMARY, "sh", "-c", "cat >> /data/user/common/cluster.conf", input=fake)
    try:
        refused(g.run(REPLICATION, ghe_replicas_group="ghe_replicas:ghe_spare"),
                "ghe-1 already has 8 replicas; GitHub Enterprise Server allows at most 8, refusing a 9th")
        assert g.role(SPARE) == "standalone"
        # The appliance itself refuses too (ghe-3's key is authorised on ghe-1 since the geo test).
        proc = g.lab.exec(SPARE, "ghe-repl-setup", "--add", g.ip(PRIMARY), check=False, input="N\n")
        assert proc.returncode == 1 and "already has 8 replicas" in proc.stderr, proc.stdout + proc.stderr
        assert g.role(SPARE) == "standalone"
    finally:
        g.lab.exec(PRIMARY, "sh", "-c", "cat > /data/user/common/cluster.conf", input=conf)


def test_failover_check_mode_changes_nothing(ghe_lab):
    g = ghe_lab
    before = (g.role(REPLICA), g.maintenance(PRIMARY), g.records())
    check = ok(g.run(FAILOVER, check=True))
    assert check.recap[PRIMARY]["changed"] >= 1 and check.recap[REPLICA]["changed"] >= 1, check.stdout[-4000:]
    assert (g.role(REPLICA), g.maintenance(PRIMARY), g.records()) == before == ("replica", False, before[2])


def test_planned_failover(ghe_lab):
    g = ghe_lab
    g.write_repo(PRIMARY, "before-failover", "written on ghe-1 before the failover")
    ok(g.run(FAILOVER))
    # The replica is the primary, serves /status 200; the old primary is in maintenance (503).
    assert g.role(REPLICA) == "primary" and g.http_status(REPLICA) == 200
    assert g.maintenance(PRIMARY) and g.http_status(PRIMARY) == 503
    # Nothing written before the failover was lost.
    assert g.repo(REPLICA, "before-failover") == "written on ghe-1 before the failover"
    # DNS read back from moto: git and *.git -> the old replica, git-standby -> the old primary.
    assert g.records() == g.expected_records(REPLICA, PRIMARY)


def test_failover_again_changes_nothing(ghe_lab):
    res = ok(ghe_lab.run(FAILOVER))
    assert res.changed == 0, res.stdout[-4000:]


def test_repairing_old_primary_without_overwrite_refused(ghe_lab):
    g = ghe_lab
    before = (g.role(PRIMARY), g.cluster_conf(PRIMARY), g.cluster_conf(REPLICA))
    refused(g.run(REPLICATION, ghe_primary=REPLICA, ghe_replicas_group="ghe_primary"),
            f"ghe-1 is a configured primary: making it a replica of {g.ip(REPLICA)} overwrites its data. "
            "Set ghe_replica_overwrite_primary_data: true")
    assert (g.role(PRIMARY), g.cluster_conf(PRIMARY), g.cluster_conf(REPLICA)) == before


def test_failback(ghe_lab):
    g = ghe_lab
    g.write_repo(REPLICA, "after-failover", "written on ghe-2 while it was the primary")
    # ghe_failback.yml makes ghe-1 a replica of ghe-2 (overwriting its data), waits for sync,
    # fails over back to it and makes ghe-2 a replica again.
    ok(g.run(FAILBACK))
    assert g.role(PRIMARY) == "primary" and g.http_status(PRIMARY) == 200
    assert g.role(REPLICA) == "replica" and g.http_status(REPLICA) == 503
    g.wait_in_sync(REPLICA)
    for name in ("before-failover", "after-failover"):
        assert g.repo(PRIMARY, name) is not None and g.repo(PRIMARY, name) == g.repo(REPLICA, name), name
    assert g.repo(PRIMARY, "after-failover") == "written on ghe-2 while it was the primary"
    assert g.records() == g.expected_records(PRIMARY, REPLICA)
    res = ok(g.run(FAILBACK))
    assert res.changed == 0, res.stdout[-4000:]


def test_promotion_refused_while_critical_then_allowed_with_override(ghe_lab):
    g = ghe_lab
    g.write_repo(PRIMARY, "replicated", "before the stall")
    g.wait_in_sync(REPLICA)
    pid = g.loop_pid(REPLICA)
    # replication hangs: the loop's whole process group (it leads one), so that an rsync it
    # started just before cannot still copy what the primary gets next (it did, on a busy CI)
    g.lab.exec(REPLICA, "kill", "-STOP", "--", f"-{pid}")
    try:
        for i in range(12):
            g.write_repo(PRIMARY, f"stalled-{i}", f"never replicated {i}")
        rc, out = g.status(REPLICA)
        assert rc == 2 and "CRITICAL: git replication is behind the primary by 12 repositories" in out, out
        # The module alone refuses (nothing changed)...
        proc = g.adhoc(REPLICA, "hapair.ha.repl_promote")
        assert proc.returncode != 0 and "replication is not in sync (CRITICAL" in proc.stdout, proc.stdout
        assert g.role(REPLICA) == "replica"
        # ... and so does the failover (after putting the primary in maintenance, as documented).
        res = g.run(FAILOVER, ghe_failover_sync_timeout=2)
        assert res.rc != 0 and "is not in sync after 2s (CRITICAL" in text(res), res.stdout[-4000:]
        assert g.role(REPLICA) == "replica" and g.maintenance(PRIMARY)
        assert g.records() == g.expected_records(PRIMARY, REPLICA)
        # Override 1 (planned, accepting the loss): the module would promote now (check mode).
        proc = g.adhoc(REPLICA, "hapair.ha.repl_promote", "require_in_sync=false", check=True)
        assert proc.returncode == 0 and '"changed": true' in proc.stdout, proc.stdout
        assert g.role(REPLICA) == "replica"
        # Override 2 (disaster): the primary's link goes down; promote without it.
        g.lab.set_link(PRIMARY, "lan", up=False)
        try:
            ok(g.run(FAILOVER, ghe_primary_unreachable=True))
        finally:
            g.lab.set_link(PRIMARY, "lan", up=True)
    finally:
        g.lab.exec(REPLICA, "kill", "-CONT", "--", f"-{pid}", check=False)
    assert g.role(REPLICA) == "primary" and g.http_status(REPLICA) == 200
    assert g.records() == g.expected_records(REPLICA, PRIMARY)
    # What replicated before the stall is there; what was written during it is lost.
    assert g.repo(REPLICA, "replicated") == "before the stall"
    assert g.repo(REPLICA, "stalled-0") is None
    # Once the old primary is back, it is re-paired as a replica of the new one (its data is
    # overwritten: the stalled writes are gone there too; HA is not a backup).
    ok(g.run(FAILOVER, ghe_prepare_failback=True))
    assert g.role(PRIMARY) == "replica"
    g.wait_in_sync(PRIMARY)
    assert g.repo(PRIMARY, "stalled-0") is None and g.repo(PRIMARY, "replicated") == "before the stall"


def test_teardown(ghe_lab):
    g = ghe_lab
    ok(g.run(TEARDOWN, ghe_teardown_dns=True, ghe_teardown_security_groups=True))
    assert g.role(PRIMARY) == g.role(REPLICA) == "standalone"
    assert g.cluster_conf(REPLICA) == "" and g.records() == {} and g.security_group() is None
    assert all("ghe-appliances" not in groups for groups in g.eni_groups().values())
    assert g.repo(PRIMARY, "replicated") == "before the stall"  # data is kept
    res = ok(g.run(TEARDOWN, ghe_teardown_dns=True, ghe_teardown_security_groups=True))
    assert res.changed == 0, res.stdout[-4000:]


def test_manage_api_maintenance_status_and_auth(ghe_lab):
    g = ghe_lab
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # each appliance serves a self-signed certificate
    base = f"https://{g.ip(SPARE)}:8443/manage/v1/maintenance"

    def call(password, body=None):
        token = base64.b64encode(f"api_key:{password}".encode()).decode()
        req = urllib.request.Request(base, data=json.dumps(body).encode() if body is not None else None,
                                     method="POST" if body is not None else "GET",
                                     headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10, context=context) as resp:  # noqa: S310 (lab address)
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    assert call(WRONG_PASSWORD) == (401, {"message": "Unauthorized"})
    assert call(g.password)[1][0]["status"] == "off"
    assert call(g.password, {"enabled": True, "when": "now"})[0] == 200
    assert g.maintenance(SPARE) and g.http_status(SPARE) == 503
    status, body = call(g.password)
    assert status == 200 and body[0]["status"] == "on" and body[0]["hostname"] == SPARE
    assert {s["name"] for s in body[0]["connection_services"]} >= {"git operations", "mysql queries"}
    assert call(g.password, {"enabled": False})[0] == 200
    assert not g.maintenance(SPARE) and g.http_status(SPARE) == 200
    with urllib.request.urlopen(f"https://{g.ip(SPARE)}/status", timeout=10, context=context) as resp:  # noqa: S310
        assert resp.status == 200


def test_no_secret_in_any_output(ghe_lab):
    g = ghe_lab
    assert len(g.outputs) >= 15
    logs = "\n".join(g.outputs)
    assert g.password not in logs and WRONG_PASSWORD not in logs
    # The Manage API's own log has request lines only.
    for host in (PRIMARY, REPLICA):
        log = g.lab.exec(host, "cat", "/var/log/lab/ghe-httpd.log").stdout
        assert "/manage/v1/access/ssh" in log or host == REPLICA
        assert g.password not in log and WRONG_PASSWORD not in log
