# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Assemble a drill (or failover) report and write it as JSON, Markdown and SVG."""

from __future__ import annotations

import datetime
import json
import os
import re
import tempfile

from ansible_collections.hapair.ha.plugins.module_utils.drill import DrillError
from ansible_collections.hapair.ha.plugins.module_utils.drill.render import render_markdown, render_svg
from ansible_collections.hapair.ha.plugins.module_utils.drill.timeline import (
    compute_rto,
    index_events,
    parse_watch_log,
    resolve_phases,
    span,
    to_time,
    watch_events,
)

SCHEMA = "hapair.ha/drill-report/1"
_NAME_RE = re.compile(r"[^A-Za-z0-9_.-]+")


def iso(epoch):
    """UTC ISO 8601 with milliseconds, or None."""
    if epoch is None:
        return None
    stamp = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def data_continuity(marker):
    """{status, detail} from what the marker commands found. Statuses: ok, lost, failed (the
    marker could not be written or read before the fault), not verified (never read after),
    not checked (no marker commands)."""
    marker = marker or {}
    if not marker.get("checked"):
        return {"status": "not checked", "detail": "no marker commands were given"}
    if marker.get("written") is False:
        return {"status": "failed", "detail": "the marker could not be written through the VIP"}
    if marker.get("before") is False:
        return {"status": "failed", "detail": "the marker was written but not read back through the VIP before the fault"}
    if marker.get("after") is True:
        return {"status": "ok", "detail": "the marker written before the fault is served after the takeover"}
    if marker.get("after") is False:
        return {"status": "lost", "detail": "the marker written before the fault is NOT served after the takeover"}
    return {"status": "not verified", "detail": "the marker was not read after the fault (no takeover)"}


def build_report(title, name, phases, events=None, watch_log=None, watch_clock="client", rto_start=None,
                 rto_ends=("served_by_peer",), rto_label="", marker=None, checks=None, summary=None, generated_at=None):
    """The report as a dict (what the JSON file holds). See the module ``drill_report``."""
    if not title or not name:
        raise DrillError("a report needs a title and a name")
    given = []
    for event in events or []:
        if not isinstance(event, dict) or not event.get("name"):
            raise DrillError("every event needs a name")
        at = to_time(event.get("at"))
        if at is not None:
            given.append({"name": event["name"], "label": event.get("label") or event["name"], "at": at,
                          "clock": event.get("clock") or "controller"})
    watch = parse_watch_log(watch_log) if watch_log else None
    fault_at = index_events(given).get(rto_start) if rto_start else None
    all_events = given + (watch_events(watch, clock=watch_clock, after=fault_at) if watch else [])
    all_events.sort(key=lambda e: e["at"])
    times = index_events(all_events)
    resolved = resolve_phases(phases or [], times)
    first, last = span(resolved, all_events)

    rto = None
    missing = []
    if rto_start:
        rto, missing = compute_rto(times, rto_start, list(rto_ends or []))
    continuity = data_continuity(marker)
    if continuity["status"] == "ok" and rto_start in times and "marker_served" in times:
        continuity["seconds_after_fault"] = round(times["marker_served"] - times[rto_start], 3)
        continuity["detail"] += f" ({continuity['seconds_after_fault']:.2f} s after the fault)"

    checks_out = []
    for check in checks or []:
        if not isinstance(check, dict) or not check.get("name"):
            raise DrillError("every check needs a name")
        checks_out.append({"name": check["name"], "ok": check.get("ok"), "detail": check.get("detail") or ""})
    problems = [f"{c['name']}: {c['detail']}" if c["detail"] else c["name"] for c in checks_out if c["ok"] is False]
    if rto_start and rto is None and (rto_start in times or not problems):
        # without the start event nothing was measured: say so, unless a failed check says why
        problems.append("RTO unknown: not seen: " + ", ".join(missing))
    if continuity["status"] in ("lost", "failed"):
        problems.append("data continuity " + continuity["status"] + ": " + continuity["detail"])

    for item in resolved:
        item["start_offset"] = round(item["start"] - first, 3)
        item["end_offset"] = None if item["end"] is None else round(item["end"] - first, 3)
    for item in all_events:
        item["offset"] = round(item["at"] - first, 3)

    generated = generated_at if generated_at is not None else (last or 0.0)
    report = {
        "schema": SCHEMA,
        "title": title,
        "name": name,
        "generated_at": iso(generated),
        "ok": not problems,
        "problems": problems,
        "rto_seconds": rto,
        "rto": {"from": rto_start, "until": list(rto_ends or []), "label": rto_label, "seconds": rto,
                "missing": missing} if rto_start else None,
        "data_continuity": continuity,
        "started_at": first,
        "started_at_iso": iso(first),
        "finished_at": last,
        "total_seconds": None if first is None else round(last - first, 3),
        "summary": dict(summary or {}),
        "phases": resolved,
        "events": all_events,
        "checks": checks_out,
    }
    if watch is not None:
        report["probes"] = [dict(p, start_offset=round(p["start"] - first, 3), end_offset=round(p["end"] - first, 3))
                            for p in watch["probes"]]
        report["watch_timed_out"] = watch["timed_out_at"] is not None
    return report


def stem(report):
    """File name stem: NAME-YYYYMMDDTHHMMSSZ (from the report's first time)."""
    when = report.get("started_at") or 0.0
    stamp = datetime.datetime.fromtimestamp(when, tz=datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{_NAME_RE.sub('_', report['name']).strip('_.') or 'report'}-{stamp}"


def _write(path, text):
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def render_all(report, file_stem):
    """{json, markdown, svg} texts of the report (the Markdown links the SVG by file name)."""
    return {
        "json": json.dumps(report, indent=2, sort_keys=True) + "\n",
        "markdown": render_markdown(report, svg_name=file_stem + ".svg"),
        "svg": render_svg(report),
    }


def write_report(directory, report, check_mode=False):
    """Write STEM.json, STEM.md and STEM.svg into ``directory`` (created if missing).
    Returns ({json, markdown, svg} paths, {json, markdown, svg} texts); check mode writes nothing."""
    file_stem = stem(report)
    texts = render_all(report, file_stem)
    directory = os.path.abspath(os.path.expanduser(directory))
    paths = {
        "json": os.path.join(directory, file_stem + ".json"),
        "markdown": os.path.join(directory, file_stem + ".md"),
        "svg": os.path.join(directory, file_stem + ".svg"),
    }
    if check_mode:
        return paths, texts
    try:
        os.makedirs(directory, exist_ok=True)
        for kind, path in paths.items():
            _write(path, texts[kind])
    except OSError as err:
        raise DrillError(f"cannot write the report into {directory}: {err.strerror or err}") from err
    return paths, texts
