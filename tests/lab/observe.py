"""What tests read from a lab host's system itself: keepalived's VRRP state from keepalived (its
state dump), logs from the journal, mounts from /proc/mounts. Never from files the collection's
own scripts write."""
from __future__ import annotations

import time

DUMP = "/tmp/keepalived.data"


def keepalived_active(lab, host: str) -> bool:
    """systemd's view: keepalived.service is running (not stopped, not failed). A host that is
    down runs nothing."""
    if not lab.running_host(host):
        return False
    return lab.exec(host, "systemctl", "is-active", "keepalived", check=False).stdout.strip() in ("active", "reloading")


def keepalived_states(lab, host: str, timeout: float = 10.0) -> dict[str, str]:
    """{VRRP instance: state} as keepalived itself reports it: SIGUSR1 makes keepalived write
    its data dump (``/tmp/keepalived.data``, "VRRP Instance = X" ... "State = MASTER"). {} when
    keepalived is not running."""
    if not keepalived_active(lab, host) or not _catches_usr1(lab, host):
        return {}
    before = lab.exec(host, "stat", "-c", "%Y.%y", DUMP, check=False).stdout
    lab.exec(host, "systemctl", "kill", "--kill-whom=main", "-s", "USR1", "keepalived", check=False)
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        stat = lab.exec(host, "stat", "-c", "%Y.%y", DUMP, check=False).stdout
        if stat and stat != before:
            time.sleep(0.05)  # the dump is written at once; let it finish
            text = lab.exec(host, "cat", DUMP, check=False).stdout
            if text:
                break
        time.sleep(0.05)
    return parse_dump(text)


# SIGUSR1 is signal 10: bit 9 of the SigBlk/SigCgt masks in /proc/PID/status.
_USR1_BIT = 1 << 9
_SIGMASKS = ("for p in $(pgrep -x keepalived); do "
             "printf '%s:%s\\n' $(sed -n 's/^SigBlk:[[:space:]]*//p; s/^SigCgt:[[:space:]]*//p' /proc/$p/status); done")


def _catches_usr1(lab, host: str) -> bool:
    """True when every keepalived process has set up its SIGUSR1 handling (keepalived blocks the
    signal and reads it from a signalfd, so it shows in SigBlk; a plain handler shows in SigCgt).
    systemd reports a Type=simple service active as soon as it has forked it, and a SIGUSR1 that
    arrives before keepalived is ready kills it (the default action): the observer would crash
    the daemon it observes. Until then keepalived is taken as not running yet."""
    lines = lab.exec(host, "sh", "-c", _SIGMASKS, check=False).stdout.split()
    masks = [line.split(":") for line in lines]
    return bool(masks) and all(len(m) == 2 and all(m) and (int(m[0], 16) | int(m[1], 16)) & _USR1_BIT for m in masks)


def parse_dump(text: str) -> dict[str, str]:
    states: dict[str, str] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("VRRP Instance = "):
            current = line.split("=", 1)[1].strip()
        elif current and line.startswith("State = "):
            states[current] = line.split("=", 1)[1].strip()
            current = None
    return states


def keepalived_state(lab, host: str) -> str:
    """The node's one VRRP state (every instance of it agrees, as in a sync group), "STOP" when
    keepalived is not running, "MIXED:..." when its instances disagree."""
    states = keepalived_states(lab, host)
    if not states:
        return "STOP"
    values = sorted(set(states.values()))
    return values[0] if len(values) == 1 else "MIXED:" + ",".join(f"{k}={v}" for k, v in sorted(states.items()))


def journal(lab, host: str, unit: str = "keepalived", since: str | None = None) -> str:
    """``journalctl -u UNIT`` of a host, message text only."""
    cmd = ["journalctl", "--no-pager", "-o", "cat", "-u", unit]
    if since:
        cmd += ["--since", since]
    return lab.exec(host, *cmd, check=False).stdout


def journal_cursor(lab, host: str) -> str:
    """A point in the host's journal: pass it to ``journal_after`` to read only what follows."""
    out = lab.exec(host, "journalctl", "--no-pager", "-n", "0", "--show-cursor", check=False).stdout
    for line in out.splitlines():
        if line.startswith("-- cursor: "):
            return line[len("-- cursor: "):].strip()
    return ""


def journal_after(lab, host: str, cursor: str, unit: str = "keepalived") -> str:
    cmd = ["journalctl", "--no-pager", "-o", "cat", "-u", unit]
    if cursor:
        cmd += ["--after-cursor", cursor]
    return lab.exec(host, *cmd, check=False).stdout


def mounted(lab, host: str, mount_point: str) -> bool:
    """The kernel's view (the host's /proc/mounts); a host that is down mounts nothing."""
    if not lab.running_host(host):
        return False
    text = lab.exec(host, "cat", "/proc/mounts").stdout
    return any(line.split()[1] == mount_point for line in text.splitlines() if len(line.split()) > 1)


def has_address(lab, host: str, address: str) -> bool:
    """``ip addr`` on the host has this address on some interface (a host that is down: no)."""
    if not lab.running_host(host):
        return False
    return bool(lab.exec(host, "ip", "-o", "-4", "addr", "show", "to", f"{address}/32", check=False).stdout.strip())
