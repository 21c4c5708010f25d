# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""main() of hapair.ha.repl_setup, through AnsibleModule with a fake appliance."""

from __future__ import annotations

import json
import urllib.error

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.ghe import replication
from ansible_collections.hapair.ha.plugins.modules import repl_setup

import ghe_fake as fake  # the shared fake appliance; conftest.py puts it on sys.path


PRIMARY = "10.0.0.1"
SECRET = "Zz9-root-site-admin-pw"


def test_started_on_a_new_node_then_idempotent():
    node = fake.FakeAppliance()
    args = {"primary_host": PRIMARY, "state": "started"}
    code, result, _raw, kwargs = fake.run_module(repl_setup.main, args, node)
    assert code == 0
    assert result["changed"] is True
    assert result["commands"] == [f"ghe-repl-setup {PRIMARY}", "ghe-repl-start"]
    assert (result["role"], result["primary_host"], result["replication_running"]) == ("replica", PRIMARY, True)
    assert "diff" not in result
    # ghe-repl-setup gets exactly "N\n" on stdin, unmodified (binary_data) and in the C locale.
    setup_kwargs = [k for k in kwargs if "data" in k]
    assert setup_kwargs == [{"environ_update": {"LC_ALL": "C", "LANG": "C"}, "data": "N\n", "binary_data": True}]
    node.calls.clear()
    code, again, _raw, _kwargs = fake.run_module(repl_setup.main, args, node)
    assert (code, again["changed"], again["commands"]) == (0, False, [])
    assert node.mutating_commands == []


def test_check_mode_with_diff_runs_no_mutating_command():
    node = fake.FakeAppliance()
    code, result, _raw, _kwargs = fake.run_module(
        repl_setup.main, {"primary_host": PRIMARY, "state": "started", "add": True}, node, check_mode=True, diff=True
    )
    assert code == 0 and result["changed"] is True
    assert result["commands"] == [f"ghe-repl-setup --add {PRIMARY}", "ghe-repl-start"]
    assert node.commands == ["read /etc/github/repl-state", "ghe-repl-status -vv"]
    assert result["diff"] == {
        "before": {"role": "standalone", "primary_host": None, "replication_running": False},
        "after": {"role": "replica", "primary_host": PRIMARY, "replication_running": True},
    }


def test_key_pending_is_returned_without_failing():
    node = fake.FakeAppliance(key_authorized=False)
    code, result, _raw, _kwargs = fake.run_module(repl_setup.main, {"primary_host": PRIMARY, "state": "started"}, node)
    assert code == 0 and "failed" not in result
    assert result["needs_key_authorization"] is True
    assert result["public_key"].startswith("ssh-rsa AAAA")
    assert result["changed"] is False
    assert node.mutating_commands == [f"ghe-repl-setup {PRIMARY}"]


class _Response:
    def __init__(self, code):
        self.code = code

    def getcode(self):
        return self.code

    def close(self):
        pass


def _capture_manage_api(monkeypatch, node, status=201):
    """Stand in for ansible.module_utils.urls.open_url; records (url, keyword arguments)."""
    requests = []

    def fake_open_url(url, **kwargs):
        requests.append((url, kwargs))
        if 200 <= status < 300:
            node.key_authorized = True
            return _Response(status)
        raise urllib.error.HTTPError(url, status, "refused", {}, None)

    monkeypatch.setattr(replication, "open_url", fake_open_url)
    return requests


def test_key_authorised_through_the_manage_api_and_password_never_output(monkeypatch):
    node = fake.FakeAppliance(key_authorized=False)
    requests = _capture_manage_api(monkeypatch, node)
    args = {"primary_host": PRIMARY, "state": "started", "primary_api_password": SECRET}
    code, result, raw, _kwargs = fake.run_module(repl_setup.main, args, node, diff=True)
    assert code == 0
    assert result["key_authorized"] is True and result["needs_key_authorization"] is False
    assert result["commands"] == [f"ghe-repl-setup {PRIMARY}", f"ghe-repl-setup {PRIMARY}", "ghe-repl-start"]
    assert [url for url, _kw in requests] == [f"https://{PRIMARY}:8443/manage/v1/access/ssh"]
    assert result["public_key"].startswith("ssh-rsa AAAAB3NzaC1yc2E")
    kwargs = requests[0][1]
    assert kwargs["method"] == "POST" and json.loads(kwargs["data"]) == {"key": result["public_key"]}
    assert (kwargs["url_username"], kwargs["url_password"], kwargs["force_basic_auth"]) == ("api_key", SECRET, True)
    assert (kwargs["validate_certs"], kwargs["ca_path"], kwargs["use_proxy"]) == (True, None, True)
    assert kwargs["follow_redirects"] == "none"
    assert SECRET not in raw


