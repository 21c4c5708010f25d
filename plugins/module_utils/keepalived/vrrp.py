# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""VRRP version and advert interval of the keepalived role's instances (plain Python, no Ansible).

What keepalived accepts (keepalived.conf(5); vrrp_parser.c and vrrp.c of keepalived 2.2.7 and
2.3.3, checked with ``keepalived -t``): ``advert_int`` is read as a decimal number of seconds.
VRRPv2 (RFC 3768) carries it in whole seconds, 1 to 255 - keepalived rounds anything else
("VRRPv2 advertisement interval 0.200000s must be an integer. rounding"). VRRPv3 (RFC 5798)
carries 12 bits of centiseconds, 0.01 to 40.95 s ("must be in units of 10ms - rounding",
"Must be less than 40.96s"). Whatever keepalived would round or clamp is refused here instead.

VRRPv3 has no authentication (keepalived refuses it), and a VRRPv3 instance without a virtual IP
needs ``no_virtual_ipaddress``, which came with keepalived 2.2.8 (Debian 12 has 2.2.7).

Nodes of an instance that run different VRRP versions drop each other's adverts ("wrong
version"), and so do VRRPv2 nodes with different intervals ("advertisement interval mismatch");
a VRRPv3 backup learns the MASTER's interval instead. :func:`vrrp_changes` lists the instances
whose running configuration could not talk to the new one.

Nothing here raises on bad input: the functions return problems (short sentences naming the
instance and the value) so that the role's preflight fails once, naming every mistake.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

VERSIONS = ("auto", "2", "3")
V2_MAX_CENTIS = 25500
V3_MAX_CENTIS = 4095
NO_VIP_SINCE = (2, 2, 8)

_NUMBER_RE = re.compile(r"^([0-9]+([.][0-9]*)?|[.][0-9]+)$")
_VERSION_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def parse_seconds(value):
    """``(Decimal seconds, text)`` of an advert interval, or ``(None, text)`` when it is not a
    non-negative decimal number (a bool, a negative number, a word, NaN...)."""
    text = str(value).strip()
    if isinstance(value, bool) or not _NUMBER_RE.match(text):
        return None, text
    try:
        return Decimal(text), text
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None, text


def format_centis(centis):
    """``'1'`` for 100, ``'0.2'`` for 20, ``'40.95'`` for 4095: how keepalived.conf gets it."""
    whole, frac = divmod(int(centis), 100)
    if frac == 0:
        return str(whole)
    return ("%d.%02d" % (whole, frac)).rstrip("0")


def version_setting(value):
    """``'auto'``, ``'2'`` or ``'3'`` from what a user may write (``auto``, ``2``, ``"3"``), or
    ``None``."""
    if isinstance(value, bool):
        return None
    text = str(value).strip().lower()
    return text if text in VERSIONS else None


def instance_vrrp(advert_int, setting="auto"):
    """``{advert_int, version, problem}`` of one instance: ``advert_int`` as keepalived.conf
    gets it (the given text when it is refused), ``version`` 2 or 3, ``problem`` ``''`` or what
    is wrong (beginning ``advert_int VALUE``)."""
    seconds, text = parse_seconds(advert_int)
    if seconds is None or seconds <= 0:
        version = 3 if setting == "3" else 2
        return {"advert_int": text, "version": version,
                "problem": "advert_int %s: a positive number of seconds is required" % text}
    centis = seconds * 100
    whole_seconds = seconds == seconds.to_integral_value()
    version = 3 if setting == "3" or (setting == "auto" and not whole_seconds) else 2
    problem = ""
    if centis != centis.to_integral_value():
        problem = "advert_int %s: keepalived counts it in centiseconds (0.01 s) at the finest" % text
    elif version == 2 and not whole_seconds:
        problem = ("advert_int %s is not whole seconds, and keepalived_vrrp_version 2 carries whole seconds only"
                   " (keepalived would round it): sub-second adverts need VRRPv3 (keepalived_vrrp_version auto"
                   " or 3)" % text)
    elif version == 2 and centis > V2_MAX_CENTIS:
        problem = "advert_int %s: VRRPv2 allows 1 to 255 seconds" % text
    elif version == 3 and centis > V3_MAX_CENTIS:
        problem = "advert_int %s: VRRPv3 allows 0.01 to 40.95 seconds" % text
    written = text if problem else format_centis(centis)
    return {"advert_int": written, "version": version, "problem": problem}


