# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The attributes of the collection's read-only modules that run on the managed host
    # (repl_status_info, ghe_maintenance_info, keepalived_info, instance_metadata_facts); used
    # with ansible.builtin.action_common_attributes.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    details: Read-only; behaves the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""
