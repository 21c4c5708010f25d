# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the keepalived role: its input checks, the VRRP version and advert interval of its instances, what
the installed keepalived supports, and which changes a running pair cannot take.

They return plain dicts and lists rather than raising, so the role's preflight fails once with
a message that names every problem. The work is in ``module_utils/keepalived`` (plain Python,
unit tested).
"""

from __future__ import annotations

from ansible_collections.hapair.ha.plugins.module_utils.keepalived.settings import settings_problems
from ansible_collections.hapair.ha.plugins.module_utils.keepalived.vrrp import (
    pair_change_check,
    parse_installed,
    vrrp_changes,
    vrrp_check,
)


def keepalived_vrrp_check(instances, advert_int=1, version="auto"):
    """``{problems, instances: {name: {advert_int, version, vips}}, v2, v3, v3_no_vip}``."""
    return vrrp_check(instances, advert_int=advert_int, version=version)


def keepalived_settings_check(instances, scripts=None, groups=None, hooks=None, auth_pass="", nopreempt=True, vrrp=None):
    """Every problem in the role's settings (``[]`` when none); a secret is never quoted."""
    return settings_problems(instances, scripts=scripts, groups=groups, hooks=hooks, auth_pass=auth_pass,
                             nopreempt=nopreempt, vrrp=vrrp)


def keepalived_installed(lines):
    """``{version, active, supports_no_vip, instances}`` from the role's probe lines."""
    return parse_installed(lines)


def keepalived_vrrp_changes(vrrp, installed):
    """``['NAME (VRRPv2 1 s -> VRRPv3 0.2 s)', ...]``: what the running nodes could not follow."""
    return vrrp_changes(vrrp, installed)


def keepalived_pair_change_check(states):
    """``{running, changing, problem}`` over the nodes' ``{host, running, changes}``."""
    return pair_change_check(states)


class FilterModule:
    """hapair.ha keepalived filters."""

    def filters(self):
        return {
            "keepalived_vrrp_check": keepalived_vrrp_check,
            "keepalived_settings_check": keepalived_settings_check,
            "keepalived_installed": keepalived_installed,
            "keepalived_vrrp_changes": keepalived_vrrp_changes,
            "keepalived_pair_change_check": keepalived_pair_change_check,
        }
