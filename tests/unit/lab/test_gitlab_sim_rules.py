"""Self-tests of the lab's GitLab Omnibus stand-in (tests/lab/sim/gitlab/omnibus.py).

They exercise the stand-in only (no product code, no lab): the version rules are plain functions
over what the recording DSL saw, and the recording itself is real Ruby (skipped without a `ruby`
binary). The boundaries are GitLab's, with the documentation cited in omnibus.py: flat Gitaly
keys deprecated in 15.10 and removed in 16.0, `git_data_dirs` deprecated in 17.8 and removed in
18.0, `gitaly['configuration']` unknown before 15.10, Grafana removed in 16.3 and unknown from 17.1.
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[2] / "lab" / "sim" / "gitlab"

_spec = importlib.util.spec_from_file_location("gitlab_sim_omnibus", SIM / "omnibus.py")
omnibus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(omnibus)

FLAT = {"attributes": {"gitaly": {"listen_addr": "0.0.0.0:8075", "auth_token": "t"}}, "calls": {}}
DIRS = {"attributes": {}, "calls": {"git_data_dirs": [{"default": {"path": "/var/opt/gitlab/git-data"}}]}}
GRAFANA = {"attributes": {"grafana": {"enable": False}}, "calls": {}}
UNICORN = {"attributes": {"unicorn": {"enable": False}}, "calls": {}}


def v(text):
    return tuple(int(x) for x in text.split("."))


@pytest.mark.parametrize("rec, version, outcome", [
    (FLAT, "15.9.0", "ok"),
    (FLAT, "15.10.0", "deprecated since 15.10 and will be removed in 16.0"),
    (FLAT, "16.0.0", "gitaly['listen_addr'] has been deprecated since 15.10 and was removed in 16.0"),
    (DIRS, "17.7.0", "ok"),
    (DIRS, "17.8.0", "git_data_dirs has been deprecated since 17.8 and will be removed in 18.0"),
    (DIRS, "18.0.0", "git_data_dirs has been deprecated since 17.8 and was removed in 18.0"),
    (GRAFANA, "16.2.0", "ok"),
    (GRAFANA, "16.3.0", "grafana['enable'] has been deprecated since 16.0 and was removed in 16.3"),
    (GRAFANA, "17.1.0", "Encountered unsupported config key 'grafana'"),
    (UNICORN, "13.12.0", "ok"),
    (UNICORN, "14.0.0", "unicorn['enable'] has been deprecated since 13.10 and was removed in 14.0"),
    ({"attributes": {"gitlab_rail": {}}, "calls": {}}, "17.0.0", "Encountered unsupported config key 'gitlab_rail'"),
])
def test_version_rules(rec, version, outcome):
    if outcome == "ok":
        assert omnibus.check_config(v(version), rec) == []
    elif "will be removed" in outcome:
        assert any(outcome in w for w in omnibus.check_config(v(version), rec))
    else:
        with pytest.raises(omnibus.SimError) as err:
            omnibus.check_config(v(version), rec)
        assert outcome in str(err.value)


def test_gitaly_configuration_has_no_effect_before_15_10():
    rec = {"attributes": {"gitaly": {"configuration": {"listen_addr": "0.0.0.0:8075", "auth": {"token": "t"}}}},
           "calls": {}}
    before = omnibus.gitaly_settings(v("15.9.0"), rec)
    assert before["listen_addr"] is None and before["token"] == ""
    after = omnibus.gitaly_settings(v("15.10.0"), rec)
    assert after["listen_addr"] == "0.0.0.0:8075" and after["token"] == "t"


def test_rails_storages_follow_the_version():
    remote = {"default": {"gitaly_address": "tcp://g1:8075"}}
    rec = {"attributes": {"gitlab_rails": {"repositories_storages": remote, "gitaly_token": "t"}}, "calls": {}}
    # before 17.8 Omnibus computes repositories_storages from git_data_dirs (here: the default)
    assert omnibus.rails_settings(v("17.7.0"), rec)["storages"]["default"]["address"] == omnibus.LOCAL_GITALY_ADDRESS
    assert omnibus.rails_settings(v("18.0.0"), rec)["storages"]["default"] == {"address": "tcp://g1:8075", "token": "t"}
    dirs = {"attributes": {"gitlab_rails": {"gitaly_token": "t"}}, "calls": {"git_data_dirs": [remote]}}
    assert omnibus.rails_settings(v("17.11.0"), dirs)["storages"]["default"]["address"] == "tcp://g1:8075"


def test_services_disabled_in_gitlab_rb_and_exporters_follow():
    rec = {"attributes": {"postgresql": {"enable": False}, "redis": {"enable": False}}, "calls": {}}
    enabled = omnibus.enabled_services(v("18.2.1"), rec)
    assert not enabled["postgresql"] and not enabled["postgres-exporter"] and not enabled["redis-exporter"]
    assert enabled["gitaly"] and enabled["puma"] and "grafana" in enabled and not enabled["grafana"]


def test_gitaly_v2_token_auth():
    header = omnibus.auth_header("s3cret")["Authorization"]
    assert "s3cret" not in header
    assert omnibus.check_auth(header, "s3cret") is None
    assert omnibus.check_auth(header, "other") == (7, "permission denied")
    assert omnibus.check_auth(None, "s3cret") == (16, "authentication required")
    assert omnibus.check_auth(None, "") is None  # no token configured: every client is accepted


def test_shell_jwt():
    token = omnibus.shell_jwt("a" * 64)
    assert omnibus.verify_shell_jwt(token, "a" * 64)
    assert not omnibus.verify_shell_jwt(token, "b" * 64)
    assert not omnibus.verify_shell_jwt("garbage", "a" * 64)


@pytest.mark.skipif(not shutil.which("ruby"), reason="needs Ruby")
def test_recorder_evaluates_real_ruby(tmp_path, monkeypatch):
    monkeypatch.setattr(omnibus, "EMBEDDED_RUBY", tmp_path / "absent")
    rb = tmp_path / "gitlab.rb"
    rb.write_text("external_url 'http://x.example'\ngitaly['configuration'] = { storage: [{ name: 'default', path: '/r' }] }\n"
                  "gitlab_rails['env'] = { 'HOME' => File.basename('/var/opt/gitlab') }\n")
    seen = omnibus.evaluate(rb)
    assert seen["calls"]["external_url"] == ["http://x.example"]
    assert seen["attributes"]["gitaly"]["configuration"]["storage"] == [{"name": "default", "path": "/r"}]
    assert seen["attributes"]["gitlab_rails"]["env"] == {"HOME": "gitlab"}  # constants resolve (File)
    rb.write_text("gitaly['enable'] = \n")
    with pytest.raises(omnibus.SimError, match="SyntaxError"):
        omnibus.evaluate(rb)


@pytest.mark.skipif(not shutil.which("ruby"), reason="needs Ruby")
@pytest.mark.parametrize("text, message", [
    ("gitaly['configuration'] = {\n  listen_addr: '0.0.0.0:8075'\n", "SyntaxError"),
    ("gitlab_rail['auto_migrate'] = false\n", "Encountered unsupported config key 'gitlab_rail' in "),
    ("gitaly['configuration'][:listen_addr] = '0.0.0.0:8075'\n", "NoMethodError"),
], ids=["syntax-error", "unknown-key", "nil-hash"])
def test_reconfigure_evaluates_gitlab_rb_with_ruby(tmp_path, monkeypatch, text, message):
    """What `gitlab-ctl reconfigure` runs first: evaluate gitlab.rb, then GitLab's rules."""
    monkeypatch.setattr(omnibus, "EMBEDDED_RUBY", tmp_path / "absent")
    rb = tmp_path / "gitlab.rb"
    rb.write_text("external_url 'http://gitlab.example.com'\n" + text)
    with pytest.raises(omnibus.SimError, match=message):
        omnibus.check_config(v("18.2.1"), omnibus.evaluate(rb), rb)


def test_a_saved_pid_now_held_by_another_process_reads_as_gone(tmp_path, monkeypatch):
    # after a reboot (or PID reuse) the PID in the state file belongs to some other process:
    # the simulation must not reattach to it, report it running or kill it
    import os
    import subprocess
    monkeypatch.setattr(omnibus, "SERVICE_STATE", tmp_path)
    other = subprocess.Popen(["sleep", "30"])
    try:
        omnibus.save_service_state("gitaly", {"pid": other.pid, "pid_started_at": "1",
                                              "log_pid": os.getpid(),
                                              "log_pid_started_at": omnibus._started_at(os.getpid())})
        state = omnibus.service_state("gitaly")
        assert state["pid"] is None
        assert state["log_pid"] == os.getpid()
        assert omnibus._reattach_logger(None) is None
    finally:
        other.kill()
        other.wait()
