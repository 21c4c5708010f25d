"""The NFS filters hand the module_utils results to the roles as plain dicts."""
from __future__ import annotations

from ansible_collections.hapair.ha.plugins.filter.nfs import FilterModule


FILTERS = FilterModule().filters()


def test_filters_are_registered():
    assert set(FILTERS) == {"nfs_exports_check", "nfs_mounts_check"}


def test_exports_check():
    ok = FILTERS["nfs_exports_check"]([{"path": "/srv/x", "clients": [{"host": "10.0.1.0/24", "options": ["rw"]}]}],
                                      name="app", owner="app", group="app", mode="0770")
    assert ok["problems"] == [] and ok["content"] == "/srv/x 10.0.1.0/24(rw)"
    assert ok["exports"][0]["owner"] == "app"
    bad = FILTERS["nfs_exports_check"]([{"path": "x", "clients": []}])
    assert len(bad["problems"]) == 2 and bad["exports"] == [] and bad["content"] == ""


def test_mounts_check():
    ok = FILTERS["nfs_mounts_check"]([{"src": "/srv/x", "path": "/var/lib/app/x", "opts": "intr,noac"}], server="10.1.0.10")
    assert ok["problems"] == [] and ok["fstab"] == ["10.1.0.10:/srv/x /var/lib/app/x nfs intr,noac 0 0"]
    bad = FILTERS["nfs_mounts_check"]([{"src": "/srv/x", "path": "/var/lib/app/x"}])
    assert bad["problems"] and bad["mounts"] == [] and bad["fstab"] == []
