"""playbooks/ghe_failover.yml times its phases: the report it writes (JSON, Markdown, SVG) has
maintenance, drain, promote and DNS (and the checks before them, and fail-back preparation),
which follow each other and add up to no more than the total; a second run, which has nothing
to fail over, writes none. Its own lab (simulated appliances, moto), replicated first."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from .conftest import PRIMARY, REPLICA, ok

pytestmark = pytest.mark.lab


def test_failover_phases_and_report(ghe_lab, tmp_path):
    g = ghe_lab
    ok(g.run("ghe_replication.yml"))
    res = ok(g.run("ghe_failover.yml", ghe_failover_report_dir=str(tmp_path)))
    assert g.role(REPLICA) == "primary" and g.maintenance(PRIMARY)
    reports = sorted(tmp_path.glob(f"ghe-failover-{PRIMARY}-{REPLICA}-*.json"))
    assert len(reports) == 1, sorted(p.name for p in tmp_path.iterdir())
    report = json.loads(reports[0].read_text())
    phases = {p["name"]: p for p in report["phases"]}
    assert list(phases) == ["preflight", "maintenance", "drain", "promote", "dns", "failback"]
    for name in ("maintenance", "drain", "promote", "dns"):
        assert phases[name]["status"] == "ok" and phases[name]["seconds"] >= 0, phases[name]
    assert phases["failback"]["status"] == "skipped"
    # the phases follow each other: each starts where the one before ended, and they add up to the total
    for before, after in zip(report["phases"], report["phases"][1:]):
        assert after["start"] == pytest.approx(before["end"], abs=1e-6)
    assert sum(p["seconds"] for p in report["phases"]) <= report["total_seconds"] + 0.01
    assert report["total_seconds"] > 0 and report["ok"]
    # the outage: from maintenance mode on until DNS pointed at the new primary
    assert report["rto_seconds"] == pytest.approx(phases["drain"]["seconds"] + phases["promote"]["seconds"]
                                                  + phases["dns"]["seconds"], abs=0.01)
    ET.parse(reports[0].with_suffix(".svg"))
    assert reports[0].with_suffix(".md").read_text().startswith(f"# GitHub Enterprise failover: {PRIMARY} -> {REPLICA}")
    text = " ".join(res.stdout.split())
    assert f"ghe_failover report: {reports[0].with_suffix('.md')}" in text
    assert f"DNS pointed at {REPLICA}: " in text and "total: " in text
    # nothing to fail over the second time: no change, no report
    again = ok(g.run("ghe_failover.yml", ghe_failover_report_dir=str(tmp_path)))
    assert again.changed == 0 and len(list(tmp_path.glob("*.json"))) == 1
