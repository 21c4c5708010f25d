# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the keepalived role lays its instances out in the files it writes (plain Python).

- ``grouped``: instance name -> the sync group it belongs to (keepalived.conf notifies the group,
  not the instance, of a member's transition);
- ``auth_vars``: instance name -> the shell variable of hapair-auth.conf that holds its VRRP
  secret (an instance's own ``auth_pass`` gets its own variable, the others share the role's);
- ``release``: group or ungrouped instance name -> the virtual addresses ``[{address, dev}]`` that
  the notify dispatcher's ``--release`` removes when keepalived stopped without a STOP (a group:
  every member's, in member order).

The settings are validated before (``settings.py``); this only arranges valid ones.
"""

from __future__ import annotations


def _addresses(inst):
    out = []
    for vip in inst.get("virtual_ipaddresses") or []:
        words = str(vip).split()
        dev = words[words.index("dev") + 1] if "dev" in words[:-1] else inst.get("interface", "")
        address = words[0] if "/" in words[0] else words[0] + "/32"
        out.append({"address": address, "dev": dev})
    return out


def auth_var(name):
    """The hapair-auth.conf variable of an instance that has its own ``auth_pass``."""
    return "HAPAIR_AUTH_" + name.upper().replace("-", "_")


def layout(instances, sync_groups=None):
    """``{grouped, auth_vars, release}`` of the role's ``keepalived_vrrp_instances`` and
    ``keepalived_sync_groups``."""
    sync_groups = sync_groups or []
    grouped = {}
    for group in sync_groups:
        for member in group.get("instances") or []:
            grouped[member] = group["name"]
    auth_vars = {inst["name"]: auth_var(inst["name"]) if "auth_pass" in inst else "HAPAIR_AUTH" for inst in instances}
    per_inst = {inst["name"]: _addresses(inst) for inst in instances}
    release = {name: addrs for name, addrs in per_inst.items() if name not in grouped}
    for group in sync_groups:
        release[group["name"]] = [addr for member in group.get("instances") or [] for addr in per_inst.get(member, [])]
    return {"grouped": grouped, "auth_vars": auth_vars, "release": release}


def hook_files(hooks, hooks_dir):
    """The ``hapair.ha.managed_files`` entries of ``keepalived_notify_hooks`` (``content`` or ``src``)."""
    out = []
    for hook in hooks or []:
        item = {"path": hooks_dir.rstrip("/") + "/" + hook["name"], "mode": hook.get("mode", "0755")}
        if "content" in hook:
            item["content"] = hook["content"]
        else:
            item["src"] = hook["src"]
        out.append(item)
    return out
