# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A small, standard-library-only client for the EC2 instance metadata service (IMDSv2).

The failover command on a DB node uses it to learn the node's own primary network interface,
VPC and region. Only IMDSv2 (session token) is spoken: IMDSv1 is not a fallback.
"""

from __future__ import annotations

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


class ImdsClient:
    """IMDSv2 client. ``base_url`` is the service root (tests pass a local server's URL)."""

    TOKEN_PATH = "/latest/api/token"
    META_PATH = "/latest/meta-data/"

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
        last_error = None
        for _attempt in range(self.attempts):
            request = urllib.request.Request(url, method=method, headers=headers)
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    return response.read().decode("utf-8", "replace").strip()
            except urllib.error.HTTPError as err:
                # 4xx are answers, not blips: report them at once. 5xx may be retried.
                last_error = f"HTTP {err.code} {err.reason}"
                if err.code < 500:
                    break
            except (urllib.error.URLError, OSError, ValueError) as err:
                last_error = str(getattr(err, "reason", err))
        raise AwsError(f"instance metadata {method} {url} failed: {last_error}"
                       " (is this an EC2 instance with IMDSv2 enabled?)",
                       details={"url": url})

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
