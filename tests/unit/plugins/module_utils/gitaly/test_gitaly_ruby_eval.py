"""Evaluate planned gitlab.rb files with real Ruby and check the values Omnibus would see.

``gitlab_rb_recorder.rb`` runs the file in a DSL where ``gitaly``, ``gitlab_rails``, ... are
recording hashes and ``git_data_dirs``/``external_url`` are recorded calls. Neutralised operator
assignments must have no effect; everything else the operator wrote must still take effect.
"""

from __future__ import annotations

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.gitaly.config import plan_gitlab_rb
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.render import LOCAL_GITALY_ADDRESS, build_settings

TOKEN = "t0k'en\\with \"quotes\" #{not_interpolated}"
REPOS = "/var/opt/gitlab/git-data/repositories"
OPERATOR = """\
external_url 'https://gitlab.example.com'
nginx['listen_port'] = 8080
gitlab_rails['gitaly_token'] = 'stale'
gitaly['auth_token'] = 'stale'
gitaly['listen_addr'] = '127.0.0.1:1'
gitaly['configuration'] = {
  listen_addr: '127.0.0.1:1',
  auth: { token: 'stale' },
  storage: [{ name: 'wrong', path: '/wrong' }],
}
git_data_dirs({
  'default' => { 'gitaly_address' => 'tcp://stale:1' },
})
gitaly['enable'] = true
postgresql['enable'] = true
gitlab_rails['repositories_storages'] = { 'wrong' => {} }
"""
# The operator edits after the block: owned keys are neutralised on the next run...
OPERATOR_TAIL = """\
gitlab_rails['gitaly_token'] ||= 'stale-again'
gitaly['listen_addr'] = '127.0.0.1:2'
"""
# ...while sub-keys of gitaly['configuration'] the block does not set survive (only where the
# block sets gitaly['configuration']: like in Omnibus, it is nil otherwise).
CONFIGURATION_TAIL = """\
gitaly['configuration'][:pack_objects_cache] = { enabled: true }
gitaly['configuration'][:auth] = { token: 'stale-again' }
"""


def settle(ruby_record, settings, version, tail=OPERATOR_TAIL):
    """Plan once, append the operator's tail after the block, plan again, evaluate."""
    first = plan_gitlab_rb(OPERATOR, settings, version)["text"]
    final = plan_gitlab_rb(first + tail, settings, version)
    return ruby_record(final["text"]), final


def gitaly(**extra):
    args = dict(role="gitaly", auth_token=TOKEN, internal_api_url="http://gitlab.example.com",
                storages=[{"name": "default", "path": REPOS}, {"name": "storage1", "path": "/mnt/s1/repositories"}])
    args.update(extra)
    return build_settings(**args)


def rails(storages):
    return build_settings(role="rails", auth_token=TOKEN, storages=storages)


def assert_operator_kept(seen):
    assert seen["calls"]["external_url"] == ["https://gitlab.example.com"]
    assert seen["attributes"]["nginx"]["listen_port"] == 8080


@pytest.mark.parametrize("version", ["15.11.2", "14.0.0"])
def test_gitaly_legacy(ruby_record, version):
    seen, _plan = settle(ruby_record, gitaly(), version)
    attrs = seen["attributes"]
    assert attrs["gitaly"]["enable"] is True
    assert attrs["gitaly"]["auth_token"] == TOKEN
    assert attrs["gitaly"]["listen_addr"] == "0.0.0.0:8075"
    # only the managed git_data_dirs call is left; Omnibus appends /repositories to these paths
    assert seen["calls"]["git_data_dirs"] == [{
        "default": {"path": "/var/opt/gitlab/git-data"}, "storage1": {"path": "/mnt/s1"}}]
    for service in ("postgresql", "redis", "nginx", "puma", "sidekiq", "gitlab_workhorse", "prometheus",
                    "alertmanager", "grafana"):
        assert attrs[service]["enable"] is False, service
    assert attrs["gitlab_rails"]["auto_migrate"] is False
    assert attrs["gitlab_rails"]["rake_cache_clear"] is False
    assert attrs["gitlab_rails"]["internal_api_url"] == "http://gitlab.example.com"
    # operator's stale values for keys the gitaly role does not own are untouched
    assert attrs["gitlab_rails"]["gitaly_token"] == "stale"
    assert_operator_kept(seen)


