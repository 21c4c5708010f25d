# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A report (see ``report.build_report``) as Markdown, and its timeline as an SVG picture.

The SVG is written by hand (no plotting library on the controller): one horizontal bar per
phase on a common time axis, its label on the left and its duration on the right, a dashed
vertical line per event, numbered, with a legend below. It is meant to be read at a glance.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

COLORS = {"ok": "#4c78a8", "failed": "#e45756", "skipped": "#bab0ac", "incomplete": "#e45756"}
OUTAGE_COLOR = "#f58518"
EVENT_COLORS = {"fault": "#e45756", "served_by_peer": "#54a24b", "routes_switched": "#54a24b",
                "client_lost": "#f58518"}

WIDTH = 980
LEFT = 300          # phase labels
RIGHT = 100         # durations
ROW = 26
BAR = 17
LABEL_CHARS = 42
ZOOM_BELOW = 0.3    # draw the outage zoomed too when it spans less than this share of the drill


def secs(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f} s"


def offset(value):
    return "-" if value is None else f"+{value:.2f} s"


def _cell(value):
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def _table(header, rows, align=None):
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def headline(report, rto_label=True):
    """One line: the result, the RTO (and what it measures) and the data continuity."""
    parts = ["**Result: " + ("OK" if report["ok"] else "FAILED") + "**"]
    if report.get("rto") is not None:
        rto = report["rto"]
        text = "RTO **" + (secs(rto["seconds"]) if rto["seconds"] is not None else "unknown") + "**"
        if rto.get("label") and rto_label:
            text += f" ({rto['label']})"
        parts.append(text)
    if report["data_continuity"]["status"] != "not checked":
        parts.append(f"data continuity: **{report['data_continuity']['status']}**")
    if report.get("total_seconds") is not None:
        parts.append(f"total {secs(report['total_seconds'])}")
    return " - ".join(parts)


def render_markdown(report, svg_name=None):
    lines = [f"# {report['title']}", "", headline(report), ""]
    if report["problems"]:
        lines += ["Problems:", ""] + [f"- {_cell(p)}" for p in report["problems"]] + [""]
    facts = list(report["summary"].items())
    facts.append(("started", report.get("started_at_iso") or "-"))
    if report["data_continuity"]["status"] != "not checked":
        facts.append(("data continuity", report["data_continuity"]["detail"]))
    lines += _table(["", ""], facts) + [""]

    lines += ["## Timeline", ""]
    if svg_name:
        lines += [f"![timeline]({svg_name})", ""]
    rows = [(i, p["label"], offset(p["start_offset"]), offset(p["end_offset"]), secs(p["seconds"]), p["clock"],
             p["status"]) for i, p in enumerate(report["phases"], start=1)]
    lines += _table(["#", "phase", "start", "end", "duration", "clock", "status"], rows,
                    ["---:", "---", "---:", "---:", "---:", "---", "---"]) + [""]
    if report["events"]:
        lines += ["## Events", ""]
        rows = [(offset(e["offset"]), e["label"], e["clock"]) for e in report["events"]]
        lines += _table(["at", "event", "clock"], rows, ["---:", "---", "---"]) + [""]
    if report["checks"]:
        lines += ["## Checks", ""]
        rows = [(c["name"], {True: "ok", False: "FAILED", None: "-"}[c["ok"]], c["detail"]) for c in report["checks"]]
        lines += _table(["check", "result", "detail"], rows) + [""]
    if report.get("probes"):
        lines += ["## Client probes (each change of what the client saw)", ""]
        rows = [(offset(p["start_offset"]), offset(p["end_offset"]), p["rc"], p["who"]) for p in report["probes"]]
        lines += _table(["start", "end", "exit", "answered by"], rows, ["---:", "---:", "---:", "---"]) + [""]
    lines += ["Times are seconds from the first measurement; each comes from the clock of the host named "
              "in its row.", ""]
    return "\n".join(lines)


def nice_step(total, max_ticks=8):
    """A tick step of 1, 2 or 5 times a power of ten giving at most ``max_ticks`` intervals."""
    total = max(total, 1e-3)
    raw = total / max_ticks
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= mult * power:
            return mult * power
    return 10 * power  # pragma: no cover - the loop always returns


