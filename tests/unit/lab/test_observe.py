"""The lab's observer must not disturb what it observes: keepalived's state dump is asked for
(SIGUSR1) only once every keepalived process handles the signal."""
from __future__ import annotations

import subprocess

from tests.lab import observe

READY_BLOCKED = "0000000000000200:0000000180004a03"   # keepalived: USR1 blocked (read from a signalfd)
READY_CAUGHT = "0000000000000000:0000000000000200"    # a plain handler
STARTING = "0000000000000000:0000000000000000"        # exec'd, nothing set up: USR1 would kill it


class FakeLab:
    def __init__(self, masks: list[str], active: bool = True):
        self.masks = masks
        self.active = active
        self.signalled = []

    def running_host(self, host):
        return True

    def exec(self, host, *cmd, check=True, **_kw):
        if cmd[:2] == ("systemctl", "is-active"):
            return subprocess.CompletedProcess(cmd, 0, "active\n" if self.active else "inactive\n", "")
        if cmd[:2] == ("sh", "-c") and "SigBlk" in cmd[2]:
            return subprocess.CompletedProcess(cmd, 0, "".join(m + "\n" for m in self.masks), "")
        if cmd[:2] == ("systemctl", "kill"):
            self.signalled.append(cmd)
            return subprocess.CompletedProcess(cmd, 0, "", "")
        return subprocess.CompletedProcess(cmd, 1, "", "")


def test_a_keepalived_still_starting_is_not_signalled():
    lab = FakeLab([READY_BLOCKED, STARTING])
    assert observe.keepalived_states(lab, "db-02", timeout=0.1) == {}
    assert lab.signalled == []
    assert observe.keepalived_state(lab, "db-02") == "STOP"


def test_a_vanished_process_counts_as_not_ready():
    lab = FakeLab([READY_BLOCKED, ":"])
    assert observe.keepalived_states(lab, "db-02", timeout=0.1) == {}
    assert lab.signalled == []


def test_ready_processes_are_asked_for_their_dump():
    for masks in ([READY_BLOCKED, READY_BLOCKED], [READY_CAUGHT]):
        lab = FakeLab(masks)
        observe.keepalived_states(lab, "db-02", timeout=0.1)
        assert len(lab.signalled) == 1 and "USR1" in lab.signalled[0]


def test_no_keepalived_process_means_not_running():
    lab = FakeLab([])
    assert observe.keepalived_states(lab, "db-02", timeout=0.1) == {}
    assert lab.signalled == []


def test_parse_dump_reads_each_instance_state():
    text = " VRRP Instance = VIP\n   State = MASTER\n VRRP Instance = HB\n   State = BACKUP\n"
    assert observe.parse_dump(text) == {"VIP": "MASTER", "HB": "BACKUP"}
