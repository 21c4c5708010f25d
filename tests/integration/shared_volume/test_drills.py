"""Failure drills on the converged pair. Each drill writes a file through the app on the VIP,
breaks the MASTER, and checks that the BACKUP now holds the VIP, has the volume mounted and
serves the file, and that the old MASTER has the volume unmounted. Every drill leaves the pair
settled again (one MASTER with the volume, one BACKUP), whichever node is MASTER."""
from __future__ import annotations

import time

import pytest

from tests.lab import observe

from .conftest import CONFIG, MOUNT_POINT, PAIR, VOLUME, served, write_mmp_sequence


@pytest.fixture(autouse=True)
def healthy_pair(converged):
    """Before each drill: both hosts up, both keepalived running, both apps up, the pair settled."""
    converged.lab.boot_stopped()
    for host in PAIR:
        converged.sh(host, "rm -f /etc/lab-webapp/broken; systemctl start lab-webapp")
        if not converged.keepalived_running(host):
            converged.start_keepalived(host)
    converged.settled(timeout=60)
    return converged


def stop_both(pair) -> tuple[str, str, str]:
    """A clean stop of both nodes (the MASTER unmounts on STOP): (master, backup, device)."""
    master = pair.master()
    backup = pair.other(master)
    pair.sh(backup, "systemctl stop keepalived")
    pair.sh(master, "systemctl stop keepalived")
    pair.wait(lambda: not pair.mounted(master), 10)
    return master, backup, pair.lab.host_disks()["shared"]


@pytest.mark.parametrize("whom", ["main", "all"])
def test_sigkill_of_the_masters_keepalived_moves_vip_volume_and_data(converged, whom):
    """``--kill-whom=main``: systemd stops the rest of keepalived, whose VRRP child runs the STOP
    notify; ``--kill-whom=all``: no keepalived process is left to notify anything, and the
    unit's ExecStopPost= releases the VIP and the volume."""
    old = converged.master()
    new = converged.other(old)
    converged.put("before-sigkill.txt", "written on the old MASTER")
    cursor = observe.journal_cursor(converged.lab, old)
    t0 = time.monotonic()
    converged.kill_keepalived(old, whom)
    took = converged.wait(served(converged, new, "before-sigkill.txt", "written on the old MASTER"), 30)
    print(f"SIGKILL ({whom}) of {old}'s keepalived -> {new} serves the file on the VIP after {took:.2f}s")
    assert converged.state(new) == "MASTER" and converged.mounted(new) and converged.has_vip(new)
    converged.wait(lambda: not converged.mounted(old) and not converged.has_vip(old), 5)
    log = observe.journal_after(converged.lab, old, cursor)
    assert f"10-shared-volume-data: unmount /dev/vdb from {MOUNT_POINT}" in log, log
    if whom == "all":
        # (the VIP itself may already be gone: keepalived's VRRP child starts its own shutdown
        # when its parent dies, until systemd's SIGKILL reaches it - has_vip above is the truth)
        assert "keepalived stopped (signal, killed KILL) while GITLAB was MASTER (hooks done)" in log, log
    assert time.monotonic() - t0 < 30
    # systemd restarts it (Restart=on-failure): back as BACKUP, it takes nothing back
    assert converged.settled(timeout=30) == new
    assert observe.keepalived_active(converged.lab, old)


RESTARTING = "check pair_app: failed: restarting the service once (systemctl restart lab-webapp)"


def restart_in_flight(pair, host) -> bool:
    """Whether the health check is between "restarting the service once" and its outcome, as
    keepalived's journal tells: on a busy machine the app started by the last drill's hook may
    have answered the check too late, and that restart may still be running."""
    lines = [line for line in pair.notify_log(host).splitlines() if line.startswith("check pair_app: ")]
    began = [i for i, line in enumerate(lines) if line == RESTARTING]
    return bool(began) and not any("passes after the restart" in line or "giving up" in line
                                   for line in lines[began[-1] + 1:])


def test_a_failed_app_is_restarted_once_and_the_node_stays_master(converged):
    master = converged.master()
    converged.wait(lambda: not restart_in_flight(converged, master), 30, what=f"{master}'s health check to be idle")
    log = converged.notify_log(master)
    restarts, passes = log.count(RESTARTING), log.count("passes after the restart")
    cursor = observe.journal_cursor(converged.lab, master)
    converged.sh(master, "systemctl kill -s KILL lab-webapp")
    converged.wait(lambda: converged.notify_log(master).count("passes after the restart") == passes + 1, 20)
    # counted over the whole journal: the check's first line can fall on either side of the cursor's edge
    assert converged.notify_log(master).count(RESTARTING) == restarts + 1
    log = observe.journal_after(converged.lab, master, cursor)
    assert converged.state(master) == "MASTER" and converged.mounted(master)
    assert converged.served_by() == master
    assert "giving up" not in log


