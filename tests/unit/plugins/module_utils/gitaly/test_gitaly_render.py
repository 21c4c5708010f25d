"""Validation and rendering of the managed gitlab.rb block, for both roles and all syntaxes."""

from __future__ import annotations

import itertools

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.gitaly.errors import GitalyConfigError
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.rbfile import wrap_block
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.render import (
    LOCAL_GITALY_ADDRESS,
    build_settings,
    disabled_services,
    normalise_storages,
    owned_keys,
    parse_client_address,
    parse_host_port,
    render_body,
    ruby_str,
)
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.version import parse_version

TOKEN = "s3cr3t-'quoted'\\back"
API = "http://gitlab.example.com"
DEFAULT = {"name": "default", "path": "/var/opt/gitlab/git-data/repositories"}
STORAGE1 = {"name": "storage1", "path": "/mnt/gitlab/git-data/repositories"}
VERSIONS = {"legacy": "15.11.2", "gitaly_configuration": "17.5.1", "repositories_storages": "18.2.0"}


def gitaly_settings(**overrides):
    args = dict(role="gitaly", storages=[DEFAULT, STORAGE1], auth_token=TOKEN, internal_api_url=API)
    args.update(overrides)
    return build_settings(**args)


def rails_settings(storages, **overrides):
    args = dict(role="rails", storages=storages, auth_token=TOKEN)
    args.update(overrides)
    return build_settings(**args)


# --------------------------------------------------------------------------- addresses

@pytest.mark.parametrize("value, host, port", [
    ("0.0.0.0:8075", "0.0.0.0", 8075),
    ("10.0.0.5:1", "10.0.0.5", 1),
    ("[::]:8075", "::", 8075),
    ("[2001:db8::1]:65535", "2001:db8::1", 65535),
    ("gitaly1.internal:9999", "gitaly1.internal", 9999),
    ("localhost:8075", "localhost", 8075),
    ("g-1.example.com:8075", "g-1.example.com", 8075),
])
def test_listen_addr_valid(value, host, port):
    assert parse_host_port(value, "listen_addr") == (host, port)


@pytest.mark.parametrize("value, message", [
    ("0.0.0.0", "is not HOST:PORT"),
    ("0.0.0.0:", "is not HOST:PORT"),
    (":8075", "has no host"),
    ("0.0.0.0:0", "port must be"),
    ("0.0.0.0:65536", "port must be"),
    ("0.0.0.0:08075", "port must be"),
    ("0.0.0.0:80a", "is not HOST:PORT"),
    ("0.0.0.0:-1", "is not HOST:PORT"),
    ("::1:8075", "brackets"),
    ("[::1]", "is not HOST:PORT"),
    ("[zz::1]:8075", "is not an IPv6 address"),
    ("[10.0.0.1]:8075", "is not an IPv6 address"),
    ("300.1.1.1:8075", "not a valid IPv4"),
    ("10.0.0:8075", "not a valid IPv4"),
    ("bad_host:8075", "neither an IP address nor a valid host name"),
    ("-bad.example:8075", "neither an IP address nor a valid host name"),
    ("a..b:8075", "neither an IP address nor a valid host name"),
    ("gitaly 1:8075", "neither an IP address nor a valid host name"),
    ("0.0.0.0:8075\n", "control characters"),
    ("", "must not be empty"),
])
def test_listen_addr_invalid(value, message):
    with pytest.raises(GitalyConfigError, match=message):
        parse_host_port(value, "listen_addr")


@pytest.mark.parametrize("value, scheme", [
    ("tcp://gitaly1.internal:8075", "tcp"),
    ("tls://gitaly1.internal:9999", "tls"),
    ("tcp://10.0.0.5:8075", "tcp"),
    ("tls://[2001:db8::12]:9999", "tls"),
])
def test_client_address_valid(value, scheme):
    assert parse_client_address(value, "address") == scheme


