"""Drill 6 of the split-brain issue: GitHub Enterprise disaster promotion with fencing.

The old primary is cut off from the controller and the replica but keeps running, the classic
split brain: once DNS caches expire or a client uses its address, it would still take writes
that are lost when it is re-paired as a replica of the new primary. GitHub asks to shut down
appliances of the old configuration that are not re-paired ("If those appliances were
unreachable during failover, they could cause unintended changes to the new primary if they
become reachable later":
https://docs.github.com/en/enterprise-server@latest/admin/monitoring-and-managing-your-instance/configuring-high-availability/initiating-a-failover-to-your-replica-appliance).

With `ghe_fence_old_primary` the failover stops the old primary's EC2 instance after the
promotion and before DNS moves. The lab's power watcher crashes a host whose instance is stopped
in moto (and boots it when it is started), and `Lab.partition` cuts the old primary off from the
replica while clients still reach it. What is checked is read from moto and the lab, not from the
playbook: a watcher thread samples, every 0.1 s while the playbook runs, the instance's state,
whether the old primary answers a client, and the DNS records; some sample must show the
instance stopped and the old primary silent while DNS still points at it, and no sample may show
DNS moved while the instance was not stopped or the old primary answered. The play talks to moto
through the lab's AWS proxy, which counts its calls (and answers StopInstances with EC2's
UnauthorizedOperation in the failure drill).

Its own lab (slot 19, its own stream in tests/run_suites.py; with the power watcher): replicated first; bad input and
check mode change nothing; the drill; the fenced primary started again and re-paired as a replica
of the new one; then a planned failover back whose fence fails (no permission): it stops before
DNS moves, and the same run once the permission is there fences and moves DNS.
"""
from __future__ import annotations

import dataclasses
import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.lab import aws
from tests.lab.awsproxy import AwsProxy
from tests.lab.pytest_support import running_lab

from tests.integration.ghe.conftest import DOMAIN, PRIMARY, REPLICA, GheLab, ok, refused, text

pytestmark = pytest.mark.lab

SLOT = 19
REPLICATION = "ghe_replication.yml"
FAILOVER = "ghe_failover.yml"
UNKNOWN_ID = "i-0123456789abcdef0"


def instance_id(g, host):
    return g.lab.instance_id(host)


def instance_state(g, host):
    ec2 = aws.client(g.lab.topo, "ec2")
    return ec2.describe_instances(InstanceIds=[instance_id(g, host)])["Reservations"][0]["Instances"][0]["State"]["Name"]


