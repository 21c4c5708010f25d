"""Run every Molecule scenario here in lanes side by side, one lab slot per lane (``make molecule``).

    python extensions/molecule/run.py [--slots 1,15] [SCENARIO ...]

Each scenario is ``molecule test -s SCENARIO`` (create, converge, idempotence, verify, destroy; a
few add prepare) on the namespace lab. A lane runs one scenario at a time in its own lab slot
(``HAPAIR_MOLECULE_SLOT``, read by shared/lab.py), so two lanes never share a host; each lane
takes the next scenario from one queue, longest first. Slots: ``--slots``, else
``$HAPAIR_MOLECULE_SLOTS``, else 1 and 15 - the ``molecule`` topology's own slot and the one slot
no integration suite uses, so this runs beside ``tests/run_suites.py``'s other streams.

Each lane has a HOME of its own under .venv/molecule-home (Molecule keeps its scenario state
in ~/.ansible/tmp; the collection itself comes from the checkout, config.yml has prerun off).
A scenario's output goes to build/molecule/SCENARIO.log; a failing scenario's log is printed
whole. The last line counts scenarios as pytest counts tests.
"""
from __future__ import annotations

import argparse
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LOG_DIR = REPO / "build" / "molecule"
HOMES = REPO / ".venv" / "molecule-home"
# Seconds one scenario took on this 2-core machine under a load average of about 20 (2026-11-26):
# the queue starts with the longest, so the lanes end close together.
WEIGHT = {"vip_route": 1000, "keepalived": 420, "gitaly_server": 380, "gitlab_gitaly_client": 360, "nfs_exports": 330,
          "ghe_replica": 320, "shared_volume": 290, "nfs_mounts": 260, "hosts_entries": 200}


def scenarios() -> list[str]:
    return sorted(p.parent.name for p in HERE.glob("*/molecule.yml"))


def run_one(name: str, slot: int) -> tuple[int, float]:
    home = HOMES / f"slot-{slot}"
    # Molecule's state of an earlier run that never reached destroy would skip this create.
    for stale in (home / ".ansible" / "tmp").glob(f"molecule.*.{name}"):
        shutil.rmtree(stale, ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(home), "HAPAIR_MOLECULE_SLOT": str(slot), "NO_COLOR": "1", "PY_COLORS": "0",
           "ANSIBLE_FORCE_COLOR": "0", "PYTHONUNBUFFERED": "1"}
    molecule = Path(sys.executable).parent / "molecule"
    t0 = time.monotonic()
    # Each line of the log starts with the seconds since the scenario started: what each step costs.
    with open(LOG_DIR / f"{name}.log", "w", encoding="utf-8") as log, \
            subprocess.Popen([str(molecule), "test", "-s", name], cwd=REPO, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, errors="replace") as proc:
        for line in proc.stdout:
            log.write(f"[{time.monotonic() - t0:6.1f}s] {line}")
            log.flush()
        rc = proc.wait()
    return rc, time.monotonic() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="extensions/molecule/run.py")
    parser.add_argument("--slots", default=os.environ.get("HAPAIR_MOLECULE_SLOTS") or "1,15",
                        help="lab slots, one lane each (default 1,15)")
    parser.add_argument("scenario", nargs="*", help="scenarios to run (default: all)")
    args = parser.parse_args(argv)
    slots = [int(s) for s in args.slots.split(",") if s.strip()]
    names = args.scenario or scenarios()
    unknown = sorted(set(names) - set(scenarios()))
    if unknown or not slots:
        parser.error(f"unknown scenarios {unknown}" if unknown else "no slot")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    todo: queue.Queue[str] = queue.Queue()
    for name in sorted(names, key=lambda n: -WEIGHT.get(n, 300)):
        todo.put(name)
    results: dict[str, tuple[int, float, int]] = {}
    lock = threading.Lock()

    def lane(slot: int) -> None:
        while True:
            try:
                name = todo.get_nowait()
            except queue.Empty:
                return
            with lock:
                print(f"molecule: {name} started in slot {slot}", flush=True)
            rc, seconds = run_one(name, slot)
            with lock:
                results[name] = (rc, seconds, slot)
                print(f"molecule: {name}: {'passed' if rc == 0 else f'FAILED (exit {rc})'} after {seconds:.0f} s "
                      f"in slot {slot}", flush=True)

    t0 = time.monotonic()
    threads = [threading.Thread(target=lane, args=(slot,)) for slot in slots[:len(names)]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = sorted(n for n, (rc, _s, _slot) in results.items() if rc != 0)
    for name in failed:
        print(f"\n===== {name} (build/molecule/{name}.log) =====", flush=True)
        print((LOG_DIR / f"{name}.log").read_text(errors="replace"), flush=True)
    print(f"molecule: {len(names)} scenarios in {len(threads)} lanes (slots {', '.join(map(str, slots))}) "
          f"done in {time.monotonic() - t0:.0f} s", flush=True)
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