@pytest.mark.parametrize("value, message", [
    ("gitaly1.internal:8075", "must be tcp://HOST:PORT"),
    ("http://gitaly1.internal:8075", "must be tcp://HOST:PORT"),
    ("unix:/var/opt/gitlab/gitaly/gitaly.socket", "must be tcp://HOST:PORT"),
    ("/var/opt/gitlab/git-data/repositories", "use path for a storage kept"),
    ("tcp://gitaly1.internal", "is not HOST:PORT"),
    ("tcp://0.0.0.0:8075", "unspecified address"),
    ("tcp://[::]:8075", "unspecified address"),
    ("tcp://gitaly1.internal:99999", "port must be"),
    ("TCP://gitaly1.internal:8075", "must be tcp://HOST:PORT"),
])
def test_client_address_invalid(value, message):
    with pytest.raises(GitalyConfigError, match=message):
        parse_client_address(value, "address")


# --------------------------------------------------------------------------- storages

def test_storages_dict_form():
    result = normalise_storages({"default": "/var/opt/gitlab/git-data/repositories",
                                 "storage1": "tcp://gitaly1.internal:8075"}, "rails")
    assert result == [
        {"name": "default", "path": "/var/opt/gitlab/git-data/repositories", "address": None},
        {"name": "storage1", "path": None, "address": "tcp://gitaly1.internal:8075"},
    ]


@pytest.mark.parametrize("role, storages, message", [
    ("gitaly", [], "at least one storage"),
    ("gitaly", None, "at least one storage"),
    ("gitaly", "default", "at least one storage"),
    ("gitaly", [STORAGE1], "no storage named 'default'"),
    ("rails", [{"name": "Default", "address": "tcp://g:8075"}], "no storage named 'default'"),
    ("gitaly", [DEFAULT, DEFAULT], "duplicate storage name 'default'"),
    ("gitaly", [DEFAULT, STORAGE1, dict(STORAGE1, path="/other/repositories")], "duplicate storage name 'storage1'"),
    ("gitaly", [DEFAULT, {"name": "bad name", "path": "/x/repositories"}], "storage name 'bad name' is invalid"),
    ("gitaly", [DEFAULT, {"name": "a/b", "path": "/x/repositories"}], "is invalid"),
    ("gitaly", [DEFAULT, {"name": "ünïcode", "path": "/x/repositories"}], "is invalid"),
    ("gitaly", [DEFAULT, {"name": 7, "path": "/x/repositories"}], "is invalid"),
    ("gitaly", [{"path": "/x/repositories"}], "has no name"),
    ("gitaly", [DEFAULT, "storage1"], "must be a dict"),
    ("gitaly", [dict(DEFAULT, weight=100)], "unknown key"),
    ("gitaly", [{"name": "default"}], "needs a path"),
    ("gitaly", [{"name": "default", "address": "tcp://g:8075"}], "address is for role rails"),
    ("gitaly", [{"name": "default", "path": "repositories"}], "must be an absolute path"),
    ("gitaly", [{"name": "default", "path": "/x\n/repositories"}], "control characters"),
    ("gitaly", [DEFAULT, {"name": "copy", "path": DEFAULT["path"] + "/"}], "share the path"),
    ("rails", [{"name": "default"}], "needs address"),
    ("rails", [{"name": "default", "path": "/x/repositories", "address": "tcp://g:8075"}], "not both"),
    ("rails", [{"name": "default", "address": "gitaly1:8075"}], "must be tcp://HOST:PORT"),
])
def test_storages_invalid(role, storages, message):
    with pytest.raises(GitalyConfigError, match=message):
        normalise_storages(storages, role)


# --------------------------------------------------------------------------- settings

@pytest.mark.parametrize("overrides, message", [
    (dict(role="praefect"), "role must be one of"),
    (dict(auth_token=None), "auth_token is required"),
    (dict(auth_token=""), "auth_token must not be empty"),
    (dict(auth_token="abc\ndef"), "auth_token must not contain control characters"),
    (dict(internal_api_url=None), "internal_api_url is required"),
    (dict(internal_api_url="gitlab.example.com"), "must be an http:// or https:// URL"),
    (dict(internal_api_url="ftp://gitlab.example.com"), "must be an http:// or https:// URL"),
    (dict(listen_addr="0.0.0.0"), "is not HOST:PORT"),
    (dict(tls_listen_addr="0.0.0.0:9999"), "TLS needs"),
    (dict(tls_certificate_path="/c.pem", tls_key_path="/k.pem"), "TLS needs"),
    (dict(tls_listen_addr="0.0.0.0:9999", tls_certificate_path="c.pem", tls_key_path="/k.pem"), "absolute"),
    (dict(listen_addr="0.0.0.0:9999", tls_listen_addr="0.0.0.0:9999", tls_certificate_path="/c",
          tls_key_path="/k"), "must differ"),
])
def test_gitaly_settings_invalid(overrides, message):
    with pytest.raises(GitalyConfigError, match=message) as err:
        gitaly_settings(**overrides)
    assert TOKEN not in str(err.value)


