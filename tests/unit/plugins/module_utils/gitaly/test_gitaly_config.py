"""configure_gitaly_remote on real files: idempotency, preservation, refusals, secrecy, and what it
asks of the ``files`` object (AnsibleModule's file handling in the module; here a plain-Python
stand-in that records the calls -- the real one is exercised in tests/unit/plugins/modules)."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.gitaly.config import (
    configure_gitaly_remote,
    make_ruby_syntax_check,
    plan_gitlab_rb,
)
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.errors import GitalyConfigError
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.rbfile import (
    BEGIN_MARKER,
    DISABLED_PREFIX,
    SECRET_PLACEHOLDER,
    TOKEN_PLACEHOLDER,
)
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.render import build_settings
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.version import MANIFEST_PATH

TOKEN = "Zm9v'b\\ar-TOKEN-42"
OPERATOR = (
    "## GitLab configuration settings\r\n"
    "external_url 'https://gitlab.example.com'\r\n"
    "gitlab_rails['time_zone'] = 'Europe/Paris' # caf\xe9 \udcfe\r\n"
    "gitlab_rails['db_password'] = 'db-secret'\n"
    "git_data_dirs({\n"
    "  \"default\" => { \"path\" => \"/var/opt/gitlab/git-data\" },\n"
    "})\n"
    "gitaly['auth_token'] = 'old-token'\n"
    "nginx['listen_port'] = 8080\n"
)
GITALY_ARGS = dict(
    role="gitaly", auth_token=TOKEN, internal_api_url="http://gitlab.example.com",
    storages=[{"name": "default", "path": "/var/opt/gitlab/git-data/repositories"},
              {"name": "storage1", "path": "/mnt/gitlab/git-data/repositories"}],
)
RAILS_ARGS = dict(
    role="rails", auth_token=TOKEN,
    storages=[{"name": "default", "path": "/var/opt/gitlab/git-data/repositories"},
              {"name": "storage1", "address": "tcp://gitaly1.internal:8075"}],
)


def write(path, text, mode=0o600):
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    os.chmod(path, mode)


def read(path):
    return path.read_bytes().decode("utf-8", "surrogateescape")


def snapshot(directory):
    return {p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in directory.iterdir()}


class RecordingFiles:
    """The ``files`` of configure_gitaly_remote with plain os calls, recording what was asked."""

    def __init__(self, attributes=None):
        self.calls = []
        self.attributes = attributes or {}  # {"mode": ("0644", "0600")}: what would differ

    def backup(self, path):
        self.calls.append("backup")
        dest = path + ".backup"
        with open(path, "rb") as src, open(dest, "wb") as out:
            out.write(src.read())
        return dest

    def replace(self, path, data, new_file=False):
        self.calls.append("replace new" if new_file else "replace")
        tmp = path + ".tmp"
        with open(tmp, "wb") as handle:
            handle.write(data)
        if new_file:
            os.chmod(tmp, 0o600)
        os.replace(tmp, path)

    def set_attributes(self, path, changed, diff, new_file=False):
        self.calls.append("attributes new" if new_file else "attributes")
        for key, (old, new) in self.attributes.items():
            diff["before"][key], diff["after"][key] = old, new
        return changed or bool(self.attributes)


def run(path, files=None, **kwargs):
    base = RAILS_ARGS if kwargs.get("role") == "rails" else GITALY_ARGS
    args = dict(base, config_path=str(path), gitlab_version="17.5.1", files=files or RecordingFiles())
    args.update(kwargs)
    return configure_gitaly_remote(**args)


@pytest.fixture()
def gitlab_rb(tmp_path):
    path = tmp_path / "gitlab.rb"
    write(path, OPERATOR)
    return path


@pytest.mark.parametrize("args, version", [
    (GITALY_ARGS, "15.11.2"), (GITALY_ARGS, "17.5.1"), (GITALY_ARGS, "18.2.0"),
    (RAILS_ARGS, "15.11.2"), (RAILS_ARGS, "17.5.1"), (RAILS_ARGS, "18.2.0"),
])
def test_apply_is_idempotent_and_preserves_operator_content(gitlab_rb, args, version):
    first = run(gitlab_rb, gitlab_version=version, **args)
    assert first["changed"] is True
    text = read(gitlab_rb)
    # operator lines that are not owned are kept byte for byte, in order
    head = text[:text.index(BEGIN_MARKER)]
    for line in OPERATOR.split("\n"):
        if "git_data_dirs" in line or "gitaly['auth_token']" in line or "\"default\"" in line or line == "})":
            assert DISABLED_PREFIX + line in head
        elif line:
            assert line + "\n" in head
    assert [entry["key"] for entry in first["neutralised"]] == ["git_data_dirs(...)", "gitaly['auth_token']"]
    assert [entry["line"] for entry in first["neutralised"]] == [5, 8]
    before = snapshot(gitlab_rb.parent)
    second = run(gitlab_rb, gitlab_version=version, **args)
    assert second["changed"] is False and second["neutralised"] == []
    assert snapshot(gitlab_rb.parent) == before


def test_result_and_diff_never_contain_the_token(gitlab_rb):
    result = run(gitlab_rb)
    dumped = json.dumps(result)
    escaped = TOKEN.replace("\\", "\\\\").replace("'", "\\'")
    for form in (TOKEN, escaped, "Zm9v", "old-token", "db-secret"):
        assert form not in dumped
    assert TOKEN_PLACEHOLDER in result["block"] and TOKEN_PLACEHOLDER in result["after"]
    assert "gitlab_rails['db_password'] = '%s'" % SECRET_PLACEHOLDER in result["before"]
    # the file itself does carry the real token, escaped for Ruby
    assert "token: '%s'," % escaped in read(gitlab_rb)


def test_token_only_change_is_reported_and_visible_in_masked_diff(gitlab_rb):
    run(gitlab_rb)
    result = run(gitlab_rb, auth_token="a-brand-new-token")
    assert result["changed"] is True
    assert result["before"] != result["after"]
    assert "token: '%s'," % SECRET_PLACEHOLDER in result["before"]
    assert "token: '%s'," % TOKEN_PLACEHOLDER in result["after"]
    assert "a-brand-new-token" not in json.dumps(result) and "Zm9v" not in json.dumps(result)


def test_check_mode_reports_but_changes_nothing(gitlab_rb):
    before = snapshot(gitlab_rb.parent)
    files = RecordingFiles()
    result = run(gitlab_rb, files=files, check_mode=True, backup=True)
    assert result["changed"] is True and "backup_file" not in result
    assert BEGIN_MARKER in result["after"] and BEGIN_MARKER not in result["before"]
    assert snapshot(gitlab_rb.parent) == before
    assert files.calls == ["attributes"]  # AnsibleModule only reports in check mode


BAD_INPUTS = [
    (dict(storages=[{"name": "storage1", "path": "/mnt/repositories"}]), "no storage named 'default'"),
    (dict(storages=[{"name": "default", "path": "/a/repositories"}, {"name": "default", "path": "/b/repositories"}]),
     "duplicate storage name"),
    (dict(listen_addr="0.0.0.0:99999"), "port must be"),
    (dict(listen_addr="gitaly.internal"), "is not HOST:PORT"),
    (dict(role="rails", storages=[{"name": "default", "address": "gitaly1.internal:8075"}]),
     "must be tcp://HOST:PORT"),
    (dict(role="rails", storages=[{"name": "default", "address": "tcp://0.0.0.0:8075"}]), "unspecified address"),
    (dict(role="rails", listen_addr="0.0.0.0:8075"), "only applies to role gitaly"),
    (dict(gitlab_version="12.10.1"), "not supported"),
    (dict(gitlab_version="latest"), "cannot parse GitLab version"),
    (dict(gitlab_version="15.0.0", storages=[{"name": "default", "path": "/srv/git"}]), "must end in /repositories"),
    (dict(config_path="relative/gitlab.rb"), "absolute path"),
]


@pytest.mark.parametrize("overrides, message", BAD_INPUTS)
def test_bad_input_fails_once_and_changes_nothing(gitlab_rb, overrides, message):
    before = snapshot(gitlab_rb.parent)
    with pytest.raises(GitalyConfigError, match=message) as err:
        run(gitlab_rb, backup=True, **overrides)
    assert TOKEN not in str(err.value)
    assert snapshot(gitlab_rb.parent) == before


def test_unparsable_owned_statement_changes_nothing(tmp_path):
    path = tmp_path / "gitlab.rb"
    write(path, "external_url 'x'\ngitaly['configuration'] = {\n  listen_addr: '0.0.0.0:8075',\n")
    before = snapshot(tmp_path)
    with pytest.raises(GitalyConfigError, match="line 2 of gitlab.rb never ends"):
        run(path)
    assert snapshot(tmp_path) == before


def test_broken_markers_change_nothing(tmp_path):
    path = tmp_path / "gitlab.rb"
    write(path, "external_url 'x'\n%s\ngitaly['enable'] = true\n" % BEGIN_MARKER)
    before = snapshot(tmp_path)
    with pytest.raises(GitalyConfigError, match="markers are broken"):
        run(path)
    assert snapshot(tmp_path) == before


def test_backup_then_replace_then_attributes(gitlab_rb):
    files = RecordingFiles()
    result = run(gitlab_rb, files=files, backup=True)
    assert files.calls == ["backup", "replace", "attributes"]
    assert result["backup_file"] == str(gitlab_rb) + ".backup"
    assert read(gitlab_rb.parent / "gitlab.rb.backup") == OPERATOR
    files.calls.clear()
    again = run(gitlab_rb, files=files, backup=True)
    assert again["changed"] is False and "backup_file" not in again
    assert files.calls == ["attributes"]  # unchanged text: no backup, no write


def test_no_backup_unless_asked(gitlab_rb):
    files = RecordingFiles()
    assert "backup_file" not in run(gitlab_rb, files=files)
    assert files.calls == ["replace", "attributes"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_attribute_changes_alone_are_reported(gitlab_rb, check_mode):
    run(gitlab_rb)
    files = RecordingFiles(attributes={"mode": ("0644", "0600")})
    result = run(gitlab_rb, files=files, check_mode=check_mode)
    assert result["changed"] is True and result["before"] == result["after"]
    assert result["attributes_diff"] == {"before": {"path": str(gitlab_rb), "mode": "0644"},
                                         "after": {"path": str(gitlab_rb), "mode": "0600"}}
    assert files.calls == ["attributes"]
    assert "attributes_diff" not in run(gitlab_rb)


def test_missing_file_is_created_without_backup(tmp_path):
    path = tmp_path / "gitlab.rb"
    files = RecordingFiles()
    result = run(path, files=files, backup=True)
    assert result["changed"] is True and "backup_file" not in result
    assert files.calls == ["replace new", "attributes new"]
    assert read(path).startswith(BEGIN_MARKER)
    files = RecordingFiles()
    missing = tmp_path / "other.rb"
    assert run(missing, files=files, check_mode=True)["changed"] is True
    assert files.calls == [] and not missing.exists()  # nothing to compare attributes with yet


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(GitalyConfigError, match="neither does its directory"):
        run(tmp_path / "nope" / "gitlab.rb")


def test_directory_as_config_is_refused(tmp_path):
    with pytest.raises(GitalyConfigError, match="not a regular file"):
        run(tmp_path)


def test_version_auto_uses_reader(gitlab_rb):
    files = {MANIFEST_PATH: "gitlab-ce 16.11.3\n"}
    result = run(gitlab_rb, gitlab_version="auto", read_text=files.get)
    assert (result["gitlab_version"], result["syntax"], result["version_source"]) == (
        "16.11.3", "gitaly_configuration", MANIFEST_PATH)
    with pytest.raises(GitalyConfigError, match="cannot detect the GitLab version"):
        run(gitlab_rb, gitlab_version="auto", read_text={}.get)


def test_syntax_check_failure_changes_nothing(gitlab_rb):
    before = snapshot(gitlab_rb.parent)
    calls = []

    def failing_check(text):
        calls.append(text)
        raise GitalyConfigError("not valid Ruby")

    with pytest.raises(GitalyConfigError, match="not valid Ruby"):
        run(gitlab_rb, backup=True, syntax_check=failing_check)
    assert len(calls) == 1 and BEGIN_MARKER in calls[0]
    assert snapshot(gitlab_rb.parent) == before
    # not called when nothing changes
    run(gitlab_rb)
    calls.clear()
    run(gitlab_rb, syntax_check=failing_check)
    assert calls == []


def test_ruby_syntax_check_masks_ruby_output():
    seen = []

    def fake_run(argv, data):
        seen.append((argv, data))
        return 1, "", "-:2: syntax error\ngitaly['auth_token'] = '%s' {\n" % TOKEN

    check = make_ruby_syntax_check(fake_run, "/opt/gitlab/embedded/bin/ruby", TOKEN)
    with pytest.raises(GitalyConfigError) as err:
        check("text")
    assert seen == [(["/opt/gitlab/embedded/bin/ruby", "-c"], "text")]
    assert TOKEN not in str(err.value) and "syntax error" in str(err.value)
    assert make_ruby_syntax_check(fake_run, None)("text") is None
    assert make_ruby_syntax_check(lambda argv, data: (0, "Syntax OK", ""), "ruby")("x") == "ruby"


def test_real_ruby_syntax_check(ruby_bin, gitlab_rb):
    def runner(argv, data):
        proc = subprocess.run(argv, input=data.encode("utf-8", "surrogateescape"), capture_output=True,
                              timeout=60, check=False)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    check = make_ruby_syntax_check(runner, ruby_bin, TOKEN)
    result = run(gitlab_rb, syntax_check=check)
    assert result["syntax_checked_with"] == ruby_bin
    broken = gitlab_rb.parent / "broken.rb"
    write(broken, "nginx['listen_port'] = [80,\n")  # not an owned key: only Ruby can tell
    before = snapshot(gitlab_rb.parent)
    with pytest.raises(GitalyConfigError, match="not valid Ruby"):
        run(broken, syntax_check=check)
    assert snapshot(gitlab_rb.parent) == before


@pytest.mark.parametrize("version", ["13.12.0", "15.11.2", "16.0.0", "17.11.0", "18.0.0"])
@pytest.mark.parametrize("args", [GITALY_ARGS, RAILS_ARGS], ids=["gitaly", "rails"])
def test_planned_files_are_valid_ruby(version, args, ruby_syntax_ok):
    keys = ("role", "storages", "auth_token", "internal_api_url")
    settings = build_settings(**{k: args[k] for k in keys if k in args})
    plan = plan_gitlab_rb(OPERATOR, settings, version)
    ok, output = ruby_syntax_ok(plan["text"])
    assert ok, output
    again = plan_gitlab_rb(plan["text"], settings, version)
    assert again["text"] == plan["text"] and again["changed"] is False
