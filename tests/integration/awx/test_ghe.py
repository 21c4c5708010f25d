"""The GitHub Enterprise job templates as AWX jobs on the `ghe` topology (slot 11), in the order
an operator launches them: set-up, a bad launch, planned failover, fail-back, teardown. Each job
is followed by its Check job on the lab it left."""
from __future__ import annotations

import pytest

from tests.integration.ghe.conftest import PRIMARY, REPLICA

from .conftest import awx_lab, lab_jobs
from .runner_job import assert_no_leak, assert_no_prompt

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def ghe(awx):
    with awx_lab("ghe") as lab:
        yield lab_jobs(awx, lab, "ghe")


def role(lab, host):
    out = lab.exec(host, "cat", "/etc/github/repl-state", check=False)
    return out.stdout.strip() if out.returncode == 0 else "standalone"


def test_ghe_replication(ghe, job_secrets):
    ghe.job_and_check("ghe_replication.yml", {"ghe_api_password": job_secrets["ghe_api_password"]})
    assert (role(ghe.lab, PRIMARY), role(ghe.lab, REPLICA)) == ("primary", "replica")


def test_failed_job_names_the_task_and_host(ghe, job_secrets):
    """A launch with a bad survey answer fails; its events say which task failed on which host,
    as AWX shows a failed job (runner_on_failed: host, task), and the secrets stay out."""
    job = ghe.run("ghe_replication.yml", {"ghe_api_password": job_secrets["ghe_api_password"],
                                          "ghe_replicas_group": "no_such_group"})
    assert job.status == "failed" and job.rc != 0, job.tail()
    assert_no_prompt(job)
    failed = job.failed_tasks()
    assert failed == [(PRIMARY, "Check the primary, the replicas and the Manage API password")], failed
    event = job.events_of("runner_on_failed")[0]["event_data"]
    assert "no replica in no_such_group" in event["res"]["msg"], event["res"]
    assert job.stats["failures"] == {PRIMARY: 1}, job.stats
    assert_no_leak(job, ghe.secrets)
    assert (role(ghe.lab, PRIMARY), role(ghe.lab, REPLICA)) == ("primary", "replica")


def test_ghe_failover(ghe, job_secrets, tmp_path):
    ghe.job_and_check("ghe_failover.yml", {"ghe_primary": PRIMARY, "ghe_replica": REPLICA,
                                           "ghe_api_password": job_secrets["ghe_api_password"],
                                           "ghe_failover_report_dir": str(tmp_path / "reports")})
    assert role(ghe.lab, REPLICA) == "primary"


def test_ghe_failback(ghe, job_secrets, tmp_path):
    ghe.job_and_check("ghe_failback.yml", {"ghe_primary": PRIMARY, "ghe_replica": REPLICA,
                                           "ghe_api_password": job_secrets["ghe_api_password"]},
                      extra={"ghe_failover_report_dir": str(tmp_path / "reports")})  # not asked: the template's
    assert (role(ghe.lab, PRIMARY), role(ghe.lab, REPLICA)) == ("primary", "replica")


def test_ghe_teardown(ghe):
    ghe.job_and_check("ghe_teardown.yml", {"ghe_teardown_dns": "true", "ghe_teardown_security_groups": "true"})
    assert (role(ghe.lab, PRIMARY), role(ghe.lab, REPLICA)) == ("standalone", "standalone")
