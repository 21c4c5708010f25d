"""The lab's topology parser and address plan (no root, no namespaces)."""
from __future__ import annotations

import ipaddress

import pytest

from tests.lab import topology
from tests.lab.topology import TopologyError, parse

BASE = {"name": "t", "networks": ["lan", "hb"], "hosts": {"a": {"networks": ["lan", "hb"]}, "b": {}}}


def test_address_plan_stays_in_the_benchmarking_range():
    for slot in (0, 7, 15, 16, 24, 31):
        topo = parse(dict(BASE, slot=slot))
        reserved = ipaddress.IPv4Network("198.18.0.0/15")
        for net in topo.networks.values():
            assert net.cidr.subnet_of(reserved)
            assert net.cidr.subnet_of(topo.vpc_cidr)
        assert topo.vip_network.subnet_of(topo.vpc_cidr)
        assert topo.vip_network not in [n.cidr for n in topo.networks.values()]
        assert topo.moto_ip in topo.first_network.cidr


def test_slots_do_not_overlap():
    a, b = parse(dict(BASE, slot=3)), parse(dict(BASE, slot=4))
    assert not a.vpc_cidr.overlaps(b.vpc_cidr)
    assert a.prefix != b.prefix and a.netns("a") != b.netns("a")
    topos = [parse(dict(BASE, slot=slot)) for slot in range(topology.MAX_SLOT + 1)]
    assert topology.MAX_SLOT == 31
    blocks = [t.vpc_cidr for t in topos]
    assert all(not x.overlaps(y) for i, x in enumerate(blocks) for y in blocks[i + 1:])
    assert len({t.prefix for t in topos}) == len({t.mac("a", "lan") for t in topos}) == 32


def test_slots_0_to_15_keep_their_addresses():
    """Slots 16..31 were added later: the first 16 slots' addresses are those every shipped
    topology, fixture and document was written with (198.19.(16s+n).0/24)."""
    for slot in range(16):
        topo = parse(dict(BASE, slot=slot))
        assert str(topo.vpc_cidr) == f"198.19.{16 * slot}.0/20"
        assert str(topo.networks["lan"].cidr) == f"198.19.{16 * slot}.0/24"
        assert str(topo.networks["hb"].cidr) == f"198.19.{16 * slot + 1}.0/24"
        assert str(topo.vip_network) == f"198.19.{16 * slot + 15}.0/24"
        assert str(topo.moto_ip) == f"198.19.{16 * slot}.2"


def test_slots_16_to_31_take_198_18():
    for slot in range(16, 32):
        topo = parse(dict(BASE, slot=slot))
        third = 16 * (slot - 16)
        assert str(topo.vpc_cidr) == f"198.18.{third}.0/20"
        assert str(topo.networks["lan"].cidr) == f"198.18.{third}.0/24"
        assert str(topo.host_ip("a", "hb")) == f"198.18.{third + 1}.10"
        assert str(topo.first_network.controller_ip) == f"198.18.{third}.1"
        assert str(topo.first_network.gateway_ip) == f"198.18.{third}.254"
        assert str(topo.vip_network) == f"198.18.{third + 15}.0/24"
        assert topo.prefix == f"hl{slot}" and topo.mac("a", "hb") == f"02:68:6c:{slot:02x}:01:01"
        assert len(topo.root_veth("a", "hb")) <= 15
    assert topology.load("smoke", slot=16).name == "smoke-s16"


def test_defaults_and_names():
    topo = parse(dict(BASE, slot=2))
    assert topo.host_ip("a") == ipaddress.IPv4Address("198.19.32.10")
    assert topo.host_ip("a", "hb") == ipaddress.IPv4Address("198.19.33.10")
    assert topo.host_ip("b") == ipaddress.IPv4Address("198.19.32.11")
    assert topo.hosts["b"].networks == ["lan"]
    assert topo.netns("a") == "hl02-a"
    assert topo.root_veth("a", "hb") == "hl02h01n1"
    assert len(topo.root_veth("a", "hb")) <= 15 and len(topo.bridge("hb")) <= 15
    assert topo.mac("a", "hb") == "02:68:6c:02:01:01"
    assert topo.first_network.gateway_ip == ipaddress.IPv4Address("198.19.32.254")


