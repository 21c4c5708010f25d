"""LAB SIMULATION of GitLab Rails' internal API (the `puma` service of a simulated Omnibus node).

Not GitLab. It serves the two internal API endpoints that Gitaly's hooks (GitLab Shell) call,
on the port of ``external_url`` (what NGINX, Workhorse and Puma serve together on a real node):

* ``GET  /api/v4/internal/check``   -- GitLab Shell's ``check``;
* ``POST /api/v4/internal/allowed`` -- the pre-receive hook's "may this push go ahead?".

Both require the ``Gitlab-Shell-Api-Request`` JWT signed with this node's GitLab Shell secret
(from ``/etc/gitlab/gitlab-secrets.json``, rendered by reconfigure); a caller signing with another
secret gets ``401 Unauthorized``, which is how GitLab refuses pushes from a Gitaly node that did
not get the Rails node's secrets file.
"""
from __future__ import annotations

import argparse
import http.server
import json
import os
import pwd
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import omnibus  # noqa: E402  (a sibling file, not a package)


def make_handler(config: dict):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "gitlab-rails-lab-simulation"

        def log_message(self, fmt, *args):
            pass

        def _answer(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            route = self.path.split("?")[0]
            if route not in ("/api/v4/internal/check", "/api/v4/internal/allowed"):
                self._answer(404, {"message": "404 Not Found"})
                return
            try:
                secret = omnibus.read_shell_secret()
            except OSError:
                secret = ""
            ok = bool(secret) and omnibus.verify_shell_jwt(self.headers.get("Gitlab-Shell-Api-Request"), secret)
            omnibus.log_json("info", "api request", method=method, path=route, status=200 if ok else 401,
                             remote_ip=self.client_address[0])
            if not ok:
                self._answer(401, {"message": "401 Unauthorized"})
            elif route.endswith("/check"):
                self._answer(200, {"api_version": "v4", "gitlab_version": config["gitlab_version"], "redis": True})
            else:
                self._answer(200, {"status": True, "message": "allowed"})

        def do_GET(self):  # noqa: N802
            self._handle("GET")

        def do_POST(self):  # noqa: N802
            self._handle("POST")

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    config = json.loads(Path(args.config).read_text())
    try:
        server = omnibus.ThreadingHTTPServer(("0.0.0.0", config["port"]), make_handler(config))
    except OSError as err:
        omnibus.log_json("fatal", f"listen: {err}")
        sys.exit(1)
    # bound and listening: connections queue from here on
    (omnibus.VAR / "gitlab-rails" / "ready").write_text(str(os.getpid()))
    account = pwd.getpwnam(omnibus.GIT_USER)
    os.setgroups([])
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    omnibus.log_json("info", "Puma (lab simulation) listening", port=config["port"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(1):
        pass


if __name__ == "__main__":
    main()
