"""Helpers for the AWS area's tests: builders of EC2 API answers and a fake IMDSv2 server."""
from __future__ import annotations

import http.server

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


# ---- a fake IMDSv2 on 127.0.0.1 ------------------------------------------------------------

MAC = "0a:1b:2c:3d:4e:5f"
TOKEN = "AQAEAFakeToken=="
METADATA = {
    "mac": MAC,
    f"network/interfaces/macs/{MAC}/interface-id": "eni-0bbbbbbbbbbbbbbb2",
    f"network/interfaces/macs/{MAC}/vpc-id": "vpc-0aaaaaaaaaaaaaaa1",
    "placement/region": "eu-west-1",
}


class FakeImds(http.server.ThreadingHTTPServer):
    """IMDSv2 as EC2 answers it: PUT a token, then GETs must carry it."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.metadata = dict(METADATA)
        self.requests = []
        self.fail_next = []  # HTTP statuses to answer before behaving
        self.token_status = 200

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


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
        key = self.path[len("/latest/meta-data/"):]
        if not self.path.startswith("/latest/meta-data/") or key not in self.server.metadata:
            return self._send(404)
        return self._send(200, self.server.metadata[key])
