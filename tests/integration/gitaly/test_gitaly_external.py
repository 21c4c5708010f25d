"""playbooks/gitaly_external.yml (roles gitaly_server, gitlab_gitaly_client) against the lab.

The Omnibus nodes are the lab's simulation (tests/lab/sim/gitlab): reconfigure evaluates gitlab.rb
with real Ruby and applies GitLab's rules for the node's version, Gitaly listens and requires the
token, a push runs the pre-receive hook against Rails' internal API with the GitLab Shell secret.
Every assertion reads state back from the hosts. Tests run in file order on one lab; each brings
the hosts to the state it needs (``reinstall``/``converged``).
"""
from __future__ import annotations

import re

import pytest

from .conftest import GITALY, HOSTS, RAILS, VERSION, GitalyLab

pytestmark = pytest.mark.lab

STORAGE_PATHS = {"gitaly-1": "/srv/gitaly/storage1/repositories", "gitaly-2": "/srv/gitaly/storage2/repositories"}
REMOTE = {"storage1": "gitaly-1", "storage2": "gitaly-2"}
OLD_PROJECT = "legacy/old-project"
OLD_README = "pushed to the Rails node before Gitaly moved"


def gitaly_snapshot(glab: GitalyLab) -> dict:
    snap = glab.snapshot()
    return {host: snap[host] for host in GITALY}


def fresh_with_old_project(glab: GitalyLab, version: str) -> dict:
    glab.reinstall(version)
    return glab.project("create", OLD_PROJECT, "--storage", "default", "--file", f"README.md={OLD_README}")


def assert_check_passes(glab: GitalyLab):
    out = glab.gitaly_check()
    assert "Gitaly: ... default ... OK" in out, out
    for storage in REMOTE:
        assert f"\n{storage} ... OK" in out, out
    assert "FAIL" not in out


def assert_push_lands_on_gitaly_node(glab: GitalyLab, name: str, storage: str):
    created = glab.project("create", name, "--storage", storage, "--file", f"README.md=hello from {name}")
    host = REMOTE[storage]
    path = f"{STORAGE_PATHS[host]}/{created['disk_path']}"
    assert re.fullmatch(r"@hashed/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.git", created["disk_path"])
    # the repository is on the Gitaly node's storage, owned by git, with the pushed commit...
    assert glab.stat(host, path)[1:] == ("git", "git")
    log = glab.exec(host, "git", "-c", "safe.directory=*", "--git-dir", path, "log", "--format=%H", "main").stdout.split()
    assert log == [created["commit"]]
    assert glab.exec(host, "git", "-c", "safe.directory=*", "--git-dir", path, "show", "main:README.md").stdout == f"hello from {name}"
    # ...and on no other node
    for other in set(GITALY) - {host}:
        assert glab.exec(other, "test", "-e", f"{STORAGE_PATHS[other]}/{created['disk_path']}", check=False).returncode != 0
    assert glab.project("show", name)["content"] == f"hello from {name}"


@pytest.fixture(scope="module")
def converged(glab):
    """GitLab 18.2 (modern syntax) hosts converged once by the playbook (with -v output)."""
    old = fresh_with_old_project(glab, VERSION)
    before = {host: glab.read(host, "/etc/gitlab/gitlab.rb") for host in HOSTS}
    first = glab.converge("-v")
    return {"first": first, "old": old, "before": before}


