#!/bin/sh
# LAB SIMULATION: "install" the GitLab Omnibus package on a lab host. Not GitLab.
#
#   sh install.sh VERSION [EXTERNAL_URL]
#
# What the package (plus its postinst) leaves on a VM, for the simulated commands in this
# directory: /opt/gitlab/version-manifest.txt (which selects the simulated behaviour),
# /opt/gitlab/embedded/service/gitlab-rails/VERSION, /opt/gitlab/embedded/bin/ruby (Debian's
# ruby), /opt/gitlab/bin/{gitlab-ctl,gitlab-rake} linked from /usr/bin as the package does, and
# the package's /etc/gitlab/gitlab.rb template (mode 0600). With EXTERNAL_URL the postinst runs
# `gitlab-ctl reconfigure` (a full single-node GitLab starts); without it nothing is configured
# or running yet and no `git` account exists, as with GitLab's instructions for Gitaly servers.
#
# Run again on a used host it first removes the previous install, its data and the `git`
# account: a fresh VM (tests use this to reset a host). /usr and /opt are per-host overlays.
set -eu
SIM=$(cd "$(dirname "$0")" && pwd)
VERSION=$1
URL=${2:-}

if [ -x /opt/gitlab/bin/gitlab-ctl ]; then
    /opt/gitlab/bin/gitlab-ctl uninstall || true
fi
rm -rf /opt/gitlab /etc/gitlab /var/opt/gitlab /var/log/gitlab
rm -f /usr/bin/gitlab-ctl /usr/bin/gitlab-rake
if id git >/dev/null 2>&1; then
    userdel git
fi
getent group git >/dev/null 2>&1 && groupdel git

mkdir -p /opt/gitlab/bin /opt/gitlab/embedded/bin /opt/gitlab/embedded/service/gitlab-rails /etc/gitlab
chmod 0775 /etc/gitlab
cat > /opt/gitlab/version-manifest.txt <<MANIFEST
gitlab-ee $VERSION
(lab simulation of the Omnibus package: tests/lab/sim/gitlab)
gitaly                  v$VERSION    git
gitlab-rails            v$VERSION-ee git
MANIFEST
echo "$VERSION-ee" > /opt/gitlab/embedded/service/gitlab-rails/VERSION
ln -s /usr/bin/ruby /opt/gitlab/embedded/bin/ruby
for pair in gitlab-ctl:gitlab_ctl.py gitlab-rake:gitlab_rake.py gitlab-sim-project:project.py; do
    name=${pair%%:*}
    script=${pair#*:}
    printf '#!/bin/sh\n# LAB SIMULATION of %s (%s/%s)\nexec /usr/bin/python3 %s/%s "$@"\n' \
        "$name" "$SIM" "$script" "$SIM" "$script" > "/opt/gitlab/bin/$name"
    chmod 0755 "/opt/gitlab/bin/$name"
done
ln -s /opt/gitlab/bin/gitlab-ctl /usr/bin/gitlab-ctl
ln -s /opt/gitlab/bin/gitlab-rake /usr/bin/gitlab-rake

(umask 077 && cat > /etc/gitlab/gitlab.rb) <<TEMPLATE
## GitLab configuration settings
##! This file is generated during initial installation and **is not** modified
##! during upgrades.
##! (lab simulation of the Omnibus package template: tests/lab/sim/gitlab)

##! For more details on the various options see:
##! https://docs.gitlab.com/omnibus/settings/configuration.html

external_url '${URL:-http://gitlab.example.com}'

################################################################################
## gitlab.yml configuration
################################################################################

# gitlab_rails['internal_api_url'] = 'http://gitlab.example.com'
# gitlab_rails['gitaly_token'] = 'secret token'
# gitlab_rails['auto_migrate'] = true

################################################################################
## Gitaly
################################################################################

# gitaly['enable'] = true
# gitaly['configuration'] = {
#   socket_path: '/var/opt/gitlab/gitaly/gitaly.socket',
#   listen_addr: 'localhost:8075',
#   auth: {
#     token: '',
#   },
# }
# git_data_dirs({
#   "default" => {
#     "path" => "/mnt/nfs-01/git-data"
#    }
# })

# postgresql['enable'] = true
# redis['enable'] = true
# nginx['enable'] = true
# puma['enable'] = true
# sidekiq['enable'] = true
TEMPLATE
chmod 0600 /etc/gitlab/gitlab.rb

if [ -n "$URL" ]; then
    /opt/gitlab/bin/gitlab-ctl reconfigure
fi
