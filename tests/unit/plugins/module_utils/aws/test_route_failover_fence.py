"""Fencing of the VIP pair's peer (plugins/module_utils/aws/route_failover_fence.py) and the
failover command with ``fencing = stop_peer`` (route_failover_cli.py): the peer is stopped
(Force) and seen stopped before any route is replaced; a fence that fails replaces nothing."""
from __future__ import annotations

import io
import json
import os
import threading
import time

import pytest
from aws_stubs import MAC, client_error

from ansible_collections.hapair.ha.plugins.module_utils.aws import route_failover_cli
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_config import load_config
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_fence import (
    FenceError,
    fence_lock,
    fence_peer,
    needs_fence,
    take_planned_marker,
)

SELF, PEER = "i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2"


class FakeInstances:
    """Just enough EC2 for fencing: ``states`` maps an instance to the states DescribeInstances
    reports, one per call (the last one repeats); ``stop_errors`` are raised by StopInstances."""

    class meta:  # pylint: disable=invalid-name,too-few-public-methods
        method_to_api_mapping = {"describe_instances": "DescribeInstances", "stop_instances": "StopInstances"}

    def __init__(self, states, stop_errors=()):
        self.states = {k: list(v) for k, v in states.items()}
        self.stop_errors = list(stop_errors)
        self.calls = []

    def describe_instances(self, InstanceIds):  # noqa: N803 pylint: disable=invalid-name
        self.calls.append(("describe_instances", InstanceIds[0]))
        found = []
        for iid in InstanceIds:
            if iid in self.states:
                seq = self.states[iid]
                state = seq.pop(0) if len(seq) > 1 else seq[0]
                found.append({"InstanceId": iid, "State": {"Name": state}})
        return {"Reservations": [{"Instances": found}] if found else []}

    def stop_instances(self, InstanceIds, Force=False):  # noqa: N803 pylint: disable=invalid-name
        self.calls.append(("stop_instances", InstanceIds[0], Force))
        if self.stop_errors:
            raise client_error(self.stop_errors.pop(0), "StopInstances")
        return {"StoppingInstances": [{"InstanceId": InstanceIds[0]}]}


class Clock:
    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds

    def monotonic(self):
        return self.now


def fence(client, clock, **kwargs):
    return fence_peer(client, PEER, own_instance_id=SELF, sleep=clock.sleep, monotonic=clock.monotonic, **kwargs)


# ---- fence_peer -----------------------------------------------------------------------------


def test_stops_the_peer_with_force_and_waits_until_stopped():
    client, clock = FakeInstances({SELF: ["running"], PEER: ["running", "stopping", "stopping", "stopped"]}), Clock()
    result = fence(client, clock, timeout=60)
    assert client.calls[:3] == [("describe_instances", SELF), ("describe_instances", PEER),
                                ("stop_instances", PEER, True)]
    assert client.calls[3:] == [("describe_instances", PEER)] * 3
    assert result == {"peer_instance_id": PEER, "delayed": 0, "previous_state": "running", "state": "stopped",
                      "seconds": 2.0}


def test_a_peer_already_stopped_is_not_stopped_again():
    client = FakeInstances({SELF: ["running"], PEER: ["stopped"]})
    assert fence(client, Clock())["state"] == "stopped"
    assert [c[0] for c in client.calls] == ["describe_instances", "describe_instances"]


def test_stop_instances_error_is_a_fence_error_with_its_code():
    client = FakeInstances({SELF: ["running"], PEER: ["running"]}, stop_errors=["UnauthorizedOperation"])
    with pytest.raises(FenceError) as err:
        fence(client, Clock())
    assert "StopInstances i-0bbbbbbbbbbbbbbb2 (Force)" in str(err.value)
    assert err.value.details["error_code"] == "UnauthorizedOperation"


def test_a_peer_that_does_not_stop_in_time_is_a_fence_error():
    client, clock = FakeInstances({SELF: ["running"], PEER: ["running", "stopping"]}), Clock()
    with pytest.raises(FenceError, match="still stopping 5s after StopInstances"):
        fence(client, clock, timeout=5)
    assert clock.now - 1000.0 == pytest.approx(5.0)


