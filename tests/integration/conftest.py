"""Lab fixtures. A lab is brought up once per session (or module) that asks for it and torn down in a
finalizer, so a failing test still leaves no namespace, mount or process behind."""
from __future__ import annotations

import contextlib
import os

import pytest

from tests.lab import Lab


@contextlib.contextmanager
def running_lab(topology: str, **kwargs):
    if os.geteuid() != 0:
        pytest.fail("the lab needs root: run the integration tests as root (make test does)")
    lab = Lab.from_topology(topology, **kwargs)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="session")
def smoke_lab():
    with running_lab("smoke") as lab:
        yield lab
