"""Module tests share the scripted fake GitHub Enterprise appliance of the module_utils tests
(tests/unit/plugins/module_utils/ghe/ghe_fake.py): put its directory on sys.path."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

GHE_FAKE_DIR = str(Path(__file__).resolve().parents[1] / "module_utils" / "ghe")
if GHE_FAKE_DIR not in sys.path:
    sys.path.insert(0, GHE_FAKE_DIR)


@pytest.fixture(autouse=True)
def _module_side():
    """Modules run on the managed node, where ansible-core's is_controller flag is False. Importing
    controller code (the action plugin tests import ansible.template) sets it for the whole
    process, and then warn()/deprecate() print through Display instead of reaching the module's
    result: reset it for each module test, as a real module run has it."""
    from ansible.module_utils import _internal  # pylint: disable=import-outside-toplevel

    saved = _internal.is_controller
    _internal.is_controller = False
    yield
    _internal.is_controller = saved
