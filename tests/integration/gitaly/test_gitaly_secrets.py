"""The Gitaly auth token and the contents of gitlab-secrets.json never show. Its own lab.

playbooks/gitaly_external.yml takes the token as an input and copies the Rails node's
gitlab-secrets.json to the Gitaly nodes (slurp: base64 in the task result). Bad input that carries
the token, then a converge at normal verbosity, with -vvv, and --check --diff -vvv on drifted nodes:
neither the token nor any value of gitlab-secrets.json appears in Ansible's output in any form
(tests/integration/leaks.py: wrapped by the YAML callback, JSON-escaped, percent-encoded, base64,
so also inside a base64 copy of the whole file), and nothing changes on bad input.
"""
from __future__ import annotations

import pytest

from tests.integration.leaks import leaks

from .conftest import GITALY, HOSTS, RAILS, VERSION

pytestmark = pytest.mark.lab

TOKEN = "Sentinel-gitaly/tok+9Zq4w"


def dump(res):
    return res.stdout[-6000:] + res.stderr[-2000:]


def no_leak(glab, res):
    secrets = {TOKEN, glab.token} | glab.secrets
    assert glab.secrets, "gitlab-secrets.json was not read"
    found = leaks(res.stdout + "\n" + res.stderr, secrets)
    assert not found, f"secrets in the output: {found}"
    return res


def text(res):
    return " ".join(res.stdout.split()).replace("''", "'")


@pytest.fixture(scope="module")
def fresh(glab):
    glab.reinstall(VERSION)
    return glab.snapshot()


@pytest.mark.parametrize("extra, message", [
    ({"gitaly_auth_token": TOKEN + "\nsecond-line"}, "auth_token must not contain control characters"),
    ({"gitaly_auth_token": [TOKEN]}, "gitaly_auth_token is required"),
    ({"gitaly_auth_token": TOKEN, "gitaly_server_listen_addr": "0.0.0.0"}, "listen_addr '0.0.0.0' is not HOST:PORT"),
    ({"gitaly_auth_token": TOKEN,
      "gitlab_gitaly_client_storages": [{"name": "default", "path": "/var/opt/gitlab/git-data/repositories"},
                                        {"name": "storage1", "address": "tcp://gitaly-1:8075"},
                                        {"name": "storage1", "address": "tcp://gitaly-2:8075"}]},
     "duplicate storage name 'storage1'"),
], ids=["token-with-newline", "token-in-a-list", "bad-listen-addr", "duplicate-storage"])
def test_bad_input_with_the_token_never_shows_it(glab, fresh, extra, message):
    res = no_leak(glab, glab.playbook("-vvv", extra_vars=extra, diff=True))
    assert res.rc != 0 and message in text(res), dump(res)
    assert res.changed == 0, dump(res)
    assert glab.snapshot() == fresh


def test_converge_normal_verbose_and_check_diff_never_show_secrets(glab, fresh):
    first = no_leak(glab, glab.playbook(extra_vars={"gitaly_auth_token": TOKEN}))
    assert first.rc == 0 and all(first.recap[h]["changed"] > 0 for h in HOSTS), dump(first)
    # the secrets really went where they belong (so the runs above carried them)
    rails_secrets = glab.read(RAILS, "/etc/gitlab/gitlab-secrets.json")
    for host in GITALY:
        assert glab.read(host, "/etc/gitlab/gitlab-secrets.json") == rails_secrets
        assert f"token: '{TOKEN}'," in glab.read(host, "/etc/gitlab/gitlab.rb")
    again = no_leak(glab, glab.playbook("-vvv", extra_vars={"gitaly_auth_token": TOKEN}))
    assert again.rc == 0 and again.changed == 0, dump(again)
    assert '"auth_token": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in again.stdout, dump(again)
    # drift: gitaly-1 lost the Rails node's secrets (reconfigure made its own), and the token changes
    glab.sh("gitaly-1", "rm /etc/gitlab/gitlab-secrets.json && gitlab-ctl reconfigure >/dev/null")
    glab.remember_secrets()
    glab.secrets.update(s for s in _values(glab, "gitaly-1") if len(s) >= 16)
    before = glab.snapshot()
    check = no_leak(glab, glab.playbook("-vvv", extra_vars={"gitaly_auth_token": TOKEN + "-new"}, check=True, diff=True))
    assert check.rc == 0 and check.recap["gitaly-1"]["changed"] > 0, dump(check)
    assert not leaks(check.stdout, [TOKEN + "-new"])
    assert glab.snapshot() == before


def _values(glab, host):
    import json

    data = json.loads(glab.read(host, "/etc/gitlab/gitlab-secrets.json"))
    return [v for section in data.values() if isinstance(section, dict) for v in section.values() if isinstance(v, str)]
