"""The route swap against a faulty EC2 API: throttling (RequestLimitExceeded, HTTP 503) injected
in front of moto is retried with backoff, by the failover command on a node and by the module
on the controller; a failover command killed half-way leaves some tables switched, and running
it again converges them all. API calls are counted by the same proxy."""
from __future__ import annotations

import json
import subprocess

import pytest

from tests.lab import ansible_run
from tests.lab.awsproxy import AwsProxy
from tests.lab.pytest_support import default_release_only

from .conftest import dump

pytestmark = pytest.mark.lab
COMMAND = ["/usr/local/sbin/hapair-route-failover", "--config", "/etc/hapair/vip-route.conf"]


def master(v) -> str:
    holders = v.holders()
    assert len(holders) == 1, holders
    return holders[0]


def other(host: str) -> str:
    return "db-02" if host == "db-01" else "db-01"


@pytest.fixture
def proxy(converged):
    lab = converged.lab
    with AwsProxy(lab.aws_endpoint, host=str(lab.topo.first_network.controller_ip)) as p:
        yield p


def test_throttled_replace_route_is_retried_by_the_node_command(converged, proxy):
    v = converged
    node = master(v)
    for table in v.tables[:3]:
        v.set_route(table, other(node))
    proxy.throttle("ReplaceRoute", 2)
    out = v.lab.exec(node, *COMMAND, "--endpoint-url", proxy.url, "--json", timeout=120)
    result = json.loads(out.stdout)
    assert [e["route_table_id"] for e in result["route_tables"] if e["changed"]] == v.tables[:3]
    assert v.tables_point_at(node), v.routes()
    # 2 throttled + 3 replaced; one describe and one read-back: N + 2 calls plus the retries.
    assert proxy.counts["ReplaceRoute"] == 5, proxy.counts
    assert proxy.counts["DescribeRouteTables"] == 2, proxy.counts
    assert result["api_calls"] == 7 and [call[2] for call in proxy.calls if call[2] == 503] == [503, 503]


@default_release_only  # the module runs on the controller, not on a lab host
def test_throttled_replace_route_is_retried_by_the_module(converged, proxy, tmp_path):
    v = converged
    node = master(v)
    for table in v.tables:
        v.set_route(table, other(node))
    proxy.throttle("ReplaceRoute", 3)
    out_file = tmp_path / "swap.json"
    run = ansible_run.playbook(v.lab, "tests/integration/vip/playbooks/route_swap.yml", extra_vars={
        "swap_vip": v.vip, "swap_tables": v.tables, "swap_eni": v.enis[node], "swap_endpoint": proxy.url,
        "swap_result": str(out_file)})
    assert run.rc == 0, dump(run)
    result = json.loads(out_file.read_text())
    assert result["changed"] and all(e["action"] == "replace" for e in result["route_tables"])
    assert v.tables_point_at(node), v.routes()
    assert proxy.counts["ReplaceRoute"] == len(v.tables) + 3, proxy.counts
    assert result["api_calls"] == proxy.total(), (result["api_calls"], proxy.counts)


def test_failover_killed_half_way_then_run_again_converges(converged, proxy):
    v = converged
    node = master(v)
    for table in v.tables:
        v.set_route(table, other(node))
    reached, release = proxy.hold("ReplaceRoute", 3, drop=True)
    cmd = ["nsenter", "-t", str(v.lab.pid1(node)), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--",
           *COMMAND, "--endpoint-url", proxy.url]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert reached.wait(60), "the third ReplaceRoute never came"
        pids = v.lab.exec(node, "pgrep", "-f", "hapair-route-failover --config").stdout.split()
        assert pids
        v.lab.exec(node, "kill", "-9", *pids)
    finally:
        release.set()
        run.wait(timeout=30)
    # The per-table calls run in parallel: the ones not held may have landed, the held (and
    # dropped) one never reached EC2, so the crash left the tables split. Calls the killed
    # command had in flight still reach moto after it died: read the routes once they have.
    proxy.wait_idle()
    routes = v.routes()
    moved = [t for t in v.tables if routes[t] == v.enis[node]]
    left = [t for t in v.tables if routes[t] == v.enis[other(node)]]
    assert left and len(moved) + len(left) == len(v.tables), routes
    again = v.lab.exec(node, *COMMAND, "--json", timeout=120)
    result = json.loads(again.stdout)
    actions = {e["route_table_id"]: e["action"] for e in result["route_tables"]}
    assert actions == {t: "none" if t in moved else "replace" for t in v.tables}, result
    assert v.tables_point_at(node), v.routes()
