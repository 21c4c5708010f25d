# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The entries of a managed /etc/hosts block (role hapair.ha.hosts_entries), checked at once.

Plain Python, no Ansible: the filter ``hapair.ha.hosts_entries_check`` hands it the role's
variables, the inventory's groups and a mapping of host variables.
"""

from __future__ import annotations

import ipaddress
import re

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")


def _address_ok(address) -> bool:
    if not isinstance(address, str):
        return False
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _host_address(hostvars, host, address_var):
    """The host's ``address_var``, or '' when it has none (hostvars may be lazy: no ``.get``)."""
    try:
        value = hostvars[host][address_var]
    except (KeyError, TypeError):
        return ""
    return value if value is not None else ""


def check_entries(entries, groups=(), inventory=None, hostvars=None, address_var="ansible_host", domain=""):
    """``(problems, entries)``: every problem found (messages name the field, never echo the
    input), and the entries to write - ``entries`` then the members of ``groups``, each
    ``{address, names}``. ``inventory`` maps group names to host names."""
    inventory = inventory or {}
    hostvars = hostvars or {}
    problems, out = [], []

    if not isinstance(entries, (list, tuple)):
        return ["hosts_entries_list must be a list of {address, names}"], []
    if isinstance(groups, str) or not isinstance(groups, (list, tuple)):
        return ["hosts_entries_groups must be a list of inventory group names"], []

    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append(f"hosts_entries: invalid entry {index + 1} of hosts_entries_list: not a dict of address and names")
            continue
        names = entry.get("names")
        out.append({"address": entry.get("address", ""), "names": list(names) if isinstance(names, (list, tuple)) else names,
                    "_where": f"entry {index + 1} of hosts_entries_list"})

    for group in groups:
        if group not in inventory:
            problems.append(f"hosts_entries_groups: no inventory group named {group}")
            continue
        for member in inventory[group]:
            names = [member] + ([f"{member}.{domain}"] if domain else [])
            out.append({"address": _host_address(hostvars, member, address_var), "names": names,
                        "_where": f"{member} (group {group}, host variable {address_var})"})

    seen: dict = {}
    for entry in out:
        where, address, names = entry.pop("_where"), entry["address"], entry["names"]
        if not _address_ok(address):
            problems.append(f"hosts_entries: invalid entry {where}: the address is not an IPv4 or IPv6 address")
        if not isinstance(names, list) or not names:
            problems.append(f"hosts_entries: invalid entry {where}: at least one host name is required")
        else:
            bad = [n for n in names if not isinstance(n, str) or not NAME_RE.match(n)]
            if bad:
                problems.append(f"hosts_entries: invalid entry {where}: {len(bad)} host name(s) with characters other"
                                " than letters, digits, dots and dashes")
        if isinstance(address, str) and address:
            if address in seen:
                problems.append(f"hosts_entries: an address appears more than once: {address}"
                                f" ({seen[address]} and {where})")
            seen.setdefault(address, where)
    return problems, ([] if problems else out)
