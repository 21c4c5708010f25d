"""Helpers for the AWS area's tests: builders of EC2 API answers, a fake IMDSv2 server and a
thread-safe fake EC2 client."""
from __future__ import annotations

import contextlib
import copy
import http.server
import json
import threading
import time
from pathlib import Path

VIP = "10.1.0.10/32"
VPC = "vpc-0aaaaaaaaaaaaaaa1"
OTHER_VPC = "vpc-0bbbbbbbbbbbbbbb2"
ENI_A = "eni-0aaaaaaaaaaaaaaa1"
ENI_B = "eni-0bbbbbbbbbbbbbbb2"
INSTANCE_B = "i-0bbbbbbbbbbbbbbb2"


def rtb(n):
    return f"rtb-{n:017x}"


def route(target=ENI_A, state="active", dest=VIP, key="NetworkInterfaceId"):
    entry = {"DestinationCidrBlock": dest, "Origin": "CreateRoute", "State": state}
    if target:
        entry[key] = target
    return entry


def table(rtb_id, *routes, vpc=VPC):
    local = {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "Origin": "CreateRouteTable",
             "State": "active"}
    return {"RouteTableId": rtb_id, "VpcId": vpc, "Routes": [local, *routes]}


def eni(eni_id=ENI_B, vpc=VPC, sdc=False, status="in-use", instance=INSTANCE_B):
    data = {"NetworkInterfaceId": eni_id, "VpcId": vpc, "SourceDestCheck": sdc, "Status": status}
    if instance:
        data["Attachment"] = {"InstanceId": instance, "DeviceIndex": 0, "Status": "attached"}
    return data


def targets(client, table_ids, vip=VIP):
    """{table: ENI the VIP route points at} as moto/AWS reports it now."""
    found = {}
    for rt in client.describe_route_tables(RouteTableIds=list(table_ids))["RouteTables"]:
        found[rt["RouteTableId"]] = next((r.get("NetworkInterfaceId") for r in rt["Routes"]
                                          if r.get("DestinationCidrBlock") == vip), None)
    return found


# ---- the failover command as the vip_route role installs it on a node --------------------

_WRAPPER = (  # roles/vip_route/vars/main.yml __vip_route_wrapper, plus a guard: no Ansible on a node
    "import sys\n"
    "class _NoAnsible:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'ansible' or name.startswith('ansible.'):\n"
    "            raise ImportError('ansible must not be imported on the node: ' + name)\n"
    "sys.meta_path.insert(0, _NoAnsible())\n"
    "sys.path.insert(0, {lib!r})\n"
    "from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_agent import delegate\n"
    "status = delegate(sys.argv[1:])\n"
    "if status is None:\n"
    "    from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_cli import main\n"
    "    status = main()\n"
    "sys.exit(status)\n")


def install_node_command(root, source_dir):
    """Copy every file of ``source_dir`` (module_utils/aws) into a package tree under
    ``root/lib`` with the role's ``__init__.py`` files, and write the role's wrapper; return
    the wrapper's path (run it with ``sys.executable``)."""
    root = Path(root)
    dest = root / "lib" / "ansible_collections" / "hapair" / "ha" / "plugins" / "module_utils" / "aws"
    dest.mkdir(parents=True)
    for level in (dest.parents[3], dest.parents[2], dest.parents[1], dest.parents[0]):
        (level / "__init__.py").write_text("")
    for path in Path(source_dir).glob("*.py"):
        (dest / path.name).write_bytes(path.read_bytes())
    wrapper = root / "hapair-route-failover"
    wrapper.write_text(_WRAPPER.format(lib=str(root / "lib")))
    return wrapper


# ---- a fake IMDSv2 on 127.0.0.1 ------------------------------------------------------------

