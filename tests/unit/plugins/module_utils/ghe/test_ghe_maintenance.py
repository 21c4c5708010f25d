# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for module_utils/ghe/maintenance.py."""

from __future__ import annotations

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.ghe import GheError
from ansible_collections.hapair.ha.plugins.module_utils.ghe.maintenance import ensure_maintenance, parse_query
from ghe_fake import FakeAppliance, ScriptedRunner


@pytest.mark.parametrize(
    "rc, out, err, expected",
    [
        (0, "maintenance mode set\n", "", True),
        (0, "maintenance mode not set\n", "", False),
        (1, "maintenance mode not set\n", "", False),
        (0, "Maintenance   mode\nSET\n", "", True),
        (0, "", "maintenance mode not set\n", False),
        (0, "", "", GheError),
        (1, "ghe-maintenance: command not found\n", "", GheError),
        (0, "maintenance mode scheduled\n", "", GheError),
    ],
)
def test_parse_query(rc, out, err, expected):
    if expected is GheError:
        with pytest.raises(GheError, match="unexpected output from `ghe-maintenance -q`"):
            parse_query(rc, out, err)
    else:
        assert parse_query(rc, out, err) is expected


@pytest.mark.parametrize(
    "initially, state, mutating, changed, enabled",
    [
        (False, "on", ["ghe-maintenance -s"], True, True),
        (True, "on", [], False, True),
        (True, "off", ["ghe-maintenance -u"], True, False),
        (False, "off", [], False, False),
        (True, "query", [], False, True),
        (False, "query", [], False, False),
    ],
)
def test_transitions_check_mode_and_idempotency(initially, state, mutating, changed, enabled):
    node = FakeAppliance(maintenance=initially)
    checked = ensure_maintenance(node, state, check_mode=True)
    assert (checked["changed"], checked["enabled"], checked["commands"]) == (changed, enabled, mutating)
    assert node.commands == ["ghe-maintenance -q"]
    assert node.maintenance is initially

    node.calls.clear()
    result = ensure_maintenance(node, state)
    assert (result["changed"], result["enabled"], result["commands"]) == (changed, enabled, mutating)
    assert node.mutating_commands == mutating
    assert node.maintenance is enabled
    assert result["diff"] == {"before": {"enabled": initially}, "after": {"enabled": enabled}}
    if mutating:  # the change is confirmed by a second query
        assert node.commands == ["ghe-maintenance -q"] + mutating + ["ghe-maintenance -q"]

    node.calls.clear()
    assert ensure_maintenance(node, state)["changed"] is False
    assert node.mutating_commands == []


def test_failed_set_is_reported():
    run = ScriptedRunner({
        "ghe-maintenance -q": (0, "maintenance mode not set\n", ""),
        "ghe-maintenance -s": (1, "", "Error: permission denied\n"),
    })
    with pytest.raises(GheError, match=r"`ghe-maintenance -s` failed \(rc=1\): Error: permission denied"):
        ensure_maintenance(run, "on")


def test_set_that_does_not_stick_is_reported():
    run = ScriptedRunner({
        "ghe-maintenance -q": (0, "maintenance mode not set\n", ""),
        "ghe-maintenance -s": (0, "", ""),
    })
    with pytest.raises(GheError, match="still reports maintenance mode not set"):
        ensure_maintenance(run, "on")
    assert run.commands == ["ghe-maintenance -q", "ghe-maintenance -s", "ghe-maintenance -q"]


@pytest.mark.parametrize("state", ["enabled", True, "ON", None])
def test_bad_state_runs_nothing(state):
    node = FakeAppliance()
    with pytest.raises(GheError, match="state must be one of on, off, query"):
        ensure_maintenance(node, state)
    assert node.commands == []
