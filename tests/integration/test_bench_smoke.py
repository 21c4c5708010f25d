"""Short smoke runs of the benchmarks (tests/bench): they still run and still do their job.

Nothing here asserts a time - the machine's load decides those; each test asserts only that
the benchmark exited 0 and that what it measured really happened (for the route swap: after
every run, moto's route tables pointed at the node). Lab slot 9, named ``vip-s9``.
"""
from __future__ import annotations

import os

import pytest

from tests.bench import bench_route_swap
from tests.bench import bench_vip_failover, bench_vrrp_stability

pytestmark = pytest.mark.lab

SLOT = "9"


def test_route_swap_bench_smoke(capsys):
    if os.geteuid() != 0:
        pytest.fail("the lab needs root: run the integration tests as root (make test does)")
    rows: list[dict] = []
    rc = bench_route_swap.main(["--slot", SLOT, "--sizes", "1,3", "--runs", "1", "--latency-ms", "0,100",
                                "--skip-agent"], results=rows)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert [(r["latency_ms"], r["n"]) for r in rows] == [(0, 1), (0, 3), (100, 1), (100, 3)], out
    for row in rows:
        assert row["read_back"] == [("ours", {row["node_eni"]})], row
        assert row["ours_calls"] <= row["n"] + 2, row
    assert "Route swap at 0 ms per API call" in out and "Route swap at 100 ms per API call" in out, out
    assert "ours, N=3 minus N=1" in out, out


# The sub-second VRRP benchmarks (issue 12): their own lab slot, 14 (lab vip-s14), one interval
# (0.2 s: VRRPv3 on the benchmarks' Debian 13 hosts), the fewest runs that still do the job.
SUBSECOND_SLOT = "14"


def test_vip_failover_bench_smoke(capsys):
    if os.geteuid() != 0:
        pytest.fail("the lab needs root: run the integration tests as root (make test does)")
    rows: list[dict] = []
    rc = bench_vip_failover.main(["--runs", "2", "--slot", SUBSECOND_SLOT, "--advert-int", "0.2", "--tables", "2"],
                                 results=rows)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert [(r["advert_int"], r["run"]) for r in rows] == [("0.2", 1), ("0.2", 2)], out
    for row in rows:
        # each run failed over: the VIP on the backup only, answering there, every table on its ENI
        assert row["vip_on"] == [row["to"]] and row["answered_by"] == row["to"], row
        assert row["tables"] == {row["to_eni"]} and row["replace_routes"] >= 1, row
    assert rows[0]["to"] == rows[1]["from"], rows  # the second run failed back
    assert "Automatic failover" in out, out


def test_vrrp_stability_bench_smoke(capsys):
    if os.geteuid() != 0:
        pytest.fail("the lab needs root: run the integration tests as root (make test does)")
    rows: list[dict] = []
    rc = bench_vrrp_stability.main(["--seconds", "10", "--slot", SUBSECOND_SLOT, "--advert-int", "0.2"], results=rows)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert len(rows) == 1 and rows[0]["advert_int"] == "0.2", out
    row = rows[0]
    # the busy window ran and both journals were read; the pair is whole afterwards
    assert row["seconds"] >= 10 and set(row["instance_transitions"]) == {"db-01", "db-02"}, row
    assert sorted(row["states_after"].values()) == ["BACKUP", "MASTER"], row
    assert len(row["vip_on"]) == 1 and row["tables_follow_vip"], row
    assert "VRRP stability with every core busy" in out, out
