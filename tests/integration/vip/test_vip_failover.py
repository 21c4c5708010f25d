"""Switchover and failover of the VIP pair in the lab: planned switchover there and back,
automatic failover on SIGKILL of the MASTER's keepalived and on the loss of both its links,
no failover when one link is cut; every time the VIP, keepalived and every route table (read
back from moto) must agree, and the app hosts must reach the VIP."""
from __future__ import annotations

import re
import time

import pytest

from tests.lab import observe
from tests.lab.pytest_support import default_release_only

from .conftest import APPS, SETUP, SWITCHOVER, dump

pytestmark = pytest.mark.lab

# what hapair-route-failover.service (the warm agent) logs when it moved the routes
AGENT_FAILOVER = re.compile(r"failover: exit 0 in [0-9.]+s - rtb-\S+: eni-\S+ -> eni-\S+ replaced")


def other(host: str) -> str:
    return "db-02" if host == "db-01" else "db-01"


def assert_active(v, host: str) -> None:
    assert v.holders() == [host], f"VIP holders {v.holders()}, expected {host}"
    assert v.tables_point_at(host), v.routes()
    assert v.state(host) == "MASTER", v.state(host)
    assert [v.app_reaches_vip(app) for app in APPS] == [host, host]


def master(v) -> str:
    holders = v.holders()
    assert len(holders) == 1, holders
    return holders[0]


def test_planned_switchover_there_and_back(converged):
    v = converged
    assert_active(v, "db-01")
    there = v.run(SWITCHOVER, vip_switchover_to="db-02")
    assert there.rc == 0 and there.changed > 0, dump(there)
    assert_active(v, "db-02")
    v.wait(lambda: v.state("db-01") == "BACKUP", 10)
    assert v.keepalived_running("db-01")
    assert "50-vip-route: routes point at this node" in v.notify_log("db-02")

    again = v.run(SWITCHOVER, vip_switchover_to="db-02")
    assert again.rc == 0 and again.changed == 0, dump(again)

    back = v.run(SWITCHOVER, vip_switchover_to="db-01")
    assert back.rc == 0 and back.changed > 0, dump(back)
    assert_active(v, "db-01")
    v.wait(lambda: v.state("db-02") == "BACKUP", 10)


@default_release_only  # bad input: refused before anything depends on the release
def test_switchover_to_an_unknown_node_fails_cleanly(converged):
    v = converged
    before = v.routes()
    result = v.run(SWITCHOVER, vip_switchover_to="db-03")
    assert result.rc != 0 and "vip_switchover_to: name the node" in result.stdout, dump(result)
    assert v.routes() == before and v.holders() == ["db-01"]


@pytest.mark.parametrize("whom", ["main", "all"])
def test_failover_when_the_masters_keepalived_is_killed(converged, whom):
    """``systemctl kill -s KILL --kill-whom=main keepalived``: systemd stops what is left of the
    service (keepalived's VRRP child leaves with priority 0 and runs the STOP notify).
    ``--kill-whom=all``: every keepalived process dies at once, no notify script runs, and the
    old MASTER lets go of the VIP through the unit's ExecStopPost=. Nothing is done by hand."""
    v = converged
    old = master(v)
    new = other(old)
    cursor = observe.journal_cursor(v.lab, old)
    agent_failovers = len(AGENT_FAILOVER.findall(observe.journal(v.lab, new, unit="hapair-route-failover")))
    v.kill_keepalived(old, whom)
    took = v.wait(lambda: v.holders() == [new] and v.tables_point_at(new), 20)
    assert_active(v, new)
    print(f"SIGKILL ({whom}) of {old}'s keepalived -> VIP on {new} and all tables switched in {took:.2f}s")
    # The old MASTER's STOP (its dispatcher, then ExecStopPost=) is logged while or after the
    # peer takes over - a failover of half a second can be over first: wait for the lines.
    expected = ["GROUP VIP -> STOP (priority 0)"]
    if whom == "all":
        # (the VIP itself may already be gone: keepalived's VRRP child starts its own shutdown
        # when its parent dies, until systemd's SIGKILL reaches it - holders() is the truth)
        expected.append("keepalived stopped (signal, killed KILL) while VIP was MASTER (hooks done)")
    try:
        v.wait(lambda: all(line in observe.journal_after(v.lab, old, cursor) for line in expected), 15)
    except AssertionError:
        pass  # the assertion below shows the journal
    log = observe.journal_after(v.lab, old, cursor)
    assert all(line in log for line in expected), log
    # the new MASTER's hook handed the failover to its warm agent, which moved the routes (it
    # logs after the read-back, so the line may follow the tables by a moment)

    def agent_logged():
        return len(AGENT_FAILOVER.findall(observe.journal(v.lab, new, unit="hapair-route-failover"))) > agent_failovers
    v.wait(agent_logged, 15)
    agent_log = observe.journal(v.lab, new, unit="hapair-route-failover")
    assert len(AGENT_FAILOVER.findall(agent_log)) == agent_failovers + 1, agent_log
    # systemd restarts it (Restart=on-failure); it comes back as BACKUP and takes nothing back.
    v.wait(lambda: v.state(old) == "BACKUP", 20)
    assert_active(v, new)
    converge = v.run(SETUP)
    assert converge.rc == 0 and converge.changed == 0, dump(converge)
    assert_active(v, new)


def test_cutting_one_link_does_not_fail_over(converged):
    v = converged
    active = master(v)
    routes = v.routes()
    for net in ("hb", "lan"):
        v.lab.set_link(active, net, False)
        try:
            # twice the time a backup needs to take over (3 advert intervals + skew)
            time.sleep(7)
            assert v.holders() == [active], f"{net} cut: VIP moved to {v.holders()}"
            assert v.state(other(active)) == "BACKUP" and v.state(active) == "MASTER"
            assert v.routes() == routes
        finally:
            v.lab.set_link(active, net, True)
    assert_active(v, active)


def test_losing_both_links_fails_over(converged):
    v = converged
    old = master(v)
    new = other(old)
    v.lab.set_link(old, "lan", False)
    v.lab.set_link(old, "hb", False)
    try:
        took = v.wait(lambda: new in v.holders() and v.tables_point_at(new), 20)
        print(f"both links of {old} cut -> {new} holds the VIP, all tables switched in {took:.2f}s")
        # the isolated node notices it lost every heartbeat path: FAULT, VIP dropped
        v.wait(lambda: v.state(old) == "FAULT" and v.holders() == [new], 10)
    finally:
        v.lab.set_link(old, "lan", True)
        v.lab.set_link(old, "hb", True)
    # back on the network it stays BACKUP (nopreempt); nothing flaps back
    v.wait(lambda: v.state(old) == "BACKUP", 15)
    assert_active(v, new)
    assert "GROUP VIP -> FAULT" in v.notify_log(old)