def _fmt_tick(value, step):
    digits = 0 if step >= 1 else max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{digits}f} s"


def _short(text, limit=LABEL_CHARS):
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _text(x, y, text, size=12, anchor="start", weight="normal", fill="#222", halo=False):
    extra = ' stroke="#ffffff" stroke-width="3" paint-order="stroke"' if halo else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{fill}"{extra}>{escape(str(text))}</text>')


def zoom_window(report):
    """(from, to) in seconds from the start: the outage - from the event the RTO counts from until
    the last of the RTO's events, the marker served again and the ends of the phases that began
    with the fault - when it is a small part of the drill; None otherwise."""
    rto = report.get("rto") or {}
    times = {e["name"]: e["offset"] for e in report["events"]}
    start = times.get(rto.get("from"))
    total = report.get("total_seconds") or 0.0
    if start is None or total <= 0:
        return None
    ends = [times[name] for name in list(rto.get("until") or []) + ["marker_served"] if name in times]
    ends += [p["end_offset"] for p in report["phases"]
             if p["end_offset"] is not None and abs(p["start_offset"] - start) < 1e-6]
    end = max(ends) if ends else None
    if end is None or end <= start or (end - start) >= ZOOM_BELOW * total:
        return None
    pad = max(0.1, 0.15 * (end - start))
    return max(0.0, start - pad), min(total, end + pad)


def _panel(out, y, title, lo, hi, phases, numbered, report):
    """Draw the phases and events between ``lo`` and ``hi`` seconds; return the y below it."""
    step = nice_step(hi - lo)
    axis_lo = math.floor(lo / step + 1e-9) * step
    axis_hi = max(axis_lo + step, math.ceil(hi / step - 1e-9) * step)
    plot = WIDTH - LEFT - RIGHT
    shown = [p for p in phases
             if p["start_offset"] <= axis_hi and (p["end_offset"] is None or p["end_offset"] >= axis_lo)]
    events = [(n, e) for n, e in numbered if axis_lo <= e["offset"] <= axis_hi]

    def x_of(seconds):
        return LEFT + plot * ((min(max(seconds, axis_lo), axis_hi) - axis_lo) / (axis_hi - axis_lo))

    out.append(_text(16, y + 16, title, size=13, weight="bold", fill="#444"))
    # event numbers above the bars, in up to three rows so that close events do not overlap
    rows = [y + 52, y + 64, y + 76]
    last_x = [-1e9] * len(rows)
    placed = []
    for number, event in events:
        x = x_of(event["offset"])
        row = next((i for i, lx in enumerate(last_x) if x - lx >= 16), 0)
        last_x[row] = x
        placed.append((number, event, x, rows[row]))
    top = y + 92
    bottom = top + ROW * max(1, len(shown))
    for i in range(1, len(shown), 2):
        out.append(f'<rect x="0" y="{top + ROW * i - 4:.1f}" width="{WIDTH}" height="{ROW}" fill="#f6f6f6"/>')
    ticks = int(round((axis_hi - axis_lo) / step))
    for i in range(ticks + 1):
        value = axis_lo + i * step
        x = x_of(value)
        out.append(f'<line x1="{x:.1f}" y1="{top - 6:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="#e2e2e2" '
                   f'stroke-width="1"/>')
        out.append(_text(x, y + 36, _fmt_tick(value, step), size=11, anchor="middle", fill="#666"))
    # the RTO: a band from the event it counts from, behind the bars
    rto = report.get("rto") or {}
    times = {e["name"]: e["offset"] for e in report["events"]}
    if rto.get("seconds") is not None and rto.get("from") in times:
        x0 = x_of(times[rto["from"]])
        x1 = x_of(times[rto["from"]] + rto["seconds"])
        out.append(f'<rect x="{x0:.1f}" y="{top - 6:.1f}" width="{max(1.0, x1 - x0):.1f}" '
                   f'height="{bottom - top + 6:.1f}" fill="{COLORS["failed"]}" fill-opacity="0.08"/>')
        out.append(_text((x0 + x1) / 2, bottom + 14, "RTO " + secs(rto["seconds"]), size=11, anchor="middle",
                         weight="bold", fill=COLORS["failed"], halo=True))
    for number, event, x, ny in placed:
        color = EVENT_COLORS.get(event["name"], "#777777")
        out.append(f'<line x1="{x:.1f}" y1="{ny + 3:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="{color}" '
                   f'stroke-width="1.5" stroke-dasharray="5 3"/>')
        out.append(_text(x, ny, number, size=11, anchor="middle", weight="bold", fill=color))
    for i, phase in enumerate(shown):
        by = top + ROW * i
        out.append(_text(LEFT - 10, by + BAR - 4, _short(phase["label"]), anchor="end", halo=True))
        color = COLORS.get(phase["status"], COLORS["ok"])
        if phase["kind"] == "outage" and phase["status"] == "ok":
            color = OUTAGE_COLOR
        x0 = x_of(phase["start_offset"])
        if phase["end_offset"] is None:
            width = max(2.0, x_of(axis_hi) - x0)
            out.append(f'<rect x="{x0:.1f}" y="{by:.1f}" width="{width:.1f}" height="{BAR}" fill="{color}" '
                       f'fill-opacity="0.25" stroke="{color}" stroke-dasharray="4 3"/>')
            out.append(_text(x0 + width + 6, by + BAR - 4, "no end", fill=color, halo=True))
            continue
        width = max(2.0, x_of(phase["end_offset"]) - x0)
        tip = f'{phase["label"]}: {secs(phase["seconds"])} ({phase["status"]}, clock {phase["clock"]})'
        out.append(f'<rect x="{x0:.1f}" y="{by:.1f}" width="{width:.1f}" height="{BAR}" rx="2" fill="{color}">'
                   f'<title>{escape(tip)}</title></rect>')
        out.append(_text(min(x0 + width + 6, WIDTH - RIGHT + 6), by + BAR - 4, secs(phase["seconds"]),
                         weight="bold", halo=True))
    return bottom + 24


