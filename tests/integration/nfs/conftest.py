"""The NFS lab (topology ``nfs``, slot 6) for the NFS exports and client mounts tests.

db-01 and db-02 (group db_pair) get the exports, app-1 (app_servers) the mounts through the VIP.
The lab has NO NFS (no kernel server or client): db-01 has a simulated ``exportfs`` that only
records its arguments (``/var/log/lab/exportfs.calls``) and keepalived's hook directory; db-02
has neither. The tests check the rendered exports file, the fstab lines, the directories, the
hook and the roles' logic, not NFS itself.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lab import ansible_run
from tests.lab.pytest_support import running_lab

HERE = Path(__file__).resolve().parent
LAB_VARS = HERE / "lab_vars.yml"
EXPORTS = "playbooks/nfs_exports.yml"
CLIENTS = "playbooks/nfs_clients.yml"
PAIR = ("db-01", "db-02")
APP = "app-1"
EXPORTS_FILE = "/etc/exports.d/app.exports"
HOOK = "/etc/keepalived/notify.d/40-nfs-exports"
CALLS = "/var/log/lab/exportfs.calls"
# Content an app wrote into its local directories before they became mount points.
OLD_SESSION = "/var/lib/app/sessions/sess_0123456789abcdef"
OLD_FILE = "/var/lib/app/files/upload/report.pdf"


@dataclass
class NfsLab:
    lab: object
    vip: str
    network: str

    def exports_vars(self) -> dict:
        return {
            "nfs_exports_list": [
                {"path": "/srv/nfs/sessions", "owner": "app", "group": "app", "mode": "0770",
                 "clients": [{"host": self.network, "options": ["rw", "sync", "no_root_squash"]}]},
                {"path": "/srv/nfs/files", "owner": "app", "group": "app", "mode": "2775",
                 "clients": [{"host": self.network, "options": "rw,sync,no_root_squash,no_subtree_check"},
                             {"host": "backup.example.com", "options": ["ro"]}]},
            ],
        }

    def mounts_vars(self) -> dict:
        return {
            "nfs_mounts_server": self.vip,
            "nfs_mounts_list": [
                {"src": "/srv/nfs/sessions", "path": "/var/lib/app/sessions", "opts": "intr,noac",
                 "owner": "app", "group": "app", "mode": "0770"},
                {"src": f"{self.vip}:/srv/nfs/files", "path": "/var/lib/app/files", "opts": "intr",
                 "owner": "app", "group": "app", "mode": "0775"},
            ],
        }

    def run(self, playbook: str, check: bool = False, diff: bool = False, **overrides):
        extra = self.exports_vars() if playbook == EXPORTS else self.mounts_vars()
        extra.update(overrides)
        return ansible_run.playbook(self.lab, playbook, "-e", f"@{LAB_VARS}", extra_vars=extra, check=check, diff=diff)

    # ---- reading hosts -----------------------------------------------------------------------
    def sh(self, host: str, script: str, check: bool = False) -> str:
        return self.lab.exec(host, "sh", "-c", script, check=check).stdout

    def cat(self, host: str, path: str) -> str:
        return self.lab.exec(host, "cat", path, check=False).stdout

    def stat(self, host: str, path: str) -> str:
        """``OWNER:GROUP MODE TYPE`` of a path, or '' when missing."""
        return self.lab.exec(host, "stat", "-c", "%U:%G %a %F", path, check=False).stdout.strip()

    def fstab_nfs(self, host: str = APP) -> list[str]:
        return [" ".join(line.split()) for line in self.cat(host, "/etc/fstab").splitlines() if " nfs" in line]

    def calls(self, host: str = "db-01") -> list[str]:
        return self.cat(host, CALLS).splitlines()

    def snapshot(self) -> dict:
        """Everything the roles manage, on every host: to prove a failed run changed nothing."""
        paths = [EXPORTS_FILE, "/etc/fstab", CALLS, "/srv/nfs/sessions", "/srv/nfs/files", "/var/lib/app/sessions",
                 "/var/lib/app/files", "/var/lib/app/sessions.pre-nfs", "/var/lib/app/files.pre-nfs"]
        script = ("for p in " + " ".join(paths) + " /etc/keepalived/notify.d/*; do "
                  "[ -e \"$p\" ] || continue; echo \"$p $(stat -c '%U:%G:%a' \"$p\") "
                  "$(if [ -f \"$p\" ]; then sha1sum < \"$p\"; else ls -A \"$p\" | tr '\\n' ' '; fi)\"; done")
        return {host: self.sh(host, script) for host in (*PAIR, APP)}


@pytest.fixture(scope="package")
def nfs_lab():
    with running_lab("nfs") as lab:
        vip = str(lab.topo.vip_network.network_address + 10)
        network = str(lab.topo.networks["lan"].cidr)
        ctx = NfsLab(lab=lab, vip=vip, network=network)
        # Before the first converge: an app's local content, and another role's keepalived hook.
        lab.exec(APP, "sh", "-c", f"mkdir -p {Path(OLD_FILE).parent} {Path(OLD_SESSION).parent}"
                                  f" && echo session > {OLD_SESSION} && echo pdf > {OLD_FILE}"
                                  f" && chown -R app:app /var/lib/app/sessions && chmod 0700 /var/lib/app/sessions")
        lab.exec("db-01", "sh", "-c", "printf '#!/bin/sh\\nexit 0\\n' > /etc/keepalived/notify.d/10-other"
                                      " && chmod 0755 /etc/keepalived/notify.d/10-other")
        yield ctx


@pytest.fixture(scope="package")
def converged(nfs_lab):
    """Both playbooks converged once; the first runs are kept."""
    nfs_lab.first_exports = nfs_lab.run(EXPORTS)
    assert nfs_lab.first_exports.rc == 0, dump(nfs_lab.first_exports)
    nfs_lab.first_clients = nfs_lab.run(CLIENTS)
    assert nfs_lab.first_clients.rc == 0, dump(nfs_lab.first_clients)
    return nfs_lab


def dump(result) -> str:
    """The end of a playbook run, for assertion messages."""
    return (result.stdout[-5000:] + "\n" + result.stderr[-2000:]).strip()


def js(data) -> str:
    return json.dumps(data, indent=1, sort_keys=True)
