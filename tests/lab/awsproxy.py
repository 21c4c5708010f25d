"""A counting, fault-injecting HTTP proxy in front of the lab's moto server.

LAB HELPER, not a simulation of EC2. It forwards every request unchanged to moto and adds only
what moto lacks and the tests and benchmarks need:

- a count of API calls per action (the benchmarks' "API calls" figure) and a log of the calls;
- a fixed **latency** per API call (``latency`` seconds, 0 by default), slept in the request's
  own thread before the call is answered, so concurrent calls overlap as they do against a real
  endpoint (the server is a ``ThreadingHTTPServer``: one thread per connection);
- **throttling**: bursts of EC2 ``RequestLimitExceeded`` answers (HTTP 503, see THROTTLE_BODY),
  for one action or for any action;
- **injected errors**: the next *n* calls of an action (or every call until ``reset``) answered
  with an EC2 error document of the test's choosing (``fail``: ``UnauthorizedOperation``/403 by
  default, as EC2 answers a call the caller's IAM policy does not allow);
- a call held until the test releases it (to kill a run half-way).

It models nothing else of EC2: no token buckets or refill rates, no per-account limits, no
eventual consistency, no latency distribution (every call gets the same delay). What moto does
and does not model is in shared/LAB-NOTES.md.

It listens on the controller's address on the lab network (or 127.0.0.1), so commands inside
the lab hosts can use it as their ``endpoint_url``. Forwarding uses ``http.client``
(see shared/LAB-NOTES.md: urllib breaks some POSTs).

    with AwsProxy(lab.aws_endpoint, host=str(lab.topo.first_network.controller_ip), latency=0.1) as proxy:
        proxy.throttle_burst("ReplaceRoute", 2)   # the next 2 ReplaceRoute calls: RequestLimitExceeded
        proxy.fail("StopInstances", -1)           # every StopInstances: UnauthorizedOperation (403)
        ... proxy.url ...
        proxy.counts["ReplaceRoute"], proxy.total()
"""
from __future__ import annotations

import collections
import html
import http.client
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# EC2's throttling error. AWS documents it as the error code a request over the account's
# per-Region request limit gets (token-bucket request/resource rate limits, "Request throttling
# for the Amazon EC2 API": https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html,
# error codes: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
# EC2 sends it with HTTP 503; botocore's EC2 retry policy matches exactly that pair
# (botocore/data/_retry.json "request_limit_exceeded": RequestLimitExceeded + 503), as do the
# AWS CLI and our retry layer. The body is EC2's query-protocol error document.
THROTTLE_STATUS = 503
THROTTLE_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
    "<Message>Request limit exceeded.</Message></Error></Errors>"
    "<RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
)
# EC2's error response (query API): "Error response" in
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html - a Response with
# Errors/Error/Code and Message, and a RequestID. UnauthorizedOperation (HTTP 403) is what a
# call gets that the caller's IAM policy does not allow; its documented message is
# "You are not authorized to perform this operation." (the same page, "Client error codes").
ERROR_TEMPLATE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Response><Errors><Error><Code>{code}</Code>"
    "<Message>{message}</Message></Error></Errors>"
    "<RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
)
DEFAULT_ERROR_MESSAGES = {
    "UnauthorizedOperation": "You are not authorized to perform this operation.",
}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
# moto's own control API (reset, seed): forwarded without latency, throttling or counting.
CONTROL_PREFIX = "/moto-api"
ANY = None  # throttle_burst(ANY, n): the next n calls of any action


def _action(path: str, headers, body: bytes) -> str:
    """The API action of a request: EC2/IAM query protocol (form body or query string) or a
    JSON protocol's X-Amz-Target."""
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    ctype = headers.get("Content-Type", "")
    if body and "x-www-form-urlencoded" in ctype:
        params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "Action" in params:
            return params["Action"][0]
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    return params.get("Action", ["(other)"])[0]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A client that sends its calls concurrently opens many connections at once: the default
    # listen backlog (5) would drop SYNs, and a dropped SYN costs the client a 1 s retransmit.
    request_queue_size = 256


