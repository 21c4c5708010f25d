# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the keepalived role and of the roles that build on it: the VRRP settings of the
VIP pair (hapair.ha.vip_route) and of the shared-volume pair (hapair.ha.shared_volume), the role's
input checks, the VRRP version and advert interval of its instances, what
the installed keepalived supports, which changes a running pair cannot take, and how the role
lays its instances and hooks out in the files it writes.

They return plain dicts and lists rather than raising, so the role's preflight fails once with
a message that names every problem. The work is in ``module_utils/keepalived`` (plain Python,
unit tested).
"""

from __future__ import annotations

from ansible_collections.hapair.ha.plugins.module_utils.keepalived.layout import hook_files, layout
from ansible_collections.hapair.ha.plugins.module_utils.keepalived.pairs import vip_pair, volume_pair
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


def keepalived_vip_pair(nodes, host, vip, name="VIP", virtual_router_id=51, heartbeat_interface="", check_interval=30,
                        check_command="", libexec_dir="/usr/local/libexec/hapair", witness=""):
    """``{problems, vrrp_instances, sync_groups, static_routes, vrrp_scripts}`` of ``host`` in a route-table VIP pair."""
    return vip_pair(nodes, host, vip, name=name, virtual_router_id=virtual_router_id,
                    heartbeat_interface=heartbeat_interface, check_interval=check_interval,
                    check_command=check_command, libexec_dir=libexec_dir, witness=witness)


def keepalived_volume_pair(nodes, host, vip, name="PAIR", virtual_router_id=61, check_command="", restart_command="",
                           check_interval=2):
    """``{problems, vrrp_instances, sync_groups, static_routes, vrrp_scripts}`` of ``host`` in a shared-volume pair."""
    return volume_pair(nodes, host, vip, name=name, virtual_router_id=virtual_router_id, check_command=check_command,
                       restart_command=restart_command, check_interval=check_interval)


def keepalived_layout(instances, sync_groups=None):
    """``{grouped, auth_vars, release}``: how the role lays its instances out in its files."""
    return layout(instances, sync_groups)


def keepalived_hook_files(hooks, hooks_dir):
    """The ``hapair.ha.managed_files`` entries of the role's notify hooks."""
    return hook_files(hooks, hooks_dir)


class FilterModule:
    """hapair.ha keepalived filters."""

    def filters(self):
        return {
            "keepalived_vrrp_check": keepalived_vrrp_check,
            "keepalived_settings_check": keepalived_settings_check,
            "keepalived_installed": keepalived_installed,
            "keepalived_vrrp_changes": keepalived_vrrp_changes,
            "keepalived_pair_change_check": keepalived_pair_change_check,
            "keepalived_vip_pair": keepalived_vip_pair,
            "keepalived_volume_pair": keepalived_volume_pair,
            "keepalived_layout": keepalived_layout,
            "keepalived_hook_files": keepalived_hook_files,
        }
