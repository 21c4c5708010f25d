"""LAB SIMULATION of Gitaly (the `gitaly` service of a simulated Omnibus node). Not Gitaly.

Started by the simulated ``gitlab-ctl`` with the configuration that ``reconfigure`` rendered
(``/var/opt/gitlab/gitaly/config.json``). Like Gitaly it:

* refuses to start when a storage directory is missing (the service then shows ``down``);
* listens on ``listen_addr`` (TCP), ``tls_listen_addr`` (TLS, with the configured certificate)
  and always on its Unix socket, then drops root for the ``git`` user;
* requires the configured token on every call, as Gitaly's v2 auth does (no token configured:
  every client is accepted); a missing token is ``16:authentication required``, a wrong one
  ``7:permission denied``;
* stores repositories under each storage's path (``@hashed/..``) with real ``git`` (bare
  repositories, one commit per push), as the ``git`` user;
* runs the pre-receive hook on a push: it calls ``<internal_api_url>/api/v4/internal/allowed``
  with a JWT signed by the GitLab Shell secret of THIS node (from gitlab-secrets.json, rendered by
  reconfigure), so a Gitaly node without the Rails node's secrets gets "GitLab: 401 Unauthorized".

The wire protocol is small JSON over HTTP instead of gRPC; errors carry gRPC codes and messages.
"""
from __future__ import annotations

import argparse
import http.server
import json
import os
import pwd
import re
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import omnibus  # noqa: E402  (a sibling file, not a package)

GIT_ENV = {
    "PATH": "/usr/bin:/bin", "HOME": "/var/opt/gitlab", "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Administrator", "GIT_AUTHOR_EMAIL": "admin@example.com",
    "GIT_COMMITTER_NAME": "Administrator", "GIT_COMMITTER_EMAIL": "admin@example.com",
}
REL_PATH = re.compile(r"^@hashed/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.git$|^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*\.git$")


class GitalyError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def git(*args: str, repo: Path | None = None, data: str | None = None) -> str:
    cmd = ["git"] + (["--git-dir", str(repo)] if repo else []) + list(args)
    proc = subprocess.run(cmd, input=data, capture_output=True, text=True, env=GIT_ENV, timeout=30, check=False)
    if proc.returncode != 0:
        raise GitalyError(13, f"git {args[0]}: {proc.stderr.strip()}")
    return proc.stdout.strip()


