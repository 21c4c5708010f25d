"""LAB SIMULATION: an EC2 instance metadata service (IMDSv2) for one lab host.

Runs inside the host's network namespace, bound to 169.254.169.254:80, and answers from a
JSON file the lab writes when it seeds moto (``<state>/hosts/<host>/imds.json``), re-read on
every request so a moto reset + re-seed is picked up at once. Stdlib only: it runs with the
system ``/usr/bin/python3``.

What it models (enough for botocore, amazon.aws.ec2_metadata_facts and ClusterLabs'
aws-vpc-move-ip): ``PUT /latest/api/token`` (TTL header required, 1..21600 s), tokens required
unless the config says ``"http_tokens": "optional"`` (IMDSv1), directory listings, the
meta-data tree (instance-id, mac, network/interfaces/macs/<mac>/..., placement, iam info and
instance-profile credentials), ``dynamic/instance-identity/document`` and ``user-data`` (404).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import threading
import time
import socketserver
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"


def build_tree(cfg: dict) -> dict:
    """The metadata tree as nested dicts; leaves are strings."""
    now = dt.datetime.now(dt.timezone.utc)
    macs = {}
    for itf in cfg["interfaces"]:
        macs[itf["mac"]] = {
            "device-number": str(itf["device_index"]),
            "interface-id": itf["interface_id"],
            "local-ipv4s": itf["local_ipv4"],
            "mac": itf["mac"],
            "owner-id": cfg["account_id"],
            "subnet-id": itf["subnet_id"],
            "subnet-ipv4-cidr-block": itf["subnet_cidr"],
            "vpc-id": itf["vpc_id"],
            "vpc-ipv4-cidr-block": cfg["vpc_cidr"],
            "vpc-ipv4-cidr-blocks": cfg["vpc_cidr"],
        }
    primary = min(cfg["interfaces"], key=lambda i: i["device_index"])
    meta = {
        "ami-id": cfg["ami_id"],
        "hostname": cfg["hostname"],
        "instance-id": cfg["instance_id"],
        "instance-type": cfg["instance_type"],
        "local-hostname": cfg["hostname"],
        "local-ipv4": primary["local_ipv4"],
        "mac": primary["mac"],
        "network": {"interfaces": {"macs": macs}},
        "placement": {
            "availability-zone": cfg["availability_zone"],
            "region": cfg["region"],
        },
        "services": {"domain": "amazonaws.com", "partition": "aws"},
    }
    profile = cfg.get("instance_profile")
    if profile:
        meta["iam"] = {
            "info": json.dumps(
                {
                    "Code": "Success",
                    "LastUpdated": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "InstanceProfileArn": f"arn:aws:iam::{cfg['account_id']}:instance-profile/{profile}",
                    "InstanceProfileId": "AIPALABLABLABLABLAB01",
                },
                indent=2,
            ),
            "security-credentials": {
                profile: json.dumps(
                    {
                        "Code": "Success",
                        "LastUpdated": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "Type": "AWS-HMAC",
                        # moto accepts any credentials; these are visibly fake.
                        "AccessKeyId": "ASIALABINSTANCEPROF1",
                        "SecretAccessKey": "lab-instance-profile-secret",
                        "Token": "lab-instance-profile-token",
                        "Expiration": (now + dt.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    },
                    indent=2,
                )
            },
        }
    document = {
        "accountId": cfg["account_id"],
        "architecture": "x86_64",
        "availabilityZone": cfg["availability_zone"],
        "imageId": cfg["ami_id"],
        "instanceId": cfg["instance_id"],
        "instanceType": cfg["instance_type"],
        "pendingTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "privateIp": primary["local_ipv4"],
        "region": cfg["region"],
        "version": "2017-09-30",
    }
    return {
        "meta-data": meta,
        "dynamic": {"instance-identity": {"document": json.dumps(document, indent=2)}},
    }


def lookup(tree: dict, path: str):
    """(status, body) for a path below /latest/."""
    node = tree
    parts = [p for p in path.split("/") if p]
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return 404, None
        node = node[part]
    if isinstance(node, dict):
        return 200, "\n".join(k + "/" if isinstance(v, dict) else k for k, v in node.items())
    return 200, node


class Handler(BaseHTTPRequestHandler):
    server_version = "EC2ws"
    sys_version = ""
    config_path = ""
    tokens: dict = {}
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # quiet; the lab keeps no access log
        pass

    def _send(self, status: int, body: str | None, ctype: str = "text/plain") -> None:
        data = (body or "").encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _config(self) -> dict:
        with open(self.config_path, encoding="utf-8") as fh:
            return json.load(fh)

    def do_PUT(self):
        if self.path.rstrip("/") != "/latest/api/token":
            return self._send(404, None)
        if self.headers.get("X-Forwarded-For"):
            return self._send(403, None)  # as EC2 does: tokens are not for proxied requests
        try:
            ttl = int(self.headers.get(TOKEN_TTL_HEADER, ""))
        except ValueError:
            return self._send(400, None)
        if not 1 <= ttl <= 21600:
            return self._send(400, None)
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = time.monotonic() + ttl
        self.send_response(200)
        self.send_header(TOKEN_TTL_HEADER, str(ttl))
        self.send_header("Content-Length", str(len(token)))
        self.end_headers()
        self.wfile.write(token.encode())

    def do_GET(self):
        try:
            cfg = self._config()
        except (OSError, ValueError):
            return self._send(500, None)
        token = self.headers.get(TOKEN_HEADER)
        if token is not None:
            with self.lock:
                expiry = self.tokens.get(token)
            if expiry is None or expiry < time.monotonic():
                return self._send(401, None)
        elif cfg.get("http_tokens", "required") == "required":
            return self._send(401, None)
        path = self.path.split("?", 1)[0]
        if path in ("/", ""):
            return self._send(200, "latest")
        if not path.startswith("/latest"):
            return self._send(404, None)
        rest = path[len("/latest"):]
        if rest in ("", "/"):
            return self._send(200, "dynamic\nmeta-data\nuser-data")
        if rest.strip("/") == "user-data":
            return self._send(404, None)
        status, body = lookup(build_tree(cfg), rest)
        ctype = "application/json" if body and body.startswith("{") else "text/plain"
        return self._send(status, body, ctype)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):
        # HTTPServer.server_bind() resolves its own name (socket.getfqdn): a DNS lookup that, in a
        # lab namespace, waits ~5 s for a resolver it cannot reach. The name is never used here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON file written by the lab")
    parser.add_argument("--bind", default="169.254.169.254")
    parser.add_argument("--port", type=int, default=80)
    args = parser.parse_args(argv)
    Handler.config_path = args.config
    server = Server((args.bind, args.port), Handler)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
