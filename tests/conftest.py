"""Shared pytest set-up: make ``ansible_collections.hapair.ha`` importable from the checkout.

The collection is imported exactly as Ansible imports it on a controller, through a link
``.venv/collections/ansible_collections/hapair/ha`` -> the repository root (``make setup``
creates it; this creates it too so a bare ``pytest`` works).
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".venv" / "collections"
_link = COLLECTIONS / "ansible_collections" / "hapair" / "ha"
if not _link.exists():
    _link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink("../../../..", _link)
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
