# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The attributes of the collection's read-only _info modules (repl_status_info,
    # ghe_maintenance_info, keepalived_info); used with ansible.builtin.action_common_attributes.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    details: Read-only; behaves the same in check mode.
  diff_mode:
    support: none
"""
