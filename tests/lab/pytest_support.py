"""pytest helpers for lab-based tests (imported by conftest files of each test area)."""
from __future__ import annotations

import contextlib
import os

import pytest

from .lab import Lab


@contextlib.contextmanager
def running_lab(topology: str, **kwargs):
    """A lab that is torn down even when the test (or its set-up) fails."""
    if os.geteuid() != 0:
        pytest.fail("the lab needs root: run the integration tests as root (make test does)")
    lab = Lab.from_topology(topology, **kwargs)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()
