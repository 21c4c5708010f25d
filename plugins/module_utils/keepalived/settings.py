# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keepalived role's input checks (plain Python, no Ansible).

:func:`settings_problems` looks at everything the role is given - VRRP instances, track scripts,
sync groups, notify hooks and the VRRP secret - and returns every mistake as a short sentence
naming the variable, the instance and the value, so that the role's preflight fails once with
all of them. A secret (``keepalived_auth_pass``, an instance's ``auth_pass``) is never quoted:
only whether it is missing or malformed.

What is accepted follows keepalived.conf(5): instance and script names are single words,
``virtual_router_id`` is 1..255 and ``priority`` 1..254 (255 is reserved for the address owner,
RFC 3768 5.3.4), a VRRP PASS secret has at most 8 characters (RFC 2338 5.3.6.1; keepalived
truncates longer ones), an interface name at most 15 (IFNAMSIZ - 1). A VPC has no multicast,
so every instance needs unicast peers.
"""

from __future__ import annotations

import re

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9_.:@%+=,/-]{1,8}$")
INTERFACE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")
HOOK_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
IPV4_RE = re.compile(r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$")
_DIGITS_RE = re.compile(r"^[0-9]+$")

SECRET_WORDS = "1 to 8 characters from A-Z a-z 0-9 and _ . : @ % + = , / - (VRRP PASS authentication uses at most 8)"


def _is_list(value):
    return isinstance(value, (list, tuple))


def _whole(value, low, high=None):
    """``value`` as an int when it is a whole number (or its digits) in ``low..high``, else ``None``."""
    if isinstance(value, bool) or not _DIGITS_RE.match(str(value).strip()):
        return None
    number = int(str(value).strip())
    if number < low or (high is not None and number > high):
        return None
    return number


def _true(value):
    """Ansible's truth for a flag: a bool, or yes/true/on/1 written as text."""
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "true", "on", "1", "y", "t")
    return bool(value)


def _show(value):
    """A value as the user wrote it, for a message (never used for a secret)."""
    return repr(value) if isinstance(value, str) else str(value)


def secret_problems(auth_pass, instances, v2):
    """The VRRP secret: required while an instance runs VRRPv2 (VRRPv3 has no authentication) or
    when there is no instance at all; ``keepalived_auth_pass`` and every instance's ``auth_pass``
    must be a valid PASS secret."""
    problems = []
    if not isinstance(auth_pass, str):
        problems.append("keepalived_auth_pass: a string is required (%s)" % SECRET_WORDS)
    elif auth_pass == "":
        if v2 or not instances:
            problems.append("keepalived_auth_pass: a VRRP secret is required and has no default (set the same "
                            "value on both nodes, from Ansible Vault or an AWX credential)")
    elif not SECRET_RE.match(auth_pass):
        problems.append("keepalived_auth_pass: %s" % SECRET_WORDS)
    for inst in instances:
        if isinstance(inst, dict) and "auth_pass" in inst:
            secret = inst["auth_pass"]
            if not isinstance(secret, str) or not SECRET_RE.match(secret):
                problems.append("keepalived_vrrp_instances: %s: auth_pass: %s" % (inst.get("name", "(no name)"), SECRET_WORDS))
    return problems


