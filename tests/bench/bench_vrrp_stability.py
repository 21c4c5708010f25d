"""Stability drill: spurious VRRP transitions of the VIP pair while both CPU cores are busy, per
advert interval (default 0.2 then 1, for comparison).

The pair is converged with playbooks/vip_failover_setup.yml (two heartbeat paths, unicast VRRP)
at each interval, on lab hosts that boot systemd (Debian 13 by default: see
bench_vip_failover). Nothing fails: the MASTER stays healthy the whole time. Then ``stress-ng
--cpu <cores>`` keeps every core of the machine busy for ``--seconds`` (the lab's hosts share
the controller's kernel and CPUs, so keepalived on both nodes competes with it), and every
"Entering MASTER/BACKUP/FAULT STATE" line keepalived writes to the journal of either node
during that window counts as a spurious transition; so does every transition of the sync
group that the notify dispatcher logged ("GROUP VIP -> ..."), which is what runs hooks. The
drill also checks that the VIP and every route table (moto) are still on the node that held
them before. Zero is the goal.

    sudo .venv/bin/python -m tests.bench.bench_vrrp_stability --slot 14 [--advert-int 0.2,1]
        [--seconds 60] [--cpu N]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

from tests.bench import _vip
from tests.bench.bench_vip_failover import PAIR, converge, holders, journal, make_lab, state, wait
from tests.lab import observe

TRANSITION = re.compile(r"\((?P<instance>[^)]+)\) Entering (?P<state>MASTER|BACKUP|FAULT) STATE")
GROUP = re.compile(r"GROUP (?P<group>\S+) -> (?P<state>\S+)")


def count(lines, start: float, end: float) -> tuple[list[str], list[str]]:
    """keepalived's instance transitions and the dispatcher's group transitions in [start, end]."""
    instances, groups = [], []
    for stamp, text in lines:
        if not start <= stamp <= end:
            continue
        if (m := TRANSITION.search(text)):
            instances.append(f"{m['instance']}->{m['state']}")
        elif "keepalived-notify" in text and (m := GROUP.search(text)):
            groups.append(f"{m['group']}->{m['state']}")
    return instances, groups


def main(argv=None, results: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--advert-int", default="0.2,1", help="advert intervals, in this order (default 0.2,1)")
    parser.add_argument("--seconds", type=int, default=60, help="length of the busy window (default 60)")
    parser.add_argument("--cpu", type=int, default=os.cpu_count() or 2, help="stress-ng CPU workers (default: every core)")
    parser.add_argument("--tables", type=int, default=2, help="route tables carrying the VIP (default 2)")
    parser.add_argument("--release", default="trixie", help="the hosts' Debian release (default trixie)")
    parser.add_argument("--one-path", action="store_true", help="no second heartbeat path (VRRPv3 on bookworm)")
    _vip.add_slot_argument(parser)
    args = parser.parse_args(argv)
    stress = shutil.which("stress-ng")
    if not stress:
        raise SystemExit("stress-ng is missing: make setup (apt) installs it")
    settings = [s.strip() for s in args.advert_int.split(",") if s.strip()]

    lab = make_lab(args.slot, args.release)
    rows: list[dict] = [] if results is None else results
    try:
        vip, enis, tables = _vip.pair_up(lab, args.tables, PAIR)
        print(f"lab {lab.name} (Debian {args.release}), {'one heartbeat path' if args.one_path else 'two heartbeat paths'}, "
              f"{args.seconds}s of stress-ng --cpu {args.cpu} per interval", flush=True)
        for setting in settings:
            took = converge(lab, vip, tables, setting, None, args.one_path)
            master = holders(lab, vip)
            if len(master) != 1 or not _vip.targets(lab, tables) == {enis[master[0]]}:
                raise RuntimeError(f"pair not converged: VIP on {master}, tables {_vip.targets(lab, tables)}")
            master = master[0]
            time.sleep(3)  # let the start-up transitions settle
            cursor = {h: observe.journal_cursor(lab, h) for h in PAIR}
            start = time.time()
            proc = subprocess.run([stress, "--cpu", str(args.cpu), "--cpu-load", "100", "--timeout", f"{args.seconds}s",
                                   "--metrics-brief"], capture_output=True, text=True, check=False,
                                  timeout=args.seconds + 60)
            end = time.time()
            if proc.returncode != 0:
                raise RuntimeError(f"stress-ng failed ({proc.returncode}): {proc.stderr[-2000:]}")
            bogo = next((line.split()[4] for line in (proc.stdout + proc.stderr).splitlines()
                         if re.search(r"\bcpu\s+\d+", line)), "?")
            time.sleep(1)  # journald catches up
            per_node = {h: count(journal(lab, h, cursor[h]), start, end) for h in PAIR}
            vip_on, tables_on = holders(lab, vip), _vip.targets(lab, tables)
            wait(lambda: sorted(state(lab, h) for h in PAIR) == ["BACKUP", "MASTER"], 30, "one MASTER, one BACKUP")
            row = {
                "advert_int": setting, "seconds": round(end - start, 1), "master_before": master,
                "instance_transitions": {h: per_node[h][0] for h in PAIR},
                "group_transitions": {h: per_node[h][1] for h in PAIR},
                "vip_on": vip_on, "tables_on_master": tables_on == {enis[master]},
                "states_after": {h: state(lab, h) for h in PAIR}, "stress_bogo_ops": bogo,
                "tables_follow_vip": len(vip_on) == 1 and tables_on == {enis[vip_on[0]]},
            }
            rows.append(row)
            n_inst = sum(len(v) for v in row["instance_transitions"].values())
            n_group = sum(len(v) for v in row["group_transitions"].values())
            print(f"\nadvert_int {setting}: converged in {took:.0f}s; {row['seconds']}s busy (stress-ng {bogo} bogo ops)")
            for host in PAIR:
                print(f"  {host}: {len(per_node[host][0])} instance transitions {per_node[host][0] or ''}"
                      f"; {len(per_node[host][1])} group transitions {per_node[host][1] or ''}")
            print(f"  spurious transitions: {n_inst} (instances), {n_group} (sync group, hooks run); VIP on {vip_on} "
                  f"(before: {master}), tables on {master}: {'yes' if row['tables_on_master'] else 'NO'}", flush=True)
    finally:
        lab.down()

    print(f"\nVRRP stability with every core busy ({args.cpu} x stress-ng --cpu, {args.seconds}s per interval, Debian "
          f"{args.release}, {'one path' if args.one_path else 'two heartbeat paths'}):")
    print("  advert_int | instance transitions | group transitions | VIP and tables stayed")
    for row in rows:
        n_inst = sum(len(v) for v in row["instance_transitions"].values())
        n_group = sum(len(v) for v in row["group_transitions"].values())
        stayed = row["vip_on"] == [row["master_before"]] and row["tables_on_master"]
        print(f"  {row['advert_int']:>10} | {n_inst:20d} | {n_group:17d} | {'yes' if stayed else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
