"""Benchmark: automatic failover time of the VIP pair per advert interval - from the moment the
MASTER's keepalived dies until "the VIP is on the backup AND every route table points at the
backup's ENI" (read back from moto), p50 and p95 over N runs per interval, with a breakdown of
each run.

The pair is converged with playbooks/vip_failover_setup.yml (two heartbeat paths, unicast VRRP,
the route-failover hook; keepalived_advert_int per setting: 1 is VRRPv2, 0.2 VRRPv3) on lab
hosts that boot systemd. The failover command on the nodes talks to moto through the lab's AWS
proxy (tests/lab/awsproxy.py, via tests/bench/_vip.proxy_for), which adds --latency-ms to every
API call and timestamps it: the nodes get the proxy as their EC2 endpoint
(vip_route_aws_endpoint_url, written into their /etc/hapair/vip-route.conf); credentials and
the ENI still come from the lab's IMDS.

Each run kills the current MASTER's keepalived and nothing else; nothing is removed by hand
(the old MASTER lets go of the VIP through the keepalived role's ExecStopPost=):

- ``--kill silent`` (default): every keepalived process is frozen (SIGSTOP), then SIGKILLed
  (``systemctl kill --kill-whom=all``): the MASTER falls silent at once, as a dead or hung node
  does, and the backup must notice the missing adverts (3 x advert_int + skew). Without the
  freeze, the VRRP child of a SIGKILLed keepalived still sends a priority-0 advert when its
  parent dies, and the backup takes over after the skew alone, whatever the interval.
- ``--kill main``: ``systemctl kill -s KILL --kill-whom=main keepalived`` (that goodbye advert
  is sent: the interval hardly matters).

The run ends when polling (every 50 ms) sees the VIP on the backup only and every table on its
ENI. The breakdown comes from the systems' own timestamps (the lab hosts share the
controller's clock): the kill (the old MASTER's journal: systemd's "Sent signal SIGSTOP/SIGKILL
to main process"), *detection* until the backup's keepalived logs "Entering MASTER STATE",
*hook start* until the failover command's first API request reaches the proxy (the notify
dispatcher - its "GROUP VIP -> MASTER" line is shown too -, the route hook, the command's
start-up and its IMDS calls; the hook itself logs only when it is done), *API calls* until the
proxy has answered the last ReplaceRoute (every table switched), and *seen* until the poll saw
it all. Then the bench waits until systemd has restarted the killed keepalived and keepalived
reports it BACKUP, so the next run fails over the other way.

The Debian 13 hosts are the default (--release trixie): a heartbeat-only VRRPv3 instance needs
keepalived 2.2.8 (Debian 12 has 2.2.7); ``--release bookworm --one-path`` measures Debian 12
with one heartbeat path.

    sudo .venv/bin/python -m tests.bench.bench_vip_failover --slot 14 [--advert-int 1,0.2]
        [--runs 20] [--tables 5] [--latency-ms 100] [--kill silent|main]
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

from tests.bench import _vip
from tests.integration.vip.conftest import LAB_VARS, SETUP
from tests.lab import Lab, ansible_run, observe

PAIR = ("db-01", "db-02")
APP = "app-1a"
POLL = 0.05


def other(host: str) -> str:
    return "db-02" if host == "db-01" else "db-01"


def make_lab(slot: int | None, release: str | None) -> Lab:
    """The vip lab in its own slot, or in ``slot`` named ``vip-s<slot>`` (as _vip.bench_lab)."""
    if slot is None:
        return Lab.from_topology("vip", release=release)
    return Lab.from_topology("vip", slot=slot, name=f"vip-s{slot}", release=release)


def holders(lab, vip: str) -> list[str]:
    return [h for h in PAIR if observe.has_address(lab, h, vip)]


def state(lab, host: str) -> str:
    return observe.keepalived_state(lab, host)


def wait(predicate, timeout: float, what: str, interval: float = POLL) -> float:
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"not reached within {timeout}s: {what}")
        time.sleep(interval)
    return time.monotonic() - t0


def journal(lab, host: str, cursor: str) -> list[tuple[float, str]]:
    """keepalived's journal after ``cursor`` (systemd's lines about the unit included) as
    (realtime seconds, text)."""
    out = lab.exec(host, "journalctl", "--no-pager", "-o", "short-unix", "-u", "keepalived",
                   "--after-cursor", cursor, check=False).stdout
    lines = []
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            try:
                lines.append((float(parts[0]), parts[2]))
            except ValueError:
                pass
    return lines


def first(lines, needle: str) -> float | None:
    return next((t for t, text in lines if needle in text), None)


def percentile(values, pct: float) -> float:
    """Nearest rank: the smallest value with at least pct % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def converge(lab, vip: str, tables: list[str], advert_int: str, endpoint: str | None, one_path: bool):
    """playbooks/vip_failover_setup.yml with this advert interval. keepalived is stopped on both
    nodes first when it runs (the role refuses a VRRP version change on a running pair; with
    both stopped the first node becomes the active one, as on a first converge)."""
    running = [h for h in PAIR if observe.keepalived_active(lab, h)]
    for host in sorted(running, key=lambda h: state(lab, h) == "MASTER"):  # the BACKUP first
        lab.exec(host, "systemctl", "stop", "keepalived")
    extra = {"vip_route_vip": vip, "vip_route_route_table_ids": tables, "vip_route_iam_role_name": "",
             "keepalived_advert_int": float(advert_int)}
    if endpoint:
        extra["vip_route_aws_endpoint_url"] = endpoint
    if one_path:
        extra["vip_heartbeat_interface"] = ""
    t0 = time.monotonic()
    run = ansible_run.playbook(lab, SETUP, "-e", f"@{LAB_VARS}", extra_vars=extra)
    if run.rc != 0:
        raise SystemExit(f"setup (advert_int {advert_int}) failed:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}")
    wait(lambda: sorted(state(lab, h) for h in PAIR) == ["BACKUP", "MASTER"], 60, "one MASTER, one BACKUP")
    return time.monotonic() - t0


