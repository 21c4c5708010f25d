"""The VIP lab (topology ``vip``, slot 2) for the VPC route-table VIP tests.

One lab for the whole package: db-01/db-02 (lan + hb), app-1a/app-1c, moto. The fixture adds
what the lab does not make: the route tables in moto (one per app subnet, plus extra tables,
each with the VIP route to db-01's primary ENI), a table without the route, a second VPC with
an ENI (for the bad-input tests), and the app hosts' on-link route to the VIP.

Why the app hosts get an on-link route: in a VPC an app server sends VIP traffic to the VPC
router, which follows the route table. moto only records routes, and the lab's bridge is plain
L2, so the app hosts ARP for the VIP on the lan instead; whoever holds the VIP answers. The
route tables are still the AWS state the tests read back (from moto).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.lab import ansible_run, aws, observe
from tests.lab.pytest_support import running_lab

HERE = Path(__file__).resolve().parent
LAB_VARS = HERE / "lab_vars.yml"
SETUP = "playbooks/vip_failover_setup.yml"
SWITCHOVER = "playbooks/vip_switchover.yml"
PAIR = ("db-01", "db-02")
APPS = ("app-1a", "app-1c")
TABLE_NAMES = ("app-a", "app-c", "reporting", "batch", "legacy")


@dataclass
class VipLab:
    lab: object
    vip: str
    tables: list[str]
    bare_table: str
    other_vpc_eni: str
    enis: dict[str, str] = field(default_factory=dict)

    # ---- AWS state (read back from moto) -----------------------------------------------------
    @property
    def ec2(self):
        return aws.client(self.lab.topo, "ec2")

    def routes(self, tables=None) -> dict[str, str | None]:
        """{table: ENI the VIP route points at (None: no route)} for the given tables."""
        tables = list(tables or self.tables)
        found = self.ec2.describe_route_tables(RouteTableIds=tables)["RouteTables"]
        out = {}
        for table in found:
            route = next((r for r in table["Routes"] if r.get("DestinationCidrBlock") == f"{self.vip}/32"), None)
            out[table["RouteTableId"]] = route.get("NetworkInterfaceId") if route else None
        return out

    def tables_point_at(self, host: str) -> bool:
        return set(self.routes().values()) == {self.enis[host]}

    def set_route(self, table: str, host: str) -> None:
        self.ec2.replace_route(RouteTableId=table, DestinationCidrBlock=f"{self.vip}/32", NetworkInterfaceId=self.enis[host])

    def source_dest_check(self, host: str) -> bool:
        eni = self.ec2.describe_network_interfaces(NetworkInterfaceIds=[self.enis[host]])["NetworkInterfaces"][0]
        return eni["SourceDestCheck"]

    # ---- hosts ---------------------------------------------------------------------------
    def holders(self) -> list[str]:
        """The pair nodes that have the VIP on an interface (``ip addr``; a crashed node has none)."""
        return [h for h in PAIR if observe.has_address(self.lab, h, self.vip)]

    def state(self, host: str) -> str:
        """The node's VRRP state as keepalived itself reports it (its data dump); STOP when
        keepalived.service is not running."""
        return observe.keepalived_state(self.lab, host)

    def keepalived_running(self, host: str) -> bool:
        return observe.keepalived_active(self.lab, host)

    def kill_keepalived(self, host: str, whom: str = "main") -> None:
        """SIGKILL keepalived through systemd: ``main`` - its main process (systemd then stops
        what is left of the service); ``all`` - every process of the service at once, as the OOM
        killer can, so that no keepalived process is left to run a notify script."""
        assert self.keepalived_running(host), f"no keepalived on {host}"
        self.lab.exec(host, "systemctl", "kill", "-s", "KILL", f"--kill-whom={whom}", "keepalived")

    def start_keepalived(self, host: str) -> None:
        self.lab.exec(host, "systemctl", "start", "keepalived")

    def app_reaches_vip(self, app: str) -> str | None:
        """Ping the VIP from an app host; return the pair node whose MAC answered (or None)."""
        if self.lab.exec(app, "ping", "-c", "1", "-W", "2", self.vip, check=False).returncode != 0:
            return None
        neigh = self.lab.exec(app, "ip", "neigh", "show", self.vip).stdout.split()
        mac = neigh[neigh.index("lladdr") + 1] if "lladdr" in neigh else ""
        return next((h for h in PAIR if self.lab.topo.mac(h, "lan") == mac), None)

    def wait(self, predicate, timeout: float, interval: float = 0.1) -> float:
        """Seconds until ``predicate()`` held; AssertionError after ``timeout``."""
        t0 = time.monotonic()
        while True:
            if predicate():
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"not reached within {timeout}s: {getattr(predicate, '__doc__', predicate)}")
            time.sleep(interval)

    def notify_log(self, host: str) -> str:
        """keepalived's journal: its own lines and the collection's dispatcher and hooks."""
        return observe.journal(self.lab, host)

    # ---- playbooks -------------------------------------------------------------------------
    def extra_vars(self, **overrides) -> dict:
        ev = {"vip_route_vip": self.vip, "vip_route_route_table_ids": list(self.tables)}
        ev.update(overrides)
        return ev

    def run(self, playbook: str, check: bool = False, diff: bool = False, **overrides):
        return ansible_run.playbook(self.lab, playbook, "-e", f"@{LAB_VARS}", extra_vars=self.extra_vars(**overrides),
                                    check=check, diff=diff)


def make_route_tables(lab, vip: str) -> dict:
    """Route tables in moto: one per app subnet (associated with it) and extra ones, each with
    the VIP route to db-01's primary ENI; a table without it; a second VPC with an ENI; the
    nodes' IAM role."""
    ec2 = aws.client(lab.topo, "ec2")
    vpc = lab.model["vpc_id"]
    eni1 = lab.model["instances"]["db-01"]["interfaces"][0]["interface_id"]

    def tagged(name):
        return [{"ResourceType": "route-table", "Tags": [{"Key": "Name", "Value": name}]}]

    tables = []
    for name in TABLE_NAMES:
        rtb = ec2.create_route_table(VpcId=vpc, TagSpecifications=tagged(name))["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock=f"{vip}/32", NetworkInterfaceId=eni1)
        tables.append(rtb)
    for name, rtb in zip(("lan-a", "lan-c"), tables):
        ec2.associate_route_table(RouteTableId=rtb, SubnetId=lab.model["subnets"][name]["id"])
    bare = ec2.create_route_table(VpcId=vpc, TagSpecifications=tagged("no-vip-route"))["RouteTable"]["RouteTableId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    other_subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.99.1.0/24")["Subnet"]["SubnetId"]
    other_eni = ec2.create_network_interface(SubnetId=other_subnet)["NetworkInterface"]["NetworkInterfaceId"]
    # the IAM role behind the nodes' instance profile (hapair-db in the topology)
    aws.client(lab.topo, "iam").create_role(RoleName="hapair-db", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    return {"tables": tables, "bare_table": bare, "other_vpc_eni": other_eni}


@pytest.fixture(scope="package")
def vip_lab():
    with running_lab("vip") as lab:
        vip = str(lab.topo.vip_network.network_address + 10)
        made = make_route_tables(lab, vip)
        ctx = VipLab(lab=lab, vip=vip, enis={h: lab.model["instances"][h]["interfaces"][0]["interface_id"] for h in PAIR},
                     **made)
        for app in APPS:
            lab.exec(app, "ip", "route", "add", f"{vip}/32", "dev", "eth0")
        yield ctx


@pytest.fixture(scope="package")
def converged(vip_lab):
    """The pair converged once by playbooks/vip_failover_setup.yml; returns that first run."""
    first = vip_lab.run(SETUP)
    assert first.rc == 0, first.stdout[-4000:] + first.stderr[-2000:]
    vip_lab.first_run = first
    return vip_lab


def dump(result) -> str:
    """The end of a playbook run, for assertion messages."""
    return (result.stdout[-5000:] + "\n" + result.stderr[-2000:]).strip()


def js(data) -> str:
    return json.dumps(data, indent=1, sort_keys=True)
