"""The GHES stand-in (tests/lab/sim/ghe/ghe_sim.py) speaks the formats of GitHub's documentation.

Lab-only: these tests exercise the simulator, not the product. Each format is checked against the
page it comes from:

* ghe-repl-status levels and exit codes (0 OK, 1 WARNING or not started, 2 CRITICAL; -v/-vv add
  detail), section ghe-repl-status of
  https://docs.github.com/en/enterprise-server@latest/admin/administering-your-instance/administering-your-instance-from-the-command-line/command-line-utilities
* ghe-maintenance (-h) with the flags of ghe-cluster-maintenance (-q, -s [MESSAGE], -m MESSAGE, -u):
  the same page, sections ghe-maintenance and ghe-cluster-maintenance
* GET /manage/v1/maintenance ("Get the status of maintenance mode": hostname, uuid, status,
  scheduled_time, connection_services[name, number], can_unset_maintenance, ip_exception_list,
  maintenance_mode_message) and basic auth api_key:PASSWORD:
  https://docs.github.com/en/enterprise-server@latest/rest/enterprise-admin/manage-ghes#get-the-status-of-maintenance-mode
* Failover: in maintenance mode the active Git operations, MySQL queries and jobs drain to zero:
  https://docs.github.com/en/enterprise-server@latest/admin/monitoring-and-managing-your-instance/configuring-high-availability/initiating-a-failover-to-your-replica-appliance
"""
from __future__ import annotations

import base64
import importlib.util
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[2] / "lab" / "sim" / "ghe" / "ghe_sim.py"
PASSWORD = "unit-Manage-pw-1"


