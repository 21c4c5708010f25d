"""module_utils/drill/timeline.py: the client watcher's log, events, phases and the RTO."""
from __future__ import annotations

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.drill import DrillError
from ansible_collections.hapair.ha.plugins.module_utils.drill.timeline import (
    compute_rto,
    index_events,
    parse_watch_log,
    resolve_phases,
    span,
    to_time,
    watch_events,
)

LOG = """start 100.0
probe 100.01 100.05 0 old
probe 103.9 105.0 28 none
probe 105.2 105.3 0 new
served_by_peer 105.2 105.3
marker_served 105.4 105.45
"""


@pytest.mark.parametrize("value, expected", [
    (1.5, 1.5), (2, 2.0), ("1795636211.365425", 1795636211.365425), (" 7.25\n", 7.25),
    ("fault", None), (None, None), (True, None), ("", None),
])
def test_to_time(value, expected):
    assert to_time(value) == expected


def test_parse_watch_log():
    watch = parse_watch_log(LOG)
    assert watch["started"] == 100.0
    assert watch["probes"] == [
        {"start": 100.01, "end": 100.05, "rc": 0, "who": "old"},
        {"start": 103.9, "end": 105.0, "rc": 28, "who": "none"},
        {"start": 105.2, "end": 105.3, "rc": 0, "who": "new"},
    ]
    assert watch["served_by_peer"] == {"start": 105.2, "end": 105.3}
    assert watch["marker_served"] == {"start": 105.4, "end": 105.45}
    assert watch["timed_out_at"] is None and watch["ignored"] == 0


@pytest.mark.parametrize("text, ignored", [
    ("", 0),
    ("garbage\nprobe 1 2 x old\nprobe 1 2 0 maybe\nprobe a b 0 old\nserved_by_peer 1\n", 5),
    ("curl: (7) Failed to connect\nstart 5.0\n", 1),
])
def test_malformed_lines_are_counted_not_fatal(text, ignored):
    watch = parse_watch_log(text)
    assert watch["ignored"] == ignored
    assert watch["probes"] == [] and watch["served_by_peer"] is None


def test_timeouts():
    watch = parse_watch_log("start 1.0\nprobe 1.1 1.2 7 none\ntimeout 121.0\n")
    assert watch["timed_out_at"] == 121.0
    names = [e["name"] for e in watch_events(watch, after=1.0)]
    assert names == ["watch_started", "client_lost", "watch_timeout"]
    watch = parse_watch_log("served_by_peer 5 6\nmarker_timeout 130.5\n")
    assert [e["name"] for e in watch_events(watch)] == ["served_by_peer", "marker_timeout"]


def test_watch_events_after_the_fault():
    events = watch_events(parse_watch_log(LOG), clock="app-1a", after=104.2)
    by_name = {e["name"]: e for e in events}
    # the failed probe was already under way at the fault: the outage counts from the fault
    assert by_name["client_lost"]["at"] == 104.2
    assert by_name["served_by_peer"]["at"] == 105.3          # the end of the first answer from the peer
    assert by_name["marker_served"]["at"] == 105.45
    assert {e["clock"] for e in events} == {"app-1a"}


def test_no_outage_seen_when_the_peer_answers_at_once():
    watch = parse_watch_log("probe 1 1.1 0 old\nprobe 2 2.1 0 new\nserved_by_peer 2 2.1\n")
    assert "client_lost" not in [e["name"] for e in watch_events(watch, after=1.5)]


def test_probes_that_ended_before_the_fault_are_not_the_outage():
    watch = parse_watch_log("probe 1 1.1 7 none\nprobe 2 2.1 0 old\nprobe 3 3.5 7 none\n")
    lost = [e for e in watch_events(watch, after=2.5) if e["name"] == "client_lost"]
    assert lost[0]["at"] == 3.0


def test_index_events_keeps_the_first():
    assert index_events([{"name": "a", "at": 1}, {"name": "a", "at": 2}, {"name": "b", "at": None},
                         {"name": "c", "at": "3.5"}]) == {"a": 1.0, "c": 3.5}


def test_resolve_phases():
    times = {"fault": 10.0, "served_by_peer": 11.5, "watch_timeout": 40.0}
    phases = resolve_phases([
        {"name": "checks", "start": 1, "end": "9.0"},
        {"name": "takeover", "label": "VIP served", "start": "fault", "end": "served_by_peer", "kind": "outage",
         "clock": "app-1a"},
        {"name": "routes", "start": "fault", "end": "routes_switched", "end_fallback": "watch_timeout"},
        {"name": "marker", "start": "fault", "end": "marker_served"},
        {"name": "never", "start": "restore_started", "end": 50},
        {"name": "skewed", "start": 12.0, "end": 11.9, "clock": "db-02"},
    ], times)
    assert [p["name"] for p in phases] == ["checks", "takeover", "routes", "marker", "skewed"]
    checks, takeover, routes, marker, skewed = phases
    assert (checks["seconds"], checks["status"], checks["clock"], checks["label"]) == (8.0, "ok", "controller", "checks")
    assert (takeover["seconds"], takeover["kind"], takeover["label"]) == (1.5, "outage", "VIP served")
    assert (routes["end"], routes["status"], routes["seconds"]) == (40.0, "failed", 30.0)
    assert (marker["end"], marker["status"], marker["seconds"]) == (None, "incomplete", None)
    assert skewed["seconds"] == 0.0     # two clocks disagree: shown as zero, never negative


@pytest.mark.parametrize("phase, message", [
    ({"start": 1, "end": 2}, "every phase needs a name"),
    ({"name": "x", "start": 1, "end": 2, "status": "great"}, "status must be one of"),
])
def test_bad_phases(phase, message):
    with pytest.raises(DrillError, match=message):
        resolve_phases([phase], {})


@pytest.mark.parametrize("times, ends, expected", [
    ({"fault": 10.0, "served_by_peer": 11.25}, ["served_by_peer"], (1.25, [])),
    # route tables: the takeover is complete when the last of them happened
    ({"fault": 10.0, "served_by_peer": 11.25, "routes_switched": 12.5}, ["served_by_peer", "routes_switched"], (2.5, [])),
    ({"fault": 10.0, "routes_switched": 10.5, "served_by_peer": 11.0}, ["served_by_peer", "routes_switched"], (1.0, [])),
    ({"fault": 10.0}, ["served_by_peer", "routes_switched"], (None, ["served_by_peer", "routes_switched"])),
    ({"served_by_peer": 3.0}, ["served_by_peer"], (None, ["fault"])),
    ({"fault": 1.0}, [], (None, [])),
])
def test_compute_rto(times, ends, expected):
    assert compute_rto(times, "fault", ends) == expected


def test_span():
    phases = [{"start": 5.0, "end": None}, {"start": 2.0, "end": 3.0}]
    assert span(phases, [{"at": 9.0}]) == (2.0, 9.0)
    assert span([], []) == (None, None)
