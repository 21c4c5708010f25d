"""Lab fixture and helpers for the Gitaly tests (topology `gitaly`, slot 4).

Three hosts run the LAB SIMULATION of GitLab Omnibus (tests/lab/sim/gitlab): `gitlab-rails`
(installed with EXTERNAL_URL: everything runs, Gitaly local) and `gitaly-1`, `gitaly-2` (installed
without it: nothing configured). `GitalyLab.reinstall()` puts every host back to that state for a
given GitLab version (a fresh VM: package, config, data, `git` account, managed /etc/hosts block).
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.lab import ansible_run
from tests.lab.lab import HOST_LAB_DIR, LAB_DIR
from tests.lab.pytest_support import running_lab

SIM = LAB_DIR / "sim" / "gitlab"  # on the controller
HOST_SIM = Path(HOST_LAB_DIR) / "sim" / "gitlab"  # the same, as seen inside the lab hosts
PLAYBOOK = "playbooks/gitaly_external.yml"
VERSION = "18.2.1"
RAILS = "gitlab-rails"
GITALY = ("gitaly-1", "gitaly-2")
HOSTS = (RAILS,) + GITALY
EXTERNAL_URL = "http://gitlab.example.com"
PROJECT = "/opt/gitlab/bin/gitlab-sim-project"


class GitalyLab:
    def __init__(self, lab):
        self.lab = lab
        self.token = lab.topo.hosts[RAILS].vars["gitaly_auth_token"]
        self.outputs: list[str] = []   # everything Ansible printed, for the no-secret-in-logs test
        self.secrets: set[str] = set()  # every secret value the Rails node ever had

    # ---- running things ------------------------------------------------------------------
    def exec(self, host, *cmd, check=True, input=None):
        return self.lab.exec(host, *cmd, check=check, input=input)

    def sh(self, host, script, check=True):
        return self.lab.exec(host, "/bin/sh", "-c", script, check=check)

    def playbook(self, *args, extra_vars=None, check=False, diff=False, path=PLAYBOOK):
        self.remember_secrets()
        result = ansible_run.playbook(self.lab, path, *args, extra_vars=extra_vars, check=check, diff=diff)
        self.outputs.append(result.stdout + result.stderr)
        self.remember_secrets()
        return result

    def adhoc(self, pattern, module, args):
        proc = ansible_run.adhoc(self.lab, pattern, module, json.dumps(args) if isinstance(args, dict) else args)
        self.outputs.append(proc.stdout + proc.stderr)
        return proc

    def converge(self, *args, **kwargs):
        return self.playbook(*args, **kwargs)

    # ---- state -----------------------------------------------------------------------------
    def reinstall(self, version=VERSION, hosts=HOSTS):
        """A fresh VM with GitLab `version`: Rails configured and running, Gitaly nodes untouched."""
        for host in hosts:
            url = EXTERNAL_URL if host == RAILS else ""
            self.sh(host, f"sh {shlex.quote(str(HOST_SIM / 'install.sh'))} {version} {url} >/dev/null; rm -rf /srv/gitaly; "
                          "sed -i '/^# BEGIN hapair.ha/,/^# END hapair.ha/d' /etc/hosts")
        self.remember_secrets()

    def remember_secrets(self):
        text = self.exec(RAILS, "cat", "/etc/gitlab/gitlab-secrets.json", check=False).stdout
        if text:
            for section in json.loads(text).values():
                self.secrets.update(v for v in section.values() if isinstance(v, str) and len(v) >= 16)

    def read(self, host, path):
        return self.exec(host, "cat", path).stdout

    def stat(self, host, path):
        """(octal mode, owner, group) of a path on a host."""
        mode, owner, group = self.exec(host, "stat", "-c", "%a %U %G", path).stdout.split()
        return mode, owner, group

    def status(self, host):
        """`gitlab-ctl status` as {service: line}."""
        out = self.exec(host, "gitlab-ctl", "status", check=False).stdout
        return {line.split(":")[1].strip(): line for line in out.splitlines() if line.startswith(("run:", "down:"))}

    def listening(self, host, port):
        return f":{port} " in self.exec(host, "ss", "-Hltn").stdout

    def project(self, *args, check=True):
        proc = self.exec(RAILS, PROJECT, *args, check=False)
        answer = json.loads(proc.stdout)
        if check:
            assert proc.returncode == 0, answer
        return answer

    def gitaly_check(self):
        return self.exec(RAILS, "gitlab-rake", "gitlab:gitaly:check").stdout

    def snapshot(self):
        """What a failed run must not change, on every host."""
        files = "/etc/gitlab/gitlab.rb /etc/gitlab/gitlab-secrets.json /etc/hosts"
        out = {}
        for host in HOSTS:
            out[host] = self.sh(host, f"for f in {files}; do echo \"== $f\"; cat $f 2>/dev/null; done; "
                                      "ls -la /etc/gitlab; ls -laR /srv 2>/dev/null").stdout
            out[host + " services"] = sorted(self.status(host))
        return out


@pytest.fixture(scope="module")
def glab():
    with running_lab("gitaly") as lab:
        yield GitalyLab(lab)
