#!/usr/bin/python
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gitaly_remote
short_description: Manage the Gitaly settings of a GitLab (Omnibus) node's gitlab.rb
version_added: 0.1.0
author:
  - hapair.ha contributors (@hapair)
description:
  - Moves GitLab's Gitaly (git storage) service to its own server, or points a GitLab Rails
    node at such servers, by editing C(/etc/gitlab/gitlab.rb).
  - With O(role=gitaly) the node becomes Gitaly-only. Gitaly is enabled with the listen
    address(es), the auth token and the storages. Every other Omnibus service is disabled
    (PostgreSQL, Redis, NGINX, Puma, Unicorn before 14.0, Sidekiq, Workhorse, GitLab
    Exporter, KAS from 14.0, Prometheus, Alertmanager, Grafana before 16.3).
    C(gitlab_rails['rake_cache_clear']) and C(gitlab_rails['auto_migrate']) are set to
    V(false), and C(gitlab_rails['internal_api_url']) is set for GitLab Shell callbacks.
  - With O(role=rails) each storage points at a remote Gitaly (C(tcp://) or C(tls://)) or
    stays on the node's own Gitaly (O(storages[].path)). The same token is set as
    C(gitlab_rails['gitaly_token']). When no storage stays local, the local Gitaly is
    disabled (C(gitaly['enable'] = false)).
  - Projects already pushed to the Rails node's local storage return 404 after the switch
    unless their storage stays mapped. Keep C(default) local on the Rails node and add the
    remote storages next to it. GitLab requires a storage named C(default), so a
    configuration without one is refused.
  - The syntax depends on the GitLab version (read from the node unless O(gitlab_version)
    is set). GitLab 13.0 to 15.x get V(legacy), with the flat keys C(gitaly['listen_addr']),
    C(gitaly['auth_token']), C(gitaly['tls_listen_addr']), C(gitaly['certificate_path']) and
    C(gitaly['key_path']), and C(git_data_dirs) on both nodes.
  - >-
    GitLab 16.0 to 17.x get V(gitaly_configuration). The Gitaly node uses
    C(gitaly['configuration'] = { listen_addr:, tls_listen_addr:, tls:, auth: { token: },
    storage: [...] }), because the flat keys were removed in 16.0. The Rails node keeps
    C(git_data_dirs) with C(NAME => { 'gitaly_address' => ... }) entries, because up to 17.x Omnibus computes
    C(gitlab_rails['repositories_storages']) from C(git_data_dirs) and overwrites a value set
    in C(gitlab.rb).
  - GitLab 18.0 and later get V(repositories_storages). The Gitaly node is as for 16.x. The
    Rails node uses C(gitlab_rails['repositories_storages']) because C(git_data_dirs) was
    removed in 18.0.
  - Storages kept local on a Rails node use Omnibus' default socket
    C(unix:/var/opt/gitlab/gitaly/gitaly.socket) (V(gitaly_configuration) and
    V(repositories_storages)) or a C(git_data_dirs) path (V(legacy)). GitLab's docs call
    such a local-plus-remote mix unsupported for RPCs between storages (for example forks
    across storages). To avoid that, serve the local storage over TCP and give its C(tcp://)
    address instead.
  - The module edits only its own block, between a C(# BEGIN hapair.ha.gitaly_remote ...)
    line and a C(# END hapair.ha.gitaly_remote) line. The block is replaced in place, or
    appended at the end of the file the first time.
  - >-
    Assignments outside the block of the keys the block owns are commented out with the
    prefix C(# hapair.ha.gitaly_remote disabled: ) and listed in RV(neutralised). Multi-line
    statements such as C(gitaly['configuration'] = {...}) or a multi-line C(git_data_dirs)
    call are handled. Every other line is kept byte for byte.
  - To add other Gitaly settings, put sub-key assignments after the block, for example
    C(gitaly['configuration'][:pack_objects_cache] = {...}). A whole
    C(gitaly['configuration'] = ...) elsewhere is commented out.
  - The new file is checked with C(ruby -c) before it is written. The module uses Omnibus'
    C(/opt/gitlab/embedded/bin/ruby), or C(ruby) from C(PATH). If neither exists, the check
    is skipped (RV(syntax_checked_with) is null).
  - The new text is written to a temporary file next to C(gitlab.rb) and moved over it
    atomically (Ansible's own atomic move), keeping the file's owner, group, mode and SELinux
    context. A missing file is created with mode V(0600). O(owner), O(group), O(mode) and the
    SELinux options, when given, are applied afterwards, also when the text is unchanged;
    check mode and C(--diff) report them.
  - The module reads the node's files (C(gitlab.rb), the version files) directly, without
    running commands. It does not run C(gitlab-ctl reconfigure); do that in a handler.
options:
  role:
    description:
      - V(gitaly) for the node that only runs Gitaly, V(rails) for a node running GitLab
        Rails (the Gitaly client).
    type: str
    required: true
    choices: [gitaly, rails]
  storages:
    description:
      - The repository storages, in order. One must be named V(default).
      - Names must be unique and made of letters, digits, V(_) and V(-).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Storage name, as used by GitLab (V(default), V(storage1), ...).
        type: str
        required: true
      path:
        description:
          - Absolute path of the repositories directory that Gitaly serves, for example
            V(/var/opt/gitlab/git-data/repositories).
          - Required with O(role=gitaly). With O(role=rails), the storage stays on the Rails
            node's own Gitaly.
          - The V(legacy) syntax writes C(git_data_dirs), which appends C(/repositories) to
            its path. With that syntax the path must end in C(/repositories).
        type: str
      address:
        description:
          - O(role=rails) only. The Gitaly server for this storage, C(tcp://HOST:PORT) or
            C(tls://HOST:PORT) (C([IPv6]:PORT) for IPv6), for example
            V(tcp://gitaly1.internal:8075).
          - Mutually exclusive with O(storages[].path).
        type: str
  auth_token:
    description:
      - The shared Gitaly token, the same on the Gitaly and Rails nodes.
      - Never shown in results or diffs. Those show C(<auth_token hidden>), and any other
        secret value of the file shows as C(<hidden>).
      - Must be a string. Anything else (a list, a number) is refused rather than converted, as
        converting it would write a token the other nodes do not have.
    type: raw
    required: true
  listen_addr:
    description:
      - O(role=gitaly) only. Plain-text listen address, C(HOST:PORT) or C([IPv6]:PORT).
      - Defaults to V(0.0.0.0:8075) unless only O(tls_listen_addr) is given (TLS only).
        Restrict access to it with a firewall.
    type: str
  tls_listen_addr:
    description:
      - O(role=gitaly) only. TLS listen address, for example V(0.0.0.0:9999). Needs
        O(tls_certificate_path) and O(tls_key_path).
      - Rails nodes then use C(tls://) addresses and must trust the certificate (for example
        in C(/etc/gitlab/trusted-certs/)).
    type: str
  tls_certificate_path:
    description: O(role=gitaly) only. Path of the Gitaly server certificate on the node.
    type: path
  tls_key_path:
    description: O(role=gitaly) only. Path of the certificate's private key on the node.
    type: path
  internal_api_url:
    description:
      - O(role=gitaly), required there. The GitLab URL that GitLab Shell calls back
        (C(gitlab_rails['internal_api_url'])), for example V(http://gitlab.example.com).
      - GitLab Shell callbacks also need the Rails node's C(/etc/gitlab/gitlab-secrets.json)
        copied to the Gitaly node. This module does not copy it.
    type: str
  gitlab_version:
    description:
      - GitLab version whose syntax to write, for example V(17.5.1) or V(16.11).
      - V(auto) reads it from the first line of C(/opt/gitlab/version-manifest.txt) (for
        example C(gitlab-ee 17.5.1)), else from
        C(/opt/gitlab/embedded/service/gitlab-rails/VERSION).
      - Versions before 13.0 are refused.
    type: str
    default: auto
  config_path:
    description:
      - The C(gitlab.rb) to edit. It is created (mode V(0600) unless O(mode) is given) if it
        is missing; its directory must exist.
    type: path
    default: /etc/gitlab/gitlab.rb
  backup:
    description:
      - Before changing the file, copy it to a backup file named with a timestamp
        (C(<config_path>.<pid>.<YYYY-MM-DD@HH:MM:SS~>)), with its owner, mode and SELinux context.
        Each run that changes the text makes one; none is made in check mode or when the
        file is created. The copy holds the previous token, so keep the directory private.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Secret values are masked. If only the token changed, the diff shows the old value as
        C(<hidden>) and the new one as C(<auth_token hidden>).
  platform:
    platforms: posix
  safe_file_operations:
    description: Uses Ansible's strict file operation functions to ensure proper permissions and avoid data corruption.
    support: full
    details:
      - The module writes through Ansible's atomic move and backup functions.
notes:
  - Configure and reconfigure the Gitaly node before the Rails node. Gitaly servers must be
    upgraded before their clients.
seealso:
  - name: Configure Gitaly (GitLab documentation)
    description: Running Gitaly on its own server, server and client configuration.
    link: https://docs.gitlab.com/administration/gitaly/configure_gitaly/
  - name: Gitaly TLS support (GitLab documentation)
    description: C(tls_listen_addr), certificates and C(tls://) addresses.
    link: https://docs.gitlab.com/administration/gitaly/tls_support/
"""

EXAMPLES = r"""
- name: Make gitaly1 a Gitaly-only node serving default and storage1
  hapair.ha.gitaly_remote:
    role: gitaly
    auth_token: "{{ vault_gitaly_token }}"
    internal_api_url: http://gitlab.example.com
    listen_addr: 0.0.0.0:8075
    storages:
      - name: default
        path: /var/opt/gitlab/git-data/repositories
      - name: storage1
        path: /mnt/gitlab/git-data/repositories
    owner: root
    group: root
    mode: "0600"
    backup: true
  notify: Reconfigure GitLab

- name: Point the Rails node at gitaly1, keeping already pushed projects on local default
  hapair.ha.gitaly_remote:
    role: rails
    auth_token: "{{ vault_gitaly_token }}"
    storages:
      - name: default
        path: /var/opt/gitlab/git-data/repositories
      - name: storage1
        address: tcp://gitaly1.internal:8075
    backup: true
  notify: Reconfigure GitLab

- name: Gitaly with TLS only, for a known GitLab version, showing what would change
  hapair.ha.gitaly_remote:
    role: gitaly
    gitlab_version: "18.2.1"
    auth_token: "{{ vault_gitaly_token }}"
    internal_api_url: https://gitlab.example.com
    tls_listen_addr: 0.0.0.0:9999
    tls_certificate_path: /etc/gitlab/ssl/gitaly1.internal.crt
    tls_key_path: /etc/gitlab/ssl/gitaly1.internal.key
    storages:
      - name: default
        path: /var/opt/gitlab/git-data/repositories
  check_mode: true
  diff: true
  register: gitaly_plan

- name: Rails node using only TLS Gitaly servers
  hapair.ha.gitaly_remote:
    role: rails
    auth_token: "{{ vault_gitaly_token }}"
    storages:
      - name: default
        address: tls://gitaly1.internal:9999
      - name: storage2
        address: tls://[2001:db8::12]:9999
"""

RETURN = r"""
config_path:
  description: The edited file.
  returned: always
  type: str
  sample: /etc/gitlab/gitlab.rb
role:
  description: The role written.
  returned: always
  type: str
  sample: gitaly
syntax:
  description:
    - The gitlab.rb syntax written, V(legacy) (GitLab 13.0 to 15.x), V(gitaly_configuration)
      (16.0 to 17.x) or V(repositories_storages) (18.0 and later).
  returned: always
  type: str
  sample: gitaly_configuration
gitlab_version:
  description: The GitLab version the syntax was chosen for.
  returned: always
  type: str
  sample: 17.5.1
version_source:
  description: Where the version came from, a file path on the node or V(gitlab_version).
  returned: always
  type: str
  sample: /opt/gitlab/version-manifest.txt
backup_file:
  description: The backup of the file as it was before this run changed it.
  returned: changed and O(backup=true) and the file existed, not in check mode
  type: str
  sample: /etc/gitlab/gitlab.rb.4242.2026-11-26@03:10:42~
neutralised:
  description: Assignments of owned keys outside the block that were (or would be) commented out.
  returned: always
  type: list
  elements: dict
  sample: [{"line": 1203, "key": "git_data_dirs(...)"}, {"line": 2310, "key": "gitaly['configuration']"}]
  contains:
    line:
      description: Line number where the statement started, in the original file.
      type: int
    key:
      description: The owned key.
      type: str
block:
  description: The managed block as written, with the token replaced by C(<auth_token hidden>).
  returned: always
  type: str
  sample: |-
    # BEGIN hapair.ha.gitaly_remote (managed by Ansible; do not edit)
    # GitLab Rails node, Gitaly storages; gitlab.rb syntax 'repositories_storages' (GitLab 18.0 and later)
    gitaly['enable'] = false
    gitlab_rails['gitaly_token'] = '<auth_token hidden>'
    gitlab_rails['repositories_storages'] = {
      'default' => { 'gitaly_address' => 'tcp://gitaly1.internal:8075' },
    }
    # END hapair.ha.gitaly_remote
syntax_checked_with:
  description:
    - The Ruby interpreter that checked the new file with C(ruby -c). Null if nothing changed
      or no Ruby was found.
  returned: always
  type: str
  sample: /opt/gitlab/embedded/bin/ruby
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hapair.ha.plugins.module_utils.gitaly.config import (
    EMBEDDED_RUBY,
    configure_gitaly_remote,
    make_ruby_syntax_check,
)
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.errors import GitalyConfigError
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.files import ModuleFiles
from ansible_collections.hapair.ha.plugins.module_utils.common.results import finish

ARGUMENT_SPEC = dict(
    role=dict(type="str", required=True, choices=["gitaly", "rails"]),
    storages=dict(
        type="list", elements="dict", required=True,
        options=dict(
            name=dict(type="str", required=True),
            path=dict(type="str"),
            address=dict(type="str"),
        ),
        mutually_exclusive=[["path", "address"]],
        required_one_of=[["path", "address"]],
    ),
    # raw, not str: Ansible would turn a list or a number into its text and write that as the
    # token; build_settings() refuses anything but a string instead.
    auth_token=dict(type="raw", required=True, no_log=True),
    listen_addr=dict(type="str"),
    tls_listen_addr=dict(type="str"),
    tls_certificate_path=dict(type="path"),
    tls_key_path=dict(type="path"),
    internal_api_url=dict(type="str"),
    gitlab_version=dict(type="str", default="auto"),
    config_path=dict(type="path", default="/etc/gitlab/gitlab.rb"),
    backup=dict(type="bool", default=False),
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        add_file_common_args=True,
        required_together=[["tls_listen_addr", "tls_certificate_path", "tls_key_path"]],
        required_if=[["role", "gitaly", ["internal_api_url"]]],
    )
    params = module.params
    ruby = EMBEDDED_RUBY if os.access(EMBEDDED_RUBY, os.X_OK) else module.get_bin_path("ruby")

    def run_command(argv, data):
        return module.run_command(argv, data=data, binary_data=True)

    try:
        result = configure_gitaly_remote(
            role=params["role"],
            storages=params["storages"],
            auth_token=params["auth_token"],
            files=ModuleFiles(module),
            config_path=params["config_path"],
            gitlab_version=params["gitlab_version"],
            listen_addr=params["listen_addr"],
            tls_listen_addr=params["tls_listen_addr"],
            tls_certificate_path=params["tls_certificate_path"],
            tls_key_path=params["tls_key_path"],
            internal_api_url=params["internal_api_url"],
            backup=params["backup"],
            check_mode=module.check_mode,
            syntax_check=make_ruby_syntax_check(run_command, ruby, params["auth_token"]),
        )
    except GitalyConfigError as err:
        module.fail_json(msg=f"Failed to configure Gitaly ({params['role']}) in {params['config_path']}: {err}")

    header = params["config_path"]
    result["diff"] = [dict(before=result.pop("before"), after=result.pop("after"),
                           before_header=header, after_header=header)]
    attributes = result.pop("attributes_diff", None)
    if attributes:
        result["diff"].append(attributes)
    finish(module, result)


if __name__ == "__main__":
    main()