class Gitaly:
    def __init__(self, config: dict):
        self.config = config
        self.storages = {s["name"]: Path(s["path"]) for s in config["storages"]}
        self.lock = threading.Lock()

    def storage(self, name: str) -> Path:
        if name not in self.storages:
            raise GitalyError(3, f'GetStorageByName: no such storage: "{name}"')
        return self.storages[name]

    def repo(self, storage: str, rel: str) -> Path:
        if not isinstance(rel, str) or not REL_PATH.match(rel) or ".." in rel:
            raise GitalyError(3, f"invalid relative path {rel!r}")
        return self.storage(storage) / rel

    # -- the pre-receive hook: GitLab Shell asks Rails whether the push is allowed --------------
    def hook_allowed(self, gl_repository: str) -> None:
        url = self.config["internal_api_url"]
        if not url.startswith(("http://", "https://")):
            raise GitalyError(9, "remote: GitLab: Internal API unreachable\n ! [remote rejected] main -> main (pre-receive hook declined)")
        try:
            secret = Path(self.config["secret_file"]).read_text().strip()
        except OSError:
            secret = ""
        req = urllib.request.Request(
            url.rstrip("/") + "/api/v4/internal/allowed", method="POST",
            data=json.dumps({"action": "git-receive-pack", "gl_repository": gl_repository, "protocol": "web"}).encode(),
            headers={"Content-Type": "application/json", "Gitlab-Shell-Api-Request": omnibus.shell_jwt(secret)},
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - lab address from config
                answer = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            detail = "401 Unauthorized" if err.code == 401 else f"{err.code} {err.reason}"
            raise GitalyError(9, f"remote: GitLab: {detail}\n ! [remote rejected] main -> main (pre-receive hook declined)") from None
        except (OSError, ValueError):
            raise GitalyError(9, "remote: GitLab: Internal API unreachable\n ! [remote rejected] main -> main (pre-receive hook declined)") from None
        if not answer.get("status"):
            raise GitalyError(9, f"remote: GitLab: {answer.get('message', 'denied')}")

    # -- RPCs -----------------------------------------------------------------------------------
    def create_repository(self, body: dict) -> dict:
        repo = self.repo(body.get("storage", ""), body.get("relative_path", ""))
        with self.lock:
            if not (repo / "HEAD").exists():
                repo.parent.mkdir(parents=True, exist_ok=True)
                git("init", "--bare", "-q", "--initial-branch=main", str(repo))
        return {"created": True}

    def push(self, body: dict) -> dict:
        """UserCommitFiles-like: create the repository if needed, then commit files to main."""
        self.create_repository(body)
        repo = self.repo(body["storage"], body["relative_path"])
        self.hook_allowed(body.get("gl_repository", ""))
        files = body.get("files") or {}
        if not isinstance(files, dict) or not files:
            raise GitalyError(3, "no files to commit")
        with self.lock:
            entries = []
            for name, content in sorted(files.items()):
                if "/" in name or not name:
                    raise GitalyError(3, f"invalid file name {name!r}")
                blob = git("hash-object", "-w", "--stdin", repo=repo, data=content)
                entries.append(f"100644 blob {blob}\t{name}\n")
            tree = git("mktree", repo=repo, data="".join(entries))
            parent = subprocess.run(["git", "--git-dir", str(repo), "rev-parse", "--verify", "-q", "refs/heads/main"],
                                    capture_output=True, text=True, env=GIT_ENV, check=False).stdout.strip()
            args = ["commit-tree", tree, "-m", body.get("message") or "Update files"] + (["-p", parent] if parent else [])
            commit = git(*args, repo=repo)
            git("update-ref", "refs/heads/main", commit, repo=repo)
        return {"commit": commit, "disk_path": str(repo)}

    def read_file(self, body: dict) -> dict:
        repo = self.repo(body.get("storage", ""), body.get("relative_path", ""))
        if not (repo / "HEAD").exists():
            raise GitalyError(5, f"GetRepoPath: not a git repository: \"{body.get('relative_path')}\"")
        proc = subprocess.run(["git", "--git-dir", str(repo), "show", f"main:{body.get('path', '')}"],
                              capture_output=True, text=True, env=GIT_ENV, check=False)
        if proc.returncode != 0:
            raise GitalyError(5, f"file not found: {body.get('path')}")
        return {"content": proc.stdout}


def make_handler(gitaly: Gitaly):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "gitaly-lab-simulation"

        def log_message(self, fmt, *args):  # structured logs instead of the default
            pass

        def _answer(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            route = self.path.split("?")[0]
            denied = omnibus.check_auth(self.headers.get("Authorization"), gitaly.config["token"])
            if denied:
                code, message = denied
                omnibus.log_json("warning", f"finished unary call with code {'Unauthenticated' if code == 16 else 'PermissionDenied'}",
                                 **{"grpc.request.fullMethod": route, "error": message})
                self._answer(401 if code == 16 else 403, {"code": code, "message": message})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                if method == "GET" and route == "/healthz":
                    result = {"status": "SERVING"}
                elif method == "GET" and route == "/server_info":
                    result = {"storages": [{"name": n, "path": str(p), "writeable": os.access(p, os.W_OK)}
                                           for n, p in gitaly.storages.items()]}
                elif method == "POST" and route == "/repository/create":
                    result = gitaly.create_repository(body)
                elif method == "POST" and route == "/repository/commit_files":
                    result = gitaly.push(body)
                elif method == "POST" and route == "/repository/read_file":
                    result = gitaly.read_file(body)
                else:
                    raise GitalyError(12, f"unknown service method {method} {route}")
            except GitalyError as err:
                omnibus.log_json("warning", "finished call with error", **{"grpc.request.fullMethod": route,
                                                                           "grpc.code": err.code, "error": str(err)})
                self._answer(200, {"code": err.code, "message": str(err)})
                return
            except ValueError:
                self._answer(400, {"code": 3, "message": "malformed request"})
                return
            omnibus.log_json("info", "finished call with code OK", **{"grpc.request.fullMethod": route})
            self._answer(200, {"code": 0, **result})

        def do_GET(self):  # noqa: N802
            self._handle("GET")

        def do_POST(self):  # noqa: N802
            self._handle("POST")

    return Handler


TCPServer = omnibus.ThreadingHTTPServer


class TCP6Server(TCPServer):
    address_family = socket.AF_INET6


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request = super().get_request()[0]
        return request, ("local", 0)


def tcp_server(addr: str, handler, tls: tuple[str, str] | None = None):
    host, port = addr.rsplit(":", 1)
    cls = TCP6Server if host.startswith("[") else TCPServer
    server = cls((host.strip("[]") or "0.0.0.0", int(port)), handler)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile=tls[0], keyfile=tls[1])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    return server


def fatal(message: str, **fields) -> None:
    omnibus.log_json("fatal", message, **fields)
    sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    config = json.loads(Path(args.config).read_text())
    omnibus.log_json("info", "Starting Gitaly", version=omnibus.version_text() + " (lab simulation)")
    if not config["storages"]:
        fatal("load config: no storage configured")
    for storage in config["storages"]:
        if not Path(storage["path"]).is_dir():
            fatal(f"load config: storage \"{storage['name']}\": path {storage['path']}: no such file or directory")
    gitaly = Gitaly(config)
    handler = make_handler(gitaly)
    servers = []
    try:
        if config.get("listen_addr"):
            servers.append(tcp_server(config["listen_addr"], handler))
        if config.get("tls_listen_addr"):
            servers.append(tcp_server(config["tls_listen_addr"], handler, (config["certificate_path"], config["key_path"])))
    except (OSError, ssl.SSLError) as err:
        fatal(f"listen: {err}")
    sock = Path(config["socket_path"])
    sock.unlink(missing_ok=True)
    unix = UnixServer(str(sock), handler)
    servers.append(unix)
    account = pwd.getpwnam(omnibus.GIT_USER)
    os.chown(sock, account.pw_uid, account.pw_gid)
    os.chmod(sock, 0o770)
    # bound and listening: connections queue from here on
    (omnibus.GITALY_DIR / "ready").write_text(str(os.getpid()))
    # Gitaly runs as git: storage permissions matter from here on
    os.setgroups([])
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    omnibus.log_json("info", "listening", addresses=[a for a in (config.get("listen_addr"), config.get("tls_listen_addr")) if a],
                     socket=str(sock), storages=[s["name"] for s in config["storages"]])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(1):
        pass
    omnibus.log_json("info", "Gitaly stopped by SIGTERM")


if __name__ == "__main__":
    main()
