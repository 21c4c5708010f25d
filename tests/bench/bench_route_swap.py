"""Benchmark: route swap for N = 1, 10, 50 route tables - hapair-route-failover (this
collection's module_utils, the command keepalived runs) against ClusterLabs' aws-vpc-move-ip
(Debian's resource-agents, driving the AWS CLI), side by side against the same moto server.

Both run inside the lab host db-01, which they learn about from the lab's IMDSv2 emulator, with
its instance-profile credentials; both go through the same counting proxy in front of moto, so
"API calls" are the EC2 requests each sent. Every run moves the VIP route of all N tables from
db-02's ENI to db-01's and is checked against moto afterwards. Figures are printed, not asserted.

    sudo .venv/bin/python -m tests.bench.bench_route_swap [--sizes 1,10,50] [--runs 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys

from tests.bench import _vip
from tests.lab import Lab


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50", help="numbers of route tables (default 1,10,50)")
    parser.add_argument("--runs", type=int, default=3, help="runs of our command per size (median; default 3)")
    parser.add_argument("--skip-agent", action="store_true", help="only our command")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    lab = Lab.from_topology("vip")
    rows = []
    try:
        lab.up()
        if not args.skip_agent:
            _vip.require_agent(lab, "db-01")
        proxy = _vip.proxy_for(lab)
        here, there = _vip.primary_eni(lab, "db-01"), _vip.primary_eni(lab, "db-02")
        wrapper = None if args.skip_agent else _vip.prepare_agent(lab, "db-01", proxy.url)
        for n in sizes:
            tables = _vip.make_tables(lab, n, there)
            ours_t, ours_calls = [], []
            for _run in range(args.runs):
                _vip.point_all(lab, tables, there)
                proxy.reset()
                ours_t.append(_vip.run_ours(lab, "db-01", tables, proxy.url))
                ours_calls.append(proxy.total())
                assert _vip.targets(lab, tables) == {here}, "our command left a table behind"
            row = {"n": n, "ours_s": statistics.median(ours_t), "ours_calls": int(statistics.median(ours_calls)),
                   "ours_detail": dict(proxy.counts)}
            if wrapper:
                _vip.point_all(lab, tables, there)
                proxy.reset()
                row["agent_s"] = _vip.run_agent(lab, "db-01", tables, wrapper)
                row["agent_calls"] = proxy.total()
                row["agent_detail"] = dict(proxy.counts)
                assert _vip.targets(lab, tables) == {here}, "aws-vpc-move-ip left a table behind"
            rows.append(row)
            print(f"N={n}: ours {row['ours_s']:.2f}s / {row['ours_calls']} calls {row['ours_detail']}"
                  + (f"; aws-vpc-move-ip {row['agent_s']:.2f}s / {row['agent_calls']} calls {row['agent_detail']}"
                     if wrapper else ""), flush=True)
        proxy.stop()
    finally:
        lab.down()

    print("\nRoute swap, VIP route of N tables to this node (inside a lab host, moto behind a counting proxy)")
    print(f"{'N':>4} | {'ours: calls':>11} {'wall s':>7} | {'aws-vpc-move-ip: calls':>22} {'wall s':>7} | {'speed-up':>8} | target <= N+2 calls")
    for r in rows:
        agent = (f"{r['agent_calls']:>22} {r['agent_s']:>7.2f}" if "agent_s" in r else f"{'-':>22} {'-':>7}")
        speed = f"{r['agent_s'] / r['ours_s']:>7.1f}x" if "agent_s" in r else f"{'-':>8}"
        ok = "yes" if r["ours_calls"] <= r["n"] + 2 else "NO"
        print(f"{r['n']:>4} | {r['ours_calls']:>11} {r['ours_s']:>7.2f} | {agent} | {speed} | {ok}")
    print(f"(ours: median of {args.runs} runs, process start-up included; aws-vpc-move-ip: one `start`, which "
          "checks every table, replaces each route and checks again, with a 1 s pause after each table)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
