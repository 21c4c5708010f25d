"""The route-table VIP pair (topology `vip`, slot 10) as AWX jobs: playbooks/vip_failover_setup.yml,
then playbooks/vip_switchover.yml to the standby, each followed by its Check job. The route
tables are the VIP tests' own (tests/integration/vip/conftest.py), in the inventory."""
from __future__ import annotations

import pytest

from tests.integration.vip.conftest import APPS, PAIR, make_route_tables

from .conftest import awx_lab, lab_jobs

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def vip(awx):
    with awx_lab("vip") as lab:
        address = str(lab.topo.vip_network.network_address + 10)
        made = make_route_tables(lab, address)
        for app in APPS:
            lab.exec(app, "ip", "route", "add", f"{address}/32", "dev", "eth0")
        jobs = lab_jobs(awx, lab, "vip", vip_route_vip=address, vip_route_route_table_ids=made["tables"])
        jobs.vip = address
        jobs.tables = made["tables"]
        yield jobs


def holders(jobs) -> list[str]:
    return [h for h in PAIR if f" {jobs.vip}/" in jobs.lab.exec(h, "ip", "-o", "-4", "addr").stdout]


def test_vip_failover_setup(vip, job_secrets):
    vip.job_and_check("vip_failover_setup.yml", {"vip_route_vip": vip.vip,
                                                 "keepalived_auth_pass": job_secrets["keepalived_auth_pass"]})
    assert holders(vip) == [PAIR[0]]


def test_vip_switchover(vip):
    vip.job_and_check("vip_switchover.yml", {"vip_switchover_to": PAIR[1]})
    assert holders(vip) == [PAIR[1]]
