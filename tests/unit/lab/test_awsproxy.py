"""The lab's AWS proxy (tests/lab/awsproxy.py) without a lab: a tiny local HTTP upstream stands
in for moto; everything on 127.0.0.1 with ephemeral ports."""
from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.lab.awsproxy import THROTTLE_BODY, AwsProxy


class _Upstream:
    """Answers every request 200 with ``<ok>ACTION</ok>`` and records (method, path, body)."""

    def __init__(self):
        self.seen: list[tuple[str, str, bytes]] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream.seen.append((self.command, self.path, body))
                data = b"<ok/>"
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("X-Upstream", "yes")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256  # as moto's server (werkzeug: 128); the default 5 drops bursts

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream():
    up = _Upstream()
    yield up
    up.close()


@pytest.fixture
def proxy(upstream):
    with AwsProxy(upstream.url) as p:
        yield p


def call(proxy, action, target=None, path="/"):
    """One API call as botocore sends it (query protocol: form body; JSON protocol: X-Amz-Target);
    returns (status, body, headers, seconds)."""
    host, port = proxy.server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    body = urllib.parse.urlencode({"Action": action, "Version": "2016-11-15"})
    if target:
        headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
        body = "{}"
    t0 = time.monotonic()
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    took = time.monotonic() - t0
    conn.close()
    return resp.status, data, dict(resp.getheaders()), took


def test_forwards_unchanged_and_counts_per_action(proxy, upstream):
    for action in ("DescribeRouteTables", "ReplaceRoute", "ReplaceRoute"):
        status, data, headers, _took = call(proxy, action)
        assert (status, data, headers.get("X-Upstream")) == (200, b"<ok/>", "yes")
    assert call(proxy, None, target="Route53_20130401.ListHostedZones")[0] == 200
    assert dict(proxy.counts) == {"DescribeRouteTables": 1, "ReplaceRoute": 2, "ListHostedZones": 1}
    assert proxy.total() == 4 and proxy.total(exclude=("ReplaceRoute",)) == 2
    assert [c[1:] for c in proxy.calls] == [("DescribeRouteTables", 200), ("ReplaceRoute", 200),
                                            ("ReplaceRoute", 200), ("ListHostedZones", 200)]
    assert b"Action=ReplaceRoute" in upstream.seen[1][2]
    proxy.reset()
    assert proxy.total() == 0 and not proxy.calls


def test_latency_is_added_to_each_call(upstream):
    with AwsProxy(upstream.url, latency=0.2) as proxy:
        took = [call(proxy, "ReplaceRoute")[3] for _call in range(3)]
        assert all(0.2 <= t < 0.45 for t in took), took
        proxy.reset()  # keeps the latency
        assert proxy.latency == 0.2 and call(proxy, "ReplaceRoute")[3] >= 0.2
        proxy.set_latency(0)
        assert call(proxy, "ReplaceRoute")[3] < 0.15


def test_latency_is_zero_by_default(proxy):
    assert proxy.latency == 0
    assert call(proxy, "DescribeRouteTables")[3] < 0.15


