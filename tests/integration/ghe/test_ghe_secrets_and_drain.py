"""GHE secrets never show, and a planned failover waits for activity to drain. Its own lab.

Secrets: the root site administrator password (Manage API) and AWS keys (secret key, session
token) given to the playbooks. Bad input that carries them, then a converge with -vvv, one at
normal verbosity, --check --diff -vvv on a drifted pair, then the failover at -vvv: none of them
shows the secrets in any form (tests/integration/leaks.py: wrapped by the YAML callback,
JSON-escaped, percent-encoded, base64 as in an Authorization header).

Drain: GitHub's failover procedure puts the primary in maintenance mode and waits "when the
number of active Git operations, MySQL queries, and Resque jobs reaches zero, wait 30 seconds"
(https://docs.github.com/en/enterprise-server@latest/admin/monitoring-and-managing-your-instance/configuring-high-availability/initiating-a-failover-to-your-replica-appliance).
The stand-in reports in-flight work on the Manage API that finishes some seconds after maintenance
mode is on; the failover runs with a quiet period above 0; the appliances' own journals (not the
playbook's output) show that ghe-repl-promote ran only after the primary reported no activity
and the quiet period had passed.
"""
from __future__ import annotations

import json

import pytest

from tests.integration.leaks import leaks

from .conftest import PRIMARY, REPLICA, SPARE

pytestmark = pytest.mark.lab

REPLICATION = "ghe_replication.yml"
FAILOVER = "ghe_failover.yml"
PASSWORD = "Sentinel-Manage/pw+9Zq4"  # the appliances' root site administrator password here
AWS_SECRET = "hapair/sentinel+Secret/Key0123456789abcd"
AWS_TOKEN = "hapair-sentinel-session-token-7Yq2"
SECRETS = (PASSWORD, AWS_SECRET, AWS_TOKEN)
SECRET_VARS = {"ghe_api_password": PASSWORD, "aws_secret_key": AWS_SECRET, "aws_session_token": AWS_TOKEN}
DRAIN_SECONDS = 20  # well above the 5 s between the role's polls, and any delay before its first poll
QUIET_SECONDS = 3


def dump(res):
    return res.stdout[-6000:] + res.stderr[-2000:]


def no_leak(res):
    found = leaks(res.stdout + "\n" + res.stderr, SECRETS)
    assert not found, f"secrets in the output: {found}"
    return res


def ok(res):
    assert res.rc == 0 and res.failed == 0, dump(res)
    return res


def journal(g, host):
    """The stand-in's own event journal of one appliance (tests/lab/sim/ghe/ghe_sim.py)."""
    text = g.lab.exec(host, "cat", "/var/log/lab/ghe-sim-events.log", check=False).stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def g(ghe_lab):
    """The lab with PASSWORD as every appliance's root site administrator password."""
    for host in (PRIMARY, REPLICA, SPARE):
        ghe_lab.lab.exec(host, "sh", "-c", "umask 077 && cat > /etc/github/manage-password", input=PASSWORD)
    return ghe_lab


@pytest.mark.parametrize(
    "playbook, extra, message",
    [
        (REPLICATION, {"dns_failover_ttl": 10}, "dns_failover_ttl: 10 s is outside 60-300 s"),
        (REPLICATION, {"ghe_primary": "ghe-9"}, "ghe_primary must name the primary appliance in the inventory"),
        (FAILOVER, {"ghe_replica": PRIMARY}, "ghe_failover_primary and ghe_failover_replica must name two different"),
    ],
    ids=["replication-ttl", "replication-unknown-primary", "failover-same-node"],
)
def test_bad_input_with_secrets_never_shows_them(g, playbook, extra, message):
    before = (g.role(PRIMARY), g.role(REPLICA), g.authorized_keys(PRIMARY))
    res = no_leak(g.run(playbook, "-vvv", diff=True, **SECRET_VARS, **extra))
    assert res.rc != 0 and message in " ".join(res.stdout.split()).replace("''", "'"), dump(res)
    assert res.changed == 0, dump(res)
    assert (g.role(PRIMARY), g.role(REPLICA), g.authorized_keys(PRIMARY)) == before


