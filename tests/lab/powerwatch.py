"""The lab's power watcher: an EC2 instance stopped in moto powers its lab host off.

LAB HELPER (the hypervisor's side of EC2, which moto does not have). ``Lab.up()`` starts it as a
process of its own for a topology with ``ec2`` hosts (so it also serves a lab brought up by
``python -m tests.lab up``, whose process ends); its PID is in the lab's ``state.json`` and
``Lab.down()`` kills it by that PID. It ends by itself when the lab's state goes or a newer
``up`` of the lab replaces it (another run id).

    python -m tests.lab.powerwatch NAME [--state-root DIR] [--run ID] [--interval 0.25]

Every ``interval`` seconds it reads the lab's instance states from moto (DescribeInstanceStatus,
straight to moto, not through a test's AwsProxy, so a proxy's counts and injected errors never
see it) and acts on a *change* of an instance's state that it
saw itself:

- into ``stopping``/``stopped``/``shutting-down``/``terminated`` (OFF_STATES): the host is
  crashed (``Lab.crash``: PID 1 killed, NICs dark, disks as a power cut leaves them);
- from one of those to ``running`` (StartInstances): the host is booted (``Lab.boot``).

moto 5.2 has no transitions of its own: StopInstances sets the instance ``stopped`` at once
(its answer says ``stopping``), StartInstances ``running`` (moto/ec2/models/instances.py,
``Instance.stop``/``start``). So the host dies within about one interval (plus the crash,
~0.1 s) *after* moto already says ``stopped``, where EC2 says ``stopped`` only once the machine
is off: the one window in which the lab is kinder than EC2 to a fencing node that waits for
``stopped``.

It does nothing else: a host that a test crashed while its instance runs stays down, a host
the watcher crashed is not booted because it is down, only because its instance runs again; a
new instance (``reset_aws``) is watched from its first state, without acting on it. A stop and
a start both inside one interval are not seen (as a reboot). What it did is appended to
``power-events.jsonl`` in the lab's state dir (``Lab.power_events()``), its log is
``powerwatch.log``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

from . import aws
from .lab import OFF_STATES, POWER_EVENTS, STATE_ROOT, Lab, LabError

BOOT_TIMEOUT = 120.0


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} powerwatch: {msg}", flush=True)


def _ec2(lab: Lab):
    """A moto client that fails fast: a poll that fails is tried again at the next interval."""
    return boto3.client(
        "ec2", endpoint_url=lab.aws_endpoint, region_name=lab.topo.region,
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
        **aws.FAKE_CREDENTIALS,
    )


def _states(ec2) -> dict[str, str]:
    """Instance id -> state name of every instance in moto's region. DescribeInstanceStatus with
    IncludeAllInstances (stopped ones too) costs moto less than half of DescribeInstances
    (measured: 6 ms against 15 ms a call): this runs four times a second per lab."""
    resp = ec2.describe_instance_status(IncludeAllInstances=True)
    return {i["InstanceId"]: i["InstanceState"]["Name"] for i in resp["InstanceStatuses"]}


def _record(lab: Lab, when: float, host: str, event: str, instance_id: str, state: str) -> None:
    line = json.dumps({"time": when, "host": host, "event": event, "instance_id": instance_id, "state": state})
    with open(lab.dir / POWER_EVENTS, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def _reap(lab: Lab) -> None:
    """The hosts this process booted are its children: collect the ones that ended."""
    lab.children = [p for p in lab.children if p.poll() is None]


def act(lab: Lab, host: str, instance_id: str, before: str, now: str) -> None:
    """What a change of the host's instance state from ``before`` to ``now`` does to the host."""
    if now in OFF_STATES and before not in OFF_STATES:
        if not lab.running_host(host):
            log(f"{host}: already down")
            return
        with lab._power(host):  # pylint: disable=protected-access  # the event is written before wait_host_down returns
            when = time.time()
            try:
                lab.crash(host)
            except LabError as err:  # a test crashed it meanwhile
                log(f"{host}: crash: {err}")
                return
            _record(lab, when, host, "crash", instance_id, now)
        log(f"{host}: crashed ({time.time() - when:.2f} s)")
    elif now == "running" and before in OFF_STATES:
        if lab.running_host(host):
            log(f"{host}: already running")
            return
        with lab._power(host):  # pylint: disable=protected-access
            when = time.time()
            _record(lab, when, host, "boot", instance_id, now)
            try:
                seconds = lab.boot(host, timeout=BOOT_TIMEOUT)
            except LabError as err:
                log(f"{host}: boot failed: {err}")
                return
        log(f"{host}: booted ({seconds:.1f} s)")


def watch(name: str, state_root: Path, run_id: str | None, interval: float) -> int:
    lab = Lab.from_state(name, state_root)
    lab.owns_state = False  # state.json is the up() process's: never written from here
    state_file = lab.dir / "state.json"
    ec2 = _ec2(lab)
    seen: dict[str, tuple[str, str]] = {}  # host -> (instance id, its last state)
    failing = False
    ready = False
    log(f"watching lab {name} every {interval}s (pid {os.getpid()})")
    while True:
        try:
            state = json.loads(state_file.read_text())
        except FileNotFoundError:
            log("the lab's state is gone: ending")
            return 0
        except ValueError:
            time.sleep(interval)  # being written
            continue
        if run_id and state.get("run") != run_id:
            log("a newer run of the lab: ending")
            return 0
        lab.model = state.get("aws", {})
        instances = {host: inst["instance_id"] for host, inst in lab.model.get("instances", {}).items()}
        try:
            states = _states(ec2) if instances else {}
            if failing:
                log("moto answers again")
            failing = False
        except Exception as err:  # noqa: BLE001 - moto restarting or reset: try again next time
            if not failing:
                log(f"DescribeInstanceStatus failed: {err}")
            failing = True
            time.sleep(interval)
            continue
        for host, iid in instances.items():
            now = states.get(iid)
            if now is None:
                continue  # not (yet, or no longer) in moto: a reset is under way
            before = seen.get(host)
            seen[host] = (iid, now)
            if before is None or before[0] != iid:
                log(f"{host}: instance {iid} is {now}")
                continue
            if before[1] != now:
                log(f"{host}: instance {iid} {before[1]} -> {now}")
                act(lab, host, iid, before[1], now)
        if not ready:
            (lab.dir / "powerwatch.ready").touch()
            ready = True
        _reap(lab)
        time.sleep(interval)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab.powerwatch", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the lab's name (its state dir)")
    parser.add_argument("--state-root", type=Path, default=STATE_ROOT)
    parser.add_argument("--run", help="the run id of the lab's up(): end when the lab has another")
    parser.add_argument("--interval", type=float, default=float(os.environ.get("HAPAIR_LAB_POWER_INTERVAL") or 0.25))
    args = parser.parse_args(argv)
    try:
        return watch(args.name, args.state_root, args.run, args.interval)
    except LabError as err:
        log(f"error: {err}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
