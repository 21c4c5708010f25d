"""Drill 1: without fencing or a witness (the default), cutting both heartbeat paths makes both
nodes MASTER, and both keep pointing the route tables at themselves: the routes flap (read from
moto). The test documents the failure mode the options exist for."""
from __future__ import annotations

import time

import pytest

from .conftest import PAIR, converge, sample_routes

pytestmark = pytest.mark.lab


def test_cut_heartbeats_make_two_masters_and_flapping_routes(split_lab):
    v = split_lab
    converge(v, "no protection")
    t0 = time.monotonic()
    v.lab.partition("db-01", "db-02")
    try:
        took = v.wait(lambda: [v.state(h) for h in PAIR] == ["MASTER", "MASTER"], 30)
        samples = sample_routes(v, 15)
    finally:
        v.lab.heal()
    seen = {eni for _t, routes in samples for eni in routes.values()}
    changes = sum(1 for (_t1, a), (_t2, b) in zip(samples, samples[1:]) if a != b)
    print(f"split brain: both MASTER {took:.2f}s after the partition; in 15 s the routes changed {changes} times "
          f"between {sorted(seen)} (db-01 {v.enis['db-01']}, db-02 {v.enis['db-02']})")
    assert seen == {v.enis["db-01"], v.enis["db-02"]}, samples
    assert changes >= 2, samples
    assert time.monotonic() - t0 < 60
