"""Benchmark: converge speed - wall time of a demo step's first run (converge) and its second,
idempotent run (converge again), and their ratio, for each set-up.

    sudo .venv/bin/python -m tests.bench.bench_converge [foundation gitaly ghe vip keepalived] [--slot 10] [--top 15] [--again N] [--floor]

For each set-up: bring its topology up in a lab slot of its own (default 10: not the slot the
demo or the integration tests use), run the demo step's playbook twice exactly as `make demo`
does (tests.lab.ansible_run.playbook), with ansible.posix.profile_tasks enabled, and print the
slowest tasks of each run, then first, second and second/first. The second run must report
changed=0 (otherwise its time is meaningless and the set-up is reported as not idempotent).
With --again N the step runs N times after the first and the median of those counts as the
second run (on a loaded machine one run is noisy).

With --floor, the same lab then runs two playbooks that do nothing but cost what Ansible charges
per task: "one look" - one play, one module run (ansible.builtin.ping) per host the step
touched, the least a second run that reads the hosts can cost; and "same shape" - the second
run's task results as no-op tasks: on every host as many ping runs as the second run's busiest
host had SSH commands, and the average per host of its other task results as controller-only
debug tasks (an approximation: no host gets its own counts). The second
run next to "same shape" says how much of it is Ansible's per-task cost rather than the
set-up's own reads; "one look" / first run is the lowest ratio any design could reach.

Wall time depends on the machine's load; what a run costs does not, or much less. Each run also
reports the CPU seconds it used - the controller (ansible-playbook and everything it started:
workers, ssh, controller-side modules) plus the lab hosts (their cgroups' usage: sshd, the
modules, what they ran) - and counts the SSH (and SFTP/SCP) commands Ansible starts: `ssh` and
`sftp` in PATH are wrappers that log their target and exec the real program. Printed: the total,
and the busiest host's count (its commands run one after the other; hosts run in parallel).
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.lab import Lab, ansible_run

STEPS = Path(__file__).resolve().parents[1] / "demo" / "steps"

# set-up -> (topology, the demo step that converges it)
SETUPS = {
    "foundation": ("smoke", "10-foundation.yml"),
    "gitaly": ("gitaly", "40-gitaly.yml"),
    "ghe": ("ghe", "30-ghe-replication.yml"),
    "vip": ("vip", "20-vip.yml"),
    "keepalived": ("keepalived", "50-keepalived-shared-volume.yml"),
}

# One line per task and host (and loop item) in the default callback's output: each is a worker
# process the controller forks after templating the host's variables, skipped or not.
TASK_RESULT = re.compile(r"^(ok|changed|skipping|failed|fatal|included): ", re.M)
# profile_tasks' summary lines: "Role : Task name ------------- 1.23s"
PROFILE_LINE = re.compile(r"^(?P<task>.+?) -{3,} (?P<secs>\d+\.\d+)s$", re.M)


def slowest(stdout: str, top: int) -> list[str]:
    # The summary follows the PLAY RECAP; take the lines after the last recap only.
    tail = stdout.rsplit("PLAY RECAP", 1)[-1]
    return [f"{float(m['secs']):7.2f}s  {m['task'].strip()}" for m in PROFILE_LINE.finditer(tail)][:top]


WRAPPER = """#!/bin/sh
# bench_converge: log which host this {prog} command goes to, then run the real {prog}.
{{ printf '%s' "$*" | tr '\\n' ' '; echo; }} >> "$BENCH_SSH_LOG"
exec {real} "$@"
"""
IPV4 = re.compile(r"^(?:[^@\s]+@)?(\d{1,3}(?:\.\d{1,3}){3})$")


def install_ssh_wrappers() -> Path:
    """A directory with `ssh`, `sftp` and `scp` wrappers, put first in PATH."""
    wrappers = Path(tempfile.mkdtemp(prefix="bench-converge-"))
    for prog in ("ssh", "sftp", "scp"):
        real = shutil.which(prog)
        if real:
            (wrappers / prog).write_text(WRAPPER.format(prog=prog, real=real))
            (wrappers / prog).chmod(0o755)
    os.environ["PATH"] = f"{wrappers}:{os.environ['PATH']}"
    return wrappers


def ssh_counts(log: Path) -> Counter:
    """SSH/SFTP/SCP commands per target address, from the wrappers' log."""
    counts: Counter = Counter()
    for line in log.read_text().splitlines() if log.exists() else []:
        target = next((m[1] for word in line.split() if (m := IPV4.match(word))), "?")
        counts[target] += 1
    return counts