def render_svg(report):
    """The timeline as an SVG document (a string): the whole drill, the outage zoomed when it is
    short next to the rest, and a legend of the numbered events."""
    phases = report["phases"]
    numbered = list(enumerate(report["events"], start=1))
    total = report.get("total_seconds") or 0.0
    body = []
    y = _panel(body, 74.0, "the whole run", 0.0, max(total, 1e-3), phases, numbered, report)
    zoom = zoom_window(report)
    if zoom:
        y = _panel(body, y + 6, f"the outage, zoomed (+{zoom[0]:.2f} s to +{zoom[1]:.2f} s)", zoom[0], zoom[1],
                   phases, numbered, report)
    legend_top = y + 10
    for number, event in numbered:
        color = EVENT_COLORS.get(event["name"], "#777777")
        ly = legend_top + 18 * (number - 1)
        body.append(_text(16, ly, f"{number}", size=12, weight="bold", fill=color))
        body.append(_text(40, ly, f"{offset(event['offset'])}  {event['label']}  ({event['clock']})", size=12))
    height = legend_top + 18 * len(numbered) + 24
    body.append(_text(16, height - 10, "seconds from " + (report.get("started_at_iso") or "-")
                      + "; each time from the clock of the host in brackets", size=11, fill="#666"))
    head = ['<?xml version="1.0" encoding="UTF-8"?>',
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
            f'viewBox="0 0 {WIDTH} {height:.0f}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
            f'<title>{escape(report["title"])}</title>',
            f'<rect x="0" y="0" width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>',
            _text(16, 24, report["title"], size=17, weight="bold"),
            _text(16, 46, headline(report, rto_label=False).replace("**", ""), size=13,
                  fill="#222" if report["ok"] else COLORS["failed"])]
    if (report.get("rto") or {}).get("label"):
        head.append(_text(16, 64, "RTO: " + report["rto"]["label"], size=11, fill="#555"))
    return "\n".join(head + body + ["</svg>"]) + "\n"


__all__ = ["render_markdown", "render_svg", "headline", "nice_step", "zoom_window"]