def test_an_app_that_stays_down_makes_the_check_give_up_and_the_peer_take_over(converged):
    old = converged.master()
    new = converged.other(old)
    converged.put("before-app-failure.txt", "written before the app broke")
    # the one restart cannot help: the app refuses to start while it is broken
    cursor = observe.journal_cursor(converged.lab, old)
    restarts_before = converged.notify_log(old).count("failed: restarting the service once")
    converged.sh(old, "touch /etc/lab-webapp/broken; systemctl stop lab-webapp")
    took = converged.wait(served(converged, new, "before-app-failure.txt", "written before the app broke"), 40)
    print(f"app stopped on {old} -> {new} serves the file on the VIP after {took:.2f}s")
    converged.wait(lambda: not converged.keepalived_running(old), 10)
    assert not converged.mounted(old) and not converged.has_vip(old)
    assert converged.mounted(new) and converged.state(new) == "MASTER"
    log = observe.journal_after(converged.lab, old, cursor)
    assert "restart exited with status 1" in log, log
    assert "lab-webapp: broken (/etc/lab-webapp/broken exists)" in observe.journal(converged.lab, old, "lab-webapp")
    assert "still failing after one restart: giving up, stopping keepalived so that the peer takes over" in log
    # (counted over the whole journal: the line can fall on either side of the cursor's edge)
    assert converged.notify_log(old).count("failed: restarting the service once") == restarts_before + 1
    # keepalived itself is stopped (systemd's view), not failed: it stays down by design
    assert converged.state(old) == "STOP"
    assert converged.lab.exec(old, "systemctl", "is-active", "keepalived", check=False).stdout.strip() == "inactive"


def test_the_guard_refuses_to_mount_while_the_other_node_holds_the_volume(converged):
    holder = converged.master()
    other = converged.other(holder)
    converged.put("before-split.txt", "written before the split brain")
    # an operator (or a script) mounting by hand on the BACKUP is refused, and told why
    t0 = time.monotonic()
    manual = converged.sh(other, f"{VOLUME} --config {CONFIG} mount", check=False)
    refused_after = time.monotonic() - t0
    assert manual.returncode == 3, manual.stdout + manual.stderr
    assert "refusing to mount" in manual.stdout and "another node holds it" in manual.stdout
    assert "MMP sequence was still changing" in manual.stdout
    assert not converged.mounted(other) and converged.mounted(holder)
    print(f"manual mount on {other} refused after {refused_after:.1f}s")
    # split brain: the nodes stop hearing each other (links up, VRRP lost both ways), so the
    # BACKUP becomes MASTER too; its notify hook tries to mount and the guard refuses (the
    # holder's kernel keeps the MMP block moving)
    # (a policy rule ahead of the local table drops VRRP from the peer; links stay up)
    ips = {h: converged.lab.ip(h, "lan") for h in PAIR}
    for host in PAIR:
        converged.sh(host, f"ip rule add pref 10 from {ips[converged.other(host)]} ipproto 112 blackhole && "
                           "ip rule add pref 100 lookup local && ip rule del pref 0")
    try:
        converged.wait(lambda: converged.state(other) == "MASTER", 15)
        converged.wait(lambda: "10-shared-volume-data: error: refusing to mount" in converged.notify_log(other), 30)
        assert not converged.mounted(other)
        assert converged.mounted(holder) and converged.state(holder) == "MASTER"
        assert "retry data: still refused" in converged.notify_log(other) or "retrying in the background" in converged.notify_log(other)
    finally:
        for host in PAIR:
            converged.sh(host, "ip rule add pref 0 lookup local; ip rule del pref 100; ip rule del pref 10", check=False)
    # healed: VRRP keeps one MASTER; if that is the node without the volume, its retry takes
    # the volume as soon as the other has released it
    winner = converged.settled(timeout=60)
    converged.wait(served(converged, winner, "before-split.txt", "written before the split brain"), 10)


def test_fsck_runs_before_mount_when_the_filesystem_has_errors(converged):
    master, backup, device = stop_both(converged)
    assert "STOP" in converged.state(master)
    # what a crash can leave: a superblock that records errors
    converged.sh(master, f"debugfs -w -R 'ssv state 2' {device}")
    assert "with errors" in converged.sh(master, f"dumpe2fs -h {device} 2>/dev/null | grep 'state:'").stdout
    cursor = observe.journal_cursor(converged.lab, master)
    converged.start_keepalived(master)
    converged.wait(lambda: converged.mounted(master), 60)
    converged.wait_logged(master, cursor, ("check the filesystem of", "the superblock says 'not clean with errors'",
                                           "e2fsck: "))
    assert "clean" in converged.sh(master, f"dumpe2fs -h {device} 2>/dev/null | grep 'state:'").stdout
    converged.start_keepalived(backup)
    assert converged.settled(timeout=30) == master


def test_a_volume_left_by_a_dead_holder_is_taken_after_the_stale_wait_with_fsck(converged):
    """The holder died with the volume mounted (power loss: no unmount, its MMP sequence frozen,
    not clean). The new MASTER's guard sees the sequence stand still for 2 x update interval + 1 s,
    takes the volume, and runs fsck first. (In the lab a dead host's kernel mount goes away with
    its namespaces, so the test writes the frozen MMP block itself.)"""
    master, backup, device = stop_both(converged)
    write_mmp_sequence(converged.lab.disks["shared"], 0x12345, "gl-dead")
    mmp = converged.sh(master, f"debugfs -c -R dump_mmp {device} 2>/dev/null").stdout
    assert "sequence: 00012345" in mmp and "node_name: gl-dead" in mmp
    cursor = observe.journal_cursor(converged.lab, backup)
    t0 = time.monotonic()
    converged.start_keepalived(backup)
    converged.wait(lambda: converged.mounted(backup), 60)
    took = time.monotonic() - t0
    converged.wait_logged(backup, cursor, ("MMP sequence unchanged for", "stopped without releasing it",
                                           "the last node to hold it did not release it cleanly", "e2fsck: "))
    print(f"volume left by a dead holder: mounted on {backup} {took:.1f}s after its keepalived started")
    converged.start_keepalived(master)
    assert converged.settled(timeout=30) == backup
    rc, body = converged.http("/uploads/before-sigkill.txt")
    assert rc == 0 and body == "written on the old MASTER"
