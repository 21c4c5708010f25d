"""Unit tests of the warm agent of the failover command (route_failover_agent.py and the
``--serve`` side of route_failover_cli.py): the protocol over a real Unix socket, the fallback
to an in-process run, and an agent that keeps its client and IMDS answers between requests
(moto in-process, the fake IMDSv2)."""
from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import threading
import time

import pytest
from aws_stubs import MAC, targets

from ansible_collections.hapair.ha.plugins.module_utils.aws import route_failover_agent as agent_mod
from ansible_collections.hapair.ha.plugins.module_utils.aws.common import make_client
from ansible_collections.hapair.ha.plugins.module_utils.aws.imds import ImdsClient
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_agent import (
    AgentError,
    AgentUnavailable,
    ask,
    delegable,
    delegate,
)
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_cli import main
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_config import UsageError


@pytest.mark.parametrize("argv, expected", [
    (["--config", "/etc/x.conf"], ("/etc/x.conf", {"dry_run": False, "json": False})),
    (["--config=/etc/x.conf", "--dry-run"], ("/etc/x.conf", {"dry_run": True, "json": False})),
    (["--json", "--config", "c", "--dry-run"], ("c", {"dry_run": True, "json": True})),
    # anything else runs in-process: the agent's settings are the file's, nothing overrides them
    (["--config", "c", "--vip", "10.1.0.10"], (None, None)),
    (["--config", "c", "--max-concurrency", "1"], (None, None)),
    (["--config", "c", "--config", "d"], (None, None)),
    (["--config", "c", "--dry-run", "--dry-run"], (None, None)),
    (["--config"], (None, None)),
    (["--dry-run"], (None, None)),
    ([], (None, None)),
    (["--config", "c", "--serve"], (None, None)),
])
def test_which_command_lines_go_to_the_agent(argv, expected):
    assert delegable(argv) == expected


def write_config(tmp_path, lines, name="vip-route.conf"):
    path = tmp_path / name
    path.write_text("\n".join(["[route_failover]"] + lines) + "\n")
    os.chmod(path, 0o600)
    return str(path)


