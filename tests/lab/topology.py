"""Lab topology files: parsing, validation and the address plan.

A topology is a YAML file (see ``topologies/*.yml`` and ``README.md``)::

    name: smoke              # lab name (state dir, inventory file name)
    slot: 0                  # 0..31: selects the address block and the names, so two labs
                             # with different slots can run side by side
    networks: [lan, hb]      # lab networks (one bridge each); the controller sits on the first
    hosts:
      node-1:
        groups: [pair]
        networks: [lan, hb]  # default: the first network only
        address: 21          # host part on every network (default 10 + host index)
        ssh_port: 122        # default 22
        ec2: {subnet: ..., instance_profile: hapair-node}   # an EC2 instance in moto + IMDS
        setup: ["useradd -m admin"]       # shell commands run inside the host at boot
                                          # ($LAB_DIR is tests/lab; simulators are in sim/)
        services: [{name: web, command: "python3 -m http.server 80"}]
        vars: {any: hostvar}
    aws:                     # a moto server on the first network (omit for no AWS)
      region: us-east-1
      subnets:               # default: one subnet per network, the whole /24, zone "a"
        - {name: app-a, network: lan, az: a, offset: 0, prefix: 25}
    disks: {shared: {size_mb: 64}}        # loop devices every host sees (/dev/vdb, ...)
    image: bookworm          # the hosts' Debian release (image.py: bookworm, trixie)
    packages: [keepalived]   # Debian packages the hosts need: the image must have them

Addresses come from 198.18.0.0/15, which RFC 2544 reserves for network benchmarking: no real
network uses it. Slots 0..15 take 198.19.0.0/16, slots 16..31 198.18.0.0/16 (added later, so
the first 16 slots kept their addresses): slot ``s``, network index ``n`` is
``198.19.(16*s + n).0/24`` for ``s`` < 16 and ``198.18.(16*(s-16) + n).0/24`` above; the controller (the root namespace) is ``.1``, the moto server
``.2``, a gateway that does not exist ``.254`` (so the hosts have a default route and complete
facts, and nothing can leave). Network index 15 of a slot is never a bridge: tests take
virtual IPs from it. The VPC that the lab seeds in moto is the slot's /20, which holds all of
its networks.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .image import DEFAULT_RELEASE, RELEASES

TOPOLOGY_DIR = Path(__file__).resolve().parent / "topologies"
# Every lab address (RFC 2544): slots 0..15 in SLOT_BASES[0], slots 16..31 in SLOT_BASES[1].
LAB_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
SLOT_BASES = (ipaddress.IPv4Network("198.19.0.0/16"), ipaddress.IPv4Network("198.18.0.0/16"))
BASE = SLOT_BASES[0]  # the first 16 slots' block (the older name)
SLOTS_PER_BASE = 16
MAX_SLOT = len(SLOT_BASES) * SLOTS_PER_BASE - 1
MAX_NETWORKS = 8  # indexes 0..7 are bridges; 15 is the VIP block
VIP_NETWORK_INDEX = 15
CONTROLLER_HOST = 1
MOTO_HOST = 2
GATEWAY_HOST = 254
FIRST_HOST = 10
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


class TopologyError(ValueError):
    """A topology file that cannot be used, with the reason."""


@dataclass(frozen=True)
class Network:
    name: str
    index: int
    cidr: ipaddress.IPv4Network

    def address(self, host_part: int) -> ipaddress.IPv4Address:
        return self.cidr.network_address + host_part

    @property
    def controller_ip(self) -> ipaddress.IPv4Address:
        return self.address(CONTROLLER_HOST)

    @property
    def gateway_ip(self) -> ipaddress.IPv4Address:
        return self.address(GATEWAY_HOST)


@dataclass
class Host:
    name: str
    index: int
    groups: list[str]
    networks: list[str]
    address: int
    ssh_port: int = 22
    ssh_user: str = "root"
    ec2: dict[str, Any] | None = None
    setup: list[str] = field(default_factory=list)
    services: list[dict[str, str]] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Subnet:
    name: str
    network: str
    az: str
    cidr: ipaddress.IPv4Network


@dataclass
class Topology:
    name: str
    slot: int
    networks: dict[str, Network]
    hosts: dict[str, Host]
    aws: dict[str, Any] | None
    subnets: list[Subnet]
    disks: dict[str, int]
    packages: list[str]
    image: str = "bookworm"
    path: Path | None = None

    # ---- names: every object the lab makes carries the slot prefix ----------------------
    @property
    def prefix(self) -> str:
        return f"hl{self.slot:02d}"

    def netns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    @property
    def aws_netns(self) -> str:
        return f"{self.prefix}-aws"

    def bridge(self, net: str) -> str:
        return f"{self.prefix}br{self.networks[net].index}"

    def root_veth(self, host: str, net: str) -> str:
        return f"{self.prefix}h{self.hosts[host].index:02d}n{self.networks[net].index}"

    def mac(self, host: str, net: str) -> str:
        # 02: locally administered; 68:6c = "hl"
        return "02:68:6c:%02x:%02x:%02x" % (self.slot, self.hosts[host].index, self.networks[net].index)

    # ---- addresses -----------------------------------------------------------------------
    @property
    def first_network(self) -> Network:
        return next(iter(self.networks.values()))

    def host_ip(self, host: str, net: str | None = None) -> ipaddress.IPv4Address:
        h = self.hosts[host]
        return self.networks[net or h.networks[0]].address(h.address)

    @property
    def vpc_cidr(self) -> ipaddress.IPv4Network:
        return slot_block(self.slot)

    @property
    def vip_network(self) -> ipaddress.IPv4Network:
        return _network_cidr(self.slot, VIP_NETWORK_INDEX)

    @property
    def moto_ip(self) -> ipaddress.IPv4Address:
        return self.first_network.address(MOTO_HOST)

    @property
    def region(self) -> str:
        return (self.aws or {}).get("region", "us-east-1")

    def subnet_for(self, host: str, net: str) -> Subnet:
        ip = self.host_ip(host, net)
        for subnet in self.subnets:
            if subnet.network == net and ip in subnet.cidr:
                return subnet
        raise TopologyError(f"host {host}: no subnet of network {net} holds {ip}")


def slot_block(slot: int) -> ipaddress.IPv4Network:
    """The /20 of a slot: its networks (index 0..7), its VIP block (15), the VPC seeded in moto."""
    if not 0 <= slot <= MAX_SLOT:
        raise TopologyError(f"slot must be an integer 0..{MAX_SLOT}, got {slot!r}")
    base = SLOT_BASES[slot // SLOTS_PER_BASE]
    return ipaddress.IPv4Network((int(base.network_address) + (slot % SLOTS_PER_BASE) * 16 * 256, 20))


def _network_cidr(slot: int, index: int) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network((int(slot_block(slot).network_address) + index * 256, 24))


def resolve_path(name_or_path: str | Path) -> Path:
    """A topology given by name (``smoke``) or by path."""
    p = Path(name_or_path)
    if p.suffix in (".yml", ".yaml") or p.exists():
        return p.resolve()
    candidate = TOPOLOGY_DIR / f"{name_or_path}.yml"
    if not candidate.exists():
        known = ", ".join(sorted(x.stem for x in TOPOLOGY_DIR.glob("*.yml")))
        raise TopologyError(f"no topology named {name_or_path!r} (known: {known})")
    return candidate


def load(name_or_path: str | Path, slot: int | None = None, name: str | None = None) -> Topology:
    path = resolve_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise TopologyError(f"cannot read topology {path}: {err}") from err
    topo = parse(data, slot=slot, name=name)
    topo.path = path
    return topo


def _check_name(kind: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise TopologyError(f"{kind} name {value!r} must match {_NAME_RE.pattern}")
    return value


def _str_list(where: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TopologyError(f"{where} must be a list of strings")
    return list(value)


def parse(data: dict[str, Any], slot: int | None = None, name: str | None = None) -> Topology:
    if not isinstance(data, dict):
        raise TopologyError("a topology must be a mapping")
    unknown = set(data) - {"name", "slot", "networks", "hosts", "aws", "disks", "packages", "image", "description"}
    if unknown:
        raise TopologyError(f"unknown topology keys: {', '.join(sorted(unknown))}")
    own_slot = data.get("slot", 0)
    slot = own_slot if slot is None else slot
    if not isinstance(slot, int) or not 0 <= slot <= MAX_SLOT:
        raise TopologyError(f"slot must be an integer 0..{MAX_SLOT}, got {slot!r}")
    # A lab's name is its state directory: the same topology moved to another slot gets a name
    # of its own, so that bringing it up (which first removes whatever a lab of that name left)
    # never tears down the same topology running in its own slot.
    if name is None and slot != own_slot and isinstance(data.get("name"), str):
        name = f"{data['name']}-s{slot}"
    lab_name = _check_name("lab", name or data.get("name"))

    net_names = _str_list("networks", data.get("networks") or ["lan"])
    if not 1 <= len(net_names) <= MAX_NETWORKS or len(set(net_names)) != len(net_names):
        raise TopologyError(f"networks: 1..{MAX_NETWORKS} unique names expected")
    networks = {
        _check_name("network", n): Network(n, i, _network_cidr(slot, i)) for i, n in enumerate(net_names)
    }

    raw_hosts = data.get("hosts")
    if not isinstance(raw_hosts, dict) or not raw_hosts:
        raise TopologyError("hosts: a non-empty mapping of host name -> settings expected")
    hosts: dict[str, Host] = {}
    used: dict[tuple[str, int], str] = {}
    for index, (hname, spec) in enumerate(raw_hosts.items(), start=1):
        _check_name("host", hname)
        if hname == "aws":
            raise TopologyError("host name 'aws' is reserved for the moto server")
        spec = spec or {}
        if not isinstance(spec, dict):
            raise TopologyError(f"host {hname}: settings must be a mapping")
        unknown = set(spec) - {"groups", "networks", "address", "ssh_port", "ssh_user", "ec2", "setup", "services", "vars"}
        if unknown:
            raise TopologyError(f"host {hname}: unknown keys {', '.join(sorted(unknown))}")
        hnets = _str_list(f"host {hname}: networks", spec.get("networks")) or [net_names[0]]
        for n in hnets:
            if n not in networks:
                raise TopologyError(f"host {hname}: unknown network {n!r}")
        address = spec.get("address", FIRST_HOST + index - 1)
        if not isinstance(address, int) or not FIRST_HOST <= address <= 250:
            raise TopologyError(f"host {hname}: address must be a host part 10..250, got {address!r}")
        for n in hnets:
            if (n, address) in used:
                raise TopologyError(f"host {hname}: address .{address} on {n} already used by {used[(n, address)]}")
            used[(n, address)] = hname
        port = spec.get("ssh_port", 22)
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise TopologyError(f"host {hname}: ssh_port must be 1..65535")
        ec2 = spec.get("ec2")
        if ec2 is True:
            ec2 = {}
        if ec2 is not None and not isinstance(ec2, dict):
            raise TopologyError(f"host {hname}: ec2 must be true or a mapping")
        services = spec.get("services") or []
        if not isinstance(services, list) or not all(
            isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("command"), str) for s in services
        ):
            raise TopologyError(f"host {hname}: services must be a list of {{name, command}}")
        hosts[hname] = Host(
            name=hname,
            index=index,
            groups=_str_list(f"host {hname}: groups", spec.get("groups")),
            networks=hnets,
            address=address,
            ssh_port=port,
            ssh_user=spec.get("ssh_user", "root"),
            ec2=ec2,
            setup=_str_list(f"host {hname}: setup", spec.get("setup")),
            services=services,
            vars=spec.get("vars") or {},
        )

    aws = data.get("aws")
    if aws is True:
        aws = {}
    if aws is not None and not isinstance(aws, dict):
        raise TopologyError("aws must be true or a mapping")
    if aws is None and any(h.ec2 is not None for h in hosts.values()):
        raise TopologyError("hosts with ec2 need an aws section (the moto server)")
    subnets = _parse_subnets(aws, networks) if aws is not None else []

    disks_raw = data.get("disks") or {}
    if not isinstance(disks_raw, dict):
        raise TopologyError("disks must be a mapping of name -> {size_mb}")
    disks = {}
    for dname, dspec in disks_raw.items():
        size = (dspec or {}).get("size_mb", 64)
        if not isinstance(size, int) or not 8 <= size <= 4096:
            raise TopologyError(f"disk {dname}: size_mb must be 8..4096")
        disks[_check_name("disk", dname)] = size

    release = data.get("image", DEFAULT_RELEASE)
    if release not in RELEASES:
        raise TopologyError(f"image: {release!r} is not a Debian release the lab builds ({', '.join(RELEASES)})")

    topo = Topology(
        name=lab_name,
        slot=slot,
        networks=networks,
        hosts=hosts,
        aws=aws,
        subnets=subnets,
        disks=disks,
        packages=_str_list("packages", data.get("packages")),
        image=release,
    )
    for h in topo.hosts.values():
        if h.ec2 is not None:
            for n in h.networks:
                topo.subnet_for(h.name, n)  # raises when an address is in no subnet
    return topo


def _parse_subnets(aws: dict[str, Any], networks: dict[str, Network]) -> list[Subnet]:
    raw = aws.get("subnets")
    if raw is None:
        return [Subnet(f"{n}-a", n, "a", net.cidr) for n, net in networks.items()]
    if not isinstance(raw, list):
        raise TopologyError("aws.subnets must be a list")
    out: list[Subnet] = []
    for item in raw:
        if not isinstance(item, dict):
            raise TopologyError("aws.subnets entries must be mappings")
        sname = _check_name("subnet", item.get("name"))
        net = item.get("network")
        if net not in networks:
            raise TopologyError(f"subnet {sname}: unknown network {net!r}")
        prefix = item.get("prefix", 24)
        offset = item.get("offset", 0)
        if not isinstance(prefix, int) or not 24 <= prefix <= 28:
            raise TopologyError(f"subnet {sname}: prefix must be 24..28")
        try:
            cidr = ipaddress.IPv4Network((int(networks[net].cidr.network_address) + offset, prefix))
        except (TypeError, ValueError) as err:
            raise TopologyError(f"subnet {sname}: offset {offset!r} does not start a /{prefix}: {err}") from err
        if not cidr.subnet_of(networks[net].cidr):
            raise TopologyError(f"subnet {sname}: {cidr} is outside network {net}")
        if any(cidr.overlaps(s.cidr) for s in out):
            raise TopologyError(f"subnet {sname}: {cidr} overlaps another subnet")
        out.append(Subnet(sname, net, str(item.get("az", "a")), cidr))
    return out
