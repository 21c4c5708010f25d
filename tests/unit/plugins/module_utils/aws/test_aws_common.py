"""Unit tests for plugins/module_utils/aws/common.py: retry policy, client factory."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.aws import common
from ansible_collections.hapair.ha.plugins.module_utils.aws.common import (
    AwsClient,
    AwsError,
    backoff_delay,
    is_retryable,
    make_client,
)

botocore = pytest.importorskip("botocore")
from botocore.exceptions import (  # noqa: E402  pylint: disable=wrong-import-position
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)


def client_error(code, status=400, op="ReplaceRoute"):
    error = {"Code": code, "Message": "boom"} if code is not None else {}
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, op)


# ---- retry policy -------------------------------------------------------------------------


@pytest.mark.parametrize("err, expected", [
    (client_error("RequestLimitExceeded", 503), True),
    (client_error("Throttling"), True),
    (client_error("ThrottlingException"), True),
    (client_error("ServiceUnavailable", 503), True),
    (client_error("Unavailable", 503), True),
    (client_error("InternalError", 500), True),
    (client_error("InternalFailure", 500), True),
    (client_error("RequestTimeout", 400), True),
    (client_error(None, 502), True),           # a 5xx without a code
    (client_error("", 503), True),
    (client_error(None, 400), False),          # a 4xx without a code
    (client_error("InvalidRouteTableID.NotFound"), False),
    (client_error("UnauthorizedOperation", 403), False),
    (client_error("InvalidParameterValue"), False),
    (client_error("RouteLimitExceeded"), False),
    (client_error("SomethingNew", 500), False),  # a code we do not know is not retried
    (EndpointConnectionError(endpoint_url="http://x"), True),
    (ConnectTimeoutError(endpoint_url="http://x"), True),
    (ReadTimeoutError(endpoint_url="http://x"), False),  # the request may have been applied
    (NoCredentialsError(), False),
    (ValueError("x"), False),
])
def test_is_retryable(err, expected):
    assert is_retryable(err) is expected


@pytest.mark.parametrize("attempt, rand, expected", [
    (1, 1.0, 0.25),
    (2, 1.0, 0.5),
    (3, 0.5, 0.5),
    (10, 1.0, 5.0),   # capped
    (4, 0.0, 0.0),
])
def test_backoff_delay_is_jittered_exponential_and_capped(attempt, rand, expected):
    assert backoff_delay(attempt, 0.25, 5.0, rand=lambda: rand) == pytest.approx(expected)


class FakeClient:
    """Just enough of a botocore client: meta.method_to_api_mapping and scripted answers."""

    class meta:  # pylint: disable=invalid-name,too-few-public-methods
        method_to_api_mapping = {"replace_route": "ReplaceRoute"}

    region = "eu-west-1"

    def __init__(self, answers):
        self.answers = list(answers)
        self.params = []

    def replace_route(self, **params):
        self.params.append(params)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_client_retries_throttling_then_succeeds_and_counts_every_attempt():
    sleeps = []
    fake = FakeClient([client_error("RequestLimitExceeded", 503), client_error("Throttling"), {"ok": 1}])
    client = AwsClient(fake, max_attempts=5, sleep=sleeps.append, rand=lambda: 1.0)
    assert client.replace_route(RouteTableId="rtb-1") == {"ok": 1}
    assert client.api_calls == 3
    assert client.retries == 2
    assert client.calls == ["replace_route"] * 3
    assert sleeps == [pytest.approx(0.25), pytest.approx(0.5)]
    assert fake.params == [{"RouteTableId": "rtb-1"}] * 3


def test_client_does_not_retry_a_non_retryable_error():
    sleeps = []
    fake = FakeClient([client_error("InvalidParameterValue"), {"ok": 1}])
    client = AwsClient(fake, sleep=sleeps.append)
    with pytest.raises(ClientError):
        client.replace_route()
    assert client.api_calls == 1
    assert not sleeps


def test_client_gives_up_after_max_attempts():
    fake = FakeClient([client_error("RequestLimitExceeded", 503)] * 3 + [{"ok": 1}])
    client = AwsClient(fake, max_attempts=3, sleep=lambda _s: None)
    with pytest.raises(ClientError) as caught:
        client.replace_route()
    assert caught.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert client.api_calls == 3
    assert len(fake.answers) == 1


def test_client_passes_non_operations_through():
    fake = FakeClient([])
    client = AwsClient(fake)
    assert client.region == "eu-west-1"
    assert client.meta is FakeClient.meta
    with pytest.raises(AttributeError):
        getattr(client, "no_such_thing")


def test_client_rejects_zero_attempts():
    with pytest.raises(AwsError):
        AwsClient(FakeClient([]), max_attempts=0)


class BarrierClient:
    """A client whose replace_route is throttled on every odd attempt of a caller, and whose
    calls start together (a barrier), so the wrapper's counters are updated under contention."""

    class meta:  # pylint: disable=invalid-name,too-few-public-methods
        method_to_api_mapping = {"replace_route": "ReplaceRoute"}

    def __init__(self, parties):
        self.barrier = threading.Barrier(parties, timeout=10)
        self.local = threading.local()

    def replace_route(self, **_params):
        attempts = getattr(self.local, "attempts", 0) + 1
        self.local.attempts = attempts
        if attempts == 1:
            self.barrier.wait()
        if attempts % 2:
            raise client_error("RequestLimitExceeded", 503)
        self.local.attempts = 0
        return {}


