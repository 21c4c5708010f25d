"""The keepalived role's input checks (plugins/module_utils/keepalived/settings.py): every
mistake is named once, with the variable, the instance and the value - and never a secret."""
from __future__ import annotations

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.keepalived.settings import settings_problems
from ansible_collections.hapair.ha.plugins.module_utils.keepalived.vrrp import vrrp_check

SECRET = "Zq9/x+Y1"
INSTANCE = {"name": "VIP", "interface": "eth0", "virtual_router_id": 51, "priority": 200,
            "unicast_peers": ["10.0.2.30"], "virtual_ipaddresses": ["10.1.0.10/32 dev eth0"]}
SCRIPT = {"name": "app", "script": "curl -fsS http://127.0.0.1/-/health", "interval": 2}


def check(instances, advert_int=1, version="auto", **kw):
    kw.setdefault("auth_pass", SECRET)
    return settings_problems(instances, vrrp=vrrp_check(instances, advert_int, version), **kw)


def inst(**changes):
    out = dict(INSTANCE, **changes)
    return {k: v for k, v in out.items() if v is not DROP}


DROP = object()


def test_good_settings_have_no_problem():
    assert check([INSTANCE, inst(name="HB", interface="eth1", virtual_router_id=52)],
                 scripts=[SCRIPT, dict(SCRIPT, name="db", restart="systemctl restart db", restart_wait=5)],
                 groups=[{"name": "G", "instances": ["VIP", "HB"], "track_scripts": ["app"]}],
                 hooks=[{"name": "10-mount", "content": "#!/bin/sh\n"}, {"name": "20-x.sh", "src": "/tmp/x"}]) == []


@pytest.mark.parametrize("changes, words", [
    ({"name": "1st"}, "1st needs a name of letters"),
    ({"interface": "an-interface-name-too-long"}, "VIP needs an interface (got 'an-interface-name-too-long')"),
    ({"interface": DROP}, "VIP needs an interface (got '')"),
    ({"virtual_router_id": 256}, "VIP needs virtual_router_id 1..255 (got 256)"),
    ({"virtual_router_id": "0"}, "virtual_router_id 1..255 (got '0')"),
    ({"virtual_router_id": True}, "virtual_router_id 1..255 (got True)"),
    ({"priority": 255}, "priority 1..254 (got 255)"),
    ({"priority": "high"}, "priority 1..254 (got 'high')"),
    ({"state": "PRIMARY"}, "state BACKUP or MASTER (got 'PRIMARY')"),
    ({"state": "MASTER"}, "state BACKUP with nopreempt"),
    ({"unicast_peers": []}, "at least one unicast peer (a VPC has no multicast)"),
    ({"unicast_peers": "10.0.2.30"}, "at least one unicast peer"),
    ({"unicast_peers": ["10.0.2.300", "10.0.2.31"]}, "IPv4 unicast peers (got 10.0.2.300)"),
    ({"unicast_src_ip": "eth0"}, "an IPv4 unicast_src_ip (got 'eth0')"),
    ({"virtual_ipaddresses": "10.1.0.10/32"}, "a list of virtual_ipaddresses"),
])
def test_an_instance_mistake_is_named(changes, words):
    problems = check([inst(**changes)])
    assert len(problems) == 1 and problems[0].startswith("keepalived_vrrp_instances: "), problems
    assert words in problems[0], problems


def test_every_mistake_of_an_instance_in_one_sentence():
    problems = check([inst(virtual_router_id=0, priority=0, unicast_peers=[])])
    assert problems == ["keepalived_vrrp_instances: VIP needs virtual_router_id 1..255 (got 0); priority 1..254 (got 0); "
                        "at least one unicast peer (a VPC has no multicast)"]


def test_master_is_allowed_without_nopreempt():
    assert check([inst(state="MASTER")], nopreempt=False) == []
    assert check([inst(state="MASTER", nopreempt="no")]) == []
    assert check([inst(state="MASTER", nopreempt="yes")], nopreempt=False) != []


@pytest.mark.parametrize("instances", [[], None, "VIP", {"name": "VIP"}])
def test_at_least_one_instance(instances):
    problems = settings_problems(instances, auth_pass=SECRET, vrrp=vrrp_check(instances))
    assert problems == ["keepalived_vrrp_instances: at least one VRRP instance is required"]


def test_an_instance_that_is_not_a_mapping():
    assert check(["VIP"]) == ["keepalived_vrrp_instances: every instance must be a mapping, got str"]