@pytest.fixture()
def sim(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("ghe_sim_under_test", SIM)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name, rel in (("MAINTENANCE_FILE", "state/maintenance.json"), ("ACTIVITY_FILE", "run/activity.json"),
                      ("EVENT_LOG", "events.log"), ("REPL_STATE", "repl-state"), ("PASSWORD_FILE", "password"),
                      ("UUID_FILE", "uuid")):
        monkeypatch.setattr(mod, name, str(tmp_path / rel))
    (tmp_path / "run").mkdir()
    (tmp_path / "password").write_text(PASSWORD)
    (tmp_path / "uuid").write_text("1b6cf518-f97c-11ed-8544-061d81f7eedb\n")
    monkeypatch.setattr(mod.os, "geteuid", lambda: 1000)  # write() must not chown in a unit test
    mod.tmp = tmp_path
    return mod


def events(sim):
    path = Path(sim.EVENT_LOG)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run(sim, func, argv):
    lines = []
    try:
        rc = func(argv, lambda text="", end="\n": lines.append(text))
    except sim.SimError as err:
        return err.rc, lines, str(err)
    return rc, lines, ""


def test_ghe_maintenance_flags_and_answers(sim):
    assert run(sim, sim.cmd_maintenance, ["-q"])[:2] == (0, ["maintenance mode not set"])
    rc, out, _err = run(sim, sim.cmd_maintenance, ["-h"])
    assert rc == 0 and all(flag in out[0] for flag in ("-q", "-s [MESSAGE]", "-m MESSAGE", "-u"))
    assert run(sim, sim.cmd_maintenance, ["-m", "no maintenance yet"])[0] == 1
    assert run(sim, sim.cmd_maintenance, ["-s", "Upgrading"])[0] == 0
    assert run(sim, sim.cmd_maintenance, ["-q"])[1] == ["maintenance mode set"]
    assert sim.maintenance()["message"] == "Upgrading"
    assert run(sim, sim.cmd_maintenance, ["-m", "Back at 6"])[0] == 0 and sim.maintenance()["message"] == "Back at 6"
    assert run(sim, sim.cmd_maintenance, ["-u"])[0] == 0 and not sim.maintenance_on()
    assert run(sim, sim.cmd_maintenance, ["--bogus"])[0] == 64
    assert [(e["event"], e["enabled"]) for e in events(sim)] == [("maintenance", True), ("maintenance", False)]


def test_activity_drains_only_after_maintenance_mode_has_been_on_long_enough(sim):
    assert sim.activity() == dict.fromkeys(sim.CONNECTION_SERVICES, 0)
    Path(sim.ACTIVITY_FILE).write_text(json.dumps({"git operations": 3, "mysql queries": 1, "drain_after_seconds": 5}))
    assert sim.activity()["git operations"] == 3  # no maintenance mode: work goes on
    sim.set_maintenance(True)
    since = sim.maintenance()["since"]
    assert sim.activity(now=since + 4.9) == {"git operations": 3, "mysql queries": 1, "aqueduct jobs": 0, "resque jobs": 0}
    assert sim.activity(now=since + 5.0) == dict.fromkeys(sim.CONNECTION_SERVICES, 0)
    Path(sim.ACTIVITY_FILE).write_text(json.dumps({"git operations": 2}))  # no drain: stays
    assert sim.activity(now=since + 999)["git operations"] == 2


def test_repl_status_levels_detail_and_exit_codes(sim):
    lines = [("OK", "mysql replication is in sync", ["IO running: Yes, SQL running: Yes, Delay: 0"]),
             ("WARNING", "git replication is behind the primary by 3 repositories and/or gists", ["table"])]
    out = []
    assert sim._print_status(lines, 0, out.append) == 1
    assert out == ["OK: mysql replication is in sync",
                   "WARNING: git replication is behind the primary by 3 repositories and/or gists"]
    out = []
    assert sim._print_status(lines + [("CRITICAL", "pages replication is behind the primary", [])], 2, out.append) == 2
    assert out[:4] == ["OK: mysql replication is in sync", "  | IO running: Yes, SQL running: Yes, Delay: 0", "",
                       "WARNING: git replication is behind the primary by 3 repositories and/or gists"]
    assert sim._print_status(lines[:1], 0, [].append) == 0


@pytest.fixture()
def manage_api(sim, monkeypatch):
    monkeypatch.setattr(sim.Handler, "_manage_port", lambda self: True)
    monkeypatch.setattr(sim.Handler, "log_message", lambda self, *a: None)
    server = sim._Server(("127.0.0.1", 0), tls=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/manage/v1/maintenance"

    def call(password=PASSWORD, body=None):
        token = base64.b64encode(f"api_key:{password}".encode()).decode()
        req = urllib.request.Request(base, data=json.dumps(body).encode() if body is not None else None,
                                     method="POST" if body is not None else "GET",
                                     headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 (loopback)
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    yield call
    server.shutdown()
    server.server_close()


def test_manage_api_maintenance_status_has_the_documented_fields(sim, manage_api):
    assert manage_api("wrong") == (401, {"message": "Unauthorized"})
    status, body = manage_api()
    assert status == 200 and isinstance(body, list) and len(body) == 1
    node = body[0]
    assert set(node) == {"hostname", "uuid", "status", "scheduled_time", "connection_services",
                         "can_unset_maintenance", "ip_exception_list", "maintenance_mode_message"}
    assert node["status"] == "off" and node["uuid"] == "1b6cf518-f97c-11ed-8544-061d81f7eedb"
    assert [s["name"] for s in node["connection_services"]] == ["git operations", "mysql queries", "aqueduct jobs",
                                                                "resque jobs"]
    assert all(isinstance(s["number"], int) for s in node["connection_services"])
    assert manage_api(body={"enabled": True, "when": "now", "maintenance_mode_message": "Failing over"})[0] == 200
    node = manage_api()[1][0]
    assert node["status"] == "on" and node["maintenance_mode_message"] == "Failing over"
    assert [e["event"] for e in events(sim)] == ["maintenance-status", "maintenance", "maintenance-status"]
    assert PASSWORD not in Path(sim.EVENT_LOG).read_text()
