# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watch a virtual IP's route in route tables until every table points at one target.

A drill starts this before the fault and reads the result after the takeover: it polls from the
controller every ``interval`` seconds (one DescribeRouteTables per poll), so the moment every
table switched is known to within one poll. The caller supplies ``read()``, which returns
``{route table id: target of the VIP route or None}`` - or raises ``RouteReadError`` for a poll
that failed (counted and retried until the timeout).
"""

from __future__ import annotations

import time


class RouteReadError(Exception):
    """One poll could not read the route tables."""


def watch_routes(read, target, timeout=120.0, interval=0.2, clock=time.time, sleep=time.sleep):
    """Poll ``read()`` until every table routes to ``target``, or ``timeout`` seconds passed
    (at least one poll is made). Times are ``clock()`` values (epoch seconds).

    Returns ``switched``; ``switched_at`` (the end of the first poll that saw every table on the
    target) and ``last_other_at`` (the end of the last poll that saw one elsewhere: the switch
    happened between the two); ``started_at``, ``polls``, ``failed_polls``, ``last_error``;
    ``tables``: per table its target at the first poll and ``on_target_at`` (the end of the poll
    from which on it pointed at the target).
    """
    started = clock()
    result = {"target": target, "switched": False, "started_at": started, "switched_at": None,
              "last_other_at": None, "polls": 0, "failed_polls": 0, "last_error": None, "tables": {}}
    on_target = {}
    while True:
        try:
            state = read()
        except RouteReadError as err:
            state = None
            result["failed_polls"] += 1
            result["last_error"] = str(err)
        now = clock()
        result["polls"] += 1
        if state is not None:
            for table, where in sorted(state.items()):
                entry = result["tables"].setdefault(table, {"route_table_id": table, "target_before": where,
                                                            "on_target_at": None})
                if where == target:
                    on_target.setdefault(table, now)
                else:
                    on_target.pop(table, None)
                entry["target_now"] = where
            if state and all(where == target for where in state.values()):
                result["switched"] = True
                result["switched_at"] = now
                break
            result["last_other_at"] = now
        if now - started >= timeout:
            break
        sleep(interval)
    for table, entry in result["tables"].items():
        entry["on_target_at"] = on_target.get(table)
    result["tables"] = [result["tables"][t] for t in sorted(result["tables"])]
    return result
