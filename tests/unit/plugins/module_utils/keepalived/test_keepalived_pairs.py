"""The VRRP settings of the VIP pair and of the shared-volume pair, as the roles publish them."""
from __future__ import annotations

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.keepalived.pairs import vip_pair, volume_pair

A = {"host": "db1", "lan_interface": "eth0", "lan_address": "10.0.1.30", "interfaces": ["lo", "eth0", "eth1"],
     "heartbeat_address": "10.0.11.30", "heartbeat_gateway": "", "priority": 0}
B = {"host": "db2", "lan_interface": "eth0", "lan_address": "10.0.2.30", "interfaces": ["lo", "eth0", "eth1"],
     "heartbeat_address": "10.0.12.30", "heartbeat_gateway": "10.0.12.1", "priority": 0}
CHECK = "/usr/local/libexec/hapair/vip-route-check /etc/hapair/vip-route-hook.conf"


def test_one_path_one_instance_with_the_route_check():
    got = vip_pair([A, B], "db1", "10.1.0.10/32", check_command=CHECK)
    assert got == {
        "problems": [],
        "vrrp_instances": [{"name": "VIP", "interface": "eth0", "virtual_router_id": 51, "priority": 200,
                            "dont_track_primary": False, "unicast_src_ip": "10.0.1.30", "unicast_peers": ["10.0.2.30"],
                            "virtual_ipaddresses": ["10.1.0.10/32 dev eth0"], "track_scripts": ["vip_route_check"]}],
        "sync_groups": [],
        "static_routes": [],
        "vrrp_scripts": [{"name": "vip_route_check", "interval": 30, "fall": 1, "rise": 1, "weight": 0, "timeout": 10,
                          "script": CHECK}],
    }


def test_no_route_check_with_interval_zero():
    got = vip_pair([A, B], "db2", "10.1.0.10", check_interval=0)
    assert got["vrrp_instances"][0]["track_scripts"] == [] and got["vrrp_scripts"] == []
    assert got["vrrp_instances"][0]["priority"] == 190


def test_two_heartbeat_paths_make_a_sync_group():
    got = vip_pair([A, B], "db2", "10.1.0.10", name="DB", virtual_router_id="61", heartbeat_interface="eth1",
                   check_interval="15", check_command=CHECK, libexec_dir="/opt/hapair")
    lan, hb = got["vrrp_instances"]
    assert (lan["name"], lan["virtual_router_id"], lan["dont_track_primary"], lan["track_scripts"]) == ("DB_LAN", 61, True, [])
    assert hb == {"name": "DB_HB", "interface": "eth1", "virtual_router_id": 62, "priority": 190, "dont_track_primary": True,
                  "unicast_src_ip": "10.0.12.30", "unicast_peers": ["10.0.11.30"], "virtual_ipaddresses": []}
    assert got["sync_groups"] == [{"name": "DB", "instances": ["DB_LAN", "DB_HB"],
                                   "track_scripts": ["hapair_links_up", "vip_route_check"]}]
    # the gateway of db2's own heartbeat subnet
    assert got["static_routes"] == ["10.0.11.30/32 via 10.0.12.1 dev eth1"]
    assert got["vrrp_scripts"][0] == {"name": "hapair_links_up", "interval": 1, "fall": 2, "rise": 1, "weight": 0,
                                      "script": "/opt/hapair/keepalived-links-up eth0 eth1"}
    assert got["vrrp_scripts"][1]["interval"] == 15
    assert vip_pair([A, B], "db1", "10.1.0.10", heartbeat_interface="eth1")["static_routes"] == ["10.0.12.30/32 dev eth1"]


def test_a_set_priority_wins():
    assert vip_pair([A, dict(B, priority="250")], "db2", "10.1.0.10")["vrrp_instances"][0]["priority"] == 250


@pytest.mark.parametrize("nodes, host, hb_if, words", [
    ([A, B], "db1", "eth2", "db1 has no such interface"),
    ([A, dict(B, heartbeat_address="")], "db1", "eth1", "no IPv4 address on db2"),
    ([A, B], "db1", "eth0", "must differ from the VIP's interface eth0"),
    ([A, dict(B, lan_address="")], "db1", "", "db2: no IPv4 address of the default route"),
    ([A, B], "db3", "", "db3 is not a node of the pair (db1, db2)"),
])
def test_bad_pairs_are_problems_not_settings(nodes, host, hb_if, words):
    got = vip_pair(nodes, host, "10.1.0.10", heartbeat_interface=hb_if)
    assert any(words in problem for problem in got["problems"]), got["problems"]
    assert got["vrrp_instances"] == [] and got["vrrp_scripts"] == []


