"""The lab reads a host's first-boot setup status from the host's disk while the host may be
writing it: an empty status file is "not yet", never "failed" (tests/lab/lab.py Lab._set_up)."""
from __future__ import annotations

import pytest

from tests.lab.lab import Lab, LabError


@pytest.fixture
def lab(tmp_path, monkeypatch):
    lab = Lab.from_topology("smoke")
    monkeypatch.setattr(Lab, "disk_path", lambda self, host: tmp_path / host)
    (tmp_path / "node-1" / "var/lib/lab").mkdir(parents=True)
    (tmp_path / "node-1" / "var/log/lab").mkdir(parents=True)
    return lab, tmp_path / "node-1"


def test_setup_status_read_from_the_hosts_disk(lab):
    lab, disk = lab
    rc = disk / "var/lib/lab/setup.rc"
    assert lab._set_up("node-1") is False  # pylint: disable=protected-access  # not there yet
    rc.write_text("")
    assert lab._set_up("node-1") is False  # pylint: disable=protected-access  # being written
    rc.write_text("0\n")
    assert lab._set_up("node-1") is True  # pylint: disable=protected-access
    rc.write_text("3\n")
    (disk / "var/log/lab/setup.log").write_text("ip: bad address\n")
    with pytest.raises(LabError, match=r"a setup command failed \(3\):\nip: bad address"):
        lab._set_up("node-1")  # pylint: disable=protected-access
