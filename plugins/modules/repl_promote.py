#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: repl_promote
version_added: 0.1.0
short_description: Promote a GitHub Enterprise Server replica to primary
description:
  - Runs C(ghe-repl-promote) on the target replica after safety checks, then waits for the
    node's C(/status) to answer 200 (active node).
  - "Planned failover (the default): the target must be a replica (C(/etc/github/repl-state) says
    C(replica)), C(ghe-repl-status -vv) must be all OK with exit code 0 (O(require_in_sync)), and
    the primary must no longer serve requests: its C(/status) must answer something other than
    200, that is 503 in maintenance mode. Put the primary in maintenance mode first with
    M(hapair.ha.ghe_maintenance) and wait for activity to stop."
  - Disaster recovery (O(primary_unreachable=true)) skips the replication health and primary
    checks, since the primary is gone. C(ghe-repl-promote) still tries to put the primary in
    maintenance mode and may print warnings and time-outs doing so.
  - Idempotent in effect - a node that is not a replica but whose O(status_url) answers 200 is
    reported as already active (unchanged). Any other non-replica is refused.
  - Repointing DNS or a load balancer to the new primary is left to the caller.
author:
  - hapair.ha contributors (@hapair)
options:
  require_in_sync:
    description:
      - Refuse unless every datastore of C(ghe-repl-status -vv) reports OK (exit code 0).
      - Set to V(false) to promote a planned failover anyway, accepting that data not yet
        replicated is lost. Ignored when O(primary_unreachable=true).
    type: bool
    default: true
  primary_unreachable:
    description:
      - Declare the primary down (disaster). Skips the in-sync requirement and the check that the
        primary is in maintenance mode.
      - Only use it when the old primary cannot come back by itself, or two primaries will accept
        writes.
    type: bool
    default: false
  primary_status_url:
    description:
      - URL of the primary's status endpoint, checked before a planned promotion.
      - Defaults to C(http://PRIMARY/status) with the primary's address from
        C(/data/user/common/cluster.conf).
    type: str
  status_url:
    description:
      - URL of this node's status endpoint, polled after the promotion until it answers 200.
      - Both status URLs are requested directly, never through a proxy (the question is whether
        the node itself serves).
    type: str
    default: http://localhost/status
  status_timeout:
    description:
      - Seconds to wait for O(status_url) to answer 200 after C(ghe-repl-promote). The module fails
        (with RV(promoted=true)) when it does not.
    type: int
    default: 300
extends_documentation_fragment:
  - hapair.ha.ghe
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Runs the read-only checks (including the primary's status probe) and reports whether it would promote.
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - After a disaster promotion, the old primary must be torn down or rebuilt as a replica of the new
    primary (M(hapair.ha.repl_setup) with O(hapair.ha.repl_setup#module:overwrite_primary_data=true)).
seealso:
  - module: hapair.ha.repl_status_info
  - module: hapair.ha.ghe_maintenance
  - module: hapair.ha.ghe_maintenance_info
  - name: Initiating a failover to your replica appliance
    description: GitHub's failover procedure this module follows.
    link: "https://docs.github.com/en/enterprise-server@latest/admin/\
      monitoring-and-managing-your-instance/configuring-high-availability/initiating-a-failover-to-your-replica-appliance"
"""

EXAMPLES = r"""
- name: Put the primary in maintenance mode
  hapair.ha.ghe_maintenance:
    state: "on"
  delegate_to: "{{ ghe_primary }}"

- name: Wait until the replica is fully in sync
  hapair.ha.repl_status_info:
  register: repl
  until: repl.in_sync
  retries: 30
  delay: 10

- name: Promote the replica (planned failover)
  hapair.ha.repl_promote:
  register: promotion

- name: Promote the replica although the primary is gone (disaster recovery)
  hapair.ha.repl_promote:
    primary_unreachable: true
    status_timeout: 900

- name: Check what a promotion would do, changing nothing
  hapair.ha.repl_promote:
  check_mode: true
"""

RETURN = r"""
promoted:
  description: True when C(ghe-repl-promote) ran in this task.
  returned: always
  type: bool
  sample: true
role:
  description: Replication role of the node afterwards (C(primary) once promoted; predicted in check mode).
  returned: always
  type: str
  sample: primary
replication_status:
  description: Overall C(ghe-repl-status -vv) status before the promotion.
  returned: always
  type: str
  sample: OK
status_code:
  description: Last HTTP status of O(status_url) (null when unreachable or not probed).
  returned: always
  type: int
  sample: 200
primary_status_code:
  description: HTTP status of the primary's status URL before a planned promotion.
  returned: when the primary was probed
  type: int
  sample: 503
commands:
  description: The commands run (in check mode, the commands that would run).
  returned: always
  type: list
  elements: str
  sample: ["ghe-repl-promote"]
diff:
  description: Role before and after.
  returned: when diff mode is on
  type: dict
  sample: {before: {role: replica}, after: {role: primary}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hapair.ha.plugins.module_utils.ghe import GheError, make_runner
from ansible_collections.hapair.ha.plugins.module_utils.ghe.replication import (
    DEFAULT_STATUS_URL,
    http_status,
    promote_replica,
)
from ansible_collections.hapair.ha.plugins.module_utils.common.results import finish

ARGUMENT_SPEC = dict(
    require_in_sync=dict(type="bool", default=True),
    primary_unreachable=dict(type="bool", default=False),
    primary_status_url=dict(type="str"),
    status_url=dict(type="str", default=DEFAULT_STATUS_URL),
    status_timeout=dict(type="int", default=300),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params

    def probe(url):
        return http_status(url, validate_certs=p["validate_certs"], ca_path=p["ca_path"])

    try:
        result = promote_replica(
            make_runner(module.run_command),
            require_in_sync=p["require_in_sync"],
            primary_unreachable=p["primary_unreachable"],
            primary_status_url=p["primary_status_url"],
            status_url=p["status_url"],
            status_timeout=p["status_timeout"],
            check_mode=module.check_mode,
            get_status=probe,
        )
    except GheError as err:
        module.fail_json(msg=f"Failed to promote the replica: {err}", **err.details)
    finish(module, result)


if __name__ == "__main__":
    main()
