# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The timeline of a drill: the client watcher's log, events, phases and the RTO.

Times are seconds since the epoch (floats), as ``date +%s.%N`` prints them on the host that
measured them (each phase and event names its ``clock``: keep the hosts' clocks in sync).

The client-side watcher (``failover-drill-watch`` of the ``failover_drill`` role) prints one line
per change of what it sees, then how it ended::

    start EPOCH
    probe START END RC WHO      # WHO: old (the MASTER answered), new (the peer), none
    served_by_peer START END    # the first probe the peer answered; the watcher exits, or:
    marker_served START END     # the marker read command printed the marker again
    marker_timeout EPOCH        # or did not before the deadline
    timeout EPOCH               # no takeover within the drill's timeout
"""

from __future__ import annotations

from ansible_collections.hapair.ha.plugins.module_utils.drill import DrillError

WHO = ("old", "new", "none")
STATUSES = ("ok", "failed", "skipped", "incomplete")


def to_time(value):
    """An epoch time from a number or a numeric string; None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def parse_watch_log(text):
    """Parse the watcher's output. Lines it does not know are counted, not fatal (a probe
    command may print to stderr, which the role keeps apart, but be lenient anyway)."""
    watch = {"started": None, "probes": [], "served_by_peer": None, "timed_out_at": None,
             "marker_served": None, "marker_timeout_at": None, "ignored": 0}
    for raw in (text or "").splitlines():
        words = raw.split()
        if not words:
            continue
        kind, args = words[0], words[1:]
        times = [to_time(a) for a in args]
        if kind == "start" and len(args) == 1 and times[0] is not None:
            watch["started"] = times[0]
        elif (kind == "probe" and len(args) == 4 and None not in times[:2]
              and args[2].lstrip("-").isdigit() and args[3] in WHO):
            watch["probes"].append({"start": times[0], "end": times[1], "rc": int(args[2]), "who": args[3]})
        elif kind == "served_by_peer" and len(args) == 2 and None not in times:
            watch["served_by_peer"] = {"start": times[0], "end": times[1]}
        elif kind == "marker_served" and len(args) == 2 and None not in times:
            watch["marker_served"] = {"start": times[0], "end": times[1]}
        elif kind == "timeout" and len(args) == 1 and times[0] is not None:
            watch["timed_out_at"] = times[0]
        elif kind == "marker_timeout" and len(args) == 1 and times[0] is not None:
            watch["marker_timeout_at"] = times[0]
        else:
            watch["ignored"] += 1
    return watch


def watch_events(watch, clock="client", after=None):
    """Events of the client's view: ``watch_started``; ``client_lost``, the first failed probe
    (or one neither node answered) that ended after ``after`` (the fault) - at the fault when it
    was already under way; ``served_by_peer``, the end of the first probe the peer answered (the
    client was served again); ``marker_served``, the end of the first read that returned the
    marker; ``watch_timeout`` and ``marker_timeout``."""
    events = []
    if watch.get("started") is not None:
        events.append({"name": "watch_started", "label": "client starts probing the VIP", "at": watch["started"],
                       "clock": clock})
    for probe in watch.get("probes", []):
        if after is not None and probe["end"] < after:
            continue
        if probe["who"] == "new":
            break
        if probe["rc"] != 0 or probe["who"] == "none":
            at = probe["start"] if after is None else max(probe["start"], after)
            events.append({"name": "client_lost", "label": "the client gets no answer on the VIP", "at": at,
                           "clock": clock})
            break
    served = watch.get("served_by_peer")
    if served:
        events.append({"name": "served_by_peer", "label": "the peer answers on the VIP", "at": served["end"],
                       "clock": clock})
    if watch.get("marker_served"):
        events.append({"name": "marker_served", "label": "the marker is served again on the VIP",
                       "at": watch["marker_served"]["end"], "clock": clock})
    if watch.get("timed_out_at") is not None:
        events.append({"name": "watch_timeout", "label": "no takeover before the timeout",
                       "at": watch["timed_out_at"], "clock": clock})
    if watch.get("marker_timeout_at") is not None:
        events.append({"name": "marker_timeout", "label": "the marker did not come back before the timeout",
                       "at": watch["marker_timeout_at"], "clock": clock})
    return events


def index_events(events):
    """{name: time} of the events whose time is known; a name given twice keeps the first."""
    out = {}
    for event in events:
        at = to_time(event.get("at"))
        if event.get("name") and at is not None and event["name"] not in out:
            out[event["name"]] = at
    return out


def _resolve(value, times):
    at = to_time(value)
    if at is not None:
        return at
    if isinstance(value, str) and value:
        return times.get(value)
    return None


def resolve_phases(phases, times):
    """Each phase with its ``start`` and ``end`` as epoch times (an event name is looked up in
    ``times``) and ``seconds``. A phase whose end is unknown takes ``end_fallback`` and is
    ``failed``; without one it is ``incomplete`` (no end, no duration). A phase whose start is
    unknown is left out (it never began)."""
    out = []
    for phase in phases:
        if not isinstance(phase, dict) or not phase.get("name"):
            raise DrillError("every phase needs a name")
        status = phase.get("status") or "ok"
        if status not in STATUSES:
            raise DrillError(f"phase {phase['name']}: status must be one of {', '.join(STATUSES)}, got {status}")
        start = _resolve(phase.get("start"), times)
        if start is None:
            continue
        end = _resolve(phase.get("end"), times)
        if end is None and phase.get("end_fallback") is not None:
            end = _resolve(phase.get("end_fallback"), times)
            status = "failed" if end is not None else status
        if end is None:
            status = "incomplete"
        elif end < start:
            # clocks of two hosts disagree by more than the phase lasted: show it, do not hide it
            end = start
        out.append({
            "name": phase["name"],
            "label": phase.get("label") or phase["name"],
            "start": start,
            "end": end,
            "seconds": None if end is None else round(end - start, 3),
            "clock": phase.get("clock") or "controller",
            "status": status,
            "kind": phase.get("kind") or "step",
            "detail": phase.get("detail") or "",
        })
    return out


def compute_rto(times, start="fault", ends=("served_by_peer",)):
    """(RTO in seconds, [missing event names]): from ``start`` until the last of ``ends``.
    None while any of them is unknown: the takeover is not complete until all happened."""
    missing = [name for name in [start] + list(ends) if name not in times]
    if missing or not ends:
        return None, missing
    return round(max(times[name] for name in ends) - times[start], 3), []


def span(phases, events):
    """(first, last) time over the phases and events; (None, None) when there is none."""
    points = [p["start"] for p in phases] + [p["end"] for p in phases if p["end"] is not None]
    points += [e["at"] for e in events]
    if not points:
        return None, None
    return min(points), max(points)
