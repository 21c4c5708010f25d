"""Run the integration suites side by side, each in its own lab slots (``make integration``).

The lab suites mostly wait (VRRP timers, boots, Ansible's SSH round trips), so streams of
suites run at once as separate pytest processes; each test area brings up its own topology in
its own slot, so they never share a host. The keepalived-based suites run once more on Debian
13 hosts (``HAPAIR_LAB_RELEASE=trixie``: other slots, other lab names). Each stream's output goes
to ``build/suites/<stream>.log``; a failing stream's log is printed whole. The last line counts
the tests of every stream, as pytest's own summary does.

    python -m tests.run_suites [--only STREAM ...] [-- PYTEST_ARGS...]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOG_DIR = REPO / "build" / "suites"
I = "tests/integration"
# name: (pytest paths, environment[, command instead of pytest])
STREAMS = {
    "ghe": ([f"{I}/ghe"], {}),
    "base": ([f"{I}/test_lab_smoke.py", f"{I}/test_lab_power_and_partitions.py", f"{I}/test_hosts_entries.py", f"{I}/test_build.py", f"{I}/nfs", f"{I}/gitaly",
              f"{I}/test_bench_smoke.py"], {}),
    # the two pair topologies (slots vip and keepalived) on each release: the longest suites, so
    # each runs on its own (together they took 37 minutes of a 45-minute CI budget)
    "vip-debian12": ([f"{I}/vip"], {}),
    "vip-debian13": ([f"{I}/vip"], {"HAPAIR_LAB_RELEASE": "trixie"}),
    "shared_volume-debian12": ([f"{I}/shared_volume"], {}),
    "shared_volume-debian13": ([f"{I}/shared_volume"], {"HAPAIR_LAB_RELEASE": "trixie"}),
    # every role's Molecule scenario (Debian 12 hosts), two at a time in slots 1 and 15
    "molecule": (["extensions/molecule"], {"HAPAIR_MOLECULE_SLOTS": "1,15"},
                 [sys.executable, "extensions/molecule/run.py"]),
    # every playbook as an AWX job (ansible-runner), one topology after another in lab slots
    # 10-13, which no other stream uses (tests/integration/awx/conftest.py)
    "awx": ([f"{I}/awx"], {}),
    "vip_split_brain": ([f"{I}/vip_split_brain"], {}),
    # GHE disaster promotion with fencing: the ghe topology again, in slot 19 (lab ghe-fence)
    "ghe_fence": ([f"{I}/ghe_fence"], {}),
}
COUNT_RE = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.run_suites")
    parser.add_argument("--only", nargs="*", choices=sorted(STREAMS), help="run only these streams")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    extra = [a for a in args.pytest_args if a != "--"]
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    # Build the hosts' images first, once, rather than in several streams at once; the releases
    # side by side (debootstrap mostly waits for the mirror).
    from tests.lab import image  # pylint: disable=import-outside-toplevel

    releases = sorted({spec[1].get("HAPAIR_LAB_RELEASE", image.DEFAULT_RELEASE) for name, spec in STREAMS.items()
                       if not args.only or name in args.only})
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(releases)) as pool:
        for built in [pool.submit(image.ensure, release) for release in releases]:
            built.result()
    procs = {}
    t0 = time.monotonic()
    for name, (paths, env, *command) in STREAMS.items():
        if args.only and name not in args.only:
            continue
        log = open(LOG_DIR / f"{name}.log", "w", encoding="utf-8")  # noqa: SIM115 - closed below
        cmd = command[0] if command else [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=15", *extra, *paths]
        procs[name] = (subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL), log, time.monotonic())
        print(f"suites: {name} started: {' '.join(paths)}", flush=True)
    totals: dict[str, int] = {}
    failed = []
    for name, (proc, log, started) in procs.items():
        rc = proc.wait()
        log.close()
        text = (LOG_DIR / f"{name}.log").read_text(errors="replace")
        summary = next((line for line in reversed(text.splitlines()) if COUNT_RE.search(line)), "(no summary)")
        for count, kind in COUNT_RE.findall(summary):
            kind = "errors" if kind.startswith("error") else kind
            totals[kind] = totals.get(kind, 0) + int(count)
        print(f"suites: {name}: exit {rc} after {time.monotonic() - started:.0f} s: {summary.strip('= ')}", flush=True)
        if rc != 0:
            failed.append(name)
            print(text, flush=True)
    print(f"suites: all streams done in {time.monotonic() - t0:.0f} s", flush=True)
    print(f"{totals.get('passed', 0)} passed, {totals.get('failed', 0) + totals.get('errors', 0)} failed"
          + (f", {totals['skipped']} skipped" if totals.get("skipped") else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