def test_concurrent_calls_overlap(upstream):
    with AwsProxy(upstream.url, latency=0.3) as proxy:
        results = []
        threads = [threading.Thread(target=lambda: results.append(call(proxy, "ReplaceRoute"))) for _thread in range(2)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - t0
    assert [r[0] for r in results] == [200, 200]
    assert 0.3 <= took < 0.5, f"2 concurrent calls at 0.3 s latency took {took:.2f} s (serialised?)"


def test_many_concurrent_calls_are_not_queued(upstream):
    """50 calls at once (a client that sends one per route table concurrently) take about one
    latency, not 50: no serialisation, no connection dropped by a short listen backlog."""
    with AwsProxy(upstream.url, latency=0.2) as proxy:
        threads = [threading.Thread(target=call, args=(proxy, "ReplaceRoute")) for _thread in range(50)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - t0
        assert proxy.counts["ReplaceRoute"] == 50
    assert took < 1.1, took  # 50 x 0.2 s if serialised; >= 1.2 s if a SYN was dropped


def test_throttle_burst_for_one_action(proxy, upstream):
    proxy.throttle_burst("ReplaceRoute", 2)
    first, second = call(proxy, "ReplaceRoute"), call(proxy, "ReplaceRoute")
    for status, data, headers, _took in (first, second):
        assert status == 503 and data == THROTTLE_BODY.encode() and "X-Upstream" not in headers
    assert b"<Code>RequestLimitExceeded</Code>" in first[1]
    assert call(proxy, "DescribeRouteTables")[0] == 200  # other actions are not throttled
    assert call(proxy, "ReplaceRoute")[0] == 200  # the burst is over
    assert proxy.counts == {"ReplaceRoute": 3, "DescribeRouteTables": 1}  # throttled calls count
    assert proxy.throttled() == 2
    assert len(upstream.seen) == 2  # throttled calls never reach the upstream


def test_throttle_burst_for_any_action(proxy, upstream):
    proxy.throttle_burst(None, 3)
    statuses = [call(proxy, a)[0] for a in ("DescribeRouteTables", "ReplaceRoute", "CreateRoute", "ReplaceRoute")]
    assert statuses == [503, 503, 503, 200]
    assert proxy.throttled() == 3 and len(upstream.seen) == 1


def test_throttle_keeps_its_older_name_and_reset_clears_a_pending_burst(proxy):
    proxy.throttle("ReplaceRoute", 5)
    assert call(proxy, "ReplaceRoute")[0] == 503
    proxy.reset()
    assert call(proxy, "ReplaceRoute")[0] == 200


def test_fail_answers_the_next_calls_with_an_ec2_error_document(proxy, upstream):
    proxy.fail("StopInstances", 2)
    first, second = call(proxy, "StopInstances"), call(proxy, "StopInstances")
    for status, data, headers, _took in (first, second):
        assert status == 403 and "X-Upstream" not in headers and headers["Content-Type"] == "text/xml"
        assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>')
        assert b"<Code>UnauthorizedOperation</Code>" in data
        assert b"<Message>You are not authorized to perform this operation.</Message>" in data
        assert b"<RequestID>" in data
    assert call(proxy, "DescribeInstances")[0] == 200  # other actions are forwarded
    assert call(proxy, "StopInstances")[0] == 200  # the two failures are used up
    assert proxy.counts == {"StopInstances": 3, "DescribeInstances": 1}
    assert proxy.failed() == 2 and proxy.failed("StopInstances") == 2 and proxy.throttled() == 0
    assert [c[1:] for c in proxy.calls][:2] == [("StopInstances", 403), ("StopInstances", 403)]
    assert len(upstream.seen) == 2  # failed calls never reach the upstream


def test_fail_until_reset_with_a_code_status_and_message_of_the_tests_choice(proxy, upstream):
    proxy.fail("StopInstances", -1, code="IncorrectInstanceState", status=400, message="The instance 'i-1' is <pending>")
    for _call in range(5):
        status, data, _headers, _took = call(proxy, "StopInstances")
        assert status == 400 and b"<Code>IncorrectInstanceState</Code>" in data
        assert b"<Message>The instance &#x27;i-1&#x27; is &lt;pending&gt;</Message>" in data
    assert proxy.failed("StopInstances") == 5 and not upstream.seen
    proxy.reset()
    assert call(proxy, "StopInstances")[0] == 200


def test_fail_for_any_action_and_cleared_with_count_zero(proxy):
    proxy.fail(None, -1, code="InternalError", status=500)
    assert [call(proxy, a)[0] for a in ("DescribeInstances", "StopInstances")] == [500, 500]
    proxy.fail(None, 0)
    assert call(proxy, "StopInstances")[0] == 200
    with pytest.raises(ValueError):
        proxy.fail("StopInstances", -2)


def test_an_injected_error_comes_before_a_throttle_burst(proxy):
    proxy.throttle_burst("StopInstances", 1)
    proxy.fail("StopInstances", 1)
    assert [call(proxy, "StopInstances")[0] for _call in range(3)] == [403, 503, 200]
    assert proxy.failed() == 1 and proxy.throttled() == 1


def test_botocore_reads_the_injected_error(proxy):
    """The document parses as EC2's: botocore raises ClientError with the code and message."""
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config
    from botocore.exceptions import ClientError

    ec2 = boto3.client("ec2", endpoint_url=proxy.url, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))
    proxy.fail("StopInstances", 1)
    with pytest.raises(ClientError) as err:
        ec2.stop_instances(InstanceIds=["i-0123456789abcdef0"], Force=True)
    assert err.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert err.value.response["Error"]["Message"] == "You are not authorized to perform this operation."
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_throttled_calls_also_take_the_latency(upstream):
    with AwsProxy(upstream.url, latency=0.2) as proxy:
        proxy.throttle_burst(None, 1)
        status, _data, _headers, took = call(proxy, "ReplaceRoute")
    assert status == 503 and took >= 0.2


def test_motos_control_api_is_neither_counted_nor_delayed(upstream):
    with AwsProxy(upstream.url, latency=0.5) as proxy:
        proxy.throttle_burst(None, 1)
        status, _data, _headers, took = call(proxy, "x", path="/moto-api/reset")
        assert status == 200 and took < 0.3
        assert proxy.total() == 0
        assert upstream.seen[-1][1] == "/moto-api/reset"


def test_wait_idle_returns_once_a_killed_clients_calls_reached_the_upstream(upstream):
    """A client killed while its call is delayed never reads the answer: the call still reaches
    the upstream, is logged, and ``wait_idle`` returns instead of waiting for a reply nobody
    takes (the reply then fails with a broken pipe, which the proxy survives)."""
    with AwsProxy(upstream.url, latency=0.3) as proxy:
        host, port = proxy.server.server_address[:2]
        sock = socket.create_connection((host, port), timeout=5)
        body = urllib.parse.urlencode({"Action": "ReplaceRoute", "Version": "2016-11-15"}).encode()
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        deadline = time.monotonic() + 5
        while not proxy.counts["ReplaceRoute"] and time.monotonic() < deadline:
            time.sleep(0.01)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST: as a killed process's socket
        with pytest.raises(TimeoutError):
            proxy.wait_idle(timeout=0.05)  # still inside its latency
        proxy.wait_idle(timeout=5)
        assert [c[1:] for c in proxy.calls] == [("ReplaceRoute", 200)]
        assert len(upstream.seen) == 1
        assert call(proxy, "DescribeRouteTables")[0] == 200  # the proxy still serves
