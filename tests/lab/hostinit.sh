#!/bin/sh
# PID 1 of a lab host. Started by tests/lab/lab.py as
#   ip netns exec NS unshare --mount --uts --pid --fork --kill-child --mount-proc \
#       --propagation private /bin/sh hostinit.sh STATE_DIR HOSTNAME SSH_PORT
# inside the host's own network namespace. It gives the host its own hostname, copy-on-write
# /etc /var /root /opt /srv /home /usr, a private /run and /tmp, its own SSH host keys, runs the
# topology's setup commands and services, then becomes `tini -> sshd -D`.
set -eu
S=$1
H=$2
PORT=$3
# The lab's directory (tests/lab), for the topology's setup commands and services: simulated
# appliances live in $LAB_DIR/sim/<area>.
LAB_DIR=$(cd "$(dirname "$0")" && pwd)
export LAB_DIR
cd /

hostname "$H"

# Mounts of the root namespace that this private copy does not need: other labs' network
# namespace handles would otherwise be held open by this mount namespace.
umount -R -l /run/netns 2>/dev/null || true

for d in etc var root opt srv home usr; do
    mkdir -p "$S/upper/$d" "$S/work/$d"
    mount -t overlay "lab-$d" -o "lowerdir=/$d,upperdir=$S/upper/$d,workdir=$S/work/$d" "/$d"
done
mount -t tmpfs -o mode=0755,size=64m "lab-run" /run
mkdir -p /run/sshd /run/lock /run/lab
chmod 0755 /run/sshd
# Take what is needed from the state dir now: it lives under the real /tmp, which the host's
# private /tmp (bound below) hides.
cp "$S/hosts" "$S/authorized_keys" "$S/setup.sh" "$S/services.sh" "$S/private_dirs" /run/lab/
# Top-level directories the topology wants private (e.g. an appliance's /data): a tmpfs each.
while read -r d; do
    mount -t tmpfs -o mode=0755,size=256m "lab-private" "$d"
done < /run/lab/private_dirs
# The lab's own directory at a fixed path: the checkout may live anywhere, under /tmp too,
# which the host's private /tmp (bound below) would hide.
mkdir -p /run/lab/src
mount --bind -o ro "$LAB_DIR" /run/lab/src
LAB_DIR=/run/lab/src
mkdir -p "$S/tmp"
chmod 1777 "$S/tmp"
mount --bind "$S/tmp" /tmp

echo "$H" > /etc/hostname
rm -f /etc/hosts /etc/resolv.conf
cp /run/lab/hosts /etc/hosts
# A nameserver that answers nothing, at once: lookups fail in milliseconds, not seconds.
echo "nameserver 127.0.0.1" > /etc/resolv.conf
rm -f /etc/machine-id && tr -d - < /proc/sys/kernel/random/uuid > /etc/machine-id

# Own host keys. No RSA key: generating one costs ~1.3 s of CPU per host, and OpenSSH clients
# (Ansible's) use ed25519 first.
rm -f /etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
ssh-keygen -q -t ecdsa -N "" -f /etc/ssh/ssh_host_ecdsa_key
mkdir -p /etc/ssh/lab
cp /run/lab/authorized_keys /etc/ssh/lab/authorized_keys
chmod 0644 /etc/ssh/lab/authorized_keys

mkdir -p /var/log/lab
# A failing setup command ends the boot; its output then goes to init.log too (the lab quotes it).
for step in setup services; do
    if ! sh -eu "/run/lab/$step.sh" > "/var/log/lab/$step.log" 2>&1; then
        echo "hostinit: $step failed:"; cat "/var/log/lab/$step.log"; exit 1
    fi
done

exec tini -s -- /usr/sbin/sshd -D -e -p "$PORT" \
    -o PidFile=/run/sshd.pid \
    -o UseDNS=no \
    -o HostKey=/etc/ssh/ssh_host_ed25519_key \
    -o HostKey=/etc/ssh/ssh_host_ecdsa_key \
    -o PermitRootLogin=prohibit-password \
    -o PasswordAuthentication=no \
    -o "AuthorizedKeysFile=.ssh/authorized_keys /etc/ssh/lab/authorized_keys" \
    2>> /var/log/lab/sshd.log
