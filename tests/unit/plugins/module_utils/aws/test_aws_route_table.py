"""Unit tests for plugins/module_utils/aws/route_table.py.

Stubbed EC2 (botocore's Stubber): every request must have been queued, with exact parameters,
so these tests pin the API call sequence and count; a mutating call that is not queued fails
the test. The Stubber answers strictly in queue order and is not made for threads, so these
tests change one table at a time (``max_concurrency=1``). The parallel path is tested with
``FakeEc2`` (aws_stubs.py), a thread-safe fake that records what is in flight, and end to end
against moto in-process at the default concurrency.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

import pytest

from aws_stubs import (
    ENI_A,
    ENI_B,
    INSTANCE_B,
    OTHER_VPC,
    THROTTLED,
    VIP,
    VPC,
    FakeEc2,
    eni,
    route,
    rtb,
    table,
    targets,
)

from ansible_collections.hapair.ha.plugins.module_utils.aws.common import (
    DEFAULT_MAX_ATTEMPTS,
    AwsClient,
    AwsError,
)
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_table import (
    DEFAULT_MAX_CONCURRENCY,
    ensure_route_target,
    plan,
    route_target,
    validate_request,
    validate_vip,
)

MUTATING = {"replace_route", "create_route", "modify_network_interface_attribute"}


def no_sleep(_seconds):
    return None


def queue_eni(stubber, data=None, eni_id=ENI_B):
    stubber.add_response("describe_network_interfaces", {"NetworkInterfaces": [data or eni()]},
                         {"NetworkInterfaceIds": [eni_id]})


def queue_tables(stubber, tables, ids):
    stubber.add_response("describe_route_tables", {"RouteTables": tables}, {"RouteTableIds": list(ids)})


def queue_replace(stubber, rt, target=ENI_B):
    stubber.add_response("replace_route", {},
                         {"RouteTableId": rt, "DestinationCidrBlock": VIP, "NetworkInterfaceId": target})


def run(client, **kwargs):
    kwargs.setdefault("network_interface_id", ENI_B)
    kwargs.setdefault("sleep", no_sleep)
    kwargs.setdefault("max_concurrency", 1)  # the Stubber answers in queue order
    wrapped = AwsClient(client, sleep=no_sleep)
    result = ensure_route_target(wrapped, kwargs.pop("vip", VIP), **kwargs)
    return result, wrapped


# ---- validate_vip -------------------------------------------------------------------------


@pytest.mark.parametrize("vip, expected", [
    ("10.1.0.10", "10.1.0.10/32"),
    ("10.1.0.10/32", "10.1.0.10/32"),
    (" 10.1.0.10 ", "10.1.0.10/32"),
    ("192.168.255.1/32", "192.168.255.1/32"),
])
def test_validate_vip_accepts_an_address_or_a_32(vip, expected):
    assert validate_vip(vip) == expected


@pytest.mark.parametrize("vip, message", [
    ("10.1.0.0/24", "is a /24 network"),
    ("10.1.0.10/31", "is a /31 network"),
    ("10.1.0.10/0", "is a /0 network"),
    ("10.1.0.10/33", "is a /33 network"),
    ("10.1.0.10/", "invalid prefix length"),
    ("10.1.0.10/32x", "invalid prefix length"),
    ("10.1.0.10/255.255.255.255", "invalid prefix length"),
    ("10.1.0.256", "not a valid IPv4 address"),
    ("10.1", "not a valid IPv4 address"),
    ("010.1.0.10", "not a valid IPv4 address"),
    ("vip.example.com", "not a valid IPv4 address"),
    ("fd00::10", "IPv6"),
    ("fd00::10/128", "IPv6"),
    ("127.0.0.1", "loopback"),
    ("224.0.0.18", "multicast"),
    ("169.254.169.254", "link-local"),
    ("0.0.0.0", "unspecified"),
    ("255.255.255.255/32", "broadcast"),
    ("", "must be an IPv4 address"),
    ("   ", "must be an IPv4 address"),
    (None, "must be an IPv4 address"),
    (168886282, "must be an IPv4 address"),
])
def test_validate_vip_rejects_everything_else(vip, message):
    with pytest.raises(AwsError) as caught:
        validate_vip(vip)
    assert message in str(caught.value)


@pytest.mark.parametrize("kwargs, message", [
    ({}, "route_table_ids and/or vpc_id"),
    ({"route_table_ids": []}, "route_table_ids and/or vpc_id"),
    ({"route_table_ids": "rtb-0123"}, "must be a list"),
    ({"route_table_ids": ["rtb-0123", "subnet-1"]}, "invalid route table id 'subnet-1'"),
    ({"route_table_ids": [None]}, "invalid route table id None"),
    ({"vpc_id": "vpc_123"}, "invalid VPC id"),
    ({"vpc_id": VPC, "network_interface_id": None}, "exactly one of"),
    ({"vpc_id": VPC, "instance_id": INSTANCE_B}, "exactly one of"),
    ({"vpc_id": VPC, "network_interface_id": "i-0123"}, "invalid network interface id"),
    ({"vpc_id": VPC, "network_interface_id": None, "instance_id": "eni-0123"}, "invalid instance id"),
])
def test_validate_request_rejects_bad_arguments(kwargs, message):
    kwargs.setdefault("network_interface_id", ENI_B)
    with pytest.raises(AwsError) as caught:
        validate_request(VIP, **kwargs)
    assert message in str(caught.value)


def test_validate_request_deduplicates_tables_in_order():
    request = validate_request("10.1.0.10", route_table_ids=[rtb(2), rtb(1), rtb(2)], network_interface_id=ENI_B)
    assert request["route_table_ids"] == [rtb(2), rtb(1)]
    assert request["vip"] == VIP


@pytest.mark.parametrize("data, expected", [
    (route(ENI_A), ENI_A),
    ({**route(ENI_A), "InstanceId": "i-0aaa"}, ENI_A),
    (route("i-0aaa", key="InstanceId"), "i-0aaa"),
    (route("igw-0aaa", key="GatewayId"), "igw-0aaa"),
    (route("tgw-0aaa", key="TransitGatewayId"), "tgw-0aaa"),
    (route(None, state="blackhole"), None),
    (None, None),
])
def test_route_target(data, expected):
    assert route_target(data) == expected


# ---- plan (pure) --------------------------------------------------------------------------

TARGET = {"network_interface_id": ENI_B, "instance_id": INSTANCE_B, "vpc_id": VPC, "source_dest_check": False,
          "status": "in-use"}


@pytest.mark.parametrize("routes, create_missing, action, previous", [
    ([route(ENI_A)], False, "replace", ENI_A),
    ([route(ENI_B)], False, "none", ENI_B),
    ([route(ENI_B, state="blackhole")], False, "replace", ENI_B),
    ([route(ENI_A, state="blackhole")], False, "replace", ENI_A),
    ([route("i-0aaaaaaaaaaaaaaa1", key="InstanceId")], False, "replace", "i-0aaaaaaaaaaaaaaa1"),
    ([route("igw-0aaaaaaaaaaaaaaa1", key="GatewayId")], False, "replace", "igw-0aaaaaaaaaaaaaaa1"),
    ([route(None, state="blackhole")], False, "replace", None),
    ([], True, "create", None),
    ([route(ENI_A, dest="10.1.0.11/32")], True, "create", None),
])
def test_plan_decides_per_table(routes, create_missing, action, previous):
    result = plan(VIP, TARGET, [table(rtb(1), *routes)], [rtb(1)], create_missing=create_missing)
    [entry] = result["route_tables"]
    assert entry["action"] == action
    assert entry["changed"] is (action != "none")
    assert entry["previous_target"] == previous
    assert entry["new_target"] == ENI_B


@pytest.mark.parametrize("target, tables, kwargs, messages", [
    (TARGET, [table(rtb(1))], {}, ["rtb-00000000000000001 has no route for 10.1.0.10/32"]),
    (TARGET, [table(rtb(1), route(ENI_A), vpc=OTHER_VPC)], {}, [f"is in {OTHER_VPC}, but the target"]),
    (TARGET, [table(rtb(1), route(ENI_A))], {"route_table_ids": [rtb(1), rtb(2)]},
     ["route table(s) not found: rtb-00000000000000002"]),
    (TARGET, [table(rtb(1), route(ENI_A))], {"route_table_ids": [rtb(2)], "vpc_id": VPC},
     [f"not found in {VPC}: rtb-00000000000000002"]),
    (TARGET, [], {"route_table_ids": [], "vpc_id": VPC}, [f"no route table in {VPC} has a route"]),
    ({**TARGET, "vpc_id": OTHER_VPC}, [table(rtb(1), route(ENI_A))], {"route_table_ids": [], "vpc_id": VPC},
     [f"is in {OTHER_VPC}, not in {VPC}"]),
    ({**TARGET, "status": "available"}, [table(rtb(1), route(ENI_A))], {}, ["not attached"]),
    # Every problem is reported at once.
    (TARGET, [table(rtb(1)), table(rtb(2), route(ENI_A), vpc=OTHER_VPC)], {"route_table_ids": [rtb(1), rtb(2)]},
     ["rtb-00000000000000001 has no route", "rtb-00000000000000002 is in"]),
])
def test_plan_rejects_invalid_states(target, tables, kwargs, messages):
    kwargs.setdefault("route_table_ids", [rtb(1)])
    with pytest.raises(AwsError) as caught:
        plan(VIP, target, tables, **kwargs)
    for message in messages:
        assert message in str(caught.value)
    assert len(caught.value.details["problems"]) == len(messages)


def test_plan_with_vpc_and_ids_adds_discovered_tables_after_listed_ones():
    tables = [table(rtb(3), route(ENI_A)), table(rtb(1)), table(rtb(2), route(ENI_B)), table(rtb(4))]
    result = plan(VIP, TARGET, tables, [rtb(1)], vpc_id=VPC, create_missing=True)
    assert [(e["route_table_id"], e["action"]) for e in result["route_tables"]] == [
        (rtb(1), "create"), (rtb(2), "none"), (rtb(3), "replace")]


@pytest.mark.parametrize("current, desired, changed", [
    (True, False, True),
    (False, False, False),
    (False, True, True),
    (True, None, False),   # None: leave it alone
    (None, None, False),
    (None, False, True),   # unknown: set it
])
def test_plan_source_dest_check(current, desired, changed):
    target = {**TARGET, "source_dest_check": current}
    result = plan(VIP, target, [table(rtb(1), route(ENI_B))], [rtb(1)], source_dest_check=desired)
    assert result["source_dest_check"] == {"network_interface_id": ENI_B, "previous": current,
                                           "desired": desired, "changed": changed}


# ---- ensure_route_target: exact API sequences ---------------------------------------------


@pytest.mark.parametrize("n", [1, 3, 50])
def test_n_tables_cost_exactly_n_plus_3_calls(ec2, n):
    client, stubber = ec2
    ids = [rtb(i) for i in range(1, n + 1)]
    queue_eni(stubber)
    queue_tables(stubber, [table(i, route(ENI_A)) for i in ids], ids)
    for i in ids:
        queue_replace(stubber, i)
    queue_tables(stubber, [table(i, route(ENI_B)) for i in ids], ids)

    result, wrapped = run(client, route_table_ids=ids)

    stubber.assert_no_pending_responses()
    assert result["changed"] is True
    assert result["api_calls"] == wrapped.api_calls == n + 3
    assert wrapped.calls == (["describe_network_interfaces", "describe_route_tables"] + ["replace_route"] * n
                             + ["describe_route_tables"])
    assert [e["route_table_id"] for e in result["route_tables"]] == ids
    assert all(e["previous_target"] == ENI_A and e["new_target"] == ENI_B and e["action"] == "replace"
               for e in result["route_tables"])
    assert result["source_dest_check"]["changed"] is False
    assert result["diff"]["before"]["route_tables"] == {i: ENI_A for i in ids}
    assert result["diff"]["after"]["route_tables"] == {i: ENI_B for i in ids}


def test_known_target_vpc_without_source_dest_check_costs_n_plus_2(ec2):
    """The node-side path: ENI and VPC come from IMDS, so there is no target lookup."""
    client, stubber = ec2
    ids = [rtb(1), rtb(2)]
    queue_tables(stubber, [table(i, route(ENI_A)) for i in ids], ids)
    for i in ids:
        queue_replace(stubber, i)
    queue_tables(stubber, [table(i, route(ENI_B)) for i in ids], ids)

    result, wrapped = run(client, route_table_ids=ids, source_dest_check=None, target_vpc_id=VPC)

    stubber.assert_no_pending_responses()
    assert wrapped.api_calls == result["api_calls"] == len(ids) + 2
    assert result["vpc_id"] == VPC


def test_known_target_vpc_still_checks_table_vpcs(ec2):
    client, stubber = ec2
    queue_tables(stubber, [table(rtb(1), route(ENI_A), vpc=OTHER_VPC)], [rtb(1)])
    with pytest.raises(AwsError, match="is in vpc-0bbbbbbbbbbbbbbb2, but the target"):
        run(client, route_table_ids=[rtb(1)], source_dest_check=None, target_vpc_id=VPC)
    stubber.assert_no_pending_responses()


def test_already_pointing_is_idempotent_no_mutation_no_readback(ec2):
    client, stubber = ec2
    ids = [rtb(1), rtb(2)]
    queue_eni(stubber)
    queue_tables(stubber, [table(i, route(ENI_B)) for i in ids], ids)

    result, wrapped = run(client, route_table_ids=ids)

    stubber.assert_no_pending_responses()
    assert result["changed"] is False
    assert not MUTATING & set(wrapped.calls)
    assert wrapped.api_calls == 2
    assert [e["action"] for e in result["route_tables"]] == ["none", "none"]


def test_only_tables_needing_it_are_replaced(ec2):
    client, stubber = ec2
    ids = [rtb(1), rtb(2), rtb(3)]
    queue_eni(stubber)
    queue_tables(stubber, [table(rtb(1), route(ENI_B)), table(rtb(2), route(ENI_A)),
                           table(rtb(3), route(ENI_B, state="blackhole"))], ids)
    queue_replace(stubber, rtb(2))
    queue_replace(stubber, rtb(3))
    queue_tables(stubber, [table(i, route(ENI_B)) for i in ids], ids)

    result, wrapped = run(client, route_table_ids=ids)

    stubber.assert_no_pending_responses()
    assert [e["changed"] for e in result["route_tables"]] == [False, True, True]
    assert wrapped.calls.count("replace_route") == 2


def test_blackholed_route_is_replaced(ec2):
    client, stubber = ec2
    queue_eni(stubber)
    queue_tables(stubber, [table(rtb(1), route(None, state="blackhole"))], [rtb(1)])
    queue_replace(stubber, rtb(1))
    queue_tables(stubber, [table(rtb(1), route(ENI_B))], [rtb(1)])

    result, _wrapped = run(client, route_table_ids=[rtb(1)])

    stubber.assert_no_pending_responses()
    assert result["route_tables"][0]["previous_state"] == "blackhole"
    assert result["route_tables"][0]["action"] == "replace"


def test_check_mode_reports_the_plan_and_mutates_nothing(ec2):
    client, stubber = ec2
    ids = [rtb(1), rtb(2)]
    queue_eni(stubber, eni(sdc=True))
    queue_tables(stubber, [table(rtb(1), route(ENI_A)), table(rtb(2))], ids)

    result, wrapped = run(client, route_table_ids=ids, create_missing=True, check_mode=True)

    stubber.assert_no_pending_responses()
    assert result["changed"] is True
    assert [e["action"] for e in result["route_tables"]] == ["replace", "create"]
    assert result["source_dest_check"]["changed"] is True
    assert not MUTATING & set(wrapped.calls)
    assert wrapped.api_calls == 2


def test_create_missing_and_source_dest_check_order(ec2):
    client, stubber = ec2
    ids = [rtb(1), rtb(2)]
    queue_eni(stubber, eni(sdc=True))
    queue_tables(stubber, [table(rtb(1), route(ENI_A)), table(rtb(2))], ids)
    stubber.add_response("modify_network_interface_attribute", {},
                         {"NetworkInterfaceId": ENI_B, "SourceDestCheck": {"Value": False}})
    queue_replace(stubber, rtb(1))
    stubber.add_response("create_route", {"Return": True},
                         {"RouteTableId": rtb(2), "DestinationCidrBlock": VIP, "NetworkInterfaceId": ENI_B})
    queue_tables(stubber, [table(i, route(ENI_B)) for i in ids], ids)

    result, wrapped = run(client, route_table_ids=ids, create_missing=True)

    stubber.assert_no_pending_responses()
    assert wrapped.calls[2:5] == ["modify_network_interface_attribute", "replace_route", "create_route"]
    assert result["source_dest_check"] == {"network_interface_id": ENI_B, "previous": True, "desired": False,
                                           "changed": True}
    assert result["diff"]["before"]["source_dest_check"] == {ENI_B: True}
    assert result["diff"]["after"]["source_dest_check"] == {ENI_B: False}
    assert result["diff"]["before"]["route_tables"][rtb(2)] is None


def test_create_that_races_falls_back_to_replace(ec2):
    client, stubber = ec2
    queue_eni(stubber)
    queue_tables(stubber, [table(rtb(1))], [rtb(1)])
    stubber.add_client_error("create_route", "RouteAlreadyExists", "exists")
    queue_replace(stubber, rtb(1))
    queue_tables(stubber, [table(rtb(1), route(ENI_B))], [rtb(1)])
    result, _wrapped = run(client, route_table_ids=[rtb(1)], create_missing=True)
    stubber.assert_no_pending_responses()
    assert result["changed"] is True


def test_instance_resolves_to_its_primary_eni(ec2):
    client, stubber = ec2
    stubber.add_response("describe_instances", {"Reservations": [{"Instances": [{
        "InstanceId": INSTANCE_B, "VpcId": VPC, "State": {"Name": "running"},
        "NetworkInterfaces": [
            {"NetworkInterfaceId": "eni-0ccccccccccccccc3", "VpcId": VPC, "SourceDestCheck": True,
             "Status": "in-use", "Attachment": {"DeviceIndex": 1}},
            {"NetworkInterfaceId": ENI_B, "VpcId": VPC, "SourceDestCheck": False, "Status": "in-use",
             "Attachment": {"DeviceIndex": 0}},
        ]}]}]}, {"InstanceIds": [INSTANCE_B]})
    queue_tables(stubber, [table(rtb(1), route(ENI_A))], [rtb(1)])
    queue_replace(stubber, rtb(1))
    queue_tables(stubber, [table(rtb(1), route(ENI_B))], [rtb(1)])

    result, _wrapped = run(client, route_table_ids=[rtb(1)], network_interface_id=None, instance_id=INSTANCE_B)

    stubber.assert_no_pending_responses()
    assert result["network_interface_id"] == ENI_B
    assert result["instance_id"] == INSTANCE_B


def test_vpc_discovery_uses_only_moto_safe_filters(ec2):
    client, stubber = ec2
    queue_eni(stubber)
    stubber.add_response("describe_route_tables", {"RouteTables": [table(rtb(2), route(ENI_A))]},
                         {"Filters": [{"Name": "vpc-id", "Values": [VPC]},
                                      {"Name": "route.destination-cidr-block", "Values": [VIP]}]})
    queue_replace(stubber, rtb(2))
    queue_tables(stubber, [table(rtb(2), route(ENI_B))], [rtb(2)])

    result, wrapped = run(client, vpc_id=VPC)

    stubber.assert_no_pending_responses()
    assert [e["route_table_id"] for e in result["route_tables"]] == [rtb(2)]
    assert wrapped.api_calls == 4


def test_vpc_and_listed_tables_share_one_describe(ec2):
    client, stubber = ec2
    queue_eni(stubber)
    stubber.add_response("describe_route_tables",
                         {"RouteTables": [table(rtb(1)), table(rtb(2), route(ENI_B)), table(rtb(3))]},
                         {"Filters": [{"Name": "vpc-id", "Values": [VPC]}]})
    stubber.add_response("create_route", {"Return": True},
                         {"RouteTableId": rtb(1), "DestinationCidrBlock": VIP, "NetworkInterfaceId": ENI_B})
    queue_tables(stubber, [table(rtb(1), route(ENI_B)), table(rtb(2), route(ENI_B))], [rtb(1), rtb(2)])

    result, _wrapped = run(client, vpc_id=VPC, route_table_ids=[rtb(1)], create_missing=True)

    stubber.assert_no_pending_responses()
    assert [(e["route_table_id"], e["action"]) for e in result["route_tables"]] == [
        (rtb(1), "create"), (rtb(2), "none")]


def test_pagination_is_followed(ec2):
    client, stubber = ec2
    filters = [{"Name": "vpc-id", "Values": [VPC]}, {"Name": "route.destination-cidr-block", "Values": [VIP]}]
    queue_eni(stubber)
    stubber.add_response("describe_route_tables", {"RouteTables": [table(rtb(1), route(ENI_B))], "NextToken": "t1"},
                         {"Filters": filters})
    stubber.add_response("describe_route_tables", {"RouteTables": [table(rtb(2), route(ENI_B))]},
                         {"Filters": filters, "NextToken": "t1"})
    result, _wrapped = run(client, vpc_id=VPC)
    stubber.assert_no_pending_responses()
    assert [e["route_table_id"] for e in result["route_tables"]] == [rtb(1), rtb(2)]


# ---- retries ------------------------------------------------------------------------------


def test_throttled_replace_is_retried_then_succeeds(ec2):
    client, stubber = ec2
    sleeps = []
    queue_eni(stubber)
    queue_tables(stubber, [table(rtb(1), route(ENI_A))], [rtb(1)])
    stubber.add_client_error("replace_route", "RequestLimitExceeded", "Request limit exceeded.", 503,
                             expected_params={"RouteTableId": rtb(1), "DestinationCidrBlock": VIP,
                                              "NetworkInterfaceId": ENI_B})
    queue_replace(stubber, rtb(1))
    queue_tables(stubber, [table(rtb(1), route(ENI_B))], [rtb(1)])

    wrapped = AwsClient(client, sleep=sleeps.append)
    result = ensure_route_target(wrapped, VIP, route_table_ids=[rtb(1)], network_interface_id=ENI_B,
                                 sleep=no_sleep)

    stubber.assert_no_pending_responses()
    assert result["changed"] is True
    assert wrapped.calls.count("replace_route") == 2
    assert wrapped.retries == 1
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.25
    assert result["api_calls"] == 5


def test_non_retryable_error_is_not_retried_and_reports_partial_progress(ec2):
    client, stubber = ec2
    ids = [rtb(1), rtb(2), rtb(3)]
    queue_eni(stubber)
    queue_tables(stubber, [table(i, route(ENI_A)) for i in ids], ids)
    queue_replace(stubber, rtb(1))
    stubber.add_client_error("replace_route", "UnauthorizedOperation", "You are not authorized", 403)

    with pytest.raises(AwsError) as caught:
        run(client, route_table_ids=ids)

    stubber.assert_no_pending_responses()  # nothing else was called: no retry, no rtb(3)
    message = str(caught.value)
    assert f"cannot replace the route {VIP} in {rtb(2)}" in message
    assert f"already pointing at {ENI_B}: {rtb(1)}" in message
    assert f"not attempted (stopped after the first failure): {rtb(3)}" in message
    details = caught.value.details
    assert details["error_code"] == "UnauthorizedOperation"
    assert details["changed_route_tables"] == details["pointing_route_tables"] == [rtb(1)]
    assert details["failed_route_table"] == rtb(2)
    assert [(f["route_table_id"], f["error_code"]) for f in details["failed_route_tables"]] == [
        (rtb(2), "UnauthorizedOperation")]
    assert details["not_attempted_route_tables"] == [rtb(3)]


def test_failed_source_dest_check_change_attempts_no_table(ec2):
    client, stubber = ec2
    ids = [rtb(1), rtb(2)]
    queue_eni(stubber, eni(sdc=True))
    queue_tables(stubber, [table(rtb(1), route(ENI_A)), table(rtb(2), route(ENI_B))], ids)
    stubber.add_client_error("modify_network_interface_attribute", "UnauthorizedOperation", "denied", 403)

    with pytest.raises(AwsError) as caught:
        run(client, route_table_ids=ids, max_concurrency=10)

    stubber.assert_no_pending_responses()  # no route call after the failed modify
    message = str(caught.value)
    assert message.startswith(f"cannot set source/destination check of {ENI_B} to False")
    assert f"no table was changed; already pointing at {ENI_B}: {rtb(2)}" in message
    assert f"not attempted (stopped after the first failure): {rtb(1)}" in message
    details = caught.value.details
    assert details["error_code"] == "UnauthorizedOperation"
    assert details["failed_route_tables"] == [] and details["failed_route_table"] is None
    assert details["not_attempted_route_tables"] == [rtb(1)]


# ---- parallel route updates (FakeEc2: thread-safe, records what is in flight) ---------------


def run_fake(fake, ids, **kwargs):
    """ensure_route_target against ``fake`` through an AwsClient that never really sleeps."""
    sleeps = kwargs.pop("sleeps", [])
    wrapped = AwsClient(fake, sleep=sleeps.append, rand=lambda: 1.0)
    kwargs.setdefault("network_interface_id", ENI_B)
    result = ensure_route_target(wrapped, VIP, route_table_ids=ids, sleep=no_sleep, **kwargs)
    return result, wrapped


def tables_to_eni_a(ids):
    return [table(i, route(ENI_A)) for i in ids]


def test_default_concurrency_is_sized_from_the_ec2_throttle():
    assert DEFAULT_MAX_CONCURRENCY == 10


@pytest.mark.parametrize("bound, n", [(2, 6), (4, 12), (DEFAULT_MAX_CONCURRENCY, 50)])
def test_calls_really_run_in_parallel_up_to_the_bound(bound, n):
    """The first call of every table waits on a barrier of ``bound`` parties: it trips only if
    ``bound`` calls are in flight together (else BrokenBarrierError after 10 s), and the count
    of calls in flight proves no more than ``bound`` ever were."""
    ids = [rtb(i) for i in range(1, n + 1)]
    fake = FakeEc2(tables_to_eni_a(ids), barrier=threading.Barrier(bound, timeout=10), delay=0.005)
    kwargs = {} if bound == DEFAULT_MAX_CONCURRENCY else {"max_concurrency": bound}

    result, wrapped = run_fake(fake, ids, **kwargs)

    assert fake.max_in_flight == bound
    assert fake.targets() == {i: ENI_B for i in ids}
    assert [e["route_table_id"] for e in result["route_tables"]] == ids
    assert result["api_calls"] == wrapped.api_calls == n + 3


@pytest.mark.parametrize("bound", [1, 3, 7])
def test_max_in_flight_never_exceeds_the_bound(bound):
    ids = [rtb(i) for i in range(1, 31)]
    fake = FakeEc2(tables_to_eni_a(ids), delay=0.01)
    run_fake(fake, ids, max_concurrency=bound)
    assert 1 <= fake.max_in_flight <= bound
    assert fake.targets() == {i: ENI_B for i in ids}


def test_a_bound_larger_than_the_work_is_fine():
    ids = [rtb(1), rtb(2)]
    fake = FakeEc2(tables_to_eni_a(ids), barrier=threading.Barrier(2, timeout=10))
    result, _wrapped = run_fake(fake, ids, max_concurrency=64)
    assert fake.max_in_flight == 2
    assert result["changed"] is True


def test_results_keep_plan_order_whatever_the_completion_order():
    ids = [rtb(i) for i in range(1, 9)]
    # Earlier tables take longer, so they finish last.
    hooks = {i: (lambda d=0.005 * (9 - k): time.sleep(d)) for k, i in enumerate(ids, 1)}
    fake = FakeEc2([table(rtb(1), route(ENI_B))] + tables_to_eni_a(ids[1:]), hooks=hooks)
    result, _wrapped = run_fake(fake, ids, max_concurrency=8)
    assert [e["route_table_id"] for e in result["route_tables"]] == ids
    assert [e["action"] for e in result["route_tables"]] == ["none"] + ["replace"] * 7
    assert list(result["diff"]["after"]["route_tables"]) == ids


def test_call_counts_are_exact_under_threads():
    n = 60
    ids = [rtb(i) for i in range(1, n + 1)]
    throttled = {rtb(7): [THROTTLED], rtb(33): [THROTTLED, THROTTLED], rtb(60): [THROTTLED]}
    fake = FakeEc2(tables_to_eni_a(ids), errors=throttled, delay=0.001)

    result, wrapped = run_fake(fake, ids, max_concurrency=16)

    retries = 4
    assert result["api_calls"] == wrapped.api_calls == len(fake.calls) == n + 3 + retries
    assert wrapped.retries == retries
    assert Counter(wrapped.calls) == Counter({"describe_network_interfaces": 1, "describe_route_tables": 2,
                                              "replace_route": n + retries})
    assert Counter(c[1] for c in fake.mutating_calls()) == Counter({**{i: 1 for i in ids}, rtb(33): 3,
                                                                    rtb(7): 2, rtb(60): 2})


def test_throttled_table_is_retried_in_its_thread_then_succeeds():
    ids = [rtb(i) for i in range(1, 5)]
    sleeps = []
    fake = FakeEc2(tables_to_eni_a(ids), errors={rtb(2): [THROTTLED, THROTTLED]},
                   barrier=threading.Barrier(4, timeout=10))

    result, wrapped = run_fake(fake, ids, max_concurrency=4, sleeps=sleeps)

    assert result["changed"] is True
    assert fake.targets() == {i: ENI_B for i in ids}
    assert len(fake.mutating_calls(rtb(2))) == 3
    assert wrapped.retries == 2
    assert sorted(sleeps) == [pytest.approx(0.25), pytest.approx(0.5)]  # jittered backoff (rand=1.0: the ceiling)
    assert result["api_calls"] == 4 + 3 + 2


def test_throttled_forever_is_reported_never_skipped():
    ids = [rtb(i) for i in range(1, 5)]
    fake = FakeEc2(tables_to_eni_a(ids), errors={rtb(3): itertools.repeat(THROTTLED)},
                   barrier=threading.Barrier(4, timeout=10))

    with pytest.raises(AwsError) as caught:
        run_fake(fake, ids, max_concurrency=4)

    assert len(fake.mutating_calls(rtb(3))) == DEFAULT_MAX_ATTEMPTS
    details = caught.value.details
    assert details["error_code"] == THROTTLED
    assert details["failed_route_table"] == rtb(3)
    assert [f["route_table_id"] for f in details["failed_route_tables"]] == [rtb(3)]
    assert details["changed_route_tables"] == [rtb(1), rtb(2), rtb(4)]
    assert details["not_attempted_route_tables"] == []
    message = str(caught.value)
    assert f"cannot replace the route {VIP} in {rtb(3)}" in message and THROTTLED in message
    assert f"already pointing at {ENI_B}: {rtb(1)}, {rtb(2)}, {rtb(4)}" in message
    assert fake.targets() == {rtb(1): ENI_B, rtb(2): ENI_B, rtb(3): ENI_A, rtb(4): ENI_B}
    # No read-back after a failed change.
    assert [op for op, _rtb in fake.calls].count("describe_route_tables") == 1


def test_every_failure_is_reported_with_its_reason():
    ids = [rtb(i) for i in range(1, 7)]
    errors = {rtb(2): ["UnauthorizedOperation"], rtb(5): ["InvalidParameterValue"]}
    fake = FakeEc2([table(rtb(1), route(ENI_B))] + tables_to_eni_a(ids[1:]), errors=errors,
                   barrier=threading.Barrier(5, timeout=10))

    with pytest.raises(AwsError) as caught:
        run_fake(fake, ids, max_concurrency=5)

    details = caught.value.details
    assert [(f["route_table_id"], f["error_code"]) for f in details["failed_route_tables"]] == [
        (rtb(2), "UnauthorizedOperation"), (rtb(5), "InvalidParameterValue")]
    assert all(f"in {f['route_table_id']}: " in f["msg"] for f in details["failed_route_tables"])
    assert details["error_code"] == "UnauthorizedOperation"  # the first in plan order
    assert details["changed_route_tables"] == [rtb(3), rtb(4), rtb(6)]
    assert details["pointing_route_tables"] == [rtb(1), rtb(3), rtb(4), rtb(6)]
    assert details["not_attempted_route_tables"] == []
    message = str(caught.value)
    assert message.startswith("2 route tables failed: ")
    assert f"in {rtb(2)}: " in message and "UnauthorizedOperation" in message
    assert f"in {rtb(5)}: " in message and "InvalidParameterValue" in message
    assert f"already pointing at {ENI_B}: {rtb(1)}, {rtb(3)}, {rtb(4)}, {rtb(6)}" in message
    assert "not attempted" not in message
    assert fake.targets() == {rtb(1): ENI_B, rtb(2): ENI_A, rtb(3): ENI_B, rtb(4): ENI_B,
                              rtb(5): ENI_A, rtb(6): ENI_B}


def test_after_a_failure_calls_in_flight_finish_and_no_new_table_starts():
    ids = [rtb(i) for i in range(1, 9)]
    failed = threading.Event()

    def fail_after_the_other_started():
        started.wait(10)

    def finish_after_the_failure():
        started.set()
        assert failed.wait(10)
        time.sleep(0.2)  # the failing worker stops the pool right after its call returned

    started = threading.Event()
    fake = FakeEc2(tables_to_eni_a(ids), errors={rtb(1): ["UnauthorizedOperation"]},
                   hooks={rtb(1): fail_after_the_other_started, rtb(2): finish_after_the_failure})
    original = fake.replace_route

    def replace_route(**params):
        try:
            return original(**params)
        finally:
            if params["RouteTableId"] == rtb(1):
                failed.set()

    fake.replace_route = replace_route

    with pytest.raises(AwsError) as caught:
        run_fake(fake, ids, max_concurrency=2)

    details = caught.value.details
    assert details["failed_route_table"] == rtb(1)
    assert details["changed_route_tables"] == [rtb(2)]  # in flight when rtb(1) failed: finished
    assert details["not_attempted_route_tables"] == ids[2:]
    assert {c[1] for c in fake.mutating_calls()} == {rtb(1), rtb(2)}
    assert f"not attempted (stopped after the first failure): {', '.join(ids[2:])}" in str(caught.value)
    assert fake.targets() == {**{i: ENI_A for i in ids}, rtb(2): ENI_B}


def test_every_table_is_accounted_for_after_a_failure():
    """Whatever the timing: each changed table is changed, failed or not attempted, exactly once."""
    ids = [rtb(i) for i in range(1, 41)]
    fake = FakeEc2(tables_to_eni_a(ids), errors={rtb(5): ["UnauthorizedOperation"]}, delay=0.002)
    with pytest.raises(AwsError) as caught:
        run_fake(fake, ids, max_concurrency=4)
    details = caught.value.details
    failed = [f["route_table_id"] for f in details["failed_route_tables"]]
    groups = details["changed_route_tables"] + failed + details["not_attempted_route_tables"]
    assert sorted(groups) == ids
    assert failed == [rtb(5)]
    assert details["not_attempted_route_tables"]  # 40 tables, 4 at a time: it stopped early
    assert {c[1] for c in fake.mutating_calls()} == set(details["changed_route_tables"]) | {rtb(5)}
    now = fake.targets()
    assert all(now[i] == ENI_B for i in details["changed_route_tables"])
    assert all(now[i] == ENI_A for i in details["not_attempted_route_tables"] + failed)


def test_parallel_create_with_race_falls_back_to_replace():
    ids = [rtb(1), rtb(2), rtb(3)]

    def someone_adds_the_route():  # between our describe and our CreateRoute
        with fake.lock:
            routes = fake.tables[rtb(2)]["Routes"]
            if not any(r.get("DestinationCidrBlock") == VIP for r in routes):
                routes.append(route(ENI_A))

    fake = FakeEc2([table(rtb(1)), table(rtb(2)), table(rtb(3), route(ENI_A))],
                   hooks={rtb(2): someone_adds_the_route})
    result, wrapped = run_fake(fake, ids, create_missing=True, max_concurrency=3)
    assert [e["action"] for e in result["route_tables"]] == ["create", "create", "replace"]
    assert fake.targets() == {i: ENI_B for i in ids}
    assert [op for op, t in fake.mutating_calls() if t == rtb(2)] == ["create_route", "replace_route"]
    assert wrapped.api_calls == 3 + 4


def test_source_dest_check_change_comes_before_every_route_call():
    ids = [rtb(i) for i in range(1, 6)]
    fake = FakeEc2(tables_to_eni_a(ids), eni_data=eni(sdc=True))
    result, _wrapped = run_fake(fake, ids, max_concurrency=5)
    ops = [op for op, _rtb in fake.calls]
    assert ops[:3] == ["describe_network_interfaces", "describe_route_tables", "modify_network_interface_attribute"]
    assert ops[3:8] == ["replace_route"] * 5 and ops[8:] == ["describe_route_tables"]
    assert result["source_dest_check"]["changed"] is True


def test_parallel_check_mode_makes_no_mutating_call():
    ids = [rtb(i) for i in range(1, 21)]
    fake = FakeEc2(tables_to_eni_a(ids), eni_data=eni(sdc=True))
    result, wrapped = run_fake(fake, ids, check_mode=True)
    assert result["changed"] is True
    assert [op for op, _rtb in fake.calls] == ["describe_network_interfaces", "describe_route_tables"]
    assert wrapped.api_calls == result["api_calls"] == 2
    assert fake.max_in_flight == 0
    assert fake.targets() == {i: ENI_A for i in ids}


@pytest.mark.parametrize("value", [0, -1, True, 2.5, "4", None])
def test_bad_max_concurrency_is_refused_before_any_call(value):
    fake = FakeEc2(tables_to_eni_a([rtb(1)]))
    with pytest.raises(AwsError, match="max_concurrency must be an integer of at least 1"):
        run_fake(fake, [rtb(1)], max_concurrency=value)
    assert not fake.calls


def test_an_unexpected_error_in_a_worker_is_not_swallowed():
    ids = [rtb(i) for i in range(1, 5)]

    def boom():
        raise RuntimeError("bug in a worker")

    fake = FakeEc2(tables_to_eni_a(ids), hooks={rtb(2): boom})
    with pytest.raises(RuntimeError, match="bug in a worker"):
        run_fake(fake, ids, max_concurrency=4)


# ---- bad input: one clear error, no mutating call -----------------------------------------


@pytest.mark.parametrize("vip", ["10.1.0.0/24", "fd00::10", "10.1.0.300", ""])
def test_bad_vip_makes_no_call_at_all(ec2, vip):
    client, stubber = ec2
    with pytest.raises(AwsError):
        run(client, vip=vip, route_table_ids=[rtb(1)])
    stubber.assert_no_pending_responses()


def test_unknown_table_is_a_clear_error(ec2):
    client, stubber = ec2
    queue_eni(stubber)
    stubber.add_client_error("describe_route_tables", "InvalidRouteTableID.NotFound",
                             f"The routeTable ID '{rtb(9)}' does not exist",
                             expected_params={"RouteTableIds": [rtb(1), rtb(9)]})
    with pytest.raises(AwsError) as caught:
        run(client, route_table_ids=[rtb(1), rtb(9)])
    stubber.assert_no_pending_responses()
    assert "route table not found" in str(caught.value)
    assert rtb(9) in str(caught.value)


def test_unknown_eni_is_a_clear_error(ec2):
    client, stubber = ec2
    stubber.add_client_error("describe_network_interfaces", "InvalidNetworkInterfaceID.NotFound",
                             f"The networkInterface ID '{ENI_B}' does not exist")
    with pytest.raises(AwsError, match=f"cannot describe network interface {ENI_B}"):
        run(client, route_table_ids=[rtb(1)])
    stubber.assert_no_pending_responses()


def test_eni_of_another_vpc_is_refused_before_any_change(ec2):
    client, stubber = ec2
    queue_eni(stubber, eni(vpc=OTHER_VPC))
    queue_tables(stubber, [table(rtb(1), route(ENI_A)), table(rtb(2), route(ENI_A))], [rtb(1), rtb(2)])
    with pytest.raises(AwsError) as caught:
        run(client, route_table_ids=[rtb(1), rtb(2)])
    stubber.assert_no_pending_responses()
    assert str(caught.value).count(f"but the target {ENI_B} is in {OTHER_VPC}") == 2


def test_table_lacking_the_route_without_create_missing_changes_nothing(ec2):
    client, stubber = ec2
    ids = [rtb(1), rtb(2)]
    queue_eni(stubber)
    queue_tables(stubber, [table(rtb(1), route(ENI_A)), table(rtb(2))], ids)
    with pytest.raises(AwsError, match="rtb-00000000000000002 has no route for 10.1.0.10/32"):
        run(client, route_table_ids=ids)
    stubber.assert_no_pending_responses()  # rtb(1) was not replaced


def test_instance_without_primary_eni_is_an_error(ec2):
    client, stubber = ec2
    stubber.add_response("describe_instances", {"Reservations": [{"Instances": [{
        "InstanceId": INSTANCE_B, "State": {"Name": "terminated"}, "NetworkInterfaces": []}]}]})
    with pytest.raises(AwsError, match="has no primary network interface"):
        run(client, route_table_ids=[rtb(1)], network_interface_id=None, instance_id=INSTANCE_B)


# ---- read-back ----------------------------------------------------------------------------


def test_read_back_mismatch_is_an_error_after_bounded_rereads(ec2):
    client, stubber = ec2
    ids = [rtb(1), rtb(2)]
    queue_eni(stubber)
    queue_tables(stubber, [table(i, route(ENI_A)) for i in ids], ids)
    for i in ids:
        queue_replace(stubber, i)
    for _attempt in range(3):
        queue_tables(stubber, [table(rtb(1), route(ENI_B)), table(rtb(2), route("eni-0ccccccccccccccc3"))], ids)

    with pytest.raises(AwsError) as caught:
        run(client, route_table_ids=ids)

    stubber.assert_no_pending_responses()
    assert "read-back" in str(caught.value)
    assert f"{rtb(2)} -> eni-0ccccccccccccccc3" in str(caught.value)
    assert rtb(1) not in caught.value.details["mismatched_route_tables"]


def test_read_back_tolerates_eventual_consistency(ec2):
    client, stubber = ec2
    sleeps = []
    queue_eni(stubber)
    queue_tables(stubber, [table(rtb(1), route(ENI_A))], [rtb(1)])
    queue_replace(stubber, rtb(1))
    queue_tables(stubber, [table(rtb(1), route(ENI_A))], [rtb(1)])
    queue_tables(stubber, [table(rtb(1), route(ENI_B))], [rtb(1)])
    wrapped = AwsClient(client, sleep=no_sleep)
    result = ensure_route_target(wrapped, VIP, route_table_ids=[rtb(1)], network_interface_id=ENI_B,
                                 sleep=sleeps.append)
    stubber.assert_no_pending_responses()
    assert result["changed"] is True
    assert sleeps == [1.0]
    assert wrapped.api_calls == 5


# ---- end to end against moto --------------------------------------------------------------


def test_moto_switch_then_idempotent(moto_vpc):
    m = moto_vpc
    ec2 = m["client"]
    result = ensure_route_target(ec2, "10.1.0.10", route_table_ids=m["tables"], network_interface_id=m["eni_b"])
    assert result["changed"] is True
    assert targets(ec2, m["tables"]) == {t: m["eni_b"] for t in m["tables"]}
    assert result["api_calls"] == 3 + 3 + 1  # lookup, describe, 3 replaces, modify source/dest check
    sdc = ec2.describe_network_interfaces(NetworkInterfaceIds=[m["eni_b"]])["NetworkInterfaces"][0]
    assert sdc["SourceDestCheck"] is False

    again = ensure_route_target(ec2, "10.1.0.10/32", route_table_ids=m["tables"], network_interface_id=m["eni_b"])
    assert again["changed"] is False
    assert again["api_calls"] == 2


def test_moto_vpc_discovery_and_instance_target(moto_vpc):
    m = moto_vpc
    ec2 = m["client"]
    result = ensure_route_target(ec2, VIP, vpc_id=m["vpc"], instance_id=m["instance_b"])
    assert sorted(e["route_table_id"] for e in result["route_tables"]) == sorted(m["tables"])
    assert m["spare_table"] not in [e["route_table_id"] for e in result["route_tables"]]
    assert targets(ec2, m["tables"]) == {t: m["eni_b"] for t in m["tables"]}


def test_moto_check_mode_changes_nothing(moto_vpc):
    m = moto_vpc
    ec2 = m["client"]
    result = ensure_route_target(ec2, VIP, route_table_ids=m["tables"], network_interface_id=m["eni_b"],
                                 check_mode=True)
    assert result["changed"] is True
    assert targets(ec2, m["tables"]) == {t: m["eni_a"] for t in m["tables"]}


def test_moto_create_missing(moto_vpc):
    m = moto_vpc
    ec2 = m["client"]
    ids = m["tables"] + [m["spare_table"]]
    with pytest.raises(AwsError, match="has no route"):
        ensure_route_target(ec2, VIP, route_table_ids=ids, network_interface_id=m["eni_b"])
    assert targets(ec2, ids)[m["spare_table"]] is None
    assert targets(ec2, m["tables"]) == {t: m["eni_a"] for t in m["tables"]}  # nothing changed
    result = ensure_route_target(ec2, VIP, route_table_ids=ids, network_interface_id=m["eni_b"], create_missing=True)
    assert result["route_tables"][-1]["action"] == "create"
    assert targets(ec2, ids) == {t: m["eni_b"] for t in ids}


def test_moto_eni_of_another_vpc_and_unknown_table(moto_vpc):
    m = moto_vpc
    ec2 = m["client"]
    with pytest.raises(AwsError, match=f"is in {m['vpc']}, but the target"):
        ensure_route_target(ec2, VIP, route_table_ids=m["tables"], network_interface_id=m["other_eni"])
    with pytest.raises(AwsError, match="route table not found"):
        ensure_route_target(ec2, VIP, route_table_ids=["rtb-0123456789abcdef0"], network_interface_id=m["eni_b"])
    assert targets(ec2, m["tables"]) == {t: m["eni_a"] for t in m["tables"]}
