#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: drill_routes_info
short_description: Watch a virtual IP's VPC route until every route table points at one network interface
version_added: 0.1.0
description:
  - Reads the route of a virtual IP in the selected route tables (one C(DescribeRouteTables) per poll) every
    O(interval) seconds until every table routes it to O(network_interface_id), or O(timeout) seconds passed.
  - Made for failover drills - start it with C(async) before the fault, read its result with
    M(ansible.builtin.async_status) after the takeover; the moment every table switched is then known to within
    one poll. M(hapair.ha.route_table_failover) in check mode answers the same question once.
  - Read-only; never reports C(changed).
author:
  - hapair.ha contributors (@hapair)
attributes:
  check_mode:
    description: Reads only; runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
options:
  vip:
    description: The virtual IP, an IPv4 address or a C(/32) CIDR.
    type: str
    required: true
  route_table_ids:
    description: The route tables to watch. At least one of O(route_table_ids) and O(vpc_id) is required.
    type: list
    elements: str
    default: []
  vpc_id:
    description: Watch every route table of this VPC that has a route for O(vip) (with O(route_table_ids), every table of the VPC).
    type: str
  network_interface_id:
    description: The ENI every table must route the VIP to.
    type: str
    required: true
  timeout:
    description: Seconds to watch at most (at least one poll is made).
    type: float
    default: 120
  interval:
    description: Seconds between two polls.
    type: float
    default: 0.2
extends_documentation_fragment:
  - hapair.ha.aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
requirements:
  - netaddr
seealso:
  - module: hapair.ha.route_table_failover
"""

EXAMPLES = r"""
- name: Watch the route tables in the background, from before the fault
  hapair.ha.drill_routes_info:
    vip: 10.1.0.10
    route_table_ids: [rtb-0a1b2c3d4e5f60718, rtb-0f1e2d3c4b5a69788]
    network_interface_id: eni-0123456789abcdef0
    timeout: 120
    region: eu-west-1
  async: 300
  poll: 0
  delegate_to: localhost
  register: watch

- name: Read when every table pointed at the new node
  ansible.builtin.async_status:
    jid: "{{ watch.ansible_job_id }}"
  delegate_to: localhost
  register: routes
  until: routes.finished
  retries: 300
  delay: 1
"""

RETURN = r"""
switched:
  description: Whether every table routed the VIP to the target before the timeout.
  returned: success
  type: bool
  sample: true
switched_at:
  description: Epoch time of the end of the first poll that saw every table on the target; V(null) if none did.
  returned: success
  type: float
  sample: 1767268800.512
last_other_at:
  description: Epoch time of the end of the last poll that saw a table elsewhere (the switch happened after it).
  returned: success
  type: float
  sample: 1767268800.301
started_at:
  description: Epoch time the watch started.
  returned: success
  type: float
  sample: 1767268795.02
polls:
  description: Number of polls made.
  returned: success
  type: int
  sample: 27
failed_polls:
  description: Polls that could not read the tables (retried until the timeout).
  returned: success
  type: int
  sample: 0
last_error:
  description: The error of the last failed poll.
  returned: success
  type: str
  sample: null
tables:
  description: Per route table, where the VIP route pointed at the first poll and when it reached the target.
  returned: success
  type: list
  elements: dict
  contains:
    route_table_id:
      description: The route table.
      type: str
      sample: rtb-0a1b2c3d4e5f60718
    target_before:
      description: The route's target at the first poll (V(null) - no route).
      type: str
      sample: eni-0fedcba9876543210
    target_now:
      description: The route's target at the last poll.
      type: str
      sample: eni-0123456789abcdef0
    on_target_at:
      description: End of the poll from which on the table pointed at the target; V(null) if it did not at the end.
      type: float
      sample: 1767268800.512
"""

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.hapair.ha.plugins.module_utils.aws.common import AwsError
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_table import (
    HAS_NETADDR,
    NETADDR_IMPORT_ERROR,
    describe_route_tables,
    find_route,
    route_target,
    validate_request,
)
from ansible_collections.hapair.ha.plugins.module_utils.common.aws_module import aws_client, aws_module
from ansible_collections.hapair.ha.plugins.module_utils.drill.routes import RouteReadError, watch_routes


def main():
    argument_spec = dict(
        vip=dict(type="str", required=True),
        route_table_ids=dict(type="list", elements="str", default=[]),
        vpc_id=dict(type="str"),
        network_interface_id=dict(type="str", required=True),
        timeout=dict(type="float", default=120),
        interval=dict(type="float", default=0.2),
    )
    module = aws_module(argument_spec, supports_check_mode=True)
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"), exception=NETADDR_IMPORT_ERROR)
    params = module.params
    try:
        request = validate_request(params["vip"], params["route_table_ids"], params["vpc_id"],
                                   network_interface_id=params["network_interface_id"])
        client = aws_client(module, "ec2")
    except AwsError as err:
        module.fail_json(msg=f"Failed to watch the route tables of {params['vip']}: {err}")

    def read():
        try:
            tables = describe_route_tables(client, request["vip"], request["route_table_ids"], request["vpc_id"])
        except AwsError as err:
            raise RouteReadError(str(err)) from err
        wanted = set(request["route_table_ids"])
        return {t["RouteTableId"]: route_target(find_route(t, request["vip"])) for t in tables
                if t["RouteTableId"] in wanted or find_route(t, request["vip"]) is not None}

    result = watch_routes(read, request["network_interface_id"], timeout=max(0.0, params["timeout"]),
                          interval=max(0.05, params["interval"]))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
