#!/bin/sh
# LAB SIMULATION — turns a lab host into a simulated GitHub Enterprise Server appliance.
# Not GitHub code. Run as a topology `setup:` command (root, inside the host, before sshd):
#     sh .../tests/lab/sim/ghe/boot.sh ROOT_SITE_ADMIN_PASSWORD
# Creates the `admin` user, installs ghe_sim.py behind one wrapper per `ghe-*` command
# (/usr/local is in the host's private /usr overlay), lays out /data and /etc/github, seeds some data, and makes the
# self-signed certificate the Manage API serves on 8443. The topology's `services:` then run
# `ghe_sim.py httpd`.
set -eu
SRC=$(dirname "$0")
PASSWORD=$1
LIB=/usr/local/lib/ghe-sim

id admin >/dev/null 2>&1 || useradd -m -s /bin/bash admin
install -d -m 0755 "$LIB"
install -m 0644 "$SRC/ghe_sim.py" "$LIB/ghe_sim.py"
for cmd in ghe-repl-setup ghe-repl-start ghe-repl-stop ghe-repl-status ghe-repl-teardown ghe-repl-promote ghe-maintenance; do
    printf '#!/bin/sh\n# LAB SIMULATION of GitHub Enterprise Server (tests/lab/sim/ghe)\nexec /usr/bin/python3 %s %s "$@"\n' \
        "$LIB/ghe_sim.py" "$cmd" > "/usr/local/bin/$cmd"
    chmod 0755 "/usr/local/bin/$cmd"
done

install -d -m 0755 -o admin -g admin /etc/github /data /data/user /data/user/common \
    /data/user/common/ghe-sim /data/repositories /data/user/mysql /data/user/redis \
    /data/user/elasticsearch /data/user/pages /run/ghe-sim
install -d -m 0700 -o admin -g admin /home/admin/.ssh
# /run is empty after every boot: systemd-tmpfiles makes the run directory again, as the
# appliance has its own after a reboot (the setup above runs at the first boot only)
printf 'd /run/ghe-sim 0755 admin admin -\n' > /etc/tmpfiles.d/ghe-sim.conf
install -d -m 0755 /etc/github/ssl
touch /var/log/lab/ghe-repl-loop.log /var/log/lab/ghe-sim-events.log && chown admin:admin /var/log/lab/ghe-repl-loop.log /var/log/lab/ghe-sim-events.log

# Node identity and some data of this node's own (a new appliance is not a copy of another).
UUID=$(cat /proc/sys/kernel/random/uuid)
printf '%s\n' "$UUID" > /data/user/common/uuid
printf -- '-- github_enterprise database of instance %s\n' "$UUID" > /data/user/mysql/github_enterprise.sql
printf 'REDIS0009 instance %s\n' "$UUID" > /data/user/redis/dump.rdb
printf '{"cluster_uuid": "%s"}\n' "$UUID" > /data/user/elasticsearch/cluster.json
mkdir -p /data/repositories/github/hello-world.git /data/user/pages/github/hello-world
printf 'ref: refs/heads/main\n' > /data/repositories/github/hello-world.git/HEAD
printf '<h1>hello from %s</h1>\n' "$(hostname)" > /data/user/pages/github/hello-world/index.html
chown -R admin:admin /data

umask 077
printf '%s' "$PASSWORD" > /etc/github/manage-password
umask 022
printf '{"sync_interval": 1.0, "git_critical_repositories": 10, "critical_after_seconds": 60}\n' > /etc/github/ghe-sim.json

IP=$(ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1 | head -n1)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=$(hostname)" -addext "subjectAltName=DNS:$(hostname),IP:$IP" \
    -keyout /etc/github/ssl/ghe.key -out /etc/github/ssl/ghe.crt 2>/dev/null
chmod 0600 /etc/github/ssl/ghe.key
echo "ghe-sim: $(hostname) ($IP) is a simulated GHES appliance, uuid $UUID"
