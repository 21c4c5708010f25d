"""Benchmark: route swap for N = 1, 10, 50 route tables at 0 and 100 ms per API call -
hapair-route-failover (this collection's module_utils, the command keepalived runs) against
ClusterLabs' aws-vpc-move-ip (Debian's resource-agents, driving the AWS CLI), side by side
against the same moto server.

Both run inside the lab host db-01, which they learn about from the lab's IMDSv2 emulator, with
its instance-profile credentials; both go through the same lab proxy in front of moto
(tests/lab/awsproxy.py), which counts their EC2 requests ("API calls") and delays each by the
latency of the table (moto itself answers in about a millisecond). Every run moves the VIP
route of all N tables from db-02's ENI to db-01's and is checked against moto afterwards.
Figures are printed, not asserted.

    sudo .venv/bin/python -m tests.bench.bench_route_swap [--sizes 1,10,50] [--runs 3]
        [--latency-ms 0,100] [--agent-sizes 1,10] [--skip-agent] [--slot N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from tests.bench import _vip


def _ints(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def _floats(text: str) -> list[float]:
    return [float(s) for s in text.split(",") if s.strip()]


def main(argv=None, results: list | None = None) -> int:
    """Run the benchmark; ``results`` (a list), when given, receives one dict per latency and N
    (times, calls, and ``read_back``: the ENIs moto's tables pointed at after each run, with
    ``node_eni``, the ENI they must point at)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50", help="numbers of route tables (default 1,10,50)")
    parser.add_argument("--runs", type=int, default=3, help="runs of our command per size and latency (median; default 3)")
    parser.add_argument("--latency-ms", default="0,100",
                        help="latency added by the proxy to each API call, one table per value (ms; default 0,100)")
    parser.add_argument("--agent-sizes", default=None,
                        help="sizes at which aws-vpc-move-ip runs too (default: every size; it takes minutes at N=50)")
    parser.add_argument("--skip-agent", action="store_true", help="only our command")
    _vip.add_slot_argument(parser)
    args = parser.parse_args(argv)
    sizes = _ints(args.sizes)
    latencies = _floats(args.latency_ms)
    agent_sizes = set() if args.skip_agent else set(_ints(args.agent_sizes) if args.agent_sizes else sizes)
    lab = _vip.bench_lab(args.slot)
    rows = results if results is not None else []
    t_start = time.monotonic()
    try:
        lab.up()
        print(f"lab {lab.name} (slot {lab.topo.slot}) up", flush=True)
        if agent_sizes:
            _vip.require_agent(lab, "db-01")
        proxy = _vip.proxy_for(lab)
        try:
            here, there = _vip.primary_eni(lab, "db-01"), _vip.primary_eni(lab, "db-02")
            wrapper = _vip.prepare_agent(lab, "db-01", proxy.url) if agent_sizes else None
            tables_of = {n: _vip.make_tables(lab, n, there) for n in sizes}
            for ms in latencies:
                proxy.latency = ms / 1000.0
                for n in sizes:
                    tables = tables_of[n]
                    row = {"latency_ms": ms, "n": n, "node_eni": here, "read_back": []}
                    ours_t, ours_calls = [], []
                    for _run in range(args.runs):
                        _vip.point_all(lab, tables, there)
                        proxy.reset()
                        ours_t.append(_vip.run_ours(lab, "db-01", tables, proxy.url))
                        ours_calls.append(proxy.total())
                        found = _vip.targets(lab, tables)
                        row["read_back"].append(("ours", found))
                        assert found == {here}, f"our command left a table behind: {found} (N={n}, {ms:g} ms)"
                    row.update(ours_s=statistics.median(ours_t), ours_calls=int(statistics.median(ours_calls)),
                               ours_runs=ours_t, ours_detail=dict(proxy.counts))
                    if n in agent_sizes:
                        _vip.point_all(lab, tables, there)
                        proxy.reset()
                        row["agent_s"] = _vip.run_agent(lab, "db-01", tables, wrapper)
                        row["agent_calls"] = proxy.total()
                        row["agent_detail"] = dict(proxy.counts)
                        found = _vip.targets(lab, tables)
                        row["read_back"].append(("aws-vpc-move-ip", found))
                        assert found == {here}, f"aws-vpc-move-ip left a table behind: {found} (N={n}, {ms:g} ms)"
                    rows.append(row)
                    print(f"{ms:g} ms, N={n}: ours {row['ours_s']:.2f}s (runs {', '.join(f'{t:.2f}' for t in ours_t)})"
                          f" / {row['ours_calls']} calls {row['ours_detail']}"
                          + (f"; aws-vpc-move-ip {row['agent_s']:.2f}s / {row['agent_calls']} calls {row['agent_detail']}"
                             if "agent_s" in row else ""), flush=True)
        finally:
            proxy.stop()
    finally:
        lab.down()
    print(f"(all runs in {time.monotonic() - t_start:.0f} s)")

    for ms in latencies:
        table = [r for r in rows if r["latency_ms"] == ms]
        print(f"\nRoute swap at {ms:g} ms per API call: VIP route of N tables to this node "
              "(inside a lab host, moto behind the lab's proxy)")
        print(f"{'N':>4} | {'ours: calls':>11} {'wall s':>7} {'calls x lat s':>14} | "
              f"{'aws-vpc-move-ip: calls':>22} {'wall s':>7} | {'speed-up':>8} | target <= N+2 calls")
        for r in table:
            agent = (f"{r['agent_calls']:>22} {r['agent_s']:>7.2f}" if "agent_s" in r else f"{'-':>22} {'-':>7}")
            speed = f"{r['agent_s'] / r['ours_s']:>7.1f}x" if "agent_s" in r else f"{'-':>8}"
            ok = "yes" if r["ours_calls"] <= r["n"] + 2 else "NO"
            serial = r["ours_calls"] * ms / 1000.0
            print(f"{r['n']:>4} | {r['ours_calls']:>11} {r['ours_s']:>7.2f} {serial:>14.2f} | {agent} | {speed} | {ok}")
        if len(table) > 1:
            small, large = min(table, key=lambda r: r["n"]), max(table, key=lambda r: r["n"])
            extra = large["ours_calls"] - small["ours_calls"]
            print(f"ours, N={large['n']} minus N={small['n']}: {large['ours_s'] - small['ours_s']:+.2f} s "
                  f"({extra} more API calls; {extra} x {ms:g} ms = {extra * ms / 1000.0:.2f} s if made one after another)")
    print(f"\n(ours: median of {args.runs} runs, process start-up included; \"calls x lat s\": the latency its calls "
          "would add if made one after another; aws-vpc-move-ip: one `start`, which checks every table, replaces "
          "each route and checks again, with a 1 s pause after each table; every run read back from moto)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