def hosts_cpu(lab: Lab) -> float:
    """CPU seconds used so far by every process of the lab's hosts (their cgroup2 usage)."""
    total = 0.0
    for host in lab.topo.hosts:
        try:
            text = Path(f"/sys/fs/cgroup/unified/{lab.cgroup(host)}/cpu.stat").read_text()
        except OSError:
            continue
        total += int(dict(line.split() for line in text.splitlines())["usage_usec"]) / 1e6
    return total


def controller_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_converge(lab: Lab, step: Path, top: int, again: int) -> tuple[float, float, int, list[dict]]:
    """The first run, then `again` idempotent runs: (first, median of the others, changed, what each run cost).

    Each cost also names the hosts the run touched (its PLAY RECAP, localhost included)."""
    times, costs = [], []
    for attempt in ["converge"] + ["converge again"] * again:
        log = Path(tempfile.mkstemp(prefix="bench-converge-ssh-")[1])
        os.environ["BENCH_SSH_LOG"] = str(log)
        cpu0, hosts0, t0 = controller_cpu(), hosts_cpu(lab), time.monotonic()
        res = ansible_run.playbook(lab, step.relative_to(ansible_run.REPO))
        times.append(time.monotonic() - t0)
        ssh = ssh_counts(log)
        costs.append({"controller": controller_cpu() - cpu0, "hosts": hosts_cpu(lab) - hosts0,
                      "ssh": sum(ssh.values()), "busiest": max(ssh.values(), default=0),
                      "results": len(TASK_RESULT.findall(res.stdout)), "hosts_touched": sorted(res.recap)})
        log.unlink()
        if res.rc != 0:
            sys.stdout.write(res.stdout[-4000:] + res.stderr[-2000:])
            raise SystemExit(f"{step.name}: {attempt} failed (rc={res.rc})")
        c = costs[-1]
        print(f"  {attempt}: {times[-1]:.1f}s, changed={res.changed}, CPU {c['controller']:.1f}s controller"
              f" + {c['hosts']:.1f}s hosts, task results {c['results']}, SSH commands {c['ssh']}"
              f" (busiest host {c['busiest']})", flush=True)
        for line in slowest(res.stdout, top):
            print(f"    {line}")
        if attempt == "converge again" and res.changed:
            return times[0], statistics.median(times[1:]), res.changed, costs
    return times[0], statistics.median(times[1:]), 0, costs


FLOOR_PLAY = """- name: {name}
  hosts: {hosts}
  gather_facts: false
  tasks:
"""
PING = "    - ansible.builtin.ping:\n"
DEBUG = "    - ansible.builtin.debug:\n        msg: \"{{ inventory_hostname }}\"\n"


def floor_playbooks(cost: dict) -> dict[str, str]:
    """The two no-op playbooks of --floor, shaped after one idempotent run's cost."""
    hosts = cost["hosts_touched"]
    pattern = ":".join(hosts)
    others = max(0, round((cost["results"] - cost["ssh"]) / len(hosts)))
    return {
        "one look": FLOOR_PLAY.format(name="one look", hosts=pattern) + PING,
        "same shape": FLOOR_PLAY.format(name="same shape", hosts=pattern) + PING * cost["busiest"] + DEBUG * others,
    }


