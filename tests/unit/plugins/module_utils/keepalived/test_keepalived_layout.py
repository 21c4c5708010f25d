"""module_utils/keepalived/layout.py: sync-group membership, secret variables, the addresses the
dispatcher releases, and the hook file entries."""
from __future__ import annotations

from ansible_collections.hapair.ha.plugins.module_utils.keepalived.layout import hook_files, layout

LAN = {"name": "DB_LAN", "interface": "eth0", "virtual_ipaddresses": ["10.1.0.10/32 dev lo", "10.1.0.11"]}
HB = {"name": "DB_HB", "interface": "eth1", "auth_pass": "x"}
SOLO = {"name": "solo-1", "interface": "eth2", "auth_pass": "y", "virtual_ipaddresses": ["10.2.0.10/24 label eth2:1"]}


def test_a_sync_group_releases_every_members_addresses_in_member_order():
    laid = layout([LAN, HB, SOLO], [{"name": "DB", "instances": ["DB_HB", "DB_LAN"]}])
    assert laid["grouped"] == {"DB_HB": "DB", "DB_LAN": "DB"}
    assert laid["release"] == {
        "solo-1": [{"address": "10.2.0.10/24", "dev": "eth2"}],
        "DB": [{"address": "10.1.0.10/32", "dev": "lo"}, {"address": "10.1.0.11/32", "dev": "eth0"}],
    }


def test_an_instance_with_its_own_secret_gets_its_own_variable():
    assert layout([LAN, HB, SOLO])["auth_vars"] == {"DB_LAN": "HAPAIR_AUTH", "DB_HB": "HAPAIR_AUTH_DB_HB",
                                                    "solo-1": "HAPAIR_AUTH_SOLO_1"}


def test_ungrouped_instances_without_addresses_release_nothing():
    laid = layout([HB], None)
    assert laid == {"grouped": {}, "auth_vars": {"DB_HB": "HAPAIR_AUTH_DB_HB"}, "release": {"DB_HB": []}}


def test_a_dev_word_at_the_end_is_not_a_device():
    assert layout([{"name": "A", "interface": "eth0", "virtual_ipaddresses": ["10.0.0.1 dev"]}])["release"] == {
        "A": [{"address": "10.0.0.1/32", "dev": "eth0"}]}


def test_hook_files_keep_order_content_or_source_and_mode():
    hooks = [{"name": "10-mount", "content": "#!/bin/sh\\n"}, {"name": "50-vip", "src": "/r/files/hook", "mode": "0700"}]
    assert hook_files(hooks, "/etc/keepalived/notify.d/") == [
        {"path": "/etc/keepalived/notify.d/10-mount", "mode": "0755", "content": "#!/bin/sh\\n"},
        {"path": "/etc/keepalived/notify.d/50-vip", "mode": "0700", "src": "/r/files/hook"},
    ]
    assert hook_files(None, "/h") == []
