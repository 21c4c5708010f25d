# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # What the GitHub Enterprise Server replication modules that make HTTP(S) requests share
    # (repl_setup: the primary's Manage API; repl_promote: the /status endpoints). They run on
    # the appliance; the requests go out from there. Implementation: plugins/module_utils/ghe/.
    DOCUMENTATION = r"""
options:
  validate_certs:
    description:
      - Whether to validate the TLS certificate of the C(https://) URLs the module calls.
      - A new appliance serves a self-signed certificate until you install your own; rather than
        V(false), give its CA in O(ca_path).
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA certificate(s) to validate those certificates with, on the node the module
        runs on. Default - the system's trust store.
    type: path
notes:
  - The module runs on the appliance itself (connect as C(admin) on port 122); its HTTP(S) requests
    are made from there, with Ansible's HTTP client (C(ansible.module_utils.urls)).
  - High availability is not a backup. Corruption or a destructive change on the primary replicates
    to the replicas within seconds, and promoting a replica does not undo it; keep regular backups
    (GitHub Enterprise Server Backup Utilities or the backup service) with historical snapshots.
"""

    # The maintenance mode modules (ghe_maintenance, ghe_maintenance_info).
    MAINTENANCE = r"""
attributes:
  platform:
    platforms: posix
seealso:
  - name: Enabling and scheduling maintenance mode
    description: What maintenance mode blocks, and the Management Console alternative.
    link: "https://docs.github.com/en/enterprise-server@latest/admin/\
      administering-your-instance/configuring-maintenance-mode/enabling-and-scheduling-maintenance-mode"
"""
