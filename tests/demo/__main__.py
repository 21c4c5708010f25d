"""`make demo`: bring each lab up, converge what the collection can do, report, tear down.

Steps are playbooks in tests/demo/steps/, run in name order. Each starts with two comment
lines naming it and the lab topology it runs on; a third, optional one marks a drill that is
not expected to converge to changed=0 on a second run:

    # demo: GitHub Enterprise: replication, planned failover, DNS
    # topology: ghe
    # idempotent: false

Steps of one topology run together on one lab, which always comes down, even after a failure.

HAPAIR_LAB_SLOTS="vip=15,keepalived=12" runs those topologies' labs in other slots (as the
pytest suites do), beside labs already running in the shipped ones. The failover drills' reports
(and the GitHub Enterprise failover's) are kept: the demo names them and prints their Markdown
at the end; the drills write into HAPAIR_DEMO_REPORT_DIR (default build/demo-reports).
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
# what the drill role and the GHE failover role print when they wrote a report
REPORT_LINE = re.compile(r"(?:failover drill|ghe_failover) report:\s+(\S+\.md)")
SLOT_OVERRIDES = {
    name.strip(): int(slot)
    for name, _sep, slot in (item.partition("=") for item in os.environ.get("HAPAIR_LAB_SLOTS", "").split(",")
                             if item.strip())
}


def lab_for(topology: str) -> Lab:
    """The topology's lab, in its own slot or in the one HAPAIR_LAB_SLOTS gives it."""
    if topology in SLOT_OVERRIDES:
        slot = SLOT_OVERRIDES[topology]
        return Lab.from_topology(topology, slot=slot, name=f"{topology}-s{slot}")
    return Lab.from_topology(topology)


def load_steps() -> list[dict]:
    steps = []
    for path in sorted(STEPS_DIR.glob("*.yml")):
        meta = dict(HEADER.findall(path.read_text()[:600]))
        if "demo" not in meta or "topology" not in meta:
            raise SystemExit(f"{path}: needs '# demo: TITLE' and '# topology: NAME' header lines")
        steps.append({"path": path, "title": meta["demo"], "topology": meta["topology"],
                      "idempotent": meta.get("idempotent", "true") != "false"})
    return steps


# Converge speed (issue 12): the second, idempotent run of a set-up should cost at most this
# share of the first; the demo report shows both times and their ratio.
CONVERGE_RATIO_TARGET = 0.40


def run_step(lab: Lab, step: dict, report: list, reports: list | None = None,
             timings: dict | None = None) -> bool:
    """Run a step (twice when it is idempotent); ``timings[title]`` gets each attempt's seconds."""
    runs = ("converge", "converge again") if step["idempotent"] else ("run",)
    for attempt in runs:
        t0 = time.monotonic()
        res = ansible_run.playbook(lab, step["path"].relative_to(ansible_run.REPO))
        if timings is not None and step["idempotent"]:
            timings.setdefault(step["title"], {})[attempt] = time.monotonic() - t0
        if reports is not None:
            reports += [(step["title"], path) for path in REPORT_LINE.findall(" ".join(res.stdout.split()))]
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


def converge_table(timings: dict) -> list[str]:
    """Markdown rows: each idempotent set-up's first and second run and second / first."""
    rows = ["| set-up | first run | second run | second / first |", "|---|---:|---:|---:|"]
    for title, runs in timings.items():
        first, second = runs.get("converge"), runs.get("converge again")
        if first is None:
            continue
        if second is None:
            rows.append(f"| {title} | {first:.1f} s | - | - |")
            continue
        ratio = second / first
        flag = "" if ratio <= CONVERGE_RATIO_TARGET else f" (over {CONVERGE_RATIO_TARGET:.0%})"
        rows.append(f"| {title} | {first:.1f} s | {second:.1f} s | {ratio:.0%}{flag} |")
    return rows


def print_reports(reports: list) -> None:
    """Where each drill (or failover) report is, and its Markdown."""
    if not reports:
        return
    print("\n==== failover drill reports " + "=" * 60)
    for title, path in reports:
        print(f"\n---- {title}\n{path} (and .json, .svg)\n")
        try:
            print(Path(path).read_text())
        except OSError as err:
            print(f"(cannot read it: {err})")


def main() -> int:
    report: list[tuple[str, str, float]] = []
    reports: list[tuple[str, str]] = []
    timings: dict[str, dict[str, float]] = {}
    os.environ.setdefault("HAPAIR_DEMO_REPORT_DIR", str(ansible_run.REPO / "build" / "demo-reports"))
    ok = True
    steps = load_steps()
    # DEMO_TOPOLOGIES=keepalived,vip runs only those topologies' steps (while working on one)
    only = [t for t in os.environ.get("DEMO_TOPOLOGIES", "").split(",") if t]
    if only:
        steps = [s for s in steps if s["topology"] in only]
    for topology, group in itertools.groupby(steps, key=lambda s: s["topology"]):
        lab = lab_for(topology)
        try:
            t0 = time.monotonic()
            lab.up()
            report.append((f"lab {topology} up: {len(lab.topo.hosts)} hosts", "ok", time.monotonic() - t0))
            for step in group:
                if not run_step(lab, step, report, reports, timings):
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
    print_reports(reports)
    report += [(f"report: {path}", "kept", 0.0) for _title, path in reports]
    width = max(len(r[0]) for r in report)
    print("\n==== hapair.ha demo report " + "=" * max(0, width - 10))
    for title, status, secs in report:
        print(f"{title:<{width}}  {status:<24} {secs:6.1f}s")
    if timings:
        print(f"\n==== converge speed: first run, second (idempotent) run, second / first"
              f" (target at most {CONVERGE_RATIO_TARGET:.0%})")
        print("\n".join(converge_table(timings)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