def test_the_delayed_node_does_not_fence_when_it_is_being_stopped_itself():
    """The fence race: the other node fenced this one during the delay."""
    client, clock = FakeInstances({SELF: ["stopping"], PEER: ["running"]}), Clock()
    with pytest.raises(FenceError, match="is stopping .the peer fenced it first.: not fencing"):
        fence(client, clock, delay=10)
    assert clock.slept == [10]
    assert not [c for c in client.calls if c[0] == "stop_instances"]


def test_a_node_being_stopped_does_not_fence_back_even_without_a_delay():
    """The peer (delayed) stopped this node and took the routes; this node's route check runs
    before its instance is gone and must not stop the peer in turn."""
    client = FakeInstances({SELF: ["stopping"], PEER: ["running"]})
    with pytest.raises(FenceError, match="^this node's instance i-0aaaaaaaaaaaaaaa1 is stopping"):
        fence(client, Clock())
    assert not [c for c in client.calls if c[0] == "stop_instances"]


def test_the_delayed_node_does_not_fence_when_it_no_longer_holds_the_vip():
    client = FakeInstances({SELF: ["running"], PEER: ["running"]})
    with pytest.raises(FenceError, match="no longer holds the VIP"):
        fence(client, Clock(), delay=3, still_holds_vip=lambda: False)
    assert not [c for c in client.calls if c[0] == "stop_instances"]


def test_no_node_fences_once_it_no_longer_holds_the_vip():
    """A route check or retry that started while this node was MASTER, and the partition healed
    meanwhile: the peer took the VIP back, so it is not stopped."""
    client = FakeInstances({SELF: ["running"], PEER: ["running"]})
    with pytest.raises(FenceError, match="^this node no longer holds the VIP: not fencing the peer"):
        fence(client, Clock(), still_holds_vip=lambda: False)
    assert client.calls == [("describe_instances", SELF), ("describe_instances", PEER)]


def test_the_delayed_node_fences_after_the_delay_when_it_still_should():
    client, clock = FakeInstances({SELF: ["running"], PEER: ["running", "stopped"]}), Clock()
    result = fence(client, clock, delay=3, still_holds_vip=lambda: True)
    assert clock.slept[0] == 3
    assert client.calls[0] == ("describe_instances", SELF)
    assert ("stop_instances", PEER, True) in client.calls
    assert result["delayed"] == 3


def test_bad_peer_ids_are_refused_before_any_call():
    client = FakeInstances({})
    with pytest.raises(FenceError, match="not known"):
        fence_peer(client, "")
    with pytest.raises(FenceError, match="own instance"):
        fence_peer(client, SELF, own_instance_id=SELF)
    assert not client.calls


def test_unknown_peer_is_a_fence_error():
    with pytest.raises(FenceError, match="no such instance"):
        fence(FakeInstances({SELF: ["running"]}), Clock())


def test_needs_fence_only_when_a_route_is_taken_from_another_target():
    assert needs_fence([{"action": "replace"}, {"action": None}])
    assert not needs_fence([{"action": "create"}, {"action": None}])
    assert not needs_fence([])


def test_planned_marker_is_consumed_once_and_only_fresh(tmp_path):
    marker = tmp_path / "planned"
    assert not take_planned_marker(str(marker))
    marker.write_text("")
    assert take_planned_marker(str(marker))
    assert not marker.exists()
    marker.write_text("")
    old = time.time() - 400
    os.utime(marker, (old, old))
    assert not take_planned_marker(str(marker))
    assert not marker.exists()
    assert not take_planned_marker("")


# ---- the command with fencing = stop_peer (moto) ---------------------------------------------


@pytest.fixture(name="holding")
def _holding(monkeypatch):
    """Whether this node holds the VIP (``ip addr``), as the command asks before it fences: a
    node taking over does (keepalived brought the VIP up before its notify hook ran)."""
    state = {"holds": True}
    monkeypatch.setattr(route_failover_cli, "holds_address", lambda vip: state["holds"])
    return state


