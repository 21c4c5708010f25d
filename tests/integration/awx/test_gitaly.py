"""playbooks/gitaly_external.yml as an AWX job on the `gitaly` topology (slot 10): the job, its
Check job, and no Gitaly token or gitlab-secrets.json value in what AWX stores."""
from __future__ import annotations

import json

import pytest

from tests.integration.gitaly.conftest import RAILS

from .conftest import awx_lab, lab_jobs

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def gitaly(awx):
    with awx_lab("gitaly") as lab:
        yield lab_jobs(awx, lab, "gitaly")


def gitlab_secrets(lab) -> dict[str, str]:
    """Every secret value of the Rails node's /etc/gitlab/gitlab-secrets.json (read from it)."""
    text = lab.exec(RAILS, "cat", "/etc/gitlab/gitlab-secrets.json").stdout
    out = {}
    for section, values in json.loads(text).items():
        for key, value in values.items():
            if isinstance(value, str) and len(value) >= 16:
                out[f"gitlab-secrets.json {section}.{key}"] = value
    assert out, "no secret in gitlab-secrets.json"
    return out


def test_gitaly_external(gitaly, job_secrets):
    job, _check = gitaly.job_and_check("gitaly_external.yml", {"gitaly_auth_token": job_secrets["gitaly_auth_token"]},
                                       more_secrets=lambda: gitlab_secrets(gitaly.lab))
    # the token the job got through the survey is the one the nodes use (read from the node)
    rb = gitaly.lab.exec("gitaly-1", "cat", "/etc/gitlab/gitlab.rb").stdout
    assert job_secrets["gitaly_auth_token"] in rb
    assert job.events_of("playbook_on_stats")
