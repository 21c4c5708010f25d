"""hapair.ha.hosts_entries against the lab: converge, idempotence, check mode on drift, bad input."""
from __future__ import annotations

import pytest

from tests.lab import ansible_run

pytestmark = pytest.mark.lab
PLAYBOOK = "tests/integration/playbooks/hosts_entries.yml"


def hosts_file(lab, host):
    return lab.exec(host, "cat", "/etc/hosts").stdout


def test_converge_then_idempotent(smoke_lab):
    first = ansible_run.playbook(smoke_lab, PLAYBOOK)
    assert first.rc == 0, first.stdout
    assert first.recap["node-1"]["changed"] == 1 and first.recap["node-2"]["changed"] == 1
    for host in ("node-1", "node-2"):
        text = hosts_file(smoke_lab, host)
        assert "198.19.0.99\tgitlab.example.com gitlab\n" in text
        assert f"{smoke_lab.ip('client-1')}\tclient-1 client-1.lab.example\n" in text
        assert smoke_lab.exec(host, "getent", "hosts", "gitlab.example.com").stdout.split()[0] == "198.19.0.99"
    second = ansible_run.playbook(smoke_lab, PLAYBOOK)
    assert second.rc == 0 and second.changed == 0, second.stdout


def test_check_mode_on_drift_reports_and_changes_nothing(smoke_lab):
    assert ansible_run.playbook(smoke_lab, PLAYBOOK).rc == 0
    smoke_lab.exec("node-2", "sed", "-i", "s/^198.19.0.99\t/198.19.0.98\t/", "/etc/hosts")
    drifted = hosts_file(smoke_lab, "node-2")
    check = ansible_run.playbook(smoke_lab, PLAYBOOK, check=True, diff=True)
    assert check.rc == 0, check.stdout
    assert check.recap["node-2"]["changed"] == 1 and check.recap["node-1"]["changed"] == 0
    assert "-198.19.0.98\tgitlab.example.com gitlab" in check.stdout
    assert "+198.19.0.99\tgitlab.example.com gitlab" in check.stdout
    assert hosts_file(smoke_lab, "node-2") == drifted
    assert ansible_run.playbook(smoke_lab, PLAYBOOK).recap["node-2"]["changed"] == 1


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"test_entries": [{"address": "not-an-ip", "names": ["x"]}]}, "hosts_entries: invalid entry"),
        ({"test_entries": [{"address": "198.19.0.98", "names": []}]}, "hosts_entries: invalid entry"),
        ({"test_groups": ["no-such-group"]}, "hosts_entries_groups: no inventory group named no-such-group"),
        # (two listed entries: a group member's address depends on the lab's slot)
        ({"test_entries": [{"address": "198.19.0.98", "names": ["dup-a"]}, {"address": "198.19.0.98", "names": ["dup-b"]}]},
         "an address appears more than once"),
    ],
)
def test_bad_input_one_clear_error_nothing_changed(smoke_lab, extra, message):
    before = {h: hosts_file(smoke_lab, h) for h in ("node-1", "node-2")}
    result = ansible_run.playbook(smoke_lab, PLAYBOOK, extra_vars=extra)
    assert result.rc != 0
    assert message in result.stdout
    assert result.changed == 0
    assert {h: hosts_file(smoke_lab, h) for h in ("node-1", "node-2")} == before
