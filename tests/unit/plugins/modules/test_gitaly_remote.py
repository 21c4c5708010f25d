"""main() of hapair.ha.gitaly_remote, run in-process with patched module args."""

from __future__ import annotations

import json
import shutil

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hapair.ha.plugins.module_utils.gitaly import version as gitaly_version
from ansible_collections.hapair.ha.plugins.modules import gitaly_remote

TOKEN = "module-test-token-'x'"
OPERATOR = "external_url 'https://gitlab.example.com'\ngitaly['auth_token'] = 'old'\n"


def run_module(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            gitaly_remote.main()
    output = capsys.readouterr().out
    return exit_info.value.code, json.loads(output), output


def gitaly_args(path, **extra):
    args = dict(
        role="gitaly", config_path=str(path), auth_token=TOKEN, gitlab_version="17.5.1",
        internal_api_url="http://gitlab.example.com",
        storages=[{"name": "default", "path": "/var/opt/gitlab/git-data/repositories"}],
    )
    args.update(extra)
    return args


@pytest.fixture()
def gitlab_rb(tmp_path):
    path = tmp_path / "gitlab.rb"
    path.write_text(OPERATOR)
    path.chmod(0o600)
    return path


def test_apply_then_idempotent(capsys, gitlab_rb):
    code, result, output = run_module(capsys, **gitaly_args(gitlab_rb, backup=True, _ansible_diff=True))
    assert code == 0 and result["changed"] is True
    assert result["syntax"] == "gitaly_configuration" and result["gitlab_version"] == "17.5.1"
    assert result["backup_file"] == str(gitlab_rb) + ".hapair-orig"
    assert result["neutralised"] == [{"line": 2, "key": "gitaly['auth_token']"}]
    assert "before" not in result and "after" not in result
    assert result["diff"]["before"] == "external_url 'https://gitlab.example.com'\ngitaly['auth_token'] = '<hidden>'\n"
    assert "token: '<auth_token hidden>'," in result["diff"]["after"]
    assert "module-test-token" not in output
    if shutil.which("ruby"):
        assert result["syntax_checked_with"].endswith("ruby")
    written = gitlab_rb.read_text()
    assert "token: 'module-test-token-\\'x\\''," in written
    code, again = run_module(capsys, **gitaly_args(gitlab_rb, backup=True))[:2]
    assert code == 0 and again["changed"] is False and "diff" not in again
    assert gitlab_rb.read_text() == written


def test_check_mode_changes_nothing(capsys, gitlab_rb):
    code, result = run_module(capsys, **gitaly_args(gitlab_rb, backup=True, _ansible_check_mode=True))[:2]
    assert code == 0 and result["changed"] is True
    assert gitlab_rb.read_text() == OPERATOR
    assert sorted(p.name for p in gitlab_rb.parent.iterdir()) == ["gitlab.rb"]


@pytest.mark.parametrize("extra, message", [
    (dict(storages=[{"name": "storage1", "path": "/mnt/repositories"}]), "no storage named 'default'"),
    (dict(storages=[{"name": "default", "path": "/a/repositories"}, {"name": "default", "path": "/b/repositories"}]),
     "duplicate storage name 'default'"),
    (dict(listen_addr="0.0.0.0:0"), "port must be a number"),
    (dict(role="rails", internal_api_url=None, storages=[{"name": "default", "address": "gitaly1:8075"}]),
     "must be tcp://HOST:PORT"),
])
def test_bad_input_fails_with_one_clear_error(capsys, gitlab_rb, extra, message):
    code, result, output = run_module(capsys, **gitaly_args(gitlab_rb, backup=True, **extra))
    role = extra.get("role", "gitaly")
    assert code == 1 and result["failed"] is True
    assert result["msg"].startswith("Failed to configure Gitaly (%s) in %s: " % (role, gitlab_rb))
    assert message in result["msg"]
    assert "module-test-token" not in output
    assert gitlab_rb.read_text() == OPERATOR
    assert sorted(p.name for p in gitlab_rb.parent.iterdir()) == ["gitlab.rb"]


@pytest.mark.parametrize("extra, message", [
    (dict(role="gitaly", internal_api_url=None), "internal_api_url"),
    (dict(tls_listen_addr="0.0.0.0:9999"), "tls_certificate_path"),
    (dict(storages=[{"name": "default", "path": "/x/repositories", "address": "tcp://g:8075"}]), "mutually exclusive"),
    (dict(storages=[{"name": "default"}]), "one of the following is required"),
    (dict(role="praefect"), "value of role must be one of"),
])
def test_argument_spec_refusals(capsys, gitlab_rb, extra, message):
    code, result = run_module(capsys, **gitaly_args(gitlab_rb, **extra))[:2]
    assert code == 1 and message in result["msg"]
    assert gitlab_rb.read_text() == OPERATOR


def test_version_auto_detection(capsys, gitlab_rb, tmp_path, monkeypatch):
    manifest = tmp_path / "version-manifest.txt"
    monkeypatch.setattr(gitaly_version, "MANIFEST_PATH", str(manifest))
    monkeypatch.setattr(gitaly_version, "RAILS_VERSION_PATH", str(tmp_path / "VERSION"))
    code, result = run_module(capsys, **gitaly_args(gitlab_rb, gitlab_version="auto"))[:2]
    assert code == 1 and "cannot detect the GitLab version" in result["msg"]
    manifest.write_text("gitlab-ee 18.1.2\nruby 3.2.5\n")
    code, result = run_module(capsys, **gitaly_args(gitlab_rb, gitlab_version="auto"))[:2]
    assert code == 0
    assert (result["syntax"], result["gitlab_version"], result["version_source"]) == (
        "repositories_storages", "18.1.2", str(manifest))


def test_invalid_ruby_is_not_written(capsys, tmp_path):
    if not shutil.which("ruby"):
        pytest.skip("ruby is not installed")
    path = tmp_path / "gitlab.rb"
    path.write_text("nginx['listen_port'] = [80,\n")
    code, result, output = run_module(capsys, **gitaly_args(path))
    assert code == 1 and "is not valid Ruby" in result["msg"]
    assert "module-test-token" not in output
    assert path.read_text() == "nginx['listen_port'] = [80,\n"
