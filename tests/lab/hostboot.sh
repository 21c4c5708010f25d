#!/bin/sh
# Boots one lab host: a Debian server whose PID 1 is real systemd. Started by tests/lab/lab.py as
#   unshare --mount --uts --ipc --pid --fork --kill-child --propagation private \
#       nsenter --net=/run/netns/NS /bin/sh hostboot.sh STATE_DIR
# inside the host's own network namespace; STATE_DIR/boot.env says which image, host name,
# SSH port, cgroups and disks. This script is PID 1 of the new PID namespace until it becomes
# systemd. It mounts a copy-on-write overlay over the image (the host's disk: STATE_DIR/upper
# keeps what the host wrote, across a crash and a reboot), a fresh /proc and a read-only /sys
# of its own, the host's own cgroups, a private /dev (a few device nodes, its own devpts, the
# topology's disks), a tmpfs /run with the lab directory bound read-only at /run/lab/src. On the
# first boot it gives the server its identity (hostname, /etc/hosts, machine id, SSH host keys,
# the lab key, the SSH port) and the topology's setup commands and services as units. Then it
# pivots into the overlay, so nothing of the controller's filesystem is left in the host, and
# executes systemd.
set -eu
S=$1
# shellcheck disable=SC1091
. "$S/boot.env"
R=$S/root

hostname "$HOST"
mkdir -p "$S/upper" "$S/work" "$R"
mount -t overlay "lab-$HOST" -o "lowerdir=$IMAGE,upperdir=$S/upper,workdir=$S/work" "$R"

# This process becomes the host's init: it joins the host's own cgroups first, so systemd
# builds its tree (init.scope, system.slice, ...) under them.
case $CGROUP_MODE in
    hybrid)
        echo 0 > "/sys/fs/cgroup/systemd/$CGROUP/cgroup.procs"
        echo 0 > "/sys/fs/cgroup/unified/$CGROUP/cgroup.procs"
        ;;
    unified) echo 0 > "/sys/fs/cgroup/unified/$CGROUP/cgroup.procs" ;;
esac

mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
case $CGROUP_MODE in
    hybrid)
        mount -t tmpfs -o mode=0755,nosuid,nodev,noexec,size=1m cgroup "$R/sys/fs/cgroup"
        mkdir "$R/sys/fs/cgroup/systemd" "$R/sys/fs/cgroup/unified"
        mount --bind "/sys/fs/cgroup/systemd/$CGROUP" "$R/sys/fs/cgroup/systemd"
        mount --bind "/sys/fs/cgroup/unified/$CGROUP" "$R/sys/fs/cgroup/unified"
        ;;
    unified) mount --bind "/sys/fs/cgroup/unified/$CGROUP" "$R/sys/fs/cgroup" ;;
esac

# /dev: the usual character devices, a devpts of the host's own, and each of the topology's disks
# under the name a virtual machine would give it (vdb, vdc, ...). Nodes of the host's own
# (mknod), never bind mounts of the real ones: systemd and getty chown and chmod /dev/console and
# ttys, which must not reach the controller's device files.
mount -t tmpfs -o mode=0755,nosuid,size=1m dev "$R/dev"
node() { mknod -m "$1" "$R/dev/$2" "$3" "$4" "$5"; }
node 0666 null c 1 3
node 0666 zero c 1 5
node 0666 full c 1 7
node 0666 random c 1 8
node 0666 urandom c 1 9
node 0666 tty c 5 0
# no console of its own: writes to it go nowhere
node 0600 console c 1 3
mkdir "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev shm "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
for disk in $DISKS; do
    # shellcheck disable=SC2046
    node 0660 "${disk#*:}" b $(stat -L -c '%t %T' "${disk%%:*}" | while read -r major minor; do echo "$((0x$major)) $((0x$minor))"; done)
    chgrp disk "$R/dev/${disk#*:}" 2>/dev/null || true
done

