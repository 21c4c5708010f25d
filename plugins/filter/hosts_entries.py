# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter of the hosts_entries role: build and check the block's entries once, on the controller.

Returns ``{problems, entries}`` rather than raising, so the role's preflight fails once with a
message that lists every problem. The work is in ``module_utils/common/hosts_entries.py``.
"""

from __future__ import annotations

from ansible_collections.hapair.ha.plugins.module_utils.common.hosts_entries import check_entries


def hosts_entries_check(entries, groups=None, inventory=None, hostvars=None, address_var="ansible_host", domain=""):
    """``{problems, entries}``: entries are ``{address, names}``, the listed ones then the groups' members."""
    problems, out = check_entries(entries, groups=groups or [], inventory=inventory, hostvars=hostvars,
                                  address_var=address_var, domain=domain)
    return {"problems": problems, "entries": out}


class FilterModule:
    """hapair.ha hosts_entries filter."""

    def filters(self):
        return {"hosts_entries_check": hosts_entries_check}
