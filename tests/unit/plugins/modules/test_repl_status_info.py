# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""main() of hapair.ha.repl_status_info, through AnsibleModule with a fake appliance."""

from __future__ import annotations


import pytest

from ansible_collections.hapair.ha.plugins.modules import repl_status_info

import ghe_fake as fake  # the shared fake appliance; conftest.py puts it on sys.path


READ_ONLY = ["read /etc/github/repl-state", "read /data/user/common/cluster.conf", "ghe-repl-status -vv"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_replica_in_sync(check_mode):
    node = fake.FakeAppliance(role="replica", primary_ip="10.0.0.1", running=True)
    code, result, _raw, _kwargs = fake.run_module(repl_status_info.main, {}, node, check_mode=check_mode)
    assert code == 0
    assert result["changed"] is False
    assert (result["status"], result["exit_code"], result["in_sync"]) == ("OK", 0, True)
    assert [s["name"] for s in result["services"]][:3] == ["mysql", "redis", "elasticsearch"]
    assert result["services"][0]["details"] == ["IO running: Yes, SQL running: Yes, Delay: 0"]
    assert (result["role"], result["primary_host"], result["replica_count"]) == ("replica", "10.0.0.1", 1)
    assert result["replication_running"] is True
    assert node.commands == READ_ONLY


@pytest.mark.parametrize(
    "node_kwargs, status, exit_code, running, notes",
    [
        ({"role": "replica", "primary_ip": "10.0.0.1", "running": False}, "WARNING", 1, False,
         ["line 1: Replication is not running"]),
        ({"role": "replica", "primary_ip": "10.0.0.1", "running": True,
          "status_fixture": "status_critical_vv.txt", "status_rc": 2}, "CRITICAL", 2, True, []),
        ({"role": "standalone"}, "WARNING", 1, False, ["stderr: Error: replication is not configured on this node"]),
    ],
)
def test_not_in_sync_is_reported_not_failed(node_kwargs, status, exit_code, running, notes):
    node = fake.FakeAppliance(**node_kwargs)
    code, result, _raw, _kwargs = fake.run_module(repl_status_info.main, {}, node)
    assert code == 0 and "failed" not in result
    assert (result["status"], result["exit_code"], result["in_sync"]) == (status, exit_code, False)
    assert result["replication_running"] is running
    assert result["notes"] == notes
    assert result["changed"] is False


def test_primary_reports_its_replica_count():
    node = fake.FakeAppliance(role="primary", replicas=3)
    _code, result, _raw, _kwargs = fake.run_module(repl_status_info.main, {}, node)
    assert (result["role"], result["replica_count"], result["replication_running"]) == ("primary", 3, False)


def test_unreadable_state_fails_once_with_a_clear_message():
    runner = fake.ScriptedRunner({"read /etc/github/repl-state": (1, "", "Permission denied\n")})
    code, result, _raw, _kwargs = fake.run_module(repl_status_info.main, {}, runner)
    assert code == 1 and result["failed"] is True
    assert result["msg"] == (
        "Failed to read the replication status: cannot read /etc/github/repl-state: Permission denied"
    )


def test_rejects_unknown_options():
    node = fake.FakeAppliance()
    code, result, _raw, _kwargs = fake.run_module(repl_status_info.main, {"verbose": True}, node)
    assert code == 1 and "Unsupported parameters" in result["msg"]
    assert node.commands == []
