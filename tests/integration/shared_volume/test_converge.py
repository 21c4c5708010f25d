"""playbooks/keepalived_shared_volume.yml on the lab pair: converge, converge again with no
change, only the MASTER has the volume and serves the app on the VIP, the application state is
relocated with the right owner and mode, and --check on a drifted node reports the change and
makes none."""
from __future__ import annotations

from tests.lab.pytest_support import default_release_only

from .conftest import CONFIG, MOUNT_POINT, PAIR, VOLUME, dump


def stat(pair_lab, host: str, path: str) -> str:
    return pair_lab.sh(host, f"stat -c '%U:%G %a %F' {path}").stdout.strip()


def test_first_converge_formats_once_and_mounts_on_the_master(converged):
    out = converged.first_run.stdout
    assert "Create the filesystem" in out
    master = converged.master()
    backup = converged.other(master)
    assert converged.mounted(master) and not converged.mounted(backup)
    assert converged.has_vip(master) and not converged.has_vip(backup)
    # ext4 with multi-mount protection, labelled
    device = converged.lab.host_disks()["shared"]
    features = converged.sh(master, f"dumpe2fs -h {device} 2>/dev/null | grep -E 'features|volume name'").stdout
    assert " mmp" in features and "gitlab-data" in features
    # the volume is never in fstab
    for host in PAIR:
        assert "gitlab-data" not in converged.sh(host, "cat /etc/fstab").stdout


def test_second_converge_changes_nothing(converged):
    again = converged.run()
    assert again.rc == 0, dump(again)
    for host in PAIR:
        assert again.recap[host]["changed"] == 0, dump(again)


def test_the_master_serves_the_app_and_the_volume_on_the_vip(converged):
    master = converged.settled()
    assert converged.served_by() == master
    rc, body = converged.http(f"/uploads/local-{master}.txt")
    assert rc == 0 and f"on {master}" in body
    converged.put("converge.txt", "written through the VIP")
    assert converged.sh(master, f"cat {MOUNT_POINT}/uploads/converge.txt").stdout == "written through the VIP"


def test_state_is_relocated_with_owner_and_mode(converged):
    master = converged.master()
    backup = converged.other(master)
    assert stat(converged, master, MOUNT_POINT) == "git:git 755 directory"
    assert stat(converged, master, f"{MOUNT_POINT}/uploads") == "git:git 700 directory"
    assert stat(converged, master, f"{MOUNT_POINT}/ssh") == "git:git 755 directory"
    assert stat(converged, master, f"{MOUNT_POINT}/ssh/authorized_keys") == "git:git 600 regular file"
    # moved once: the MASTER's local files are on the volume, its local paths are symlinks
    assert f"keys of {master} before the move" in converged.sh(master, f"cat {MOUNT_POINT}/ssh/authorized_keys").stdout
    for host in PAIR:
        assert converged.sh(host, "readlink /srv/webapp/public/uploads").stdout.strip() == f"{MOUNT_POINT}/uploads"
        assert converged.sh(host, "readlink /home/git/.ssh/authorized_keys").stdout.strip() == f"{MOUNT_POINT}/ssh/authorized_keys"
    # the BACKUP's own local copies were not thrown away
    assert converged.sh(backup, f"cat /srv/webapp/public/uploads.pre-shared-volume/local-{backup}.txt").stdout.strip() \
        == f"uploaded before the move, on {backup}"
    assert converged.sh(backup, "stat -c '%U %a' /home/git/.ssh/authorized_keys.pre-shared-volume").stdout.strip() == "git 600"
    assert converged.sh(master, "test -e /srv/webapp/public/uploads.pre-shared-volume", check=False).returncode != 0


def test_keepalived_runs_the_health_check_contract_and_the_hook(converged):
    for host in PAIR:
        conf = converged.sh(host, "cat /etc/keepalived/keepalived.conf").stdout
        assert 'keepalived-healthcheck /etc/keepalived/checks.d/pair_app.conf"' in conf
        check = converged.sh(host, "cat /etc/keepalived/checks.d/pair_app.conf").stdout
        assert "RESTART='systemctl restart lab-webapp'" in check
        assert "GIVE_UP='systemctl stop --no-block keepalived'" in check
        hook = converged.sh(host, "ls -l /etc/keepalived/notify.d/").stdout
        assert "10-shared-volume-data" in hook and "-rwxr-xr-x" in hook
        assert converged.sh(host, f"python3 -c 'import json; print(json.load(open(\"{CONFIG}\"))[\"vrrp_name\"])'").stdout.strip() \
            == "GITLAB"


@default_release_only
def test_check_mode_reports_drift_and_changes_nothing(converged):
    master = converged.master()
    converged.sh(master, f"chmod 0775 {MOUNT_POINT}; chown root {MOUNT_POINT}/uploads")
    try:
        checked = converged.run(check=True, diff=True)
        assert checked.rc == 0, dump(checked)
        assert checked.recap[master]["changed"] >= 1, dump(checked)
        assert f"would set {MOUNT_POINT} to git:git 0755" in checked.stdout, dump(checked)
        # check mode changed nothing: the drift is still there, exactly as made
        assert stat(converged, master, MOUNT_POINT) == "git:git 775 directory"
        assert stat(converged, master, f"{MOUNT_POINT}/uploads").startswith("root:")
        fixed = converged.run()
        assert fixed.rc == 0, dump(fixed)
        assert fixed.recap[master]["changed"] >= 1
    finally:
        converged.sh(master, f"{VOLUME} --config {CONFIG} mount")
    assert stat(converged, master, MOUNT_POINT) == "git:git 755 directory"
    assert stat(converged, master, f"{MOUNT_POINT}/uploads") == "git:git 700 directory"


def test_status_reports_the_holder(converged):
    import json

    master = converged.master()
    status = json.loads(converged.sh(master, f"{VOLUME} --config {CONFIG} --json status").stdout)
    assert status["keepalived_state"] == "MASTER" and status["mounted"] is True
    assert status["mmp"]["state"] == "active"
    other = json.loads(converged.sh(converged.other(master), f"{VOLUME} --config {CONFIG} --json status").stdout)
    assert other["keepalived_state"] == "BACKUP" and other["mounted"] is False


def test_ssh_logins_use_the_relocated_authorized_keys_and_need_the_right_mode(converged):
    """authorized_keys lives on the volume (the local path is a symlink): a key added there lets
    `git` log in on the VIP; a volume root with the wrong owner (what broke logins in the manual
    set-up) makes sshd's StrictModes refuse the file, and converging puts the owner right."""
    master = converged.master()
    converged.lab.exec("client-1", "sh", "-c", "rm -f /root/gitkey*; ssh-keygen -q -t ed25519 -N '' -f /root/gitkey")
    pub = converged.lab.exec("client-1", "cat", "/root/gitkey.pub").stdout.strip()
    converged.sh(master, f"echo '{pub}' >> {MOUNT_POINT}/ssh/authorized_keys")

    def login() -> str:
        proc = converged.lab.exec("client-1", "ssh", "-i", "/root/gitkey", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                                  "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", f"git@{converged.vip}", "id -un",
                                  check=False)
        return proc.stdout.strip()

    assert login() == "git"
    converged.sh(master, f"chown nobody {MOUNT_POINT}")
    assert login() == ""
    assert f"bad ownership or modes for directory {MOUNT_POINT}" in converged.sh(master, "journalctl -u ssh --no-pager").stdout
    fixed = converged.run()
    assert fixed.rc == 0, dump(fixed)
    assert stat(converged, master, MOUNT_POINT) == "git:git 755 directory"
    assert login() == "git"
