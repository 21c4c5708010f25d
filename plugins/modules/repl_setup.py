#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: repl_setup
version_added: 0.1.0
short_description: Configure, start, stop or remove GitHub Enterprise Server replication on a replica
description:
  - Runs on the node that is (to be) the replica and drives C(ghe-repl-setup), C(ghe-repl-start),
    C(ghe-repl-stop) and C(ghe-repl-teardown) there to reach O(state).
  - The current state is read without side effects first (C(/etc/github/repl-state),
    C(/data/user/common/cluster.conf), C(ghe-repl-status -vv)), so a replica already configured
    against O(primary_host) and in the wanted running state reports no change.
  - The first C(ghe-repl-setup) run generates a key pair and asks for its public key to be
    authorised on the primary. The module then returns RV(needs_key_authorization=true) and
    RV(public_key) without failing, so a role can authorise the key (Management Console, or the
    Manage API C(POST /manage/v1/access/ssh)) and call the module again. With
    O(primary_api_password) the module authorises the key itself through the Manage API and
    finishes the setup in one call.
author:
  - hapair.ha contributors (@hapair)
options:
  state:
    description:
      - V(present) makes the node a replica of O(primary_host) and leaves replication as it is
        (a newly configured replica is not replicating yet).
      - V(started) also starts replication (C(ghe-repl-start)); V(stopped) also stops it
        (C(ghe-repl-stop)).
      - V(absent) removes the replica configuration (C(ghe-repl-teardown)) if the node is a replica.
    type: str
    choices: [present, started, stopped, absent]
    default: present
  primary_host:
    description:
      - IP address (or host name) of the primary, as given to C(ghe-repl-setup).
      - Compared with the primary's section name, C(hostname), C(ipv4) and C(ipv6) in
        C(cluster.conf) to decide whether the node is already configured.
      - Required unless O(state=absent).
    type: str
  add:
    description:
      - Run C(ghe-repl-setup --add) to add this replica to the existing replication configuration
        (geo-replication, or a second replica) instead of replacing it.
      - GitHub Enterprise Server allows at most 8 replicas; see O(existing_replicas).
    type: bool
    default: false
  overwrite_primary_data:
    description:
      - On a node that is or has been a configured primary, C(ghe-repl-setup) warns that it will
        overwrite the node's data and asks C(Proceed with initializing this instance as a replica? [y/N]).
      - Only V(true) answers C(y). With V(false) the module refuses (before running anything when
        C(/etc/github/repl-state) says C(primary), else by answering C(N)) and changes nothing.
    type: bool
    default: false
  existing_replicas:
    description:
      - Number of replicas the primary already has, for example RV(hapair.ha.repl_status_info#module:replica_count)
        gathered on the primary.
      - With O(add=true) the module refuses when it is already 8. Without it the limit is left to
        the appliance, as a new replica cannot see the primary's configuration before it is set up.
    type: int
  primary_api_password:
    description:
      - Password of the root site administrator (Management Console) of the primary. When set and
        the replica key is not authorised yet, the module adds it with C(POST /manage/v1/access/ssh)
        (basic auth C(api_key:PASSWORD)) and runs C(ghe-repl-setup) again.
      - Never returned or logged.
    type: str
  primary_api_url:
    description:
      - Base URL of the primary's Manage API. Defaults to C(https://PRIMARY_HOST:8443).
      - The request honours the C(https_proxy) and C(no_proxy) environment variables of the
        appliance (M(ansible.builtin.uri) and the like do the same) and never follows a redirect.
    type: str
extends_documentation_fragment:
  - hapair.ha.ghe
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the state and reports the commands it would run in RV(commands); runs none of them.
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - A node that is already a replica of another primary is not re-pointed; remove it first with
    O(state=absent).
  - C(ghe-repl-setup) receives exactly one line on stdin, C(y) or C(N), the answer to the
    primary-overwrite question.
seealso:
  - module: hapair.ha.repl_status_info
  - module: hapair.ha.repl_promote
  - name: Creating a high availability replica
    description: GitHub's procedure this module automates.
    link: "https://docs.github.com/en/enterprise-server@latest/admin/\
      monitoring-and-managing-your-instance/configuring-high-availability/creating-a-high-availability-replica"
"""

EXAMPLES = r"""
- name: Make this node a replica of the primary and start replicating
  hapair.ha.repl_setup:
    primary_host: 10.0.0.1
    state: started
  register: setup

- name: Authorise the new replica key on the primary through the Manage API
  ansible.builtin.uri:
    url: "https://10.0.0.1:8443/manage/v1/access/ssh"
    method: POST
    url_username: api_key
    url_password: "{{ ghe_root_site_admin_password }}"
    force_basic_auth: true
    body_format: json
    body:
      key: "{{ setup.public_key }}"
  delegate_to: localhost
  no_log: true
  when: setup.needs_key_authorization

- name: Finish the setup once the key is authorised
  hapair.ha.repl_setup:
    primary_host: 10.0.0.1
    state: started
  when: setup.needs_key_authorization

- name: Or let the module authorise the key itself, in one call
  hapair.ha.repl_setup:
    primary_host: 10.0.0.1
    state: started
    primary_api_password: "{{ ghe_root_site_admin_password }}"

- name: Add a geo-replica, refusing a ninth one
  hapair.ha.repl_setup:
    primary_host: 10.0.0.1
    add: true
    existing_replicas: "{{ primary_repl.replica_count }}"
    state: started

- name: Turn a former primary into a replica of the new primary (overwrites its data)
  hapair.ha.repl_setup:
    primary_host: 10.0.0.2
    overwrite_primary_data: true
    state: started

- name: Stop replicating temporarily
  hapair.ha.repl_setup:
    primary_host: 10.0.0.1
    state: stopped

- name: Remove the replica configuration
  hapair.ha.repl_setup:
    state: absent
"""

RETURN = r"""
state:
  description: The requested state.
  returned: always
  type: str
  sample: started
role:
  description: Replication role of the node afterwards (predicted in check mode).
  returned: always
  type: str
  sample: replica
  choices: [standalone, primary, replica]
primary_host:
  description: Primary the node replicates from afterwards, as configured or as given.
  returned: always
  type: str
  sample: 10.0.0.1
replication_running:
  description: Whether replication runs afterwards (predicted).
  returned: always
  type: bool
  sample: true
needs_key_authorization:
  description:
    - True when C(ghe-repl-setup) generated (or still has) a replica key that the primary does not
      accept yet. Nothing else was done; authorise RV(public_key) on the primary and run again.
  returned: always
  type: bool
  sample: false
public_key:
  description:
    - The replica's public key to authorise on the primary when RV(needs_key_authorization), or the key
      the module authorised through the Manage API (RV(key_authorized)); null otherwise.
  returned: always
  type: str
  sample: ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 ha-replica-10-0-0-2
key_authorized:
  description: True when the module authorised the key through the Manage API during this run.
  returned: always
  type: bool
  sample: false
commands:
  description: The commands run, in order (in check mode, the commands that would run).
  returned: always
  type: list
  elements: str
  sample: ["ghe-repl-setup 10.0.0.1", "ghe-repl-start"]
diff:
  description: Role, primary and running state before and after.
  returned: when diff mode is on
  type: dict
  sample:
    before: {role: standalone, primary_host: null, replication_running: false}
    after: {role: replica, primary_host: 10.0.0.1, replication_running: true}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hapair.ha.plugins.module_utils.ghe import GheError, make_runner
from ansible_collections.hapair.ha.plugins.module_utils.ghe.replication import (
    MANAGE_API_PORT,
    authorize_key_via_manage_api,
    setup_replica,
)
from ansible_collections.hapair.ha.plugins.module_utils.common.results import finish

ARGUMENT_SPEC = dict(
    state=dict(type="str", default="present", choices=["present", "started", "stopped", "absent"]),
    primary_host=dict(type="str"),
    add=dict(type="bool", default=False),
    overwrite_primary_data=dict(type="bool", default=False),
    existing_replicas=dict(type="int"),
    primary_api_password=dict(type="str", no_log=True),
    primary_api_url=dict(type="str"),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
)
REQUIRED_IF = [("state", state, ["primary_host"]) for state in ("present", "started", "stopped")]


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF, supports_check_mode=True)
    p = module.params
    host = p["primary_host"]
    authorize = None
    if p["primary_api_password"] and host:
        default_url = f"https://{'[' + host + ']' if ':' in host else host}:{MANAGE_API_PORT}"
        api_url = p["primary_api_url"] or default_url

        def authorize(public_key):
            authorize_key_via_manage_api(api_url, p["primary_api_password"], public_key,
                                         validate_certs=p["validate_certs"], ca_path=p["ca_path"])

    try:
        result = setup_replica(
            make_runner(module.run_command),
            state=p["state"],
            primary_host=host,
            add=p["add"],
            overwrite_primary_data=p["overwrite_primary_data"],
            existing_replicas=p["existing_replicas"],
            check_mode=module.check_mode,
            authorize_key=authorize,
        )
    except GheError as err:
        target = f" against {host}" if host else ""
        module.fail_json(msg=f"Failed to set replication {p['state']}{target}: {err}", **err.details)
    finish(module, result)


if __name__ == "__main__":
    main()
