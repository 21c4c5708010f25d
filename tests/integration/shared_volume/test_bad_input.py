"""Bad input stops playbooks/keepalived_shared_volume.yml with one clear message before
anything changes: run against the fresh lab (nothing converged yet), every host looks the
same afterwards - no keepalived configuration, no hook, no settings, nothing mounted, the
device still blank."""
from __future__ import annotations

import pytest

from tests.lab.pytest_support import default_release_only

from .conftest import PAIR, dump

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
        ({"shared_volume_fsck": "sometimes"}, "shared_volume_fsck auto, always or never"),
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


def test_check_mode_on_a_fresh_pair_reports_changes_and_makes_none(pair_lab):
    before = snapshot(pair_lab)
    result = pair_lab.run(check=True)
    assert result.rc == 0, dump(result)
    for host in PAIR:
        assert result.recap[host]["changed"] > 0, dump(result)
    assert snapshot(pair_lab) == before
