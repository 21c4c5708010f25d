"""module_utils/drill/routes.py: watching route tables until every one points at the target."""
from __future__ import annotations

from ansible_collections.hapair.ha.plugins.module_utils.drill.routes import RouteReadError, watch_routes

OLD, NEW = "eni-0000000000000000a", "eni-0000000000000000b"


class Clock:
    """A fake clock: every read of the tables takes 0.1 s, a sleep what it says."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def reader(clock, states):
    """read() returning the given states in turn (the last one again and again)."""
    states = list(states)

    def read():
        clock.now += 0.1
        state = states.pop(0) if len(states) > 1 else states[0]
        if isinstance(state, Exception):
            raise state
        return state
    return read


def test_switch_seen_within_one_poll():
    clock = Clock()
    states = [{"rtb-1": OLD, "rtb-2": OLD}, {"rtb-1": NEW, "rtb-2": OLD}, {"rtb-1": NEW, "rtb-2": NEW}]
    result = watch_routes(reader(clock, states), NEW, timeout=10, interval=0.2, clock=clock, sleep=clock.sleep)
    assert result["switched"] and result["polls"] == 3 and result["failed_polls"] == 0
    assert result["started_at"] == 1000.0
    assert round(result["switched_at"], 3) == 1000.7 and round(result["last_other_at"], 3) == 1000.4
    assert [(t["route_table_id"], t["target_before"], t["target_now"], round(t["on_target_at"], 3))
            for t in result["tables"]] == [("rtb-1", OLD, NEW, 1000.4), ("rtb-2", OLD, NEW, 1000.7)]


def test_timeout_and_a_table_that_moves_back():
    clock = Clock()
    states = [{"rtb-1": OLD, "rtb-2": None}, {"rtb-1": NEW, "rtb-2": None}, {"rtb-1": OLD, "rtb-2": None}]
    result = watch_routes(reader(clock, states), NEW, timeout=1, interval=0.2, clock=clock, sleep=clock.sleep)
    assert not result["switched"] and result["switched_at"] is None
    assert result["polls"] == 4    # 0.1 s per read + 0.2 s of sleep: the fourth poll passes the second
    assert [t["on_target_at"] for t in result["tables"]] == [None, None]
    assert result["tables"][1]["target_before"] is None


def test_failed_polls_are_counted_and_retried():
    clock = Clock()
    states = [RouteReadError("Throttling"), {"rtb-1": NEW}]
    result = watch_routes(reader(clock, states), NEW, timeout=5, interval=0.2, clock=clock, sleep=clock.sleep)
    assert result["switched"] and result["failed_polls"] == 1 and result["last_error"] == "Throttling"
    assert result["last_other_at"] is None


def test_no_table_is_never_switched():
    clock = Clock()
    result = watch_routes(reader(clock, [{}]), NEW, timeout=0, interval=0.2, clock=clock, sleep=clock.sleep)
    assert not result["switched"] and result["polls"] == 1 and result["tables"] == []