C = {"host": "gl1", "interface": "eth0", "address": "10.0.3.11", "priority": 0}
D = {"host": "gl2", "interface": "eth0", "address": "10.0.3.12", "priority": 0}


def test_volume_pair_with_a_health_check_that_restarts_once():
    got = volume_pair([C, D], "gl2", "10.0.3.100/24", check_command="curl -fsS http://127.0.0.1/-/health",
                      restart_command="gitlab-ctl restart", check_interval="3")
    assert got == {
        "problems": [],
        "vrrp_instances": [{"name": "PAIR", "interface": "eth0", "virtual_router_id": 61, "priority": 190,
                            "unicast_src_ip": "10.0.3.12", "unicast_peers": ["10.0.3.11"],
                            "virtual_ipaddresses": ["10.0.3.100/24 dev eth0"], "track_scripts": ["pair_app"]}],
        "sync_groups": [], "static_routes": [],
        "vrrp_scripts": [{"name": "pair_app", "script": "curl -fsS http://127.0.0.1/-/health", "interval": 3, "rise": 1,
                          "weight": 0, "restart": "gitlab-ctl restart"}],
    }


def test_volume_pair_without_a_check():
    got = volume_pair([C, D], "gl1", "10.0.3.100/24", name="DATA", virtual_router_id=70)
    inst = got["vrrp_instances"][0]
    assert (inst["name"], inst["virtual_router_id"], inst["priority"], inst["track_scripts"]) == ("DATA", 70, 200, [])
    assert got["vrrp_scripts"] == []


@pytest.mark.parametrize("nodes, host, words", [
    ([C], "gl1", "at least two hosts"),
    ([C, dict(D, address="")], "gl1", "gl2 has no IPv4 address on eth0"),
    ([C, D], "x", "x is not a node of the pair"),
])
def test_bad_volume_pairs(nodes, host, words):
    got = volume_pair(nodes, host, "10.0.3.100/24")
    assert any(words in problem for problem in got["problems"]), got["problems"]
    assert got["vrrp_instances"] == []


# ---- the witness (split brain) ----------------------------------------------------------------


def test_witness_on_one_path_tracks_the_single_instance():
    got = vip_pair([A, B], "db1", "10.1.0.10", check_command=CHECK, witness="10.0.5.5")
    assert got["vrrp_instances"][0]["track_scripts"] == ["vip_route_witness", "vip_route_check"]
    assert got["vrrp_scripts"][0] == {"name": "vip_route_witness", "interval": 2, "fall": 2, "rise": 2, "weight": 0,
                                      "timeout": 5,
                                      "script": "/usr/local/libexec/hapair/vip-route-witness 10.0.2.30 10.0.5.5"}


def test_witness_with_two_paths_pings_the_peer_on_both_then_the_witness():
    got = vip_pair([A, B], "db2", "10.1.0.10", heartbeat_interface="eth1", check_command=CHECK,
                   libexec_dir="/opt/hapair", witness="app-01")
    assert got["sync_groups"][0]["track_scripts"] == ["hapair_links_up", "vip_route_witness", "vip_route_check"]
    witness = [s for s in got["vrrp_scripts"] if s["name"] == "vip_route_witness"][0]
    assert witness["script"] == "/opt/hapair/vip-route-witness 10.0.1.30 10.0.11.30 app-01"
    assert witness["timeout"] == 7


def test_no_witness_no_script():
    got = vip_pair([A, B], "db1", "10.1.0.10", heartbeat_interface="eth1", witness="")
    assert not [s for s in got["vrrp_scripts"] if s["name"] == "vip_route_witness"]


@pytest.mark.parametrize("witness", ["10.0.2.30", "a b", "-c9"])
def test_bad_witness_is_a_problem(witness):
    got = vip_pair([A, B], "db1", "10.1.0.10", witness=witness)
    assert any("witness" in problem for problem in got["problems"]), got["problems"]
