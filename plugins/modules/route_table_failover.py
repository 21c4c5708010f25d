#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: route_table_failover
short_description: Point a virtual IP's VPC route at the active node's network interface
version_added: 0.1.0
description:
  - Makes every selected VPC route table route a virtual IP (a C(/32) outside every subnet) to one
    elastic network interface, the way clustering software moves an active/standby pair's VIP
    on AWS.
  - Everything is validated before the first change (every table exists, the target exists, is
    attached and is in the tables' VPC, every table has the route or O(create_missing=true)).
    A table already pointing at the target is left alone; a route to another interface, an
    instance or a blackhole is replaced. After a change the tables are read back and the module
    fails if any does not point at the target.
  - API calls for N tables are one target lookup, one C(DescribeRouteTables), one
    C(ReplaceRoute) or C(CreateRoute) per table that needs it and one read-back
    C(DescribeRouteTables), plus one C(ModifyNetworkInterfaceAttribute) when the source/destination
    check must change. The count is returned as RV(api_calls).
  - The C(ReplaceRoute)/C(CreateRoute) calls run in parallel, at most O(max_concurrency) at once,
    after the source/destination check change and before the read-back. Results stay in the order
    of RV(route_tables). If a table fails, no further table is started; the failure message lists the
    tables now pointing at the target, every failed table with its reason and the tables not
    attempted (also returned as C(pointing_route_tables), C(changed_route_tables),
    C(failed_route_tables) and C(not_attempted_route_tables)).
  - The same code runs on the nodes as a command (C(hapair-route-failover)) for keepalived to call
    on a MASTER transition.
author:
  - hapair.ha contributors (@hapair)
attributes:
  check_mode:
    description: Computes and reports the plan; calls nothing that changes AWS.
    support: full
  diff_mode:
    description: Reports each table's target and the source/destination check before and after.
    support: full
options:
  vip:
    description:
      - The virtual IP, an IPv4 address (V(10.1.0.10)) or a C(/32) CIDR (V(10.1.0.10/32)).
      - Any other prefix length, an IPv6 address or a malformed address is an error.
    type: str
    required: true
  route_table_ids:
    description:
      - The route tables to update.
      - With O(vpc_id), these must be in that VPC and are updated in addition to the discovered ones.
      - At least one of O(route_table_ids) and O(vpc_id) is required.
    type: list
    elements: str
    aliases: [route_tables]
  vpc_id:
    description:
      - Update every route table of this VPC that has a route for O(vip).
      - It is an error if the VPC has no such table and O(route_table_ids) is not given.
    type: str
  network_interface_id:
    description:
      - The ENI the VIP route must point at.
      - Mutually exclusive with O(instance_id); one of them is required.
    type: str
    aliases: [eni_id, interface_id]
  instance_id:
    description:
      - The instance whose primary network interface (device index 0) the route must point at.
      - Mutually exclusive with O(network_interface_id).
    type: str
  create_missing:
    description:
      - Create the route in tables listed in O(route_table_ids) that lack it.
      - When V(false), a listed table without the route is an error and nothing is changed.
    type: bool
    default: false
  source_dest_check:
    description:
      - The source/destination check state to enforce on the target interface.
      - The VIP route only carries traffic when the check is off, hence the default V(false).
    type: bool
    default: false
  max_concurrency:
    description:
      - How many route tables are changed at once (C(ReplaceRoute)/C(CreateRoute) calls in flight).
      - At EC2's usual ~100 ms a call the default switches 50 tables in about half a second. EC2
        throttles mutating API actions per account and Region with a token bucket (a burst of about 50
        requests, then a few per second), so a higher value rarely helps; throttled calls are retried
        with jittered backoff. Lower it when other tools in the account change EC2 resources at the same
        time; V(1) changes one table after another.
      - Must be at least V(1).
    type: int
    default: 10
extends_documentation_fragment:
  - hapair.ha.aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
requirements:
  - netaddr
seealso:
  - module: amazon.aws.ec2_vpc_route_table
  - name: Route tables in Amazon VPC
    description: Routing to a network interface and route priority.
    link: https://docs.aws.amazon.com/vpc/latest/userguide/VPC_Route_Tables.html
"""

EXAMPLES = r"""
- name: Make the app subnets' route tables send the VIP to db2
  hapair.ha.route_table_failover:
    vip: 10.1.0.10
    route_table_ids:
      - rtb-0a1b2c3d4e5f60718
      - rtb-0f1e2d3c4b5a69788
    instance_id: i-0123456789abcdef0
    region: eu-west-1

- name: Every table of the VPC that routes the VIP, to a given ENI, through an interface VPC endpoint
  hapair.ha.route_table_failover:
    vip: 10.1.0.10/32
    vpc_id: vpc-0123456789abcdef0
    network_interface_id: eni-0123456789abcdef0
    endpoint_url: https://vpce-0123456789abcdef0-a1b2c3d4.ec2.eu-west-1.vpce.amazonaws.com
    region: eu-west-1
  register: failover

- name: Show what changed
  ansible.builtin.debug:
    msg: "{{ failover.route_tables | map(attribute='route_table_id') | list }}"

- name: Initial set-up, adding the route where it is missing (connection options set once)
  module_defaults:
    group/hapair.ha.aws:
      region: eu-west-1
      profile: prod-network
  hapair.ha.route_table_failover:
    vip: 10.1.0.10
    route_tables: "{{ app_route_table_ids }}"
    eni_id: "{{ hostvars[groups['db'][0]].primary_eni }}"
    create_missing: true

- name: A VPC with hundreds of route tables, in an account other tools also call EC2 from
  hapair.ha.route_table_failover:
    vip: 10.1.0.10
    vpc_id: vpc-0123456789abcdef0
    instance_id: i-0123456789abcdef0
    max_concurrency: 4
    region: eu-west-1
"""

RETURN = r"""
vip:
  description: The virtual IP as a /32 CIDR.
  returned: success
  type: str
  sample: 10.1.0.10/32
network_interface_id:
  description: The target network interface (resolved from O(instance_id) when that was given).
  returned: success
  type: str
  sample: eni-0123456789abcdef0
instance_id:
  description: The instance the target interface is attached to, if known.
  returned: success
  type: str
  sample: i-0123456789abcdef0
vpc_id:
  description: The VPC of the target interface.
  returned: success
  type: str
  sample: vpc-0123456789abcdef0
route_tables:
  description: One entry per route table, in the order of O(route_table_ids) then discovered ones.
  returned: success
  type: list
  elements: dict
  contains:
    route_table_id:
      description: The route table.
      type: str
      sample: rtb-0a1b2c3d4e5f60718
    previous_target:
      description: What the VIP route pointed at before (an ENI, instance or gateway id), V(null) if it was missing.
      type: str
      sample: eni-0fedcba9876543210
    previous_state:
      description: The route's state before, C(active) or C(blackhole); V(null) if it was missing.
      type: str
      sample: blackhole
    new_target:
      description: The target network interface.
      type: str
      sample: eni-0123456789abcdef0
    changed:
      description: Whether this table was (or in check mode would be) changed.
      type: bool
      sample: true
    action:
      description: V(none), V(replace) or V(create).
      type: str
      sample: replace
  sample:
    - route_table_id: rtb-0a1b2c3d4e5f60718
      previous_target: eni-0fedcba9876543210
      previous_state: active
      new_target: eni-0123456789abcdef0
      changed: true
      action: replace
source_dest_check:
  description: The source/destination check of the target interface.
  returned: success
  type: dict
  contains:
    network_interface_id:
      description: The target network interface.
      type: str
      sample: eni-0123456789abcdef0
    previous:
      description: The state before.
      type: bool
      sample: true
    desired:
      description: The state enforced (O(source_dest_check)).
      type: bool
      sample: false
    changed:
      description: Whether the state was (or in check mode would be) changed.
      type: bool
      sample: true
  sample:
    network_interface_id: eni-0123456789abcdef0
    previous: true
    desired: false
    changed: true
api_calls:
  description: The number of EC2 API requests made, retries included.
  returned: success
  type: int
  sample: 4
"""

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.hapair.ha.plugins.module_utils.aws.common import AwsError
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_table import (
    DEFAULT_MAX_CONCURRENCY,
    HAS_NETADDR,
    NETADDR_IMPORT_ERROR,
    ensure_route_target,
    validate_max_concurrency,
)
from ansible_collections.hapair.ha.plugins.module_utils.common.aws_module import aws_client, aws_module
from ansible_collections.hapair.ha.plugins.module_utils.common.results import finish


def main():
    argument_spec = dict(
        vip=dict(type="str", required=True),
        route_table_ids=dict(type="list", elements="str", aliases=["route_tables"]),
        vpc_id=dict(type="str"),
        network_interface_id=dict(type="str", aliases=["eni_id", "interface_id"]),
        instance_id=dict(type="str"),
        create_missing=dict(type="bool", default=False),
        source_dest_check=dict(type="bool", default=False),
        max_concurrency=dict(type="int", default=DEFAULT_MAX_CONCURRENCY),
    )
    module = aws_module(
        argument_spec,
        required_one_of=[["route_table_ids", "vpc_id"], ["network_interface_id", "instance_id"]],
        mutually_exclusive=[["network_interface_id", "instance_id"]],
        supports_check_mode=True,
    )
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"), exception=NETADDR_IMPORT_ERROR)

    params = module.params
    target = params["network_interface_id"] or params["instance_id"]
    try:
        validate_max_concurrency(params["max_concurrency"])
        client = aws_client(module, "ec2", max_concurrency=params["max_concurrency"])
        result = ensure_route_target(
            client,
            params["vip"],
            route_table_ids=params["route_table_ids"],
            vpc_id=params["vpc_id"],
            network_interface_id=params["network_interface_id"],
            instance_id=params["instance_id"],
            create_missing=params["create_missing"],
            source_dest_check=params["source_dest_check"],
            check_mode=module.check_mode,
            max_concurrency=params["max_concurrency"],
        )
    except AwsError as err:
        module.fail_json(msg=f"Failed to point the route for {params['vip']} at {target}: {err}", **err.details)

    finish(module, result)


if __name__ == "__main__":
    main()