def serves(address, timeout=0.5):
    """HTTP status of http://ADDRESS/status as a client sees it, or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://{address}/status", timeout=timeout) as resp:  # noqa: S310 (lab address)
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


@dataclasses.dataclass
class Sample:
    at: float  # time.time() when the sample started
    state: str  # the old primary's instance state in moto
    status: int | None  # the old primary's /status as a client (the controller) sees it
    git: dict  # {"public"|"private": [addresses of git.DOMAIN]} in moto


class Watcher(threading.Thread):
    """Samples, in this order within a sample, the old primary's instance state (moto), whether the
    old primary answers clients, and where git.DOMAIN points (moto), until stopped."""

    def __init__(self, g, interval=0.1):
        super().__init__(daemon=True)
        self.g, self.interval = g, interval
        self.samples: list[Sample] = []
        self.errors: list[str] = []
        self.done = threading.Event()

    def run(self):
        ec2 = aws.client(self.g.lab.topo, "ec2")
        r53 = aws.client(self.g.lab.topo, "route53")
        zones = {("private" if z["Config"]["PrivateZone"] else "public"): z["Id"]
                 for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == DOMAIN + "."}
        iid, address = instance_id(self.g, PRIMARY), self.g.ip(PRIMARY)
        while not self.done.is_set():
            try:
                at = time.time()
                state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]
                status = serves(address)
                git = {}
                for kind, zone in zones.items():
                    rrs = r53.list_resource_record_sets(HostedZoneId=zone, StartRecordName=f"git.{DOMAIN}.",
                                                        StartRecordType="A", MaxItems="1")["ResourceRecordSets"]
                    git[kind] = sorted(v["Value"] for rr in rrs if rr["Name"] == f"git.{DOMAIN}."
                                       for v in rr["ResourceRecords"])
                self.samples.append(Sample(at, state, status, git))
            except Exception as err:  # noqa: BLE001 - reported by the test, never hidden
                self.errors.append(repr(err))
            self.done.wait(self.interval)

    def stop(self):
        self.done.set()
        self.join(timeout=10)

    def table(self, t0):
        return [(round(x.at - t0, 2), x.state, x.status, x.git) for x in self.samples]


@pytest.fixture(scope="module")
def ghe_lab():
    """The ``ghe`` topology in a lab of its own (slot 19, ``ghe-fence``, beside the ``ghe``
    package's), with the lab's power watcher: stopping an instance in moto crashes its host,
    starting it boots it."""
    with running_lab("ghe", slot=SLOT, name="ghe-fence", power_watch=True) as lab:
        yield GheLab(lab)


@pytest.fixture(scope="module")
def g(ghe_lab):  # pylint: disable=redefined-outer-name
    ok(ghe_lab.run(REPLICATION))
    ghe_lab.wait_in_sync(REPLICA)
    return ghe_lab


@pytest.fixture(scope="module")
def proxy(g):
    with AwsProxy(g.lab.aws_endpoint, host=str(g.lab.topo.first_network.controller_ip)) as prx:
        yield prx


def untouched(g):
    return (g.role(PRIMARY), g.role(REPLICA), g.maintenance(PRIMARY), g.records(), instance_state(g, PRIMARY))


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"ghe_failover_old_primary_instance_id": UNKNOWN_ID},
         f"cannot fence {PRIMARY}: no EC2 instance (other than terminated ones) has the id {UNKNOWN_ID} in this "
         "region. Set ghe_failover_old_primary_instance_id to the old primary's instance id. Nothing was changed."),
        ({"ghe_prepare_failback": True},
         "ghe_failover_prepare_failback needs the old primary running and ghe_failover_fence_old_primary stops it"),
    ],
    ids=["unknown-instance-id", "with-failback"],
)
def test_fence_bad_input_one_clear_error_nothing_changed(g, extra, message):
    before = untouched(g)
    assert before[:3] == ("primary", "replica", False) and before[4] == "running", before
    refused(g.run(FAILOVER, ghe_fence_old_primary=True, **extra), message)
    assert untouched(g) == before


def test_fence_check_mode_reports_and_changes_nothing(g, proxy):
    before = untouched(g)
    proxy.reset()
    check = ok(g.run(FAILOVER, check=True, ghe_fence_old_primary=True, aws_endpoint_url=proxy.url))
    assert (f"check mode: the EC2 instance {instance_id(g, PRIMARY)} of {PRIMARY} (now running) would be stopped"
            in text(check)), check.stdout[-4000:]
    assert untouched(g) == before
    assert proxy.counts["StopInstances"] == 0 and proxy.counts["DescribeInstances"] >= 1, dict(proxy.counts)


def test_disaster_promotion_fences_old_primary_before_dns_moves(g, proxy, tmp_path):
    assert g.records() == g.expected_records(PRIMARY, REPLICA)
    assert instance_state(g, PRIMARY) == "running" and g.http_status(PRIMARY) == 200
    g.write_repo(PRIMARY, "before-split", "replicated before the split")
    g.wait_in_sync(REPLICA)
    proxy.reset()
    # Split brain: the old primary is cut off from the replica, keeps running and still serves
    # the clients that reach it (here the controller); the replica cannot reach it either.
    g.lab.partition(PRIMARY, REPLICA)
    assert g.http_status(PRIMARY) == 200
    watcher = Watcher(g)
    watcher.start()
    try:
        t0 = time.time()
        res = g.run(FAILOVER, ghe_primary_unreachable=True, ghe_fence_old_primary=True,
                    aws_endpoint_url=proxy.url, ghe_failover_report_dir=str(tmp_path))
        elapsed = time.time() - t0
    finally:
        watcher.stop()
    ok(res)
    assert not watcher.errors, watcher.errors[:3]
    old, new = [g.ip(PRIMARY)], [g.ip(REPLICA)]
    samples = watcher.samples
    assert len(samples) >= 10, watcher.table(t0)
    # Read from moto and the lab: the old primary's instance is stopped and its host is down;
    # DNS points at the new primary.
    assert instance_state(g, PRIMARY) == "stopped"
    g.lab.wait_host_down(PRIMARY, timeout=10)
    assert serves(g.ip(PRIMARY)) is None
    assert g.records() == g.expected_records(REPLICA, PRIMARY)
    assert proxy.counts["StopInstances"] == 1, dict(proxy.counts)
    # The EC2 calls are those the README's IAM policy allows (Route 53's REST calls are "(other)").
    assert set(proxy.counts) - {"(other)"} == {"DescribeInstances", "StopInstances"}, dict(proxy.counts)
    # The order, from the samples: the old primary served clients at first; then a sample saw
    # its instance stopped and nothing answering while DNS still pointed at it; no sample saw DNS
    # moved (in either zone) while the instance was not stopped or the old primary answered.
    assert samples[0].state == "running" and samples[0].status == 200, watcher.table(t0)
    fenced_first = [x for x in samples
                    if x.state == "stopped" and x.status is None and x.git == {"public": old, "private": old}]
    assert fenced_first, watcher.table(t0)
    moved = [x for x in samples if new in x.git.values()]
    assert moved and all(x.state == "stopped" and x.status is None for x in moved), watcher.table(t0)
    last_served = max(x.at for x in samples if x.status is not None)
    stopped_seen = min(x.at for x in samples if x.state == "stopped")
    dns_seen = min(x.at for x in moved)
    assert last_served < dns_seen and stopped_seen < dns_seen
    # The lab's power watcher crashed the old primary's host (once), before DNS moved.
    crashes = [at for at, host, event in g.lab.power_events() if host == PRIMARY and event == "crash" and at >= t0]
    assert len(crashes) == 1 and crashes[0] < dns_seen, g.lab.power_events()
    # The new primary serves; what replicated before the split is there.
    assert g.role(REPLICA) == "primary" and g.http_status(REPLICA) == 200
    assert g.repo(REPLICA, "before-split") == "replicated before the split"
    # The report has the fence as a phase between the promotion and DNS.
    report = json.loads(next(tmp_path.glob(f"ghe-failover-{PRIMARY}-{REPLICA}-*.json")).read_text())
    phases = {p["name"]: p for p in report["phases"]}
    assert list(phases) == ["preflight", "maintenance", "drain", "promote", "fence", "dns", "failback"]
    assert phases["fence"]["status"] == "ok" and phases["promote"]["end"] == phases["fence"]["start"]
    assert phases["fence"]["end"] == phases["dns"]["start"]
    assert report["summary"]["old primary fenced (instance stopped)"] == instance_id(g, PRIMARY)
    print(f"\nfenced disaster promotion: playbook {elapsed:.1f} s; first sample with the instance stopped at "
          f"{stopped_seen - t0:.2f} s, host crashed at {crashes[0] - t0:.2f} s, last answer of the old primary at "
          f"{last_served - t0:.2f} s, DNS first seen moved at {dns_seen - t0:.2f} s ({len(samples)} samples); "
          f"report: promote {phases['promote']['seconds']:.2f} s, fence {phases['fence']['seconds']:.2f} s, "
          f"dns {phases['dns']['seconds']:.2f} s")
    # Again: nothing to do (the instance is stopped, DNS is right).
    again = ok(g.run(FAILOVER, ghe_primary_unreachable=True, ghe_fence_old_primary=True, aws_endpoint_url=proxy.url))
    assert again.changed == 0, again.stdout[-4000:]
    assert proxy.counts["StopInstances"] == 1, dict(proxy.counts)


def test_fenced_primary_started_again_is_repaired_as_replica(g):
    """The operator's way back (the role README): start the fenced instance, put it in maintenance
    mode at once, re-pair it (its data is overwritten by the new primary's)."""
    g.lab.heal(PRIMARY, REPLICA)
    aws.client(g.lab.topo, "ec2").start_instances(InstanceIds=[instance_id(g, PRIMARY)])
    assert instance_state(g, PRIMARY) == "running"
    g.lab.wait_host_up(PRIMARY, timeout=120)
    assert [e for at, host, e in g.lab.power_events() if host == PRIMARY][-2:] == ["crash", "boot"]
    # It comes back as a configured primary that serves: what GitHub warns about, and why it
    # was kept stopped until now. The failover refuses to re-pair a primary that serves.
    deadline = time.monotonic() + 30
    while serves(g.ip(PRIMARY)) is None and time.monotonic() < deadline:  # its web service starts after SSH
        time.sleep(0.5)
    assert g.role(PRIMARY) == "primary" and serves(g.ip(PRIMARY)) == 200, g.sh(
        PRIMARY, "systemctl status lab-ghe-httpd --no-pager; tail -20 /var/log/lab/ghe-httpd.log", check=False).stdout
    refused(g.run(FAILOVER, ghe_prepare_failback=True),
            f"{REPLICA} is not a replica (role primary) and {PRIMARY} still serves requests")
    g.lab.exec(PRIMARY, "ghe-maintenance", "-s")
    ok(g.run(FAILOVER, ghe_prepare_failback=True))
    assert g.role(PRIMARY) == "replica" and g.role(REPLICA) == "primary"
    g.wait_in_sync(PRIMARY)
    assert g.repo(PRIMARY, "before-split") == "replicated before the split"
    assert g.records() == g.expected_records(REPLICA, PRIMARY)


def test_fence_failure_stops_before_dns_with_one_clear_error(g, proxy):
    """Fencing fails (the controller may not call StopInstances: the proxy answers EC2's
    UnauthorizedOperation): the play stops before DNS moves and says what to do. Failing over
    back to ghe-1, planned this time."""
    iid = instance_id(g, REPLICA)
    proxy.reset()
    proxy.fail("StopInstances", -1)
    res = g.run(FAILOVER, ghe_primary=REPLICA, ghe_replica=PRIMARY, ghe_fence_old_primary=True,
                aws_endpoint_url=proxy.url)
    assert res.rc != 0, res.stdout[-4000:]
    out = text(res)
    assert (f"ghe_failover: fencing {REPLICA} failed: its EC2 instance {iid} is running, not stopped (Unable to "
            "stop instances: Failed to stop instances: An error occurred (UnauthorizedOperation) when calling the "
            "StopInstances operation: You are not authorized to perform this operation.).") in out, res.stdout[-6000:]
    assert (f"{PRIMARY} is already promoted and DNS was NOT changed. Stop that instance yourself and keep it "
            f"stopped (aws ec2 stop-instances --instance-ids {iid} --force)") in out, res.stdout[-6000:]
    assert out.count("fatal:") == 1, res.stdout[-6000:]
    assert proxy.injected["StopInstances"] == 1, dict(proxy.injected)
    # Read back: promoted, DNS still on the old primary, which runs (in maintenance mode).
    assert g.role(PRIMARY) == "primary" and g.http_status(PRIMARY) == 200
    assert g.records() == g.expected_records(REPLICA, PRIMARY)
    assert instance_state(g, REPLICA) == "running" and g.lab.running_host(REPLICA) and g.maintenance(REPLICA)
    # The permission is granted: the same run again fences and then moves DNS.
    proxy.reset()
    ok(g.run(FAILOVER, ghe_primary=REPLICA, ghe_replica=PRIMARY, ghe_fence_old_primary=True,
             aws_endpoint_url=proxy.url))
    assert proxy.counts["StopInstances"] == 1, dict(proxy.counts)
    assert instance_state(g, REPLICA) == "stopped"
    g.lab.wait_host_down(REPLICA, timeout=10)
    assert g.records() == g.expected_records(PRIMARY, REPLICA)