def kill(lab, host: str, how: str) -> str:
    """Kill the node's keepalived; returns the journal text that marks the moment."""
    if how == "silent":
        lab.exec(host, "sh", "-c", "systemctl kill -s STOP --kill-whom=all keepalived && "
                                   "systemctl kill -s KILL --kill-whom=all keepalived")
        return "Sent signal SIGSTOP to main process"
    lab.exec(host, "systemctl", "kill", "-s", "KILL", "--kill-whom=main", "keepalived")
    return "Sent signal SIGKILL to main process"


def app_reaches(lab, vip: str) -> str | None:
    """Ping the VIP from an app host; the pair node whose MAC answered."""
    if lab.exec(APP, "ping", "-c", "1", "-W", "2", vip, check=False).returncode != 0:
        return None
    neigh = lab.exec(APP, "ip", "neigh", "show", vip).stdout.split()
    mac = neigh[neigh.index("lladdr") + 1] if "lladdr" in neigh else ""
    return next((h for h in PAIR if lab.topo.mac(h, "lan") == mac), None)


def one_run(lab, proxy, vip, tables, enis, how, latency):
    master = holders(lab, vip)
    if len(master) != 1:
        raise RuntimeError(f"VIP holders before the run: {master}")
    master = master[0]
    backup = other(master)
    wait(lambda: state(lab, backup) == "BACKUP" and state(lab, master) == "MASTER", 30, f"{backup} BACKUP")
    cursor = {h: observe.journal_cursor(lab, h) for h in PAIR}
    proxy.reset()
    offset = time.time() - time.monotonic()  # proxy times (monotonic) -> realtime
    marker = kill(lab, master, how)
    vip_seen = None
    deadline = time.monotonic() + 60
    while True:
        now = time.time()
        if vip_seen is None and holders(lab, vip) == [backup]:
            vip_seen = now
        if vip_seen is not None and _vip.targets(lab, tables) == {enis[backup]}:
            done = time.time()
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"no failover to {backup} within 60s")
        time.sleep(POLL)
    reached = app_reaches(lab, vip)
    if reached != backup:
        raise RuntimeError(f"the VIP answered from {reached}, not {backup}")
    killed_at = first(journal(lab, master, cursor[master]), marker)
    backup_log = journal(lab, backup, cursor[backup])
    master_at = first(backup_log, "Entering MASTER STATE")
    dispatched = next((t for t, text in backup_log if "keepalived-notify" in text and "-> MASTER" in text), None)
    calls = [(t + offset, action, status) for t, action, status in list(proxy.calls)]
    replaces = [t for t, action, status in calls if action == "ReplaceRoute" and status == 200]
    api_first = min((t for t, _a, _s in calls), default=None)
    if None in (killed_at, master_at, dispatched, api_first) or not replaces:
        raise RuntimeError(f"missing timestamps: kill {killed_at}, MASTER {master_at}, API {api_first}, "
                           f"ReplaceRoute {len(replaces)}")
    api_first -= latency  # answered -> arrived at the proxy
    row = {
        "from": master, "to": backup, "total": done - killed_at, "vip": vip_seen - killed_at,
        "detection": master_at - killed_at, "hook": api_first - master_at, "dispatcher": dispatched - master_at,
        "api": max(replaces) - api_first, "seen": done - max(replaces), "calls": len(calls),
        "replace_routes": len(replaces), "tables": _vip.targets(lab, tables), "to_eni": enis[backup],
        "vip_on": holders(lab, vip),
        "answered_by": reached,
    }
    wait(lambda: state(lab, master) == "BACKUP", 40, f"{master} back as BACKUP")
    return row