@pytest.mark.parametrize("overrides, message", [
    (dict(listen_addr="0.0.0.0:8075"), "listen_addr only applies to role gitaly"),
    (dict(internal_api_url=API, tls_listen_addr="0.0.0.0:9999"), "internal_api_url, tls_listen_addr only apply"),
])
def test_rails_settings_refuse_gitaly_options(overrides, message):
    with pytest.raises(GitalyConfigError, match=message):
        rails_settings([{"name": "default", "address": "tcp://g:8075"}], **overrides)


def test_listen_defaults():
    assert gitaly_settings()["listen_addr"] == "0.0.0.0:8075"
    tls_only = gitaly_settings(tls_listen_addr="0.0.0.0:9999", tls_certificate_path="/c", tls_key_path="/k")
    assert tls_only["listen_addr"] is None
    both = gitaly_settings(listen_addr="10.0.0.5:8075", tls_listen_addr="0.0.0.0:9999",
                           tls_certificate_path="/c", tls_key_path="/k")
    assert (both["listen_addr"], both["tls_listen_addr"]) == ("10.0.0.5:8075", "0.0.0.0:9999")


# --------------------------------------------------------------------------- rendering

@pytest.mark.parametrize("value, literal", [
    ("plain", "'plain'"),
    ("it's", "'it\\'s'"),
    ("back\\slash", "'back\\\\slash'"),
    ("\\'", "'\\\\\\''"),
    ("#{system('id')}", "'#{system(\\'id\\')}'"),
    ('"double"', "'\"double\"'"),
    ("", "''"),
])
def test_ruby_str(value, literal):
    assert ruby_str(value) == literal


def test_ruby_str_round_trip(ruby_record):
    values = ["plain", "it's", "back\\slash", "\\'", "#{system('id')}", "tail\\", "ünï ☃"]
    text = "".join("gitlab_rails['v%d'] = %s\n" % (i, ruby_str(v)) for i, v in enumerate(values))
    seen = ruby_record(text)["attributes"]["gitlab_rails"]
    assert [seen["v%d" % i] for i in range(len(values))] == values


@pytest.mark.parametrize("version, present, absent", [
    ("13.12.0", {"unicorn", "grafana", "puma"}, {"gitlab_kas"}),
    ("14.0.0", {"gitlab_kas", "grafana", "puma"}, {"unicorn"}),
    ("16.2.9", {"grafana", "gitlab_kas"}, {"unicorn"}),
    ("16.3.0", {"gitlab_kas"}, {"grafana", "unicorn"}),
    ("18.2.0", {"postgresql", "redis", "nginx", "puma", "sidekiq", "gitlab_workhorse", "gitlab_exporter",
                "prometheus", "alertmanager"}, {"grafana", "unicorn"}),
])
def test_disabled_services(version, present, absent):
    services = set(disabled_services(parse_version(version)))
    assert present <= services
    assert not absent & services


GITALY_EXPECTED = {
    "legacy": (
        ["gitaly['listen_addr'] = '0.0.0.0:8075'",
         "gitaly['auth_token'] = %s" % ruby_str(TOKEN),
         "git_data_dirs({",
         "  'default' => { 'path' => '/var/opt/gitlab/git-data' },",
         "  'storage1' => { 'path' => '/mnt/gitlab/git-data' },"],
        ["gitaly['configuration']", "gitlab_rails['repositories_storages']", "gitaly_token"],
    ),
    "gitaly_configuration": (
        ["gitaly['configuration'] = {",
         "  listen_addr: '0.0.0.0:8075',",
         "    token: %s," % ruby_str(TOKEN),
         "    { name: 'default', path: '/var/opt/gitlab/git-data/repositories' },",
         "    { name: 'storage1', path: '/mnt/gitlab/git-data/repositories' },"],
        ["gitaly['auth_token']", "gitaly['listen_addr']", "git_data_dirs", "gitlab_rails['repositories_storages']"],
    ),
    "repositories_storages": (
        ["gitaly['configuration'] = {", "  listen_addr: '0.0.0.0:8075',", "    token: %s," % ruby_str(TOKEN)],
        ["gitaly['auth_token']", "git_data_dirs", "gitlab_rails['repositories_storages']", "grafana"],
    ),
}


