# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The least-privilege IAM policy of ``hapair-route-failover`` (``route_failover_cli.py``).

:func:`route_failover_policy` takes the command's settings (the keys of its ``--config`` file)
and returns the identity-based policy that allows exactly the EC2 calls
:func:`route_table.ensure_route_target` can make with them, and nothing else:

* ``ec2:DescribeRouteTables`` - always (it takes no resource-level permissions: ``*``);
* ``ec2:DescribeNetworkInterfaces`` - only when the command describes its target: not with
  ``self`` (the node's ENI and VPC come from IMDS) and ``source_dest_check = keep``
  (no resource-level permissions either: ``*``);
* ``ec2:ReplaceRoute`` - on the listed route tables (their ARNs), and with ``vpc_id`` on every
  route table of that VPC: ``route-table/*`` with the condition key ``ec2:Vpc`` (the ARN of the
  VPC the table is in). The command discovers a VPC's tables at failover time, so a table
  added after the policy was written is covered;
* ``ec2:CreateRoute`` - only with ``create_missing``, and only on the listed tables (a table
  found through ``vpc_id`` already has the route, or it would not have been found);
* ``ec2:ModifyNetworkInterfaceAttribute`` - only when ``source_dest_check`` is enforced, on the
  given ENIs (their ARNs), else on the ENIs of ``vpc_id`` (``ec2:Vpc``);
* with ``fencing = stop_peer`` only (``route_failover_fence``): ``ec2:StopInstances`` on the
  peer's instance ARN, and ``ec2:DescribeInstances`` to wait for it to stop and to look at the
  node's own state (``*``: DescribeInstances supports no resource-level permissions). A policy
  shared by both nodes (one IAM role for both instance profiles) is made with ``fence_pairs``:
  one StopInstances statement per node, each on its peer's ARN and only for requests from the
  node's own instance (condition key ``ec2:SourceInstanceARN``), so neither can stop itself.

Resource types and condition keys are those of the Service Authorization Reference,
"Actions, resources, and condition keys for Amazon EC2"
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html):
``ReplaceRoute`` and ``CreateRoute`` act on the ``route-table`` resource, whose condition keys
include ``ec2:Vpc``; ``ModifyNetworkInterfaceAttribute`` on ``network-interface`` (also with
``ec2:Vpc``); the two Describe actions support no resource-level permissions.

Standard library only: the role's filter plugin calls it on the controller.
"""

from __future__ import annotations

import re

POLICY_VERSION = "2012-10-17"

_ID_PATTERNS = {
    "route table": re.compile(r"^rtb-[0-9a-f]+$"),
    "VPC": re.compile(r"^vpc-[0-9a-f]+$"),
    "network interface": re.compile(r"^eni-[0-9a-f]+$"),
    "instance": re.compile(r"^i-[0-9a-f]+$"),
}
_PARTITION = re.compile(r"^aws(-[a-z]+)*$")
_REGION = re.compile(r"^([a-z]{2}(-[a-z]+)+-[0-9]+|\*)$")
_ACCOUNT = re.compile(r"^([0-9]{12}|\*)$")
_SOURCE_DEST_CHECK = ("keep", "disable", "enable")


class PolicyError(ValueError):
    """Settings from which no policy can be made (one message naming the setting)."""


def _ids(values, kind, setting):
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise PolicyError(f"{setting} must be a list of {kind} ids, got {values!r}")
    for value in values:
        if not isinstance(value, str) or not _ID_PATTERNS[kind].match(value):
            raise PolicyError(f"{setting}: invalid {kind} id {value!r}")
    return sorted(set(values))


def _one_id(value, kind, setting):
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _ID_PATTERNS[kind].match(value):
        raise PolicyError(f"{setting}: invalid {kind} id {value!r}")
    return value


def _match(value, pattern, setting, what):
    if not isinstance(value, str) or not pattern.match(value):
        raise PolicyError(f"{setting} must be {what}, got {value!r}")
    return value


def _vpc_condition(vpc_arn):
    """``ec2:Vpc`` is an ARN-typed key: ArnEquals for a full ARN, ArnLike when the region or the
    account is unknown (``*``)."""
    operator = "ArnLike" if "*" in vpc_arn else "ArnEquals"
    return {operator: {"ec2:Vpc": vpc_arn}}


def _fence_statements(settings, prefix, fence_pairs):
    """The statements of ``fencing = stop_peer``: DescribeInstances on ``*`` and StopInstances
    on the peer's ARN (per pair, with ``ec2:SourceInstanceARN``, for a shared policy)."""
    fencing = settings.get("fencing") or "none"
    if fencing not in ("none", "stop_peer"):
        raise PolicyError(f"fencing must be none or stop_peer, got {fencing!r}")
    if fencing == "none":
        return []
    statements = [{"Sid": "WatchTheInstances", "Effect": "Allow", "Action": ["ec2:DescribeInstances"],
                   "Resource": "*"}]
    if fence_pairs is None:
        peer = _one_id(settings.get("peer_instance_id"), "instance", "peer_instance_id")
        if not peer:
            raise PolicyError("fencing = stop_peer needs peer_instance_id")
        statements.append({"Sid": "FenceThePeer", "Effect": "Allow", "Action": ["ec2:StopInstances"],
                           "Resource": f"{prefix}:instance/{peer}"})
        return statements
    if isinstance(fence_pairs, (str, dict)) or not isinstance(fence_pairs, (list, tuple)) or not fence_pairs:
        raise PolicyError(f"fence_pairs must be a list of [node instance id, peer instance id], got {fence_pairs!r}")
    for pair in fence_pairs:
        if isinstance(pair, str) or not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise PolicyError(f"fence_pairs: expected [node instance id, peer instance id], got {pair!r}")
        node = _one_id(pair[0], "instance", "fence_pairs")
        peer = _one_id(pair[1], "instance", "fence_pairs")
        if not node or not peer or node == peer:
            raise PolicyError(f"fence_pairs: two different instance ids are needed, got {pair!r}")
        statements.append({
            "Sid": "FenceThePeerOf" + node.replace("-", ""),
            "Effect": "Allow",
            "Action": ["ec2:StopInstances"],
            "Resource": f"{prefix}:instance/{peer}",
            "Condition": {"ArnEquals": {"ec2:SourceInstanceARN": f"{prefix}:instance/{node}"}},
        })
    return statements


def route_failover_policy(settings, partition="aws", region="*", account_id="*", network_interface_ids=None,
                          fence_pairs=None):
    """The IAM policy document (a dict) for ``hapair-route-failover`` run with ``settings``.

    ``settings``: the command's settings - ``route_table_ids`` (list), ``vpc_id``,
    ``create_missing`` (bool), ``self`` (bool), ``network_interface_id``, ``source_dest_check``
    (``keep``, ``disable`` or ``enable``; default ``keep``). ``partition``, ``region`` and
    ``account_id`` make the ARNs (``*`` for an unknown region or account).
    ``network_interface_ids``: the ENIs whose source/destination check the command may set
    (only used when ``source_dest_check`` is not ``keep``; default ``network_interface_id``).
    With ``fencing = stop_peer`` in ``settings``, the fencing statements are added: on the
    settings' ``peer_instance_id``, or, with ``fence_pairs`` (``[[node, peer], ...]``, instance
    ids), one per pair limited to requests from the node (a policy both nodes share).
    Raises :class:`PolicyError` on bad settings.
    """
    if not isinstance(settings, dict):
        raise PolicyError(f"the settings must be a dict, got {type(settings).__name__}")
    tables = _ids(settings.get("route_table_ids"), "route table", "route_table_ids")
    vpc_id = _one_id(settings.get("vpc_id"), "VPC", "vpc_id")
    if not tables and not vpc_id:
        raise PolicyError("give route_table_ids and/or vpc_id")
    sdc = settings.get("source_dest_check") or "keep"
    if sdc not in _SOURCE_DEST_CHECK:
        raise PolicyError(f"source_dest_check must be one of {', '.join(_SOURCE_DEST_CHECK)}, got {sdc!r}")
    create_missing = settings.get("create_missing", False)
    if not isinstance(create_missing, bool):
        raise PolicyError(f"create_missing must be a boolean, got {create_missing!r}")
    own_eni = settings.get("self", False)
    if not isinstance(own_eni, bool):
        raise PolicyError(f"self must be a boolean, got {own_eni!r}")
    eni = _one_id(settings.get("network_interface_id"), "network interface", "network_interface_id")
    enis = _ids(network_interface_ids if network_interface_ids is not None else ([eni] if eni else []),
                "network interface", "network_interface_ids")
    _match(partition, _PARTITION, "partition", "an AWS partition (aws, aws-cn, aws-us-gov...)")
    _match(region, _REGION, "region", "a region name or *")
    _match(account_id, _ACCOUNT, "account_id", "a 12-digit account id or *")
    prefix = f"arn:{partition}:ec2:{region}:{account_id}"

    # What ensure_route_target calls: the target is described unless the command knows its VPC
    # (self: from IMDS) and leaves source/destination check alone.
    describe = ["ec2:DescribeRouteTables"]
    if not (own_eni and sdc == "keep"):
        describe.append("ec2:DescribeNetworkInterfaces")
    statements = [{
        "Sid": "DescribeTheRoutesAndTheTarget" if len(describe) > 1 else "DescribeTheRoutes",
        "Effect": "Allow",
        "Action": sorted(describe),
        "Resource": "*",
    }]
    if tables:
        statements.append({
            "Sid": "MoveTheVipRouteInTheListedTables",
            "Effect": "Allow",
            "Action": ["ec2:CreateRoute", "ec2:ReplaceRoute"] if create_missing else ["ec2:ReplaceRoute"],
            "Resource": [f"{prefix}:route-table/{rtb}" for rtb in tables],
        })
    if vpc_id:
        statements.append({
            "Sid": "MoveTheVipRouteInTheTablesOfTheVpc",
            "Effect": "Allow",
            "Action": ["ec2:ReplaceRoute"],
            "Resource": f"{prefix}:route-table/*",
            "Condition": _vpc_condition(f"{prefix}:vpc/{vpc_id}"),
        })
    if sdc != "keep":
        statement = {
            "Sid": "SetTheSourceDestCheckOfTheTarget",
            "Effect": "Allow",
            "Action": ["ec2:ModifyNetworkInterfaceAttribute"],
        }
        if enis:
            statement["Resource"] = [f"{prefix}:network-interface/{e}" for e in enis]
        elif vpc_id:
            statement["Resource"] = f"{prefix}:network-interface/*"
            statement["Condition"] = _vpc_condition(f"{prefix}:vpc/{vpc_id}")
        else:
            raise PolicyError("source_dest_check other than keep needs network_interface_ids (or "
                              "network_interface_id, or vpc_id) to scope ModifyNetworkInterfaceAttribute")
        statements.append(statement)
    statements.extend(_fence_statements(settings, prefix, fence_pairs))
    return {"Version": POLICY_VERSION, "Statement": statements}


def policy_actions(policy):
    """Every action a policy document allows, sorted (for tests and reports)."""
    actions = set()
    for statement in policy["Statement"]:
        if statement.get("Effect") == "Allow":
            action = statement["Action"]
            actions.update([action] if isinstance(action, str) else action)
    return sorted(actions)