def test_converge_then_idempotent(glab, converged):
    first = converged["first"]
    assert first.rc == 0, first.stdout[-4000:]
    assert all(first.recap[h]["changed"] > 0 for h in HOSTS), first.recap
    rails_secrets = glab.read(RAILS, "/etc/gitlab/gitlab-secrets.json")
    for host in GITALY:
        # only Gitaly (and what Omnibus keeps on a Gitaly node) runs; everything else is off
        services = glab.status(host)
        assert set(services) == {"gitaly", "logrotate", "node-exporter"}, services
        assert services["gitaly"].startswith("run: gitaly: (pid ") and "; run: log: (pid " in services["gitaly"]
        assert glab.listening(host, 8075)
        rb = glab.read(host, "/etc/gitlab/gitlab.rb")
        assert "gitlab.rb syntax 'repositories_storages'" in rb and "gitaly['configuration'] = {" in rb
        assert f"token: '{glab.token}'," in rb and "gitaly['auth_token']" not in rb
        # backups are off by default (gitaly_server_backup): nothing but gitlab.rb was written
        assert glab.sh(host, "ls -a /etc/gitlab | grep '^gitlab.rb.' || true").stdout == ""
        # the Rails node's secrets, byte for byte, mode 0600 root
        assert glab.read(host, "/etc/gitlab/gitlab-secrets.json") == rails_secrets
        assert glab.stat(host, "/etc/gitlab/gitlab-secrets.json") == ("600", "root", "root")
        # storage directories as GitLab wants them
        for path in ("/var/opt/gitlab/git-data/repositories", STORAGE_PATHS[host]):
            assert glab.stat(host, path) == ("2770", "git", "git"), path
        # the internal API host resolves to the Rails node (hapair.ha.hosts_entries block)
        assert glab.exec(host, "getent", "hosts", "gitlab.example.com").stdout.split()[0] == glab.lab.ip(RAILS)
        assert "# BEGIN hapair.ha.gitaly_server hosts" in glab.read(host, "/etc/hosts")
    rails_rb = glab.read(RAILS, "/etc/gitlab/gitlab.rb")
    assert "'storage1' => { 'gitaly_address' => 'tcp://gitaly-1:8075' }," in rails_rb
    assert "'default' => { 'gitaly_address' => 'unix:/var/opt/gitlab/gitaly/gitaly.socket' }," in rails_rb
    assert "gitlab_rails['repositories_storages'] = {" in rails_rb and "git_data_dirs" not in rails_rb.split("# BEGIN")[-1]
    assert_check_passes(glab)
    assert "Gitaly check passed for default, storage1, storage2" in first.stdout

    second = glab.converge()
    assert second.rc == 0 and second.changed == 0, second.stdout[-4000:]


def test_pushes_land_on_the_gitaly_nodes_and_old_projects_stay(glab, converged):
    assert_push_lands_on_gitaly_node(glab, "team/one", "storage1")
    assert_push_lands_on_gitaly_node(glab, "team/two", "storage2")
    # `default` stayed local on the Rails node: the project pushed before the move still reads
    old = glab.project("show", OLD_PROJECT)
    assert old["content"] == OLD_README and old["disk_path"] == converged["old"]["disk_path"]
    assert glab.exec(RAILS, "test", "-d", f"/var/opt/gitlab/git-data/repositories/{old['disk_path']}").returncode == 0


def test_check_mode_on_drift_reports_masked_diff_and_changes_nothing(glab, converged):
    # gitaly-1 lost the Rails node's secrets (reconfigure made its own); on gitaly-2 someone
    # edited the token and reconfigured
    glab.sh("gitaly-1", "rm /etc/gitlab/gitlab-secrets.json && gitlab-ctl reconfigure >/dev/null")
    glab.sh("gitaly-2", "sed -i \"s/^    token: .*/    token: 'drifted-token-value',/\" /etc/gitlab/gitlab.rb && "
                        "gitlab-ctl reconfigure >/dev/null")
    # both drifts are live: pushes to gitaly-1 are refused by Rails, gitaly-2 refuses Rails' token
    refused = glab.project("create", "team/refused", "--storage", "storage1", check=False)
    assert refused["result"] == "failed" and "GitLab: 401 Unauthorized" in refused["error"], refused
    assert "storage2 ... FAIL: 7:permission denied" in glab.gitaly_check()
    drifted = gitaly_snapshot(glab)
    assert "drifted-token-value" in drifted["gitaly-2"]

    check = glab.playbook(check=True, diff=True)
    assert check.rc == 0, check.stdout[-3000:]
    assert check.recap["gitaly-1"]["changed"] == 1 and check.recap["gitaly-2"]["changed"] == 1
    assert check.recap[RAILS]["changed"] == 0
    assert "-    token: '<hidden>'," in check.stdout and "+    token: '<auth_token hidden>'," in check.stdout
    assert "drifted-token-value" not in check.stdout and glab.token not in check.stdout
    assert gitaly_snapshot(glab) == drifted

    fixed = glab.converge(extra_vars={"gitaly_server_backup": True})
    assert fixed.rc == 0, fixed.stdout[-3000:]
    # gitaly-2's drifted gitlab.rb went to a timestamped backup (module.backup_local), mode kept
    backups = glab.sh("gitaly-2", "cd /etc/gitlab && ls gitlab.rb.*").stdout.split()
    assert len(backups) == 1 and re.fullmatch(r"gitlab\.rb\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~", backups[0]), backups
    assert "drifted-token-value" in glab.read("gitaly-2", f"/etc/gitlab/{backups[0]}")
    assert glab.stat("gitaly-2", f"/etc/gitlab/{backups[0]}")[0] == glab.stat("gitaly-2", "/etc/gitlab/gitlab.rb")[0]
    assert glab.sh("gitaly-1", "ls -a /etc/gitlab | grep '^gitlab.rb.' || true").stdout == ""  # gitlab.rb unchanged there
    # gitaly-1: secrets + reconfigure; gitaly-2: gitlab.rb + reconfigure; Rails untouched
    assert (fixed.recap["gitaly-1"]["changed"], fixed.recap["gitaly-2"]["changed"], fixed.recap[RAILS]["changed"]) == (2, 2, 0)
    assert glab.read("gitaly-1", "/etc/gitlab/gitlab-secrets.json") == glab.read(RAILS, "/etc/gitlab/gitlab-secrets.json")
    assert_check_passes(glab)
    assert glab.project("create", "team/refused", "--storage", "storage1")["result"] == "created"