def instance_problems(inst, nopreempt):
    """What is wrong with one VRRP instance (``[]`` when nothing)."""
    if not isinstance(inst, dict):
        return ["keepalived_vrrp_instances: every instance must be a mapping, got %s" % type(inst).__name__]
    name = inst.get("name")
    label = name if isinstance(name, str) and name else "(no name)"
    faults = []
    if not isinstance(name, str) or not NAME_RE.match(name):
        faults.append("a name of letters, digits, _ and - starting with a letter (at most 32)")
    interface = inst.get("interface", "")
    if not isinstance(interface, str) or not INTERFACE_RE.match(interface):
        faults.append("an interface (got %s)" % _show(interface))
    if _whole(inst.get("virtual_router_id", ""), 1, 255) is None:
        faults.append("virtual_router_id 1..255 (got %s)" % _show(inst.get("virtual_router_id")))
    if _whole(inst.get("priority", ""), 1, 254) is None:
        faults.append("priority 1..254 (got %s)" % _show(inst.get("priority")))
    state = inst.get("state", "BACKUP")
    if state not in ("MASTER", "BACKUP"):
        faults.append("state BACKUP or MASTER (got %s)" % _show(state))
    elif state == "MASTER" and _true(inst.get("nopreempt", nopreempt)):
        faults.append("state BACKUP with nopreempt (keepalived ignores nopreempt on a MASTER)")
    peers = inst.get("unicast_peers", [])
    if not _is_list(peers) or not peers:
        faults.append("at least one unicast peer (a VPC has no multicast)")
    else:
        bad = [str(peer) for peer in peers if not isinstance(peer, str) or not IPV4_RE.match(peer)]
        if bad:
            faults.append("IPv4 unicast peers (got %s)" % ", ".join(bad))
    src = inst.get("unicast_src_ip", "")
    if src not in ("", None) and (not isinstance(src, str) or not IPV4_RE.match(src)):
        faults.append("an IPv4 unicast_src_ip (got %s)" % _show(src))
    if not _is_list(inst.get("virtual_ipaddresses", [])):
        faults.append("a list of virtual_ipaddresses")
    if not faults:
        return []
    return ["keepalived_vrrp_instances: %s needs %s" % (label, "; ".join(faults))]


def _tracked(owners):
    out = []
    for owner in owners:
        for scr in (owner.get("track_scripts") or []) if isinstance(owner, dict) else []:
            out.append(scr.get("name", "") if isinstance(scr, dict) else scr)
    return out


def _duplicates(values):
    seen, dup = set(), []
    for value in values:
        if value in seen and value not in dup:
            dup.append(value)
        seen.add(value)
    return dup


def reference_problems(instances, scripts, groups):
    """Unique names and router ids, scripts that exist, sync groups of existing instances."""
    problems = []
    insts = [inst for inst in instances if isinstance(inst, dict)]
    names = [inst.get("name") for inst in insts]
    dup = _duplicates(names)
    if dup:
        problems.append("keepalived_vrrp_instances: instance names must be unique (%s repeated)" % ", ".join(map(str, dup)))
    vrids = ["%s/%s" % (inst.get("interface"), inst.get("virtual_router_id")) for inst in insts]
    dup = _duplicates(vrids)
    if dup:
        problems.append("keepalived_vrrp_instances: virtual_router_id must be unique per interface (%s repeated)"
                        % ", ".join(dup))
    script_names = [scr.get("name", "") if isinstance(scr, dict) else "" for scr in scripts]
    bad = [str(name) for name in script_names if not isinstance(name, str) or not NAME_RE.match(name)]
    if bad or not all(isinstance(scr, dict) for scr in scripts):
        problems.append("keepalived_vrrp_scripts: every script needs a name of letters, digits, _ and - starting "
                        "with a letter (got %s)" % ", ".join(repr(name) for name in bad or ["(not a mapping)"]))
    dup = _duplicates(script_names)
    if dup:
        problems.append("keepalived_vrrp_scripts: script names must be unique (%s repeated)" % ", ".join(map(str, dup)))
    missing = [str(scr.get("name", "?")) for scr in scripts
               if isinstance(scr, dict) and not (isinstance(scr.get("script"), str) and scr["script"].strip())]
    if missing:
        problems.append("keepalived_vrrp_scripts: %s: a script (the command keepalived runs) is required" % ", ".join(missing))
    unknown = [name for name in _tracked(insts + [g for g in groups if isinstance(g, dict)]) if name not in script_names]
    if unknown:
        problems.append("track_scripts: %s not defined in keepalived_vrrp_scripts (defined: %s)"
                        % (", ".join(map(str, unknown)), ", ".join(map(str, script_names)) or "none"))
    members = []
    for group in groups:
        gname = group.get("name") if isinstance(group, dict) else None
        if not isinstance(gname, str) or not NAME_RE.match(gname):
            problems.append("keepalived_sync_groups: every group needs a name of letters, digits, _ and - starting with a letter"
                            " (got %s)" % _show(gname))
        if not isinstance(group, dict) or not _is_list(group.get("instances")):
            problems.append("keepalived_sync_groups: %s needs a list of instances" % (gname or "(no name)"))
            continue
        members.extend(group["instances"])
    strangers = [str(member) for member in members if member not in names]
    if strangers:
        problems.append("keepalived_sync_groups: %s are not VRRP instances (instances: %s)"
                        % (", ".join(strangers), ", ".join(map(str, names))))
    dup = _duplicates(members)
    if dup:
        problems.append("keepalived_sync_groups: an instance belongs to one group only (%s repeated)" % ", ".join(map(str, dup)))
    return problems


