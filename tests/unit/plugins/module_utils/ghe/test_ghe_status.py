# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the ghe-repl-status parser (module_utils/ghe/status.py)."""

from __future__ import annotations

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.ghe.status import (
    not_ok_summary,
    parse_status,
    service_name,
    worst_status,
)
from ghe_fake import fixture


@pytest.mark.parametrize(
    "fixture_name, rc, status, in_sync, names, statuses",
    [
        (
            "status_ok_vv.txt", 0, "OK", True,
            ["mysql", "redis", "elasticsearch", "git", "pages", "alambic", "git-hooks", "consul"],
            ["OK"] * 8,
        ),
        (
            "status_warning_vv.txt", 1, "WARNING", False,
            ["mysql", "redis", "elasticsearch", "git", "pages"],
            ["WARNING", "OK", "OK", "WARNING", "OK"],
        ),
        (
            "status_critical_vv.txt", 2, "CRITICAL", False,
            ["mysql", "redis", "elasticsearch", "git", "pages"],
            ["OK", "OK", "OK", "CRITICAL", "WARNING"],
        ),
        ("status_not_running.txt", 1, "WARNING", False, [], []),
    ],
)
def test_realistic_outputs(fixture_name, rc, status, in_sync, names, statuses):
    parsed = parse_status(fixture(fixture_name), rc)
    assert parsed["status"] == status
    assert parsed["exit_code"] == rc
    assert parsed["in_sync"] is in_sync
    assert [s["name"] for s in parsed["services"]] == names
    assert [s["status"] for s in parsed["services"]] == statuses
    assert parsed["replication_running"] is bool(names)


def test_details_attach_to_the_preceding_service():
    services = {s["name"]: s for s in parse_status(fixture("status_ok_vv.txt"), 0)["services"]}
    assert services["mysql"]["details"] == ["IO running: Yes, SQL running: Yes, Delay: 0"]
    assert services["redis"]["details"][0] == "master_host:10.0.0.1"
    assert len(services["redis"]["details"]) == 5
    # JSON detail block keeps its inner indentation (only the "| " prefix is removed).
    assert services["elasticsearch"]["details"][0] == "{"
    assert services["elasticsearch"]["details"][2] == '  "status" : "green",'
    assert services["elasticsearch"]["details"][-1] == "}"
    assert services["git"]["message"] == "git replica is in sync at position 0."
    assert services["git"]["details"][1].split() == ["repositories", "366", "366", "0", "0", "0.0"]
    assert services["git-hooks"]["details"] == []
    assert services["elasticsearch"]["message"] == (
        "elasticsearch cluster is in sync (0 shards initializing, 0 shards unassigned)"
    )


def test_not_running_is_a_note_not_a_service():
    parsed = parse_status(fixture("status_not_running.txt"), 1)
    assert parsed["services"] == []
    assert parsed["notes"] == ["line 1: Replication is not running"]


def test_malformed_lines_are_kept_as_notes():
    parsed = parse_status(fixture("status_malformed.txt"), 2)
    assert [(s["name"], s["status"]) for s in parsed["services"]] == [
        ("mysql", "OK"),
        ("could", "CRITICAL"),
        ("alambic-storage", "WARNING"),
    ]
    mysql, could, _alambic = parsed["services"]
    assert mysql["details"] == ["IO running: Yes, SQL running: Yes, Delay: 0"]
    assert could["details"] == ["ssh: connect to host 10.0.0.1 port 122: Connection refused"]
    assert parsed["notes"] == [
        "line 1: detail line before any status line: | orphan detail before any status",
        "line 2: Checking replication status ...",
        "line 5: ok: redis replication is in sync",
        "line 6: INFO: this is not a Nagios status",
        "line 7: OK:",
        "line 10: OK   elasticsearch cluster is in sync",
    ]
    assert parsed["status"] == "CRITICAL"
    assert parsed["in_sync"] is False


