"""A module given bad input that contains a secret fails with one clear error and never shows the
secret: not in ``msg``, not anywhere in what the module prints (in any form tests/integration/
leaks.py knows: as is, JSON-escaped, percent-encoded, base64). Secrets: the Gitaly auth token
(gitaly_remote), the root site administrator password (repl_setup)."""
from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hapair.ha.plugins.modules import gitaly_remote, repl_setup
from tests.integration.leaks import leaks

TOKEN = "Sentinel-unit-token/9Zq4"
PASSWORD = "Sentinel-unit-Manage+pw7"


def run(capsys, module, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            module.main()
    output = capsys.readouterr().out
    return exit_info.value.code, json.loads(output), output


@pytest.fixture()
def gitlab_rb(tmp_path):
    path = tmp_path / "gitlab.rb"
    path.write_text("external_url 'https://gitlab.example.com'\n")
    return path


@pytest.mark.parametrize("token, extra, message", [
    (TOKEN + "\nsecond line", {}, "auth_token must not contain control characters"),
    (TOKEN + "\t", {}, "auth_token must not contain control characters"),
    ([TOKEN], {}, "auth_token must be a string"),
    ({"token": TOKEN}, {}, "auth_token must be a string"),
    (12345678, {}, "auth_token must be a string"),
    (TOKEN, {"storages": [{"name": "storage1", "path": "/srv/" + TOKEN}]}, "no storage named 'default'"),
    (TOKEN, {"listen_addr": TOKEN}, "listen_addr"),
], ids=["newline", "tab", "list", "dict", "number", "no-default-storage", "token-as-listen-addr"])
def test_gitaly_remote_never_shows_the_token(capsys, gitlab_rb, token, extra, message):
    args = dict(role="gitaly", config_path=str(gitlab_rb), auth_token=token, gitlab_version="17.5.1",
                internal_api_url="http://gitlab.example.com",
                storages=[{"name": "default", "path": "/var/opt/gitlab/git-data/repositories"}])
    args.update(extra)
    code, result, output = run(capsys, gitaly_remote, args)
    assert code == 1 and result["failed"] is True and message in result["msg"], result
    assert leaks(output, [TOKEN]) == [], output
    assert gitlab_rb.read_text() == "external_url 'https://gitlab.example.com'\n"


@pytest.mark.parametrize("password", [[PASSWORD], {"pw": PASSWORD}, PASSWORD + "\n"], ids=["list", "dict", "newline"])
def test_repl_setup_never_shows_a_malformed_password(capsys, password):
    args = dict(state="present", primary_host="bad host name!", primary_api_password=password)
    code, result, output = run(capsys, repl_setup, args)
    assert code == 1 and result["failed"] is True, result
    assert leaks(output, [PASSWORD]) == [], output
