"""The keepalived master/backup pair with a shared volume (topology `keepalived`, slot 12) as AWX
jobs: playbooks/keepalived_shared_volume.yml, then playbooks/failover_drill.yml on the pair it
converged (a graceful stop of the MASTER), each followed by its Check job."""
from __future__ import annotations

import pytest

from tests.integration.shared_volume.conftest import PAIR, PairLab

from .conftest import awx_lab, lab_jobs

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def pair(awx):
    with awx_lab("keepalived") as lab:
        vip = str(lab.topo.vip_network.network_address + 10)
        lab.exec("client-1", "ip", "route", "add", f"{vip}/32", "dev", "eth0")
        # the pair's VIP is in the inventory too (the drill reads it from there, as the example
        # inventory's group_vars/keepalived_pair.yml holds it)
        jobs = lab_jobs(awx, lab, "shared_volume", pair_vip=f"{vip}/32")
        jobs.pair = PairLab(lab=lab, vip=vip)
        yield jobs


def test_keepalived_shared_volume(pair, job_secrets):
    pair.job_and_check("keepalived_shared_volume.yml", {"pair_vip": f"{pair.pair.vip}/32",
                                                        "keepalived_auth_pass": job_secrets["keepalived_auth_pass"]})
    master = pair.pair.settled()
    assert pair.pair.served_by() == master


def test_failover_drill(pair, tmp_path):
    before = pair.pair.settled()
    answers = {
        "failover_drill_confirm": "true",
        "failover_drill_hosts": "keepalived_pair",
        "failover_drill_client": "client-1",
        "failover_drill_probe_command": "curl -fsS -m 1 http://$FAILOVER_DRILL_VIP:8080/-/whoami",
        "failover_drill_report_dir": str(tmp_path / "reports"),
    }
    extra = {  # the job template's own extra variables (not asked)
        "failover_drill_marker_write_command": ("curl -fsS -m 5 -X PUT --data-binary \"$FAILOVER_DRILL_MARKER\" "
                                                "http://$FAILOVER_DRILL_VIP:8080/uploads/drill-marker"),
        "failover_drill_marker_read_command": "curl -fsS -m 2 http://$FAILOVER_DRILL_VIP:8080/uploads/drill-marker",
    }
    moved = {}
    pair.job_and_check("failover_drill.yml", answers, extra=extra,
                       after_job=lambda: moved.setdefault("master", pair.pair.settled()))
    assert moved["master"] == next(h for h in PAIR if h != before), "the drill moved the VIP to the peer"
    assert list((tmp_path / "reports").iterdir()), "the drill wrote its report"