@pytest.mark.parametrize("syntax", sorted(GITALY_EXPECTED))
def test_render_gitaly(syntax):
    body = render_body(gitaly_settings(), syntax, VERSIONS[syntax])
    lines = body.splitlines()
    present, absent = GITALY_EXPECTED[syntax]
    for line in present:
        assert line in lines, line
    for fragment in absent:
        assert fragment not in body, fragment
    for line in ("gitaly['enable'] = true", "postgresql['enable'] = false", "puma['enable'] = false",
                 "gitlab_rails['rake_cache_clear'] = false", "gitlab_rails['auto_migrate'] = false",
                 "gitlab_rails['internal_api_url'] = 'http://gitlab.example.com'"):
        assert line in lines
    assert repr(syntax) in lines[0]


@pytest.mark.parametrize("syntax, expected", [
    ("legacy", ["gitaly['tls_listen_addr'] = '0.0.0.0:9999'", "gitaly['certificate_path'] = '/etc/gitlab/ssl/c.pem'",
                "gitaly['key_path'] = '/etc/gitlab/ssl/k.pem'"]),
    ("gitaly_configuration", ["  tls_listen_addr: '0.0.0.0:9999',", "  tls: {",
                              "    certificate_path: '/etc/gitlab/ssl/c.pem',", "    key_path: '/etc/gitlab/ssl/k.pem',"]),
])
def test_render_gitaly_tls_only(syntax, expected):
    settings = gitaly_settings(tls_listen_addr="0.0.0.0:9999", tls_certificate_path="/etc/gitlab/ssl/c.pem",
                               tls_key_path="/etc/gitlab/ssl/k.pem")
    body = render_body(settings, syntax, VERSIONS[syntax])
    for line in expected:
        assert line in body.splitlines()
    assert "listen_addr: '0.0.0.0:8075'" not in body
    assert "gitaly['listen_addr']" not in body


REMOTE = {"name": "default", "address": "tcp://gitaly1.internal:8075"}
REMOTE2 = {"name": "storage2", "address": "tls://[2001:db8::12]:9999"}
LOCAL = {"name": "default", "path": "/var/opt/gitlab/git-data/repositories"}
LOCAL_REMOTE = {"name": "storage1", "address": "tcp://gitaly1.internal:8075"}


@pytest.mark.parametrize("syntax, storages, present, absent", [
    ("legacy", [REMOTE, REMOTE2],
     ["gitaly['enable'] = false", "git_data_dirs({",
      "  'default' => { 'gitaly_address' => 'tcp://gitaly1.internal:8075' },",
      "  'storage2' => { 'gitaly_address' => 'tls://[2001:db8::12]:9999' },"],
     ["gitlab_rails['repositories_storages']", "gitaly['configuration']", "gitaly['auth_token']"]),
    ("legacy", [LOCAL, LOCAL_REMOTE],
     ["  'default' => { 'path' => '/var/opt/gitlab/git-data' },",
      "  'storage1' => { 'gitaly_address' => 'tcp://gitaly1.internal:8075' },",
      "gitaly['auth_token'] = %s" % ruby_str(TOKEN)],
     ["gitaly['enable']", "gitaly['configuration']", "unix:"]),
    ("gitaly_configuration", [REMOTE, REMOTE2],
     ["gitaly['enable'] = false", "git_data_dirs({",
      "  'default' => { 'gitaly_address' => 'tcp://gitaly1.internal:8075' },"],
     ["gitlab_rails['repositories_storages']", "gitaly['configuration']", "'path'", "token:"]),
    ("gitaly_configuration", [LOCAL, LOCAL_REMOTE],
     ["git_data_dirs({", "  'default' => { 'gitaly_address' => '%s' }," % LOCAL_GITALY_ADDRESS,
      "gitaly['configuration'] = {", "    token: %s," % ruby_str(TOKEN),
      "    { name: 'default', path: '/var/opt/gitlab/git-data/repositories' },"],
     ["gitaly['enable']", "gitlab_rails['repositories_storages']", "storage1', path", "gitaly['auth_token']"]),
    ("repositories_storages", [REMOTE, REMOTE2],
     ["gitaly['enable'] = false", "gitlab_rails['repositories_storages'] = {",
      "  'default' => { 'gitaly_address' => 'tcp://gitaly1.internal:8075' },"],
     ["git_data_dirs", "gitaly['configuration']", "token:"]),
    ("repositories_storages", [LOCAL, LOCAL_REMOTE],
     ["gitlab_rails['repositories_storages'] = {",
      "  'default' => { 'gitaly_address' => '%s' }," % LOCAL_GITALY_ADDRESS,
      "  'storage1' => { 'gitaly_address' => 'tcp://gitaly1.internal:8075' },", "gitaly['configuration'] = {",
      "    token: %s," % ruby_str(TOKEN)],
     ["git_data_dirs", "gitaly['enable']"]),
])
def test_render_rails(syntax, storages, present, absent):
    body = render_body(rails_settings(storages), syntax, VERSIONS[syntax])
    lines = body.splitlines()
    assert "gitlab_rails['gitaly_token'] = %s" % ruby_str(TOKEN) in lines
    for line in present:
        assert line in lines, line
    for fragment in absent:
        assert fragment not in body, fragment
    for service in ("postgresql", "internal_api_url", "auto_migrate"):
        assert service not in body


