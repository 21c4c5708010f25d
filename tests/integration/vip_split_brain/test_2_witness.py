"""Drill 2: with a witness (an app server), the MASTER cut off from both its peer and the
witness releases the VIP (FAULT), the peer takes over, and the routes settle on the peer."""
from __future__ import annotations

import time

import pytest

from .conftest import converge, other, sample_routes

pytestmark = pytest.mark.lab
WITNESS = "app-1a"


def test_an_isolated_master_releases_and_the_routes_settle_on_the_peer(split_lab):
    v = split_lab
    converge(v, "witness", vip_route_witness=str(v.lab.topo.host_ip(WITNESS, "lan")))
    old = v.holders()[0]
    new = other(old)
    t0 = time.monotonic()
    v.lab.partition(old, new)
    v.lab.partition(old, WITNESS)
    try:
        released = v.wait(lambda: v.state(old) == "FAULT" and old not in v.holders(), 30)
        served = v.wait(lambda: v.holders() == [new] and v.tables_point_at(new), 30)
        total = time.monotonic() - t0
        samples = sample_routes(v, 10)
        assert v.state(old) == "FAULT"
    finally:
        v.lab.heal()
    print(f"witness: {old} cut off from {new} and {WITNESS} -> FAULT (VIP released) after {released:.2f}s; "
          f"{new} alone serves (VIP and every table) {total:.2f}s after the partition")
    assert {eni for _t, routes in samples for eni in routes.values()} == {v.enis[new]}, samples
    v.wait(lambda: v.state(old) == "BACKUP", 30)
