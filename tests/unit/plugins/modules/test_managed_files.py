"""main() of hapair.ha.managed_files, run in-process (real AnsibleModule file handling)."""

from __future__ import annotations

import base64
import getpass
import grp
import os

from ansible_collections.hapair.ha.plugins.modules import managed_files
from module_runner import run_main

SECRET = "vrrp-secret-4711"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def run_module(capsys, **args):
    return run_main(capsys, managed_files.main, args)


def files_for(base, conf="a = 1\n", secret=SECRET):
    me, group = getpass.getuser(), grp.getgrgid(os.getgid()).gr_name
    return [
        {"path": str(base / "etc"), "state": "directory", "mode": "0755", "owner": me, "group": group},
        {"path": str(base / "etc" / "app.conf"), "content_base64": b64(conf), "mode": "0644", "owner": me, "group": group},
        {"path": str(base / "etc" / "auth.conf"), "content_base64": b64("pass %s\n" % secret), "mode": "0600",
         "secret": True},
    ]


def test_converge_idempotent_check_and_diff(capsys, tmp_path):
    code, result, output = run_module(capsys, files=files_for(tmp_path), _ansible_diff=True)
    assert code == 0 and result["changed"] is True
    assert len(result["changed_paths"]) == 3
    assert (tmp_path / "etc" / "app.conf").read_text() == "a = 1\n"
    assert os.stat(tmp_path / "etc" / "auth.conf").st_mode & 0o777 == 0o600
    assert SECRET not in output

    code, result, _output = run_module(capsys, files=files_for(tmp_path), _ansible_diff=True)
    assert code == 0 and result["changed"] is False and result["changed_paths"] == [] and result["diff"] == []

    code, result, output = run_module(capsys, files=files_for(tmp_path, conf="a = 2\n", secret="other-9"),
                                      _ansible_diff=True, _ansible_check_mode=True)
    assert result["changed"] is True
    assert result["changed_paths"] == [str(tmp_path / "etc" / "app.conf"), str(tmp_path / "etc" / "auth.conf")]
    assert result["diff"][0]["before"] == "a = 1\n" and result["diff"][0]["after"] == "a = 2\n"
    assert "other-9" not in output and SECRET not in output
    assert (tmp_path / "etc" / "app.conf").read_text() == "a = 1\n"


def test_mode_drift_is_repaired_without_rewriting(capsys, tmp_path):
    run_module(capsys, files=files_for(tmp_path))
    target = tmp_path / "etc" / "app.conf"
    inode = os.stat(target).st_ino
    os.chmod(target, 0o666)
    code, result, _output = run_module(capsys, files=files_for(tmp_path), _ansible_diff=True)
    assert code == 0 and result["changed_paths"] == [str(target)]
    assert result["diff"][0]["before"] == "mode: 0666\n" and result["diff"][0]["after"] == "mode: 0644\n"
    assert os.stat(target).st_mode & 0o777 == 0o644 and os.stat(target).st_ino == inode


def test_plain_content_and_no_diff_without_diff_mode(capsys, tmp_path):
    code, result, _output = run_module(capsys, files=[{"path": str(tmp_path / "x"), "content": "text\n"}])
    assert code == 0 and result["changed"] is True and "diff" not in result
    assert (tmp_path / "x").read_text() == "text\n"
    # a new file without a mode is private
    assert os.stat(tmp_path / "x").st_mode & 0o777 == 0o600


def test_validation_failure_keeps_the_file(capsys, tmp_path):
    target = tmp_path / "k.conf"
    target.write_text("good\n")
    code, result, _output = run_module(capsys, files=[{"path": str(target), "content": "bad\n", "validate": "false %s"}])
    assert code == 1 and result["failed"] is True
    assert result["msg"].startswith("Failed to install the files: the new %s did not pass false" % target)
    assert target.read_text() == "good\n"
    assert os.listdir(tmp_path) == ["k.conf"]  # no temporary file left behind


def test_bad_entries_one_message_nothing_changed(capsys, tmp_path):
    code, result, _output = run_module(capsys, files=[
        {"path": str(tmp_path / "ok"), "content": "x"},
        {"path": "relative", "content": "x"},
        {"path": str(tmp_path / "d"), "state": "directory", "content": "x"},
    ])
    assert code == 1
    assert "files[1] (relative): path must be an absolute path" in result["msg"]
    assert "a directory takes no content" in result["msg"]
    assert os.listdir(tmp_path) == []


def test_src_without_the_action_plugin_is_refused(capsys, tmp_path):
    code, result, _output = run_module(capsys, files=[{"path": str(tmp_path / "x"), "src": "x"}])
    assert code == 1 and "read by the action plugin" in result["msg"]
    assert os.listdir(tmp_path) == []
