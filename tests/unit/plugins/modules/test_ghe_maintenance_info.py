# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""main() of hapair.ha.ghe_maintenance_info, through AnsibleModule with a fake appliance."""

from __future__ import annotations

import pytest

from ansible_collections.hapair.ha.plugins.modules import ghe_maintenance_info

import ghe_fake as fake  # the shared fake appliance; conftest.py puts it on sys.path


@pytest.mark.parametrize("enabled", [False, True])
@pytest.mark.parametrize("check_mode", [False, True])
def test_reports_the_mode_and_changes_nothing(enabled, check_mode):
    node = fake.FakeAppliance(maintenance=enabled)
    code, result, _raw, _kwargs = fake.run_module(ghe_maintenance_info.main, {}, node, check_mode=check_mode)
    assert code == 0
    assert (result["changed"], result["enabled"]) == (False, enabled)
    assert node.commands == ["ghe-maintenance -q"] and node.mutating_commands == []
    assert node.maintenance is enabled
    assert "diff" not in result and "commands" not in result


def test_reports_the_mode_with_the_query_exit_code_ignored():
    runner = fake.ScriptedRunner({"ghe-maintenance -q": (1, "maintenance mode set\n", "")})
    code, result, _raw, _kwargs = fake.run_module(ghe_maintenance_info.main, {}, runner)
    assert code == 0 and result["enabled"] is True and result["changed"] is False


@pytest.mark.parametrize(
    "answer, detail",
    [
        ((127, "", "ghe-maintenance: command not found\n"), "(rc=127): ghe-maintenance: command not found"),
        ((0, "maintenance mode scheduled\n", ""), "(rc=0): maintenance mode scheduled"),
    ],
)
def test_unexpected_output_one_clear_error(answer, detail):
    runner = fake.ScriptedRunner({"ghe-maintenance -q": answer})
    code, result, _raw, _kwargs = fake.run_module(ghe_maintenance_info.main, {}, runner)
    assert code == 1
    assert result["msg"] == f"Failed to read maintenance mode: unexpected output from `ghe-maintenance -q` {detail}"
    assert runner.commands == ["ghe-maintenance -q"]


def test_takes_no_options():
    node = fake.FakeAppliance()
    code, result, _raw, _kwargs = fake.run_module(ghe_maintenance_info.main, {"state": "on"}, node)
    assert code == 1 and "Unsupported parameters" in result["msg"]
    assert node.commands == []