@pytest.mark.parametrize(
    "stdout, rc, status, in_sync, note",
    [
        # exit code 0 but a WARNING line: the worst wins and the mismatch is noted
        ("OK: mysql replication is in sync\nWARNING: git replication is behind\n", 0, "WARNING", False, True),
        # all lines OK but exit code 2: trust the exit code
        ("OK: mysql replication is in sync\n", 2, "CRITICAL", False, True),
        # Nagios UNKNOWN line
        ("OK: mysql replication is in sync\nUNKNOWN: consul status unavailable\n", 3, "UNKNOWN", False, False),
        # exit code 0 and nothing parsed proves nothing
        ("", 0, "UNKNOWN", False, False),
        ("garbage only\n", 0, "UNKNOWN", False, False),
        # exit code outside the Nagios range
        ("OK: mysql replication is in sync\n", 127, "UNKNOWN", False, True),
        ("", 255, "UNKNOWN", False, False),
        # in sync
        ("OK: mysql replication is in sync\n", 0, "OK", True, False),
        # CRITICAL is worse than UNKNOWN
        ("UNKNOWN: a\nCRITICAL: b\n", 2, "CRITICAL", False, False),
    ],
)
def test_status_and_exit_code_table(stdout, rc, status, in_sync, note):
    parsed = parse_status(stdout, rc)
    assert parsed["status"] == status
    assert parsed["in_sync"] is in_sync
    assert any("does not match" in n for n in parsed["notes"]) is note


def test_stderr_lines_become_notes_and_none_is_tolerated():
    parsed = parse_status(None, 1, "Error: replication is not configured on this node\n")
    assert parsed["services"] == []
    assert parsed["notes"] == ["stderr: Error: replication is not configured on this node"]
    assert parsed["status"] == "WARNING"


def test_crlf_and_trailing_spaces():
    parsed = parse_status("OK: mysql replication is in sync  \r\n  | IO running: Yes   \r\n", 0)
    assert parsed["services"] == [
        {"name": "mysql", "status": "OK", "message": "mysql replication is in sync", "details": ["IO running: Yes"]}
    ]


@pytest.mark.parametrize("rc", ["0", None, 1.0, True])
def test_exit_code_must_be_an_int(rc):
    with pytest.raises(TypeError):
        parse_status("OK: mysql replication is in sync\n", rc)


@pytest.mark.parametrize(
    "message, name",
    [
        ("mysql replication is in sync", "mysql"),
        ("mysql replication in sync", "mysql"),
        ("redis replication is in sync", "redis"),
        ("elasticsearch cluster is in sync (0 shards initializing, 0 shards unassigned)", "elasticsearch"),
        ("git replica is in sync at position 0.", "git"),
        ("git data is in sync (10 repos, 2 wikis, 5 gists)", "git"),
        ("pages data is in sync", "pages"),
        ("alambic replication is in sync", "alambic"),
        ("alambic storage replication is in sync", "alambic-storage"),
        ("storage replication is in sync", "storage"),
        ("git-hooks replication is in sync", "git-hooks"),
        ("MSSQL replication is in sync", "mssql"),
        ("mysql", "mysql"),
        ("one two three four five", "one"),
        ("(weird) value", "weird"),
        ("", "unknown"),
        ("() ...", "unknown"),
    ],
)
def test_service_name(message, name):
    assert service_name(message) == name


def test_worst_status_and_summary():
    assert worst_status([]) == "OK"
    assert worst_status(["OK", "WARNING", "OK"]) == "WARNING"
    assert worst_status(["UNKNOWN", "WARNING"]) == "UNKNOWN"
    parsed = parse_status(fixture("status_critical_vv.txt"), 2)
    assert not_ok_summary(parsed) == (
        "CRITICAL: git replication is behind the primary by 150 repositories and/or gists; "
        "WARNING: pages data is behind the primary"
    )
    assert not_ok_summary(parse_status(fixture("status_not_running.txt"), 1)) == (
        "exit code 1, line 1: Replication is not running"
    )
    assert not_ok_summary(parse_status("OK: mysql replication is in sync\n", 2)) == "exit code 2"


def test_ghes_3x_wording_and_extra_datastores():
    """fixtures/status_3x.txt: `git replication is ...`, `pages replication is ...` and mssql
    (the wording of GHES 3.x, see fixtures/SOURCES.md) parse like the older lines."""
    parsed = parse_status(fixture("status_3x.txt"), 2)
    assert parsed["status"] == "CRITICAL" and parsed["in_sync"] is False
    assert [s["name"] for s in parsed["services"]] == [
        "mysql", "mssql", "redis", "elasticsearch", "git", "pages", "alambic", "git-hooks", "consul"]
    assert [s["name"] for s in parsed["services"] if s["status"] != "OK"] == ["git"]
    behind = "CRITICAL: git replication is behind the primary by 150 repositories and/or gists"
    parsed = parse_status(fixture("status_3x.txt").replace(behind, "OK: git replication is in sync"), 0)
    assert parsed["status"] == "OK" and parsed["in_sync"] is True
