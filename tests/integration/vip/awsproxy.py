"""A counting, fault-injecting HTTP proxy in front of the lab's moto server (test helper).

Not a simulation: it forwards every request unchanged to moto and only adds what moto lacks -
a count of API calls per action (the benchmark's "API calls" figure) and injected faults: an
EC2 ``RequestLimitExceeded`` answered as HTTP 503 (how botocore, the AWS CLI and our retry layer
see throttling), or a call held until the test releases it (to kill a run half-way).

It listens on the controller's address on the lab network (or 127.0.0.1), so commands inside
the lab hosts can use it as their ``endpoint_url``. Forwarding uses ``http.client``
(see shared/LAB-NOTES.md: urllib breaks some POSTs).
"""
from __future__ import annotations

import collections
import http.client
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

THROTTLE_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
    "<Message>Request limit exceeded.</Message></Error></Errors>"
    "<RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


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


class AwsProxy:
    """``with AwsProxy(upstream, host) as proxy:`` ... ``proxy.url``, ``proxy.counts``."""

    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0):
        up = urllib.parse.urlsplit(upstream)
        self.upstream = (up.hostname, up.port or 80)
        self.lock = threading.Lock()
        self.counts: collections.Counter = collections.Counter()
        self.calls: list[tuple[float, str, int]] = []
        self._throttle: collections.Counter = collections.Counter()
        self._holds: dict[str, tuple[int, threading.Event, threading.Event, bool]] = {}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                action = _action(self.path, self.headers, body)
                status = proxy._before(action)
                if status == -1:  # a held call that must never reach moto: drop the connection
                    self.close_connection = True
                    proxy._after(action, -1)
                    return
                if status == 503:
                    data = THROTTLE_BODY.encode()
                    self.send_response(503)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    proxy._after(action, 503)
                    return
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                proxy._after(action, resp.status)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

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
        with self.lock:
            self.counts.clear()
            self.calls.clear()
            self._throttle.clear()
            self._holds.clear()

    def throttle(self, action: str, times: int) -> None:
        """Answer the next ``times`` calls of ``action`` with RequestLimitExceeded (HTTP 503)."""
        with self.lock:
            self._throttle[action] = times

    def hold(self, action: str, nth: int, drop: bool = False) -> tuple[threading.Event, threading.Event]:
        """Hold the ``nth`` call (1-based) of ``action`` until ``release.set()``; returns
        ``(reached, release)``: ``reached`` is set when that call arrives. With ``drop`` the
        held call is then dropped instead of forwarded (its client was killed meanwhile)."""
        reached, release = threading.Event(), threading.Event()
        with self.lock:
            self._holds[action] = (nth, reached, release, drop)
        return reached, release

    def total(self, exclude: tuple[str, ...] = ()) -> int:
        return sum(n for action, n in self.counts.items() if action not in exclude)

    # ---- per request --------------------------------------------------------------------
    def _before(self, action: str) -> int:
        with self.lock:
            self.counts[action] += 1
            nth = self.counts[action]
            if self._throttle[action] > 0:
                self._throttle[action] -= 1
                return 503
            hold = self._holds.get(action)
        if hold and hold[0] == nth:
            hold[1].set()
            hold[2].wait(timeout=120)
            if hold[3]:
                return -1
        return 0

    def _after(self, action: str, status: int) -> None:
        with self.lock:
            self.calls.append((time.monotonic(), action, status))
