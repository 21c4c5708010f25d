"""The lab: hosts made of Linux namespaces, a moto server, IMDS emulators, loop-device disks.

Everything the lab creates carries the topology's slot prefix (``hlNN``): network namespaces
``hlNN-<host>`` and ``hlNN-aws``, bridges ``hlNNbrI``, root-side veths ``hlNNhHHnI``. Every
process it starts lives in one of those network namespaces, so ``down`` finds them all with
``ip netns pids`` and kills them by PID — never by name — whatever state a crashed run left.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from . import aws
from .topology import Topology, load

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = Path(__file__).resolve().parent
STATE_ROOT = Path(os.environ.get("HAPAIR_LAB_STATE", "/tmp/hapair-lab"))
INVENTORY_DIR = REPO / "inventories" / "lab"
HOSTINIT = LAB_DIR / "hostinit.sh"
# tests/lab as seen from inside every host (hostinit.sh binds it there): the checkout itself
# may be invisible in a host (a clone under /tmp is hidden by the host's private /tmp).
HOST_LAB_DIR = "/run/lab/src"
IMDS = LAB_DIR / "imds.py"
SYSTEM_PYTHON = "/usr/bin/python3"
BASE_PACKAGES = ["iproute2", "util-linux", "openssh-server", "tini", "python3"]
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
    def __init__(self, topo: Topology, state_root: Path = STATE_ROOT):
        self.topo = topo
        self.dir = state_root / topo.name
        self.children: list[subprocess.Popen] = []
        self.model: dict = {}
        self.disks: dict[str, str] = {}
        self.created_dirs: list[str] = []
        self._pid1: dict[str, int] = {}
        self._init_procs: dict[str, subprocess.Popen] = {}
        self.boot_seconds = 0.0

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def from_topology(cls, name_or_path: str, slot: int | None = None, name: str | None = None) -> "Lab":
        return cls(load(name_or_path, slot=slot, name=name))

    @classmethod
    def from_state(cls, name: str, state_root: Path = STATE_ROOT) -> "Lab":
        state_file = state_root / name / "state.json"
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError) as err:
            raise LabError(f"no running lab named {name!r} ({state_file}: {err})") from err
        lab = cls(load(state["topology"], slot=state["slot"], name=name), state_root)
        lab.model = state.get("aws", {})
        lab.disks = state.get("disks", {})
        lab._pid1 = {h: int(p) for h, p in state.get("pid1", {}).items()}
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

    def ip(self, host: str, net: str | None = None) -> str:
        return str(self.topo.host_ip(host, net))

    def _save(self) -> None:
        state = {
            "topology": str(self.topo.path),
            "slot": self.topo.slot,
            "pid1": self._pid1,
            "aws": self.model,
            "disks": self.disks,
            "created_dirs": self.created_dirs,
        }
        aws.dump(self.dir / "state.json", state)

    # ---- up ------------------------------------------------------------------------------
    def up(self, timeout: float = 60.0) -> "Lab":
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, mounts, loop devices)")
        self._check_packages()
        self.down()  # whatever a crashed run of this lab left behind
        t0 = time.monotonic()
        (self.dir / "hosts").mkdir(parents=True)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"hapair-lab-{self.name}", "-f", str(self.key))
        self._save()
        self._make_private_dirs()
        self._make_bridges()
        if self.topo.aws is not None:
            self._start_moto()
        for host in self.topo.hosts:
            self._make_host_network(host)
        for host in self.topo.hosts:
            self._start_host(host)
        self._make_disks()
        if self.topo.aws is not None:
            aws.wait_ready(self.topo)
            self.seed_aws()
        self._wait_hosts(timeout)
        self._save()
        self.write_inventory()
        self.boot_seconds = time.monotonic() - t0
        return self

    def _check_packages(self) -> None:
        wanted = BASE_PACKAGES + self.topo.packages
        missing = []
        for pkg in wanted:
            out = sh("dpkg-query", "-W", "-f=${Status}", pkg, check=False).stdout
            if "install ok installed" not in out:
                missing.append(pkg)
        if missing:
            raise LabError(f"Debian packages missing on this machine: {' '.join(missing)} (run `make setup`)")

    def _make_private_dirs(self) -> None:
        """Mount points for the hosts' private tmpfs dirs; the real directories stay empty."""
        for d in self.topo.private_dirs:
            if not os.path.isdir(d):
                os.mkdir(d, 0o755)
                self.created_dirs.append(d)
        self._save()

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

    def _etc_hosts(self) -> str:
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        for host, spec in self.topo.hosts.items():
            for i, net in enumerate(spec.networks):
                names = f"{host} {host}-{net}" if i == 0 else f"{host}-{net}"
                lines.append(f"{self.ip(host, net)}\t{names}")
        if self.topo.aws is not None:
            lines.append(f"{self.topo.moto_ip}\taws")
        return "\n".join(lines) + "\n"

    def _start_host(self, host: str) -> None:
        spec = self.topo.hosts[host]
        hd = self.host_dir(host)
        hd.mkdir(parents=True)
        (hd / "hosts").write_text(self._etc_hosts())
        shutil.copy(f"{self.key}.pub", hd / "authorized_keys")
        (hd / "setup.sh").write_text("\n".join(spec.setup) + "\n" if spec.setup else "")
        services = "".join(
            f"nohup sh -c {_quote(s['command'])} > /var/log/lab/{s['name']}.log 2>&1 < /dev/null &\n" for s in spec.services
        )
        (hd / "services.sh").write_text(services)
        (hd / "private_dirs").write_text("".join(f"{d}\n" for d in self.topo.private_dirs))
        log = open(hd / "init.log", "wb")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            [
                "ip", "netns", "exec", self.topo.netns(host),
                "unshare", "--mount", "--uts", "--ipc", "--pid", "--kill-child", "--mount-proc", "--propagation", "private",
                "/bin/sh", str(HOSTINIT), str(hd), host, str(spec.ssh_port),
            ],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.children.append(proc)
        self._init_procs[host] = proc

    def _make_disks(self) -> None:
        if not self.topo.disks:
            return
        (self.dir / "disks").mkdir()
        for name, size_mb in self.topo.disks.items():
            img = self.dir / "disks" / f"{name}.img"
            with open(img, "wb") as fh:
                fh.truncate(size_mb * 1024 * 1024)
            self.disks[name] = sh("losetup", "--find", "--show", str(img)).stdout.strip()
        self._save()

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
                log = open(self.host_dir(host) / "imds.log", "wb")  # noqa: SIM115
                self.children.append(
                    subprocess.Popen(
                        ["ip", "netns", "exec", self.topo.netns(host), SYSTEM_PYTHON, str(IMDS), "--config", str(cfg)],
                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    )
                )
        self._save()
        return self.model

    def reset_aws(self) -> dict:
        """Empty moto (POST /moto-api/reset) and seed the lab's EC2 model again."""
        aws.reset(self.topo)
        model = self.seed_aws()
        self.write_inventory()
        return model

    def _wait_hosts(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = dict(self.topo.hosts)
        while pending:
            for host in list(pending):
                proc = self._init_procs[host]
                if proc.poll() is not None:
                    raise LabError(f"host {host} failed to boot: {self._tail(self.host_dir(host) / 'init.log')}")
                if host not in self._pid1:
                    kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
                    pids = kids.read_text().split() if kids.exists() else []
                    if pids:
                        self._pid1[host] = int(pids[0])
                if host in self._pid1 and self._port_open(self.ip(host), self.topo.hosts[host].ssh_port):
                    del pending[host]
            if self.topo.aws is not None:
                for host, spec in self.topo.hosts.items():
                    if spec.ec2 is not None and host not in pending and not self._imds_up(host):
                        pending[host] = spec
            if pending and time.monotonic() > deadline:
                raise LabError(f"hosts not reachable after {timeout}s: {', '.join(pending)}")
            if pending:
                time.sleep(0.05)

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
            "lab_disks": dict(self.disks),
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
        pid = self._pid1.get(host)
        if pid is None or not _alive(pid):
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
        """Cut (or restore) a host's link to one lab network, as if its cable were pulled."""
        sh("ip", "link", "set", self.topo.root_veth(host, net), "up" if up else "down")

    def status(self) -> list[dict]:
        namespaces = set(netns_list())
        rows = []
        for host, spec in self.topo.hosts.items():
            pid = self._pid1.get(host)
            rows.append(
                {
                    "host": host,
                    "netns": self.topo.netns(host) if self.topo.netns(host) in namespaces else None,
                    "pid1": pid if pid and _alive(pid) else None,
                    "address": self.ip(host),
                    "ssh_port": spec.ssh_port,
                    "ssh": self._port_open(self.ip(host), spec.ssh_port),
                }
            )
        return rows

    # ---- down ----------------------------------------------------------------------------
    def down(self) -> dict:
        """Remove everything this lab (or a crashed run of it) made; safe to call any time."""
        removed = teardown_prefix(self.topo.prefix)
        removed["loops"] = release_state_dir(self.dir)
        for proc in self.children:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.children.clear()
        self._pid1.clear()
        self.disks.clear()
        if self.inventory.exists():
            self.inventory.unlink()
        return removed


def _quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def teardown_prefix(prefix: str) -> dict:
    """Kill, unplug and delete every namespace and link whose name has this prefix."""
    removed = {"processes": 0, "netns": [], "links": []}
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
    return removed


def release_state_dir(state_dir: Path) -> list[str]:
    """Detach the loop devices backed by files of this lab, remove the mount points it created
    (when empty and no other host still mounts them), then delete its state."""
    try:
        created = json.loads((state_dir / "state.json").read_text()).get("created_dirs", [])
    except (OSError, ValueError):
        created = []
    for d in created:
        try:
            os.rmdir(d)
        except OSError:
            pass  # not empty, or another lab's host still has it as a mount point
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
    total = {"processes": 0, "netns": [], "links": [], "loops": []}
    for slot in range(16):
        part = teardown_prefix(f"hl{slot:02d}")
        for k, v in part.items():
            total[k] += v
    for d in [p for p in state_root.glob("*") if p.is_dir()]:
        total["loops"] += release_state_dir(d)
    for inv in INVENTORY_DIR.glob("*.yml"):
        inv.unlink()
    return total
