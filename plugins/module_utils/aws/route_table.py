# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Point a virtual IP's /32 route at one network interface in many VPC route tables.

One implementation, two entry points: the ``hapair.ha.route_table_failover`` module and the
node-side command (``route_failover_cli.py``) both call :func:`ensure_route_target`.

API calls for N tables: one target lookup (skipped when the caller already knows the target's
VPC and does not manage source/destination check), one DescribeRouteTables, one
ReplaceRoute/CreateRoute per table that needs it, one read-back DescribeRouteTables (only when
something changed; repeated only if EC2's eventual consistency still shows an old target).

The per-table calls run in parallel, at most ``max_concurrency`` at once
(:data:`DEFAULT_MAX_CONCURRENCY` by default), after the source/destination check change and
before the read-back; everything else is sequential. Results keep the plan's order. When a
table fails, no further table is started (the calls already in flight finish), and the error
names every table now pointing at the target, every failure with its reason and every table
not attempted. Throttled calls are retried with jittered backoff per thread before a table
counts as failed.
"""

from __future__ import annotations

import re
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.hapair.ha.plugins.module_utils.aws.common import (
    AwsError,
    call,
    wrap_client,
)

try:
    import netaddr
except ImportError:  # pragma: no cover - exercised by ansible-test's import sanity test
    HAS_NETADDR = False
    NETADDR_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_NETADDR = True
    NETADDR_IMPORT_ERROR = None

_ID_PATTERNS = {
    "route table": re.compile(r"^rtb-[0-9a-f]+$"),
    "VPC": re.compile(r"^vpc-[0-9a-f]+$"),
    "network interface": re.compile(r"^eni-[0-9a-f]+$"),
    "instance": re.compile(r"^i-[0-9a-f]+$"),
}

# Route target keys as DescribeRouteTables returns them, most specific first: an instance route
# carries both InstanceId and the instance's NetworkInterfaceId.
_TARGET_KEYS = (
    "NetworkInterfaceId",
    "InstanceId",
    "GatewayId",
    "NatGatewayId",
    "TransitGatewayId",
    "VpcPeeringConnectionId",
    "EgressOnlyInternetGatewayId",
    "LocalGatewayId",
    "CarrierGatewayId",
    "CoreNetworkArn",
)

READBACK_ATTEMPTS = 3
READBACK_DELAY = 1.0

SOURCE_DEST_CHECK_KEEP = None

#: How many ReplaceRoute/CreateRoute calls run at once by default.
#: EC2 throttles each API per account and Region with a token bucket: a burst up to the bucket's
#: capacity, then the refill rate; mutating actions such as ReplaceRoute and CreateRoute refill
#: more slowly than describe calls (Request throttling for the Amazon EC2 API:
#: https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html, "Request token
#: limits"; look up the current figures there). A failover switches a few to a few dozen tables,
#: well within a burst; 10 in flight at ~100 ms a call switch 50 tables in ~0.5 s instead of
#: ~5 s. More threads would spend the bucket faster without finishing sooner once the refill
#: rate sets the pace. Throttled calls are retried with jittered backoff (common.AwsClient).
#: 10 is also botocore's default connection pool size; make_client sizes the pool to the concurrency when higher.
DEFAULT_MAX_CONCURRENCY = 10

_NOT_ATTEMPTED = object()


def validate_vip(vip):
    """Return ``vip`` (an IPv4 address or IPv4 /32 CIDR) as ``a.b.c.d/32``; raise AwsError."""
    if not HAS_NETADDR:
        raise AwsError("the Python library netaddr is required")
    if not isinstance(vip, str) or not vip.strip():
        raise AwsError(f"vip must be an IPv4 address or /32 CIDR, got {vip!r}")
    text = vip.strip()
    address, sep, prefix = text.partition("/")
    try:
        ip = netaddr.IPAddress(address, flags=netaddr.INET_PTON)
    except (netaddr.AddrFormatError, ValueError, TypeError) as err:
        raise AwsError(f"vip {text!r} is not a valid IPv4 address") from err
    if ip.version != 4:
        raise AwsError(f"vip {text!r} is an IPv6 address; only IPv4 virtual IPs are supported")
    if sep and not re.match(r"^\d{1,2}$", prefix):
        raise AwsError(f"vip {text!r} has an invalid prefix length {prefix!r}; use a /32")
    if sep and int(prefix) != 32:
        raise AwsError(f"vip {text!r} is a /{int(prefix)} network; a virtual IP must be a single "
                       "address (/32)")
    if ip.is_loopback() or ip.is_multicast() or ip.is_link_local() or int(ip) in (0, 0xFFFFFFFF):
        raise AwsError(f"vip {text!r} is a loopback, multicast, link-local, unspecified or "
                       "broadcast address and cannot be routed in a VPC")
    return f"{ip}/32"


def _check_id(value, kind):
    if not isinstance(value, str) or not _ID_PATTERNS[kind].match(value):
        raise AwsError(f"invalid {kind} id {value!r}")
    return value


def validate_request(vip, route_table_ids=None, vpc_id=None, network_interface_id=None,
                     instance_id=None, target_vpc_id=None, require_target=True):
    """Check the arguments without any API call; return them normalised.

    ``require_target=False`` lets a caller check the rest before it knows the target."""
    request = {"vip": validate_vip(vip)}
    if route_table_ids is not None and not isinstance(route_table_ids, (list, tuple)):
        raise AwsError("route_table_ids must be a list of route table ids")
    ids = []
    for rtb in route_table_ids or []:
        _check_id(rtb, "route table")
        if rtb not in ids:
            ids.append(rtb)
    request["route_table_ids"] = ids
    request["vpc_id"] = _check_id(vpc_id, "VPC") if vpc_id else None
    if not ids and not request["vpc_id"]:
        raise AwsError("give route_table_ids and/or vpc_id")
    if (require_target or network_interface_id or instance_id) and bool(network_interface_id) == bool(instance_id):
        raise AwsError("give exactly one of network_interface_id and instance_id")
    request["network_interface_id"] = (_check_id(network_interface_id, "network interface")
                                       if network_interface_id else None)
    request["instance_id"] = _check_id(instance_id, "instance") if instance_id else None
    request["target_vpc_id"] = _check_id(target_vpc_id, "VPC") if target_vpc_id else None
    return request


def resolve_target(client, network_interface_id=None, instance_id=None):
    """Describe the target; return ``{network_interface_id, instance_id, vpc_id,
    source_dest_check, status}``. An instance resolves to its primary (device 0) interface."""
    if instance_id:
        response = call(client, "describe_instances", f"cannot describe instance {instance_id}",
                        InstanceIds=[instance_id])
        instances = [i for r in response.get("Reservations", []) for i in r.get("Instances", [])]
        if not instances:
            raise AwsError(f"instance {instance_id} not found")
        instance = instances[0]
        state = (instance.get("State") or {}).get("Name")
        primary = [eni for eni in instance.get("NetworkInterfaces", [])
                   if (eni.get("Attachment") or {}).get("DeviceIndex") == 0]
        if not primary:
            raise AwsError(f"instance {instance_id} (state {state}) has no primary network interface")
        eni = primary[0]
        return {
            "network_interface_id": eni["NetworkInterfaceId"],
            "instance_id": instance_id,
            "vpc_id": eni.get("VpcId") or instance.get("VpcId"),
            "source_dest_check": eni.get("SourceDestCheck"),
            "status": eni.get("Status"),
        }
    response = call(client, "describe_network_interfaces",
                    f"cannot describe network interface {network_interface_id}",
                    NetworkInterfaceIds=[network_interface_id])
    found = response.get("NetworkInterfaces", [])
    if not found:
        raise AwsError(f"network interface {network_interface_id} not found")
    eni = found[0]
    return {
        "network_interface_id": network_interface_id,
        "instance_id": (eni.get("Attachment") or {}).get("InstanceId"),
        "vpc_id": eni.get("VpcId"),
        "source_dest_check": eni.get("SourceDestCheck"),
        "status": eni.get("Status"),
    }


def _describe_route_tables(client, action, **params):
    """DescribeRouteTables, following NextToken if AWS paginates (it does not by default)."""
    tables = []
    while True:
        response = call(client, "describe_route_tables", action, **params)
        tables.extend(response.get("RouteTables", []))
        token = response.get("NextToken")
        if not token:
            return tables
        params["NextToken"] = token


def describe_route_tables(client, vip, route_table_ids, vpc_id):
    """ONE DescribeRouteTables for every table the request concerns.

    Only the filters vpc-id and route.destination-cidr-block are used: every EC2-compatible
    endpoint implements them. The route's target and state are read from the response.
    """
    if vpc_id and route_table_ids:
        # Both: every table of the VPC, so the listed ones are checked and the others discovered.
        filters = [{"Name": "vpc-id", "Values": [vpc_id]}]
        return _describe_route_tables(client, f"cannot describe the route tables of {vpc_id}", Filters=filters)
    if vpc_id:
        filters = [{"Name": "vpc-id", "Values": [vpc_id]},
                   {"Name": "route.destination-cidr-block", "Values": [vip]}]
        return _describe_route_tables(client, f"cannot describe the route tables of {vpc_id}", Filters=filters)
    try:
        return _describe_route_tables(client, "cannot describe route tables", RouteTableIds=list(route_table_ids))
    except AwsError as err:
        if err.details.get("error_code") == "InvalidRouteTableID.NotFound":
            raise AwsError(f"route table not found: {err}", details=err.details) from err
        raise


def find_route(table, vip):
    """The IPv4 route of ``table`` whose destination is ``vip`` (``a.b.c.d/32``), or None."""
    for route in table.get("Routes", []):
        if route.get("DestinationCidrBlock") == vip:
            return route
    return None


def route_target(route):
    """The id a route points at (an ENI, instance, gateway...), or None."""
    if not route:
        return None
    for key in _TARGET_KEYS:
        if route.get(key):
            return route[key]
    return None


def plan(vip, target, tables, route_table_ids=None, vpc_id=None, create_missing=False,
         source_dest_check=False):
    """Decide what to change; pure (no API call). Raise AwsError listing every problem found.

    ``tables`` is DescribeRouteTables' ``RouteTables``; ``target`` is :func:`resolve_target`'s
    result. Returns ``{"route_tables": [...], "source_dest_check": {...}}``.
    """
    eni = target["network_interface_id"]
    target_vpc = target.get("vpc_id")
    route_table_ids = list(route_table_ids or [])
    problems = []

    if target.get("status") == "available":
        problems.append(f"network interface {eni} is not attached to an instance (status available): "
                        "a route to it would be a blackhole")
    vpc_mismatch = bool(vpc_id and target_vpc and target_vpc != vpc_id)
    if vpc_mismatch:
        problems.append(f"network interface {eni} is in {target_vpc}, not in {vpc_id}")

    by_id = {t.get("RouteTableId"): t for t in tables}
    selected = []
    missing = [rtb for rtb in route_table_ids if rtb not in by_id]
    if missing:
        where = f" in {vpc_id}" if vpc_id else ""
        problems.append(f"route table(s) not found{where}: {', '.join(missing)}")
    selected.extend(by_id[rtb] for rtb in route_table_ids if rtb in by_id)
    if vpc_id:
        discovered = sorted((t for t in tables if t.get("RouteTableId") not in route_table_ids
                             and find_route(t, vip) is not None),
                            key=lambda t: t.get("RouteTableId"))
        selected.extend(discovered)
        if not selected and not missing:
            problems.append(f"no route table in {vpc_id} has a route for {vip}")

    entries = []
    for table in selected:
        rtb = table.get("RouteTableId")
        if target_vpc and table.get("VpcId") != target_vpc:
            if vpc_mismatch:  # already reported once for the whole VPC
                continue
            problems.append(f"route table {rtb} is in {table.get('VpcId')}, but the target {eni} "
                            f"is in {target_vpc}")
            continue
        route = find_route(table, vip)
        if route is None:
            if not create_missing:
                problems.append(f"route table {rtb} has no route for {vip} (set create_missing to add it)")
                continue
            action = "create"
        elif route.get("NetworkInterfaceId") == eni and route.get("State") != "blackhole":
            action = "none"
        else:
            action = "replace"
        entries.append({
            "route_table_id": rtb,
            "previous_target": route_target(route),
            "previous_state": route.get("State") if route else None,
            "new_target": eni,
            "changed": action != "none",
            "action": action,
        })

    if problems:
        raise AwsError("; ".join(problems), details={"problems": problems})

    current = target.get("source_dest_check")
    if source_dest_check is SOURCE_DEST_CHECK_KEEP:
        sdc = {"network_interface_id": eni, "previous": current, "desired": None, "changed": False}
    else:
        desired = bool(source_dest_check)
        sdc = {"network_interface_id": eni, "previous": current, "desired": desired,
               "changed": current is not None and current != desired}
        if current is None:
            # Unknown (target not described): set it; the call is idempotent.
            sdc["changed"] = True
    return {"route_tables": entries, "source_dest_check": sdc}


def validate_max_concurrency(value):
    """Return ``value`` if it is an integer >= 1; raise AwsError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AwsError(f"max_concurrency must be an integer of at least 1, got {value!r}")
    return value


def _change_route(client, vip, eni, entry):
    """One table's ReplaceRoute, or CreateRoute (falling back to ReplaceRoute); raise AwsError."""
    rtb = entry["route_table_id"]
    params = {"RouteTableId": rtb, "DestinationCidrBlock": vip, "NetworkInterfaceId": eni}
    if entry["action"] == "create":
        try:
            call(client, "create_route", f"cannot create the route {vip} in {rtb}", **params)
            return
        except AwsError as err:
            # Someone added it since we looked (or a retried call already did): replace.
            if err.details.get("error_code") != "RouteAlreadyExists":
                raise
    call(client, "replace_route", f"cannot replace the route {vip} in {rtb}", **params)


def _partial_failure(eni, the_plan, done, failures, not_attempted, sdc_error=None):
    """The AwsError of a failed apply: which tables point at ``eni`` now, which failed and why,
    which were not attempted. ``failures`` is ``[(route table id, AwsError)]`` in plan order;
    ``sdc_error`` is the source/destination check change's error (then no table was tried)."""
    pointing = [e["route_table_id"] for e in the_plan["route_tables"]
                if not e["changed"] or e["route_table_id"] in done]
    errors = [sdc_error] if sdc_error is not None else [err for _rtb, err in failures]
    if len(errors) == 1:
        msg = str(errors[0])
    else:
        msg = f"{len(errors)} route tables failed: " + "; ".join(str(err) for err in errors)
    if not done:
        msg += "; no table was changed"
    if pointing:
        msg += f"; already pointing at {eni}: {', '.join(pointing)}"
    if not_attempted:
        msg += f"; not attempted (stopped after the first failure): {', '.join(not_attempted)}"
    details = dict(errors[0].details)  # error_code: the first failure's, in plan order
    details.update(
        changed_route_tables=list(done),
        pointing_route_tables=pointing,
        failed_route_table=failures[0][0] if failures else None,
        failed_route_tables=[{"route_table_id": rtb, "msg": str(err), "error_code": err.details.get("error_code")}
                             for rtb, err in failures],
        not_attempted_route_tables=list(not_attempted),
    )
    return AwsError(msg, details=details)


def _apply(client, vip, the_plan, max_concurrency=DEFAULT_MAX_CONCURRENCY):
    """Make the planned changes: source/destination check first, then one call per table,
    up to ``max_concurrency`` tables at once. Return the changed tables in plan order.

    After the first failure no further table is started; the calls in flight finish and every
    outcome is reported in one AwsError (see :func:`_partial_failure`).
    """
    sdc = the_plan["source_dest_check"]
    eni = sdc["network_interface_id"]
    work = [e for e in the_plan["route_tables"] if e["changed"]]
    if sdc["changed"]:
        try:
            call(client, "modify_network_interface_attribute",
                 f"cannot set source/destination check of {eni} to {sdc['desired']}",
                 NetworkInterfaceId=eni, SourceDestCheck={"Value": sdc["desired"]})
        except AwsError as err:
            raise _partial_failure(eni, the_plan, [], [], [e["route_table_id"] for e in work],
                                   sdc_error=err) from err
    if not work:
        return []

    stop = threading.Event()

    def change(entry):
        if stop.is_set():
            return _NOT_ATTEMPTED
        try:
            _change_route(client, vip, eni, entry)
        except AwsError as err:  # reported below, with every other outcome
            stop.set()
            return err
        except BaseException:  # a bug, not an AWS answer: stop the others, re-raised below
            stop.set()
            raise
        return None

    workers = min(validate_max_concurrency(max_concurrency), len(work))
    if workers == 1:
        outcomes = [change(entry) for entry in work]  # no thread needed: same order, same thread
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hapair-route") as pool:
            futures = [pool.submit(change, entry) for entry in work]
        # The pool has been shut down: every future is done. result() re-raises the unexpected.
        outcomes = [future.result() for future in futures]

    done, failures, not_attempted = [], [], []
    for entry, outcome in zip(work, outcomes):
        rtb = entry["route_table_id"]
        if outcome is None:
            done.append(rtb)
        elif outcome is _NOT_ATTEMPTED:
            not_attempted.append(rtb)
        else:
            failures.append((rtb, outcome))
    if failures:
        raise _partial_failure(eni, the_plan, done, failures, not_attempted) from failures[0][1]
    return done


def _verify(client, vip, eni, route_table_ids, attempts=READBACK_ATTEMPTS, delay=READBACK_DELAY,
            sleep=time.sleep):
    """Read every table back (one call) and raise unless all route ``vip`` to ``eni``.

    EC2 is eventually consistent, so a table still showing the old target is read again
    (up to ``attempts`` calls in all) before this gives up.
    """
    wrong = {}
    for attempt in range(1, attempts + 1):
        tables = _describe_route_tables(client, "cannot read the route tables back",
                                        RouteTableIds=list(route_table_ids))
        found = {t.get("RouteTableId"): t for t in tables}
        wrong = {}
        for rtb in route_table_ids:
            route = find_route(found.get(rtb, {}), vip)
            if route is None or route.get("NetworkInterfaceId") != eni:
                wrong[rtb] = route_target(route)
        if not wrong:
            return
        if attempt < attempts:
            sleep(delay * attempt)
    listing = ", ".join(f"{rtb} -> {tgt or 'no route'}" for rtb, tgt in sorted(wrong.items()))
    raise AwsError(f"read-back after the change: {len(wrong)} table(s) do not route {vip} to {eni}: {listing}",
                   details={"mismatched_route_tables": wrong})


def _state(vip, the_plan, route_key, sdc_key):
    sdc = the_plan["source_dest_check"]
    result = {"vip": vip,
              "route_tables": {e["route_table_id"]: e[route_key] for e in the_plan["route_tables"]}}
    if sdc["desired"] is not None:
        result["source_dest_check"] = {sdc["network_interface_id"]: sdc[sdc_key]}
    return result


def ensure_route_target(client, vip, route_table_ids=None, vpc_id=None, network_interface_id=None,
                        instance_id=None, create_missing=False, source_dest_check=False,
                        check_mode=False, target_vpc_id=None, readback_attempts=READBACK_ATTEMPTS,
                        readback_delay=READBACK_DELAY, sleep=time.sleep,
                        max_concurrency=DEFAULT_MAX_CONCURRENCY):
    """Make every selected route table route ``vip`` to the target network interface.

    ``client`` is an EC2 client (botocore, or an AwsClient from ``make_client``).
    ``source_dest_check``: True/False is enforced on the target interface; None leaves it alone.
    ``target_vpc_id``: the target's VPC when already known from a trusted source (IMDS on the
    node itself); with ``network_interface_id`` and ``source_dest_check=None`` it saves the
    target lookup, so N tables cost at most N+2 calls.
    ``max_concurrency``: how many tables are changed at once (an integer >= 1; the client's
    connection pool should be at least that large, as ``make_client(max_concurrency=...)`` makes it).
    Everything is validated before the first change. Returns the result dict (see the module's
    RETURN); ``diff`` holds ``before``/``after``.
    """
    request = validate_request(vip, route_table_ids, vpc_id, network_interface_id, instance_id, target_vpc_id)
    vip = request["vip"]
    validate_max_concurrency(max_concurrency)
    client = wrap_client(client, sleep=sleep)
    calls_before = client.api_calls

    if (request["network_interface_id"] and request["target_vpc_id"]
            and source_dest_check is SOURCE_DEST_CHECK_KEEP):
        target = {"network_interface_id": request["network_interface_id"], "instance_id": None,
                  "vpc_id": request["target_vpc_id"], "source_dest_check": None, "status": None}
    else:
        target = resolve_target(client, request["network_interface_id"], request["instance_id"])
        if request["target_vpc_id"] and target["vpc_id"] != request["target_vpc_id"]:
            raise AwsError(f"network interface {target['network_interface_id']} is in {target['vpc_id']}, "
                           f"not in {request['target_vpc_id']}")
    tables = describe_route_tables(client, vip, request["route_table_ids"], request["vpc_id"])
    the_plan = plan(vip, target, tables, request["route_table_ids"], request["vpc_id"],
                    create_missing=create_missing, source_dest_check=source_dest_check)
    changed = the_plan["source_dest_check"]["changed"] or any(e["changed"] for e in the_plan["route_tables"])

    if changed and not check_mode:
        _apply(client, vip, the_plan, max_concurrency=max_concurrency)
        if any(e["changed"] for e in the_plan["route_tables"]):
            _verify(client, vip, target["network_interface_id"],
                    [e["route_table_id"] for e in the_plan["route_tables"]],
                    attempts=readback_attempts, delay=readback_delay, sleep=sleep)

    return {
        "changed": changed,
        "vip": vip,
        "network_interface_id": target["network_interface_id"],
        "instance_id": target.get("instance_id"),
        "vpc_id": target.get("vpc_id"),
        "route_tables": the_plan["route_tables"],
        "source_dest_check": the_plan["source_dest_check"],
        "api_calls": client.api_calls - calls_before,
        "diff": {
            "before": _state(vip, the_plan, "previous_target", "previous"),
            "after": _state(vip, the_plan, "new_target", "desired"),
        },
    }
