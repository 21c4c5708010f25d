"""plugins/module_utils/files/managed.py: the plan, the diff and the writes, with a recording
stand-in for the AnsibleModule operations (the real ones are exercised in
tests/unit/plugins/modules/test_managed_files.py)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.files import managed
from ansible_collections.hapair.ha.plugins.module_utils.files.managed import ManagedFilesError, check_entries, manage


class FakeOps:
    """Writes for real under tmp_path; attributes: only the mode, as set_fs_attributes_if_different would."""

    def __init__(self, check_mode=False, validate_rc=0):
        self.check_mode = check_mode
        self.validate_rc = validate_rc
        self.calls = []

    def set_attributes(self, entry, changed, diff):
        mode = entry.get("mode")
        if mode is None or not os.path.exists(entry["path"]):
            return changed
        have = os.stat(entry["path"]).st_mode & 0o7777
        if have == int(mode, 8):
            return changed
        diff["before"]["mode"] = "0%03o" % have
        diff["after"]["mode"] = mode
        if not self.check_mode:
            os.chmod(entry["path"], int(mode, 8))
        self.calls.append(("chmod", entry["path"]))
        return True

    def make_directory(self, path):
        self.calls.append(("mkdir", path))
        os.makedirs(path)

    def validate(self, command, data, path):
        self.calls.append(("validate", command, data))
        if self.validate_rc:
            raise ManagedFilesError("the new %s did not pass" % path)

    def write(self, path, data, new_file):
        self.calls.append(("write", path, new_file))
        with open(path, "wb") as handle:
            handle.write(data)


def entries_for(base):
    return [
        {"path": str(base / "d"), "state": "directory", "mode": "0755"},
        {"path": str(base / "d" / "a.conf"), "content": b"one\ntwo\n", "mode": "0644"},
        {"path": str(base / "d" / "auth.conf"), "content": b"pass hunter2\n", "mode": "0600", "secret": True},
    ]


def test_first_run_creates_everything_second_changes_nothing(tmp_path):
    ops = FakeOps()
    report = manage(entries_for(tmp_path), ops)
    assert report["changed"] is True
    assert report["changed_paths"] == [str(tmp_path / "d"), str(tmp_path / "d" / "a.conf"), str(tmp_path / "d" / "auth.conf")]
    assert (tmp_path / "d" / "a.conf").read_bytes() == b"one\ntwo\n"
    assert os.stat(tmp_path / "d" / "auth.conf").st_mode & 0o777 == 0o600
    again = manage(entries_for(tmp_path), FakeOps())
    assert again == {"changed": False, "changed_paths": [], "created_paths": [], "diff": []}


def test_check_mode_reports_and_changes_nothing(tmp_path):
    ops = FakeOps(check_mode=True)
    report = manage(entries_for(tmp_path), ops)
    assert report["changed"] is True and len(report["changed_paths"]) == 3
    assert report["created_paths"] == report["changed_paths"]
    assert not (tmp_path / "d").exists()
    assert ops.calls == []
    assert report["diff"][0] == {"before_header": str(tmp_path / "d"), "after_header": str(tmp_path / "d"),
                                 "before": "absent\n", "after": "directory\n"}
    assert report["diff"][1]["before"] == "" and report["diff"][1]["after"] == "one\ntwo\n"


def test_changed_line_is_in_the_diff_and_the_secret_is_not(tmp_path):
    manage(entries_for(tmp_path), FakeOps())
    entries = entries_for(tmp_path)
    entries[1]["content"] = b"one\nTHREE\n"
    entries[2]["content"] = b"pass swordfish\n"
    ops = FakeOps(check_mode=True)
    report = manage(entries, ops)
    assert report["changed_paths"] == [entries[1]["path"], entries[2]["path"]]
    assert report["created_paths"] == []
    text_diff, secret_diff = report["diff"]
    assert text_diff["before"] == "one\ntwo\n" and text_diff["after"] == "one\nTHREE\n"
    assert "hunter2" not in repr(report) and "swordfish" not in repr(report)
    assert "changed, not shown" in secret_diff["after"]
    assert (tmp_path / "d" / "a.conf").read_bytes() == b"one\ntwo\n"


def test_mode_only_change_has_an_attribute_diff(tmp_path):
    manage(entries_for(tmp_path), FakeOps())
    os.chmod(tmp_path / "d" / "a.conf", 0o666)
    ops = FakeOps()
    report = manage(entries_for(tmp_path), ops)
    assert report["changed_paths"] == [str(tmp_path / "d" / "a.conf")]
    assert report["diff"] == [{"before_header": str(tmp_path / "d" / "a.conf") + " (attributes)",
                               "after_header": str(tmp_path / "d" / "a.conf") + " (attributes)",
                               "before": "mode: 0666\n", "after": "mode: 0644\n"}]
    assert not any(call[0] == "write" for call in ops.calls)


def test_existing_file_gets_its_mode_before_the_new_content(tmp_path):
    target = tmp_path / "auth.conf"
    target.write_bytes(b"old\n")
    os.chmod(target, 0o644)
    ops = FakeOps()
    manage([{"path": str(target), "content": b"new\n", "mode": "0600", "secret": True}], ops)
    assert ops.calls[0] == ("chmod", str(target))
    assert ops.calls[1] == ("write", str(target), False)


def test_binary_and_large_files_are_summarised(tmp_path):
    big = b"x" * (managed.DIFF_MAX_BYTES + 1)
    report = manage([{"path": str(tmp_path / "bin"), "content": b"\x00\x01"},
                     {"path": str(tmp_path / "big"), "content": big}], FakeOps(check_mode=True))
    assert report["diff"][0]["after"] == "(binary or large file, 2 bytes, content changed)\n"
    assert "binary or large file, %d bytes" % len(big) in report["diff"][1]["after"]


def test_validate_runs_before_the_write_and_a_failure_keeps_the_file(tmp_path):
    target = tmp_path / "k.conf"
    target.write_bytes(b"good\n")
    ops = FakeOps(validate_rc=1)
    with pytest.raises(ManagedFilesError):
        manage([{"path": str(target), "content": b"bad\n", "validate": "check %s"}], ops)
    assert target.read_bytes() == b"good\n"
    assert ops.calls == [("validate", "check %s", b"bad\n")]


def test_validate_is_not_run_when_nothing_changes_or_in_check_mode(tmp_path):
    target = tmp_path / "k.conf"
    target.write_bytes(b"good\n")
    ops = FakeOps()
    manage([{"path": str(target), "content": b"good\n", "validate": "check %s"}], ops)
    check = FakeOps(check_mode=True)
    manage([{"path": str(target), "content": b"new\n", "validate": "check %s"}], check)
    assert ops.calls == [] and check.calls == []


def test_symlink_is_replaced_by_the_file(tmp_path):
    (tmp_path / "real").write_bytes(b"x\n")
    os.symlink(tmp_path / "real", tmp_path / "link")
    ops = FakeOps()
    report = manage([{"path": str(tmp_path / "link"), "content": b"x\n"}], ops)
    assert report["changed_paths"] == [str(tmp_path / "link")]
    assert report["diff"][0]["before"] == "symbolic link\n"
    assert ("write", str(tmp_path / "link"), True) in ops.calls


@pytest.mark.parametrize("make, state", [("dir", "file"), ("file", "directory")])
def test_wrong_type_is_an_error_and_nothing_changes(tmp_path, make, state):
    path = tmp_path / "p"
    if make == "dir":
        path.mkdir()
    else:
        path.write_bytes(b"")
    entry = {"path": str(path), "state": state}
    if state == "file":
        entry["content"] = b"x"
    ops = FakeOps()
    with pytest.raises(ManagedFilesError, match="exists and is not"):
        manage([entry], ops)
    assert ops.calls == []


@pytest.mark.parametrize("entry, message", [
    ({"path": "relative", "content": ""}, "absolute"),
    ({"path": "/a", "state": "directory", "content": "x"}, "a directory takes no content"),
    ({"path": "/a", "state": "directory", "validate": "x %s"}, "a directory takes no validate"),
    ({"path": "/a"}, "exactly one of content, content_base64, src or template"),
    ({"path": "/a", "content": "x", "src": "y"}, "exactly one of content, content_base64, src or template"),
    ({"path": "/a", "content": "x", "validate": "check"}, "must contain %s"),
])
def test_check_entries(entry, message):
    problems = check_entries([entry])
    assert len(problems) == 1 and message in problems[0]


def test_check_entries_duplicate_and_good():
    assert check_entries([{"path": "/a", "content": ""}, {"path": "/b", "state": "directory"}]) == []
    assert "listed twice" in check_entries([{"path": "/a", "content": ""}, {"path": "/a/", "content": ""}])[0]