mount -t tmpfs -o mode=0755,nosuid,nodev,size=64m run "$R/run"
mkdir -p "$R/run/lab/src" "$R/run/lab/oldroot"
mount --bind "$LAB_SRC" "$R/run/lab/src"
mount -o remount,bind,ro "$R/run/lab/src"

if [ ! -e "$R/var/lib/lab/installed" ]; then
    mkdir -p "$R/var/lib/lab" "$R/var/log/lab" "$R/etc/ssh/lab" "$R/etc/ssh/sshd_config.d"
    echo "$HOST" > "$R/etc/hostname"
    rm -f "$R/etc/hosts" "$R/etc/resolv.conf"
    cp "$S/hosts" "$R/etc/hosts"
    # A nameserver that answers nothing, at once: lookups fail in milliseconds, not seconds.
    echo "nameserver 127.0.0.1" > "$R/etc/resolv.conf"
    tr -d - < /proc/sys/kernel/random/uuid > "$R/etc/machine-id"
    # Own host keys. No RSA key: generating one costs ~1.3 s of CPU, and OpenSSH clients
    # (Ansible's) use ed25519 first.
    rm -f "$R"/etc/ssh/ssh_host_*
    chroot "$R" ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
    chroot "$R" ssh-keygen -q -t ecdsa -N "" -f /etc/ssh/ssh_host_ecdsa_key
    install -m 0644 "$S/authorized_keys" "$R/etc/ssh/lab/authorized_keys"
    # sshd: the topology's port, the lab key for every user besides each user's own keys.
    cat > "$R/etc/ssh/sshd_config.d/00-lab.conf" <<EOF
# hapair lab host: written at first boot by tests/lab/hostboot.sh
Port $SSH_PORT
UseDNS no
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
PermitRootLogin prohibit-password
PasswordAuthentication no
AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/lab/authorized_keys
EOF
    # The topology's setup commands run once, as a unit, before sshd: a host is reachable when
    # it is set up. Their exit status and output stay in the host's disk for the lab to read.
    install -m 0755 "$S/setup.sh" "$R/var/lib/lab/setup.sh"
    cat > "$R/etc/systemd/system/lab-setup.service" <<'EOF'
[Unit]
Description=hapair lab: the topology's setup commands (first boot)
After=local-fs.target
Before=ssh.service
ConditionPathExists=!/var/lib/lab/setup.rc

[Service]
Type=oneshot
RemainAfterExit=yes
Environment=LAB_DIR=/run/lab/src
ExecStart=/bin/sh -c 'sh -eu /var/lib/lab/setup.sh > /var/log/lab/setup.log 2>&1; rc=$?; echo $rc > /var/lib/lab/setup.rc.new; mv -f /var/lib/lab/setup.rc.new /var/lib/lab/setup.rc; exit $rc'

[Install]
WantedBy=multi-user.target
EOF
    mkdir -p "$R/etc/systemd/system/multi-user.target.wants" "$R/etc/systemd/system/ssh.service.d"
    ln -sf ../lab-setup.service "$R/etc/systemd/system/multi-user.target.wants/lab-setup.service"
    printf '[Unit]\nAfter=lab-setup.service\n' > "$R/etc/systemd/system/ssh.service.d/00-lab.conf"
    # The topology's services: one unit each, enabled.
    for unit in "$S"/services/*.service; do
        [ -e "$unit" ] || continue
        install -m 0644 "$unit" "$R/etc/systemd/system/"
        ln -sf "../${unit##*/}" "$R/etc/systemd/system/multi-user.target.wants/${unit##*/}"
    done
    touch "$R/var/lib/lab/installed"
fi

# Leave the controller's filesystem behind: the overlay becomes / and the old root goes.
cd "$R"
pivot_root . run/lab/oldroot
umount -l /run/lab/oldroot
rmdir /run/lab/oldroot
exec /usr/bin/env -i container=lab TERM=dumb PATH=/usr/sbin:/usr/bin:/sbin:/bin /lib/systemd/systemd