def main(argv=None, results: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--advert-int", default="1,0.2", help="advert intervals to compare (default 1,0.2)")
    parser.add_argument("--runs", type=int, default=20, help="failovers per interval (default 20)")
    parser.add_argument("--tables", type=int, default=5, help="route tables carrying the VIP (default 5)")
    parser.add_argument("--latency-ms", type=float, default=100, help="added to every API call by the proxy (default 100)")
    parser.add_argument("--kill", choices=["silent", "main"], default="silent",
                        help="silent: freeze then SIGKILL every keepalived process (default); main: SIGKILL the main one")
    parser.add_argument("--release", default="trixie", help="the hosts' Debian release (default trixie: keepalived 2.3.3)")
    parser.add_argument("--one-path", action="store_true", help="no second heartbeat path (needed for VRRPv3 on bookworm)")
    _vip.add_slot_argument(parser)
    args = parser.parse_args(argv)
    settings = [s.strip() for s in args.advert_int.split(",") if s.strip()]
    latency = args.latency_ms / 1000

    lab = make_lab(args.slot, args.release)
    proxy = None
    rows: list[dict] = [] if results is None else results
    try:
        vip, enis, tables = _vip.pair_up(lab, args.tables, PAIR)
        # the app host ARPs for the VIP on the lan (moto only records routes; see the vip conftest)
        lab.exec(APP, "ip", "route", "add", f"{vip}/32", "dev", "eth0")
        proxy = _vip.proxy_for(lab, latency=latency)
        print(f"lab {lab.name} (Debian {args.release}), {args.tables} route tables, {args.latency_ms:g} ms per API call "
              f"(proxy {proxy.url}), kill: {args.kill}, {'one heartbeat path' if args.one_path else 'two heartbeat paths'}",
              flush=True)
        for setting in settings:
            took = converge(lab, vip, tables, setting, proxy.url, args.one_path)
            print(f"\nadvert_int {setting}: pair converged in {took:.0f}s", flush=True)
            for i in range(args.runs):
                row = one_run(lab, proxy, vip, tables, enis, args.kill, latency)
                row.update(advert_int=setting, run=i + 1)
                rows.append(row)
                print(f"  run {i + 1:2d}: {row['from']} -> {row['to']}  total {row['total']:.2f}s = detection "
                      f"{row['detection']:.2f} + hook start {row['hook']:.2f} + API calls {row['api']:.2f} + seen "
                      f"{row['seen']:.2f}  (VIP {row['vip']:.2f}s; dispatcher logged MASTER after {row['dispatcher']:.2f}s; "
                      f"{row['calls']} calls)", flush=True)
    finally:
        if proxy is not None:
            proxy.stop()
        lab.down()

    print(f"\nAutomatic failover ({args.kill} kill of the MASTER's keepalived -> VIP on the backup and all "
          f"{args.tables} tables switched; {args.latency_ms:g} ms per API call; Debian {args.release}):")
    print(f"  {'advert_int':>10} | runs |   p50 |   p95 |  min |  max | p50 detection | p50 hook start | p50 API calls | p50 seen")
    for setting in settings:
        mine = [r for r in rows if r["advert_int"] == setting]
        if not mine:
            continue
        tot = [r["total"] for r in mine]

        def p50(key, mine=mine):
            return statistics.median(r[key] for r in mine)

        print(f"  {setting:>10} | {len(mine):4d} | {percentile(tot, 50):.2f}s | {percentile(tot, 95):.2f}s | "
              f"{min(tot):.2f} | {max(tot):.2f} | {p50('detection'):12.2f}s | {p50('hook'):13.2f}s | "
              f"{p50('api'):12.2f}s | {p50('seen'):.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
