# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A small, standard-library-only client for the EC2 instance metadata service (IMDSv2).

The failover command on a DB node uses it to learn the node's own primary network interface,
VPC and region; the ``instance_metadata_facts`` module reads the few facts the roles need with it.
Only IMDSv2 (session token) is spoken: IMDSv1 is not a fallback.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

from ansible_collections.hapair.ha.plugins.module_utils.aws.common import AwsError

DEFAULT_IMDS_URL = "http://169.254.169.254"
#: botocore's name for an alternative IMDS endpoint; honoured by the command as well.
IMDS_ENDPOINT_ENV = "AWS_EC2_METADATA_SERVICE_ENDPOINT"

_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_ENI_RE = re.compile(r"^eni-[0-9a-f]+$")
_VPC_RE = re.compile(r"^vpc-[0-9a-f]+$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d+$")
_INSTANCE_RE = re.compile(r"^i-[0-9a-f]+$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")


class ImdsClient:
    """IMDSv2 client. ``base_url`` is the service root (tests pass a local server's URL)."""

    TOKEN_PATH = "/latest/api/token"
    META_PATH = "/latest/meta-data/"
    IDENTITY_PATH = "/latest/dynamic/instance-identity/document"

    def __init__(self, base_url=DEFAULT_IMDS_URL, timeout=1.0, token_ttl=60, attempts=2):
        if not isinstance(base_url, str) or not re.match(r"^https?://[^/\s]+", base_url):
            raise AwsError(f"invalid IMDS URL {base_url!r}: expected http://host[:port]")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token_ttl = int(token_ttl)
        self.attempts = max(int(attempts), 1)
        self._token = None
        # IMDS is link-local: never send its requests through an HTTP proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _request(self, method, path, headers):
        url = self.base_url + path
        last_error, status = None, None
        for _attempt in range(self.attempts):
            request = urllib.request.Request(url, method=method, headers=headers)
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    return response.read().decode("utf-8", "replace").strip()
            except urllib.error.HTTPError as err:
                # 4xx are answers, not blips: report them at once. 5xx may be retried.
                last_error, status = f"HTTP {err.code} {err.reason}", err.code
                if err.code < 500:
                    break
            except (urllib.error.URLError, OSError, ValueError) as err:
                last_error, status = str(getattr(err, "reason", err)), None
        raise AwsError(f"instance metadata {method} {url} failed: {last_error}"
                       " (is this an EC2 instance with IMDSv2 enabled?)",
                       details={"url": url, "status": status})

    def token(self):
        """Fetch (once) and return an IMDSv2 session token."""
        if self._token is None:
            token = self._request("PUT", self.TOKEN_PATH,
                                  {"X-aws-ec2-metadata-token-ttl-seconds": str(self.token_ttl)})
            if not token:
                raise AwsError(f"instance metadata at {self.base_url} returned an empty token")
            self._token = token
        return self._token

    def get(self, path):
        """GET ``/latest/meta-data/<path>`` and return the text."""
        return self._request("GET", self.META_PATH + path.lstrip("/"),
                             {"X-aws-ec2-metadata-token": self.token()})

    def _get_checked(self, path, pattern, what):
        value = self.get(path)
        if not pattern.match(value):
            raise AwsError(f"instance metadata returned an invalid {what} {value[:64]!r} for {path}")
        return value

    def region(self):
        """The instance's region, e.g. ``eu-west-1``."""
        return self._get_checked("placement/region", _REGION_RE, "region")

    def primary_interface(self):
        """Return ``{mac, network_interface_id, vpc_id}`` of the primary interface (device 0).

        ``meta-data/mac`` is the MAC of the instance's primary network interface.
        """
        mac = self._get_checked("mac", _MAC_RE, "MAC address")
        prefix = f"network/interfaces/macs/{mac}/"
        return {
            "mac": mac,
            "network_interface_id": self._get_checked(prefix + "interface-id", _ENI_RE, "interface id"),
            "vpc_id": self._get_checked(prefix + "vpc-id", _VPC_RE, "VPC id"),
        }

    def identity(self):
        """The instance identity document (``instanceId``, ``accountId``, ``region``, ...)."""
        text = self._request("GET", self.IDENTITY_PATH, {"X-aws-ec2-metadata-token": self.token()})
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise AwsError(f"instance metadata returned an invalid identity document {text[:64]!r}")
        for key, pattern in (("instanceId", _INSTANCE_RE), ("accountId", _ACCOUNT_RE), ("region", _REGION_RE)):
            if not pattern.match(str(document.get(key, ""))):
                raise AwsError(f"instance metadata returned an identity document with an invalid {key} "
                               f"{str(document.get(key, ''))[:64]!r}")
        return document


def metadata_facts(client):
    """The facts the collection's roles read about the instance, named as
    ``amazon.aws.ec2_metadata_facts`` names them (without its ``ansible_`` prefix).

    Six requests: the token, the primary interface's MAC, ENI id and VPC id, the identity
    document and the partition (left out when the service does not have it).
    """
    interface = client.primary_interface()
    document = client.identity()
    mac = interface["mac"].replace(":", "_")
    facts = {
        "ec2_mac": interface["mac"],
        f"ec2_network_interfaces_macs_{mac}_interface_id": interface["network_interface_id"],
        f"ec2_network_interfaces_macs_{mac}_vpc_id": interface["vpc_id"],
        "ec2_instance_id": document["instanceId"],
        "ec2_placement_region": document["region"],
    }
    for key, value in document.items():
        facts["ec2_instance_identity_document_" + re.sub("[:-]", "_", key.lower())] = value
    try:
        facts["ec2_services_partition"] = client.get("services/partition")
    except AwsError as err:
        if err.details.get("status") != 404:
            raise
    return facts
