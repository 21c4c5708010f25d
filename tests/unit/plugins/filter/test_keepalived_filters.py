"""The keepalived filters hand the module_utils results to the role as plain dicts and lists."""
from __future__ import annotations

from ansible_collections.hapair.ha.plugins.filter.keepalived import FilterModule

FILTERS = FilterModule().filters()
INSTANCE = {"name": "VIP", "interface": "eth0", "virtual_router_id": 51, "priority": 200,
            "unicast_peers": ["10.0.2.30"], "virtual_ipaddresses": ["10.1.0.10/32 dev eth0"]}


def test_filters_are_registered():
    assert set(FILTERS) == {"keepalived_vrrp_check", "keepalived_settings_check", "keepalived_installed",
                            "keepalived_vrrp_changes", "keepalived_pair_change_check", "keepalived_vip_pair",
                            "keepalived_volume_pair", "keepalived_layout", "keepalived_hook_files"}


def test_settings_check_takes_the_vrrp_answer():
    vrrp = FILTERS["keepalived_vrrp_check"]([dict(INSTANCE, advert_int=0.005)], 1, "auto")
    problems = FILTERS["keepalived_settings_check"]([dict(INSTANCE, advert_int=0.005)], auth_pass="", vrrp=vrrp)
    assert len(problems) == 1 and problems[0].startswith("keepalived_vrrp_instances: VIP: advert_int 0.005"), problems
    vrrp = FILTERS["keepalived_vrrp_check"]([INSTANCE], 1, "auto")
    assert FILTERS["keepalived_settings_check"]([INSTANCE], auth_pass="s3cret", vrrp=vrrp) == []


def test_the_role_chain():
    vrrp = FILTERS["keepalived_vrrp_check"]([INSTANCE], 0.2, "auto")
    assert vrrp["problems"] == [] and vrrp["instances"]["VIP"] == {"advert_int": "0.2", "version": 3, "vips": 1}
    lines = ["version 2.2.7", "active", "instance VIP 2 1"]
    installed = FILTERS["keepalived_installed"](lines)
    assert installed["version"] == "2.2.7" and installed["active"] and not installed["supports_no_vip"]
    changes = FILTERS["keepalived_vrrp_changes"](vrrp, lines)
    assert changes == ["VIP (VRRPv2 1 s -> VRRPv3 0.2 s)"]
    states = [{"host": "db-01", "running": True, "changes": changes}, {"host": "db-02", "running": True, "changes": []}]
    assert "db-01, db-02" in FILTERS["keepalived_pair_change_check"](states)["problem"]
    assert FILTERS["keepalived_vrrp_check"]([INSTANCE], "x")["problems"] == [
        "VIP: advert_int x: a positive number of seconds is required"]


def test_the_pair_filters_hand_over_the_module_utils_result():
    nodes = [{"host": "a", "lan_interface": "eth0", "lan_address": "10.0.1.30"},
             {"host": "b", "lan_interface": "eth0", "lan_address": "10.0.2.30"}]
    vip = FILTERS["keepalived_vip_pair"](nodes, "b", "10.1.0.10", check_interval=0)
    assert vip["problems"] == [] and vip["vrrp_instances"][0]["priority"] == 190
    nodes = [{"host": "a", "interface": "eth0", "address": "10.0.3.11"},
             {"host": "b", "interface": "eth0", "address": "10.0.3.12"}]
    pair = FILTERS["keepalived_volume_pair"](nodes, "a", "10.0.3.100/24", name="DATA")
    assert pair["vrrp_instances"][0]["virtual_ipaddresses"] == ["10.0.3.100/24 dev eth0"] and pair["vrrp_scripts"] == []


def test_layout_and_hook_files_reach_the_role():
    laid = FILTERS["keepalived_layout"]([INSTANCE], [])
    assert laid == {"grouped": {}, "auth_vars": {"VIP": "HAPAIR_AUTH"},
                    "release": {"VIP": [{"address": "10.1.0.10/32", "dev": "eth0"}]}}
    assert FILTERS["keepalived_hook_files"]([{"name": "10-a", "content": "x"}], "/h") == [
        {"path": "/h/10-a", "mode": "0755", "content": "x"}]
