"""VRRP version and advert interval of the keepalived role's instances
(plugins/module_utils/keepalived/vrrp.py), table driven: what keepalived accepts, what the
installed keepalived supports, which changes a running pair cannot take. Plus the role's probe
(a shell/awk script in roles/keepalived/vars/main.yml) against a keepalived.conf of the
template's layout."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.hapair.ha.plugins.module_utils.keepalived.vrrp import (
    format_centis,
    pair_change_check,
    parse_installed,
    supports_no_vip,
    version_tuple,
    vrrp_changes,
    vrrp_check,
)

ROOT = Path(__file__).resolve().parents[5]
ROLE = ROOT / "roles" / "keepalived"

INSTANCE = {"name": "VIP", "interface": "eth0", "virtual_router_id": 51, "priority": 200,
            "unicast_peers": ["10.0.2.30"], "virtual_ipaddresses": ["10.1.0.10/32 dev eth0"]}
HB = {"name": "VIP_HB", "interface": "eth1", "virtual_router_id": 52, "priority": 200,
      "unicast_peers": ["10.0.12.30"], "virtual_ipaddresses": []}

# (id, role variables, {instance: (advert_int as written, version, problem substring or "")});
# None: not checked (the value of a refused interval is never written)
CASES = [
    ("default", {}, {"VIP": ("1", 2, "")}),
    ("whole-string", {"keepalived_advert_int": "2"}, {"VIP": ("2", 2, "")}),
    ("whole-float", {"keepalived_advert_int": 1.0}, {"VIP": ("1", 2, "")}),
    ("whole-padded", {"keepalived_advert_int": " 3 "}, {"VIP": ("3", 2, "")}),
    ("fifth", {"keepalived_advert_int": 0.2}, {"VIP": ("0.2", 3, "")}),
    ("fifth-string", {"keepalived_advert_int": "0.2"}, {"VIP": ("0.2", 3, "")}),
    ("fifth-trailing-zero", {"keepalived_advert_int": "0.20"}, {"VIP": ("0.2", 3, "")}),
    ("float-trap", {"keepalived_advert_int": 0.29}, {"VIP": ("0.29", 3, "")}),
    ("float-trap-2", {"keepalived_advert_int": 0.07}, {"VIP": ("0.07", 3, "")}),
    ("one-and-a-half", {"keepalived_advert_int": 1.5}, {"VIP": ("1.5", 3, "")}),
    ("finest", {"keepalived_advert_int": 0.01}, {"VIP": ("0.01", 3, "")}),
    ("v3-max", {"keepalived_advert_int": 40.95}, {"VIP": ("40.95", 3, "")}),
    ("v2-max", {"keepalived_advert_int": 255}, {"VIP": ("255", 2, "")}),
    ("too-fine", {"keepalived_advert_int": 0.125}, {"VIP": (None, 3, "centiseconds")}),
    ("below-finest", {"keepalived_advert_int": 0.005}, {"VIP": (None, None, "centiseconds")}),
    ("float-sum", {"keepalived_advert_int": 0.1 + 0.2}, {"VIP": (None, 3, "centiseconds")}),
    ("zero", {"keepalived_advert_int": 0}, {"VIP": (None, 2, "a positive number")}),
    ("negative", {"keepalived_advert_int": -1}, {"VIP": (None, 2, "a positive number")}),
    ("not-a-number", {"keepalived_advert_int": "fast"}, {"VIP": (None, 2, "a positive number")}),
    ("empty", {"keepalived_advert_int": ""}, {"VIP": (None, 2, "a positive number")}),
    ("bool", {"keepalived_advert_int": True}, {"VIP": (None, 2, "a positive number")}),
    ("none", {"keepalived_advert_int": None}, {"VIP": (None, 2, "a positive number")}),
    ("nan", {"keepalived_advert_int": float("nan")}, {"VIP": (None, 2, "a positive number")}),
    ("exponent", {"keepalived_advert_int": "2e-1"}, {"VIP": (None, 2, "a positive number")}),
    ("v2-too-long", {"keepalived_advert_int": 256}, {"VIP": ("256", 2, "1 to 255 seconds")}),
    ("v3-too-long", {"keepalived_advert_int": 41.5}, {"VIP": ("41.5", 3, "0.01 to 40.95 seconds")}),
    ("forced-v2-fraction", {"keepalived_advert_int": 0.2, "keepalived_vrrp_version": 2},
     {"VIP": ("0.2", 2, "not whole seconds")}),
    ("forced-v2-string", {"keepalived_advert_int": 0.5, "keepalived_vrrp_version": "2"},
     {"VIP": ("0.5", 2, "sub-second adverts need VRRPv3")}),
    ("forced-v3-whole", {"keepalived_vrrp_version": 3}, {"VIP": ("1", 3, "")}),
    ("forced-v3-upper", {"keepalived_vrrp_version": " 3"}, {"VIP": ("1", 3, "")}),
    ("auto-upper", {"keepalived_vrrp_version": "AUTO", "keepalived_advert_int": 0.2}, {"VIP": ("0.2", 3, "")}),
    ("forced-v3-too-long", {"keepalived_vrrp_version": "3", "keepalived_advert_int": 60},
     {"VIP": ("60", 3, "0.01 to 40.95 seconds")}),
    ("per-instance", {"keepalived_vrrp_instances": [{**INSTANCE, "advert_int": 0.2}, {**HB, "advert_int": 1}]},
     {"VIP": ("0.2", 3, ""), "VIP_HB": ("1", 2, "")}),
    ("per-instance-default", {"keepalived_advert_int": 0.5, "keepalived_vrrp_instances": [INSTANCE, {**HB, "advert_int": 3}]},
     {"VIP": ("0.5", 3, ""), "VIP_HB": ("3", 2, "")}),
    ("per-instance-bad", {"keepalived_vrrp_instances": [INSTANCE, {**HB, "advert_int": "0.001"}]},
     {"VIP": ("1", 2, ""), "VIP_HB": (None, 3, "centiseconds")}),
]


def check(variables):
    return vrrp_check(variables.get("keepalived_vrrp_instances", [INSTANCE]),
                      advert_int=variables.get("keepalived_advert_int", 1),
                      version=variables.get("keepalived_vrrp_version", "auto"))


@pytest.mark.parametrize("cid, variables, expected", CASES, ids=[c[0] for c in CASES])
def test_advert_int_and_version(cid, variables, expected):
    got = check(variables)
    assert set(got["instances"]) == set(expected), got
    wanted_problems = 0
    for name, (written, version, problem) in expected.items():
        inst = got["instances"][name]
        assert written is None or inst["advert_int"] == written, inst
        assert version is None or inst["version"] == version, inst
        mine = [p for p in got["problems"] if p.startswith(name + ": ")]
        if problem:
            wanted_problems += 1
            assert len(mine) == 1 and problem in mine[0], got["problems"]
            raw = variables.get("keepalived_advert_int")
            if name == "VIP" and "keepalived_vrrp_instances" not in variables:
                # the message names the instance and the value as given
                assert mine[0].startswith("VIP: advert_int %s" % str(raw).strip()), mine
        else:
            assert mine == [], got["problems"]
    assert len(got["problems"]) == wanted_problems, got["problems"]
    assert sorted(got["v2"] + got["v3"]) == sorted(expected)


@pytest.mark.parametrize("value", ["4", 4, "v3", "", None, True, 2.5])
def test_a_bad_version_setting_is_one_problem(value):
    got = vrrp_check([INSTANCE], advert_int=1, version=value)
    assert got["problems"] == ["keepalived_vrrp_version: auto, 2 or 3 (got %s)" % value]
    assert got["instances"]["VIP"]["version"] == 2  # evaluated as auto meanwhile


def test_names_by_version_and_heartbeat_only_v3():
    got = vrrp_check([INSTANCE, HB, {**HB, "name": "HB2", "virtual_router_id": 53, "advert_int": 1}],
                     advert_int=0.2)
    assert got["v3"] == ["VIP", "VIP_HB"] and got["v2"] == ["HB2"]
    assert got["v3_no_vip"] == ["VIP_HB"]
    assert {name: inst["vips"] for name, inst in got["instances"].items()} == {"VIP": 1, "VIP_HB": 0, "HB2": 0}
    assert vrrp_check([{**INSTANCE, "virtual_ipaddresses": None}], version=3)["v3_no_vip"] == ["VIP"]


@pytest.mark.parametrize("instances", [None, "VIP", {"name": "VIP"}, [None, "x", {"interface": "eth0"}, {"name": 5}]])
def test_malformed_instances_are_left_to_the_other_checks(instances):
    assert vrrp_check(instances) == {"problems": [], "instances": {}, "v2": [], "v3": [], "v3_no_vip": []}


@pytest.mark.parametrize("centis, text", [(100, "1"), (20, "0.2"), (29, "0.29"), (1, "0.01"), (150, "1.5"),
                                          (4095, "40.95"), (25500, "255"), (1010, "10.1")])
def test_format_centis(centis, text):
    assert format_centis(centis) == text


@pytest.mark.parametrize("text, expected, no_vip", [
    ("2.2.7", (2, 2, 7), False), ("2.2.8", (2, 2, 8), True), ("2.3.3", (2, 3, 3), True),
    ("2.10", (2, 10), True), ("10.0.0", (10, 0, 0), True), ("1.9.9", (1, 9, 9), False),
    ("", (), False), (None, (), False), ("2.2.x", (), False), ("v2.2.8", (), False), ("2..8", (), False),
])
def test_versions(text, expected, no_vip):
    assert version_tuple(text) == expected
    assert supports_no_vip(text) is no_vip


# (id, role variables, lines of the installed-keepalived probe, expected changes, no_vip_ok)
INSTALLED = [
    ("nothing-installed", {}, [], [], False),
    ("same", {}, ["version 2.2.7", "active", "instance VIP 2 1"], [], False),
    ("to-v3", {"keepalived_advert_int": 0.2}, ["version 2.3.3", "active", "instance VIP 2 1"],
     ["VIP (VRRPv2 1 s -> VRRPv3 0.2 s)"], True),
    ("back-to-v2", {}, ["version 2.3.3", "instance VIP 3 0.2"], ["VIP (VRRPv3 0.2 s -> VRRPv2 1 s)"], True),
    ("v2-interval", {"keepalived_advert_int": 2}, ["version 2.2.8", "instance VIP 2 1"],
     ["VIP (VRRPv2 1 s -> VRRPv2 2 s)"], True),
    ("v2-same-interval-other-spelling", {"keepalived_advert_int": "1.0"}, ["version 2.2.7", "instance VIP 2 1"], [], False),
    ("v3-interval-is-fine", {"keepalived_advert_int": 0.3}, ["version 2.3.3", "instance VIP 3 0.2"], [], True),
    ("forced-v3-same-interval", {"keepalived_vrrp_version": 3}, ["version 2.3.3", "instance VIP 2 1"],
     ["VIP (VRRPv2 1 s -> VRRPv3 1 s)"], True),
    ("new-instance", {"keepalived_advert_int": 0.2}, ["version 2.3.3", "instance OTHER 2 1"], [], True),
    ("garbage-lines", {}, ["Keepalived v2.2.7", "version", "version x.y", "instance VIP 2", "active now", ""], [], False),
    ("unreadable-interval", {}, ["version 2.2.7", "instance VIP 2 fast"], ["VIP (VRRPv2 fast s -> VRRPv2 1 s)"], False),
]


@pytest.mark.parametrize("cid, variables, lines, changes, no_vip_ok", INSTALLED, ids=[c[0] for c in INSTALLED])
def test_installed_keepalived(cid, variables, lines, changes, no_vip_ok):
    installed = parse_installed(lines)
    assert installed["supports_no_vip"] is no_vip_ok
    assert installed["active"] is ("active" in lines)
    new = check(variables)
    assert vrrp_changes(new, installed) == changes
    assert vrrp_changes(new, lines) == changes  # the probe's lines will do as well


def test_parse_installed():
    assert parse_installed(["version 2.3.3", "active", "instance A 3 0.2", "instance B 2 1"]) == {
        "version": "2.3.3", "active": True, "supports_no_vip": True,
        "instances": {"A": {"version": "3", "advert_int": "0.2"}, "B": {"version": "2", "advert_int": "1"}}}
    assert parse_installed(None) == {"version": "", "active": False, "supports_no_vip": False, "instances": {}}


CHANGE = "VIP (VRRPv2 1 s -> VRRPv3 0.2 s)"
# (id, the nodes' states, running, changing, refused)
PAIRS = [
    ("both-run-one-changes", [{"host": "a", "running": True, "changes": [CHANGE]},
                              {"host": "b", "running": True, "changes": []}], ["a", "b"], ["a"], True),
    ("both-run-both-change", [{"host": "a", "running": True, "changes": [CHANGE]},
                              {"host": "b", "running": True, "changes": [CHANGE]}], ["a", "b"], ["a", "b"], True),
    ("backup-stopped", [{"host": "a", "running": True, "changes": [CHANGE]},
                        {"host": "b", "running": False, "changes": [CHANGE]}], ["a"], ["a", "b"], False),
    ("both-run-nothing-changes", [{"host": "a", "running": True, "changes": []},
                                  {"host": "b", "running": True, "changes": []}], ["a", "b"], [], False),
    ("one-node-in-the-play", [{"host": "a", "running": True, "changes": [CHANGE]}], ["a"], ["a"], False),
    ("a-node-without-state", [{"host": "a", "running": True, "changes": [CHANGE]}, {}, None, "b"], ["a"], ["a"], False),
    ("nothing", None, [], [], False),
]


@pytest.mark.parametrize("cid, states, running, changing, refused", PAIRS, ids=[c[0] for c in PAIRS])
def test_pair_change_check(cid, states, running, changing, refused):
    got = pair_change_check(states)
    assert got["running"] == running and got["changing"] == changing
    if refused:
        assert got["problem"].startswith("keepalived: %s while keepalived runs on a, b" % CHANGE), got["problem"]
        assert got["problem"].count(CHANGE) == 1  # named once even when both nodes change
        assert "Stop keepalived on the BACKUP node(s) first" in got["problem"]
    else:
        assert got["problem"] == ""


CONF = """\
# managed
include /etc/keepalived/hapair-auth.conf