def wake(socket_path):
    """Connect and hang up: serve() returns from accept() and sees its stop() (no request runs)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as poke:
            poke.connect(socket_path)
    except OSError:
        pass


class FakeAgent:
    """route_failover_agent.serve() in a thread with a scripted handler."""

    def __init__(self, socket_path, handle):
        self.socket_path = socket_path
        self.requests = []
        self.log = []
        self._stop = False
        self.sock = agent_mod.listen(socket_path)

        def recording(request):
            self.requests.append(request)
            return handle(request)

        self.thread = threading.Thread(target=agent_mod.serve, args=(self.sock, recording, self.log.append),
                                       kwargs={"stop": lambda: self._stop}, daemon=True)
        self.thread.start()

    def close(self):
        self._stop = True
        wake(self.socket_path)
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def sock_path(tmp_path):
    return str(tmp_path / "agent.sock")


def run_delegate(argv, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    status = delegate(argv, stdout=out, stderr=err, **kwargs)
    return status, out.getvalue(), err.getvalue()


def test_delegate_prints_the_agents_answer(tmp_path, sock_path):
    config = write_config(tmp_path, ["vip = 10.1.0.10", f"agent_socket = {sock_path}"])
    fake = FakeAgent(sock_path, lambda r: {"status": 3 if r["dry_run"] else 0,
                                           "stdout": ["rtb-1: eni-a -> eni-b replaced"], "stderr": ["warn"]})
    try:
        assert run_delegate(["--config", config]) == (0, "rtb-1: eni-a -> eni-b replaced\n", "warn\n")
        assert run_delegate(["--config", config, "--dry-run", "--json"])[0] == 3
    finally:
        fake.close()
    assert fake.requests == [{"dry_run": False, "json": False}, {"dry_run": True, "json": True}]
    assert oct(os.stat(sock_path).st_mode & 0o777) == "0o600" or not os.path.exists(sock_path)


def test_no_agent_means_in_process(tmp_path, sock_path):
    with_socket = write_config(tmp_path, ["vip = 10.1.0.10", f"agent_socket = {sock_path}"])
    without = write_config(tmp_path, ["vip = 10.1.0.10"], name="plain.conf")
    assert run_delegate(["--config", with_socket]) == (None, "", "")  # nothing listens there
    assert run_delegate(["--config", without]) == (None, "", "")  # no agent configured
    assert run_delegate(["--config", str(tmp_path / "missing.conf")]) == (None, "", "")  # the command reports it
    # a stale socket file (an agent that died) is not an agent either
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(sock_path)
    stale.close()
    assert run_delegate(["--config", with_socket]) == (None, "", "")
    with pytest.raises(AgentUnavailable):
        ask(sock_path, {"dry_run": True})


def test_listen_replaces_a_stale_socket_and_refuses_a_live_one(sock_path):
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(sock_path)
    stale.close()
    live = agent_mod.listen(sock_path)
    try:
        assert os.stat(sock_path).st_mode & 0o777 == 0o600
        with pytest.raises(UsageError, match="already listens"):
            agent_mod.listen(sock_path)
    finally:
        live.close()


def test_the_socket_path_appears_only_once_it_listens(sock_path, monkeypatch):
    """A client that finds the path connects (a path that refused connections would make the
    command run in-process while the agent starts)."""
    seen = []
    real_rename = os.rename

    def rename(src, dst):
        seen.append(os.path.exists(dst))
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(src)  # already listening under its temporary name
        finally:
            probe.close()
        real_rename(src, dst)

    monkeypatch.setattr(agent_mod.os, "rename", rename)
    live = agent_mod.listen(sock_path)
    try:
        assert seen == [False]
        assert os.stat(sock_path).st_mode & 0o777 == 0o600
        assert sorted(os.listdir(os.path.dirname(sock_path))) == [os.path.basename(sock_path)]
    finally:
        live.close()


def test_an_agent_that_breaks_is_a_failed_attempt_not_a_fallback(tmp_path, sock_path):
    config = write_config(tmp_path, [f"agent_socket = {sock_path}"])
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)

    def hang_up():
        conn, _addr = server.accept()
        conn.recv(1024)
        conn.close()  # no answer

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        status, out, err = run_delegate(["--config", config])
    finally:
        thread.join(5)
        server.close()
    assert (status, out) == (1, "")
    assert err.startswith("hapair-route-failover: error: Failed to point the VIP route at the target: ")
    assert "incomplete" in err


def test_an_agent_that_does_not_answer_in_time(sock_path):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    try:
        with pytest.raises(AgentError, match="did not answer"):
            ask(sock_path, {"dry_run": True}, timeout=0.3)
    finally:
        server.close()


def test_other_users_are_refused(sock_path, monkeypatch):
    monkeypatch.setattr(agent_mod, "_peer_uid", lambda conn: 4242)
    fake = FakeAgent(sock_path, lambda r: {"status": 0, "stdout": [], "stderr": []})
    try:
        with pytest.raises(AgentError):
            ask(sock_path, {"dry_run": True}, timeout=5)
    finally:
        fake.close()
    assert not fake.requests
    assert "refused a request from uid 4242" in fake.log


# ---- the real agent: main(["--config", F, "--serve"]) against moto -------------------------


class CountingFactories:
    def __init__(self):
        self.clients = 0
        self.imds_lookups = 0

    def client(self, **kwargs):
        self.clients += 1
        return make_client("ec2", **kwargs)

    def imds(self, url):
        outer = self

        class Counting(ImdsClient):
            def primary_interface(self):
                outer.imds_lookups += 1
                return super().primary_interface()

        return Counting(url)


@contextlib.contextmanager
def running_agent(config, sock_path, timeout=20):
    """``main(["--config", config, "--serve"])`` in a thread, with counting factories, until the
    block ends: yields (factories, the agent's log); waits for its socket first."""
    factories = CountingFactories()
    stopping = []
    log = io.StringIO()
    thread = threading.Thread(
        target=main, args=(["--config", config, "--serve"],),
        kwargs={"client_factory": factories.client, "imds_factory": factories.imds,
                "stderr": log, "stop": lambda: bool(stopping)},
        daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not os.path.exists(sock_path):
            if time.monotonic() > deadline:
                raise AssertionError(f"no socket at {sock_path}")
            time.sleep(0.02)
        yield factories, log
    finally:
        stopping.append(True)
        wake(sock_path)
        thread.join(30)
        assert not thread.is_alive()


def test_the_agent_keeps_its_client_and_imds_answers_and_rereads_a_changed_file(moto_vpc, imds, tmp_path, sock_path):
    m = moto_vpc
    imds.metadata[f"network/interfaces/macs/{MAC}/interface-id"] = m["eni_b"]
    imds.metadata[f"network/interfaces/macs/{MAC}/vpc-id"] = m["vpc"]
    imds.metadata["placement/region"] = "us-east-1"
    lines = ["vip = 10.1.0.10", f"vpc_id = {m['vpc']}", "self = true", f"imds_url = {imds.url}",
             f"agent_socket = {sock_path}"]
    config = write_config(tmp_path, lines)
    with running_agent(config, sock_path) as (factories, log):
        # warm: the agent's start-up dry run built the client and asked IMDS once
        status, out, err = run_delegate(["--config", config, "--dry-run", "--json"])
        assert (status, err) == (0, "")
        assert json.loads(out)["network_interface_id"] == m["eni_b"]
        assert targets(m["client"], m["tables"]) == {t: m["eni_a"] for t in m["tables"]}

        status, out, err = run_delegate(["--config", config])
        assert (status, err) == (0, "")
        assert sorted(out.splitlines()) == sorted(f"{t}: {m['eni_a']} -> {m['eni_b']} replaced" for t in m["tables"])
        assert targets(m["client"], m["tables"]) == {t: m["eni_b"] for t in m["tables"]}
        assert (factories.clients, factories.imds_lookups) == (1, 1)

        # the settings change: read again, client and IMDS answers built anew
        time.sleep(0.01)
        write_config(tmp_path, lines[:1] + [f"route_table_ids = {m['tables'][0]}"] + lines[2:])
        status, out, err = run_delegate(["--config", config])
        assert (status, err) == (0, "")
        assert out.splitlines() == [f"{m['tables'][0]}: {m['eni_b']} unchanged"]
        assert (factories.clients, factories.imds_lookups) == (2, 2)

        # an error is the command's own: one line, exit 1
        write_config(tmp_path, lines[:1] + [f"route_table_ids = {m['spare_table']}", "create_missing = false"]
                     + lines[2:])
        status, out, err = run_delegate(["--config", config])
        assert status == 1 and out == ""
        assert err.startswith("hapair-route-failover: error: Failed to point the VIP route at the target: ")
        assert len(err.splitlines()) == 1
    text = log.getvalue()
    assert "warm-up dry run: exit 0" in text
    assert f"listening on {sock_path}" in text
    # logged: the dry runs, the failover that replaced routes, the failure - not the run that
    # found every table right (the periodic route check asks every few seconds)
    assert text.count("failover: exit 0 in ") == 1 and "failover: exit 1 in " in text
    assert text.count("dry run: exit 0 in ") == 2  # the warm-up and the request
    assert not os.path.exists(sock_path)


def test_serve_needs_a_socket_in_the_settings(tmp_path):
    config = write_config(tmp_path, ["vip = 10.1.0.10", "network_interface_id = eni-1", "vpc_id = vpc-1"])
    err = io.StringIO()
    assert main(["--config", config, "--serve"], stderr=err) == 2
    assert "--serve needs agent_socket" in err.getvalue()
    err = io.StringIO()
    assert main(["--serve"], stderr=err) == 2
    assert "--serve needs --config" in err.getvalue()


def test_the_agent_reports_bad_settings_written_while_it_runs(tmp_path, sock_path, moto_vpc):
    m = moto_vpc
    lines = ["vip = 10.1.0.10", f"network_interface_id = {m['eni_b']}", f"route_table_ids = {m['tables'][0]}",
             f"agent_socket = {sock_path}"]
    config = write_config(tmp_path, lines)
    with running_agent(config, sock_path) as (factories, _log):
        time.sleep(0.01)
        write_config(tmp_path, lines + ["bogus = 1"])
        # the command itself reads the file first and runs in-process to report it...
        assert run_delegate(["--config", config]) == (None, "", "")
        # ...and an agent asked anyway answers the same way, without failing over
        answer = ask(sock_path, {"dry_run": False, "json": False})
        assert (answer["status"], answer["stdout"]) == (2, [])
        assert "unknown key(s) bogus" in answer["stderr"][0]
        write_config(tmp_path, lines)
        assert run_delegate(["--config", config])[0] == 0
        assert factories.clients == 2  # warm-up, then the file written again: built anew


def test_notify_ready_tells_systemd(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(path)
        systemd.settimeout(5)
        assert agent_mod.notify_ready({"NOTIFY_SOCKET": path}) is True
        assert systemd.recv(64) == b"READY=1"
    assert agent_mod.notify_ready({}) is False
