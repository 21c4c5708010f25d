"""The split-brain drills of the route-table VIP pair (issue 14): their own lab - topology ``vip``
in slot 18, named ``vip-split`` - so they run beside the ``vip`` package's lab.

The lab, its route tables in moto and the observations are the ``vip`` package's
(tests/integration/vip/conftest.py, imported, not copied). Added here: an AWS proxy in front of
moto that the nodes' failover command uses as its EC2 endpoint (the drills make StopInstances
fail through it, and read the order of the calls from it), and the pair converged once per
configuration: without protection, with a witness, with fencing.
"""
from __future__ import annotations

import time

import pytest

from tests.integration.vip.conftest import APPS, PAIR, SETUP, SWITCHOVER, VipLab, dump, make_route_tables
from tests.lab.awsproxy import AwsProxy
from tests.lab.pytest_support import running_lab

__all__ = ["APPS", "PAIR", "SWITCHOVER", "dump", "other", "converge", "healthy", "sample_routes"]

SLOT = 18
NAME = "vip-split"
#: The MASTER's route check every 3 s: two MASTERs then keep taking the routes from each other
#: (the flapping of drill 1), and a MASTER whose fence failed retries it.
CHECK_INTERVAL = 3
#: The fence-race delay of the lab's drills (the role's default is 10 s).
FENCE_DELAY = 5


def other(host: str) -> str:
    return "db-02" if host == "db-01" else "db-01"


@pytest.fixture(scope="package")
def split_lab():
    with running_lab("vip", slot=SLOT, name=NAME, power_watch=True) as lab:
        vip = str(lab.topo.vip_network.network_address + 10)
        made = make_route_tables(lab, vip)
        ctx = VipLab(lab=lab, vip=vip, enis={h: lab.model["instances"][h]["interfaces"][0]["interface_id"] for h in PAIR},
                     **made)
        for app in APPS:
            lab.exec(app, "ip", "route", "add", f"{vip}/32", "dev", "eth0")
        with AwsProxy(lab.aws_endpoint, host=str(lab.topo.first_network.controller_ip)) as proxy:
            ctx.proxy = proxy
            ctx.configuration = None
            yield ctx
            lab.heal()


def healthy(v, timeout: float = 60) -> None:
    """No partition, every host up, keepalived running on both nodes, one MASTER holding the VIP."""
    v.lab.heal()
    v.proxy.reset()
    for host in PAIR:  # a fenced node: started through EC2, as an operator would (the lab boots it)
        if instance_state(v, host) != "running":
            v.ec2.start_instances(InstanceIds=[v.lab.instance_id(host)])
            v.lab.wait_host_up(host, 120)
    for host in PAIR:
        if not v.keepalived_running(host):
            v.start_keepalived(host)
    v.wait(lambda: sorted(v.state(h) for h in PAIR) == ["BACKUP", "MASTER"] and len(v.holders()) == 1, timeout)


def converge(v, name: str, **overrides):
    """Converge the pair with this drill configuration (once per configuration)."""
    if v.configuration == name:
        return
    if v.configuration is not None:
        healthy(v)
    extra = {"vip_route_check_interval": CHECK_INTERVAL, "vip_route_aws_endpoint_url": v.proxy.url}
    extra.update(overrides)
    t0 = time.monotonic()
    run = v.run(SETUP, **extra)
    assert run.rc == 0, dump(run)
    print(f"converged ({name}) in {time.monotonic() - t0:.1f}s")
    v.configuration = name
    v.settings = extra
    healthy(v)


def sample_routes(v, seconds: float, interval: float = 0.25) -> list[tuple[float, dict]]:
    """(seconds since the start, {table: ENI}) read from moto every ``interval`` for ``seconds``."""
    t0 = time.monotonic()
    out = []
    while time.monotonic() - t0 < seconds:
        out.append((time.monotonic() - t0, v.routes()))
        time.sleep(interval)
    return out


def instance_state(v, host: str) -> str:
    ec2 = v.ec2
    found = ec2.describe_instances(InstanceIds=[v.lab.instance_id(host)])["Reservations"][0]["Instances"][0]
    return found["State"]["Name"]
