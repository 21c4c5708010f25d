"""hapair.ha.hosts_entries_check: the entries of the managed /etc/hosts block, checked at once."""
from __future__ import annotations

import pytest

from ansible_collections.hapair.ha.plugins.filter.hosts_entries import FilterModule

CHECK = FilterModule().filters()["hosts_entries_check"]
INVENTORY = {"all": ["a", "b", "c"], "pair": ["a", "b"], "empty": []}
HOSTVARS = {"a": {"ansible_host": "10.0.0.1", "lan": "192.168.0.1"}, "b": {"ansible_host": "10.0.0.2"}, "c": {}}


def test_listed_entries_then_group_members():
    res = CHECK([{"address": "10.0.0.9", "names": ["gitlab.example.com", "gitlab"]}], groups=["pair"],
                inventory=INVENTORY, hostvars=HOSTVARS, domain="lab.example")
    assert res == {"problems": [], "entries": [
        {"address": "10.0.0.9", "names": ["gitlab.example.com", "gitlab"]},
        {"address": "10.0.0.1", "names": ["a", "a.lab.example"]},
        {"address": "10.0.0.2", "names": ["b", "b.lab.example"]},
    ]}


def test_address_var_ipv6_and_empty_group():
    res = CHECK([{"address": "fd00::1", "names": ["v6"]}], groups=["empty"], inventory=INVENTORY, hostvars=HOSTVARS)
    assert res["problems"] == [] and res["entries"] == [{"address": "fd00::1", "names": ["v6"]}]
    res = CHECK([], groups=["pair"], inventory=INVENTORY, hostvars=HOSTVARS, address_var="lan")
    assert res["problems"] == ["hosts_entries: invalid entry b (group pair, host variable lan): the address is not an"
                               " IPv4 or IPv6 address"]
    assert res["entries"] == []


def test_nothing_to_do():
    assert CHECK([]) == {"problems": [], "entries": []}


@pytest.mark.parametrize("entries, groups, expected", [
    ([{"address": "not-an-ip", "names": ["x"]}], [], ["entry 1 of hosts_entries_list: the address is not"]),
    ([{"address": "300.1.1.1", "names": ["x"]}], [], ["the address is not an IPv4 or IPv6 address"]),
    ([{"address": 10, "names": ["x"]}], [], ["the address is not"]),
    ([{"names": ["x"]}], [], ["the address is not"]),
    ([{"address": "10.0.0.8", "names": []}], [], ["at least one host name is required"]),
    ([{"address": "10.0.0.8"}], [], ["at least one host name is required"]),
    ([{"address": "10.0.0.8", "names": "x"}], [], ["at least one host name is required"]),
    ([{"address": "10.0.0.8", "names": ["ok", "bad name", "-x"]}], [], ["2 host name(s) with characters"]),
    (["10.0.0.8 x"], [], ["entry 1 of hosts_entries_list: not a dict"]),
    ([], ["no-such-group"], ["hosts_entries_groups: no inventory group named no-such-group"]),
    ([{"address": "10.0.0.1", "names": ["dup"]}], ["pair"],
     ["an address appears more than once: 10.0.0.1 (entry 1 of hosts_entries_list and a (group pair"]),
    ([], ["all"], ["invalid entry c (group all, host variable ansible_host)"]),
])
def test_problems_name_the_field(entries, groups, expected):
    res = CHECK(entries, groups=groups, inventory=INVENTORY, hostvars=HOSTVARS)
    assert res["entries"] == []
    assert len(res["problems"]) == len(expected)
    for problem, text in zip(res["problems"], expected):
        assert text in problem


def test_every_problem_at_once_and_no_secret_echoed():
    res = CHECK([{"address": "s3cr3t-value", "names": []}], groups=["nope"], inventory=INVENTORY, hostvars=HOSTVARS)
    assert len(res["problems"]) == 3
    assert not any("s3cr3t" in p for p in res["problems"])


@pytest.mark.parametrize("entries, groups", [({"address": "10.0.0.1"}, []), ([], "pair")])
def test_wrong_types(entries, groups):
    res = CHECK(entries, groups=groups, inventory=INVENTORY, hostvars=HOSTVARS)
    assert len(res["problems"]) == 1 and res["entries"] == []
