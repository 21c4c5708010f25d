"""playbooks/failover_drill.yml on the keepalived pair with a shared volume: refused without the
confirmation, and a drill that stops the application for good on the MASTER (masked, so the
health check's one restart fails and keepalived gives up), whose report agrees with what the lab
saw: the VIP holder (``ip addr``), the volume (``/proc/mounts``), the marker served from the
volume by the peer, and an RTO inside the window this test observed between the fault and the
takeover. The pair is left settled, as the fixture left it, without the marker."""
from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.lab import ansible_run, observe
from tests.lab.pytest_support import default_release_only

from .conftest import LAB_VARS, MOUNT_POINT, PAIR, dump

pytestmark = [pytest.mark.lab, default_release_only]

DRILL = "playbooks/failover_drill.yml"


def run_drill(pair, report_dir: Path, **overrides):
    ev = {
        "pair_vip": f"{pair.vip}/32",
        "failover_drill_hosts": "keepalived_pair",
        "failover_drill_confirm": True,
        "failover_drill_client": "client-1",
        "failover_drill_probe_command": "curl -fsS -m 1 http://$FAILOVER_DRILL_VIP:8080/-/whoami",
        "failover_drill_marker_write_command": ("curl -fsS -m 5 -X PUT --data-binary \"$FAILOVER_DRILL_MARKER\" "
                                                "http://$FAILOVER_DRILL_VIP:8080/uploads/drill-marker"),
        "failover_drill_marker_read_command": "curl -fsS -m 2 http://$FAILOVER_DRILL_VIP:8080/uploads/drill-marker",
        "failover_drill_fault": "service_stopped",
        "failover_drill_service": "lab-webapp",
        "failover_drill_report_dir": str(report_dir),
    }
    ev.update(overrides)
    return ansible_run.playbook(pair.lab, DRILL, "-e", f"@{LAB_VARS}", extra_vars=ev)


def test_refused_without_confirmation(converged, tmp_path):
    pair = converged
    master = pair.settled()
    res = run_drill(pair, tmp_path / "r", failover_drill_confirm=False)
    assert res.rc != 0 and res.changed == 0, dump(res)
    assert "failover_drill: this drill causes an outage" in res.stdout and "Nothing was changed." in res.stdout
    assert pair.settled() == master and pair.mounted(master) and not (tmp_path / "r").exists()


def test_stopped_app_drill_report_matches_the_lab(converged, tmp_path):
    pair = converged
    master = pair.settled()
    peer = pair.other(master)
    seen = []
    stop = threading.Event()

    def watch():        # who holds the VIP and the volume, every 0.1 s
        while not stop.is_set():
            seen.append((time.time(), pair.has_vip(master), pair.has_vip(peer), pair.mounted(peer)))
            time.sleep(0.1)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        res = run_drill(pair, tmp_path / "r")
    finally:
        stop.set()
        watcher.join()
    try:
        assert res.rc == 0, dump(res)
        report = json.loads(next((tmp_path / "r").glob(f"failover-drill-{PAIR[0]}-{PAIR[1]}-*.json")).read_text())
        ET.parse(next((tmp_path / "r").glob("*.svg")))
        # the lab agrees: the peer holds the VIP and the volume and serves the marker; the old MASTER is
        # BACKUP again, its app running (unmasked), without the VIP or the volume
        assert pair.settled() == peer and pair.mounted(peer) and not pair.mounted(master)
        assert pair.served_by() == peer
        assert pair.lab.exec(master, "systemctl", "is-active", "lab-webapp", check=False).stdout.strip() == "active"
        assert observe.keepalived_state(pair.lab, master) == "BACKUP"
        assert report["ok"] and report["problems"] == [], report["problems"]
        assert report["summary"]["MASTER before the drill"] == master
        assert report["data_continuity"]["status"] == "ok"
        assert "giving up, stopping keepalived" in observe.journal(pair.lab, master)
        # the RTO is inside the window the lab showed: the fault came before the old MASTER let go of the
        # VIP; the peer served the client after the last sighting of it without the VIP, and soon after
        # the first sighting of it with the VIP and the volume
        at = {e["name"]: e["at"] for e in report["events"]}
        lost = min(t for t, m, _p, _v in seen if not m)
        done = min(t for t, m, p, v in seen if p and v and not m and t >= lost)
        not_yet = max(t for t, _m, p, _v in seen if not p and t <= done)
        assert at["fault"] <= lost, (at, lost)
        assert not_yet - 0.05 <= at["served_by_peer"] <= done + 1.5, (at, not_yet, done)
        assert report["rto_seconds"] == pytest.approx(at["served_by_peer"] - at["fault"], abs=0.002)
        assert at["marker_served"] >= at["served_by_peer"]
        print(f"drill: RTO {report['rto_seconds']} s; the lab saw the takeover between "
              f"{not_yet - at['fault']:.2f} s and {done - at['fault']:.2f} s after the fault")
    finally:
        holder = pair.settled(timeout=60)
        pair.sh(holder, f"rm -f {MOUNT_POINT}/uploads/drill-marker")
