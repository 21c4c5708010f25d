"""main() of hapair.ha.gitaly_remote, run in-process with patched module args."""

from __future__ import annotations

import os
import re
import shutil
import stat

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.gitaly import version as gitaly_version
from ansible_collections.hapair.ha.plugins.modules import gitaly_remote
from module_runner import run_main

TOKEN = "module-test-token-'x'"
OPERATOR = "external_url 'https://gitlab.example.com'\ngitaly['auth_token'] = 'old'\n"


def run_module(capsys, **args):
    return run_main(capsys, gitaly_remote.main, args)


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
    # module.backup_local: <path>.<pid>.<YYYY-MM-DD@HH:MM:SS~>, the file as it was, its mode
    assert re.fullmatch(re.escape(str(gitlab_rb)) + r"\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~", result["backup_file"])
    backup = gitlab_rb.parent / os.path.basename(result["backup_file"])
    assert backup.read_text() == OPERATOR and stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert result["neutralised"] == [{"line": 2, "key": "gitaly['auth_token']"}]
    assert "before" not in result and "after" not in result
    assert len(result["diff"]) == 1  # no attribute asked for, none differs
    assert result["diff"][0]["before"] == "external_url 'https://gitlab.example.com'\ngitaly['auth_token'] = '<hidden>'\n"
    assert "token: '<auth_token hidden>'," in result["diff"][0]["after"]
    assert "module-test-token" not in output
    if shutil.which("ruby"):
        assert result["syntax_checked_with"].endswith("ruby")
    written = gitlab_rb.read_text()
    assert "token: 'module-test-token-\\'x\\''," in written
    code, again = run_module(capsys, **gitaly_args(gitlab_rb, backup=True))[:2]
    assert code == 0 and again["changed"] is False and "diff" not in again and "backup_file" not in again
    assert gitlab_rb.read_text() == written
    assert sorted(p.name for p in gitlab_rb.parent.iterdir()) == sorted(["gitlab.rb", backup.name])


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


def test_write_is_an_atomic_move_keeping_mode_and_leaving_no_temporary(capsys, gitlab_rb):
    gitlab_rb.chmod(0o640)
    inode = gitlab_rb.stat().st_ino
    code, result = run_module(capsys, **gitaly_args(gitlab_rb))[:2]
    assert code == 0 and result["changed"] is True and "backup_file" not in result
    info = gitlab_rb.stat()
    assert info.st_ino != inode  # a new file was renamed over the old one
    assert stat.S_IMODE(info.st_mode) == 0o640  # atomic_move kept the old file's mode
    assert sorted(p.name for p in gitlab_rb.parent.iterdir()) == ["gitlab.rb"]


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_owner_is_kept_and_backup_too(capsys, gitlab_rb):
    os.chown(gitlab_rb, 1234, 4321)
    code, result = run_module(capsys, **gitaly_args(gitlab_rb, backup=True))[:2]
    assert code == 0 and result["changed"] is True
    for path in (gitlab_rb, gitlab_rb.parent / os.path.basename(result["backup_file"])):
        info = path.stat()
        assert (info.st_uid, info.st_gid) == (1234, 4321), path


def test_missing_file_is_created_0600(capsys, tmp_path):
    path = tmp_path / "gitlab.rb"
    old = os.umask(0o022)
    try:
        code, result = run_module(capsys, **gitaly_args(path, backup=True))[:2]
    finally:
        os.umask(old)
    assert code == 0 and result["changed"] is True and "backup_file" not in result
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gitlab.rb"]


def test_mode_argument_check_mode_diff_then_apply(capsys, gitlab_rb):
    run_module(capsys, **gitaly_args(gitlab_rb))
    written = gitlab_rb.read_text()
    # only the mode differs: check mode and --diff say so, and change nothing
    args = gitaly_args(gitlab_rb, mode="0640", _ansible_check_mode=True, _ansible_diff=True)
    code, check = run_module(capsys, **args)[:2]
    assert code == 0 and check["changed"] is True
    assert check["diff"][0]["before"] == check["diff"][0]["after"]
    assert check["diff"][1] == {"before": {"path": str(gitlab_rb), "mode": "0600"},
                                "after": {"path": str(gitlab_rb), "mode": "0640"}}
    assert stat.S_IMODE(gitlab_rb.stat().st_mode) == 0o600
    # applied, and then idempotent
    code, applied = run_module(capsys, **gitaly_args(gitlab_rb, mode="0640"))[:2]
    assert code == 0 and applied["changed"] is True
    assert stat.S_IMODE(gitlab_rb.stat().st_mode) == 0o640 and gitlab_rb.read_text() == written
    code, again = run_module(capsys, **gitaly_args(gitlab_rb, mode="0640"))[:2]
    assert code == 0 and again["changed"] is False


def test_write_failure_is_one_clear_error(capsys, gitlab_rb, monkeypatch):
    def refuse(self, src, dest, unsafe_writes=False, keep_dest_attrs=True):
        raise Exception("Could not replace %r" % dest) from PermissionError(13, "Permission denied")

    monkeypatch.setattr("ansible.module_utils.basic.AnsibleModule.atomic_move", refuse)
    code, result, output = run_module(capsys, **gitaly_args(gitlab_rb, backup=True))
    assert code == 1
    assert result["msg"].startswith("Failed to configure Gitaly (gitaly) in %s: cannot write %s: " % (gitlab_rb, gitlab_rb))
    assert "Permission denied" in result["msg"] and "module-test-token" not in output
    assert gitlab_rb.read_text() == OPERATOR
    # the backup was made before the failed write; no temporary file is left
    assert len([p for p in gitlab_rb.parent.iterdir() if p.name.startswith("gitlab.rb.")]) == 1
    assert not [p for p in gitlab_rb.parent.iterdir() if p.name.startswith(".")]
