"""The lab: booted Debian servers in Linux namespaces, a moto server, IMDS emulators, disks.

Each host is a Debian server whose PID 1 is real systemd, booted from a copy-on-write overlay
over a debootstrapped image (``image.py``) by ``hostboot.sh``. Everything the lab creates carries
the topology's slot prefix (``hlNN``): network namespaces ``hlNN-<host>`` and ``hlNN-aws``,
bridges ``hlNNbrI``, root-side veths ``hlNNhHHnI``, cgroups ``hlNN-<host>``, the nftables
table ``bridge hlNN_partitions``. Every process it starts lives in one of those network
namespaces, so ``down`` finds them all with ``ip netns pids`` and kills them by PID — never by
name — whatever state a crashed run left. The one exception is the power watcher
(``powerwatch.py``, in the root namespace: it powers hosts off and on), whose PID the lab's
state records; ``down`` kills it by that PID, and it ends itself when the lab's state goes.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import yaml

from . import aws, image
from .topology import MAX_SLOT, Topology, load

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = Path(__file__).resolve().parent
STATE_ROOT = Path(os.environ.get("HAPAIR_LAB_STATE", "/tmp/hapair-lab"))
INVENTORY_DIR = REPO / "inventories" / "lab"
HOSTBOOT = LAB_DIR / "hostboot.sh"
# tests/lab as seen from inside every host (hostboot.sh binds it there, read-only).
HOST_LAB_DIR = "/run/lab/src"
IMDS = LAB_DIR / "imds.py"
SYSTEM_PYTHON = "/usr/bin/python3"
CGROUP_ROOTS = ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified")
# The names a virtual machine gives its extra disks, in the topology's order.
DISK_NAMES = ("vdb", "vdc", "vdd", "vde")
# linux/ext4.h: _IOR('X', 125, __u32), and the flag that drops the journal's pending writes.
EXT4_IOC_SHUTDOWN = 0x8004587D
EXT4_GOING_FLAGS_NOLOGFLUSH = 2
# ext4's multi-mount protection block (struct mmp_struct): its size and the clean sequence.
MMP_SIZE = 1024
MMP_SEQ_CLEAN = 0xFF4D4D50
# EC2 instance states in which the machine is off (or going off): the lab's host is crashed
# when its instance enters one of them (powerwatch.py), and booted when it is ``running`` again.
OFF_STATES = ("stopping", "stopped", "shutting-down", "terminated")
POWER_EVENTS = "power-events.jsonl"
WATCHER_MODULE = "tests.lab.powerwatch"
SSH_OPTIONS = [
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=5",
]


class LabError(RuntimeError):
    """The lab could not be brought up, used or torn down; the message says why."""


def sh(*cmd: str, check: bool = True, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, input=input, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(cmd)}` failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def netns_list() -> list[str]:
    out = sh("ip", "-j", "netns", "list", check=False).stdout.strip()
    return [n["name"] for n in json.loads(out)] if out else []


def link_list() -> list[str]:
    out = sh("ip", "-j", "link", "show", check=False).stdout.strip()
    return [link["ifname"] for link in json.loads(out)] if out else []


INOTIFY_INSTANCES = 4096


def _raise_inotify_limit() -> None:
    """Every booted host's systemd, journald and logind take inotify instances, all counted
    against root's one per-user limit (fs.inotify.max_user_instances, 128 by default on Debian):
    with a few labs up, a new host's systemd could not start at all. Raise the limit, never
    lower it (a host kernel setting, as a hypervisor host would have it)."""
    path = Path("/proc/sys/fs/inotify/max_user_instances")
    try:
        if int(path.read_text()) < INOTIFY_INSTANCES:
            path.write_text(f"{INOTIFY_INSTANCES}\n")
    except (OSError, ValueError) as err:
        raise LabError(f"cannot raise fs.inotify.max_user_instances to {INOTIFY_INSTANCES}: {err}") from err


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def kill_netns_processes(ns: str, timeout: float = 10.0) -> int:
    """SIGKILL every process whose network namespace is ``ns`` (by PID); wait until gone."""
    killed = set()
    deadline = time.monotonic() + timeout
    while True:
        pids = [int(p) for p in sh("ip", "netns", "pids", ns, check=False).stdout.split()]
        pids = [p for p in pids if _alive(p)]
        if not pids:
            return len(killed)
        if time.monotonic() > deadline:
            raise LabError(f"processes {pids} in namespace {ns} survived SIGKILL")
        for pid in pids:
            try:
                os.kill(pid, 9)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


class Lab:
    def __init__(self, topo: Topology, state_root: Path = STATE_ROOT, release: str | None = None,
                 power_watch: bool = False):
        self.topo = topo
        # ``up`` starts the power watcher (EC2 stop/start powers hosts off/on) only when asked: it
        # polls moto a few times a second, which a dozen labs side by side would pay for nothing
        self.power_watch = power_watch
        self.dir = state_root / topo.name
        self.release = release or topo.image
        self.children: list[subprocess.Popen] = []
        self.model: dict = {}
        self.disks: dict[str, str] = {}
        self._pid1: dict[str, int] = {}
        self._init_procs: dict[str, subprocess.Popen] = {}
        self.boot_seconds = 0.0
        # a new id per ``up``: the power watcher of an older run of this lab ends itself
        self.run_id: str | None = None
        self.watcher_pid: int | None = None
        # False in the power watcher: state.json belongs to the process that brought the lab up
        self.owns_state = True
        self._power_held: set[str] = set()

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def from_topology(cls, name_or_path: str, slot: int | None = None, name: str | None = None,
                      release: str | None = None, power_watch: bool = False) -> "Lab":
        """``release`` (``bookworm``, ``trixie``) overrides the topology's ``image``;
        ``power_watch``: stopping a host's EC2 instance crashes the host, starting it boots it."""
        return cls(load(name_or_path, slot=slot, name=name), release=release, power_watch=power_watch)

    @classmethod
    def from_state(cls, name: str, state_root: Path = STATE_ROOT) -> "Lab":
        state_file = state_root / name / "state.json"
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError) as err:
            raise LabError(f"no running lab named {name!r} ({state_file}: {err})") from err
        lab = cls(load(state["topology"], slot=state["slot"], name=name), state_root, release=state.get("release"))
        lab.model = state.get("aws", {})
        lab.disks = state.get("disks", {})
        lab._pid1 = {h: int(p) for h, p in state.get("pid1", {}).items()}
        lab.run_id = state.get("run")
        lab.watcher_pid = state.get("watcher")
        for host in lab.topo.hosts:  # the per-host records are newer (the watcher writes them too)
            pid = lab._pid1_on_disk(host)
            if pid is not None:
                lab._pid1[host] = pid
        return lab

    @staticmethod
    def running(state_root: Path = STATE_ROOT) -> list[str]:
        return sorted(p.parent.name for p in state_root.glob("*/state.json"))

    # ---- paths and facts -----------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.topo.name

    @property
    def key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def inventory(self) -> Path:
        return INVENTORY_DIR / f"{self.name}.yml"

    @property
    def aws_endpoint(self) -> str:
        return aws.endpoint(self.topo)

    def host_dir(self, host: str) -> Path:
        return self.dir / "hosts" / host

    def disk_path(self, host: str) -> Path:
        """The host's disk: what it wrote over the image (kept across a crash and a reboot)."""
        return self.host_dir(host) / "upper"

    def ip(self, host: str, net: str | None = None) -> str:
        return str(self.topo.host_ip(host, net))

    def cgroup(self, host: str) -> str:
        return self.topo.netns(host)

    def _save(self) -> None:
        if not self.owns_state:
            return
        state = {
            "topology": str(self.topo.path),
            "slot": self.topo.slot,
            "release": self.release,
            "pid1": self._pid1,
            "aws": self.model,
            "disks": self.disks,
            "run": self.run_id,
            "watcher": self.watcher_pid,
        }
        aws.dump(self.dir / "state.json", state)

    # ---- PID 1 of each host: in memory, and on disk for the other processes of the lab ----
    def _pid1_file(self, host: str) -> Path:
        return self.host_dir(host) / "pid1"

    def _pid1_on_disk(self, host: str) -> int | None:
        try:
            return int(self._pid1_file(host).read_text())
        except (OSError, ValueError):
            return None

    def _record_pid1(self, host: str, pid: int | None) -> None:
        """Who powers a host on or off records it here: the power watcher (another process)
        and the test process both read it (``pid1``, ``running_host``)."""
        path = self._pid1_file(host)
        if pid is None:
            self._pid1.pop(host, None)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
        self._pid1[host] = pid
        tmp = path.with_suffix(".tmp")
        tmp.write_text(str(pid))
        os.replace(tmp, path)

    def _known_pid1(self, host: str) -> int | None:
        """The host's PID 1 if it runs: this process's record, else the one on disk (the
        power watcher may have booted the host since)."""
        pid = self._pid1.get(host)
        if pid and _alive(pid):
            return pid
        disk = self._pid1_on_disk(host)
        if disk and _alive(disk):
            self._pid1[host] = disk
            return disk
        return None

    @contextlib.contextmanager
    def _power(self, host: str, timeout: float = 180.0):
        """One power operation (crash, boot) on a host at a time, across processes (flock);
        re-entrant within this Lab object (the watcher records an event under the same lock)."""
        if host in self._power_held:
            yield
            return
        lock = self.host_dir(host) / "power.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LabError(f"host {host}: another power operation did not end within {timeout}s") from None
                    time.sleep(0.02)
            self._power_held.add(host)
            yield
        finally:
            self._power_held.discard(host)
            os.close(fd)  # releases the lock

    def _power_busy(self, host: str) -> bool:
        """A crash or boot of the host is under way (in this process or another)."""
        lock = self.host_dir(host) / "power.lock"
        try:
            fd = os.open(lock, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    # ---- up ------------------------------------------------------------------------------
    def up(self, timeout: float = 120.0) -> "Lab":
        if os.geteuid() != 0:
            raise LabError("the lab needs root (namespaces, mounts, cgroups, loop devices)")
        try:
            self.image = image.ensure(self.release)
        except image.ImageError as err:
            raise LabError(str(err)) from err
        self._check_packages()
        _raise_inotify_limit()
        self.down()  # whatever a crashed run of this lab left behind
        t0 = time.monotonic()
        self.run_id = os.urandom(8).hex()
        (self.dir / "hosts").mkdir(parents=True)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"hapair-lab-{self.name}", "-f", str(self.key))
        self._save()
        self._make_bridges()
        if self.topo.aws is not None:
            self._start_moto()
        self._make_disks()  # before the hosts: they find their disks at boot, as a VM does
        for host in self.topo.hosts:
            self._make_host_network(host)
        for host in self.topo.hosts:
            self._start_host(host)
        if self.topo.aws is not None:
            aws.wait_ready(self.topo)
            self.seed_aws()
        self._wait_hosts(timeout)
        if self.power_watch and any(spec.ec2 is not None for spec in self.topo.hosts.values()):
            self._start_watcher()
        self._save()
        self.write_inventory()
        self.boot_seconds = time.monotonic() - t0
        return self

    def _check_packages(self) -> None:
        """The topology's packages must be in the image (its package lists are in image.py)."""
        missing = []
        for pkg in self.topo.packages:
            out = sh("dpkg-query", f"--admindir={self.image.path}/var/lib/dpkg", "-W", "-f=${Status}", pkg, check=False).stdout
            if "install ok installed" not in out:
                missing.append(pkg)
        if missing:
            raise LabError(f"the Debian {self.image.release} image lacks {' '.join(missing)}: add them to tests/lab/image.py")

    def _make_bridges(self) -> None:
        for name, net in self.topo.networks.items():
            br = self.topo.bridge(name)
            sh("ip", "link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0")
            sh("ip", "link", "set", br, "up")
        first = self.topo.first_network
        sh("ip", "addr", "add", f"{first.controller_ip}/24", "dev", self.topo.bridge(first.name))

    def _veth(self, root_name: str, ns: str, inner: str, net: str, mac: str, ip: str) -> None:
        sh("ip", "link", "add", root_name, "type", "veth", "peer", "name", inner, "netns", ns)
        sh("ip", "link", "set", root_name, "master", self.topo.bridge(net), "up")
        sh("ip", "-n", ns, "link", "set", inner, "address", mac)
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", inner)
        sh("ip", "-n", ns, "link", "set", inner, "up")

    def _start_moto(self) -> None:
        ns = self.topo.aws_netns
        first = self.topo.first_network
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        self._veth(f"{self.topo.prefix}aws", ns, "eth0", first.name, "02:68:6c:%02x:00:00" % self.topo.slot, str(self.topo.moto_ip))
        moto = Path(sys.executable).parent / "moto_server"
        log = open(self.dir / "moto.log", "wb")  # noqa: SIM115 - owned by the child
        self.children.append(
            subprocess.Popen(
                ["ip", "netns", "exec", ns, str(moto), "-H", str(self.topo.moto_ip), "-p", str(aws.MOTO_PORT)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        )

    def _make_host_network(self, host: str) -> None:
        """A fresh network stack: the host's NICs, its addresses and default route, as at power-on."""
        spec = self.topo.hosts[host]
        ns = self.topo.netns(host)
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        for i, net in enumerate(spec.networks):
            self._veth(self.topo.root_veth(host, net), ns, f"eth{i}", net, self.topo.mac(host, net), self.ip(host, net))
        first = self.topo.networks[spec.networks[0]]
        sh("ip", "-n", ns, "route", "add", "default", "via", str(first.gateway_ip), "dev", "eth0")
        if spec.ec2 is not None:
            sh("ip", "-n", ns, "addr", "add", "169.254.169.254/32", "dev", "lo")

    def _remove_host_network(self, host: str) -> None:
        ns = self.topo.netns(host)
        kill_netns_processes(ns)  # the IMDS emulator (the hypervisor's, outside the host)
        for net in self.topo.hosts[host].networks:
            sh("ip", "link", "del", self.topo.root_veth(host, net), check=False)
        sh("ip", "netns", "del", ns, check=False)

    def _etc_hosts(self) -> str:
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        for host, spec in self.topo.hosts.items():
            for i, net in enumerate(spec.networks):
                names = f"{host} {host}-{net}" if i == 0 else f"{host}-{net}"
                lines.append(f"{self.ip(host, net)}\t{names}")
        if self.topo.aws is not None:
            lines.append(f"{self.topo.moto_ip}\taws")
        return "\n".join(lines) + "\n"

    def _prepare_host(self, host: str) -> None:
        """What hostboot.sh installs at the host's first boot: identity, setup, services."""
        spec = self.topo.hosts[host]
        hd = self.host_dir(host)
        (hd / "services").mkdir(parents=True)
        (hd / "hosts").write_text(self._etc_hosts())
        shutil.copy(f"{self.key}.pub", hd / "authorized_keys")
        (hd / "setup.sh").write_text("\n".join(spec.setup) + "\n" if spec.setup else "")
        for svc in spec.services:
            (hd / "services" / f"lab-{svc['name']}.service").write_text(
                "# hapair lab: a service of the topology, written by tests/lab/lab.py\n"
                "[Unit]\n"
                f"Description=hapair lab service {svc['name']}\n"
                "After=lab-setup.service\n\n"
                "[Service]\n"
                f"Environment=LAB_DIR={HOST_LAB_DIR}\n"
                f"ExecStart=/bin/sh -c {_systemd_quote(svc['command'])}\n"
                f"StandardOutput=append:/var/log/lab/{svc['name']}.log\n"
                "StandardError=inherit\n\n"
                "[Install]\n"
                "WantedBy=multi-user.target\n"
            )

    def _start_host(self, host: str) -> None:
        """Power on: boot the host's systemd from its disk (the overlay) over the image."""
        spec = self.topo.hosts[host]
        hd = self.host_dir(host)
        if not hd.exists():
            self._prepare_host(host)
        disks = " ".join(f"{dev}:{DISK_NAMES[i]}" for i, dev in enumerate(self.disks.values()))
        cgroup_mode = image.RELEASES[self.release]["cgroup"]
        (hd / "boot.env").write_text(
            f"IMAGE={self.image.path}\nHOST={host}\nSSH_PORT={spec.ssh_port}\nCGROUP={self.cgroup(host)}\n"
            f"CGROUP_MODE={cgroup_mode}\nDISKS='{disks}'\nLAB_SRC={LAB_DIR}\n"
        )
        for root in CGROUP_ROOTS:
            os.makedirs(f"{root}/{self.cgroup(host)}", exist_ok=True)
        log = open(hd / "boot.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            [
                "unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--kill-child", "--propagation", "private",
                "nsenter", f"--net=/run/netns/{self.topo.netns(host)}", "/bin/sh", str(HOSTBOOT), str(hd),
            ],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.children.append(proc)
        self._init_procs[host] = proc
        self._record_pid1(host, None)

    def _make_disks(self) -> None:
        if not self.topo.disks:
            return
        if len(self.topo.disks) > len(DISK_NAMES):
            raise LabError(f"at most {len(DISK_NAMES)} disks")
        (self.dir / "disks").mkdir()
        for name, size_mb in self.topo.disks.items():
            img = self.dir / "disks" / f"{name}.img"
            with open(img, "wb") as fh:
                fh.truncate(size_mb * 1024 * 1024)
            self.disks[name] = sh("losetup", "--find", "--show", str(img)).stdout.strip()
        self._save()

    def host_disks(self) -> dict[str, str]:
        """Disk name -> its device path inside every host (``/dev/vdb``, ...)."""
        return {name: f"/dev/{DISK_NAMES[i]}" for i, name in enumerate(self.disks)}

    def _start_imds(self, host: str) -> None:
        log = open(self.host_dir(host) / "imds.log", "ab")  # noqa: SIM115
        self.children.append(
            subprocess.Popen(
                ["ip", "netns", "exec", self.topo.netns(host), SYSTEM_PYTHON, str(IMDS), "--config",
                 str(self.host_dir(host) / "imds.json")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        )

    def seed_aws(self) -> dict:
        """(Re)create the EC2 model in moto, point every IMDS at it, (re)start the IMDS."""
        self.model = aws.seed(self.topo)
        for host, spec in self.topo.hosts.items():
            if spec.ec2 is None:
                continue
            cfg = self.host_dir(host) / "imds.json"
            already = cfg.exists()
            aws.dump(cfg, aws.imds_config(self.topo, host, self.model))
            if not already:
                self._start_imds(host)
        self._save()
        return self.model

    def reset_aws(self) -> dict:
        """Empty moto (POST /moto-api/reset) and seed the lab's EC2 model again."""
        aws.reset(self.topo)
        model = self.seed_aws()
        self.write_inventory()
        return model

    def _wait_hosts(self, timeout: float, hosts: list[str] | None = None) -> None:
        """Until every host is booted, set up and reachable over SSH (and its IMDS answers)."""
        deadline = time.monotonic() + timeout
        pending = {h: self.topo.hosts[h] for h in (hosts or self.topo.hosts)}
        watched = dict(pending)
        while pending:
            for host in list(pending):
                proc = self._init_procs[host]
                if proc.poll() is not None:
                    raise LabError(f"host {host} failed to boot: {self._tail(self.host_dir(host) / 'boot.log')}")
                if host not in self._pid1:
                    kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
                    pids = kids.read_text().split() if kids.exists() else []
                    if pids:
                        self._record_pid1(host, int(pids[0]))
                if host in self._pid1 and self._set_up(host) and self._port_open(self.ip(host), self.topo.hosts[host].ssh_port):
                    del pending[host]
            if self.topo.aws is not None:
                for host, spec in watched.items():
                    if spec.ec2 is not None and host not in pending and not self._imds_up(host):
                        pending[host] = spec
            if pending and time.monotonic() > deadline:
                raise LabError(f"hosts not reachable after {timeout}s: {', '.join(pending)}")
            if pending:
                time.sleep(0.05)

    def _set_up(self, host: str) -> bool:
        """The first boot's setup unit has finished (raises with its output when it failed)."""
        rc_file = self.disk_path(host) / "var/lib/lab/setup.rc"
        try:
            rc = rc_file.read_text().strip()
        except OSError:
            return False
        if rc == "":
            # being written (the controller reads the host's disk while the host writes it;
            # hostboot.sh renames a complete file into place, an older image's unit may not)
            return False
        if rc != "0":
            raise LabError(f"host {host}: a setup command failed ({rc}):\n"
                           f"{self._tail(self.disk_path(host) / 'var/log/lab/setup.log')}")
        return True

    def _imds_up(self, host: str) -> bool:
        out = sh("ip", "netns", "exec", self.topo.netns(host), "ss", "-Hltn", "sport = :80", check=False).stdout
        return "169.254.169.254:80" in out

    @staticmethod
    def _port_open(ip: str, port: int) -> bool:
        try:
            with socket.create_connection((ip, port), timeout=0.5):
                return True
        except OSError:
            return False

    @staticmethod
    def _tail(path: Path, lines: int = 15) -> str:
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # ---- power: crash and boot -----------------------------------------------------------
    def crash(self, host: str) -> None:
        """Pull the plug: the host's PID 1 is killed, so everything in it dies at once, and its
        NICs go dark (a dead machine answers nothing, not even ARP for the addresses it held).
        The host's disk (overlay) is kept for ``boot``.

        The lab's shared disks are left as a power cut leaves them. One kernel serves every
        host, and it would unmount a dead host's file systems cleanly when the host's mount
        namespace goes; a power cut never does. So an ext4 file system of a lab disk mounted in
        the host is first shut down without flushing its journal (EXT4_IOC_SHUTDOWN, as xfstests
        simulate a power cut: the journal still needs recovery), and the multi-mount protection
        block that the kernel marks clean on that unmount gets back the sequence the host last
        wrote (a crashed node never marks it clean).

        The power watcher (``powerwatch.py``) calls this when the host's EC2 instance stops;
        one power operation runs on a host at a time (a lock shared with the watcher)."""
        with self._power(host):
            pid = self.pid1(host)
            frozen = self._shutdown_disk_filesystems(pid)
            os.kill(pid, 9)
            proc = self._init_procs.get(host)
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if proc is not None:
                proc.wait(timeout=10)
            for net in self.topo.hosts[host].networks:
                sh("ip", "link", "set", self.topo.root_veth(host, net), "down")
            for device, offset, block in frozen:
                _restore_mmp_block(device, offset, block)
            self._record_pid1(host, None)
            self._save()

    def boot(self, host: str, timeout: float = 60.0) -> float:
        """Power on a host that is down, with its disk as the crash left it; returns the
        seconds until it is reachable over SSH. Its network comes up fresh (no address that
        was added at run time survives, as on a real machine). The power watcher calls this
        when the host's EC2 instance is started again after a stop."""
        with self._power(host):
            if self.running_host(host):
                raise LabError(f"host {host} is running: crash it first")
            t0 = time.monotonic()
            self.image = image.ensure(self.release)
            self._remove_host_network(host)
            self._make_host_network(host)
            if self.topo.hosts[host].ec2 is not None and (self.host_dir(host) / "imds.json").exists():
                self._start_imds(host)
            self._start_host(host)
            self._wait_hosts(timeout, hosts=[host])
            self._save()
            return time.monotonic() - t0

    def boot_stopped(self, timeout: float = 60.0) -> list[str]:
        """Boot every host that is down (after a crash drill), as an operator powers servers
        back on; returns the hosts booted."""
        down = [h for h in self.topo.hosts if not self.running_host(h)]
        for host in down:
            self.boot(host, timeout)
        return down

    def reboot(self, host: str, timeout: float = 60.0) -> float:
        """A power cycle: ``crash`` then ``boot``."""
        if self.running_host(host):
            self.crash(host)
        return self.boot(host, timeout)

    def _shutdown_disk_filesystems(self, pid: int) -> list[tuple[str, int, bytes]]:
        """Shut down the host's ext4 file systems on lab disks; return (controller device, MMP
        block offset, MMP block as the host last wrote it) for each that has MMP."""
        in_host = {v: self.disks[k] for k, v in self.host_disks().items()}
        try:
            mounts = Path(f"/proc/{pid}/mounts").read_text().splitlines()
        except OSError:
            return []
        frozen = []
        for line in mounts:
            fields = line.split()
            if len(fields) < 3 or fields[0] not in in_host or fields[2] != "ext4":
                continue
            target = fields[1].encode().decode("unicode_escape")
            try:
                fd = os.open(f"/proc/{pid}/root{target}", os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                continue
            try:
                fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
            except OSError:
                pass
            finally:
                os.close(fd)
            offset = _mmp_offset(in_host[fields[0]])
            if offset is not None:
                with open(in_host[fields[0]], "rb") as dev:
                    dev.seek(offset)
                    frozen.append((in_host[fields[0]], offset, dev.read(MMP_SIZE)))
        return frozen

    def running_host(self, host: str) -> bool:
        return self._known_pid1(host) is not None

    # ---- power through EC2: the watcher (powerwatch.py) ------------------------------------
    def instance_id(self, host: str) -> str:
        """The host's EC2 instance in moto (from the lab's model; a new one after ``reset_aws``)."""
        try:
            return self.model["instances"][host]["instance_id"]
        except KeyError:
            raise LabError(f"host {host} has no EC2 instance (no ec2: in topology {self.topo.name})") from None

    def _start_watcher(self) -> None:
        """The power watcher: a process of its own (so it outlives ``python -m tests.lab up``),
        in the root namespace, its PID in state.json for ``down``."""
        log = open(self.dir / "powerwatch.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            [sys.executable, "-m", WATCHER_MODULE, self.name, "--state-root", str(self.dir.parent), "--run", str(self.run_id)],
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.children.append(proc)
        self.watcher_pid = proc.pid
        self._save()
        # it reads the instance states once before it may act on a change: wait for that
        deadline = time.monotonic() + 30
        while not (self.dir / "powerwatch.ready").exists():
            if proc.poll() is not None:
                raise LabError(f"the power watcher ended at once: {self._tail(self.dir / 'powerwatch.log')}")
            if time.monotonic() > deadline:
                raise LabError(f"the power watcher did not start: {self._tail(self.dir / 'powerwatch.log')}")
            time.sleep(0.05)

    def power_events(self) -> list[tuple[float, str, str]]:
        """What the power watcher did: (time.time() when it powered the host off or on, host,
        "crash" | "boot"), oldest first. Read from the lab's state dir, so any process sees it."""
        events = []
        try:
            lines = (self.dir / POWER_EVENTS).read_text().splitlines()
        except FileNotFoundError:
            return []
        for line in lines:
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # being written
            events.append((float(ev["time"]), ev["host"], ev["event"]))
        return events

    def wait_host_down(self, host: str, timeout: float = 30.0) -> float:
        """Wait until the host is off (its PID 1 gone and no crash of it under way, so its NICs
        are dark too); returns the seconds waited."""
        t0 = time.monotonic()
        while self._known_pid1(host) is not None or self._power_busy(host):
            if time.monotonic() - t0 > timeout:
                raise LabError(f"host {host} still up after {timeout}s" + self._watcher_note())
            time.sleep(0.05)
        return time.monotonic() - t0

    def wait_host_up(self, host: str, timeout: float = 90.0) -> float:
        """Wait until the host runs and its boot is complete (set up, SSH answering); returns
        the seconds waited."""
        t0 = time.monotonic()
        while self._known_pid1(host) is None or self._power_busy(host):
            if time.monotonic() - t0 > timeout:
                raise LabError(f"host {host} not up after {timeout}s" + self._watcher_note())
            time.sleep(0.05)
        return time.monotonic() - t0

    def _watcher_note(self) -> str:
        if not (self.dir / "powerwatch.log").exists():
            return ""
        return f"; power watcher log:\n{self._tail(self.dir / 'powerwatch.log')}"

    # ---- partitions: traffic cut between two hosts, outside them (nftables, bridge family) --
    @property
    def _nft_table(self) -> str:
        return nft_table(self.topo.prefix)

    def partition(self, a: str, b: str) -> None:
        """Cut all traffic between hosts ``a`` and ``b`` on every network they share (unicast,
        broadcast, multicast such as VRRP adverts, ARP): a rule in the bridge's forward hook
        drops each frame from one's port to the other's. Both still reach every other host,
        moto and the controller. Outside the hosts, so nothing in them can see or undo it; it
        holds across a crash and boot of either (the ports keep their names)."""
        for h in (a, b):
            if h not in self.topo.hosts:
                raise LabError(f"partition: no host {h!r} in lab {self.name}")
        if a == b:
            raise LabError("partition: two different hosts expected")
        shared = [n for n in self.topo.hosts[a].networks if n in self.topo.hosts[b].networks]
        if not shared:
            raise LabError(f"partition: {a} and {b} share no network")
        if any({a, b} == set(p) for p in self.partitions()):
            return
        table = self._nft_table
        comment = f"partition {a} {b}"
        rules = [f"add table bridge {table}",
                 f"add chain bridge {table} forward {{ type filter hook forward priority 0; policy accept; }}"]
        for net in shared:
            va, vb = self.topo.root_veth(a, net), self.topo.root_veth(b, net)
            for src, dst in ((va, vb), (vb, va)):
                rules.append(f'add rule bridge {table} forward iifname "{src}" oifname "{dst}" drop comment "{comment}"')
        _nft("-f", "-", input="\n".join(rules) + "\n")

    def heal(self, a: str | None = None, b: str | None = None) -> None:
        """Remove the partition between ``a`` and ``b``; with ``a`` only, every partition of
        ``a``; with neither, all of them."""
        if a is None and b is None:
            remove_partitions(self.topo.prefix)
            return
        handles = [h for h, pair in self._partition_rules() if a in pair and (b is None or b in pair)]
        for handle in handles:
            _nft("delete", "rule", "bridge", self._nft_table, "forward", "handle", str(handle))

    def partitions(self) -> list[tuple[str, str]]:
        """The partitions in place (read from the kernel's ruleset), each pair once."""
        out: list[tuple[str, str]] = []
        for _handle, pair in self._partition_rules():
            if pair not in out:
                out.append(pair)
        return out

    def _partition_rules(self) -> list[tuple[int, tuple[str, str]]]:
        if shutil.which("nft") is None:
            return []
        proc = sh("nft", "-j", "-a", "list", "chain", "bridge", self._nft_table, "forward", check=False)
        if proc.returncode != 0:
            return []  # no partition table
        rules = []
        for item in json.loads(proc.stdout).get("nftables", []):
            rule = item.get("rule")
            if rule and str(rule.get("comment", "")).startswith("partition "):
                _word, a, b = rule["comment"].split()
                rules.append((int(rule["handle"]), (a, b)))
        return rules

    def memory_kib(self, host: str) -> int:
        """Proportional set size of every process of the host (its PID namespace), in KiB."""
        pid = self.pid1(host)
        ns = os.readlink(f"/proc/{pid}/ns/pid")
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") != ns:
                    continue
                for line in Path(f"/proc/{entry}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
            except OSError:
                continue
        return total

    # ---- inventory -----------------------------------------------------------------------
    def write_inventory(self) -> Path:
        hostvars = {}
        groups: dict[str, dict] = {}
        for host, spec in self.topo.hosts.items():
            hv = {
                "ansible_host": self.ip(host),
                "ansible_port": spec.ssh_port,
                "ansible_user": spec.ssh_user,
                "lab_addresses": {net: self.ip(host, net) for net in spec.networks},
                "lab_interfaces": {net: f"eth{i}" for i, net in enumerate(spec.networks)},
            }
            if host in self.model.get("instances", {}):
                inst = self.model["instances"][host]
                hv["lab_ec2"] = {
                    "instance_id": inst["instance_id"],
                    "availability_zone": inst["availability_zone"],
                    "interfaces": {
                        i["network"]: {"eni_id": i["interface_id"], "subnet_id": i["subnet_id"], "device_index": i["device_index"]}
                        for i in inst["interfaces"]
                    },
                }
            hv.update(spec.vars)
            hostvars[host] = hv
            for g in spec.groups:
                groups.setdefault(g, {"hosts": {}})["hosts"][host] = None
        all_vars = {
            "ansible_ssh_private_key_file": str(self.key),
            "ansible_ssh_common_args": " ".join(SSH_OPTIONS),
            "ansible_python_interpreter": SYSTEM_PYTHON,
            "lab_name": self.name,
            "lab_vip_network": str(self.topo.vip_network),
            "lab_disks": self.host_disks(),
        }
        if self.topo.aws is not None:
            all_vars.update(
                {
                    "lab_aws_endpoint_url": self.aws_endpoint,
                    "lab_aws_region": self.topo.region,
                    "lab_aws_access_key": "testing",
                    "lab_aws_secret_key": "testing",
                    "lab_vpc_id": self.model.get("vpc_id"),
                    "lab_subnets": {k: v["id"] for k, v in self.model.get("subnets", {}).items()},
                }
            )
        inv = {"all": {"vars": all_vars, "hosts": hostvars, "children": groups}}
        INVENTORY_DIR.mkdir(parents=True, exist_ok=True)
        header = f"# Written by `python -m tests.lab up` for the lab {self.name!r}; rewritten on every up and AWS reset.\n"
        tmp = self.inventory.with_suffix(".tmp")
        tmp.write_text(header + yaml.safe_dump(inv, sort_keys=False, default_flow_style=False))
        os.replace(tmp, self.inventory)
        return self.inventory

    # ---- using hosts ---------------------------------------------------------------------
    def pid1(self, host: str) -> int:
        pid = self._known_pid1(host)
        if pid is None:
            raise LabError(f"host {host} is not running")
        return pid

    def exec(self, host: str, *cmd: str, check: bool = True, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a command inside a host directly (nsenter), bypassing SSH: for test assertions."""
        return sh("nsenter", "-t", str(self.pid1(host)), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--", *cmd,
                  check=check, input=input, timeout=timeout)

    def ssh_command(self, host: str, *cmd: str) -> list[str]:
        spec = self.topo.hosts[host]
        return ["ssh", "-i", str(self.key), "-p", str(spec.ssh_port), *SSH_OPTIONS, f"{spec.ssh_user}@{self.ip(host)}", *cmd]

    def ssh(self, host: str, *cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        return sh(*self.ssh_command(host, *cmd), check=check, timeout=timeout)

    def set_link(self, host: str, net: str, up: bool) -> None:
        """Cut (or restore) a host's link to one lab network, as if its cable were pulled
        (independent of ``partition``: a cut link stays cut when a partition heals)."""
        sh("ip", "link", "set", self.topo.root_veth(host, net), "up" if up else "down")

    def status(self) -> list[dict]:
        namespaces = set(netns_list())
        rows = []
        for host, spec in self.topo.hosts.items():
            running = self.running_host(host)
            rows.append(
                {
                    "host": host,
                    "netns": self.topo.netns(host) if self.topo.netns(host) in namespaces else None,
                    "pid1": self._pid1.get(host) if running else None,
                    "systemd": self.exec(host, "systemctl", "is-system-running", check=False).stdout.strip() if running else None,
                    "memory_kib": self.memory_kib(host) if running else None,
                    "address": self.ip(host),
                    "ssh_port": spec.ssh_port,
                    "ssh": self._port_open(self.ip(host), spec.ssh_port),
                }
            )
        return rows

    # ---- down ----------------------------------------------------------------------------
    def down(self) -> dict:
        """Remove everything this lab (or a crashed run of it) made; safe to call any time."""
        # the power watcher first: it must not boot a host while the lab is taken apart
        watcher = stop_watcher(self.dir)
        removed = teardown_prefix(self.topo.prefix)
        removed["watcher"] = watcher
        removed["loops"] = release_state_dir(self.dir)
        for proc in self.children:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.children.clear()
        self._pid1.clear()
        self.disks.clear()
        self.watcher_pid = None
        if self.inventory.exists():
            self.inventory.unlink()
        return removed


def _mmp_offset(device: str) -> int | None:
    """Byte offset of an ext4 file system's MMP block (None without MMP)."""
    out = sh("dumpe2fs", "-h", device, check=False).stdout
    fields = {k.strip(): v.strip() for k, _sep, v in (line.partition(":") for line in out.splitlines())}
    if "MMP block number" not in fields:
        return None
    return int(fields["MMP block number"]) * int(fields["Block size"])


def _released(device: str) -> bool:
    """Whether no file system holds the block device any more: a mounted device is claimed
    exclusively by its file system, so an exclusive open fails with EBUSY until the kernel has
    finished the unmount (put_super, which stops kmmpd after it wrote the clean sequence)."""
    try:
        fd = os.open(device, os.O_RDONLY | os.O_EXCL)
    except OSError as err:
        if err.errno == errno.EBUSY:
            return False
        raise
    os.close(fd)
    return True


def _restore_mmp_block(device: str, offset: int, block: bytes, timeout: float = 120.0) -> None:
    """Leave the dead host's MMP block as it last wrote it, whatever the kernel does after.

    The kernel writes the clean sequence when kmmpd sees the shut-down file system (within its
    update interval) or when the mount goes with the host's mount namespace, in a kernel worker
    after PID 1 died (put_super). This used to wait at most 10 s for the clean sequence, then
    put the block back anyway: on a busy machine a later clean write would win, and the peer
    would mount without the stale wait a crashed holder must cost (the likely cause of a CI
    failure on a host with load 19). So the block is put back each time the clean sequence
    appears, until the kernel has released the device and the block stands; the lab fails
    loudly if that never happens."""
    deadline = time.monotonic() + timeout
    fd = os.open(device, os.O_RDWR)
    try:
        while True:
            if struct.unpack_from("<I", os.pread(fd, MMP_SIZE, offset), 4)[0] == MMP_SEQ_CLEAN:
                os.pwrite(fd, block, offset)
                os.fsync(fd)
            elif _released(device):
                return
            if time.monotonic() > deadline:
                raise LabError(f"{device} is still held {timeout:.0f}s after its host died: the crash cannot "
                               "leave its multi-mount protection block as a power cut does")
            time.sleep(0.05)
    finally:
        os.close(fd)


def _systemd_quote(s: str) -> str:
    """One argument of a unit's ExecStart= (systemd's quoting; $ and % are not expanded)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$").replace("%", "%%") + '"'


def teardown_prefix(prefix: str) -> dict:
    """Kill, unplug and delete every namespace, link and cgroup whose name has this prefix."""
    removed = {"processes": 0, "netns": [], "links": [], "cgroups": []}
    namespaces = [ns for ns in netns_list() if ns.startswith(prefix + "-")]
    # Hosts first (their PID 1 takes the whole host down), then the aws namespace.
    for ns in sorted(namespaces, key=lambda n: n.endswith("-aws")):
        removed["processes"] += kill_netns_processes(ns)
    for ns in namespaces:
        sh("ip", "netns", "del", ns, check=False)
        removed["netns"].append(ns)
    for link in link_list():
        if link.startswith(prefix):
            sh("ip", "link", "del", link, check=False)
            removed["links"].append(link)
    removed["cgroups"] = remove_cgroups(prefix)
    removed["nft"] = remove_partitions(prefix)
    return removed


def nft_table(prefix: str) -> str:
    """The lab slot's nftables table (family bridge): its partitions and nothing else."""
    return f"{prefix}_partitions"


def _nft(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    if shutil.which("nft") is None:
        raise LabError("nft not found: partitions need nftables (make setup installs it)")
    return sh("nft", *args, input=input)


def remove_partitions(prefix: str) -> list[str]:
    """Delete the slot's nftables table (its partition rules), if there is one; nothing else
    of the machine's firewall is touched."""
    if shutil.which("nft") is None:
        return []
    table = nft_table(prefix)
    if sh("nft", "list", "table", "bridge", table, check=False).returncode != 0:
        return []
    sh("nft", "delete", "table", "bridge", table)
    return [f"bridge {table}"]


def _watcher_cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def stop_watcher(state_dir: Path, timeout: float = 10.0) -> int | None:
    """Kill the lab's power watcher by the PID its state records, after checking that the PID
    is still that watcher (a module and lab name on its command line); returns the PID killed."""
    try:
        pid = json.loads((state_dir / "state.json").read_text()).get("watcher")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(pid, int):
        return None
    cmdline = _watcher_cmdline(pid)
    if WATCHER_MODULE not in cmdline or state_dir.name not in cmdline or not _alive(pid):
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 9)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return pid


def remove_cgroups(prefix: str, timeout: float = 10.0) -> list[str]:
    """The hosts' cgroup trees (``hlNN-<host>`` under each hierarchy), deepest first; a cgroup
    whose last process is still exiting is busy for a moment, so this retries."""
    removed = []
    deadline = time.monotonic() + timeout
    for root in CGROUP_ROOTS:
        for top in sorted(Path(root).glob(f"{prefix}-*")):
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                while True:
                    try:
                        os.rmdir(dirpath)
                        break
                    except FileNotFoundError:
                        break
                    except OSError as err:
                        if time.monotonic() > deadline:
                            raise LabError(f"cgroup {dirpath} cannot be removed: {err}") from err
                        time.sleep(0.05)
            removed.append(str(top))
    return removed


def release_state_dir(state_dir: Path) -> list[str]:
    """Detach the loop devices backed by files of this lab, then delete its state (the hosts'
    disks included)."""
    loops = []
    out = sh("losetup", "-J", "-l", check=False).stdout.strip()
    for dev in json.loads(out).get("loopdevices", []) if out else []:
        if (dev.get("back-file") or "").startswith(str(state_dir) + "/"):
            sh("losetup", "-d", dev["name"], check=False)
            loops.append(dev["name"])
    if state_dir.exists():
        shutil.rmtree(state_dir, ignore_errors=True)
    return loops


def teardown_all(state_root: Path = STATE_ROOT) -> dict:
    """Every lab on this machine (``down --all``), whether or not its state survived."""
    total = {"processes": 0, "netns": [], "links": [], "cgroups": [], "nft": [], "loops": [], "watchers": []}
    dirs = [p for p in state_root.glob("*") if p.is_dir()]
    for d in dirs:
        pid = stop_watcher(d)
        if pid:
            total["watchers"].append(pid)
    for slot in range(MAX_SLOT + 1):
        part = teardown_prefix(f"hl{slot:02d}")
        for k, v in part.items():
            total[k] += v
    for d in dirs:
        total["loops"] += release_state_dir(d)
    for inv in INVENTORY_DIR.glob("*.yml"):
        inv.unlink()
    return total