class AwsProxy:
    """``with AwsProxy(upstream, host, latency=0.1) as proxy:`` ... ``proxy.url``, ``proxy.counts``.

    ``latency`` (seconds, settable at any time: ``proxy.latency = 0.1``) is added to every API
    call, throttled ones included (a throttled call costs a round trip too); not to moto's
    control API. ``reset()`` clears counts, calls, pending throttles and holds, not the latency.
    """

    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0):
        up = urllib.parse.urlsplit(upstream)
        self.upstream = (up.hostname, up.port or 80)
        self.latency = float(latency)
        self.lock = threading.Lock()
        self.counts: collections.Counter = collections.Counter()
        # (time.monotonic() when answered, action, HTTP status; -1 for a dropped held call)
        self.calls: list[tuple[float, str, int]] = []
        # pending RequestLimitExceeded answers per action; key ANY (None): any action
        self._throttle: collections.Counter = collections.Counter()
        self._holds: dict[str, tuple[int, threading.Event, threading.Event, bool]] = {}
        # injected errors per action (key ANY: any action): [calls left (-1: until reset), status, body]
        self._fail: dict[str | None, list] = {}
        # calls answered with an injected error, per action
        self.injected: collections.Counter = collections.Counter()
        self._throttled = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # quiet
                pass

            def _reply(self, status: int, headers, data: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith(CONTROL_PREFIX):
                    status, headers, data = proxy._forward(self.command, self.path, self.headers, body)
                    self._reply(status, headers, data)
                    return
                action = _action(self.path, self.headers, body)
                status, error = proxy._before(action)
                if status == -1:  # a held call that must never reach moto: drop the connection
                    self.close_connection = True
                    proxy._after(action, -1)
                    return
                delay = proxy.latency
                if delay > 0:
                    time.sleep(delay)  # this request's thread only: concurrent calls overlap
                if error is not None:  # throttled, or an injected error: never reaches moto
                    proxy._after(action, status)
                    self._reply(status, [("Content-Type", "text/xml")], error)
                    return
                try:
                    status, headers, data = proxy._forward(self.command, self.path, self.headers, body)
                except OSError:
                    proxy._after(action, -1)  # moto did not answer: counted, so wait_idle ends
                    raise
                # logged before the reply: a client killed meanwhile makes the reply fail with
                # BrokenPipeError, but its call has reached moto all the same
                proxy._after(action, status)
                self._reply(status, headers, data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = _Server((host, port), Handler)
        # a short poll interval: stop() returns at once instead of after up to 0.5 s
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # ---- control ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "AwsProxy":
        self.thread.start()
        return self

    def stop(self) -> None:
        for hold in self._holds.values():
            hold[2].set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "AwsProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        """Clear counts, the call log, pending throttle bursts and holds (not ``latency``)."""
        with self.lock:
            self.counts.clear()
            self.calls.clear()
            self._throttle.clear()
            self._holds.clear()
            self._fail.clear()
            self.injected.clear()
            self._throttled = 0

    def set_latency(self, seconds: float) -> None:
        """Seconds added to each API call from now on (same as assigning ``latency``)."""
        self.latency = float(seconds)

    def throttle_burst(self, action: str | None, count: int) -> None:
        """Answer the next ``count`` calls of ``action`` (``None``: of any action) with EC2's
        ``RequestLimitExceeded`` (HTTP 503), as EC2 does when a burst empties the request
        bucket; later calls are forwarded again. Replaces a pending burst of the same key. A
        call matching both an action's burst and an any-action burst uses the action's first."""
        with self.lock:
            self._throttle[action] = int(count)

    def throttle(self, action: str, times: int) -> None:
        """``throttle_burst`` for one action (the older name, kept for callers)."""
        self.throttle_burst(action, times)

    def fail(self, action: str | None, count: int, code: str = "UnauthorizedOperation", status: int = 403,
             message: str | None = None) -> None:
        """Answer the next ``count`` calls of ``action`` (``None``: of any action; ``count`` -1:
        every call until ``reset``, 0: stop failing) with EC2's error document (ERROR_TEMPLATE)
        carrying ``code`` and ``message`` and HTTP ``status`` - by default ``UnauthorizedOperation``
        (403), the answer to a call that the caller's IAM policy does not allow. The calls never
        reach moto. Replaces a pending failure of the same key. An injected error is answered
        before a throttle burst of the same call; both count as calls (``counts``, ``calls``)."""
        if not isinstance(count, int) or count < -1:
            raise ValueError(f"count must be -1 (until reset), 0 or a positive number of calls, got {count!r}")
        if message is None:
            message = DEFAULT_ERROR_MESSAGES.get(code, f"{code} (injected by the lab's AWS proxy)")
        body = ERROR_TEMPLATE.format(code=html.escape(code), message=html.escape(message)).encode()
        with self.lock:
            if count == 0:
                self._fail.pop(action, None)
            else:
                self._fail[action] = [count, int(status), body]

    def failed(self, action: str | None = None) -> int:
        """Calls answered with an injected error (``fail``) since the last ``reset``, of one action
        or of all."""
        with self.lock:
            return sum(self.injected.values()) if action is None else self.injected[action]

    def throttled(self) -> int:
        """How many calls were answered with RequestLimitExceeded since the last ``reset``."""
        with self.lock:
            return self._throttled

    def hold(self, action: str, nth: int, drop: bool = False) -> tuple[threading.Event, threading.Event]:
        """Hold the ``nth`` call (1-based) of ``action`` until ``release.set()``; returns
        ``(reached, release)``: ``reached`` is set when that call arrives. With ``drop`` the
        held call is then dropped instead of forwarded (its client was killed meanwhile)."""
        reached, release = threading.Event(), threading.Event()
        with self.lock:
            self._holds[action] = (nth, reached, release, drop)
        return reached, release

    def total(self, exclude: tuple[str, ...] = ()) -> int:
        """API calls received (throttled ones included) since the last ``reset``."""
        with self.lock:
            return sum(n for action, n in self.counts.items() if action not in exclude)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until every call received has been answered (or dropped): a client killed
        mid-run leaves its in-flight calls to reach moto after it died."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if sum(self.counts.values()) == len(self.calls):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"calls still in flight after {timeout}s")
            time.sleep(0.05)

    # ---- per request --------------------------------------------------------------------
    def _before(self, action: str) -> tuple[int, bytes | None]:
        """(status, error body) for a call: (0, None) to forward it, (-1, None) to drop it."""
        with self.lock:
            self.counts[action] += 1
            nth = self.counts[action]
            for key in (action, ANY):
                fail = self._fail.get(key)
                if fail is not None:
                    if fail[0] > 0:
                        fail[0] -= 1
                        if fail[0] == 0:
                            del self._fail[key]
                    self.injected[action] += 1
                    return fail[1], fail[2]
            for key in (action, ANY):
                if self._throttle[key] > 0:
                    self._throttle[key] -= 1
                    self._throttled += 1
                    return THROTTLE_STATUS, THROTTLE_BODY.encode()
            hold = self._holds.get(action)
        if hold and hold[0] == nth:
            hold[1].set()
            hold[2].wait(timeout=120)
            if hold[3]:
                return -1, None
        return 0, None

    def _forward(self, method: str, path: str, headers, body: bytes) -> tuple[int, list, bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            conn.request(method, path, body=body or None,
                         headers={k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP})
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _after(self, action: str, status: int) -> None:
        with self.lock:
            self.calls.append((time.monotonic(), action, status))