def restart_problems(scripts):
    """Track scripts with the restart-once contract (``restart``, ``restart_wait``, ``check_timeout``,
    ``give_up``)."""
    problems = []
    for scr in scripts:
        if not isinstance(scr, dict) or "restart" not in scr:
            continue
        faults = []
        if not isinstance(scr["restart"], str) or not scr["restart"].strip():
            faults.append("restart must be a non-empty command")
        for key in ("restart_wait", "check_timeout"):
            if key in scr and _whole(scr[key], 1) is None:
                faults.append("%s positive whole seconds (got %s)" % (key, _show(scr[key])))
        if "give_up" in scr and not isinstance(scr["give_up"], str):
            faults.append("give_up must be a command")
        if faults:
            problems.append("keepalived_vrrp_scripts: %s: %s" % (scr.get("name", "?"), "; ".join(faults)))
    return problems


def hook_problems(hooks):
    """Notify hooks: a file name and exactly one of ``content`` and ``src``."""
    problems = []
    for hook in hooks:
        name = hook.get("name") if isinstance(hook, dict) else None
        if not isinstance(name, str) or not HOOK_NAME_RE.match(name):
            problems.append("keepalived_notify_hooks: each hook needs a file name ([A-Za-z0-9][A-Za-z0-9_.-]*), got %s"
                            % _show(name))
        elif ("content" in hook) == ("src" in hook):
            problems.append("keepalived_notify_hooks: %s needs exactly one of content and src" % name)
    return problems


def settings_problems(instances, scripts=None, groups=None, hooks=None, auth_pass="", nopreempt=True, vrrp=None):
    """Every problem in the keepalived role's settings, as sentences (``[]`` when they are fine).

    ``vrrp`` is :func:`..vrrp.vrrp_check`'s answer for the same instances: its problems (advert
    intervals, the VRRP version) are included, and its ``v2`` list says whether a secret is needed.
    """
    vrrp = vrrp or {}
    problems = []
    if not _is_list(instances) or not instances:
        problems.append("keepalived_vrrp_instances: at least one VRRP instance is required")
        instances = []
    for name, value in (("keepalived_vrrp_scripts", scripts), ("keepalived_sync_groups", groups),
                        ("keepalived_notify_hooks", hooks)):
        if value is not None and not _is_list(value):
            problems.append("%s: a list is required" % name)
    scripts = list(scripts) if _is_list(scripts) else []
    groups = list(groups) if _is_list(groups) else []
    hooks = list(hooks) if _is_list(hooks) else []
    problems += secret_problems(auth_pass, instances, vrrp.get("v2", []))
    for inst in instances:
        problems += instance_problems(inst, nopreempt)
    problems += reference_problems(instances, scripts, groups)
    problems += ["keepalived_vrrp_instances: %s" % problem for problem in vrrp.get("problems", [])]
    problems += restart_problems(scripts)
    problems += hook_problems(hooks)
    return problems