def test_wrong_token_on_the_rails_side_fails_clearly(glab, converged):
    wrong = glab.playbook(extra_vars={"gitlab_gitaly_client_auth_token": "a-wrong-token-for-rails",
                                      "gitlab_gitaly_client_check_retries": 1})
    assert wrong.rc != 0 and wrong.recap[RAILS]["failed"] == 1
    assert "Gitaly check failed on gitlab-rails for storage1, storage2" in wrong.stdout
    assert "storage1 ... FAIL: 7:permission denied" in wrong.stdout
    assert "token differs from the Gitaly server's" in wrong.stdout
    assert "a-wrong-token-for-rails" not in wrong.stdout
    # the Gitaly servers were configured and are fine; the Rails node was changed and reconfigured
    assert wrong.recap["gitaly-1"]["failed"] == 0 and wrong.recap[RAILS]["changed"] == 2
    assert "storage1 ... FAIL: 7:permission denied" in glab.gitaly_check()


TLS_VARS = {
    "gitaly_server_listen_addr": "",  # TLS only
    "gitaly_server_tls_listen_addr": "0.0.0.0:9999",
    "gitaly_server_tls_certificate_path": "/etc/gitlab/ssl/gitaly.crt",
    "gitaly_server_tls_key_path": "/etc/gitlab/ssl/gitaly.key",
    "gitlab_gitaly_client_storages": [
        {"name": "default", "path": "/var/opt/gitlab/git-data/repositories"},
        {"name": "storage1", "address": "tls://gitaly-1:9999"},
        {"name": "storage2", "address": "tls://gitaly-2:9999"},
    ],
}


def make_certificates(glab: GitalyLab):
    """A self-signed certificate per Gitaly node, trusted by the Rails node (/etc/gitlab/trusted-certs)."""
    for host in GITALY:
        glab.sh(host, "mkdir -p /etc/gitlab/ssl && openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
                      f"-subj /CN={host} -addext subjectAltName=DNS:{host} -keyout /etc/gitlab/ssl/gitaly.key "
                      "-out /etc/gitlab/ssl/gitaly.crt 2>/dev/null")
        glab.exec(RAILS, "sh", "-c", f"mkdir -p /etc/gitlab/trusted-certs && cat > /etc/gitlab/trusted-certs/{host}.crt",
                  input=glab.read(host, "/etc/gitlab/ssl/gitaly.crt"))


