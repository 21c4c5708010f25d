"""The NFS job templates (topology `nfs`, slot 13) as AWX jobs: playbooks/nfs_exports.yml on the
pair, then playbooks/nfs_clients.yml on the app server, each followed by its Check job. The
exports and mounts are inventory settings (group_vars), as the playbooks' headers say."""
from __future__ import annotations

import pytest

from tests.integration.nfs.conftest import APP, EXPORTS_FILE, NfsLab

from .conftest import awx_lab, lab_jobs

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def nfs(awx):
    with awx_lab("nfs") as lab:
        ctx = NfsLab(lab=lab, vip=str(lab.topo.vip_network.network_address + 10), network=str(lab.topo.networks["lan"].cidr))
        jobs = lab_jobs(awx, lab, "nfs", **ctx.exports_vars(), **ctx.mounts_vars())
        jobs.ctx = ctx
        yield jobs


def test_nfs_exports(nfs):
    nfs.job_and_check("nfs_exports.yml", {})
    assert "/srv/nfs/sessions" in nfs.ctx.cat("db-01", EXPORTS_FILE)


def test_nfs_clients(nfs):
    nfs.job_and_check("nfs_clients.yml", {})
    assert any("/var/lib/app/sessions" in line for line in nfs.ctx.fstab_nfs(APP)), nfs.ctx.fstab_nfs(APP)
