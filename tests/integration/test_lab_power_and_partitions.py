"""The lab's power through EC2 and its partitions (issue 14): what the split-brain drills rely on.

A stopped instance is a dead host (the power watcher, tests/lab/powerwatch.py), a started one
boots again; a partition cuts two hosts apart and nothing else. The `smoke` topology in slot 16
(198.18.0.0/20: the second half of the address plan, so a lab there is exercised too);
HAPAIR_LAB_SLOTS="power=N" moves it.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from tests.lab import Lab, aws
from tests.lab.lab import _alive, nft_table, sh
from tests.lab.pytest_support import SLOT_OVERRIDES

pytestmark = pytest.mark.lab

SLOT = SLOT_OVERRIDES.get("power", 16)


@pytest.fixture(scope="module")
def lab():
    if os.geteuid() != 0:
        pytest.fail("the lab needs root: run the integration tests as root (make test does)")
    lab = Lab.from_topology("smoke", slot=SLOT, name=f"lab-power-s{SLOT}", power_watch=True)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


@pytest.fixture(autouse=True)
def powered_on(lab):  # pylint: disable=redefined-outer-name
    """Each test starts with every instance running and every host up, whatever the test before
    it left (a failed one may leave a host stopped): started through EC2 as an operator would
    (the watcher boots the host), then any host a crash left down is booted."""
    ec2 = aws.client(lab.topo, "ec2")
    for host in lab.model["instances"]:
        if _state(lab, host) == "stopped":
            ec2.start_instances(InstanceIds=[lab.instance_id(host)])
            lab.wait_host_up(host, timeout=120)
    lab.boot_stopped(timeout=120)
    yield


def _state(lab: Lab, host: str) -> str:
    resp = aws.client(lab.topo, "ec2").describe_instances(InstanceIds=[lab.instance_id(host)])
    return resp["Reservations"][0]["Instances"][0]["State"]["Name"]


def _pings(lab: Lab, src: str, dst_ip: str, within: float = 0.0) -> bool:
    """Any answer to 3 echo requests (0.2 s apart, 2 s for the last): a busy machine's
    scheduling delays do not count as a cut path. ``within``: keep trying that long - after a
    partition heals, a host whose ARP resolution of the other was under way when it healed
    first lets it fail (its queued packets: "Destination Host Unreachable"), then resolves
    again, up to about 3 s later (Linux neighbour states; the same on a real machine)."""
    deadline = time.monotonic() + within
    while True:
        if lab.exec(src, "ping", "-n", "-q", "-c3", "-i0.2", "-W2", dst_ip, check=False).returncode == 0:
            return True
        if time.monotonic() > deadline:
            return False


def _cut(lab: Lab, src: str, dst_ip: str) -> bool:
    """No answer to 2 echo requests within about 1.2 s."""
    return lab.exec(src, "ping", "-n", "-q", "-c2", "-i0.2", "-W1", dst_ip, check=False).returncode != 0


def test_stopping_the_instance_kills_the_host_and_starting_it_boots_it(lab):
    host, ip, port = "node-2", lab.ip("node-2"), lab.topo.hosts["node-2"].ssh_port
    assert lab.topo.first_network.cidr.subnet_of(lab.topo.vpc_cidr) and str(lab.topo.vpc_cidr).startswith("198.18.")
    old_pid = lab.pid1(host)
    events = len(lab.power_events())
    # the fencing call as a node makes it: from node-1, with its instance-profile credentials (IMDS)
    script = (
        "import boto3\n"
        f"c = boto3.client('ec2', endpoint_url='{lab.aws_endpoint}', region_name='{lab.topo.region}')\n"
        f"print(c.stop_instances(InstanceIds=['{lab.instance_id(host)}'], Force=True)"
        "['StoppingInstances'][0]['CurrentState']['Name'])\n"
    )
    stopped_at = time.time()
    assert lab.exec("node-1", "env", "-i", "PATH=/usr/bin:/bin", "python3", "-c", script).stdout.strip() == "stopping"
    # how fast is printed, not asserted: on a busy machine boto3 alone takes seconds to start
    waited = lab.wait_host_down(host, timeout=60)
    print(f"StopInstances -> {host} down in {time.time() - stopped_at:.2f} s (wait_host_down {waited:.2f} s)")
    assert not _alive(old_pid) and not lab.running_host(host)
    assert not lab._port_open(ip, port)  # no SSH: the machine is off
    assert _cut(lab, "node-1", ip)
    assert _state(lab, host) == "stopped"
    when, who, what = lab.power_events()[events]
    assert (who, what) == (host, "crash") and stopped_at <= when <= time.time()

    # down because its instance is stopped, not booted again because it is down
    time.sleep(1.0)
    assert not lab.running_host(host) and len(lab.power_events()) == events + 1

    started_at = time.time()
    aws.client(lab.topo, "ec2").start_instances(InstanceIds=[lab.instance_id(host)])
    waited = lab.wait_host_up(host, timeout=120)
    print(f"StartInstances -> {host} answers SSH in {time.time() - started_at:.2f} s")
    assert lab.ssh(host, "hostname").stdout.strip() == host
    assert lab.pid1(host) != old_pid
    assert lab.power_events()[events + 1][1:] == (host, "boot")
    assert _pings(lab, "node-1", ip, within=30)  # node-1's failed ARP entry for it recovers first


def test_a_host_crashed_by_a_test_stays_down_while_its_instance_runs(lab):
    """The watcher acts on instance state changes only: a crash drill's crash is left alone."""
    events = len(lab.power_events())
    lab.crash("node-1")
    time.sleep(1.0)  # several polls of the watcher
    assert not lab.running_host("node-1") and _state(lab, "node-1") == "running"
    assert len(lab.power_events()) == events
    lab.boot("node-1", timeout=120)
    assert lab.ssh("node-1", "hostname").stdout.strip() == "node-1"