@pytest.mark.parametrize("version, tls, gitaly_marks, rails_marks", [
    ("15.4.2", False, ["gitaly['listen_addr'] = '0.0.0.0:8075'", "gitaly['auth_token'] = '", "git_data_dirs({"],
     ["git_data_dirs({", "'default' => { 'path' => '/var/opt/gitlab/git-data' },", "gitaly['auth_token'] = '"]),
    # 16.x/17.x, and TLS only: Gitaly listens on TLS with its certificate, Rails trusts it
    ("17.11.1", True, ["gitaly['configuration'] = {", "tls_listen_addr: '0.0.0.0:9999',",
                       "certificate_path: '/etc/gitlab/ssl/gitaly.crt',"],
     ["git_data_dirs({", "'storage1' => { 'gitaly_address' => 'tls://gitaly-1:9999' },", "gitaly['configuration'] = {"]),
], ids=["15.4-legacy", "17.11-tls"])
def test_older_versions_get_their_syntax(glab, version, tls, gitaly_marks, rails_marks):
    fresh_with_old_project(glab, version)
    extra = None
    if tls:
        make_certificates(glab)
        extra = TLS_VARS
    first = glab.converge(extra_vars=extra)
    assert first.rc == 0, first.stdout[-4000:]
    for host in GITALY:
        rb = glab.read(host, "/etc/gitlab/gitlab.rb").split("# BEGIN hapair.ha.gitaly_remote")[1]
        assert all(mark in rb for mark in gitaly_marks), rb
        assert set(glab.status(host)) == {"gitaly", "logrotate", "node-exporter"}
        assert glab.listening(host, 9999 if tls else 8075) and not glab.listening(host, 8075 if tls else 9999)
    rb = glab.read(RAILS, "/etc/gitlab/gitlab.rb").split("# BEGIN hapair.ha.gitaly_remote")[1]
    assert all(mark in rb for mark in rails_marks), rb
    assert "repositories_storages" not in rb
    assert_check_passes(glab)
    assert_push_lands_on_gitaly_node(glab, "team/one", "storage1")
    assert glab.project("show", OLD_PROJECT)["content"] == OLD_README
    second = glab.converge(extra_vars=extra)
    assert second.rc == 0 and second.changed == 0, second.stdout[-3000:]
    if tls:  # the Rails node must trust the certificate: without it the storage is unreachable
        glab.exec(RAILS, "rm", "/etc/gitlab/trusted-certs/gitaly-2.crt")
        assert "storage2 ... FAIL: 14:failed to connect to all addresses" in glab.gitaly_check()


# ---- each syntax is accepted by its versions and rejected by the others -------------------------

GITALY_ARGS = {"role": "gitaly", "internal_api_url": "http://gitlab.example.com",
               "storages": [{"name": "default", "path": "/var/opt/gitlab/git-data/repositories"}]}
RAILS_ARGS = {"role": "rails", "storages": [{"name": "default", "path": "/var/opt/gitlab/git-data/repositories"},
                                            {"name": "storage1", "address": "tcp://gitaly-1:8075"}]}


