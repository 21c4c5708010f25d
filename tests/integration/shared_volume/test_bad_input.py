"""Bad input stops playbooks/keepalived_shared_volume.yml with one clear message before
anything changes: run against the fresh lab (nothing converged yet), every host looks the
same afterwards - no keepalived configuration, no hook, no settings, nothing mounted, the
device still blank."""
from __future__ import annotations

import pytest

from tests.lab import ansible_run
from tests.lab.pytest_support import default_release_only

from .conftest import LAB_VARS, PAIR, PLAYBOOK, dump

SNAPSHOT = (
    "ls -la /etc/keepalived /etc/hapair /usr/local/libexec/hapair /home/git 2>&1; "
    "grep -c gitlab-data /proc/self/mountinfo; blkid -p {device} 2>&1; pgrep -x keepalived; "
    "ls -la /srv/webapp/public /home/git/.ssh"
)


def snapshot(pair_lab) -> dict:
    device = pair_lab.lab.host_disks()["shared"]
    return {h: pair_lab.sh(h, SNAPSHOT.format(device=device), check=False).stdout for h in PAIR}


@default_release_only
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"shared_volume_device": "/dev/hapair-no-such-disk"}, "/dev/hapair-no-such-disk is not a block device here (missing)"),
        ({"shared_volume_mount_point": "/srv/webapp", "shared_volume_relocate": []},
         "/srv/webapp is a non-empty directory: mounting the volume there would hide its files"),
        ({"shared_volume_owner": "nosuchuser"}, "unknown user(s): nosuchuser"),
        ({"shared_volume_relocate": [{"path": "/srv/webapp/public/uploads", "owner": "git", "group": "nosuchgroup"}]},
         "unknown group(s): nosuchgroup"),
        ({"shared_volume_relocate": [{"path": "uploads", "owner": "git"}]}, "needs an absolute path outside the mount point"),
        ({"shared_volume_fsck": "sometimes"}, "shared_volume_fsck must be one of: auto, always, never"),
        ({"pair_vip": "198.19.95.300"}, "pair_vip must be an IPv4 address with its prefix"),
    ],
    ids=["missing-device", "non-empty-mount-point", "unknown-owner", "unknown-group", "relative-path", "bad-fsck", "bad-vip"],
)
def test_bad_input_fails_once_and_changes_nothing(pair_lab, overrides, message):
    before = snapshot(pair_lab)
    result = pair_lab.run(**overrides)
    assert result.rc != 0, dump(result)
    assert message in result.stdout, dump(result)
    for host in PAIR:
        assert result.recap[host]["failed"] == 1, dump(result)
        assert result.recap[host]["changed"] == 0, dump(result)
    assert snapshot(pair_lab) == before


@default_release_only
def test_check_mode_on_a_fresh_pair_reports_changes_and_makes_none(pair_lab):
    before = snapshot(pair_lab)
    result = pair_lab.run(check=True)
    assert result.rc == 0, dump(result)
    for host in PAIR:
        assert result.recap[host]["changed"] > 0, dump(result)
    assert snapshot(pair_lab) == before


SECRET = "Zq9xP4ss"
INSTANCE = {"name": "GITLAB", "interface": "eth0", "virtual_router_id": 61, "priority": 0, "auth_pass": SECRET,
            "unicast_peers": ["192.0.2.1"], "virtual_ipaddresses": []}


@default_release_only
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"keepalived_auth_pass": SECRET + "-is-too-long"}, "keepalived_auth_pass: 1 to 8 characters"),
        ({"keepalived_auth_pass": SECRET, "pair_virtual_router_id": 300}, "GITLAB needs virtual_router_id 1..255"),
        ({"keepalived_auth_pass": SECRET, "keepalived_vrrp_instances": [INSTANCE, dict(INSTANCE, auth_pass=SECRET + "!!")]},
         "instance names must be unique"),
    ],
    ids=["bad-secret", "bad-vrid", "instance-secrets"],
)
def test_the_vrrp_secret_is_never_shown(pair_lab, overrides, message):
    """Bad input around the VRRP secret, with -vvv and --diff: the error names the mistake, the
    output (and Ansible's stderr) never holds the secret, and nothing changes."""
    before = snapshot(pair_lab)
    result = ansible_run.playbook(pair_lab.lab, PLAYBOOK, "-vvv", "-e", f"@{LAB_VARS}",
                                  extra_vars={"pair_vip": f"{pair_lab.vip}/32", **overrides}, diff=True)
    assert result.rc != 0 and message in result.stdout, dump(result)
    assert SECRET not in result.stdout and SECRET not in result.stderr, dump(result)
    for host in PAIR:
        assert result.recap[host]["changed"] == 0, dump(result)
    assert snapshot(pair_lab) == before


@default_release_only
def test_check_mode_diff_does_not_show_the_vrrp_secret(pair_lab):
    """A fresh pair in check mode with --diff and -vvv: every file's diff is shown but the
    secret's file (no_log), and the secret appears nowhere."""
    before = snapshot(pair_lab)
    result = ansible_run.playbook(pair_lab.lab, PLAYBOOK, "-vvv", "-e", f"@{LAB_VARS}",
                                  extra_vars={"pair_vip": f"{pair_lab.vip}/32", "keepalived_auth_pass": SECRET},
                                  check=True, diff=True)
    assert result.rc == 0, dump(result)
    # keepalived.conf's diff (the whole new file on a fresh node) is shown
    assert "+vrrp_instance GITLAB {" in result.stdout, dump(result)
    assert SECRET not in result.stdout and SECRET not in result.stderr, dump(result)
    assert snapshot(pair_lab) == before
