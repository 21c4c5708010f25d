# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What keepalived runs on a node, read the way other roles need it (plain Python, no Ansible).

The keepalived role publishes one interface to the roles that build on it (shared_volume,
nfs_exports, vip_route, the switchover and drill playbooks):

- the notify dispatcher's settings next to keepalived.conf (``hapair-notify.conf``: shell
  assignments ``HOOKS_DIR=``, ``STATE_DIR=``, ``LIBEXEC_DIR=``), which say where hooks go,
  where states are recorded and where the role's helpers (``keepalived-links-up``) are;
- one state file per VRRP instance or sync group in ``STATE_DIR``: ``NAME.state`` holds the
  state keepalived last notified and when (``MASTER 2026-11-26T03:04:05.678+0000``);
  ``NAME.done`` holds that state again once every hook of the transition has run.

:func:`gather` reads those, plus what the service manager and keepalived itself say, through
two injected callables, so the logic is tested without a node.
"""

from __future__ import annotations

import os
import re
import shlex

from ansible_collections.hapair.ha.plugins.module_utils.keepalived.settings import NAME_RE

SETTINGS_NAME = "hapair-notify.conf"
STATES = ("MASTER", "BACKUP", "FAULT", "STOP")
_ASSIGN_RE = re.compile(r"^([A-Z_][A-Z0-9_]*)=(.*)$")
_VERSION_RE = re.compile(r"^Keepalived v([0-9][0-9.]*)", re.M)


class KeepalivedInfoError(Exception):
    """Raised for a name that cannot be a VRRP instance or group."""


def parse_settings(text):
    """``{HOOKS_DIR: ..., STATE_DIR: ..., ...}`` from the dispatcher's settings: top-level shell
    assignments of a single (possibly quoted) word; functions and other lines are skipped."""
    out = {}
    for line in (text or "").splitlines():
        match = _ASSIGN_RE.match(line)
        if not match:
            continue
        try:
            words = shlex.split(match.group(2), comments=True)
        except ValueError:
            continue
        out[match.group(1)] = words[0] if len(words) == 1 else " ".join(words)
    return out


def parse_state(text):
    """``(state, since)`` from a ``NAME.state`` file: ``('MASTER', '2026-...')``; ``('', '')``
    for anything that is not one of keepalived's states."""
    words = (text or "").split()
    if not words or words[0] not in STATES:
        return "", ""
    return words[0], words[1] if len(words) > 1 else ""


def read_states(state_dir, names, read):
    """``{NAME: {state, since, hooks_done}}`` for ``names`` (every ``*.state`` file of the
    directory when ``names`` is empty). ``read(path)`` returns the file's text or ``None``."""
    if not names:
        listing = read(state_dir + "/") or ""
        names = sorted(name[:-len(".state")] for name in listing.split("\n") if name.endswith(".state"))
    out = {}
    for name in names:
        if not NAME_RE.match(str(name)):
            raise KeepalivedInfoError("%r is not a VRRP instance or sync group name" % (name,))
        state, since = parse_state(read(os.path.join(state_dir, name + ".state")))
        done = (read(os.path.join(state_dir, name + ".done")) or "").strip()
        out[name] = {"state": state, "since": since, "hooks_done": bool(state) and done == state}
    return out


def gather(config_path, names, read, run):
    """Everything :mod:`keepalived_info` returns.

    ``read(path)`` gives a file's text (a directory's entries, one per line, for a path ending
    in ``/``) or ``None``; ``run(argv)`` gives ``(rc, stdout, stderr)``, rc 127 when the program
    is not installed.
    """
    rc, out, err = run(["keepalived", "--version"])
    match = _VERSION_RE.search((out or "") + "\n" + (err or ""))
    version = match.group(1).rstrip(".") if match else ""
    active = run(["systemctl", "is-active", "--quiet", "keepalived"])[0] == 0
    enabled = run(["systemctl", "is-enabled", "--quiet", "keepalived"])[0] == 0
    settings_path = os.path.join(os.path.dirname(config_path), SETTINGS_NAME)
    settings = parse_settings(read(settings_path))
    state_dir = settings.get("STATE_DIR", "")
    return {
        "installed": rc != 127,
        "version": version,
        "active": active,
        "enabled": enabled,
        "configured": bool(state_dir),
        "settings_path": settings_path,
        "hooks_dir": settings.get("HOOKS_DIR", ""),
        "state_dir": state_dir,
        "libexec_dir": settings.get("LIBEXEC_DIR", "") if state_dir else "",
        "states": read_states(state_dir, names, read) if state_dir else {
            name: {"state": "", "since": "", "hooks_done": False} for name in names or []},
    }
