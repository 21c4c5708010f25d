#!/bin/sh
# LAB SIMULATION (tests/lab/sim/webapp): installs the lab's web app in a host (a topology setup
# command; $LAB_DIR is the lab directory as hosts see it). It creates the user `git`, the
# node-local state a GitLab node has before it is made stateless - uploads in
# /srv/webapp/public/uploads and ~git/.ssh/authorized_keys - and enables and starts the app's
# unit (lab-webapp.service, port 8080).
set -eu
src="$LAB_DIR/sim/webapp"
id git >/dev/null 2>&1 || useradd -m -d /home/git -s /bin/sh git
install -m 0755 "$src/lab-webapp" /usr/local/bin/lab-webapp
install -m 0644 "$src/lab-webapp.service" /etc/systemd/system/lab-webapp.service
mkdir -p /etc/lab-webapp
install -d -o git -g git -m 0755 /srv/webapp /srv/webapp/public
install -d -o git -g git -m 0700 /srv/webapp/public/uploads
echo "uploaded before the move, on $(hostname)" > /srv/webapp/public/uploads/local-$(hostname).txt
chown git:git /srv/webapp/public/uploads/local-$(hostname).txt
install -d -o git -g git -m 0700 /home/git/.ssh
echo "# keys of $(hostname) before the move" > /home/git/.ssh/authorized_keys
chown git:git /home/git/.ssh/authorized_keys
chmod 0600 /home/git/.ssh/authorized_keys
systemctl daemon-reload
systemctl enable lab-webapp.service
# The setup runs inside the boot transaction: queue the start rather than wait for it.
systemctl start --no-block lab-webapp.service