def node_config(tmp_path, m, imds, **extra):
    """The settings the vip_route role writes on node B (fencing A)."""
    imds.metadata[f"network/interfaces/macs/{MAC}/interface-id"] = m["eni_b"]
    imds.metadata[f"network/interfaces/macs/{MAC}/vpc-id"] = m["vpc"]
    imds.metadata["placement/region"] = "us-east-1"
    settings = {"vip": "10.1.0.10", "vpc_id": m["vpc"], "self": "true", "imds_url": imds.url,
                "fencing": "stop_peer", "instance_id": m["instance_b"], "peer_instance_id": m["instance_a"],
                "fencing_timeout": "5", "fencing_delay": "0",
                "planned_switchover_file": str(tmp_path / "planned"),
                "fencing_lock_file": str(tmp_path / "fence.lock")}
    settings.update(extra)
    path = tmp_path / "vip-route.conf"
    path.write_text("[route_failover]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
    os.chmod(path, 0o600)
    return str(path)


def run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    status = route_failover_cli.main(argv, stdout=out, stderr=err, environ={})
    return status, out.getvalue(), err.getvalue()


def state_of(client, instance_id):
    return client.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]


def route_targets(m):
    return {t: next(r.get("NetworkInterfaceId") for r in rt["Routes"] if r.get("DestinationCidrBlock") == "10.1.0.10/32")
            for rt in m["client"].describe_route_tables(RouteTableIds=m["tables"])["RouteTables"]
            for t in [rt["RouteTableId"]]}


def test_takeover_stops_the_peer_then_claims_the_routes(moto_vpc, imds, holding, tmp_path):
    m = moto_vpc
    status, out, err = run_cli(["--config", node_config(tmp_path, m, imds)])
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith(f"{m['instance_a']}: the peer was fenced (running -> stopped in ")
    assert state_of(m["client"], m["instance_a"]) == "stopped"
    assert state_of(m["client"], m["instance_b"]) == "running"
    assert route_targets(m) == {t: m["eni_b"] for t in m["tables"]}


def test_nothing_to_claim_fences_nobody(moto_vpc, imds, holding, tmp_path):
    m = moto_vpc
    for t in m["tables"]:
        m["client"].replace_route(RouteTableId=t, DestinationCidrBlock="10.1.0.10/32", NetworkInterfaceId=m["eni_b"])
    status, out, _err = run_cli(["--config", node_config(tmp_path, m, imds), "--json"])
    assert status == 0
    fencing = json.loads(out)["fencing"]
    assert (fencing["needed"], fencing["fenced"]) == (False, False)
    assert state_of(m["client"], m["instance_a"]) == "running"


def test_dry_run_only_says_it_would_fence(moto_vpc, imds, holding, tmp_path):
    m = moto_vpc
    status, out, _err = run_cli(["--config", node_config(tmp_path, m, imds), "--dry-run"])
    assert status == 0
    assert out.splitlines()[0] == (f"{m['instance_a']}: the peer would be fenced (StopInstances, Force) "
                                   "before the routes are claimed")
    assert state_of(m["client"], m["instance_a"]) == "running"
    assert route_targets(m) == {t: m["eni_a"] for t in m["tables"]}


def test_planned_switchover_claims_without_fencing(moto_vpc, imds, holding, tmp_path):
    m = moto_vpc
    config = node_config(tmp_path, m, imds)
    (tmp_path / "planned").write_text("")
    status, out, _err = run_cli(["--config", config])
    assert status == 0
    assert out.splitlines()[0] == f"{m['instance_a']}: planned switchover, the peer is not fenced"
    assert state_of(m["client"], m["instance_a"]) == "running"
    assert route_targets(m) == {t: m["eni_b"] for t in m["tables"]}
    assert not (tmp_path / "planned").exists()


