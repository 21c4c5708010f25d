"""module_utils/drill/report.py and render.py: the report's JSON, Markdown and SVG."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.drill import DrillError
from ansible_collections.hapair.ha.plugins.module_utils.drill.render import (
    nice_step,
    render_markdown,
    render_svg,
    zoom_window,
)
from ansible_collections.hapair.ha.plugins.module_utils.drill.report import (
    SCHEMA,
    build_report,
    data_continuity,
    stem,
    write_report,
)

SVG = "{http://www.w3.org/2000/svg}"
T0 = 1767268800.0   # 2026-01-01T12:00:00Z

WATCH = f"""start {T0 + 20}
probe {T0 + 20.01} {T0 + 20.05} 0 old
probe {T0 + 29.9} {T0 + 31.0} 28 none
probe {T0 + 31.2} {T0 + 31.3} 0 new
served_by_peer {T0 + 31.2} {T0 + 31.3}
marker_served {T0 + 31.4} {T0 + 31.45}
"""


def drill(**overrides):
    args = dict(
        title="Failover drill: db-01 + db-02, graceful_stop on db-01",
        name="failover-drill-db-01-db-02",
        phases=[
            {"name": "checks", "label": "pair checked healthy", "start": T0, "end": T0 + 15},
            {"name": "marker_written", "label": "marker written", "start": T0 + 16, "end": T0 + 17, "clock": "app-1a"},
            {"name": "fault", "label": "graceful_stop on db-01", "start": "fault", "end": T0 + 31.1, "clock": "db-01"},
            {"name": "takeover", "label": "VIP served by db-02", "start": "fault", "end": "served_by_peer",
             "end_fallback": "watch_timeout", "kind": "outage", "clock": "app-1a"},
            {"name": "routes", "label": "every route table on db-02", "start": "fault", "end": "routes_switched"},
            {"name": "marker_served", "label": "marker served again", "start": "served_by_peer", "end": "marker_served",
             "end_fallback": "marker_timeout", "clock": "app-1a"},
            {"name": "restore", "label": "db-01 back as BACKUP", "start": T0 + 35, "end": T0 + 37.5, "clock": "db-01"},
        ],
        events=[{"name": "fault", "label": "fault: graceful stop", "at": T0 + 30, "clock": "db-01"},
                {"name": "routes_switched", "label": "every table on db-02", "at": f"{T0 + 31.8}"}],
        watch_log=WATCH, watch_clock="app-1a", rto_start="fault", rto_ends=["served_by_peer", "routes_switched"],
        rto_label="from the fault until db-02 served app-1a and every table pointed at it",
        marker={"checked": True, "written": True, "before": True, "after": True},
        checks=[{"name": "pair healthy before", "ok": True, "detail": "db-01 MASTER"},
                {"name": "restored", "ok": True, "detail": "db-01 BACKUP"}],
        summary={"pair": "db-01, db-02", "VIP": "10.1.0.10"},
    )
    args.update(overrides)
    return build_report(**args)


def test_rto_and_timeline():
    report = drill()
    assert report["schema"] == SCHEMA and report["ok"] and report["problems"] == []
    # the RTO ends with the last of the client's answer (31.3) and the route tables (31.8)
    assert report["rto_seconds"] == 1.8
    assert report["rto"] == {"from": "fault", "until": ["served_by_peer", "routes_switched"], "seconds": 1.8,
                             "label": "from the fault until db-02 served app-1a and every table pointed at it",
                             "missing": []}
    assert report["started_at"] == T0 and report["started_at_iso"] == "2026-01-01T12:00:00.000Z"
    assert report["total_seconds"] == 37.5
    phases = {p["name"]: p for p in report["phases"]}
    assert phases["takeover"]["seconds"] == 1.3 and phases["takeover"]["start_offset"] == 30.0
    assert phases["routes"]["seconds"] == 1.8 and phases["routes"]["clock"] == "controller"
    assert phases["marker_served"]["seconds"] == 0.15
    assert [e["name"] for e in report["events"]] == [
        "watch_started", "fault", "client_lost", "served_by_peer", "marker_served", "routes_switched"]
    assert report["data_continuity"]["status"] == "ok"
    assert report["data_continuity"]["seconds_after_fault"] == 1.45
    assert [p["who"] for p in report["probes"]] == ["old", "none", "new"]
    assert report["watch_timed_out"] is False


def test_no_takeover_is_a_problem():
    log = f"start {T0 + 20}\nprobe {T0 + 20} {T0 + 20.1} 0 old\nprobe {T0 + 30.1} {T0 + 31} 7 none\ntimeout {T0 + 150}\n"
    report = drill(watch_log=log, events=[{"name": "fault", "at": T0 + 30, "clock": "db-01"}],
                   marker={"checked": True, "written": True, "before": True, "after": None},
                   checks=[{"name": "takeover", "ok": False, "detail": "no answer from db-02 within 120 s"}])
    assert not report["ok"] and report["rto_seconds"] is None
    assert report["problems"] == ["takeover: no answer from db-02 within 120 s",
                                  "RTO unknown: not seen: served_by_peer, routes_switched"]
    takeover = next(p for p in report["phases"] if p["name"] == "takeover")
    assert (takeover["status"], takeover["seconds"]) == ("failed", 120.0)
    assert report["data_continuity"]["status"] == "not verified"
    assert "**Result: FAILED**" in render_markdown(report)


def test_no_fault_no_rto_noise():
    """A drill that stopped before the fault: the failed check says why, no RTO problem on top."""
    report = drill(watch_log=None, events=[], phases=[{"name": "checks", "start": T0, "end": T0 + 5}],
                   marker={"checked": True, "written": False},
                   checks=[{"name": "drill", "ok": False, "detail": "the marker write command failed"}])
    assert report["problems"] == ["drill: the marker write command failed",
                                  "data continuity failed: the marker could not be written through the VIP"]
    alone = build_report("t", "n", phases=[{"name": "checks", "start": T0, "end": T0 + 5}], rto_start="fault")
    assert alone["problems"] == ["RTO unknown: not seen: fault, served_by_peer"]


@pytest.mark.parametrize("marker, status", [
    (None, "not checked"),
    ({"checked": False}, "not checked"),
    ({"checked": True, "written": False}, "failed"),
    ({"checked": True, "written": True, "before": False}, "failed"),
    ({"checked": True, "written": True, "before": True, "after": True}, "ok"),
    ({"checked": True, "written": True, "before": True, "after": False}, "lost"),
    ({"checked": True, "written": True, "before": True, "after": None}, "not verified"),
])
def test_data_continuity(marker, status):
    assert data_continuity(marker)["status"] == status


def test_lost_marker_fails_the_report():
    report = drill(marker={"checked": True, "written": True, "before": True, "after": False})
    assert not report["ok"]
    assert report["problems"] == ["data continuity lost: the marker written before the fault is NOT served after "
                                  "the takeover"]


@pytest.mark.parametrize("kwargs, message", [
    ({"title": ""}, "needs a title and a name"),
    ({"events": [{"at": 1}]}, "every event needs a name"),
    ({"checks": [{"ok": True}]}, "every check needs a name"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(DrillError, match=message):
        drill(**kwargs)


def test_markdown():
    text = render_markdown(drill(summary={"pair": "db-01, db-02", "note": "a|b"}), svg_name="x.svg")
    lines = text.splitlines()
    assert lines[0] == "# Failover drill: db-01 + db-02, graceful_stop on db-01"
    assert lines[2] == ("**Result: OK** - RTO **1.80 s** (from the fault until db-02 served app-1a and every table "
                        "pointed at it) - data continuity: **ok** - total 37.50 s")
    assert "| note | a\\|b |" in lines                      # a pipe cannot break the table
    assert "![timeline](x.svg)" in lines
    assert "| 4 | VIP served by db-02 | +30.00 s | +31.30 s | 1.30 s | app-1a | ok |" in lines
    assert "| 5 | every route table on db-02 | +30.00 s | +31.80 s | 1.80 s | controller | ok |" in lines
    assert "| +30.00 s | fault: graceful stop | db-01 |" in lines
    assert "| restored | ok | db-01 BACKUP |" in lines
    assert "| +29.90 s | +31.00 s | 28 | none |" in lines       # the client's probes


def test_svg_is_well_formed_and_shows_every_phase():
    report = drill(title="Drill <db-01> & \"db-02\"")
    svg = render_svg(report)
    root = ET.fromstring(svg.encode())
    assert root.tag == f"{SVG}svg"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Drill <db-01> & \"db-02\"" in texts                 # escaped in the file, intact once parsed
    for phase in report["phases"]:
        assert phase["label"] in texts
    assert "1.30 s" in texts and "1.80 s" in texts and "RTO 1.80 s" in texts
    # one bar per phase in the whole run, and the outage again, zoomed (it is short next to the rest)
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == len(report["phases"]) + 4
    assert any(t.startswith("the outage, zoomed") for t in texts if t)
    assert any("fault: graceful stop" in t for t in texts if t)   # the legend of the numbered events
    widths = [float(r.get("width")) for r in bars]
    assert min(widths) >= 2.0 and max(float(r.get("x")) + float(r.get("width")) for r in bars) <= 980


def test_svg_without_events_or_rto():
    report = build_report("Failover of ghe-1", "ghe-failover", phases=[
        {"name": "maintenance", "start": T0, "end": T0 + 2}, {"name": "promote", "start": T0 + 2, "end": T0 + 9}])
    root = ET.fromstring(render_svg(report).encode())
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "7.00 s" in texts and not any(t and t.startswith("RTO") for t in texts)
    assert zoom_window(report) is None


def test_incomplete_phase_is_drawn_open():
    report = build_report("t", "n", phases=[{"name": "a", "start": T0, "end": T0 + 1},
                                            {"name": "b", "start": T0 + 0.5, "end": "never"}])
    root = ET.fromstring(render_svg(report).encode())
    assert "no end" in [t.text for t in root.iter(f"{SVG}text")]


@pytest.mark.parametrize("total, step", [(0.0, 0.0002), (0.7, 0.1), (9.9, 2), (37.5, 5), (65.5, 10), (1000, 200)])
def test_nice_step(total, step):
    assert nice_step(total) == pytest.approx(step)


def test_write_report(tmp_path):
    report = drill()
    paths, texts = write_report(str(tmp_path / "reports"), report)
    assert stem(report) == "failover-drill-db-01-db-02-20260101T120000Z"
    assert {k: p.rsplit("/", 1)[1] for k, p in paths.items()} == {
        "json": stem(report) + ".json", "markdown": stem(report) + ".md", "svg": stem(report) + ".svg"}
    assert json.loads((tmp_path / "reports" / (stem(report) + ".json")).read_text())["rto_seconds"] == 1.8
    assert (tmp_path / "reports" / (stem(report) + ".md")).read_text() == texts["markdown"]
    ET.parse(tmp_path / "reports" / (stem(report) + ".svg"))
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == sorted(
        stem(report) + ext for ext in (".json", ".md", ".svg"))          # no temporary file left


def test_write_report_check_mode_writes_nothing(tmp_path):
    paths, texts = write_report(str(tmp_path / "reports"), drill(), check_mode=True)
    assert not (tmp_path / "reports").exists() and texts["markdown"].startswith("# Failover drill")
    assert paths["json"].endswith(".json")


def test_write_report_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DrillError, match="cannot write the report into"):
        write_report(str(blocker), drill())


def test_file_name_is_sanitised():
    assert stem(build_report("t", "drill of db/01 & db 02", phases=[{"name": "a", "start": T0, "end": T0}])) == \
        "drill_of_db_01_db_02-20260101T120000Z"
