#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: instance_metadata_facts
version_added: 0.1.0
short_description: Read this EC2 instance's identity and primary network interface from the instance metadata
description:
  - Reads, from the EC2 instance metadata service (IMDSv2), the facts the collection's roles need about the
    instance they run on - its primary network interface (MAC, ENI id, VPC id), the instance identity
    document (instance id, account id, region, ...) and the partition - in six requests.
  - The facts have the names M(amazon.aws.ec2_metadata_facts) gives them (for example
    C(ansible_facts['ec2_instance_id']) or C(ansible_facts['ec2_network_interfaces_macs_0a_1b_2c_3d_4e_5f_interface_id'])),
    so tasks written for that module read them unchanged. That module reads the whole metadata tree, one
    request per key, which costs seconds per host on every run; use it when you need other keys.
  - Only IMDSv2 (a session token) is spoken; an instance that requires IMDSv1 fails with a clear error.
  - Never changes anything.
author:
  - hapair.ha contributors (@hapair)
options:
  metadata_token_ttl_seconds:
    description: The lifetime of the IMDSv2 session token, in seconds.
    type: int
    default: 60
  timeout:
    description: Seconds to wait for each answer of the metadata service (a request that fails is tried twice).
    type: float
    default: 2
extends_documentation_fragment:
  - hapair.ha.info
  - ansible.builtin.action_common_attributes
notes:
  - The metadata service is link-local and is never reached through an HTTP proxy from the environment.
seealso:
  - module: amazon.aws.ec2_metadata_facts
  - name: Use IMDSv2
    description: The session-token protocol and the identity document.
    link: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html
"""

EXAMPLES = r"""
- name: Learn the instance and its primary network interface
  hapair.ha.instance_metadata_facts:

- name: Show the primary ENI
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts['ec2_network_interfaces_macs_' ~ ansible_facts['ec2_mac'] | replace(':', '_') ~ '_interface_id'] }}
"""

RETURN = r"""
ansible_facts:
  description: The instance's facts, named as M(amazon.aws.ec2_metadata_facts) names them.
  returned: success
  type: dict
  contains:
    ec2_mac:
      description: The MAC address of the primary network interface.
      type: str
      sample: 0a:1b:2c:3d:4e:5f
    ec2_network_interfaces_macs_<mac>_interface_id:
      description: The primary network interface's id (C(<mac>) is RV(ansible_facts.ec2_mac) with C(_) for C(:)).
      type: str
      sample: eni-0bbbbbbbbbbbbbbb2
    ec2_network_interfaces_macs_<mac>_vpc_id:
      description: The VPC of the primary network interface.
      type: str
      sample: vpc-0aaaaaaaaaaaaaaa1
    ec2_instance_id:
      description: The instance id.
      type: str
      sample: i-0123456789abcdef0
    ec2_placement_region:
      description: The instance's region.
      type: str
      sample: eu-west-1
    ec2_instance_identity_document_<key>:
      description:
        - Each key of the instance identity document, lower case (C(accountid), C(instanceid), C(region),
          C(availabilityzone), ...).
      type: raw
      sample: "123456789012"
    ec2_services_partition:
      description: The partition (C(aws), C(aws-cn), C(aws-us-gov)); left out when the service does not say.
      type: str
      sample: aws
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hapair.ha.plugins.module_utils.aws.common import AwsError
from ansible_collections.hapair.ha.plugins.module_utils.aws.imds import ImdsClient, metadata_facts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            metadata_token_ttl_seconds=dict(type="int", default=60, no_log=False),
            timeout=dict(type="float", default=2.0),
        ),
        supports_check_mode=True,
    )
    try:
        client = ImdsClient(timeout=module.params["timeout"], token_ttl=module.params["metadata_token_ttl_seconds"])
        facts = metadata_facts(client)
    except AwsError as err:
        module.fail_json(msg="Failed to read the instance metadata: %s" % err)
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == "__main__":
    main()