@pytest.mark.parametrize("auth_pass, instances, advert_int, expected", [
    ("", [INSTANCE], 1, "keepalived_auth_pass: a VRRP secret is required and has no default"),
    ("", [], 1, "keepalived_auth_pass: a VRRP secret is required"),
    (12345678, [INSTANCE], 1, "keepalived_auth_pass: a string is required"),
    ("nine-char", [INSTANCE], 1, "keepalived_auth_pass: 1 to 8 characters"),
    ("sp ace", [INSTANCE], 1, "keepalived_auth_pass: 1 to 8 characters"),
    (SECRET, [inst(auth_pass="way-too-long-secret")], 1, "keepalived_vrrp_instances: VIP: auth_pass: 1 to 8 characters"),
])
def test_the_secret(auth_pass, instances, advert_int, expected):
    problems = settings_problems(instances, auth_pass=auth_pass, vrrp=vrrp_check(instances, advert_int))
    assert any(p.startswith(expected) for p in problems), problems


def test_vrrpv3_needs_no_secret():
    assert check([INSTANCE], advert_int=0.2, auth_pass="") == []


@pytest.mark.parametrize("secret", [SECRET, "nine-char", "way-too-long-secret", "sp ace"])
def test_a_secret_is_never_shown(secret):
    instances = [inst(auth_pass=secret, priority=0, name="VIP")]
    problems = settings_problems(instances, auth_pass=secret + "x", vrrp=vrrp_check(instances))
    assert problems and not any(secret in p for p in problems), problems


def test_names_router_ids_and_references():
    problems = check([INSTANCE, dict(INSTANCE), inst(name="B", track_scripts=["nope", {"name": "app"}])],
                     scripts=[SCRIPT, SCRIPT, {"name": "2bad", "script": ""}],
                     groups=[{"name": "G", "instances": ["VIP", "ghost"]}, {"name": "H", "instances": ["VIP"]},
                             {"instances": []}, {"name": "N"}])
    assert problems == [
        "keepalived_vrrp_instances: instance names must be unique (VIP repeated)",
        "keepalived_vrrp_instances: virtual_router_id must be unique per interface (eth0/51 repeated)",
        "keepalived_vrrp_scripts: every script needs a name of letters, digits, _ and - starting with a letter (got '2bad')",
        "keepalived_vrrp_scripts: script names must be unique (app repeated)",
        "keepalived_vrrp_scripts: 2bad: a script (the command keepalived runs) is required",
        "track_scripts: nope not defined in keepalived_vrrp_scripts (defined: app, app, 2bad)",
        "keepalived_sync_groups: every group needs a name of letters, digits, _ and - starting with a letter (got None)",
        "keepalived_sync_groups: N needs a list of instances",
        "keepalived_sync_groups: ghost are not VRRP instances (instances: VIP, VIP, B)",
        "keepalived_sync_groups: an instance belongs to one group only (VIP repeated)",
    ]


def test_lists_are_required():
    problems = check([INSTANCE], scripts="app", groups={"name": "G"}, hooks="x")
    assert problems == ["keepalived_vrrp_scripts: a list is required", "keepalived_sync_groups: a list is required",
                        "keepalived_notify_hooks: a list is required"]


def test_advert_interval_problems_are_included():
    problems = check([inst(advert_int="fast")])
    assert problems == ["keepalived_vrrp_instances: VIP: advert_int fast: a positive number of seconds is required"]


@pytest.mark.parametrize("script, words", [
    ({"restart": ""}, "restart must be a non-empty command"),
    ({"restart": ["systemctl", "restart"]}, "restart must be a non-empty command"),
    ({"restart": "x", "restart_wait": 0}, "restart_wait positive whole seconds (got 0)"),
    ({"restart": "x", "check_timeout": "5s"}, "check_timeout positive whole seconds (got '5s')"),
    ({"restart": "x", "give_up": ["a"]}, "give_up must be a command"),
])
def test_the_restart_once_contract(script, words):
    problems = check([INSTANCE], scripts=[dict(SCRIPT, **script)])
    assert problems == ["keepalived_vrrp_scripts: app: " + words], problems


@pytest.mark.parametrize("hook, words", [
    ({"name": "../x", "content": ""}, "each hook needs a file name ([A-Za-z0-9][A-Za-z0-9_.-]*), got '../x'"),
    ({"content": ""}, "each hook needs a file name ([A-Za-z0-9][A-Za-z0-9_.-]*), got None"),
    ({"name": "10-x"}, "10-x needs exactly one of content and src"),
    ({"name": "10-x", "content": "", "src": "/tmp/x"}, "10-x needs exactly one of content and src"),
])
def test_notify_hooks(hook, words):
    assert check([INSTANCE], hooks=[hook]) == ["keepalived_notify_hooks: " + words]
