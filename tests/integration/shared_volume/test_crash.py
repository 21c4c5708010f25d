"""Crashes under systemd: keepalived killed while a notify hook is still running, and the whole
MASTER host crashed (its PID 1 killed, its shared disk left as a power cut leaves it) and booted
again. The peer must take over and serve the data written before the fault; nothing is
released or unmounted by the test."""
from __future__ import annotations

import time

import pytest

from tests.lab import observe

from .conftest import PAIR, served

pytestmark = pytest.mark.lab

SLOW_HOOK = "/etc/keepalived/notify.d/15-lab-slow"


@pytest.fixture(autouse=True)
def healthy_pair(converged):
    converged.lab.boot_stopped()
    for host in PAIR:
        converged.sh(host, f"rm -f /etc/lab-webapp/broken {SLOW_HOOK}; systemctl start lab-webapp")
        if not converged.keepalived_running(host):
            converged.start_keepalived(host)
    converged.settled(timeout=60)
    yield converged
    converged.lab.boot_stopped()
    for host in PAIR:
        converged.sh(host, f"rm -f {SLOW_HOOK}", check=False)


def test_keepalived_killed_while_a_notify_hook_runs_releases_and_the_peer_takes_over(converged):
    a = converged.master()
    b = converged.other(a)
    converged.put("before-hook-kill.txt", "written before the hook was interrupted")
    # a hook of the test's own on b, after the volume's: it is still running when keepalived dies
    converged.sh(b, f"printf '%s\\n' '#!/bin/sh' '[ \"$3\" = MASTER ] || exit 0' 'touch /run/lab-slow-started' "
                    f"'sleep 30' > {SLOW_HOOK} && chmod 0755 {SLOW_HOOK} && rm -f /run/lab-slow-started")
    cursor = observe.journal_cursor(converged.lab, b)
    # a planned restart of the MASTER's keepalived hands the VIP to b, whose hooks start
    converged.sh(a, "systemctl restart keepalived")
    converged.wait(lambda: converged.sh(b, "test -e /run/lab-slow-started", check=False).returncode == 0, 20,
                   what="b's slow hook started")
    assert converged.mounted(b)
    converged.kill_keepalived(b, "all")  # no keepalived process is left to notify anything
    took = converged.wait(served(converged, a, "before-hook-kill.txt", "written before the hook was interrupted"), 30)
    print(f"keepalived of {b} killed during its MASTER hooks -> {a} serves the file after {took:.2f}s")
    converged.wait(lambda: not converged.mounted(b) and not converged.has_vip(b), 10)
    log = observe.journal_after(converged.lab, b, cursor)
    assert "while GITLAB was MASTER (hooks interrupted)" in log, log
    assert "10-shared-volume-data: /dev/vdb is not mounted here" in log, log
    # b's keepalived is restarted by systemd and stays BACKUP
    assert converged.settled(timeout=30) == a


def test_a_crashed_master_host_is_replaced_and_comes_back_as_backup(converged):
    lab = converged.lab
    old = converged.master()
    new = converged.other(old)
    converged.put("before-crash.txt", "written before the power cut")
    cursor = observe.journal_cursor(lab, new)
    t0 = time.monotonic()
    lab.crash(old)
    took = converged.wait(served(converged, new, "before-crash.txt", "written before the power cut"), 90)
    print(f"{old} crashed (PID 1 killed) -> {new} serves the file written before it after {took:.2f}s")
    # the dead holder left the volume unreleased: the guard waited for its MMP to go stale and
    # e2fsck replayed the journal (the hook's output is logged when the hook has finished)
    converged.wait_logged(new, cursor, ("stopped without releasing it", "its journal needs recovery", "e2fsck: "), 30)
    assert converged.mounted(new) and converged.has_vip(new)
    # power back on: the node boots with keepalived enabled, comes back as BACKUP, takes nothing
    booted = lab.boot(old)
    assert lab.exec(old, "systemctl", "is-enabled", "keepalived").stdout.strip() == "enabled"
    converged.wait(lambda: converged.state(old) == "BACKUP", 30)
    time.sleep(5)  # more than 3 adverts: a node that wanted the VIP back would have taken it
    assert converged.settled(timeout=10) == new
    assert not converged.mounted(old) and not converged.has_vip(old)
    assert converged.served_by() == new
    print(f"{old} booted again in {booted:.1f}s and is BACKUP; total {time.monotonic() - t0:.1f}s")
