"""bench_converge --floor: the no-op playbooks are shaped after the idempotent run they stand beside."""
import yaml

from tests.bench.bench_converge import floor_playbooks

COST = {"hosts_touched": ["gl-1", "gl-2", "client-1"], "results": 96, "ssh": 21, "busiest": 10}


def tasks(text):
    (play,) = yaml.safe_load(text)
    assert play["hosts"] == "gl-1:gl-2:client-1"
    assert play["gather_facts"] is False
    return play["tasks"]


def test_one_look_is_one_module_run_per_host():
    assert tasks(floor_playbooks(COST)["one look"]) == [{"ansible.builtin.ping": None}]


def test_same_shape_has_the_busiest_hosts_module_runs_and_the_other_results_as_debug():
    shape = tasks(floor_playbooks(COST)["same shape"])
    pings = [t for t in shape if "ansible.builtin.ping" in t]
    debugs = [t for t in shape if "ansible.builtin.debug" in t]
    assert len(pings) == 10
    # (96 task results - 21 SSH commands) / 3 hosts = 25 controller-only results per host
    assert len(debugs) == 25
    assert debugs[0]["ansible.builtin.debug"] == {"msg": "{{ inventory_hostname }}"}
    assert len(shape) == 35
