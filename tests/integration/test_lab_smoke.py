"""The foundation's smoke test: the lab works as every later test assumes it does."""
from __future__ import annotations

import json
import os

import pytest

from tests.lab import Lab, ansible_run
from tests.lab.lab import CGROUP_ROOTS, _alive, link_list, netns_list

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
    assert smoke_lab.exec("node-1", "findmnt", "-n", "-o", "FSTYPE", "-T", "/etc").stdout.strip() == "overlay"


def test_hosts_are_booted_debian_servers_with_their_own_usr(smoke_lab):
    for host in ("node-1", "appliance-1"):
        ps = smoke_lab.exec(host, "ps", "-e", "-o", "pid=,comm=").stdout.split("\n")
        assert ps[0].split() == ["1", "systemd"]
        # a booted server: every unit started, none failed; sshd and journald are units
        assert smoke_lab.exec(host, "systemctl", "is-system-running", "--wait", timeout=30).stdout.strip() == "running"
        for unit in ("ssh.service", "systemd-journald.service"):
            assert smoke_lab.exec(host, "systemctl", "is-active", unit).stdout.strip() == "active"
        # a handful of processes, not the whole machine's
        assert len([line for line in ps if line.strip()]) < 25
    # the root is an overlay over the lab's Debian image, not the controller's file system
    lower = smoke_lab.exec("node-1", "findmnt", "-n", "-o", "OPTIONS", "/").stdout
    assert f"lowerdir={smoke_lab.image.path}," in lower
    smoke_lab.exec("node-1", "sh", "-c", "echo mine > /usr/local/lab-smoke-usr")
    assert not os.path.exists("/usr/local/lab-smoke-usr")
    assert smoke_lab.exec("node-2", "test", "-e", "/usr/local/lab-smoke-usr", check=False).returncode == 1
    assert smoke_lab.exec("node-1", "cat", "/etc/debian_version").stdout.startswith("12.")
    assert smoke_lab.exec("node-2", "findmnt", "-n", "-o", "FSTYPE", "/run").stdout.strip() == "tmpfs"
    # the journal has the host's own logs (sshd's, for the logins the tests made)
    smoke_lab.ssh("appliance-1", "true")
    assert "Accepted publickey" in smoke_lab.exec("appliance-1", "journalctl", "-u", "ssh", "--no-pager").stdout


def test_crash_and_boot_keep_the_disk_and_not_the_running_state(smoke_lab):
    lab = smoke_lab
    lab.exec("node-2", "sh", "-c", "echo before-the-crash > /var/lib/lab-smoke-disk")
    lab.exec("node-2", "ip", "addr", "add", "198.19.15.77/32", "dev", "eth0")
    key = lab.exec("node-2", "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout
    old_pid = lab.pid1("node-2")
    lab.crash("node-2")
    assert not lab.running_host("node-2") and not _alive(old_pid)
    # a dead machine answers nothing, not even on the address it held
    assert lab.exec("node-1", "ping", "-c1", "-W1", lab.ip("node-2"), check=False).returncode != 0
    seconds = lab.boot("node-2")
    assert lab.pid1("node-2") != old_pid and seconds < 30
    assert lab.exec("node-2", "cat", "/var/lib/lab-smoke-disk").stdout == "before-the-crash\n"
    assert lab.exec("node-2", "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout == key
    assert "198.19.15.77" not in lab.exec("node-2", "ip", "-o", "addr").stdout
    assert lab.exec("node-2", "systemctl", "is-system-running", "--wait", timeout=30).stdout.strip() == "running"
    assert lab.ssh("node-2", "hostname").stdout.strip() == "node-2"
    # the instance's metadata service is back too
    token = lab.exec("node-2", "curl", "-s", "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60",
                     "http://169.254.169.254/latest/api/token").stdout
    assert token


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
    dev = smoke_lab.host_disks()["shared"]
    assert dev == "/dev/vdb"
    for host in ("node-1", "node-2"):
        assert smoke_lab.exec(host, "test", "-b", dev).returncode == 0
    # the same disk on both: what one host writes, the other reads
    smoke_lab.exec("node-1", "sh", "-c", f"printf lab-smoke-disk | dd of={dev} oflag=direct,sync bs=512 conv=sync status=none")
    assert smoke_lab.exec("node-2", "dd", f"if={dev}", "iflag=direct", "bs=512", "count=1", "status=none").stdout.startswith("lab-smoke-disk")


def smoke_lab_ec2(lab: Lab):
    from tests.lab import aws

    return aws.client(lab.topo, "ec2")


def test_down_leaves_nothing_behind():
    """A lab of its own (another slot), brought up and down: no namespace, link, cgroup, mount,
    loop device, process or state left."""
    lab = Lab.from_topology("smoke", slot=9, name="smoke-down")
    try:
        lab.up()
        assert any(ns.startswith("hl09-") for ns in netns_list())
        assert os.path.isdir("/sys/fs/cgroup/unified/hl09-node-1")
        pids = [lab.pid1(h) for h in lab.topo.hosts]
        print(f"smoke lab (4 hosts) up in {lab.boot_seconds:.1f} s; memory per host (PSS, KiB): "
              f"{ {h: lab.memory_kib(h) for h in lab.topo.hosts} }")
    finally:
        removed = lab.down()
    assert not [ns for ns in netns_list() if ns.startswith("hl09-")]
    assert not [link for link in link_list() if link.startswith("hl09")]
    assert not [d for root in CGROUP_ROOTS for d in os.listdir(root) if d.startswith("hl09-")]
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        assert str(lab.dir) not in fh.read()
    assert removed["loops"] and not lab.dir.exists() and not lab.inventory.exists()
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
