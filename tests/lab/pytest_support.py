"""pytest helpers for lab-based tests (imported by conftest files of each test area)."""
from __future__ import annotations

import contextlib
import os

import pytest

from . import image
from .lab import Lab

# HAPAIR_LAB_RELEASE=trixie runs a suite on Debian 13 hosts: its labs then get their own slots
# and names, so the same suite on Debian 12 can run at the same time.
RELEASE = os.environ.get("HAPAIR_LAB_RELEASE") or None
ALT_SLOTS = {"vip": 7, "keepalived": 8, "smoke": 10, "molecule": 11}
# HAPAIR_LAB_SLOTS="vip=9,keepalived=14" moves a topology's lab to another slot (and name), so
# that a second checkout or a benchmark can run the same suite beside a running one.
SLOT_OVERRIDES = {
    name.strip(): int(slot)
    for name, _sep, slot in (item.partition("=") for item in os.environ.get("HAPAIR_LAB_SLOTS", "").split(",") if item.strip())
}


# Tests whose outcome does not depend on the hosts' release run on the default release only:
# input validation (preflight refusals), check mode and --diff (Ansible on the controller), the
# drill playbook (its fault and measurements are the failover tests', which run on every
# release). The other releases run what the hosts' own software decides: keepalived, systemd,
# sshd, e2fsprogs, Python and boto3 on the node.
default_release_only = pytest.mark.skipif(
    bool(RELEASE) and RELEASE != image.DEFAULT_RELEASE,
    reason="does not depend on the hosts' Debian release; it runs on the default one",
)


@contextlib.contextmanager
def running_lab(topology: str, **kwargs):
    """A lab that is torn down even when the test (or its set-up) fails."""
    if os.geteuid() != 0:
        pytest.fail("the lab needs root: run the integration tests as root (make test does)")
    if RELEASE and RELEASE != image.DEFAULT_RELEASE:
        if topology not in ALT_SLOTS:
            pytest.skip(f"topology {topology} runs on Debian {image.RELEASES[image.DEFAULT_RELEASE]['version']} only")
        kwargs.setdefault("release", RELEASE)
        kwargs.setdefault("slot", ALT_SLOTS[topology])
        kwargs.setdefault("name", f"{topology}-{RELEASE}")
    if topology in SLOT_OVERRIDES:
        kwargs["slot"] = SLOT_OVERRIDES[topology]
        kwargs["name"] = f"{topology}-s{SLOT_OVERRIDES[topology]}"
    lab = Lab.from_topology(topology, **kwargs)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()
