# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test doubles for the ghe area: a scripted runner and a small stateful fake appliance.

``ScriptedRunner`` answers each command from a table (tests of exact outputs and edge cases);
``FakeAppliance`` keeps a role / primary / running / maintenance state that the ghe-* commands
change, printing the outputs captured in ``fixtures/`` (tests of transitions, idempotency and
round trips). Both record every call as ``(command string, stdin data)``.
"""

from __future__ import annotations

import errno
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NO_FILE = "[Errno 2] No such file or directory: '{}'\n"
MUTATING = ("ghe-repl-setup", "ghe-repl-start", "ghe-repl-stop", "ghe-repl-teardown", "ghe-repl-promote",
            "ghe-maintenance -s", "ghe-maintenance -u")


def fixture(name):
    return (FIXTURES / name).read_text(encoding="utf-8")


def is_mutating(command):
    return command.startswith(MUTATING)


class _ReadsFiles:
    """The runner contract's ``read(path)`` for the doubles below."""

    def read(self, path):
        """The runner's ``read``: answered like a command ``read PATH`` (rc 0: the text; a
        "No such file" error: None; any other error: OSError)."""
        rc, out, err = self(["read", path])
        if rc == 0:
            return out
        if "no such file" in err.lower():
            return None
        raise OSError(errno.EACCES, err.strip())


class ScriptedRunner(_ReadsFiles):
    """``script`` maps a command string to ``(rc, out, err)`` or a list of them (used in turn)."""

    def __init__(self, script):
        self.script = {k: (list(v) if isinstance(v, list) else v) for k, v in script.items()}
        self.calls = []

    def __call__(self, args, data=None):
        command = " ".join(args)
        self.calls.append((command, data))
        if command not in self.script:
            raise AssertionError(f"unexpected command: {command}")
        answer = self.script[command]
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        return answer

    @property
    def commands(self):
        return [call[0] for call in self.calls]


