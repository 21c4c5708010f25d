"""Module tests share the scripted fake GitHub Enterprise appliance of the module_utils tests
(tests/unit/plugins/module_utils/ghe/ghe_fake.py): put its directory on sys.path."""
from __future__ import annotations

import sys
from pathlib import Path

GHE_FAKE_DIR = str(Path(__file__).resolve().parents[1] / "module_utils" / "ghe")
if GHE_FAKE_DIR not in sys.path:
    sys.path.insert(0, GHE_FAKE_DIR)
