# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""main() of hapair.ha.ghe_maintenance, through AnsibleModule with a fake appliance."""

from __future__ import annotations


from pathlib import Path

import pytest
import yaml

from ansible_collections.hapair.ha.plugins.modules import ghe_maintenance

import ghe_fake as fake  # the shared fake appliance; conftest.py puts it on sys.path


@pytest.mark.parametrize(
    "initially, args, check_mode, changed, enabled, mutating",
    [
        (False, {"state": "on"}, False, True, True, ["ghe-maintenance -s"]),
        (False, {"state": "on"}, True, True, True, []),
        (True, {"state": "on"}, False, False, True, []),
        (True, {"state": "off"}, False, True, False, ["ghe-maintenance -u"]),
        (True, {"state": "off"}, True, True, False, []),
        # YAML 1.1 turns unquoted on/off into booleans; AnsibleModule maps them back
        (False, {"state": True}, False, True, True, ["ghe-maintenance -s"]),
        (True, {"state": False}, False, True, False, ["ghe-maintenance -u"]),
    ],
)
def test_main(initially, args, check_mode, changed, enabled, mutating):
    node = fake.FakeAppliance(maintenance=initially)
    code, result, _raw, _kwargs = fake.run_module(ghe_maintenance.main, args, node, check_mode=check_mode)
    assert code == 0
    assert (result["changed"], result["enabled"]) == (changed, enabled)
    assert node.mutating_commands == mutating
    assert node.maintenance is (enabled if not check_mode else initially)
    assert "diff" not in result


def test_diff_mode():
    node = fake.FakeAppliance(maintenance=False)
    _code, result, _raw, _kwargs = fake.run_module(ghe_maintenance.main, {"state": "on"}, node, diff=True)
    assert result["diff"] == {"before": {"enabled": False}, "after": {"enabled": True}}


def test_failure_message():
    runner = fake.ScriptedRunner({
        "ghe-maintenance -q": (0, "maintenance mode not set\n", ""),
        "ghe-maintenance -s": (1, "", "Error: permission denied\n"),
    })
    code, result, _raw, _kwargs = fake.run_module(ghe_maintenance.main, {"state": "on"}, runner)
    assert code == 1
    assert result["msg"] == "Failed to turn on maintenance mode: `ghe-maintenance -s` failed (rc=1): Error: permission denied"


def test_bad_choice_runs_nothing():
    node = fake.FakeAppliance()
    code, result, _raw, _kwargs = fake.run_module(ghe_maintenance.main, {"state": "enabled"}, node)
    assert code == 1 and "value of state must be one of" in result["msg"]
    assert node.commands == []


@pytest.mark.parametrize("args", [{}, {"state": "query"}])
def test_query_still_works_but_is_deprecated(args):
    # What hapair.ha.maintenance did (its name redirects here): read-only, with a deprecation.
    node = fake.FakeAppliance(maintenance=True)
    code, result, _raw, _kwargs = fake.run_module(ghe_maintenance.main, args, node)
    assert code == 0
    assert (result["changed"], result["enabled"], result["commands"]) == (False, True, [])
    assert node.commands == ["ghe-maintenance -q"]
    [deprecation] = result["deprecations"]  # ansible-core 2.19's shape of a deprecation
    assert "use hapair.ha.ghe_maintenance_info" in deprecation["event"]["msg"]
    assert (deprecation["version"], deprecation["deprecator"]["resolved_name"]) == ("2.0.0", "hapair.ha")


def test_redirect_of_the_former_name():
    runtime = yaml.safe_load((Path(__file__).resolve().parents[4] / "meta" / "runtime.yml").read_text())
    routing = runtime["plugin_routing"]["modules"]["maintenance"]
    assert routing["redirect"] == "hapair.ha.ghe_maintenance"
    assert routing["deprecation"]["removal_version"] == "2.0.0"
    assert "hapair.ha.ghe_maintenance" in routing["deprecation"]["warning_text"]
