#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: repl_status_info
version_added: 0.1.0
short_description: Report the replication status of a GitHub Enterprise Server node
description:
  - Runs C(ghe-repl-status -vv) on the target GitHub Enterprise Server node and parses it into
    an overall status, the exit code, whether replication is in sync, and one entry per
    datastore (MySQL, Redis, Elasticsearch, Git, Pages, storage, ...) with its detail lines.
  - Also reports the node's replication role (from C(/etc/github/repl-state)) and, from
    C(/data/user/common/cluster.conf), its configured primary and how many replicas the
    configuration holds, which M(hapair.ha.repl_setup) uses to enforce the 8-replica limit.
  - Runs on the appliance itself (connect as C(admin) on port 122). Never changes anything.
author:
  - hapair.ha contributors (@hapair)
options: {}
extends_documentation_fragment:
  - hapair.ha.info
  - ansible.builtin.action_common_attributes
notes:
  - "Lines of C(ghe-repl-status) that are neither C(STATUS: message), a C(  | detail) line nor
    blank are not turned into services; they are returned in RV(notes). So is the message
    C(Replication is not running) printed when replication was not started."
  - The exit code follows the Nagios conventions of C(ghe-repl-status) (0 all OK, 1 any
    WARNING or replication not started, 2 any CRITICAL); RV(status) is the worst of the
    parsed lines and of the exit code.
seealso:
  - module: hapair.ha.repl_setup
  - module: hapair.ha.repl_promote
  - name: GitHub Enterprise Server command-line utilities (ghe-repl-status)
    description: The documented statuses and exit codes.
    link: "https://docs.github.com/en/enterprise-server@latest/admin/\
      administering-your-instance/administering-your-instance-from-the-command-line/command-line-utilities#ghe-repl-status"
"""

EXAMPLES = r"""
- name: Read the replication status of the replica
  hapair.ha.repl_status_info:
  register: repl

- name: Wait until every datastore reports OK before a planned failover
  hapair.ha.repl_status_info:
  register: repl
  until: repl.in_sync
  retries: 60
  delay: 10

- name: Show what is not in sync
  ansible.builtin.debug:
    msg: "{{ repl.services | rejectattr('status', 'equalto', 'OK') | list }}"
  when: not repl.in_sync

- name: Count the replicas configured on the primary (for hapair.ha.repl_setup existing_replicas)
  hapair.ha.repl_status_info:
  delegate_to: "{{ ghe_primary }}"
  register: primary_repl
"""

RETURN = r"""
status:
  description: Overall status, the worst of the datastores' and of the exit code's.
  returned: always
  type: str
  sample: WARNING
  choices: [OK, WARNING, CRITICAL, UNKNOWN]
exit_code:
  description: Exit code of C(ghe-repl-status -vv).
  returned: always
  type: int
  sample: 1
in_sync:
  description: True when the exit code is 0 and every datastore reports C(OK).
  returned: always
  type: bool
  sample: false
replication_running:
  description: True when the target is a replica and C(ghe-repl-status) reported at least one datastore.
  returned: always
  type: bool
  sample: true
services:
  description: "One entry per C(STATUS: message) line, in output order."
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Service name derived from the message's first word(s).
      type: str
      sample: mysql
    status:
      description: C(OK), C(WARNING), C(CRITICAL) or C(UNKNOWN).
      type: str
      sample: WARNING
    message:
      description: The text after the status.
      type: str
      sample: mysql replication delay is 29s
    details:
      description: The C(  | ) detail lines that followed, without the prefix.
      type: list
      elements: str
      sample: ["IO running: Yes, SQL running: Yes, Delay: 29"]
  sample:
    - name: mysql
      status: WARNING
      message: mysql replication delay is 29s
      details: ["IO running: Yes, SQL running: Yes, Delay: 29"]
notes:
  description: Output lines that are not part of the status format, and exit-code mismatches.
  returned: always
  type: list
  elements: str
  sample: ["line 1: Replication is not running"]
role:
  description: Replication role of the node from C(/etc/github/repl-state).
  returned: always
  type: str
  sample: replica
  choices: [standalone, primary, replica]
primary_host:
  description: Address of the primary named in C(cluster.conf) (IPv4, else IPv6, else host name).
  returned: always
  type: str
  sample: 10.0.0.1
replica_count:
  description: Number of nodes with C(replica = enabled) in C(cluster.conf) (0 on a standalone node).
  returned: always
  type: int
  sample: 1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hapair.ha.plugins.module_utils.ghe import GheError, make_runner
from ansible_collections.hapair.ha.plugins.module_utils.ghe.replication import read_state


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    try:
        state = read_state(make_runner(module.run_command))
    except GheError as err:
        module.fail_json(msg=f"Failed to read the replication status: {err}", **err.details)
    result = dict(state["status"])
    result.update(
        changed=False,
        role=state["role"],
        primary_host=state["primary_host"],
        replica_count=state["replica_count"],
        replication_running=state["replication_running"],
    )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
