"""Benchmark: automatic failover time of the VIP pair - from SIGKILL of the MASTER's keepalived
to "the VIP is on the backup AND every route table points at the backup's ENI" (read back from
moto), median of 5 runs, advert_int 1.

The pair is converged with playbooks/vip_failover_setup.yml (two heartbeat paths, unicast VRRP,
the route-failover hook) on lab hosts that boot systemd; each run kills the current MASTER's
keepalived (`systemctl kill -s KILL --kill-whom=main keepalived`; nothing is removed by hand:
the old MASTER lets go of the VIP through the keepalived role's ExecStopPost=), times the
takeover by polling every 50 ms, then waits until systemd has restarted the killed keepalived
and keepalived reports it BACKUP.

    sudo .venv/bin/python -m tests.bench.bench_vip_failover [--runs 5] [--tables 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from tests.bench import _vip
from tests.integration.vip.conftest import LAB_VARS, SETUP
from tests.lab import Lab, ansible_run, observe

PAIR = ("db-01", "db-02")


def holders(lab, vip):
    return [h for h in PAIR if lab.exec(h, "ip", "-o", "-4", "addr", "show", "to", f"{vip}/32").stdout.strip()]


def state(lab, host):
    return observe.keepalived_state(lab, host)


def wait(predicate, timeout, interval=0.05):
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"not reached within {timeout}s")
        time.sleep(interval)
    return time.monotonic() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tables", type=int, default=5, help="route tables carrying the VIP (default 5)")
    args = parser.parse_args(argv)

    lab = Lab.from_topology("vip")
    times = []
    try:
        lab.up()
        vip = _vip.vip_of(lab)
        enis = {h: _vip.primary_eni(lab, h) for h in PAIR}
        tables = _vip.make_tables(lab, args.tables, enis["db-01"])
        t0 = time.monotonic()
        run = ansible_run.playbook(lab, SETUP, "-e", f"@{LAB_VARS}",
                                   extra_vars={"vip_route_vip": vip, "vip_route_route_table_ids": tables,
                                               "vip_route_iam_role_name": ""})
        if run.rc != 0:
            raise SystemExit(f"setup failed:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}")
        print(f"pair converged in {time.monotonic() - t0:.1f}s; {args.tables} route tables", flush=True)
        for i in range(args.runs):
            master = holders(lab, vip)
            assert len(master) == 1, master
            master = master[0]
            backup = "db-02" if master == "db-01" else "db-01"
            wait(lambda: state(lab, backup) == "BACKUP", 20)
            start = time.monotonic()
            lab.exec(master, "systemctl", "kill", "-s", "KILL", "--kill-whom=main", "keepalived")
            vip_at = None
            while True:
                now = time.monotonic() - start
                if vip_at is None and holders(lab, vip) == [backup]:
                    vip_at = now
                if vip_at is not None and _vip.targets(lab, tables) == {enis[backup]}:
                    took = now
                    break
                if now > 30:
                    raise RuntimeError(f"run {i + 1}: no failover to {backup} within 30s")
                time.sleep(0.05)
            times.append(took)
            print(f"run {i + 1}: SIGKILL {master} -> VIP on {backup} after {vip_at:.2f}s, "
                  f"all {args.tables} tables switched after {took:.2f}s", flush=True)
            wait(lambda: state(lab, master) == "BACKUP", 30)
    finally:
        lab.down()

    print(f"\nAutomatic failover (advert_int 1, SIGKILL of the MASTER's keepalived -> VIP on the backup "
          f"and all {args.tables} tables switched):")
    print(f"  runs: {', '.join(f'{t:.2f}s' for t in times)}")
    print(f"  median {statistics.median(times):.2f}s (target <= 4 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
