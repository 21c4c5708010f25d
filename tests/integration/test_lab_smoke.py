"""The foundation's smoke test: the lab works as every later test assumes it does."""
from __future__ import annotations

import json
import os

import pytest

from tests.lab import Lab, ansible_run
from tests.lab.lab import _alive, link_list, netns_list

pytestmark = pytest.mark.lab


def test_ansible_reaches_every_host_over_ssh(smoke_lab):
    proc = ansible_run.adhoc(smoke_lab, "all", "ansible.builtin.ping")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host in smoke_lab.topo.hosts:
        assert f'{host} | SUCCESS => {{"changed": false,"ping": "pong"}}' in proc.stdout


def test_ssh_port_is_per_host(smoke_lab):
    assert smoke_lab.topo.hosts["appliance-1"].ssh_port == 122
    assert smoke_lab._port_open(smoke_lab.ip("appliance-1"), 122)
    assert not smoke_lab._port_open(smoke_lab.ip("appliance-1"), 22)
    assert smoke_lab.ssh("appliance-1", "hostname").stdout.strip() == "appliance-1"


def test_each_host_has_its_own_identity_and_files(smoke_lab):
    names = {h: smoke_lab.exec(h, "cat", "/etc/hostname").stdout.strip() for h in smoke_lab.topo.hosts}
    assert names == {h: h for h in smoke_lab.topo.hosts}
    smoke_lab.exec("node-1", "sh", "-c", "echo written-on-node-1 > /etc/lab-smoke-marker")
    assert smoke_lab.exec("node-1", "cat", "/etc/lab-smoke-marker").stdout.strip() == "written-on-node-1"
    for other in ("node-2", "client-1"):
        assert smoke_lab.exec(other, "test", "-e", "/etc/lab-smoke-marker", check=False).returncode == 1
    # ... and the real machine's /etc is untouched by the host's write (copy-on-write overlay)
    assert smoke_lab.exec("node-1", "findmnt", "-n", "-o", "FSTYPE", "/etc").stdout.strip() == "overlay"


def test_private_dirs_are_per_host_and_never_reach_the_real_disk(smoke_lab):
    smoke_lab.exec("node-1", "sh", "-c", "echo mine > /hapair-lab-private/f")
    assert smoke_lab.exec("node-1", "cat", "/hapair-lab-private/f").stdout == "mine\n"
    assert smoke_lab.exec("node-2", "test", "-e", "/hapair-lab-private/f", check=False).returncode == 1
    assert os.listdir("/hapair-lab-private") == []  # the real directory is only a mount point


def test_host_has_private_pid_and_run(smoke_lab):
    ps = smoke_lab.exec("node-2", "ps", "-e", "-o", "pid=,comm=").stdout.split("\n")
    first = ps[0].split()
    assert first == ["1", "tini"]
    # a handful of processes, not the whole machine's
    assert len([line for line in ps if line.strip()]) < 15
    assert smoke_lab.exec("node-2", "findmnt", "-n", "-o", "FSTYPE", "/run").stdout.strip() == "tmpfs"


def test_networks_addresses_and_facts(smoke_lab):
    out = smoke_lab.exec("node-1", "ip", "-j", "addr").stdout
    addrs = {a["ifname"]: [i["local"] for i in a["addr_info"] if i["family"] == "inet"] for a in json.loads(out)}
    assert addrs["eth0"] == [smoke_lab.ip("node-1", "lan")]
    assert addrs["eth1"] == [smoke_lab.ip("node-1", "hb")]
    # heartbeat network: node-1 reaches node-2 over hb
    assert smoke_lab.exec("node-1", "ping", "-c1", "-W2", smoke_lab.ip("node-2", "hb")).returncode == 0
    # a default route to a gateway that does not exist: facts complete, nothing leaves the lab
    proc = ansible_run.adhoc(smoke_lab, "node-1", "ansible.builtin.setup", "filter=ansible_default_ipv4")
    assert proc.returncode == 0, proc.stdout
    assert f'"address": "{smoke_lab.ip("node-1")}"' in proc.stdout
    # DNS fails fast (nameserver 127.0.0.1 answers nothing at once)
    dns = smoke_lab.exec("client-1", "getent", "hosts", "nonexistent.example.com", check=False, timeout=5)
    assert dns.returncode == 2


def test_cutting_a_link_isolates_only_that_network(smoke_lab):
    target = smoke_lab.ip("node-2", "hb")
    smoke_lab.set_link("node-2", "hb", up=False)
    try:
        assert smoke_lab.exec("node-1", "ping", "-c1", "-W1", target, check=False).returncode != 0
        assert smoke_lab.exec("node-1", "ping", "-c1", "-W1", smoke_lab.ip("node-2", "lan"), check=False).returncode == 0
    finally:
        smoke_lab.set_link("node-2", "hb", up=True)
    assert smoke_lab.exec("node-1", "ping", "-c1", "-W3", target, check=False).returncode == 0