def run_floor(lab: Lab, cost: dict) -> dict[str, float]:
    """Wall time of each --floor playbook on the lab (one run each)."""
    times = {}
    for name, text in floor_playbooks(cost).items():
        path = Path(tempfile.mkstemp(prefix="bench-converge-floor-", suffix=".yml")[1])
        path.write_text("---\n" + text)
        try:
            t0 = time.monotonic()
            res = ansible_run.playbook(lab, path)
            times[name] = time.monotonic() - t0
        finally:
            path.unlink()
        if res.rc != 0:
            raise SystemExit(f"floor playbook {name!r} failed (rc={res.rc}): {res.stdout[-2000:]}")
        print(f"  floor, {name}: {times[name]:.1f}s, task results {len(TASK_RESULT.findall(res.stdout))}", flush=True)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setups", nargs="*", metavar="SETUP", help=f"any of {', '.join(SETUPS)} (default: all)")
    parser.add_argument("--slot", type=int, default=10, help="lab slot to bring the topologies up in (default 10)")
    parser.add_argument("--top", type=int, default=15, help="slowest tasks to show per run (default 15)")
    parser.add_argument("--again", type=int, default=1,
                        help="idempotent runs after the first; the median counts as the second run (default 1)")
    parser.add_argument("--floor", action="store_true",
                        help="also time two no-op playbooks: one module run per host, and the second run's shape")
    args = parser.parse_args(argv)
    unknown = [s for s in args.setups if s not in SETUPS]
    if unknown:
        parser.error(f"unknown set-up(s) {', '.join(unknown)}: choose from {', '.join(SETUPS)}")
    os.environ["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
    wrappers = install_ssh_wrappers()
    os.environ.setdefault("PROFILE_TASKS_TASK_OUTPUT_LIMIT", "all")
    rows = []
    for setup in args.setups or list(SETUPS):
        topology, step = SETUPS[setup]
        lab = Lab.from_topology(topology, slot=args.slot, name=f"bench-converge-{topology}")
        try:
            lab.up()
            print(f"{setup}: {step} on {len(lab.topo.hosts)} hosts (slot {args.slot})", flush=True)
            first, second, changed, costs = run_converge(lab, STEPS / step, args.top, max(1, args.again))
            floor = run_floor(lab, costs[-1]) if args.floor else {}
        finally:
            lab.down()
        rows.append((setup, step, first, second, changed, costs, floor))
    shutil.rmtree(wrappers, ignore_errors=True)
    print()
    print("| set-up | demo step | first run | second run | second / first | CPU s, first / second (ratio) "
          "| task results, first / second | SSH commands, first / second (busiest host) |")
    print("|---|---|---|---|---|---|---|---|")
    for setup, step, first, second, changed, costs, _floor in rows:
        note = f" (NOT IDEMPOTENT: changed={changed})" if changed else ""
        cpu = [statistics.median(c["controller"] + c["hosts"] for c in part) for part in (costs[:1], costs[1:])]
        ssh = [statistics.median(c[key] for c in part) for part in (costs[:1], costs[1:]) for key in ("ssh", "busiest")]
        results = [statistics.median(c["results"] for c in part) for part in (costs[:1], costs[1:])]
        print(f"| {setup} | {step} | {first:.1f} s | {second:.1f} s | {second / first:.0%}{note} "
              f"| {cpu[0]:.1f} / {cpu[1]:.1f} ({cpu[1] / cpu[0]:.0%}) | {results[0]:.0f} / {results[1]:.0f} "
              f"| {ssh[0]:.0f} ({ssh[1]:.0f}) / {ssh[2]:.0f} ({ssh[3]:.0f}) |")
    if args.floor:
        print()
        print("| set-up | first run | second run | floor: same shape (second / it) | floor: one look "
              "(one look / first) |")
        print("|---|---|---|---|---|")
        for setup, _step, first, second, _changed, _costs, floor in rows:
            print(f"| {setup} | {first:.1f} s | {second:.1f} s | {floor['same shape']:.1f} s "
                  f"({second / floor['same shape']:.0%}) | {floor['one look']:.1f} s ({floor['one look'] / first:.0%}) |")
    return 1 if any(r[4] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
