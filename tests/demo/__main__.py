"""`make demo`: bring each lab up, converge what the collection can do, report, tear down.

Steps are playbooks in tests/demo/steps/, run in name order. Each starts with two comment
lines naming it and the lab topology it runs on; a third, optional one marks a drill that is
not expected to converge to changed=0 on a second run:

    # demo: GitHub Enterprise: replication, planned failover, DNS
    # topology: ghe
    # idempotent: false

Steps of one topology run together on one lab, which always comes down, even after a failure.
"""
from __future__ import annotations

import itertools
import os
import re
import sys
import time
from pathlib import Path

from tests.lab import Lab, LabError, ansible_run

STEPS_DIR = Path(__file__).resolve().parent / "steps"
HEADER = re.compile(r"^# (demo|topology|idempotent): (.+)$", re.M)


def load_steps() -> list[dict]:
    steps = []
    for path in sorted(STEPS_DIR.glob("*.yml")):
        meta = dict(HEADER.findall(path.read_text()[:600]))
        if "demo" not in meta or "topology" not in meta:
            raise SystemExit(f"{path}: needs '# demo: TITLE' and '# topology: NAME' header lines")
        steps.append({"path": path, "title": meta["demo"], "topology": meta["topology"],
                      "idempotent": meta.get("idempotent", "true") != "false"})
    return steps


def run_step(lab: Lab, step: dict, report: list) -> bool:
    runs = ("converge", "converge again") if step["idempotent"] else ("run",)
    for attempt in runs:
        t0 = time.monotonic()
        res = ansible_run.playbook(lab, step["path"].relative_to(ansible_run.REPO))
        if attempt != "converge again":
            sys.stdout.write(res.stdout)
        if res.rc != 0:
            sys.stdout.write(res.stdout[-3000:] + res.stderr[-2000:])
            report.append((f"{step['title']} — {attempt}", f"FAILED (rc={res.rc})", time.monotonic() - t0))
            return False
        if attempt == "converge again" and res.changed:
            report.append((f"{step['title']} — {attempt}", f"NOT IDEMPOTENT (changed={res.changed})", time.monotonic() - t0))
            return False
        report.append((f"{step['title']} — {attempt}", f"ok (changed={res.changed})", time.monotonic() - t0))
    return True


def main() -> int:
    report: list[tuple[str, str, float]] = []
    ok = True
    steps = load_steps()
    # DEMO_TOPOLOGIES=keepalived,vip runs only those topologies' steps (while working on one)
    only = [t for t in os.environ.get("DEMO_TOPOLOGIES", "").split(",") if t]
    if only:
        steps = [s for s in steps if s["topology"] in only]
    for topology, group in itertools.groupby(steps, key=lambda s: s["topology"]):
        lab = Lab.from_topology(topology)
        try:
            t0 = time.monotonic()
            lab.up()
            report.append((f"lab {topology} up: {len(lab.topo.hosts)} hosts", "ok", time.monotonic() - t0))
            for step in group:
                if not run_step(lab, step, report):
                    ok = False
                    break
        except LabError as err:
            report.append((f"lab {topology}", f"FAILED: {err}", 0.0))
            ok = False
        finally:
            t0 = time.monotonic()
            removed = lab.down()
            report.append((f"lab {topology} down: {len(removed['netns'])} namespaces, {removed['processes']} processes",
                           "ok", time.monotonic() - t0))
    width = max(len(r[0]) for r in report)
    print("\n==== hapair.ha demo report " + "=" * max(0, width - 10))
    for title, status, secs in report:
        print(f"{title:<{width}}  {status:<24} {secs:6.1f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
