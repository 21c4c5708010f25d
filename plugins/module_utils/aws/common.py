# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared AWS plumbing for hapair.ha: the area's exception, the retry policy, a boto3 client
factory and a retrying, call-counting client wrapper.

The one place of the collection that imports boto3/botocore (``HAS_BOTO3``, ``BOTO_ERRORS``):
``route_table.py`` and the node command take them from here. The modules connect through
amazon.aws (``module_utils/common/aws_module.py``: ``AnsibleAWSModule`` builds the botocore
client from the standard connection options) and wrap that client in :class:`AwsClient`, so
the module and the node command retry and count calls the same way.

The wrapper may be shared by worker threads (route tables are updated in parallel): botocore
clients are thread-safe, and the wrapper's counters are kept under a lock.

Plain Python on purpose: nothing here imports ``ansible``. The same files run on the DB
nodes as a small command (see ``route_failover_cli.py``) with only the standard library,
boto3/botocore and netaddr installed.
"""

from __future__ import annotations

import functools
import random
import threading
import time

try:
    import boto3
    import botocore.exceptions
    from botocore.config import Config
except ImportError:  # pragma: no cover - exercised by ansible-test's import sanity test
    HAS_BOTO3 = False
else:
    HAS_BOTO3 = True

#: The errors a botocore call raises; only these are candidates for a retry, and callers turn
#: them into AwsError.
BOTO_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) if HAS_BOTO3 else ()

#: Error codes worth retrying: throttling and transient server-side failures. Everything else
#: (bad parameter, not found, unauthorised, quota) fails at once.
RETRYABLE_ERROR_CODES = frozenset((
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "EC2ThrottledException",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "Unavailable",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
))

#: The error of a client without a region.
NO_REGION = "no AWS region: set the region option, AWS_REGION or AWS_DEFAULT_REGION"

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BASE_DELAY = 0.25
DEFAULT_MAX_DELAY = 5.0

#: botocore's own default of ``max_pool_connections``: at most this many HTTP connections are
#: kept open per client. ``make_client`` and ``client_config`` raise it to the caller's concurrency when that is
#: higher, so parallel calls do not open and discard connections beyond the pool.
DEFAULT_MAX_POOL_CONNECTIONS = 10


class AwsError(Exception):
    """The one exception of the AWS area. ``details`` is a dict of extra, secret-free facts
    (error code, operation, partial results) a caller may add to its failure report."""

    def __init__(self, msg, details=None):
        super().__init__(msg)
        self.msg = msg
        self.details = dict(details or {})

    def __str__(self):
        return self.msg


def error_code(err):
    """The AWS error code of a botocore ClientError, '' for anything else."""
    response = getattr(err, "response", None)
    if not isinstance(response, dict):
        return ""
    return str((response.get("Error") or {}).get("Code") or "")


def call(client, operation, action, error=AwsError, **params):
    """``client.call(operation, **params)``; a boto error becomes ``error`` (AwsError or a
    subclass) saying ``action: <the error>``, with its AWS error code in ``details``."""
    try:
        return client.call(operation, **params)
    except BOTO_ERRORS as err:
        code = error_code(err)
        raise error(f"{action}: {err}", details={"error_code": code} if code else None) from err


def is_retryable(err):
    """True for throttling/transient errors: a listed code, a 5xx answer without a code, or a
    connection that could not be opened (the request never reached AWS, so retrying is safe)."""
    if not HAS_BOTO3:
        return False
    if isinstance(err, botocore.exceptions.ClientError):
        code = error_code(err)
        if code:
            return code in RETRYABLE_ERROR_CODES
        status = (err.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return isinstance(status, int) and 500 <= status <= 599
    return isinstance(err, (botocore.exceptions.EndpointConnectionError,
                            botocore.exceptions.ConnectTimeoutError))


def backoff_delay(attempt, base_delay=DEFAULT_BASE_DELAY, max_delay=DEFAULT_MAX_DELAY, rand=random.random):
    """Full-jitter exponential backoff: a random delay in [0, min(max_delay, base * 2**(attempt-1))]."""
    ceiling = min(max_delay, base_delay * (2 ** max(attempt - 1, 0)))
    return ceiling * rand()


class AwsClient:
    """Wrap a botocore client: every API operation is retried on throttling/transient errors
    with jittered backoff, and every attempt is counted (``api_calls``, ``retries``, ``calls``).

    botocore's own retries are switched off by ``make_client`` so that this is the only retry
    layer and the counts are exact. Non-operation attributes (``meta``, ``exceptions``) pass
    through to the wrapped client.

    Thread-safe: several threads may call through one wrapper at once (botocore clients are
    thread-safe); the counters are updated under a lock, and each thread backs off on its own.
    ``calls`` then lists the operations in the order the attempts started.
    """

    def __init__(self, client, max_attempts=DEFAULT_MAX_ATTEMPTS, base_delay=DEFAULT_BASE_DELAY,
                 max_delay=DEFAULT_MAX_DELAY, sleep=time.sleep, rand=random.random):
        if max_attempts < 1:
            raise AwsError(f"max_attempts must be at least 1, got {max_attempts}")
        self.client = client
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.rand = rand
        self.api_calls = 0
        self.retries = 0
        self.calls = []
        self._lock = threading.Lock()

    def call(self, operation, **params):
        """Call ``operation`` (a snake_case client method) with retries; return its response."""
        method = getattr(self.client, operation)
        attempt = 0
        while True:
            attempt += 1
            with self._lock:
                self.api_calls += 1
                self.calls.append(operation)
            try:
                return method(**params)
            except BOTO_ERRORS as err:
                if attempt >= self.max_attempts or not is_retryable(err):
                    raise
                with self._lock:
                    self.retries += 1
                # Outside the lock: a thread backing off never holds up the others.
                self.sleep(backoff_delay(attempt, self.base_delay, self.max_delay, self.rand))

    def __getattr__(self, name):
        client = self.__dict__.get("client")
        if client is None:
            raise AttributeError(name)
        operations = getattr(getattr(client, "meta", None), "method_to_api_mapping", {})
        if name in operations:
            return functools.partial(self.call, name)
        return getattr(client, name)


def wrap_client(client, **kwargs):
    """Return ``client`` as an AwsClient (unchanged if it already is one)."""
    if isinstance(client, AwsClient):
        return client
    return AwsClient(client, **kwargs)


def check_credentials(access_key=None, secret_key=None, session_token=None, profile=None):
    """Refuse contradictory credentials before any client is built; raise AwsError.

    Like amazon.aws, a profile together with explicit keys is refused. No secret is echoed."""
    if profile and (access_key or secret_key or session_token):
        raise AwsError("passing both a profile and access keys is not supported")
    if bool(access_key) != bool(secret_key):
        raise AwsError("access_key and secret_key must be given together")
    if session_token and not access_key:
        raise AwsError("session_token needs access_key and secret_key")


def client_config(max_concurrency=None, connect_timeout=5, read_timeout=20):
    """The botocore ``Config`` of every hapair.ha client: botocore's own retries off (AwsClient is
    the only retry layer, so counts are exact), short timeouts, and a connection pool of at least
    ``max_concurrency`` (how many calls the caller makes at once through the client)."""
    if not HAS_BOTO3:
        raise AwsError("the Python libraries boto3 and botocore are required")
    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=max(DEFAULT_MAX_POOL_CONNECTIONS, max_concurrency or 0),
        user_agent_extra="hapair.ha",
    )


def make_client(service, region=None, endpoint_url=None, access_key=None, secret_key=None,
                session_token=None, profile=None, validate_certs=True, aws_ca_bundle=None,
                max_attempts=DEFAULT_MAX_ATTEMPTS, connect_timeout=5, read_timeout=20,
                sleep=time.sleep, max_concurrency=None):
    """Create an AwsClient for ``service`` with plain boto3 (the node command's way; the modules
    build their botocore client through amazon.aws and wrap it with :func:`wrap_client`).

    Credentials follow boto3's precedence: explicit keys, else a named profile, else boto3's
    own chain (environment, shared config files, container/instance profile via IMDS).
    Like amazon.aws, a profile together with explicit keys is refused.

    ``max_concurrency``: how many calls the caller makes at once through this client; the
    connection pool (botocore's ``max_pool_connections``) is sized to at least that.
    """
    if not HAS_BOTO3:
        raise AwsError("the Python libraries boto3 and botocore are required")
    access_key = access_key or None
    secret_key = secret_key or None
    session_token = session_token or None
    profile = profile or None
    check_credentials(access_key, secret_key, session_token, profile)
    verify = aws_ca_bundle if (validate_certs and aws_ca_bundle) else bool(validate_certs)
    config = client_config(max_concurrency, connect_timeout=connect_timeout, read_timeout=read_timeout)
    try:
        session = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=session_token,
            profile_name=profile,
            region_name=region or None,
        )
        if not session.region_name:
            raise AwsError(NO_REGION)
        client = session.client(service, endpoint_url=endpoint_url or None, verify=verify, config=config)
    except botocore.exceptions.BotoCoreError as err:
        raise AwsError(f"cannot create the {service} client: {err}") from err
    except ValueError as err:  # e.g. a malformed endpoint_url
        raise AwsError(f"cannot create the {service} client: {err}") from err
    return AwsClient(client, max_attempts=max_attempts, sleep=sleep)