class FakeAppliance(_ReadsFiles):
    """A GHES node as seen through the commands the ghe module_utils rely on."""

    def __init__(self, role="standalone", primary_ip=None, running=False, key_authorized=True,
                 status_fixture="status_ok_vv.txt", status_rc=0, maintenance=False, replicas=1,
                 primary_http=503, local_ip="10.0.0.2"):
        self.role = role
        self.primary_ip = primary_ip
        self.running = running
        self.key_authorized = key_authorized
        self.key_generated = False
        self.status_fixture = status_fixture
        self.status_rc = status_rc
        self.maintenance = maintenance
        self.replicas = replicas
        self.primary_http = primary_http
        self.local_ip = local_ip
        self.calls = []
        self.http_calls = []

    # -- runner ------------------------------------------------------------------------------
    def __call__(self, args, data=None):
        command = " ".join(args)
        self.calls.append((command, data))
        handler = {
            "read /etc/github/repl-state": self._repl_state,
            "read /data/user/common/cluster.conf": self._cluster_conf,
            "ghe-repl-status -vv": self._status,
            "ghe-repl-start": self._start,
            "ghe-repl-stop": self._stop,
            "ghe-repl-teardown": self._teardown,
            "ghe-repl-promote": self._promote,
            "ghe-maintenance -q": self._mm_query,
            "ghe-maintenance -s": lambda: self._mm_set(True),
            "ghe-maintenance -u": lambda: self._mm_set(False),
        }.get(command)
        if handler:
            return handler()
        if args[0] == "ghe-repl-setup":
            return self._setup(args[1:], data)
        raise AssertionError(f"unexpected command: {command}")

    @property
    def commands(self):
        return [call[0] for call in self.calls]

    @property
    def mutating_commands(self):
        return [command for command in self.commands if is_mutating(command)]

    # -- HTTP probe ----------------------------------------------------------------------------
    def http_status(self, url):
        self.http_calls.append(url)
        if "localhost" in url or self.local_ip in url:
            if self.role == "replica" or self.maintenance:
                return 503
            return 200
        return self.primary_http

    # -- commands --------------------------------------------------------------------------------
    def _repl_state(self):
        if self.role == "standalone":
            return 1, "", NO_FILE.format("/etc/github/repl-state")
        return 0, self.role + "\n", ""

    def _cluster_conf(self):
        if self.role == "standalone":
            return 1, "", NO_FILE.format("/data/user/common/cluster.conf")
        primary_ip = self.primary_ip if self.role == "replica" else self.local_ip
        lines = ["[cluster]", "  mysql-master = ghe-primary", '[cluster "ghe-primary"]',
                 "  hostname = ghe-primary", f"  ipv4 = {primary_ip}"]
        for i in range(self.replicas):
            ip = self.local_ip if (self.role == "replica" and i == 0) else f"10.0.9.{i + 1}"
            lines += [f'[cluster "ghe-replica-{i}"]', f"  hostname = ghe-replica-{i}", f"  ipv4 = {ip}",
                      "  replica = enabled"]
        return 0, "\n".join(lines) + "\n", ""

    def _status(self):
        if self.role != "replica":
            return 1, "", "Error: replication is not configured on this node\n"
        if not self.running:
            return 1, fixture("status_not_running.txt"), ""
        return self.status_rc, fixture(self.status_fixture), ""

    def _setup(self, rest, data):
        add = rest[0] == "--add"
        host = rest[-1]
        if not self.key_authorized:
            self.key_generated = True
            return 1, fixture("setup_needs_key.txt").replace("10.0.0.1", host), ""
        if self.role == "primary":
            prompt = fixture("setup_primary_prompt.txt")
            if not (data or "").lower().startswith("y"):
                return 1, prompt + "Aborted.\n", ""
        out = fixture("setup_success.txt").replace("10.0.0.1", host)
        self.role, self.primary_ip, self.running = "replica", host, False
        if not add:
            self.replicas = 1
        else:
            self.replicas += 1
        return 0, out, ""

    def _start(self):
        if self.role != "replica":
            return 1, "", "Error: replica mode is not configured\n"
        self.running = True
        return 0, "Starting MySQL replication ...\nSuccess: replication is running for all services.\n", ""

    def _stop(self):
        self.running = False
        return 0, "Stopping MySQL replication ...\nSuccess: replication was stopped for all services.\n", ""

    def _teardown(self):
        self.role, self.primary_ip, self.running = "standalone", None, False
        return 0, "Success: Replication configuration has been removed.\nRun `ghe-repl-setup' to re-enable replica mode.\n", ""

    def _promote(self):
        self.role, self.running = "primary", False
        return 0, fixture("promote_success.txt"), ""

    def _mm_query(self):
        return 0, "maintenance mode set\n" if self.maintenance else "maintenance mode not set\n", ""

    def _mm_set(self, value):
        self.maintenance = value
        return 0, "", ""


def run_module(main, args, runner, check_mode=False, diff=False):
    """Run a module's ``main()`` with ``args`` and the fake ``runner`` behind ``run_command``
    and the files the modules read.

    Returns ``(exit code, result dict, raw stdout, run_command kwargs list)``; the result is
    what AnsibleModule printed, so no_log masking and the real exit path are covered.
    """
    # Imported here so ScriptedRunner/FakeAppliance stay usable without Ansible installed.
    import contextlib  # pylint: disable=import-outside-toplevel
    import io  # pylint: disable=import-outside-toplevel
    import json  # pylint: disable=import-outside-toplevel
    from unittest import mock  # pylint: disable=import-outside-toplevel

    from ansible.module_utils import basic  # pylint: disable=import-outside-toplevel
    from ansible.module_utils.testing import patch_module_args  # pylint: disable=import-outside-toplevel

    module_args = dict(args)
    if check_mode:
        module_args["_ansible_check_mode"] = True
    if diff:
        module_args["_ansible_diff"] = True
    kwargs_seen = []

    def run_command(self, cmd, **kwargs):  # pylint: disable=unused-argument
        kwargs_seen.append(kwargs)
        return runner(cmd, kwargs.get("data"))

    out = io.StringIO()
    code = None
    reads = mock.patch("ansible_collections.hapair.ha.plugins.module_utils.ghe.read_text", runner.read)
    with patch_module_args(module_args), mock.patch.object(basic.AnsibleModule, "run_command", run_command), \
            reads, contextlib.redirect_stdout(out):
        try:
            main()
        except SystemExit as exc:
            code = exc.code
    raw = out.getvalue()
    if code is None:
        raise AssertionError(f"main() returned without exit_json/fail_json: {raw!r}")
    return code, json.loads(raw), raw, kwargs_seen
