#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ghe_maintenance_info
version_added: 0.1.0
short_description: Report whether a GitHub Enterprise Server node is in maintenance mode
description:
  - Runs C(ghe-maintenance -q) on the target node and reports whether maintenance mode is set.
    Never changes anything.
  - To set or unset maintenance mode, use M(hapair.ha.ghe_maintenance).
author:
  - hapair.ha contributors (@hapair)
options: {}
extends_documentation_fragment:
  - hapair.ha.info
  - hapair.ha.ghe.maintenance
  - ansible.builtin.action_common_attributes
seealso:
  - module: hapair.ha.ghe_maintenance
"""

EXAMPLES = r"""
- name: Read the current mode
  hapair.ha.ghe_maintenance_info:
  register: mm

- name: Report it
  ansible.builtin.debug:
    msg: "maintenance mode is {{ 'on' if mm.enabled else 'off' }}"
"""

RETURN = r"""
enabled:
  description: Whether maintenance mode is set (C(ghe-maintenance -q) printed C(maintenance mode set)).
  returned: always
  type: bool
  sample: false
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hapair.ha.plugins.module_utils.ghe import GheError, make_runner
from ansible_collections.hapair.ha.plugins.module_utils.ghe.maintenance import query


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    try:
        enabled = query(make_runner(module.run_command))
    except GheError as err:
        module.fail_json(msg=f"Failed to read maintenance mode: {err}", **err.details)
    module.exit_json(changed=False, enabled=enabled)


if __name__ == "__main__":
    main()