def vrrp_check(instances, advert_int=1, version="auto"):
    """The VRRP version and interval of every instance.

    ``instances`` are the role's ``keepalived_vrrp_instances`` (an instance's own ``advert_int``
    wins over ``advert_int``); ``version`` is ``keepalived_vrrp_version``. Returns ``{problems,
    instances: {name: {advert_int, version, vips}}, v2, v3, v3_no_vip}`` - the last three are
    instance names (``v3_no_vip``: VRRPv3 without a virtual IP). Entries that are not a mapping
    with a name are skipped (the role's other checks name them).
    """
    problems = []
    setting = version_setting(version)
    if setting is None:
        problems.append("keepalived_vrrp_version: auto, 2 or 3 (got %s)" % version)
        setting = "auto"
    out = {}
    if not isinstance(instances, (list, tuple)):
        instances = []
    for inst in instances:
        if not isinstance(inst, dict) or not isinstance(inst.get("name"), str):
            continue
        got = instance_vrrp(inst.get("advert_int", advert_int), setting)
        if got["problem"]:
            problems.append("%s: %s" % (inst["name"], got["problem"]))
        vips = inst.get("virtual_ipaddresses") or []
        out[inst["name"]] = {"advert_int": got["advert_int"], "version": got["version"],
                             "vips": len(vips) if isinstance(vips, (list, tuple)) else 0}
    return {
        "problems": problems,
        "instances": out,
        "v2": [name for name, inst in out.items() if inst["version"] == 2],
        "v3": [name for name, inst in out.items() if inst["version"] == 3],
        "v3_no_vip": [name for name, inst in out.items() if inst["version"] == 3 and inst["vips"] == 0],
    }


def version_tuple(text):
    """``(2, 2, 7)`` from ``'2.2.7'``; ``()`` for anything else."""
    text = str(text or "").strip()
    if not _VERSION_RE.match(text):
        return ()
    return tuple(int(part) for part in text.split("."))


def supports_no_vip(version):
    """Whether keepalived ``version`` (text) knows ``no_virtual_ipaddress`` (2.2.8 and later);
    ``False`` when the version is unknown (nothing installed)."""
    found = version_tuple(version)
    return bool(found) and found >= NO_VIP_SINCE


def parse_installed(lines):
    """What the role's probe found on a node (its lines: ``version X.Y.Z``, ``active``,
    ``instance NAME VERSION ADVERT_INT`` for every vrrp_instance of the current keepalived.conf).

    Returns ``{version, active, supports_no_vip, instances: {name: {version, advert_int}}}``;
    ``version`` is ``''`` when keepalived is not installed. Lines of another shape are ignored.
    """
    version = ""
    active = False
    instances = {}
    for line in lines or []:
        words = str(line).split()
        if len(words) == 2 and words[0] == "version" and version_tuple(words[1]):
            version = words[1]
        elif words == ["active"]:
            active = True
        elif len(words) == 4 and words[0] == "instance":
            instances[words[1]] = {"version": words[2], "advert_int": words[3]}
    return {"version": version, "active": active, "supports_no_vip": supports_no_vip(version),
            "instances": instances}


def vrrp_changes(vrrp, installed):
    """Instances whose running configuration could not talk to the new one, as
    ``'NAME (VRRPv2 1 s -> VRRPv3 0.2 s)'``: the VRRP version changes, or a VRRPv2 interval does.

    ``vrrp`` is a :func:`vrrp_check` result, ``installed`` a :func:`parse_installed` result (or
    the probe's lines). Instances that are new or go away are not listed (their peers do not run
    them either).
    """
    if not isinstance(installed, dict):
        installed = parse_installed(installed)
    out = []
    for name, old in installed.get("instances", {}).items():
        new = vrrp.get("instances", {}).get(name)
        if new is None:
            continue
        old_seconds = parse_seconds(old["advert_int"])[0]
        new_seconds = parse_seconds(new["advert_int"])[0]
        if str(old["version"]) != str(new["version"]) or (new["version"] == 2 and old_seconds != new_seconds):
            out.append("%s (VRRPv%s %s s -> VRRPv%s %s s)"
                       % (name, old["version"], old["advert_int"], new["version"], new["advert_int"]))
    return out


def pair_change_check(states):
    """Refuse a VRRP version (or VRRPv2 interval) change while keepalived runs on more than one
    node: they would drop each other's adverts and each become MASTER until all are converged.

    ``states`` holds one ``{host, running, changes}`` per node of the play (``changes`` from
    :func:`vrrp_changes`; other entries - a node that did not get that far - are ignored).
    Returns ``{running, changing, problem}``: host names, and ``''`` or the refusal.
    """
    running, changing, changes = [], [], []
    for state in states or []:
        if not isinstance(state, dict) or "host" not in state:
            continue
        if state.get("running"):
            running.append(state["host"])
        if state.get("changes"):
            changing.append(state["host"])
            changes.extend(change for change in state["changes"] if change not in changes)
    problem = ""
    if changing and len(running) > 1:
        problem = ("keepalived: %s while keepalived runs on %s - an advert_int that is not whole seconds needs"
                   " VRRPv3. Nodes on different VRRP versions (or VRRPv2 intervals) drop each other's adverts,"
                   " so each would become MASTER until all are converged. Stop keepalived on the BACKUP node(s)"
                   " first (systemctl stop keepalived), then converge: the MASTER reloads its configuration and"
                   " the others start with the new one." % (", ".join(changes), ", ".join(running)))
    return {"running": running, "changing": changing, "problem": problem}
