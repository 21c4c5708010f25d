"""Lab fixtures shared by all integration tests. Each area (tests/integration/<area>/) adds its
own lab fixture in its own conftest.py with `running_lab("<topology>")`; a lab always comes
down in a finalizer, so a failing test leaves no namespace, mount or process behind."""
from __future__ import annotations

import pytest

from tests.lab.pytest_support import running_lab


@pytest.fixture(scope="session")
def smoke_lab():
    with running_lab("smoke") as lab:
        yield lab