def test_a_second_run_waits_for_the_fence_lock_then_finds_the_routes_claimed(moto_vpc, imds, holding, tmp_path):
    """keepalived's hook and the route check both start the command on a new MASTER: the one
    that waits must not miss the planned marker the other consumed and fence the peer."""
    m = moto_vpc
    config = node_config(tmp_path, m, imds)
    (tmp_path / "planned").write_text("")
    results = []
    with fence_lock(str(tmp_path / "fence.lock")):  # the other run holds it ...
        waiting = threading.Thread(target=lambda: results.append(run_cli(["--config", config])))
        waiting.start()
        waiting.join(1.0)
        assert waiting.is_alive() and results == []
        assert route_targets(m) == {t: m["eni_a"] for t in m["tables"]}
        # ... and does what it does: takes the marker and claims the routes
        assert take_planned_marker(str(tmp_path / "planned"))
        for t in m["tables"]:
            m["client"].replace_route(RouteTableId=t, DestinationCidrBlock="10.1.0.10/32", NetworkInterfaceId=m["eni_b"])
    waiting.join(30)
    assert not waiting.is_alive()
    status, out, err = results[0]
    assert (status, err) == (0, ""), err
    assert out and all(line.endswith(" unchanged") for line in out.splitlines()), out
    assert state_of(m["client"], m["instance_a"]) == "running"


def test_the_fence_lock_cannot_be_opened(tmp_path):
    with pytest.raises(FenceError, match=r"cannot open the fencing lock .*/missing/fence.lock: No such file"):
        with fence_lock(str(tmp_path / "missing" / "fence.lock")):
            pass


def test_a_node_that_lost_the_vip_meanwhile_fences_nobody_and_claims_nothing(moto_vpc, imds, holding, tmp_path):
    m = moto_vpc
    holding["holds"] = False
    before = route_targets(m)
    status, _out, err = run_cli(["--config", node_config(tmp_path, m, imds)])
    assert status == 1
    assert "no longer holds the VIP: not fencing the peer" in err and "the routes are left alone" in err, err
    assert state_of(m["client"], m["instance_a"]) == "running"
    assert route_targets(m) == before


def test_a_failed_fence_claims_nothing_and_says_why(moto_vpc, imds, holding, tmp_path):
    m = moto_vpc

    def factory(**kwargs):
        client = route_failover_cli.make_client("ec2", **kwargs)
        real = client.client

        def refuse(**_params):
            raise client_error("UnauthorizedOperation", "StopInstances")
        real.stop_instances = refuse
        return client

    out, err = io.StringIO(), io.StringIO()
    status = route_failover_cli.main(["--config", node_config(tmp_path, m, imds)], stdout=out, stderr=err,
                                     environ={}, client_factory=factory)
    assert status == 1
    assert out.getvalue() == ""
    assert err.getvalue().startswith("hapair-route-failover: error: Failed to point the VIP route at the target: "
                                     f"fencing the peer {m['instance_a']} failed, the routes are left alone: "
                                     f"StopInstances {m['instance_a']} (Force): ")
    assert "UnauthorizedOperation" in err.getvalue()
    assert route_targets(m) == {t: m["eni_a"] for t in m["tables"]}


@pytest.mark.parametrize("extra, message", [
    ({"fencing": "shoot"}, "fencing must be one of none, stop_peer"),
    ({"peer_instance_id": ""}, "fencing = stop_peer needs peer_instance_id"),
    ({"fencing_delay": "-1"}, "fencing_delay: expected an integer of at least 0"),
    ({"fencing_timeout": "0"}, "fencing_timeout: expected an integer of at least 1"),
])
def test_bad_fencing_settings_are_usage_errors(moto_vpc, imds, holding, tmp_path, extra, message):
    status, _out, err = run_cli(["--config", node_config(tmp_path, moto_vpc, imds, **extra)])
    assert status == 2
    assert message in err


def test_fencing_keys_of_the_config_file(tmp_path):
    path = tmp_path / "c.conf"
    path.write_text("fencing = stop_peer\npeer_instance_id = i-0b\nfencing_delay = 0\nfencing_timeout = 60\n")
    os.chmod(path, 0o600)
    assert load_config(str(path)) == {"fencing": "stop_peer", "peer_instance_id": "i-0b", "fencing_delay": 0,
                                      "fencing_timeout": 60}