def test_converge_verbose_normal_and_check_diff_never_show_secrets(g):
    # -vvv on a fresh pair: module arguments are printed (the password masked), the replica's key
    # is authorised through the Manage API with PASSWORD, security group and DNS use the AWS keys.
    res = ok(no_leak(g.run(REPLICATION, "-vvv", **SECRET_VARS)))
    assert '"primary_api_password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in res.stdout, dump(res)
    assert g.role(REPLICA) == "replica" and g.status(REPLICA)[0] == 0
    replica_key = g.lab.exec(REPLICA, "cat", "/home/admin/.ssh/id_ed25519.pub").stdout.split()[1]
    assert replica_key in g.authorized_keys(PRIMARY)
    # Normal verbosity on the converged pair.
    res = ok(no_leak(g.run(REPLICATION, **SECRET_VARS)))
    assert res.changed == 0, dump(res)
    # --check --diff -vvv on a drifted pair (the replica torn down on the appliance): setting it
    # up again is planned, with the password among the (masked) module arguments.
    g.lab.exec(REPLICA, "ghe-repl-teardown")
    assert g.role(REPLICA) == "standalone"
    res = ok(no_leak(g.run(REPLICATION, "-vvv", check=True, diff=True, **SECRET_VARS)))
    assert res.recap[REPLICA]["changed"] >= 1, dump(res)
    assert '"primary_api_password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in res.stdout, dump(res)
    assert g.role(REPLICA) == "standalone"
    ok(no_leak(g.run(REPLICATION, **SECRET_VARS)))
    g.wait_in_sync(REPLICA)


def test_failover_waits_for_activity_to_drain_then_the_quiet_period(g, tmp_path):
    seen_primary, seen_replica = len(journal(g, PRIMARY)), len(journal(g, REPLICA))
    # In-flight work on the primary, reported by its Manage API until maintenance mode has been
    # on for DRAIN_SECONDS.
    g.lab.exec(PRIMARY, "sh", "-c", "cat > /run/ghe-sim/activity.json",
               input=json.dumps({"git operations": 3, "mysql queries": 2, "drain_after_seconds": DRAIN_SECONDS}))
    res = ok(no_leak(g.run(FAILOVER, "-vvv", ghe_failover_quiesce_seconds=QUIET_SECONDS,
                           ghe_failover_activity_timeout=120, ghe_failover_report_dir=str(tmp_path), **SECRET_VARS)))
    assert g.role(REPLICA) == "primary" and g.maintenance(PRIMARY), dump(res)
    # What happened, read from the appliances' own journals.
    primary = journal(g, PRIMARY)[seen_primary:]
    on = [e["t"] for e in primary if e["event"] == "maintenance" and e["enabled"]]
    assert len(on) == 1, primary
    polls = [e for e in primary if e["event"] == "maintenance-status" and e["t"] >= on[0]]
    busy = [e for e in polls if e["total"] > 0]
    idle = [e for e in polls if e["total"] == 0]
    assert busy, f"the failover never saw the primary busy (maintenance on at {on[0]}): {polls}"
    assert idle, f"the failover never saw the primary idle (maintenance on at {on[0]}): {polls}"
    drained = idle[0]["t"]
    assert drained >= on[0] + DRAIN_SECONDS and all(e["t"] < drained for e in busy), polls
    promoted = [e["t"] for e in journal(g, REPLICA)[seen_replica:] if e["event"] == "promote"]
    assert len(promoted) == 1, journal(g, REPLICA)
    # ghe-repl-promote ran after the primary reported no activity, and the quiet period after that.
    assert promoted[0] >= drained + QUIET_SECONDS, (on[0], drained, promoted[0], polls)
    # The appliances' own logs never hold the password either.
    for host in (PRIMARY, REPLICA):
        logs = g.sh(host, "cat /var/log/lab/*.log", check=False).stdout
        assert "/manage/v1/maintenance" in logs or host == REPLICA
        assert not leaks(logs, SECRETS), host