@pytest.mark.parametrize("version", ["16.0.0", "17.11.2", "18.2.0"])
def test_gitaly_configuration(ruby_record, version):
    settings = gitaly(listen_addr="10.0.0.5:8075", tls_listen_addr="[::]:9999",
                      tls_certificate_path="/etc/gitlab/ssl/cert.pem", tls_key_path="/etc/gitlab/ssl/key.pem")
    seen, plan = settle(ruby_record, settings, version, OPERATOR_TAIL + CONFIGURATION_TAIL)
    attrs = seen["attributes"]
    assert attrs["gitaly"]["configuration"] == {
        "listen_addr": "10.0.0.5:8075",
        "tls_listen_addr": "[::]:9999",
        "tls": {"certificate_path": "/etc/gitlab/ssl/cert.pem", "key_path": "/etc/gitlab/ssl/key.pem"},
        "auth": {"token": TOKEN},
        "storage": [{"name": "default", "path": REPOS}, {"name": "storage1", "path": "/mnt/s1/repositories"}],
        "pack_objects_cache": {"enabled": True},
    }
    assert attrs["gitaly"]["enable"] is True
    assert "auth_token" not in attrs["gitaly"] and "listen_addr" not in attrs["gitaly"]
    assert "git_data_dirs" not in seen["calls"]
    assert attrs["postgresql"]["enable"] is False
    if version == "16.0.0":
        assert attrs["grafana"]["enable"] is False
    else:
        assert "grafana" not in attrs  # removed in 16.3; its keys must go from 16.3 on
    # the tail's owned keys; the operator's original ones went on the first pass
    assert [entry["key"] for entry in plan["neutralised"]] == [
        "gitaly['listen_addr']", "gitaly['configuration']['auth']"]
    assert_operator_kept(seen)


@pytest.mark.parametrize("version", ["15.11.2", "17.5.1", "18.0.0"])
def test_rails_remote_only(ruby_record, version):
    storages = [{"name": "default", "address": "tcp://gitaly1.internal:8075"},
                {"name": "storage2", "address": "tls://[2001:db8::12]:9999"}]
    seen, _plan = settle(ruby_record, rails(storages), version)
    attrs = seen["attributes"]
    expected = {"default": {"gitaly_address": "tcp://gitaly1.internal:8075"},
                "storage2": {"gitaly_address": "tls://[2001:db8::12]:9999"}}
    assert attrs["gitlab_rails"]["gitaly_token"] == TOKEN
    assert attrs["gitaly"]["enable"] is False
    if version.startswith("18"):
        assert attrs["gitlab_rails"]["repositories_storages"] == expected
        assert "git_data_dirs" not in seen["calls"]
    else:
        assert seen["calls"]["git_data_dirs"] == [expected]
        assert "repositories_storages" not in attrs["gitlab_rails"]
    # the Rails role does not own the local Gitaly's settings when nothing stays local
    assert attrs["postgresql"]["enable"] is True
    assert_operator_kept(seen)


@pytest.mark.parametrize("version", ["15.11.2", "17.5.1", "18.0.0"])
def test_rails_keeps_default_local(ruby_record, version):
    storages = [{"name": "default", "path": REPOS}, {"name": "storage1", "address": "tcp://gitaly1.internal:8075"}]
    tail = OPERATOR_TAIL if version.startswith("15") else OPERATOR_TAIL + CONFIGURATION_TAIL
    seen, _plan = settle(ruby_record, rails(storages), version, tail)
    attrs = seen["attributes"]
    assert attrs["gitlab_rails"]["gitaly_token"] == TOKEN
    assert "enable" not in attrs["gitaly"]  # the local Gitaly keeps running (operator's line neutralised)
    remote = {"gitaly_address": "tcp://gitaly1.internal:8075"}
    if version.startswith("15"):
        assert seen["calls"]["git_data_dirs"] == [{"default": {"path": "/var/opt/gitlab/git-data"}, "storage1": remote}]
        assert attrs["gitaly"]["auth_token"] == TOKEN
        assert "configuration" not in attrs["gitaly"]
        return
    local = {"gitaly_address": LOCAL_GITALY_ADDRESS}
    if version.startswith("18"):
        assert attrs["gitlab_rails"]["repositories_storages"] == {"default": local, "storage1": remote}
    else:
        assert seen["calls"]["git_data_dirs"] == [{"default": local, "storage1": remote}]
    assert attrs["gitaly"]["configuration"] == {
        "auth": {"token": TOKEN}, "storage": [{"name": "default", "path": REPOS}],
        "pack_objects_cache": {"enabled": True}}
    assert "auth_token" not in attrs["gitaly"]