def test_manage_api_url_tls_options(monkeypatch):
    node = fake.FakeAppliance(key_authorized=False)
    requests = _capture_manage_api(monkeypatch, node)
    args = {"primary_host": PRIMARY, "primary_api_password": SECRET, "primary_api_url": "https://ghe.example.com:8443/",
            "validate_certs": False, "ca_path": "/etc/ssl/ghe-ca.pem"}
    code, _result, _raw, _kwargs = fake.run_module(repl_setup.main, args, node)
    assert code == 0
    url, kwargs = requests[0]
    assert url == "https://ghe.example.com:8443/manage/v1/access/ssh"
    assert (kwargs["validate_certs"], kwargs["ca_path"]) == (False, "/etc/ssl/ghe-ca.pem")


def test_manage_api_rejection_fails_without_the_password(monkeypatch):
    node = fake.FakeAppliance(key_authorized=False)
    _capture_manage_api(monkeypatch, node, status=401)
    args = {"primary_host": PRIMARY, "state": "started", "primary_api_password": SECRET}
    code, result, raw, _kwargs = fake.run_module(repl_setup.main, args, node)
    assert code == 1
    assert result["msg"] == (
        f"Failed to set replication started against {PRIMARY}: the Manage API at "
        f"https://{PRIMARY}:8443/manage/v1/access/ssh refused the replica key: HTTP 401 "
        "(wrong root site administrator password?)"
    )
    assert result["changed"] is False
    assert SECRET not in raw
    assert "ghe-repl-start" not in node.commands


def test_manage_api_unreachable_error_is_scrubbed(monkeypatch):
    node = fake.FakeAppliance(key_authorized=False)

    def fake_open_url(url, **kwargs):
        raise urllib.error.URLError(f"https://api_key:{SECRET}@{PRIMARY}:8443 refused")

    monkeypatch.setattr(replication, "open_url", fake_open_url)
    code, result, raw, _kwargs = fake.run_module(
        repl_setup.main, {"primary_host": PRIMARY, "primary_api_password": SECRET}, node
    )
    assert code == 1 and "unreachable" in result["msg"]
    assert SECRET not in raw


def test_manage_api_not_called_in_check_mode(monkeypatch):
    node = fake.FakeAppliance(key_authorized=False)
    requests = _capture_manage_api(monkeypatch, node)
    code, result, raw, _kwargs = fake.run_module(
        repl_setup.main, {"primary_host": PRIMARY, "primary_api_password": SECRET}, node, check_mode=True
    )
    assert code == 0 and result["changed"] is True
    assert requests == [] and node.mutating_commands == []
    assert SECRET not in raw


@pytest.mark.parametrize(
    "node_kwargs, args, msg",
    [
        ({"role": "primary"}, {"primary_host": PRIMARY, "state": "started"},
         f"Failed to set replication started against {PRIMARY}: this node is or has been a configured primary"),
        ({"role": "replica", "primary_ip": "10.0.0.9"}, {"primary_host": PRIMARY},
         f"Failed to set replication present against {PRIMARY}: this node is already a replica of 10.0.0.9"),
        ({}, {"primary_host": PRIMARY, "add": True, "existing_replicas": 8},
         f"Failed to set replication present against {PRIMARY}: the primary already has 8 replicas"),
        ({}, {"state": "started"}, "state is started but all of the following are missing: primary_host"),
        ({}, {"primary_host": "10.0.0.1;reboot"}, "Failed to set replication present against 10.0.0.1;reboot: primary_host must be"),
    ],
)
def test_refusals_fail_once_and_change_nothing(node_kwargs, args, msg):
    node = fake.FakeAppliance(**node_kwargs)
    code, result, _raw, _kwargs = fake.run_module(repl_setup.main, args, node)
    assert code == 1 and result["failed"] is True
    assert result["msg"].startswith(msg)
    assert node.mutating_commands == []


def test_overwrite_primary_data_answers_yes():
    node = fake.FakeAppliance(role="primary")
    code, result, _raw, kwargs = fake.run_module(
        repl_setup.main, {"primary_host": PRIMARY, "overwrite_primary_data": True}, node
    )
    assert code == 0 and result["changed"] is True
    assert [k["data"] for k in kwargs if "data" in k] == ["y\n"]
    assert node.role == "replica"


def test_absent_needs_no_primary_host_and_warnings_are_emitted():
    node = fake.FakeAppliance(role="replica", primary_ip=PRIMARY, running=True)
    code, result, _raw, _kwargs = fake.run_module(repl_setup.main, {"state": "absent"}, node)
    assert code == 0 and result["commands"] == ["ghe-repl-teardown"]
    node = fake.FakeAppliance()
    _code, result, _raw, _kwargs = fake.run_module(
        repl_setup.main, {"primary_host": PRIMARY, "existing_replicas": 2}, node
    )
    # ansible-core 2.19 returns structured warnings; the text is inside them
    assert "replaces the existing replication configuration" in json.dumps(result["warnings"])
