"""Jobs run as AWX runs them (ansible-runner, issue 11): fixtures of the package.

Each test module brings one topology up once (module scope) and runs every job of that topology
on it, in file order: the job template's run, then its Check job on the converged lab. The labs
of this package use lab slots 10-13, which no other stream of tests/run_suites.py uses, under
their own names (TOPOLOGY-sSLOT), so this package runs beside every other suite without an
environment variable. Modules run one after another, so two topologies can share a slot.

The secrets are fresh for each session where the lab allows it (the simulated GHE appliances have
a fixed Manage password, tests/lab/topologies/ghe.yml); every job's stored output (stdout and job
events) is searched for every one of them.
"""
from __future__ import annotations

import secrets as _secrets
import string
from pathlib import Path

import pytest

from tests.lab.pytest_support import SLOT_OVERRIDES, running_lab

from .runner_job import AwxRunner, LabJobs, install_collection, lab_vars

AWX_SLOTS = {"gitaly": 10, "ghe": 11, "keepalived": 12, "nfs": 13, "vip": 10}
GHE_PASSWORD = "lab-ghe-Manage-7Qx2v9"  # the simulated appliances' root site admin password
REPORT: list[dict] = []  # one row per playbook, printed at the end (the closing table)


def awx_lab(topology: str):
    """The topology's lab in this package's slot (HAPAIR_LAB_SLOTS still moves it elsewhere)."""
    if topology in SLOT_OVERRIDES:
        return running_lab(topology)
    slot = AWX_SLOTS[topology]
    return running_lab(topology, slot=slot, name=f"{topology}-s{slot}")


def _word(length: int) -> str:
    return "".join(_secrets.choice(string.ascii_letters + string.digits) for _i in range(length))


@pytest.fixture(scope="session")
def job_secrets() -> dict[str, str]:
    """Every secret a job gets, by the name the report gives it."""
    return {  # the values are searched for in every job's stored output
        "vault_password": "awx-vault-" + _word(20),
        "gitaly_auth_token": "awx-gitaly-" + _word(24),
        "ghe_api_password": GHE_PASSWORD,
        "keepalived_auth_pass": "Vr" + _word(6),  # VRRP: at most 8 characters
        "aws_secret_key": "awx-aws-secret-" + _word(24),
        "aws_session_token": "awx-aws-session-" + _word(32),
    }


@pytest.fixture(scope="session")
def awx(tmp_path_factory, job_secrets) -> AwxRunner:
    root = tmp_path_factory.mktemp("awx-jobs")
    collections = install_collection(root / "ee" / "collections")
    return AwxRunner(root=root / "jobs", collections=collections, secrets=job_secrets,
                     aws={"access_key": "AKIAAWXJOBTEST0000001", "secret_key": job_secrets["aws_secret_key"],
                          "session_token": job_secrets["aws_session_token"]})


def pytest_terminal_summary(terminalreporter):
    if not REPORT:
        return
    lines = ["| playbook | job status (rc) | job events | check job: status, changed | secrets searched for in stdout + job_events |",
             "| --- | --- | --- | --- | --- |"]
    for row in REPORT:
        lines.append(f"| {row['playbook']} | {row['status']} ({row['rc']}) | {row['events']} | "
                     f"{row['check_status']}, changed={row['check_changed']} ({row['check_events']} events) | "
                     f"{row['searched']} |")
    text = "\n".join(lines)
    terminalreporter.write_sep("=", "jobs run as AWX runs them")
    terminalreporter.write_line(text)
    out = Path(__file__).resolve().parents[3] / "build" / "awx-jobs.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


def lab_jobs(awx, lab, area: str, **group_vars) -> LabJobs:
    """The job templates of a topology: its area's lab settings as the inventory's group_vars."""
    return LabJobs(awx, lab, {**lab_vars(area), **group_vars}, REPORT)
