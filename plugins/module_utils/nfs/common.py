# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks shared by the NFS exports and mounts validators (plain Python, no Ansible).

Every check returns a problem (a short sentence) or ``None``; the callers collect all problems
of an input so that one preflight failure names every mistake at once.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re


_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$")
_MODE_RE = re.compile(r"^[0-7]{3,4}$")
_LOOKS_NUMERIC_RE = re.compile(r"^[0-9./]+$")


def check_abs_path(value, what, spaces=True):
    """An absolute, normalised path without characters that break exports(5) or fstab(5)
    (fstab separates fields with whitespace: ``spaces=False`` refuses it)."""
    if not isinstance(value, str) or not value:
        return "%s must be a non-empty string (got %r)" % (what, value)
    if not value.startswith("/"):
        return "%s %r is not an absolute path" % (what, value)
    if not spaces and any(ch.isspace() for ch in value):
        return "%s %r contains whitespace (not allowed in /etc/fstab)" % (what, value)
    if any(ch in value for ch in "\"\\#") or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "%s %r contains a quote, backslash, '#' or control character" % (what, value)
    norm = posixpath.normpath(value)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    if norm != value:
        return "%s %r is not normalised (write %r)" % (what, value, norm)
    return None


def check_hostname(value):
    """``True`` for a DNS host name (labels of letters, digits and dashes)."""
    return bool(_HOSTNAME_RE.match(value))


def check_ip_host(value, what):
    """An IPv4 or IPv6 address (no prefix); ``None`` when fine."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "%s %r is not a valid IP address" % (what, value)
    return None


def looks_like_ip(value):
    """Digits, dots and slashes only, or any colon: meant as an address, so it must parse as one."""
    return bool(_LOOKS_NUMERIC_RE.match(value)) or ":" in value


def check_owner(value, what):
    """A user or group name, or a numeric id (int or digits)."""
    if isinstance(value, bool):
        return "%s must be a name or a numeric id (got %r)" % (what, value)
    if isinstance(value, int):
        return None if value >= 0 else "%s must not be negative (got %r)" % (what, value)
    if isinstance(value, str) and (value.isdigit() or _NAME_RE.match(value)):
        return None
    return "%s %r is not a valid user/group name or numeric id" % (what, value)


def check_mode(value, what):
    """An octal mode given as a quoted string ("0750"): an unquoted YAML 0750 is the integer 488."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return "%s must be an octal string such as \"0750\" (got %r)" % (what, value)
    if isinstance(value, int):
        return "%s %r is a number, not an octal string: quote it (\"0750\"), YAML reads 0750 as 488" % (what, value)
    if not _MODE_RE.match(value):
        return "%s %r is not an octal mode such as \"0750\"" % (what, value)
    return None


def normalise_mode(value):
    """``"750"`` -> ``"0750"``."""
    return value if len(value) == 4 else "0" + value


def check_ownership(owner, group, mode, prefix):
    """Problems of a role's default owner, group and mode (``<prefix>_owner``, ...)."""
    found = (check_owner(owner, prefix + "_owner"), check_owner(group, prefix + "_group"), check_mode(mode, prefix + "_mode"))
    return [problem for problem in found if problem]


def check_entry_ownership(entry, where):
    """Problems of the owner, group and mode an entry sets for itself."""
    problems = []
    for key, check in (("owner", check_owner), ("group", check_owner), ("mode", check_mode)):
        if key in entry:
            problem = check(entry[key], "%s: %s" % (where, key))
            if problem:
                problems.append(problem)
    return problems


def entry_ownership(entry, owner, group, mode):
    """The owner, group and mode of a valid entry, its own or the role's defaults, as strings."""
    return {"owner": str(entry.get("owner", owner)), "group": str(entry.get("group", group)),
            "mode": normalise_mode(entry.get("mode", mode))}


def split_options(value, what):
    """Options as a list of strings or one comma-separated string -> (list, problem or None)."""
    if value is None:
        return [], None
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")] if value.strip() else []
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return [], "%s must be a list of strings or a comma-separated string (got %r)" % (what, value)
    out = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            return [], "%s contains an empty or non-string option (%r)" % (what, value)
        item = item.strip()
        if any(ch.isspace() or ch in ",()#\"\\" for ch in item):
            return [], "%s option %r contains whitespace, a comma, parenthesis, quote or '#'" % (what, item)
        out.append(item)
    return out, None


def check_conflicts(names, conflicts, what):
    """Problems for every pair of mutually exclusive options present together, and for repeats."""
    problems = []
    seen = set()
    for name in names:
        if name in seen:
            problems.append("%s: %s is listed twice" % (what, name))
        seen.add(name)
    for left, right in conflicts:
        if left in seen and right in seen:
            problems.append("%s: %s and %s contradict each other" % (what, left, right))
    return problems


def unknown_keys(entry, known, what):
    """A problem naming keys of ``entry`` that are not in ``known``, or ``None``."""
    extra = sorted(str(k) for k in entry if k not in known)
    if extra:
        return "%s: unknown key(s) %s (known: %s)" % (what, ", ".join(extra), ", ".join(sorted(known)))
    return None
