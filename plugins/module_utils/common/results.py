# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How every module of the collection hands its result back to Ansible."""

from __future__ import annotations


def finish(module, result):
    """Exit with ``result``: its ``warnings`` become Ansible warnings, and its ``diff`` is
    returned only when the user asked for one (``--diff``)."""
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    diff = result.pop("diff", None)
    if module._diff and diff is not None:
        result["diff"] = diff
    module.exit_json(**result)
