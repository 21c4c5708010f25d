"""Benchmark: what a lab host costs - seconds from `up` until every host of a topology is booted
(systemd running its units, set up, SSH answering) and the memory of each host (proportional set
size of every process in its PID namespace), for each Debian release; and a reboot of one host
(power cut, then boot with its disk kept) until it answers on SSH again.

    sudo .venv/bin/python -m tests.bench.bench_lab_boot [--topology keepalived] [--runs 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys

from tests.lab import Lab, image

SLOTS = {"bookworm": 12, "trixie": 13}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", default="keepalived")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    rows = []
    for release in ("bookworm", "trixie"):
        image.ensure(release)
        ups, reboots, memory = [], [], {}
        for i in range(args.runs):
            lab = Lab.from_topology(args.topology, slot=SLOTS[release], name=f"bench-boot-{release}", release=release)
            try:
                lab.up()
                ups.append(lab.boot_seconds)
                hosts = list(lab.topo.hosts)
                for host in hosts:
                    lab.exec(host, "systemctl", "is-system-running", "--wait", timeout=60, check=False)
                if i == args.runs - 1:
                    memory = {h: lab.memory_kib(h) / 1024 for h in hosts}
                reboots.append(lab.reboot(hosts[0]))
            finally:
                lab.down()
            print(f"{release} run {i + 1}: {len(hosts)} hosts up in {ups[-1]:.1f}s, "
                  f"{hosts[0]} power-cycled and on SSH again in {reboots[-1]:.1f}s", flush=True)
        rows.append((release, len(hosts), statistics.median(ups), statistics.median(reboots), memory))
    print()
    print(f"| Debian | hosts ({args.topology}) | up, all hosts booted (median of {args.runs}) | "
          "one host power-cycled (median) | memory per host after boot (PSS) |")
    print("|---|---|---|---|---|")
    for release, n, up, reboot, memory in rows:
        mem = ", ".join(f"{h} {m:.0f} MiB" for h, m in memory.items())
        print(f"| {image.RELEASES[release]['version']} ({release}) | {n} | {up:.1f} s | {reboot:.1f} s | {mem} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
