"""Crashes of the VIP pair under systemd: keepalived killed while a notify hook still runs, and
the MASTER host crashed (PID 1 killed) then booted again. The VIP and every route table (read
from moto) must end on the peer; nothing is released by the test."""
from __future__ import annotations

import time

import pytest

from tests.lab import observe

from .conftest import APPS, SWITCHOVER, dump

pytestmark = pytest.mark.lab

SLOW_HOOK = "/etc/keepalived/notify.d/40-lab-slow"
PAIR = ("db-01", "db-02")


def other(host: str) -> str:
    return "db-02" if host == "db-01" else "db-01"


def active(v, host: str) -> bool:
    return v.holders() == [host] and v.tables_point_at(host)


@pytest.fixture(autouse=True)
def healthy_pair(converged):
    v = converged
    v.lab.boot_stopped()
    for host in PAIR:
        v.lab.exec(host, "rm", "-f", SLOW_HOOK)
        if not v.keepalived_running(host):
            v.start_keepalived(host)
    v.wait(lambda: sorted(v.state(h) for h in PAIR) == ["BACKUP", "MASTER"] and len(v.holders()) == 1, 60)
    yield v
    v.lab.boot_stopped()
    for host in PAIR:
        v.lab.exec(host, "rm", "-f", SLOW_HOOK, check=False)
    # the other tests of the package start from db-01 active: hand it back, as an operator would
    v.wait(lambda: sorted(v.state(h) for h in PAIR) == ["BACKUP", "MASTER"], 60)
    back = v.run(SWITCHOVER, vip_switchover_to="db-01")
    assert back.rc == 0, dump(back)


def test_keepalived_killed_while_a_hook_runs_lets_the_peer_take_the_vip_and_routes(converged):
    v = converged
    a = v.holders()[0]
    b = other(a)
    # a hook of the test's own on b, before the route hook: b is killed before it moves routes
    v.lab.exec(b, "sh", "-c", f"printf '%s\\n' '#!/bin/sh' '[ \"$3\" = MASTER ] || exit 0' 'touch /run/lab-slow-started' "
                              f"'sleep 30' > {SLOW_HOOK} && chmod 0755 {SLOW_HOOK} && rm -f /run/lab-slow-started")
    cursor = observe.journal_cursor(v.lab, b)
    v.lab.exec(a, "systemctl", "restart", "keepalived")
    v.wait(lambda: v.lab.exec(b, "test", "-e", "/run/lab-slow-started", check=False).returncode == 0, 20)
    v.kill_keepalived(b, "all")  # no keepalived process is left to notify anything
    took = v.wait(lambda: active(v, a), 30)
    print(f"keepalived of {b} killed during its MASTER hooks -> VIP and tables on {a} after {took:.2f}s")
    v.wait(lambda: b not in v.holders(), 10)
    log = observe.journal_after(v.lab, b, cursor)
    assert "while VIP was MASTER (hooks interrupted)" in log, log
    assert "GROUP VIP -> STOP" in log.split("(hooks interrupted)", 1)[1], log
    v.wait(lambda: v.state(b) == "BACKUP", 30)
    assert active(v, a) and [v.app_reaches_vip(app) for app in APPS] == [a, a]


def test_a_crashed_master_host_hands_over_and_stays_backup_after_boot(converged):
    v = converged
    old = v.holders()[0]
    new = other(old)
    t0 = time.monotonic()
    v.lab.crash(old)
    took = v.wait(lambda: active(v, new), 30)
    print(f"{old} crashed (PID 1 killed) -> VIP and every table on {new} after {took:.2f}s")
    assert [v.app_reaches_vip(app) for app in APPS] == [new, new]
    booted = v.lab.boot(old)
    assert v.lab.exec(old, "systemctl", "is-enabled", "keepalived").stdout.strip() == "enabled"
    v.wait(lambda: v.state(old) == "BACKUP", 30)
    time.sleep(5)
    assert active(v, new) and v.state(new) == "MASTER"
    print(f"{old} booted again in {booted:.1f}s and is BACKUP; total {time.monotonic() - t0:.1f}s")
