"""Shared helpers of the VIP benchmarks: the ``vip`` lab (its own slot 2, or ``--slot N``),
route tables in moto, the lab's counting proxy (tests/lab/awsproxy.py, with a per-call latency),
and the two route-swap implementations run inside a lab host.

The lab topology is the integration tests' (tests/lab/topologies/vip.yml): in its default slot
a benchmark must not run while tests/integration/vip runs (same slot); ``bench_lab(slot)`` puts
it in another slot, under another name (``vip-sN``).
"""
from __future__ import annotations

import shlex
import shutil
import time
from pathlib import Path

from tests.lab import Lab, aws
from tests.lab.awsproxy import AwsProxy
from tests.lab.lab import REPO

AGENT = "/usr/lib/ocf/resource.d/heartbeat/aws-vpc-move-ip"
# The collection's plugins are copied into the host here (hosts do not see the controller's files).
HOST_COLLECTIONS = "/opt/hapair-bench/collections"
HOST_ENV = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"]
# Our command exactly as the role installs it, but importing the module_utils from the checkout.
OURS = (
    "import sys; sys.path.insert(0, %r); "
    "from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_cli import main; sys.exit(main())"
)


def bench_lab(slot: int | None = None) -> Lab:
    """The ``vip`` lab in its own slot (``slot=None``) or in ``slot``; in another slot it is
    named ``vip-s<slot>`` (tests/lab/topology.py), so its state, inventory and teardown are not
    those of a ``vip`` lab in slot 2."""
    return Lab.from_topology("vip", slot=slot)


def add_slot_argument(parser) -> None:
    """``--slot N`` for a benchmark's argument parser (default: the topology's own, 2)."""
    parser.add_argument("--slot", type=int, default=None,
                        help="lab slot (default: the vip topology's own, 2); the lab is then named vip-s<slot>")


def vip_of(lab) -> str:
    return str(lab.topo.vip_network.network_address + 10)


def primary_eni(lab, host: str) -> str:
    return lab.model["instances"][host]["interfaces"][0]["interface_id"]


def pair_up(lab, n_tables: int, pair=("db-01", "db-02")):
    """Bring the lab up and give the pair ``n_tables`` route tables, each routing the VIP to the
    first node: returns (vip, {node: primary ENI}, tables)."""
    lab.up()
    enis = {h: primary_eni(lab, h) for h in pair}
    return vip_of(lab), enis, make_tables(lab, n_tables, enis[pair[0]])


def make_tables(lab, n: int, target_eni: str) -> list[str]:
    """``n`` route tables in the lab VPC, each with the VIP route to ``target_eni``."""
    ec2 = aws.client(lab.topo, "ec2")
    out = []
    for _index in range(n):
        rtb = ec2.create_route_table(VpcId=lab.model["vpc_id"])["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock=f"{vip_of(lab)}/32", NetworkInterfaceId=target_eni)
        out.append(rtb)
    return out


def point_all(lab, tables: list[str], eni: str) -> None:
    ec2 = aws.client(lab.topo, "ec2")
    for rtb in tables:
        ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock=f"{vip_of(lab)}/32", NetworkInterfaceId=eni)


def targets(lab, tables: list[str]) -> set[str]:
    ec2 = aws.client(lab.topo, "ec2")
    found = ec2.describe_route_tables(RouteTableIds=list(tables))["RouteTables"]
    vip = f"{vip_of(lab)}/32"
    return {next((r.get("NetworkInterfaceId") for r in t["Routes"] if r.get("DestinationCidrBlock") == vip), None)
            for t in found}


def proxy_for(lab, latency: float = 0.0) -> AwsProxy:
    """The lab's proxy in front of moto, started, on the controller's lab address (reachable
    from the hosts): every API call through it is counted and delayed by ``latency`` seconds
    (settable later: ``proxy.latency = 0.1``). Stop it (``proxy.stop()``) before ``lab.down()``."""
    return AwsProxy(lab.aws_endpoint, host=str(lab.topo.first_network.controller_ip), latency=latency).start()


def install_ours(lab, host: str) -> None:
    """Copy the checkout's plugins into the host (through its PID 1's root), as the role's
    install would put the command's code there."""
    dest = Path(f"/proc/{lab.pid1(host)}/root{HOST_COLLECTIONS}/ansible_collections/hapair/ha/plugins")
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(REPO / "plugins", dest, ignore=shutil.ignore_patterns("__pycache__"))


def run_ours(lab, host: str, tables: list[str], endpoint: str) -> float:
    """hapair-route-failover --self inside ``host``: IMDSv2 for the ENI, instance-profile
    credentials; returns the wall time in seconds."""
    if lab.exec(host, "test", "-d", HOST_COLLECTIONS, check=False).returncode != 0:
        install_ours(lab, host)
    argv = [*HOST_ENV, "/usr/bin/python3", "-c", OURS % HOST_COLLECTIONS, "--self", "--vip", vip_of(lab),
            "--endpoint-url", endpoint, "--json"]
    for rtb in tables:
        argv += ["--route-table-id", rtb]
    t0 = time.monotonic()
    lab.exec(host, *argv, timeout=600)
    return time.monotonic() - t0


def prepare_agent(lab, host: str, endpoint: str) -> str:
    """The agent needs an AWS CLI profile (it always passes --profile, default "default") and
    talks to the regional endpoint; its awscli parameter points at a wrapper that adds
    --endpoint-url (the agent is not edited). Returns the wrapper's path inside the host."""
    wrapper = "/usr/local/bin/aws-bench-endpoint"
    lab.exec(host, "sh", "-c",
             "mkdir -p /root/.aws && printf '[default]\\nregion = %s\\n' > /root/.aws/config && "
             "printf '#!/bin/sh\\nexec /usr/bin/aws --endpoint-url %s \"$@\"\\n' > %s && chmod 755 %s"
             % (lab.topo.region, endpoint, wrapper, wrapper))
    return wrapper


def run_agent(lab, host: str, tables: list[str], wrapper: str) -> float:
    """``aws-vpc-move-ip start`` inside ``host`` (OCF environment as Pacemaker sets it);
    returns the wall time. lookup_type NetworkInterfaceId: moto does not fill a route's
    InstanceId for an ENI target, which the agent's default lookup compares against."""
    env = [
        "OCF_ROOT=/usr/lib/ocf", f"OCF_RESKEY_ip={vip_of(lab)}", f"OCF_RESKEY_routing_table={','.join(tables)}",
        "OCF_RESKEY_interface=eth0", f"OCF_RESKEY_region={lab.topo.region}", f"OCF_RESKEY_awscli={wrapper}",
        "OCF_RESKEY_lookup_type=NetworkInterfaceId",
    ]
    t0 = time.monotonic()
    proc = lab.exec(host, *HOST_ENV, *env, AGENT, "start", timeout=3600, check=False)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"aws-vpc-move-ip start failed ({proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    lab.exec(host, "ip", "addr", "del", f"{vip_of(lab)}/32", "dev", "eth0", check=False)
    return took


def require_agent(lab, host: str) -> None:
    missing = [p for p in (AGENT, "/usr/bin/aws") if lab.exec(host, "test", "-e", p, check=False).returncode != 0]
    if missing:
        raise SystemExit(f"missing in the host image: {', '.join(missing)} (resource-agents, awscli in tests/lab/image.py)")


def quote(argv) -> str:
    return " ".join(shlex.quote(a) for a in argv)
