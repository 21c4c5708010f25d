#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ghe_maintenance
version_added: 0.1.0
short_description: Set or unset maintenance mode on a GitHub Enterprise Server node
description:
  - Drives C(ghe-maintenance) on the target node. C(ghe-maintenance -q) reads the current mode,
    C(-s) sets it and C(-u) unsets it; a change is confirmed by querying again.
  - To only read the mode, use M(hapair.ha.ghe_maintenance_info).
  - Named C(hapair.ha.maintenance) before; that name still works (a redirect) and is deprecated.
  - In maintenance mode the node refuses normal HTTP and Git access (its C(/status) answers 503);
    in a high-availability pair Git replication pauses. A planned failover puts the primary in
    maintenance mode before M(hapair.ha.repl_promote).
author:
  - hapair.ha contributors (@hapair)
options:
  state:
    description:
      - V(on) enables maintenance mode, V(off) disables it.
      - Quote V(on) and V(off) in YAML (C("on")); unquoted they are booleans, which the module
        maps back to V(on)/V(off).
      - V(query), and leaving O(state) out, only report the mode, as the module did under its former
        name C(hapair.ha.maintenance). Both are deprecated and will be removed in 2.0.0; use
        M(hapair.ha.ghe_maintenance_info) instead.
    type: str
    choices: ["on", "off", query]
extends_documentation_fragment:
  - hapair.ha.ghe.maintenance
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Queries the mode and reports whether it would change it.
  diff_mode:
    support: full
seealso:
  - module: hapair.ha.ghe_maintenance_info
  - module: hapair.ha.repl_promote
"""

EXAMPLES = r"""
- name: Put the primary in maintenance mode before a planned failover
  hapair.ha.ghe_maintenance:
    state: "on"

- name: Leave maintenance mode
  hapair.ha.ghe_maintenance:
    state: "off"
"""

RETURN = r"""
enabled:
  description: Whether maintenance mode is set afterwards (predicted in check mode).
  returned: always
  type: bool
  sample: true
commands:
  description: The mutating command run (in check mode, the one that would run).
  returned: always
  type: list
  elements: str
  sample: ["ghe-maintenance -s"]
diff:
  description: Mode before and after.
  returned: when diff mode is on
  type: dict
  sample: {before: {enabled: false}, after: {enabled: true}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hapair.ha.plugins.module_utils.ghe import GheError, make_runner
from ansible_collections.hapair.ha.plugins.module_utils.ghe.maintenance import ensure_maintenance
from ansible_collections.hapair.ha.plugins.module_utils.common.results import finish

ARGUMENT_SPEC = dict(
    # "query" (and no state) are what hapair.ha.maintenance did; deprecated, see DOCUMENTATION.
    state=dict(type="str", choices=["on", "off", "query"]),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    state = module.params["state"] or "query"
    if state == "query":
        module.deprecate(
            "hapair.ha.ghe_maintenance without state, or with state=query, only reads maintenance mode; "
            "use hapair.ha.ghe_maintenance_info for that",
            version="2.0.0", collection_name="hapair.ha",
        )
    try:
        result = ensure_maintenance(make_runner(module.run_command), state=state, check_mode=module.check_mode)
    except GheError as err:
        action = "query" if state == "query" else f"turn {state}"
        module.fail_json(msg=f"Failed to {action} maintenance mode: {err}", **err.details)
    finish(module, result)


if __name__ == "__main__":
    main()
