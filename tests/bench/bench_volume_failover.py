"""Benchmark: time to service on the VIP of the keepalived master/backup pair with a shared
volume - from the fault on the MASTER until the BACKUP answers on the VIP with a file that was
written through the app before the fault (so: VRRP takeover + mount + app serving from the
volume), median of N runs, advert_int 1, check interval 2 s.

Three faults, N runs each (the pair fails over back and forth), on lab hosts that boot systemd:
  sigkill  the MASTER's keepalived is SIGKILLed (`systemctl kill -s KILL --kill-whom=main`; no
           notify script runs; the keepalived role's ExecStopPost= releases the VIP and volume)
  app      the MASTER's app is stopped and made unable to start: the health check restarts it
           once, gives up and stops keepalived
  crash    the whole MASTER host crashes (its PID 1 killed, its disk left as a power cut leaves
           it): the BACKUP's guard waits for the dead holder's MMP block to go stale, runs fsck,
           mounts; the crashed host is booted again and comes back as BACKUP
For each run it also records when the VIP alone was on the BACKUP (VRRP takeover), and prints
the ratio of the medians (service / takeover): what the volume hand-over adds.

    sudo .venv/bin/python -m tests.bench.bench_volume_failover [--runs 5] [--faults sigkill,app,crash]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from tests.integration.shared_volume.conftest import PairLab
from tests.lab import Lab


def one_run(pair: PairLab, fault: str, i: int) -> tuple[float, float]:
    old = pair.settled(timeout=60)
    new = pair.other(old)
    name = f"bench-{fault}-{i}.txt"
    text = f"run {i} of {fault}, written on {old}"
    pair.put(name, text)
    t0 = time.monotonic()
    if fault == "sigkill":
        pair.kill_keepalived(old)
    elif fault == "crash":
        pair.lab.crash(old)
    else:
        pair.sh(old, "touch /etc/lab-webapp/broken; systemctl stop lab-webapp")
    vip_at = None
    while True:
        now = time.monotonic() - t0
        if vip_at is None and pair.has_vip(new):
            vip_at = now
        if pair.served_by() == new and pair.http(f"/uploads/{name}") == (0, text):
            served_at = time.monotonic() - t0
            break
        if now > 90:
            raise RuntimeError(f"run {i} ({fault}): {new} did not serve {name} within 90s")
        time.sleep(0.05)
    # repair the old MASTER; it comes back as BACKUP
    if not pair.lab.running_host(old):
        pair.lab.boot(old)
    pair.sh(old, "rm -f /etc/lab-webapp/broken; systemctl start lab-webapp")
    if not pair.keepalived_running(old):
        pair.start_keepalived(old)
    return vip_at if vip_at is not None else served_at, served_at


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--faults", default="sigkill,app,crash")
    args = parser.parse_args(argv)
    faults = [f for f in args.faults.split(",") if f]
    if not set(faults) <= {"sigkill", "app", "crash"}:
        parser.error("--faults: sigkill, app and/or crash")

    lab = Lab.from_topology("keepalived")
    results = {}
    try:
        lab.up()
        vip = str(lab.topo.vip_network.network_address + 10)
        lab.exec("client-1", "ip", "route", "add", f"{vip}/32", "dev", "eth0")
        pair = PairLab(lab=lab, vip=vip)
        t0 = time.monotonic()
        run = pair.run()
        if run.rc != 0:
            print(run.stdout[-3000:], file=sys.stderr)
            return 1
        print(f"pair converged in {time.monotonic() - t0:.1f}s")
        for fault in faults:
            rows = []
            for i in range(args.runs):
                takeover, served = one_run(pair, fault, i + 1)
                rows.append((takeover, served))
                print(f"{fault} run {i + 1}: VIP on the backup after {takeover:.2f}s, file served on the VIP after {served:.2f}s")
            results[fault] = rows
    finally:
        lab.down()
    print()
    print("| fault | runs | VRRP takeover (median) | time to service on the VIP (median) | service / takeover |")
    print("|---|---|---|---|---|")
    for fault, rows in results.items():
        takeover = statistics.median(r[0] for r in rows)
        served = statistics.median(r[1] for r in rows)
        print(f"| {fault} | {len(rows)} | {takeover:.2f} s | {served:.2f} s | {served / takeover:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