def test_subnets_and_ec2_placement():
    data = dict(
        BASE,
        hosts={"a": {"ec2": True, "address": 20}, "b": {"ec2": True, "address": 140}},
        aws={"subnets": [
            {"name": "lan-a", "network": "lan", "az": "a", "offset": 0, "prefix": 25},
            {"name": "lan-c", "network": "lan", "az": "c", "offset": 128, "prefix": 25},
        ]},
    )
    topo = parse(data)
    assert topo.subnet_for("a", "lan").name == "lan-a"
    assert topo.subnet_for("b", "lan").name == "lan-c"
    assert str(topo.subnets[1].cidr) == "198.19.0.128/25"


def test_default_subnet_per_network():
    topo = parse(dict(BASE, aws=True, hosts={"a": {"ec2": True, "networks": ["lan", "hb"]}}))
    assert [(s.network, str(s.cidr)) for s in topo.subnets] == [("lan", "198.19.0.0/24"), ("hb", "198.19.1.0/24")]


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"slot": 32}, "slot must be an integer 0..31"),
        ({"slot": -1}, "slot must be an integer 0..31"),
        ({"name": "Bad Name"}, "lab name 'Bad Name'"),
        ({"hosts": {}}, "hosts: a non-empty mapping"),
        ({"hosts": {"a": {"networks": ["nope"]}}}, "unknown network 'nope'"),
        ({"hosts": {"a": {"address": 5}}}, "address must be a host part 10..250"),
        ({"hosts": {"a": {"address": 20}, "b": {"address": 20}}}, "address .20 on lan already used by a"),
        ({"hosts": {"a": {"ssh_port": 0}}}, "ssh_port must be 1..65535"),
        ({"hosts": {"a": {"ec2": True}}}, "hosts with ec2 need an aws section"),
        ({"hosts": {"aws": {}}}, "reserved"),
        ({"hosts": {"a": {"colour": "red"}}}, "unknown keys colour"),
        ({"hosts": {"a": {"services": ["x"]}}}, "services must be a list"),
        ({"surprise": 1}, "unknown topology keys: surprise"),
        ({"private_dirs": ["/data"]}, "unknown topology keys: private_dirs"),
        ({"image": "buster"}, "image: 'buster' is not a Debian release the lab builds"),
        ({"networks": ["lan", "lan"]}, "unique names"),
        ({"disks": {"d": {"size_mb": 1}}}, "size_mb must be 8..4096"),
        ({"aws": {"subnets": [{"name": "s", "network": "lan", "prefix": 25, "offset": 3}]}}, "does not start a /25"),
        ({"aws": {"subnets": [{"name": "s", "network": "lan"}, {"name": "t", "network": "lan"}]}}, "overlaps"),
        (
            {"hosts": {"a": {"ec2": True, "address": 200}},
             "aws": {"subnets": [{"name": "s", "network": "lan", "prefix": 25}]}},
            "no subnet of network lan holds 198.19.0.200",
        ),
    ],
)
def test_bad_topologies_are_refused_with_a_reason(patch, message):
    with pytest.raises(TopologyError, match=None) as err:
        parse(dict(BASE, **patch))
    assert message in str(err.value)


def test_shipped_topologies_parse():
    files = sorted(topology.TOPOLOGY_DIR.glob("*.yml"))
    assert files
    slots = {}
    for f in files:
        topo = topology.load(f)
        assert topo.name == f.stem
        slots.setdefault(topo.slot, []).append(topo.name)
    # shipped labs must be able to run side by side, on Debian 12 and on Debian 13 at once
    assert all(len(names) == 1 for names in slots.values()), slots
    from tests.lab.pytest_support import ALT_SLOTS

    assert set(ALT_SLOTS) <= {topology.load(f).name for f in files}
    taken = set(slots) | {9}  # 9: the lab's own teardown tests
    assert not taken & set(ALT_SLOTS.values()), (slots, ALT_SLOTS)
    assert len(set(ALT_SLOTS.values())) == len(ALT_SLOTS)
    assert all(0 <= s <= topology.MAX_SLOT for s in ALT_SLOTS.values())


def test_unknown_topology_name_lists_the_known_ones():
    with pytest.raises(TopologyError) as err:
        topology.resolve_path("no-such-lab")
    assert "smoke" in str(err.value)


def test_a_topology_moved_to_another_slot_gets_a_name_of_its_own():
    """The name is the lab's state directory: a benchmark's vip lab in slot 9 must not share it
    with the test suite's vip lab in slot 2 (bringing one up would tear the other down)."""
    own = topology.load("vip")
    moved = topology.load("vip", slot=9)
    assert (own.name, own.slot) == ("vip", 2)
    assert (moved.name, moved.slot) == ("vip-s9", 9)
    assert topology.load("vip", slot=2).name == "vip"
    assert topology.load("vip", slot=9, name="bench").name == "bench"
