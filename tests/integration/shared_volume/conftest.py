"""The keepalived master/backup lab (topology ``keepalived``, slot 5) for the shared-volume
tests: gl-1 and gl-2 (the pair, each running the lab's simulated web app as user git) see one
loop device; client-1 reaches the VIP through an on-link route the fixture adds (the VIP is
from the slot's VIP block, 198.19.95.0/24, which no bridge carries).

Both nodes share one kernel, which would mount the volume on both: what keeps the second node
off is the shared_volume role's guard, which the tests exercise."""
from __future__ import annotations

import struct
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lab import ansible_run, observe
from tests.lab.pytest_support import running_lab

HERE = Path(__file__).resolve().parent
LAB_VARS = HERE / "lab_vars.yml"
PLAYBOOK = "playbooks/keepalived_shared_volume.yml"
PAIR = ("gl-1", "gl-2")
MOUNT_POINT = "/home/git/gitlab-data"
CONFIG = "/etc/hapair/shared-volume/data.json"
VOLUME = "/usr/local/libexec/hapair/hapair-volume"


@dataclass
class PairLab:
    lab: object
    vip: str

    # ---- observation ----------------------------------------------------------------------
    def sh(self, host: str, command: str, check: bool = True):
        return self.lab.exec(host, "sh", "-c", command, check=check)

    def state(self, host: str) -> str:
        """VRRP state from keepalived itself (its data dump); STOP when it is not running."""
        return observe.keepalived_state(self.lab, host)

    def mounted(self, host: str) -> bool:
        """The kernel's view: the volume's mount point is in the host's /proc/mounts."""
        return observe.mounted(self.lab, host, MOUNT_POINT)

    def has_vip(self, host: str) -> bool:
        return observe.has_address(self.lab, host, self.vip)

    def keepalived_running(self, host: str) -> bool:
        return observe.keepalived_active(self.lab, host)

    def master(self, timeout: float = 10.0) -> str:
        """The one MASTER. A read of keepalived's data dump that a busy host answers too late
        reads as STOP, so a few reads are allowed before two MASTERs or none count."""
        deadline = time.monotonic() + timeout
        while True:
            states = [(h, self.state(h)) for h in PAIR]
            masters = [h for h, state in states if state == "MASTER"]
            if len(masters) == 1:
                return masters[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"expected one MASTER, states: {states}")
            time.sleep(0.5)

    def other(self, host: str) -> str:
        return next(h for h in PAIR if h != host)

    def http(self, path: str, timeout: float = 1.0) -> tuple[int, str]:
        """GET http://VIP:8080/path from the client: (curl exit status, body)."""
        proc = self.lab.exec("client-1", "curl", "-fsS", "-m", str(timeout), f"http://{self.vip}:8080{path}", check=False)
        return proc.returncode, proc.stdout.strip()

    def put(self, name: str, text: str) -> None:
        """Write a file through the app on the VIP (PUT /uploads/NAME)."""
        proc = self.lab.exec("client-1", "sh", "-c", f"printf '%s' '{text}' > /tmp/put && "
                             f"curl -fsS -m 5 -T /tmp/put http://{self.vip}:8080/uploads/{name}", check=False)
        assert proc.returncode == 0, f"PUT {name} failed: {proc.stdout} {proc.stderr}"

    def served_by(self) -> str:
        rc, body = self.http("/-/whoami")
        return body if rc == 0 else ""

    def notify_log(self, host: str) -> str:
        """keepalived's journal: its own lines and the collection's dispatcher, checks and hooks."""
        return observe.journal(self.lab, host)

    def wait_logged(self, host: str, cursor: str, wanted: tuple[str, ...], timeout: float = 20) -> str:
        """keepalived's journal after ``cursor`` once it holds every line of ``wanted``: the
        dispatcher logs a hook's output when the hook has finished, after what the hook did
        (a mount) can already be seen."""
        self.wait(lambda: all(w in observe.journal_after(self.lab, host, cursor) for w in wanted), timeout,
                  what=f"{host}'s journal to show {wanted}")
        return observe.journal_after(self.lab, host, cursor)

    def wait(self, predicate, timeout: float, interval: float = 0.1, what: str = "") -> float:
        t0 = time.monotonic()
        while True:
            if predicate():
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"not reached within {timeout}s: {what or predicate}; states "
                                     f"{[(h, self.state(h), self.mounted(h)) for h in PAIR]}")
            time.sleep(interval)

    def settled(self, timeout: float = 30) -> str:
        """Wait for one MASTER with the volume and the VIP, and a BACKUP without them."""
        seen = {}

        def ok():
            states = {h: self.state(h) for h in PAIR}
            if sorted(states.values()) != ["BACKUP", "MASTER"]:
                return False
            seen["master"] = next(h for h in PAIR if states[h] == "MASTER")
            m = seen["master"]
            return self.mounted(m) and not self.mounted(self.other(m)) and self.has_vip(m)
        self.wait(ok, timeout, what="one MASTER with the volume, one BACKUP")
        return seen["master"]  # the observation that settled it, not a second read

    # ---- actions ----------------------------------------------------------------------------
    def kill_keepalived(self, host: str, whom: str = "main") -> None:
        """SIGKILL keepalived through systemd: ``main`` - its main process (systemd then stops
        what is left of the service); ``all`` - every process of the service at once, so that
        no keepalived process is left to run a notify script."""
        assert self.keepalived_running(host), f"no keepalived on {host}"
        self.lab.exec(host, "systemctl", "kill", "-s", "KILL", f"--kill-whom={whom}", "keepalived")

    def start_keepalived(self, host: str) -> None:
        self.lab.exec(host, "systemctl", "start", "keepalived")

    def run(self, check: bool = False, diff: bool = False, **overrides):
        ev = {"pair_vip": f"{self.vip}/32"}
        ev.update(overrides)
        return ansible_run.playbook(self.lab, PLAYBOOK, "-e", f"@{LAB_VARS}", extra_vars=ev, check=check, diff=diff)