MAC = "0a:1b:2c:3d:4e:5f"
TOKEN = "AQAEAFakeToken=="
METADATA = {
    "mac": MAC,
    f"network/interfaces/macs/{MAC}/interface-id": "eni-0bbbbbbbbbbbbbbb2",
    f"network/interfaces/macs/{MAC}/vpc-id": "vpc-0aaaaaaaaaaaaaaa1",
    "placement/region": "eu-west-1",
    "services/partition": "aws",
}
IDENTITY = {"accountId": "123456789012", "instanceId": "i-0123456789abcdef0", "region": "eu-west-1",
            "availabilityZone": "eu-west-1a", "privateIp": "10.0.1.10", "version": "2017-09-30"}


class FakeImds(http.server.ThreadingHTTPServer):
    """IMDSv2 as EC2 answers it: PUT a token, then GETs must carry it."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.metadata = dict(METADATA)
        self.identity = json.dumps(IDENTITY, indent=2)
        self.requests = []
        self.fail_next = []  # HTTP statuses to answer before behaving
        self.token_status = 200

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    @classmethod
    @contextlib.contextmanager
    def running(cls):
        """A fake served from a thread of its own for the ``with`` block, then shut down."""
        server = cls()
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


class Handler(http.server.BaseHTTPRequestHandler):
    server: FakeImds

    def log_message(self, *_args):  # keep pytest output clean
        pass

    def _send(self, status, body=""):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):  # noqa: N802 pylint: disable=invalid-name
        self.server.requests.append(("PUT", self.path, self.headers))
        if self.server.fail_next:
            return self._send(self.server.fail_next.pop(0))
        if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self._send(400)
        if self.server.token_status != 200:
            return self._send(self.server.token_status)
        return self._send(200, TOKEN)

    def do_GET(self):  # noqa: N802 pylint: disable=invalid-name
        self.server.requests.append(("GET", self.path, self.headers))
        if self.server.fail_next:
            return self._send(self.server.fail_next.pop(0))
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            return self._send(401)
        if self.path == "/latest/dynamic/instance-identity/document":
            return self._send(200, self.server.identity)
        key = self.path[len("/latest/meta-data/"):]
        if not self.path.startswith("/latest/meta-data/") or key not in self.server.metadata:
            return self._send(404)
        return self._send(200, self.server.metadata[key])


# ---- a thread-safe fake EC2 for the parallel route updates ----------------------------------

THROTTLED = "RequestLimitExceeded"


def client_error(code, operation="ReplaceRoute"):
    """A botocore ClientError as EC2 answers it (503 for throttling, 400 for the rest)."""
    from botocore.exceptions import ClientError  # pylint: disable=import-outside-toplevel

    status = 503 if code == THROTTLED else 400
    return ClientError({"Error": {"Code": code, "Message": f"{code} (fake)"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


class FakeEc2:  # pylint: disable=too-many-instance-attributes
    """Just enough of a botocore EC2 client, safe to call from many threads at once.

    Route tables live in memory. ``errors`` scripts each table's mutating calls: an iterable of
    error codes (``None`` for success) consumed one per call, e.g. ``[THROTTLED, THROTTLED]`` or
    ``itertools.repeat(THROTTLED)``; once exhausted, calls succeed. ``barrier`` (a
    threading.Barrier) is waited on by the first mutating call of every table: sized to the
    expected concurrency, it only trips if that many calls really are in flight together.
    ``delay`` is how long a mutating call takes; ``hooks`` maps a table to a function run at
    the start of its call. ``max_in_flight`` is the most mutating calls seen in flight at once.
    """

    class meta:  # pylint: disable=invalid-name,too-few-public-methods
        method_to_api_mapping = {
            "describe_network_interfaces": "DescribeNetworkInterfaces",
            "describe_route_tables": "DescribeRouteTables",
            "modify_network_interface_attribute": "ModifyNetworkInterfaceAttribute",
            "replace_route": "ReplaceRoute",
            "create_route": "CreateRoute",
        }

    def __init__(self, tables, eni_data=None, errors=None, barrier=None, delay=0.0, hooks=None):
        self.lock = threading.Lock()
        self.tables = {t["RouteTableId"]: copy.deepcopy(t) for t in tables}
        self.eni = copy.deepcopy(eni_data or eni())
        self.errors = {rtb_id: iter(codes) for rtb_id, codes in (errors or {}).items()}
        self.barrier = barrier
        self.delay = delay
        self.hooks = dict(hooks or {})
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls = []  # (operation, route table id or None), in arrival order
        self._started = set()

    def _record(self, operation, rtb_id=None):
        with self.lock:
            self.calls.append((operation, rtb_id))

    def describe_network_interfaces(self, NetworkInterfaceIds):  # noqa: N803 pylint: disable=invalid-name
        self._record("describe_network_interfaces")
        with self.lock:
            found = [copy.deepcopy(self.eni)] if self.eni["NetworkInterfaceId"] in NetworkInterfaceIds else []
        return {"NetworkInterfaces": found}

    def describe_route_tables(self, RouteTableIds=None, Filters=None):  # noqa: N803 pylint: disable=invalid-name
        self._record("describe_route_tables")
        with self.lock:
            tables = [copy.deepcopy(t) for t in self.tables.values()]
        if RouteTableIds is not None:
            tables = [t for t in tables if t["RouteTableId"] in RouteTableIds]
        for flt in Filters or []:
            if flt["Name"] == "vpc-id":
                tables = [t for t in tables if t["VpcId"] in flt["Values"]]
        return {"RouteTables": tables}

    def modify_network_interface_attribute(self, NetworkInterfaceId, SourceDestCheck):  # noqa: N803 pylint: disable=invalid-name
        self._record("modify_network_interface_attribute")
        with self.lock:
            assert NetworkInterfaceId == self.eni["NetworkInterfaceId"]
            self.eni["SourceDestCheck"] = SourceDestCheck["Value"]
        return {}

    def replace_route(self, **params):
        return self._mutate("replace_route", **params)

    def create_route(self, **params):
        return self._mutate("create_route", **params)

    def _mutate(self, operation, RouteTableId, DestinationCidrBlock, NetworkInterfaceId):  # noqa: N803 pylint: disable=invalid-name
        with self.lock:
            self.calls.append((operation, RouteTableId))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            first = RouteTableId not in self._started
            self._started.add(RouteTableId)
            code = next(self.errors.get(RouteTableId, iter(())), None)
        try:
            if first and self.barrier is not None:
                self.barrier.wait()  # BrokenBarrierError (a test failure) if too few are in flight
            if RouteTableId in self.hooks:
                self.hooks[RouteTableId]()
            if self.delay:
                time.sleep(self.delay)
            if code:
                raise client_error(code, "CreateRoute" if operation == "create_route" else "ReplaceRoute")
            with self.lock:
                routes = self.tables[RouteTableId]["Routes"]
                existing = [r for r in routes if r.get("DestinationCidrBlock") == DestinationCidrBlock]
                if operation == "create_route" and existing:
                    raise client_error("RouteAlreadyExists", "CreateRoute")
                if operation == "replace_route" and not existing:
                    raise client_error("InvalidParameterValue")
                for old in existing:
                    routes.remove(old)
                routes.append(route(NetworkInterfaceId, dest=DestinationCidrBlock))
            return {"Return": True} if operation == "create_route" else {}
        finally:
            with self.lock:
                self.in_flight -= 1

    def targets(self):
        """{table: ENI the VIP route points at now}."""
        with self.lock:
            return {rtb_id: next((r.get("NetworkInterfaceId") for r in t["Routes"]
                                  if r.get("DestinationCidrBlock") == VIP), None)
                    for rtb_id, t in self.tables.items()}

    def mutating_calls(self, rtb_id=None):
        with self.lock:
            return [c for c in self.calls
                    if c[0] in ("replace_route", "create_route") and (rtb_id is None or c[1] == rtb_id)]
