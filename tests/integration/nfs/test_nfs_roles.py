"""playbooks/nfs_exports.yml and nfs_clients.yml against the NFS lab: converge, idempotence,
check mode on drifted hosts, local content moved aside once, the keepalived hook, a standby
node, bad input (one clear error per host, nothing changed).

The lab has no NFS: these tests check the rendered exports file, the fstab lines, the
directories, the hook and the roles' logic (exportfs on db-01 is a recording stand-in)."""
from __future__ import annotations

import pytest

from .conftest import APP, CALLS, CLIENTS, EXPORTS, EXPORTS_FILE, HOOK, OLD_FILE, OLD_SESSION, PAIR, dump

pytestmark = pytest.mark.lab


def flat(result) -> str:
    """The run's output on one line with single quotes unescaped (YAML output folds long messages)."""
    return " ".join(result.stdout.replace("''", "'").split())


def exports_body(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_exports_converge_then_idempotent(converged):
    v = converged
    first = v.first_exports
    assert first.recap["db-01"]["changed"] > 0 and first.recap["db-02"]["changed"] > 0, dump(first)
    want = [
        f"/srv/nfs/sessions {v.network}(rw,sync,no_root_squash)",
        f"/srv/nfs/files {v.network}(rw,sync,no_root_squash,no_subtree_check) backup.example.com(ro)",
    ]
    for host in PAIR:
        text = v.cat(host, EXPORTS_FILE)
        assert text.startswith("#\n# Ansible managed"), text
        assert exports_body(text) == want, text
        assert v.stat(host, EXPORTS_FILE) == "root:root 644 regular file"
        assert v.stat(host, "/srv/nfs/sessions") == "app:app 770 directory"
        assert v.stat(host, "/srv/nfs/files") == "app:app 2775 directory"
    # exportfs -ra ran once, on the node that has it; the node without NFS says why it skipped.
    assert v.calls("db-01") == ["-ra"]
    assert v.cat("db-02", CALLS) == ""
    assert "No exportfs on db-02" in flat(first) and "exportfs -ra is skipped" in flat(first), dump(first)
    # The hook: installed where hapair.ha.keepalived configured the node (in the hook directory it
    # publishes), other hooks left alone.
    assert v.stat("db-01", HOOK) == "root:root 755 regular file"
    assert v.lab.exec("db-01", "test", "-x", "/etc/keepalived/notify.d/10-other").returncode == 0
    assert v.stat("db-02", HOOK) == "" and v.stat("db-02", "/etc/keepalived/notify.d") == ""
    assert "hapair.ha.keepalived has not configured db-02" in flat(first), dump(first)

    again = v.run(EXPORTS)
    assert again.rc == 0 and again.changed == 0, dump(again)
    assert v.calls("db-01") == ["-ra"], "a converge without change must not reload"


def test_clients_converge_then_idempotent(converged):
    v = converged
    first = v.first_clients
    assert first.recap[APP]["changed"] > 0, dump(first)
    assert v.fstab_nfs() == [
        f"{v.vip}:/srv/nfs/sessions /var/lib/app/sessions nfs intr,noac 0 0",
        f"{v.vip}:/srv/nfs/files /var/lib/app/files nfs intr 0 0",
    ]
    # The local directories are now empty mount points with the given owner and mode ...
    assert v.stat(APP, "/var/lib/app/sessions") == "app:app 770 directory"
    assert v.stat(APP, "/var/lib/app/files") == "app:app 775 directory"
    assert v.sh(APP, "ls -A /var/lib/app/sessions /var/lib/app/files | grep -v ':$' | grep -v '^$'") == ""
    # ... and what was there before is kept aside, content, owner and mode untouched.
    assert v.cat(APP, OLD_SESSION.replace("/sessions/", "/sessions.pre-nfs/")) == "session\n"
    assert v.cat(APP, OLD_FILE.replace("/files/", "/files.pre-nfs/")) == "pdf\n"
    assert v.stat(APP, "/var/lib/app/sessions.pre-nfs") == "app:app 700 directory"

    again = v.run(CLIENTS)
    assert again.rc == 0 and again.changed == 0, dump(again)
    assert len(v.fstab_nfs()) == 2


def test_hook_exports_only_on_master(converged):
    v = converged
    v.lab.exec("db-01", "sh", "-c", f": > {CALLS}")

    def hook(host, name, state):
        return v.lab.exec(host, HOOK, "GROUP", name, state, "200", check=False)

    out = hook("db-01", "VIP", "MASTER")
    assert out.returncode == 0 and "VIP MASTER: exports loaded (exportfs -ra)" in out.stdout, out
    for state in ("BACKUP", "FAULT", "STOP"):
        out = hook("db-01", "VIP", state)
        assert out.returncode == 0 and "exports withdrawn (exportfs -ua)" in out.stdout, out
    assert hook("db-01", "VIP", "DELETED").stdout == ""
    assert hook("db-01", "OTHER_GROUP", "MASTER").stdout == "", "names not listed are ignored"
    assert v.calls("db-01") == ["-ra", "-ua", "-ua", "-ua"]
    # Without exportfs the same hook does nothing and says so (db-02's copy, made by hand).
    v.lab.exec("db-02", "sh", "-c", "mkdir -p /tmp/h && cp /dev/stdin /tmp/h/hook && chmod 0755 /tmp/h/hook",
               input=v.cat("db-01", HOOK))
    out = v.lab.exec("db-02", "/tmp/h/hook", "GROUP", "VIP", "MASTER", "190")
    assert "no exportfs on this node" in out.stdout, out


def test_standby_node_does_not_load_exports(converged):
    v = converged
    v.lab.exec("db-01", "sh", "-c", f": > {CALLS}; mkdir -p /run/keepalived-hapair;"
                                    " echo 'BACKUP 2026-01-01T00:00:00.000+0000' > /run/keepalived-hapair/VIP.state")
    try:
        extra = v.exports_vars()["nfs_exports_list"] + [
            {"path": "/srv/nfs/extra", "clients": [{"host": v.network, "options": ["ro"]}]}]
        run = v.run(EXPORTS, nfs_exports_list=extra)
        assert run.rc == 0 and run.recap["db-01"]["changed"] > 0, dump(run)
        assert "/srv/nfs/extra" in v.cat("db-01", EXPORTS_FILE)
        assert v.calls("db-01") == [], "the standby must not export"
        assert "keepalived recorded BACKUP on db-01" in flat(run), dump(run)
    finally:
        v.lab.exec("db-01", "rm", "-f", "/run/keepalived-hapair/VIP.state")
    back = v.run(EXPORTS)
    assert back.rc == 0 and back.recap["db-01"]["changed"] > 0, dump(back)
    assert "/srv/nfs/extra" not in v.cat("db-01", EXPORTS_FILE)
    assert v.calls("db-01") == ["-ra"], "no recorded state (or MASTER): the change is loaded"


def test_check_mode_on_drifted_hosts_reports_and_changes_nothing(converged):
    v = converged
    v.lab.exec("db-01", "sh", "-c", f"echo '/srv/nfs/sessions *(rw)' >> {EXPORTS_FILE}; chmod 0777 /srv/nfs/sessions;"
                                    f" : > {CALLS}")
    v.lab.exec(APP, "sh", "-c", "sed -i 's/intr,noac/intr/' /etc/fstab; chmod 0755 /var/lib/app/sessions")
    before = v.snapshot()
    check = v.run(EXPORTS, check=True, diff=True)
    assert check.rc == 0, dump(check)
    assert check.recap["db-01"]["changed"] >= 2 and check.recap["db-02"]["changed"] == 0, dump(check)
    assert "-/srv/nfs/sessions *(rw)" in check.stdout, dump(check)
    check = v.run(CLIENTS, check=True, diff=True)
    assert check.rc == 0 and check.recap[APP]["changed"] >= 2, dump(check)
    assert v.snapshot() == before, "check mode changed a host"
    # A real run repairs the drift (and reloads the changed exports).
    fix = v.run(EXPORTS)
    assert fix.rc == 0 and fix.recap["db-01"]["changed"] >= 2, dump(fix)
    assert v.calls("db-01") == ["-ra"]
    assert v.stat("db-01", "/srv/nfs/sessions") == "app:app 770 directory"
    fix = v.run(CLIENTS)
    assert fix.rc == 0, dump(fix)
    assert f"{v.vip}:/srv/nfs/sessions /var/lib/app/sessions nfs intr,noac 0 0" in v.fstab_nfs()
    assert v.stat(APP, "/var/lib/app/sessions") == "app:app 770 directory"


def test_local_content_is_moved_aside_only_once(converged):
    v = converged
    v.lab.exec(APP, "sh", "-c", "echo late > /var/lib/app/sessions/sess_late")
    before = v.snapshot()
    run = v.run(CLIENTS)
    try:
        assert run.rc != 0 and run.recap[APP]["failed"] == 1 and run.changed == 0, dump(run)
        assert ("/var/lib/app/sessions has local content and /var/lib/app/sessions.pre-nfs exists already"
                in flat(run)), dump(run)
        assert v.snapshot() == before
        assert v.cat(APP, "/var/lib/app/sessions/sess_late") == "late\n"
    finally:
        v.lab.exec(APP, "rm", "-f", "/var/lib/app/sessions/sess_late")


# (playbook, variable overrides, words of the one error every host reports)
BAD_INPUT = {
    "relative export path": (EXPORTS, {"nfs_exports_list": [{"path": "srv/nfs/x", "clients": [{"host": "10.0.1.0/24"}]}]},
                             "path 'srv/nfs/x' is not an absolute path"),
    "empty clients": (EXPORTS, {"nfs_exports_list": [{"path": "/srv/nfs/x", "clients": []}]},
                      "export /srv/nfs/x: clients must be a non-empty list"),
    "unknown export option": (EXPORTS, {"nfs_exports_list": [{"path": "/srv/nfs/x", "clients": [
        {"host": "10.0.1.0/24", "options": ["rw", "no_root_sqash"]}]}]},
        "unknown export option no_root_sqash (did you mean no_root_squash?)"),
    "client with host bits": (EXPORTS, {"nfs_exports_list": [{"path": "/srv/nfs/x", "clients": [{"host": "10.0.1.5/24"}]}]},
                              "did you mean 10.0.1.0/24?"),
    "duplicate export paths": (EXPORTS, {"nfs_exports_list": [
        {"path": "/srv/nfs/x", "clients": [{"host": "10.0.1.0/24"}]},
        {"path": "/srv/nfs/x", "clients": [{"host": "10.0.2.0/24"}]}]}, "path /srv/nfs/x is listed twice"),
    "unquoted mode": (EXPORTS, {"nfs_exports_mode": 488}, "quote it"),
    "bad VIP": (CLIENTS, {"nfs_mounts_server": "10.1.0.300"}, "server '10.1.0.300' is not a valid IP address"),
    "bad src": (CLIENTS, {"nfs_mounts_list": [{"src": "10.1.0.10/srv/nfs/x", "path": "/var/lib/app/x"}]},
                "src '10.1.0.10/srv/nfs/x' is not HOST:/path"),
    "relative mount path": (CLIENTS, {"nfs_mounts_list": [{"src": "/srv/nfs/x", "path": "var/lib/app/x"}]},
                            "path 'var/lib/app/x' is not an absolute path"),
    "unknown mount option": (CLIENTS, {"nfs_mounts_list": [{"src": "/srv/nfs/x", "path": "/var/lib/app/x",
                                                            "opts": "intr,noac,hardd"}]},
                             "unknown mount option hardd (did you mean hard?)"),
    "duplicate mount paths": (CLIENTS, {"nfs_mounts_list": [{"src": "/srv/nfs/x", "path": "/var/lib/app/x"},
                                                            {"src": "/srv/nfs/y", "path": "/var/lib/app/x"}]},
                              "path /var/lib/app/x is listed twice"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT), ids=lambda c: c.replace(" ", "-"))
def test_bad_input_fails_once_and_changes_nothing(converged, case):
    v = converged
    playbook, overrides, words = BAD_INPUT[case]
    before = v.snapshot()
    run = v.run(playbook, **overrides)
    hosts = PAIR if playbook == EXPORTS else (APP,)
    assert run.rc != 0, dump(run)
    assert {h: run.recap[h]["failed"] for h in hosts} == {h: 1 for h in hosts}, dump(run)
    assert run.changed == 0, dump(run)
    assert run.stdout.count("fatal: [") == len(hosts), dump(run)
    assert words in flat(run), dump(run)
    assert v.snapshot() == before