def served(pair, host: str, name: str, text: str):
    """A predicate: ``host`` answers on the VIP and serves /uploads/NAME with ``text``."""
    def check():
        if pair.served_by() != host:
            return False
        rc, body = pair.http(f"/uploads/{name}")
        return rc == 0 and body == text
    check.__doc__ = f"{host} serves /uploads/{name} on the VIP"
    return check


def _crc32c(crc: int, data: bytes) -> int:
    for byte in data:
        crc ^= byte
        for _bit in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc


def write_mmp_sequence(device: str, seq: int, node: str) -> None:
    """Leave the MMP block as a node that died with the volume mounted leaves it: a sequence that
    is not clean, its node name, and a valid checksum (metadata_csum: crc32c seeded with the
    filesystem UUID over the 1020 bytes before it). debugfs cannot do this: it writes a clean
    sequence when it closes the device. Written from the controller, with the volume unmounted."""
    sb = subprocess.run(["dumpe2fs", "-h", device], capture_output=True, text=True, check=True).stdout
    fields = {parts[0].strip(): parts[2].strip() for parts in (line.partition(":") for line in sb.splitlines())}
    block_size, block = int(fields["Block size"]), int(fields["MMP block number"])
    with open(device, "r+b") as fh:
        fh.seek(block * block_size)
        mmp = bytearray(fh.read(1024))
        struct.pack_into("<I", mmp, 4, seq)
        struct.pack_into("<Q", mmp, 8, int(time.time()))
        mmp[16:80] = node.encode().ljust(64, b"\0")
        seed = _crc32c(0xFFFFFFFF, uuid.UUID(fields["Filesystem UUID"]).bytes)
        struct.pack_into("<I", mmp, 1020, _crc32c(seed, bytes(mmp[:1020])))
        fh.seek(block * block_size)
        fh.write(mmp)


def dump(result) -> str:
    return result.stdout[-5000:] + result.stderr[-2000:]


@pytest.fixture(scope="package")
def pair_lab():
    with running_lab("keepalived") as lab:
        vip = str(lab.topo.vip_network.network_address + 10)
        lab.exec("client-1", "ip", "route", "add", f"{vip}/32", "dev", "eth0")
        yield PairLab(lab=lab, vip=vip)


@pytest.fixture(scope="package")
def converged(pair_lab):
    """The pair converged once by playbooks/keepalived_shared_volume.yml."""
    first = pair_lab.run()
    assert first.rc == 0, dump(first)
    pair_lab.first_run = first
    pair_lab.settled()
    return pair_lab
