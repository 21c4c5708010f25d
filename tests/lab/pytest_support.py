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


# Tests of input validation (preflight refusals) do not depend on the hosts' release: they run
# on the default release only.
default_release_only = pytest.mark.skipif(
    bool(RELEASE) and RELEASE != image.DEFAULT_RELEASE,
    reason="input validation does not depend on the Debian release; it runs on the default one",
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
    lab = Lab.from_topology(topology, **kwargs)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()
