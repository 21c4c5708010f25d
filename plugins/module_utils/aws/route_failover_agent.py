# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The warm agent of ``hapair-route-failover``: the failover without the start-up cost.

Started on its own, the failover command spends most of a failover starting: importing boto3
and loading EC2's service model takes about a second on an idle node and several on a busy one,
before the first API call (the calls themselves, in parallel, take a few round trips). The
agent (``hapair-route-failover --serve``, a systemd service) pays that once: it keeps the EC2
client, the node's ENI and region, and the HTTPS connection pool, and listens on a Unix socket.

``hapair-route-failover --config FILE [--dry-run] [--json]`` - the form keepalived's hook and the
periodic check use - first asks the agent named by ``agent_socket`` in FILE (:func:`delegate`;
standard library only, so asking costs a bare Python start). The agent runs exactly what the
command would have run and sends back its exit status and output, which the command prints as
its own. When no agent listens (not installed, stopped, not yet started at boot) the command
runs in-process as before; an agent that fails half-way is reported as a failed attempt (exit
1), which the hook retries.

Protocol: one request per connection. The client sends one JSON object on one line
(``{"dry_run": bool, "json": bool}``), the agent answers one JSON object on one line
(``{"status": int, "stdout": [lines], "stderr": [lines]}``). Only root (or the agent's own
user) may connect: the socket has mode 0600 and the peer's uid is checked (SO_PEERCRED).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys

from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_config import (
    FAILURE,
    UsageError,
    error_line,
    load_config,
)

#: How long the command waits for the agent's answer: a failover with retries on throttling
#: takes seconds; an agent that hangs must not hold the hook forever (it retries).
DEFAULT_ANSWER_TIMEOUT = 120.0
_MAX_MESSAGE = 1 << 20


class AgentUnavailable(Exception):
    """No agent listens on the socket: the command runs the failover itself."""


class AgentError(Exception):
    """The agent took the request but gave no valid answer."""


def delegable(argv):
    """``(FILE, request)`` when ``argv`` is ``--config FILE`` with at most ``--dry-run`` and
    ``--json`` besides (the agent's settings are that file's); ``(None, None)`` for anything else."""
    request = {"dry_run": False, "json": False}
    config = None
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--config" and args and config is None:
            config = args.pop(0)
        elif arg.startswith("--config=") and config is None:
            config = arg.split("=", 1)[1]
        elif arg in ("--dry-run", "--json") and not request[arg[2:].replace("-", "_")]:
            request[arg[2:].replace("-", "_")] = True
        else:
            return None, None
    return (config, request) if config else (None, None)


def _recv_line(sock):
    chunks, size = [], 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n") or size > _MAX_MESSAGE:
            break
    data = b"".join(chunks)
    if size > _MAX_MESSAGE or not data.endswith(b"\n"):
        raise AgentError("incomplete or oversized message")
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as err:
        raise AgentError(f"invalid message: {err}") from err


def _send_line(sock, message):
    sock.sendall(json.dumps(message, sort_keys=True, default=str).encode("utf-8") + b"\n")


def ask(socket_path, request, timeout=DEFAULT_ANSWER_TIMEOUT):
    """Send ``request`` to the agent on ``socket_path``; return its answer.

    Raises AgentUnavailable when nobody listens there, AgentError on a broken exchange.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(socket_path)
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as err:
            raise AgentUnavailable(f"no agent on {socket_path}: {err.strerror or err}") from err
        except OSError as err:
            raise AgentError(f"cannot reach the agent on {socket_path}: {err.strerror or err}") from err
        try:
            _send_line(sock, request)
            answer = _recv_line(sock)
        except OSError as err:  # socket.timeout included
            raise AgentError(f"the agent on {socket_path} did not answer: {err}") from err
    finally:
        sock.close()
    if not (isinstance(answer, dict) and isinstance(answer.get("status"), int)
            and isinstance(answer.get("stdout", []), list) and isinstance(answer.get("stderr", []), list)):
        raise AgentError("the agent's answer is not a result")
    return answer


def delegate(argv, stdout=None, stderr=None, timeout=DEFAULT_ANSWER_TIMEOUT):
    """Hand the command to the agent when it can take it: return the exit status, or None when
    the command must run in-process (another form of command line, no ``agent_socket`` in the
    settings, no agent listening, or a settings problem the command itself reports)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    config, request = delegable(argv)
    if config is None:
        return None
    try:
        socket_path = load_config(config).get("agent_socket")
    except UsageError:
        return None  # the in-process command reports it, with its usual message
    if not socket_path:
        return None
    try:
        answer = ask(socket_path, request, timeout=timeout)
    except AgentUnavailable:
        return None
    except AgentError as err:
        stderr.write(error_line(f"{FAILURE}: {err}") + "\n")
        stderr.flush()
        return 1
    for stream, key in ((stdout, "stdout"), (stderr, "stderr")):
        for line in answer.get(key, []):
            stream.write(f"{line}\n")
        stream.flush()
    return answer["status"]


def _peer_uid(conn):
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def listen(socket_path):
    """A listening Unix socket at ``socket_path`` (mode 0600; a stale socket file is replaced).
    The path appears only once the socket listens."""
    if os.path.exists(socket_path):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(socket_path)
        except OSError:
            os.unlink(socket_path)  # stale: left by an agent that died
        else:
            raise UsageError(f"another agent already listens on {socket_path}")
        finally:
            probe.close()
    # Bound and listening under a temporary name, then renamed into place: a client never finds
    # the path before it accepts connections (between bind() and listen() it would be refused
    # and run the command in-process).
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    temporary = f"{socket_path}.{os.getpid()}.new"
    old_umask = os.umask(0o177)
    try:
        if os.path.exists(temporary):
            os.unlink(temporary)
        sock.bind(temporary)
    finally:
        os.umask(old_umask)
    os.chmod(temporary, 0o600)
    sock.listen(16)
    os.rename(temporary, socket_path)
    return sock


def notify_ready(environ=None):
    """Tell systemd the service is ready (``Type=notify``); nothing without ``NOTIFY_SOCKET``."""
    environ = os.environ if environ is None else environ
    address = environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(b"READY=1")
    return True


def serve(sock, handle, log, stop=None, read_timeout=10.0):
    """Answer requests on the listening ``sock``, one at a time (a failover at a time), with
    ``handle(request) -> answer``. ``log(line)`` gets one line per request. Runs until
    ``stop()`` is true (checked after each connection) or the process ends."""
    own_uid = os.geteuid()
    while not (stop and stop()):
        conn, _addr = sock.accept()
        with conn:
            try:
                uid = _peer_uid(conn)
                if uid not in (0, own_uid):
                    log(f"refused a request from uid {uid}")
                    continue
                conn.settimeout(read_timeout)
                request = _recv_line(conn)
                if not isinstance(request, dict):
                    raise AgentError("the request is not an object")
                request = {"dry_run": bool(request.get("dry_run")), "json": bool(request.get("json"))}
                conn.settimeout(None)
                answer = handle(request)
                _send_line(conn, answer)
            except (AgentError, OSError) as err:
                log(f"dropped a request: {err}")
