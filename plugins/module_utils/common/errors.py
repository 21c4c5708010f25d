# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Messages of the exceptions AnsibleModule's file handling raises."""

from __future__ import annotations


def reason(err):
    """The message of ``err`` and of the exception it was raised from (``OSError.strerror``)."""
    parts = []
    while err is not None and len(parts) < 3:
        text = getattr(err, "strerror", None) or str(err)
        if text and text not in parts:
            parts.append(text)
        err = err.__cause__
    return ": ".join(parts) or "unknown error"
