# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""main() of hapair.ha.repl_promote, through AnsibleModule with a fake appliance."""

from __future__ import annotations

import json

import pytest

from ansible_collections.hapair.ha.plugins.modules import repl_promote

import ghe_fake as fake  # the shared fake appliance; conftest.py puts it on sys.path


PRIMARY = "10.0.0.1"


def _node(monkeypatch, **kwargs):
    base = {"role": "replica", "primary_ip": PRIMARY, "running": True}
    base.update(kwargs)
    node = fake.FakeAppliance(**base)
    seen = []

    def http_status(url, timeout=10, validate_certs=True, ca_path=None):
        seen.append((validate_certs, ca_path))
        return node.http_status(url)

    monkeypatch.setattr(repl_promote, "http_status", http_status)
    node.validate_certs_seen = seen
    return node


def test_planned_promotion(monkeypatch):
    node = _node(monkeypatch)
    code, result, _raw, _kwargs = fake.run_module(repl_promote.main, {}, node, diff=True)
    assert code == 0
    assert (result["changed"], result["promoted"], result["role"]) == (True, True, "primary")
    assert (result["status_code"], result["primary_status_code"]) == (200, 503)
    assert result["commands"] == ["ghe-repl-promote"]
    assert result["diff"] == {"before": {"role": "replica"}, "after": {"role": "primary"}}
    assert node.mutating_commands == ["ghe-repl-promote"]
    assert node.http_calls == [f"http://{PRIMARY}/status", "http://localhost/status"]
    assert node.validate_certs_seen == [(True, None), (True, None)]


def test_check_mode_promotes_nothing(monkeypatch):
    node = _node(monkeypatch)
    args = {"validate_certs": False, "ca_path": "/etc/ssl/ghe-ca.pem"}
    code, result, _raw, _kwargs = fake.run_module(repl_promote.main, args, node, check_mode=True)
    assert code == 0 and result["changed"] is True and result["promoted"] is False
    assert node.mutating_commands == [] and node.role == "replica"
    assert node.validate_certs_seen == [(False, "/etc/ssl/ghe-ca.pem")]


@pytest.mark.parametrize(
    "node_kwargs, args, msg",
    [
        ({"status_fixture": "status_critical_vv.txt", "status_rc": 2}, {},
         "Failed to promote the replica: replication is not in sync (CRITICAL: CRITICAL: git replication is behind"),
        ({"primary_http": 200}, {}, "Failed to promote the replica: the primary still serves requests"),
        ({"role": "standalone", "maintenance": True}, {}, "Failed to promote the replica: this node is not a replica"),
        ({}, {"status_timeout": "soon"}, "argument 'status_timeout' is of type"),
    ],
)
def test_refusals(monkeypatch, node_kwargs, args, msg):
    node = _node(monkeypatch, **node_kwargs)
    code, result, _raw, _kwargs = fake.run_module(repl_promote.main, args, node)
    assert code == 1 and result["failed"] is True
    assert result["msg"].startswith(msg)
    assert node.mutating_commands == []


@pytest.mark.parametrize("args", [{"require_in_sync": False}, {"primary_unreachable": True}])
def test_overrides_allow_promotion_on_critical(monkeypatch, args):
    node = _node(monkeypatch, status_fixture="status_critical_vv.txt", status_rc=2)
    code, result, _raw, _kwargs = fake.run_module(repl_promote.main, args, node)
    assert code == 0 and result["promoted"] is True
    assert result["replication_status"] == "CRITICAL"
    assert node.mutating_commands == ["ghe-repl-promote"]
    if args.get("primary_unreachable"):
        # ansible-core 2.19 returns structured warnings; the text is inside them
        assert "primary_unreachable=true: promoting without checking" in json.dumps(result["warnings"])


def test_status_never_200_fails_but_says_promoted(monkeypatch):
    node = _node(monkeypatch)
    node._promote = lambda: (0, fake.fixture("promote_success.txt"), "")  # pylint: disable=protected-access
    node.maintenance = True  # keeps the local /status at 503 after the promotion
    code, result, _raw, _kwargs = fake.run_module(repl_promote.main, {"status_timeout": 0}, node)
    assert code == 1
    assert result["promoted"] is True and result["changed"] is True
    assert result["msg"] == (
        "Failed to promote the replica: the replica was promoted but http://localhost/status answers 503 after 0s"
    )


def test_already_active_primary_is_unchanged(monkeypatch):
    node = _node(monkeypatch, role="primary")
    code, result, _raw, _kwargs = fake.run_module(repl_promote.main, {}, node)
    assert code == 0 and result["changed"] is False and result["promoted"] is False
    assert node.mutating_commands == []