@pytest.mark.parametrize("host, args, written_for, node, expect", [
    # legacy flat keys (and grafana, which the legacy block disables) on a modern node: refused
    ("gitaly-2", GITALY_ARGS, "15.11.0", "16.11.0", ["Removed configurations found in gitlab.rb. Aborting reconfigure.",
                                                     "gitaly['listen_addr'] has been deprecated since 15.10 and was removed in 16.0",
                                                     "gitaly['auth_token'] has been deprecated since 15.10 and was removed in 16.0",
                                                     "grafana['enable'] has been deprecated since 16.0 and was removed in 16.3"]),
    ("gitaly-2", GITALY_ARGS, "15.11.0", "17.11.1", ["Encountered unsupported config key 'grafana'"]),
    ("gitlab-rails", RAILS_ARGS, "17.11.1", "18.2.1", ["git_data_dirs has been deprecated since 17.8 and was removed in 18.0"]),
    # gitaly['configuration'] before 15.10 is a key Omnibus does not know: no listener, no token
    ("gitaly-2", GITALY_ARGS, "18.2.1", "15.4.2", "ignored"),
    # each syntax on its own versions
    ("gitaly-2", GITALY_ARGS, "15.4.2", "15.4.2", "ok"),
    ("gitaly-2", GITALY_ARGS, "17.11.1", "17.11.1", "ok"),
    ("gitaly-2", GITALY_ARGS, "18.2.1", "18.2.1", "ok"),
])
def test_syntax_accepted_only_by_matching_versions(glab, host, args, written_for, node, expect):
    glab.reinstall(node, hosts=(host,))
    written = glab.adhoc(host, "hapair.ha.gitaly_remote", dict(args, auth_token=glab.token, gitlab_version=written_for))
    assert "CHANGED" in written.stdout, written.stdout + written.stderr
    reconfigure = glab.exec(host, "gitlab-ctl", "reconfigure", check=False)
    gitaly_status = glab.status(host).get("gitaly", "")
    if expect == "ok":
        assert reconfigure.returncode == 0, reconfigure.stdout
        assert gitaly_status.startswith("run: gitaly:") and glab.listening(host, 8075)
        assert '"token": "' + glab.token + '"' in glab.read(host, "/var/opt/gitlab/gitaly/config.json")
    elif expect == "ignored":
        assert reconfigure.returncode == 0, reconfigure.stdout
        assert gitaly_status.startswith("run: gitaly:") and not glab.listening(host, 8075)
        assert '"token": ""' in glab.read(host, "/var/opt/gitlab/gitaly/config.json")
    else:
        assert reconfigure.returncode == 1
        assert "There was an error running gitlab-ctl reconfigure:" in reconfigure.stdout
        for message in expect:
            assert message in reconfigure.stdout, reconfigure.stdout


# ---- bad input: one clear error, nothing changed anywhere ----------------------------------------

@pytest.fixture(scope="module")
def pristine(glab):
    glab.reinstall(VERSION)
    return glab.snapshot()


@pytest.mark.parametrize("extra, message", [
    ({"gitaly_auth_token": ""}, "gitaly_auth_token is required"),
    ({"gitaly_server_storages": [{"name": "storage1", "path": "/srv/gitaly/s1/repositories"}]},
     "no storage named 'default'"),
    ({"gitaly_server_listen_addr": "0.0.0.0"}, "listen_addr '0.0.0.0' is not HOST:PORT"),
    ({"gitaly_server_internal_api_url": "gitlab.example.com"}, "gitaly_server_internal_api_url must be the http(s):// URL"),
    # a Rails-side mistake is found before any Gitaly node is touched
    ({"gitlab_gitaly_client_storages": [{"name": "default", "path": "/var/opt/gitlab/git-data/repositories"},
                                        {"name": "storage1", "address": "tcp://gitaly-1:8075"},
                                        {"name": "storage1", "address": "tcp://gitaly-2:8075"}]},
     "duplicate storage name 'storage1'"),
])
def test_bad_input_one_clear_error_nothing_changed(glab, pristine, extra, message):
    result = glab.playbook(extra_vars=extra)
    assert result.rc != 0
    assert message in result.stdout, result.stdout[-3000:]
    assert result.changed == 0
    assert "PLAY [Gitaly servers]" not in result.stdout  # stopped in the validation play
    assert glab.snapshot() == pristine


def test_check_mode_on_fresh_nodes_changes_nothing(glab, pristine):
    check = glab.playbook(check=True, diff=True)
    assert check.rc == 0, check.stdout[-3000:]
    assert all(check.recap[host]["changed"] > 0 for host in HOSTS), check.recap
    assert glab.snapshot() == pristine


# ---- secrets never show ----------------------------------------------------------------------------

def test_token_and_secrets_never_in_output_or_logs(glab):
    assert len(glab.outputs) >= 10 and glab.secrets, "the earlier tests must have run"
    corpus = "\n".join(glab.outputs)
    for host in HOSTS:
        corpus += glab.sh(host, "cat /var/log/gitlab/*/current /var/log/lab/*.log 2>/dev/null", check=False).stdout
    assert "Gitaly check passed for default, storage1, storage2" in corpus  # the corpus is the real one
    assert glab.token not in corpus
    leaked = [s[:6] + "…" for s in glab.secrets if s in corpus]
    assert not leaked, f"secret values from gitlab-secrets.json appear in output or logs: {leaked}"