def test_client_counts_are_exact_when_shared_by_threads():
    threads, per_thread = 8, 25
    fake = BarrierClient(threads)
    sleeps = []
    client = AwsClient(fake, sleep=sleeps.append, rand=lambda: 0.0)

    def work():
        for _call in range(per_thread):
            client.replace_route(RouteTableId="rtb-1")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(work) for _thread in range(threads)]:
            future.result()

    calls = threads * per_thread
    assert client.api_calls == 2 * calls  # every call throttled once, then answered
    assert client.retries == calls
    assert client.calls == ["replace_route"] * (2 * calls)
    assert len(sleeps) == calls


def test_wrap_client_is_idempotent():
    wrapped = common.wrap_client(FakeClient([]))
    assert common.wrap_client(wrapped) is wrapped


# ---- client factory -----------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


@pytest.mark.usefixtures("clean_env")
def test_make_client_switches_botocore_retries_off_and_sets_endpoint():
    client = make_client("ec2", region="eu-west-1", endpoint_url="http://127.0.0.1:5000",
                         access_key="AKIDEXAMPLE", secret_key="secret")
    assert isinstance(client, AwsClient)
    assert client.client.meta.config.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert client.client.meta.region_name == "eu-west-1"
    assert client.client.meta.endpoint_url == "http://127.0.0.1:5000"
    assert client.api_calls == 0
    assert client.client.meta.config.max_pool_connections == common.DEFAULT_MAX_POOL_CONNECTIONS == 10


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("concurrency, pool", [(None, 10), (1, 10), (10, 10), (25, 25)])
def test_make_client_sizes_the_connection_pool_to_the_concurrency(concurrency, pool):
    client = make_client("ec2", region="eu-west-1", access_key="AKIDEXAMPLE", secret_key="secret",
                         max_concurrency=concurrency)
    assert client.client.meta.config.max_pool_connections == pool


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("kwargs, message", [
    ({"profile": "prod", "access_key": "AK", "secret_key": "SK"}, "profile and access keys"),
    ({"profile": "prod", "session_token": "T"}, "profile and access keys"),
    ({"access_key": "AK"}, "together"),
    ({"secret_key": "SK"}, "together"),
    ({"session_token": "T"}, "session_token needs"),
    ({}, "no AWS region"),
    ({"region": "eu-west-1", "profile": "does-not-exist"}, "cannot create the ec2 client"),
])
def test_make_client_rejects_bad_connection_options(kwargs, message):
    with pytest.raises(AwsError) as caught:
        make_client("ec2", **kwargs)
    assert message in str(caught.value)
    for secret in ("SK", "T"):
        if secret in kwargs.values():
            assert secret not in str(caught.value).split()


def test_aws_error_carries_details():
    err = AwsError("bad", {"error_code": "X"})
    assert str(err) == "bad"
    assert err.details == {"error_code": "X"}
    assert AwsError("x").details == {}
