"""python -m tests.lab up|down|status|ssh|exec|crash|boot|reset-aws|partition|heal|power-events
— see tests/lab/README.md."""
from __future__ import annotations

import argparse
import json
import os
import sys

from .lab import Lab, LabError, teardown_all
from .topology import MAX_SLOT, TopologyError, load


def _lab(args) -> Lab:
    if getattr(args, "topology", None):
        topo = load(args.topology, slot=args.slot, name=args.name)
        if args.cmd == "up":
            return Lab(topo, release=args.release, power_watch=args.power_watch)
        return Lab.from_state(topo.name)
    running = Lab.running()
    if args.name:
        return Lab.from_state(args.name)
    if len(running) == 1:
        return Lab.from_state(running[0])
    raise LabError(f"say which lab (--name): running labs are {', '.join(running) or 'none'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description="the hapair.ha namespace lab")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for cmd, help_ in [
        ("up", "build the lab from a topology (tears down a stale run of it first)"),
        ("down", "remove everything the lab made"),
        ("status", "hosts, namespaces, PIDs, SSH reachability"),
        ("ssh", "SSH to a host as Ansible does (ssh HOST [COMMAND...])"),
        ("exec", "run a command inside a host without SSH (exec HOST COMMAND...)"),
        ("reset-aws", "empty moto and seed the lab's EC2 model again"),
        ("crash", "pull a host's plug: kill its PID 1 (crash HOST)"),
        ("boot", "power a crashed host on again, its disk kept (boot HOST)"),
        ("partition", "cut all traffic between two hosts (partition HOST HOST)"),
        ("heal", "remove a partition (heal [HOST [HOST]]: one pair, every one of a host, or all)"),
        ("power-events", "what the power watcher did (hosts crashed/booted by EC2 stop/start)"),
    ]:
        p = sub.add_parser(cmd, help=help_)
        p.add_argument("--topology", "-t", default="smoke" if cmd == "up" else None,
                       help="topology name under tests/lab/topologies or a path (up: default smoke)")
        p.add_argument("--name", help="lab name (default: the topology's)")
        p.add_argument("--slot", type=int, help=f"address/name slot 0..{MAX_SLOT} (default: the topology's)")
        if cmd == "up":
            p.add_argument("--release", help="the hosts' Debian release (bookworm, trixie; default: the topology's image)")
            p.add_argument("--power-watch", action="store_true",
                           help="stopping a host's EC2 instance in moto crashes the host, starting it boots it")
        if cmd == "down":
            p.add_argument("--all", action="store_true", help="every lab on this machine, with or without state")
        if cmd in ("crash", "boot"):
            p.add_argument("host")
        if cmd == "partition":
            p.add_argument("hosts", nargs=2, metavar="HOST")
        if cmd == "heal":
            p.add_argument("hosts", nargs="*", metavar="HOST")
        if cmd in ("ssh", "exec"):
            p.add_argument("host")
            p.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.cmd == "down" and args.all:
            print(json.dumps(teardown_all()))
            return 0
        lab = _lab(args)
        if args.cmd == "up":
            lab.up()
            print(f"lab {lab.name} up in {lab.boot_seconds:.1f}s: {len(lab.topo.hosts)} hosts"
                  + (f", moto at {lab.aws_endpoint}" if lab.topo.aws is not None else ""))
            print(f"inventory: {lab.inventory}")
            for row in lab.status():
                print(f"  {row['host']:<12} {row['address']:<15} ssh:{row['ssh_port']:<5} pid1={row['pid1']} "
                      f"systemd={row['systemd']} memory={row['memory_kib'] / 1024:.1f} MiB (PSS)")
        elif args.cmd == "down":
            print(json.dumps(lab.down()))
        elif args.cmd == "status":
            for row in lab.status():
                print(json.dumps(row))
        elif args.cmd == "crash":
            lab.crash(args.host)
            print(f"{args.host}: crashed")
        elif args.cmd == "boot":
            print(f"{args.host}: up again in {lab.boot(args.host):.1f}s")
        elif args.cmd == "partition":
            lab.partition(*args.hosts)
            print(f"partitions: {lab.partitions()}")
        elif args.cmd == "heal":
            if len(args.hosts) > 2:
                raise LabError("heal takes at most two hosts")
            lab.heal(*args.hosts)
            print(f"partitions: {lab.partitions()}")
        elif args.cmd == "power-events":
            for when, host, event in lab.power_events():
                print(json.dumps({"time": when, "host": host, "event": event}))
        elif args.cmd == "reset-aws":
            print(json.dumps(lab.reset_aws(), indent=2))
        elif args.cmd == "ssh":
            cmd = lab.ssh_command(args.host, *args.command)
            os.execvp(cmd[0], cmd)
        elif args.cmd == "exec":
            proc = lab.exec(args.host, *args.command, check=False)
            sys.stdout.write(proc.stdout)
            sys.stderr.write(proc.stderr)
            return proc.returncode
    except (LabError, TopologyError) as err:
        print(f"lab: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