def test_moto_answers_from_inside_a_host_with_instance_profile_credentials(smoke_lab):
    script = (
        "import boto3, json\n"
        f"c = boto3.client('ec2', endpoint_url='{smoke_lab.aws_endpoint}', region_name='us-east-1')\n"
        "r = c.describe_instances(Filters=[{'Name': 'tag:Name', 'Values': ['node-1']}])\n"
        "print(json.dumps({'id': r['Reservations'][0]['Instances'][0]['InstanceId'],\n"
        "  'key': boto3.Session().get_credentials().access_key}))\n"
    )
    # No AWS_* variables inside the host: botocore finds credentials through the IMDS, as on EC2.
    out = json.loads(smoke_lab.exec("node-1", "env", "-i", "PATH=/usr/bin:/bin", "python3", "-c", script).stdout)
    assert out["id"] == smoke_lab.model["instances"]["node-1"]["instance_id"]
    assert out["key"] == "ASIALABINSTANCEPROF1"


def test_imds_identity_matches_moto(smoke_lab):
    proc = ansible_run.adhoc(smoke_lab, "pair", "amazon.aws.ec2_metadata_facts")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ec2 = smoke_lab.model["instances"]
    for host in ("node-1", "node-2"):
        line = next(x for x in proc.stdout.splitlines() if x.startswith(f"{host} |"))
        facts = json.loads(line.split("=>", 1)[1])["ansible_facts"]
        assert facts["ansible_ec2_instance_id"] == ec2[host]["instance_id"]
        mac = facts["ansible_ec2_mac"]
        assert mac == smoke_lab.topo.mac(host, "lan")
        eni = facts[f"ansible_ec2_network_interfaces_macs_{mac.replace(':', '_')}_interface_id"]
        assert eni == ec2[host]["interfaces"][0]["interface_id"]
        # moto agrees: that ENI is attached to that instance at device index 0
        described = smoke_lab_ec2(smoke_lab).describe_network_interfaces(NetworkInterfaceIds=[eni])
        att = described["NetworkInterfaces"][0]["Attachment"]
        assert (att["InstanceId"], att["DeviceIndex"]) == (ec2[host]["instance_id"], 0)


def test_imds_requires_a_token(smoke_lab):
    url = "http://169.254.169.254/latest/meta-data/instance-id"
    plain = smoke_lab.exec("node-2", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url).stdout
    assert plain == "401"
    token = smoke_lab.exec(
        "node-2", "curl", "-s", "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60",
        "http://169.254.169.254/latest/api/token",
    ).stdout
    got = smoke_lab.exec("node-2", "curl", "-s", "-H", f"X-aws-ec2-metadata-token: {token}", url).stdout
    assert got == smoke_lab.model["instances"]["node-2"]["instance_id"]
    # not an EC2 host: no metadata service at all
    assert smoke_lab.exec("client-1", "curl", "-s", "-m", "2", url, check=False).returncode != 0


def test_moto_reset_and_reseed_keeps_imds_consistent(smoke_lab):
    before = smoke_lab.model["instances"]["node-2"]["instance_id"]
    model = smoke_lab.reset_aws()
    after = model["instances"]["node-2"]["instance_id"]
    assert after != before
    ec2 = smoke_lab_ec2(smoke_lab)
    ids = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert before not in ids and after in ids
    assert len(ids) == 2
    proc = ansible_run.adhoc(smoke_lab, "node-2", "amazon.aws.ec2_metadata_facts")
    assert f'"ansible_ec2_instance_id": "{after}"' in proc.stdout


def test_service_and_disk_from_topology(smoke_lab):
    code = smoke_lab.exec("client-1", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:8080/").stdout
    assert code == "200"
    dev = smoke_lab.disks["shared"]
    for host in ("node-1", "node-2"):
        assert smoke_lab.exec(host, "test", "-b", dev).returncode == 0


def smoke_lab_ec2(lab: Lab):
    from tests.lab import aws

    return aws.client(lab.topo, "ec2")


def test_down_leaves_nothing_behind():
    """A lab of its own (another slot), brought up and down: no namespace, link, loop, state."""
    lab = Lab.from_topology("smoke", slot=9, name="smoke-down")
    lab.topo.private_dirs = ["/hapair-lab-private-9"]  # a mount point only this lab owns
    try:
        lab.up()
        assert lab.created_dirs == ["/hapair-lab-private-9"] and os.path.isdir("/hapair-lab-private-9")
        assert any(ns.startswith("hl09-") for ns in netns_list())
        pids = [lab.pid1(h) for h in lab.topo.hosts]
    finally:
        removed = lab.down()
    assert not [ns for ns in netns_list() if ns.startswith("hl09-")]
    assert not [link for link in link_list() if link.startswith("hl09")]
    assert removed["loops"] and not lab.dir.exists() and not lab.inventory.exists()
    assert not os.path.exists("/hapair-lab-private-9")  # the lab made this mount point, and removed it
    # gone, or at most a zombie waiting for this sandbox's PID 1 to reap it
    assert not [pid for pid in pids if _alive(pid)]


def test_up_after_a_crash_cleans_stale_state():
    """Simulate a crashed run (state and namespaces left behind), then up the same lab again."""
    lab = Lab.from_topology("smoke", slot=9, name="smoke-crash")
    lab.up()
    stale_pid = lab.pid1("node-1")
    # "crash": forget the Lab object without down(); a new one must clean up and come up
    again = Lab.from_topology("smoke", slot=9, name="smoke-crash")
    try:
        again.up()
        assert again.pid1("node-1") != stale_pid
        assert again.exec("node-1", "hostname").stdout.strip() == "node-1"
    finally:
        again.down()
    lab.children.clear()
    assert not [ns for ns in netns_list() if ns.startswith("hl09-")]
