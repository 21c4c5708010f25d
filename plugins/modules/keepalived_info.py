#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: keepalived_info
version_added: 0.1.0
short_description: Report keepalived on a node and the VRRP state of its instances and sync groups
description:
  - Reports whether keepalived is installed (and its version), whether C(keepalived.service) is
    active and enabled, where the notify hooks of P(hapair.ha.keepalived#role)'s dispatcher go, and the
    state keepalived last notified for each VRRP instance or sync group (C(MASTER), C(BACKUP),
    C(FAULT), C(STOP)), with when it changed and whether every hook of that transition has run.
  - This is the interface the collection's other roles and playbooks use (P(hapair.ha.shared_volume#role),
    P(hapair.ha.nfs_exports#role), P(hapair.ha.vip_route#role), the switchover and drill playbooks) instead of
    reading the role's files themselves. The paths come from the settings the role
    C(hapair.ha.keepalived) writes next to C(keepalived.conf) (C(hapair-notify.conf)).
  - Never changes anything.
author:
  - hapair.ha contributors (@hapair)
options:
  names:
    description:
      - The VRRP instances and sync groups to report. Empty reports every one with a recorded state.
      - A name that has no recorded state is reported with an empty RV(states.state).
    type: list
    elements: str
    default: []
  config_path:
    description:
      - The keepalived configuration file the role manages; its directory holds the dispatcher's
        settings. The same as the role's C(keepalived_config_path).
    type: path
    default: /etc/keepalived/keepalived.conf
extends_documentation_fragment:
  - hapair.ha.info
  - ansible.builtin.action_common_attributes
seealso:
  - name: keepalived.conf(5)
    description: notify scripts and the states keepalived reports to them.
    link: https://keepalived.readthedocs.io/en/latest/configuration_synopsis.html
"""

EXAMPLES = r"""
- name: Read the state of the VIP's sync group
  hapair.ha.keepalived_info:
    names: [VIP]
  register: vrrp

- name: Wait until this node is MASTER and its hooks have run
  hapair.ha.keepalived_info:
    names: [VIP]
  register: vrrp
  until: vrrp.states.VIP.state == 'MASTER' and vrrp.states.VIP.hooks_done
  retries: 30
  delay: 1

- name: Install a hook where the dispatcher looks for them
  ansible.builtin.copy:
    src: 60-my-hook
    dest: "{{ vrrp.hooks_dir }}/60-my-hook"
    mode: "0755"
  when: vrrp.configured
"""

RETURN = r"""
installed:
  description: Whether the C(keepalived) program is installed.
  returned: always
  type: bool
  sample: true
version:
  description: The version C(keepalived --version) reports; empty when it is not installed.
  returned: always
  type: str
  sample: 2.2.7
active:
  description: Whether C(keepalived.service) is active (C(systemctl is-active)).
  returned: always
  type: bool
  sample: true
enabled:
  description: Whether C(keepalived.service) is enabled (C(systemctl is-enabled)).
  returned: always
  type: bool
  sample: true
configured:
  description: Whether the node has the notify dispatcher's settings of P(hapair.ha.keepalived#role).
  returned: always
  type: bool
  sample: true
settings_path:
  description: Where the dispatcher's settings are read from.
  returned: always
  type: str
  sample: /etc/keepalived/hapair-notify.conf
hooks_dir:
  description: The directory whose executables the dispatcher runs on every transition; empty when not configured.
  returned: always
  type: str
  sample: /etc/keepalived/notify.d
state_dir:
  description: Where the dispatcher records the states; empty when not configured.
  returned: always
  type: str
  sample: /run/keepalived-hapair
libexec_dir:
  description:
    - Where the role's helpers are (C(keepalived-links-up), the dispatcher), and where the roles built on it
      install theirs; empty when not configured.
  returned: always
  type: str
  sample: /usr/local/libexec/hapair
states:
  description: Per instance or sync group, the state keepalived last notified.
  returned: always
  type: dict
  contains:
    state:
      description: C(MASTER), C(BACKUP), C(FAULT), C(STOP), or empty when none is recorded.
      type: str
    since:
      description: When the dispatcher recorded it (ISO 8601 with milliseconds).
      type: str
    hooks_done:
      description: Whether every hook of that transition has run.
      type: bool
  sample:
    VIP: {state: MASTER, since: "2026-11-26T03:04:05.678+0000", hooks_done: true}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hapair.ha.plugins.module_utils.keepalived.info import KeepalivedInfoError, gather


def _read(path):
    try:
        if path.endswith("/"):
            return "\n".join(sorted(os.listdir(path)))
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(names=dict(type="list", elements="str", default=[]),
                           config_path=dict(type="path", default="/etc/keepalived/keepalived.conf")),
        supports_check_mode=True,
    )

    def run(argv):
        program = module.get_bin_path(argv[0])
        if program is None:
            return 127, "", "%s: not found" % argv[0]
        return module.run_command([program] + argv[1:])

    try:
        info = gather(module.params["config_path"], module.params["names"], _read, run)
    except KeepalivedInfoError as err:
        module.fail_json(msg="Failed to read the keepalived states: %s" % err)
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
