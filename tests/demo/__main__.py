"""`make demo`: bring the lab up, converge what the collection can do so far, report, tear down.

Each later feature adds a step to STEPS. The lab is always torn down, even after a failure.
"""
from __future__ import annotations

import sys
import time

from tests.lab import Lab, LabError, ansible_run

STEPS = [
    # (title, playbook, expect changes on the second run?)
    ("foundation: SSH, hosts_entries, IMDS and moto from inside hosts", "tests/demo/foundation.yml"),
]


def main() -> int:
    report: list[tuple[str, str, float]] = []
    lab = Lab.from_topology("smoke")
    ok = True
    try:
        t0 = time.monotonic()
        lab.up()
        report.append(("lab up: 4 hosts + moto + IMDS", "ok", time.monotonic() - t0))
        for title, playbook in STEPS:
            for attempt in ("converge", "converge again"):
                t0 = time.monotonic()
                res = ansible_run.playbook(lab, playbook)
                sys.stdout.write(res.stdout if attempt == "converge" else "")
                status = "ok" if res.rc == 0 else f"FAILED (rc={res.rc})"
                if res.rc != 0:
                    sys.stdout.write(res.stdout[-3000:] + res.stderr[-2000:])
                    ok = False
                elif attempt == "converge again" and res.changed:
                    status, ok = f"NOT IDEMPOTENT (changed={res.changed})", False
                else:
                    status = f"ok (changed={res.changed})"
                report.append((f"{title} — {attempt}", status, time.monotonic() - t0))
                if res.rc != 0:
                    break
    except LabError as err:
        report.append(("lab", f"FAILED: {err}", 0.0))
        ok = False
    finally:
        t0 = time.monotonic()
        removed = lab.down()
        report.append((f"lab down: {len(removed['netns'])} namespaces, {removed['processes']} processes removed", "ok",
                       time.monotonic() - t0))
    width = max(len(r[0]) for r in report)
    print("\n==== hapair.ha demo report " + "=" * max(0, width - 10))
    for title, status, secs in report:
        print(f"{title:<{width}}  {status:<22} {secs:6.1f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