def test_a_partition_cuts_two_hosts_apart_and_nothing_else(lab):
    a, b, third = "node-1", "node-2", "client-1"
    controller, moto = str(lab.topo.first_network.controller_ip), str(lab.topo.moto_ip)
    # multicast (VRRP's kind of traffic) is answered by hosts that accept echo to 224.0.0.1
    for host in (b, third):
        lab.exec(host, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_broadcasts=0")
    lab.partition(a, b)
    try:
        assert lab.partitions() == [(a, b)]
        lab.partition(b, a)  # the same pair: nothing new
        assert lab.partitions() == [(a, b)]
        for net in ("lan", "hb"):
            assert _cut(lab, a, lab.ip(b, net)) and _cut(lab, b, lab.ip(a, net))
        for host in (a, b):
            for target in (lab.ip(third), controller, moto):
                assert _pings(lab, host, target, within=10), (host, target)
        out = ""
        deadline = time.monotonic() + 10  # a busy machine may answer late; the cut peer never does
        while f"from {lab.ip(third)}" not in out and time.monotonic() < deadline:
            out += lab.exec(a, "ping", "-n", "-c3", "-i0.2", "-W2", "-I", "eth0", "224.0.0.1", check=False).stdout
        assert f"from {lab.ip(third)}" in out and f"from {lab.ip(b)}" not in out, out
        # a partition holds across a power cycle of either host (the ports keep their names)
        lab.reboot(b, timeout=120)
        assert _cut(lab, a, lab.ip(b))
    finally:
        lab.heal(a, b)
    assert lab.partitions() == []
    for net in ("lan", "hb"):
        assert _pings(lab, a, lab.ip(b, net), within=30) and _pings(lab, b, lab.ip(a, net), within=30)


def test_heal_all_and_down_remove_the_rules_and_the_watcher(lab):
    lab.partition("node-1", "node-2")
    lab.partition("node-1", "client-1")
    lab.heal("node-1", "client-1")
    assert lab.partitions() == [("node-1", "node-2")]
    lab.heal()
    assert lab.partitions() == []
    lab.partition("node-2", "client-1")
    table = nft_table(lab.topo.prefix)
    assert sh("nft", "list", "table", "bridge", table, check=False).returncode == 0
    watcher = json.loads((lab.dir / "state.json").read_text())["watcher"]
    assert _alive(watcher)
    removed = lab.down()
    assert removed["watcher"] == watcher and not _alive(watcher)
    assert removed["nft"] == [f"bridge {table}"]
    assert sh("nft", "list", "table", "bridge", table, check=False).returncode != 0
