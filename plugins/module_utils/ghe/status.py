# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parser for ``ghe-repl-status`` output (any verbosity, ``-vv`` in practice).

What the parser relies on (GitHub's "Command-line utilities" and "About high availability
configuration" pages, and published real outputs):

* one line per datastore: ``STATUS: message`` with STATUS one of ``OK``, ``WARNING``,
  ``CRITICAL`` (``UNKNOWN``, the fourth Nagios state, is accepted too), e.g.
  ``OK: mysql replication is in sync``, ``WARNING: mysql replication delay is 29s``,
  ``CRITICAL: git replication is behind the primary by 150 repositories and/or gists``;
* ``-v``/``-vv`` add detail lines prefixed with ``  | `` after their status line, and blank
  lines between blocks;
* exit code 0 when all OK, 1 on any WARNING or when replication is not started (the output
  is then ``Replication is not running``), 2 on any CRITICAL.

Decisions: a line that is neither a status line, a detail line nor blank is *not* turned into
a service (it would be a datastore that does not exist); it is kept verbatim in ``notes`` so
nothing is lost. A detail line before any status line is also a note. The overall status is
the worst of the services' statuses and of the status implied by the exit code, with
``OK < WARNING < UNKNOWN < CRITICAL``; with no status line at all it is the exit code's
WARNING/CRITICAL, else ``UNKNOWN`` (an exit code 0 with nothing parsed proves nothing).
``in_sync`` is true only for exit code 0 with at least one service, all ``OK``.
"""

from __future__ import annotations

import re

STATUS_RANK = {"OK": 0, "WARNING": 1, "UNKNOWN": 2, "CRITICAL": 3}
EXIT_CODE_STATUS = {0: "OK", 1: "WARNING", 2: "CRITICAL"}

_STATUS_LINE = re.compile(r"^(OK|WARNING|CRITICAL|UNKNOWN):\s*(.*?)\s*$")
_DETAIL_LINE = re.compile(r"^\s*\| ?(.*?)\s*$")
# Words after which a service name ends: "mysql replication ...", "elasticsearch cluster ...",
# "git replica is ...", "pages data is ...", "alambic storage replication ..." (-> alambic-storage).
_NAME_END = frozenset((
    "replication", "replica", "replicas", "cluster", "data", "is", "are", "in", "was",
    "has", "service", "services", "status", "sync", "delay", "not",
))
_MAX_NAME_WORDS = 3


def service_name(message):
    """Derive a service name from a status message's first word(s).

    >>> service_name("elasticsearch cluster is in sync (0 shards initializing)")
    'elasticsearch'
    """
    words = message.split()
    name = []
    for word in words[:_MAX_NAME_WORDS + 1]:
        clean = word.strip(".,:;()[]'\"").lower()
        if clean in _NAME_END:
            break
        name.append(clean)
    else:
        # No terminating word within the first words: free text, use its first word.
        name = name[:1]
    if not name or len(name) > _MAX_NAME_WORDS or not all(name):
        first = words[0].strip(".,:;()[]'\"").lower() if words else ""
        return first or "unknown"
    return "-".join(name)


def worst_status(statuses):
    """The worst of an iterable of status strings (``OK`` for an empty one)."""
    worst = "OK"
    for status in statuses:
        if STATUS_RANK[status] > STATUS_RANK[worst]:
            worst = status
    return worst


def parse_status(stdout, exit_code, stderr=""):
    """Parse ``ghe-repl-status`` output and exit code into a result dict.

    Returns ``status``, ``exit_code``, ``in_sync``, ``replication_running``, ``services``
    (each ``name``, ``status``, ``message``, ``details``) and ``notes``.
    """
    if not isinstance(exit_code, int) or isinstance(exit_code, bool):
        raise TypeError("exit_code must be an int")
    services = []
    notes = []
    current = None
    for lineno, raw in enumerate((stdout or "").splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip():
            continue
        match = _STATUS_LINE.match(line)
        if match and match.group(2):
            status, message = match.groups()
            current = {
                "name": service_name(message),
                "status": status,
                "message": message,
                "details": [],
            }
            services.append(current)
            continue
        match = _DETAIL_LINE.match(line)
        if match:
            if current is None:
                notes.append(f"line {lineno}: detail line before any status line: {line.strip()}")
            else:
                current["details"].append(match.group(1))
            continue
        # A line that does not follow the format (or a message such as "Replication is
        # not running"): kept, but it does not end the preceding block's details.
        notes.append(f"line {lineno}: {line.strip()}")
    for raw in (stderr or "").splitlines():
        if raw.strip():
            notes.append(f"stderr: {raw.strip()}")

    rc_status = EXIT_CODE_STATUS.get(exit_code, "UNKNOWN")
    if services:
        parsed = worst_status(s["status"] for s in services)
        overall = worst_status((parsed, rc_status))
        if parsed != rc_status:
            notes.append(f"exit code {exit_code} ({rc_status}) does not match the parsed lines ({parsed})")
    else:
        overall = rc_status if rc_status in ("WARNING", "CRITICAL") else "UNKNOWN"
    in_sync = exit_code == 0 and bool(services) and all(s["status"] == "OK" for s in services)
    return {
        "status": overall,
        "exit_code": exit_code,
        "in_sync": in_sync,
        "replication_running": bool(services),
        "services": services,
        "notes": notes,
    }


def not_ok_summary(parsed):
    """A short human summary of the services that are not OK (for error messages)."""
    bad = [f"{s['status']}: {s['message']}" for s in parsed["services"] if s["status"] != "OK"]
    if bad:
        return "; ".join(bad)
    if not parsed["services"]:
        first = parsed["notes"][0] if parsed["notes"] else "no status lines"
        return f"exit code {parsed['exit_code']}, {first}"
    return f"exit code {parsed['exit_code']}"
