# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Maintenance mode of a GitHub Enterprise Server node via ``ghe-maintenance``.

Relied on (GitHub's "Command-line utilities" and "Enabling and scheduling maintenance mode";
the same flags as ``ghe-cluster-maintenance``): ``ghe-maintenance -q`` queries and prints
``maintenance mode set`` or ``maintenance mode not set``; ``-s`` sets and ``-u`` unsets
maintenance mode. The query's text decides (its exit code is not relied on); after ``-s`` or
``-u`` the state is queried again to confirm the change.
"""

from __future__ import annotations

from ansible_collections.hapair.ha.plugins.module_utils.ghe import GheError, command_text

QUERY_CMD = ["ghe-maintenance", "-q"]
SET_CMD = ["ghe-maintenance", "-s"]
UNSET_CMD = ["ghe-maintenance", "-u"]
STATES = ("on", "off", "query")


def parse_query(rc, stdout, stderr=""):
    """True when ``ghe-maintenance -q`` reports maintenance mode set, False when not set."""
    text = " ".join(f"{stdout or ''} {stderr or ''}".lower().split())
    if "maintenance mode not set" in text:
        return False
    if "maintenance mode set" in text:
        return True
    detail = (stdout or stderr or "").strip()[:200] or "no output"
    raise GheError(f"unexpected output from `ghe-maintenance -q` (rc={rc}): {detail}")


def query(run):
    rc, out, err = run(QUERY_CMD)
    return parse_query(rc, out, err)


def ensure_maintenance(run, state="query", check_mode=False):
    """Query, or set (``on``) / unset (``off``) maintenance mode. Returns a result dict."""
    if state not in STATES:
        raise GheError(f"state must be one of {', '.join(STATES)}, got {state!r}")
    before = query(run)
    result = {
        "changed": False,
        "enabled": before,
        "commands": [],
        "diff": {"before": {"enabled": before}, "after": {"enabled": before}},
    }
    if state == "query":
        return result
    wanted = state == "on"
    if before == wanted:
        return result
    args = SET_CMD if wanted else UNSET_CMD
    result.update(changed=True, enabled=wanted, commands=[command_text(args)])
    result["diff"]["after"] = {"enabled": wanted}
    if check_mode:
        return result
    rc, out, err = run(args)
    if rc != 0:
        detail = (err or out or "").strip()[-300:] or "no output"
        raise GheError(f"`{command_text(args)}` failed (rc={rc}): {detail}")
    now = query(run)
    if now != wanted:
        raise GheError(
            f"`{command_text(args)}` exited 0 but `ghe-maintenance -q` still reports maintenance mode "
            f"{'not ' if not now else ''}set"
        )
    return result