@pytest.mark.parametrize("role", ["gitaly", "rails"])
@pytest.mark.parametrize("path", ["/srv/git", "/srv/repositories-old", "/repositories"])
def test_legacy_needs_repositories_suffix(role, path):
    storage = {"name": "default", "path": path}
    settings = gitaly_settings(storages=[storage]) if role == "gitaly" else rails_settings([storage])
    with pytest.raises(GitalyConfigError, match="must end in /repositories"):
        render_body(settings, "legacy", "15.0.0")
    # the newer syntaxes take any absolute path
    assert path in render_body(settings, "gitaly_configuration", "16.0.0")


def test_render_unknown_syntax():
    with pytest.raises(GitalyConfigError, match="unknown syntax"):
        render_body(gitaly_settings(), "toml", "17.0.0")


def test_owned_keys():
    gitaly = owned_keys(gitaly_settings())
    assert ("gitaly", "auth_token") in gitaly and ("gitaly", "configuration", "auth") in gitaly
    assert ("unicorn", "enable") in gitaly and ("grafana", "enable") in gitaly
    assert ("gitlab_rails", "gitaly_token") not in gitaly
    remote_only = owned_keys(rails_settings([REMOTE]))
    assert ("gitlab_rails", "gitaly_token") in remote_only and ("git_data_dirs",) in remote_only
    assert ("gitaly", "configuration") not in remote_only and ("gitaly", "auth_token") not in remote_only
    mixed = owned_keys(rails_settings([LOCAL, LOCAL_REMOTE]))
    assert ("gitaly", "configuration") in mixed and ("gitaly", "auth_token") in mixed
    assert ("gitaly", "configuration", "auth") in mixed


# every rendered output must be valid Ruby
RUBY_CASES = list(itertools.product(
    ["13.12.0", "15.11.2", "16.0.0", "16.3.0", "17.11.1", "18.0.0"],
    ["gitaly", "gitaly-tls", "gitaly-both", "rails-remote", "rails-mixed"],
))


def _settings_for(kind):
    tls = dict(tls_listen_addr="[::]:9999", tls_certificate_path="/etc/gitlab/ssl/it's.pem",
               tls_key_path="/etc/gitlab/ssl/k\\ey.pem")
    return {
        "gitaly": gitaly_settings,
        "gitaly-tls": lambda: gitaly_settings(**tls),
        "gitaly-both": lambda: gitaly_settings(listen_addr="10.1.2.3:8075", **tls),
        "rails-remote": lambda: rails_settings([REMOTE, REMOTE2]),
        "rails-mixed": lambda: rails_settings([LOCAL, LOCAL_REMOTE, REMOTE2]),
    }[kind]()


@pytest.mark.parametrize("version, kind", RUBY_CASES)
def test_rendered_block_is_valid_ruby(version, kind, ruby_syntax_ok):
    from ansible_collections.hapair.ha.plugins.module_utils.gitaly.version import select_syntax
    body = render_body(_settings_for(kind), select_syntax(version), version)
    ok, output = ruby_syntax_ok(wrap_block(body))
    assert ok, output