global_defs {
    router_id x
}

vrrp_sync_group VIP {
    group {
        A
        B
    }
    notify "/usr/local/libexec/hapair/keepalived-notify /etc/keepalived/hapair-notify.conf"
}

vrrp_instance A {
    state BACKUP
    advert_int 0.2
    # VRRPv3: advert_int in centiseconds (0.01..40.95 s); no authentication in v3
    version 3
    unicast_peer {
        10.0.0.2
    }
    track_script {
        check_app weight 0
    }
}

vrrp_instance B {
    state BACKUP
    unicast_peer {
        10.0.0.3
    }
    authentication {
        auth_type PASS
        auth_pass $HAPAIR_AUTH
    }
}
"""


@pytest.mark.parametrize("awk", ["mawk", "gawk"])
@pytest.mark.parametrize("conf, expected", [
    (CONF, ["instance A 3 0.2", "instance B 2 1"]),
    # another layout: braces on their own line, a global vrrp_version, comments with '!'
    ("global_defs\n{\n  vrrp_version 3 ! all v3\n}\nvrrp_instance C\n{\n  advert_int 2\n  ! version 2\n}\n",
     ["instance C 3 2"]),
    ("", []),
])
def test_the_probe_reads_keepalived_conf(tmp_path, awk, conf, expected):
    """The probe's awk finds each instance's version and interval (keepalived's defaults where a
    line is missing) with Debian's mawk and with gawk."""
    if not shutil.which(awk):
        pytest.skip("%s is not installed" % awk)
    script = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__keepalived_installed_probe"]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "awk").symlink_to(shutil.which(awk))
    (tmp_path / "keepalived.conf").write_text(conf)
    out = subprocess.run(["sh", "-c", script, "probe", str(tmp_path / "keepalived.conf")], capture_output=True,
                         text=True, check=True, env={"PATH": "%s:/usr/bin:/bin" % bindir}).stdout
    assert [line for line in out.splitlines() if line.startswith("instance ")] == expected
    assert parse_installed(out.splitlines())["instances"].keys() == {line.split()[1] for line in expected}
