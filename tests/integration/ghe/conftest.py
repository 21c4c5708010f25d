"""Lab fixture and helpers for the GitHub Enterprise tests (topology `ghe`, slot 3).

Three SIMULATED appliances (tests/lab/sim/ghe): ghe-1 (group ghe_primary), ghe-2 (ghe_replicas)
and a spare ghe-3 (ghe_spare), plus moto for the security group and Route 53. The playbooks get
what differs from a real AWS account and real appliances from `lab_vars.yml` (extra variables).
"""
from __future__ import annotations

import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.lab import ansible_run, aws
from tests.lab.pytest_support import running_lab

HERE = Path(__file__).resolve().parent
LAB_VARS = "@" + str(HERE / "lab_vars.yml")
DOMAIN = "ghe.lab.example"
PRIMARY, REPLICA, SPARE = "ghe-1", "ghe-2", "ghe-3"


class GheLab:
    def __init__(self, lab):
        self.lab = lab
        self.password = "lab-ghe-Manage-7Qx2v9"
        assert self.password in (lab.topo.hosts[PRIMARY].setup[0]), "lab_vars.yml and ghe.yml disagree"
        self.outputs: list[str] = []  # everything Ansible printed, for the no-secret-in-logs test

    def ip(self, host):
        return self.lab.ip(host)

    # ---- running things ----------------------------------------------------------------------
    def run(self, playbook, *args, check=False, diff=False, **extra):
        res = ansible_run.playbook(self.lab, f"playbooks/{playbook}", "-e", LAB_VARS, *args,
                                   extra_vars=extra or None, check=check, diff=diff)
        self.outputs.append(res.stdout + res.stderr)
        return res

    def adhoc(self, pattern, module, args="", check=False):
        if not check:
            proc = ansible_run.adhoc(self.lab, pattern, module, args)
        else:  # ansible_run.adhoc has no --check
            cmd = [str(Path(sys.executable).parent / "ansible"), "-i", str(self.lab.inventory), pattern,
                   "-m", module, "-o", "--check"] + (["-a", args] if args else [])
            proc = subprocess.run(cmd, capture_output=True, text=True, env=ansible_run.env(), cwd=ansible_run.REPO,
                                  timeout=120, check=False)
        self.outputs.append(proc.stdout + proc.stderr)
        return proc

    def sh(self, host, script, check=True):
        return self.lab.exec(host, "sh", "-c", script, check=check)

    # ---- appliance state -----------------------------------------------------------------------
    def role(self, host):
        out = self.lab.exec(host, "cat", "/etc/github/repl-state", check=False)
        return out.stdout.strip() if out.returncode == 0 else "standalone"

    def cluster_conf(self, host):
        return self.lab.exec(host, "cat", "/data/user/common/cluster.conf", check=False).stdout

    def status(self, host):
        proc = self.lab.exec(host, "ghe-repl-status", check=False)
        return proc.returncode, proc.stdout + proc.stderr

    def wait_in_sync(self, host, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            rc, out = self.status(host)
            if rc == 0:
                return out
            if time.monotonic() > deadline:
                raise AssertionError(f"{host} not in sync after {timeout}s: {out}")
            time.sleep(0.5)

    def maintenance(self, host):
        return self.lab.exec(host, "ghe-maintenance", "-q").stdout.strip() == "maintenance mode set"

    def http_status(self, host):
        try:
            with urllib.request.urlopen(f"http://{self.ip(host)}/status", timeout=5) as resp:  # noqa: S310
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code

    def write_repo(self, host, name, content):
        path = f"/data/repositories/acme/{name}.git"
        self.sh(host, f"mkdir -p {path} && printf %s {shlex.quote(content)} > {path}/HEAD && chown -R admin:admin /data/repositories")

    def repo(self, host, name):
        out = self.lab.exec(host, "cat", f"/data/repositories/acme/{name}.git/HEAD", check=False)
        return out.stdout if out.returncode == 0 else None

    def authorized_keys(self, host):
        return self.lab.exec(host, "cat", "/home/admin/.ssh/authorized_keys", check=False).stdout

    def loop_pid(self, host):
        return int(self.lab.exec(host, "cat", "/run/ghe-sim/repl-loop.pid").stdout.strip())

    # ---- AWS (read back from moto) --------------------------------------------------------------
    def records(self):
        """{(zone kind, name): (sorted values, ttl)} for every A record of the lab domain."""
        r53 = aws.client(self.lab.topo, "route53")
        out = {}
        for zone in r53.list_hosted_zones()["HostedZones"]:
            if zone["Name"] != DOMAIN + ".":
                continue
            kind = "private" if zone["Config"]["PrivateZone"] else "public"
            for rr in r53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]:
                if rr["Type"] == "A":
                    name = rr["Name"].replace("\\052", "*").rstrip(".")
                    out[(kind, name)] = (sorted(v["Value"] for v in rr["ResourceRecords"]), rr.get("TTL"))
        return out

    def expected_records(self, active, standby, ttl=60):
        names = {f"git.{DOMAIN}": active, f"*.git.{DOMAIN}": active, f"git-standby.{DOMAIN}": standby}
        return {(kind, name): ([self.ip(host)], ttl) for kind in ("public", "private") for name, host in names.items()}

    def set_record(self, name, address):
        r53 = aws.client(self.lab.topo, "route53")
        zone = next(z for z in r53.list_hosted_zones()["HostedZones"]
                    if z["Name"] == DOMAIN + "." and not z["Config"]["PrivateZone"])
        r53.change_resource_record_sets(HostedZoneId=zone["Id"], ChangeBatch={"Changes": [{
            "Action": "UPSERT",
            "ResourceRecordSet": {"Name": name, "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": address}]},
        }]})

    def security_group(self):
        ec2 = aws.client(self.lab.topo, "ec2")
        groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["ghe-appliances"]}])
        return groups["SecurityGroups"][0] if groups["SecurityGroups"] else None

    def eni_groups(self):
        ec2 = aws.client(self.lab.topo, "ec2")
        return {
            host: {g["GroupName"] for g in ec2.describe_network_interfaces(
                NetworkInterfaceIds=[self.lab.model["instances"][host]["interfaces"][0]["interface_id"]]
            )["NetworkInterfaces"][0]["Groups"]}
            for host in (PRIMARY, REPLICA, SPARE)
        }


@pytest.fixture(scope="module")
def ghe_lab():
    # /data is a tmpfs private to each appliance (private_dirs in the topology); the lab
    # creates and removes the empty mount point on the real root itself.
    with running_lab("ghe") as lab:
        yield GheLab(lab)


# ---- assertions on playbook results (this suite's and tests/integration/ghe_fence's) ----------
def ok(res):
    """The run succeeded on every host; the output's end is the assertion message otherwise."""
    assert res.rc == 0 and res.failed == 0, res.stdout[-6000:] + res.stderr[-2000:]
    return res


def text(res):
    """Ansible's output with line wrapping and YAML quote doubling undone."""
    return " ".join(res.stdout.split()).replace("''", "'")


def refused(res, message):
    """The run failed with ``message`` and changed nothing."""
    assert res.rc != 0, res.stdout[-4000:]
    assert message in text(res), res.stdout[-6000:]
    assert res.changed == 0, res.stdout[-6000:]
    return res
