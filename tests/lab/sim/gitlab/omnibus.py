"""LAB SIMULATION of a GitLab Omnibus node: what `gitlab-ctl` and `gitlab-rake` need.

Test infrastructure only, never shipped and never imported by product code. It runs inside lab
hosts with the system Python (/usr/bin/python3, stdlib only) and stands in for the parts of
the Omnibus package that moving Gitaly to its own server touches:

* the installed version: the first line of /opt/gitlab/version-manifest.txt (``gitlab-ee X.Y.Z``);
* ``gitlab-ctl reconfigure``: /etc/gitlab/gitlab.rb is EVALUATED by real Ruby through the
  recording DSL ``gitlab_rb_recorder.rb``; then GitLab's rules for the node's version are applied
  to what was recorded (:func:`check_config`), the secrets file is created or completed, the
  ``git`` account and the storage directories are created, and the services are started,
  restarted (when their configuration changed) or stopped (when disabled);
* the services: ``gitaly`` (``gitaly.py``, a listener that requires the token), ``puma`` (``rails.py``,
  GitLab's internal API that Gitaly's hooks call with the GitLab Shell secret) and placeholder
  processes for every other service Omnibus would run, each with a ``log`` process, so that
  ``gitlab-ctl status`` prints what runit prints.

What the rules model, with the GitLab sources they follow:

* a syntax error or any Ruby exception fails reconfigure with the Ruby message;
* a top-level name Omnibus does not know fails with "Encountered unsupported config key";
* removed settings fail with "Removed configurations found in gitlab.rb. Aborting reconfigure."
  and one line per setting (Gitlab::Deprecations): the flat ``gitaly[...]`` keys from 16.0
  (deprecated in 15.10), ``git_data_dirs`` from 18.0 (deprecated in 17.8), ``unicorn[...]``
  from 14.0, ``grafana[...]`` from 16.3 (unknown key from 17.1); deprecated ones only warn;
* ``gitaly['configuration']`` does not exist before 15.10: like any unknown sub-key it is
  accepted and has no effect there (Gitaly then listens on its socket only, with no token);
* Rails' storages come from ``git_data_dirs`` before 18.0 (Omnibus computes
  ``repositories_storages`` from it and overwrites a value set in gitlab.rb); from 17.8 a
  ``gitlab_rails['repositories_storages']`` without ``git_data_dirs`` is used (assumption: the
  release that deprecated ``git_data_dirs``), and from 18.0 it is the only way;
* database migrations (``gitlab_rails['auto_migrate']``, default true) fail without a database;
* ``/etc/gitlab/gitlab-secrets.json`` (mode 0600, root) is generated on the first reconfigure and
  completed later, never replaced: a Gitaly node that did not get the Rails node's copy has its
  own GitLab Shell secret, and pushes through it are refused by Rails ("401 Unauthorized").

Not modelled (deliberately): runit's restart of a crashed service (a dead service stays down),
the full list of Omnibus settings and services, TLS for the Rails internal API.

The version rules are GitLab's, taken from its documentation and deprecation notices (the
``DOC_*`` constants below, cited again next to each rule); they are written here independently
of the collection's own version table (plugins/module_utils/gitaly/version.py), which this
stand-in does not import: a wrong boundary in the module shows up as a failed reconfigure.
"""
from __future__ import annotations

import base64
import grp
import hashlib
import hmac
import http.client
import http.server
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import time
from pathlib import Path

SIM_DIR = Path(__file__).resolve().parent
RECORDER = SIM_DIR / "gitlab_rb_recorder.rb"
GITLAB_RB = Path("/etc/gitlab/gitlab.rb")
SECRETS = Path("/etc/gitlab/gitlab-secrets.json")
TRUSTED_CERTS = Path("/etc/gitlab/trusted-certs")
MANIFEST = Path("/opt/gitlab/version-manifest.txt")
EMBEDDED_RUBY = Path("/opt/gitlab/embedded/bin/ruby")
VAR = Path("/var/opt/gitlab")
LOG_ROOT = Path("/var/log/gitlab")
SIM_STATE = VAR / "sim"                      # service state (runit's supervise/ dirs)
SERVICE_STATE = SIM_STATE / "service"
GITALY_DIR = VAR / "gitaly"
GITALY_CONFIG = GITALY_DIR / "config.json"   # the real one is config.toml
GITALY_SOCKET = "/var/opt/gitlab/gitaly/gitaly.socket"
LOCAL_GITALY_ADDRESS = "unix:" + GITALY_SOCKET
SHELL_SECRET_FILE = VAR / "gitlab-shell" / ".gitlab_shell_secret"
RAILS_CONFIG = VAR / "gitlab-rails" / "etc" / "gitlab.json"   # the real one is gitlab.yml
PROJECTS = SIM_STATE / "projects.json"
DEFAULT_REPOSITORIES = "/var/opt/gitlab/git-data/repositories"
DEFAULT_INTERNAL_API = "http+unix://%2Fvar%2Fopt%2Fgitlab%2Fgitlab-workhorse%2Fsockets%2Fsocket"
GIT_USER = "git"
DOCS_15100 = "https://docs.gitlab.com/ee/update/#15100"

# Where each version rule comes from (GitLab documentation; where no docs.gitlab.com page was
# found, GitLab's own issue tracker, said so).
# How Omnibus handles a deprecated setting: from the `deprecation` release reconfigure warns; from
# the `removal` release the package's pre-install check and reconfigure refuse it ("Removed
# configurations found in gitlab.rb").
DOC_DEPRECATION_MESSAGES = "https://docs.gitlab.com/omnibus/development/adding-deprecation-messages.html"
# GitLab 15.10 moved Gitaly's Omnibus settings under gitaly['configuration'] (same structure as
# Gitaly's config.toml) and kept the flat gitaly[...] keys working; 16.0 removed them ("Linux
# package installations must change Gitaly and Praefect configuration structure before upgrading
# to GitLab 16"). DOCS_15100 is the link Omnibus' own message gives.
DOC_GITALY_STRUCTURE = "https://docs.gitlab.com/ee/update/versions/gitlab_16_changes.html#gitaly-configuration-structure-change"
# git_data_dirs: deprecated (reconfigure warns) since 17.8, removed in 18.0; Gitaly nodes use
# gitaly['configuration'][:storage], Rails nodes gitlab_rails['repositories_storages'].
DOC_GIT_DATA_DIRS = "https://docs.gitlab.com/omnibus/settings/configuration.html#migrating-from-git_data_dirs"
DOC_GIT_DATA_DIRS_DEPRECATION = "https://docs.gitlab.com/ee/update/deprecations.html#git_data_dirs-for-configuring-gitaly-storages"
# Gitaly on its own server: server settings, and clients' storages (name -> gitaly_address).
DOC_CONFIGURE_GITALY = "https://docs.gitlab.com/ee/administration/gitaly/configure_gitaly.html"
# "Starting with GitLab 13.0, Puma is the default web server and Unicorn has been disabled by default."
DOC_PUMA = "https://docs.gitlab.com/13.12/omnibus/settings/puma.html"
# "We plan to remove support for Unicorn in GitLab 14.0." (read on a mirror of this page)
DOC_UNICORN_REMOVAL = "https://docs.gitlab.com/13.12/ee/administration/operations/puma.html"
# Bundled Grafana: deprecated and disabled in 16.0 (unless grafana['enable_deprecated_service']),
# removed in 16.3; the attribute kept for the removal message was dropped in 17.1. No
# docs.gitlab.com page found for these: omnibus-gitlab issues #7772, #8092 and MR !7603.
DOC_GRAFANA = ("https://gitlab.com/gitlab-org/omnibus-gitlab/-/issues/7772",
               "https://gitlab.com/gitlab-org/omnibus-gitlab/-/issues/8092",
               "https://gitlab.com/gitlab-org/omnibus-gitlab/-/merge_requests/7603")


class SimError(Exception):
    """A failure the simulated command reports the way the real one would."""


# ---------------------------------------------------------------------------------- version

def version_text() -> str:
    try:
        first = MANIFEST.read_text().splitlines()[0]
    except (OSError, IndexError) as err:
        raise SimError(f"GitLab is not installed: cannot read {MANIFEST} ({err})") from None
    match = re.match(r"^gitlab-(?:ce|ee)\s+(\d+\.\d+\.\d+)", first)
    if not match:
        raise SimError(f"{MANIFEST}: unexpected first line {first!r}")
    return match.group(1)


def installed_version() -> tuple[int, int, int]:
    major, minor, patch = (int(x) for x in version_text().split("."))
    return major, minor, patch


# ------------------------------------------------------------------------ gitlab.rb evaluation

def ruby() -> str:
    return str(EMBEDDED_RUBY) if EMBEDDED_RUBY.exists() else "/usr/bin/ruby"


def evaluate(path: Path = GITLAB_RB) -> dict:
    """What gitlab.rb tells Omnibus: ``{"attributes": {...}, "calls": {...}}``."""
    if not path.exists():
        return {"attributes": {}, "calls": {}}
    proc = subprocess.run([ruby(), str(RECORDER), str(path)], capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise SimError((proc.stderr or proc.stdout).strip() or f"ruby exited {proc.returncode}")
    return json.loads(proc.stdout)


# Top-level names Omnibus knows (attributes `name[...]` and methods `name(...)`); a subset of
# the real list, enough for the nodes of this lab. Anything else is an unsupported config key.
KNOWN_ATTRIBUTES = {
    "alertmanager", "consul", "crond", "geo_logcursor", "geo_postgresql", "geo_secondary", "gitaly",
    "gitlab_exporter", "gitlab_kas", "gitlab_pages", "gitlab_rails", "gitlab_shell", "gitlab_sshd",
    "gitlab_workhorse", "grafana", "high_availability", "letsencrypt", "logging", "logrotate",
    "manage_accounts", "manage_storage_directories", "mattermost", "mattermost_nginx", "monitoring_role",
    "nginx", "node_exporter", "package", "pages_nginx", "patroni", "pgbouncer", "pgbouncer_exporter",
    "postgres_exporter", "postgresql", "praefect", "prometheus", "prometheus_monitoring", "puma", "redis",
    "redis_exporter", "registry", "registry_nginx", "sentinel", "sidekiq", "spamcheck", "storage_check",
    "unicorn", "user", "web_server",
}
KNOWN_CALLS = {
    "external_url", "pages_external_url", "registry_external_url", "mattermost_external_url",
    "gitlab_kas_external_url", "git_data_dirs", "roles",
}
# Flat Gitaly keys that 15.10 replaced by gitaly['configuration'] and 16.0 removed (a subset of
# omnibus-gitlab's list, including every key this collection could write). DOC_GITALY_STRUCTURE
GITALY_FLAT_KEYS = (
    "listen_addr", "tls_listen_addr", "certificate_path", "key_path", "auth_token", "auth_transitioning",
    "storage", "prometheus_listen_addr", "internal_socket_dir", "logging_level", "logging_format",
    "git_bin_path", "graceful_restart_timeout", "concurrency", "rate_limiting", "pack_objects_cache_enabled",
)


def _flat_gitaly_message(key: str, removed: bool) -> str:
    verb = "was removed in 16.0" if removed else "will be removed in 16.0"
    return (f"gitaly['{key}'] has been deprecated since 15.10 and {verb}. In GitLab 15.10, Gitaly's configuration "
            "in Omnibus GitLab was changed to structurally match Gitaly's own configuration. Please see the "
            f"migration instructions at {DOCS_15100}")


def _git_data_dirs_message(removed: bool) -> str:
    verb = "was removed in 18.0" if removed else "will be removed in 18.0"
    return (f"git_data_dirs has been deprecated since 17.8 and {verb}. See "
            "https://docs.gitlab.com/omnibus/settings/configuration.html#migrating-from-git_data_dirs "
            "for migration instructions.")


def check_config(version: tuple[int, int, int], rec: dict, path: Path = GITLAB_RB) -> list[str]:
    """Apply the version's rules; raise :class:`SimError` like Omnibus, return deprecation warnings."""
    attrs, calls = rec["attributes"], rec["calls"]
    for name in list(attrs) + list(calls):
        known = name in KNOWN_ATTRIBUTES or name in KNOWN_CALLS
        if name == "grafana" and version >= (17, 1, 0):
            known = False  # DOC_GRAFANA (omnibus-gitlab!7603): the attribute kept for the message is gone
        if not known:
            raise SimError(f"Encountered unsupported config key '{name}' in {path}.")
    removals: list[str] = []
    deprecations: list[str] = []
    gitaly = attrs.get("gitaly", {})
    # DOC_DEPRECATION_MESSAGES: warn from the deprecation release, refuse from the removal release.
    # DOC_GITALY_STRUCTURE: flat gitaly[...] keys deprecated in 15.10, removed in 16.0.
    for key in GITALY_FLAT_KEYS:
        if key in gitaly:
            if version >= (16, 0, 0):
                removals.append(_flat_gitaly_message(key, True))
            elif version >= (15, 10, 0):
                deprecations.append(_flat_gitaly_message(key, False))
    # DOC_GIT_DATA_DIRS, DOC_GIT_DATA_DIRS_DEPRECATION: deprecated since 17.8, removed in 18.0.
    if "git_data_dirs" in calls:
        if version >= (18, 0, 0):
            removals.append(_git_data_dirs_message(True))
        elif version >= (17, 8, 0):
            deprecations.append(_git_data_dirs_message(False))
    # DOC_UNICORN_REMOVAL: Unicorn removed in 14.0 (Omnibus' message dates the deprecation 13.10).
    if version >= (14, 0, 0):
        for key in attrs.get("unicorn", {}):
            removals.append(f"unicorn['{key}'] has been deprecated since 13.10 and was removed in 14.0. Starting with "
                            "GitLab 14.0, Unicorn is no longer supported and users must switch to Puma.")
    # DOC_GRAFANA: removed in 16.3; from 17.1 the key is unknown (above).
    if (16, 3, 0) <= version < (17, 1, 0):
        for key in attrs.get("grafana", {}):
            removals.append(f"grafana['{key}'] has been deprecated since 16.0 and was removed in 16.3. The bundled "
                            "Grafana was removed; remove its settings from gitlab.rb.")
    if removals:
        raise SimError("Removed configurations found in gitlab.rb. Aborting reconfigure.\n\nRemovals:\n"
                       + "\n".join(f"* {m}" for m in removals))
    return deprecations


# ---------------------------------------------------------------------------- services

# (status name, gitlab.rb key, enabled by default on a full single-node install)
# DOC_PUMA: Puma from 13.0 (Unicorn before); DOC_GRAFANA: Grafana off from 16.0. The KAS default
# (on from 14.0) and the other services are the stand-in's own simplification, not a doc rule.
def service_table(version: tuple[int, int, int]) -> list[tuple[str, str, object]]:
    return [
        ("alertmanager", "alertmanager", True),
        ("gitaly", "gitaly", True),
        ("gitlab-exporter", "gitlab_exporter", True),
        ("gitlab-kas", "gitlab_kas", version >= (14, 0, 0)),
        ("gitlab-workhorse", "gitlab_workhorse", True),
        ("grafana", "grafana", version < (16, 0, 0)),
        ("logrotate", "logrotate", True),
        ("nginx", "nginx", True),
        ("node-exporter", "node_exporter", True),
        ("postgres-exporter", "postgres_exporter", "postgresql"),   # follows the service it exports
        ("postgresql", "postgresql", True),
        ("prometheus", "prometheus", True),
        ("puma", "puma", version >= (13, 0, 0)),
        ("redis", "redis", True),
        ("redis-exporter", "redis_exporter", "redis"),
        ("sidekiq", "sidekiq", True),
        ("unicorn", "unicorn", version < (13, 0, 0)),
    ]


def _bool(value, what: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise SimError(f"{what} must be true or false, got {value!r}")
    return value


def enabled_services(version: tuple[int, int, int], rec: dict) -> dict[str, bool]:
    attrs = rec["attributes"]
    enabled: dict[str, bool] = {}
    by_key = {}
    for name, key, default in service_table(version):
        if isinstance(default, str):
            continue
        enabled[name] = _bool(attrs.get(key, {}).get("enable"), f"{key}['enable']", default)
        by_key[key] = name
    for name, key, follows in service_table(version):
        if isinstance(follows, str):
            enabled[name] = _bool(attrs.get(key, {}).get("enable"), f"{key}['enable']", enabled[by_key[follows]])
    return enabled


# ----------------------------------------------------------------------- effective settings

def _listen(value, what: str):
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not re.match(r"^(\[[0-9a-fA-F:.]+\]|[^:\[\]]*):\d{1,5}$", value):
        raise SimError(f"{what}: invalid address {value!r}")
    return value


def gitaly_settings(version: tuple[int, int, int], rec: dict, local_rails: dict | None = None) -> dict:
    """The Gitaly server's configuration (what Omnibus renders into gitaly/config.toml).

    Without ``gitlab_rails['internal_api_url']`` the hooks use Omnibus' default, Workhorse's
    local socket: it works on a node that runs Rails (``local_rails``, reached here on the
    loopback) and nowhere else.
    """
    attrs, calls = rec["attributes"], rec["calls"]
    gitaly = attrs.get("gitaly", {})
    # DOC_GITALY_STRUCTURE: gitaly['configuration'] exists from 15.10; before, an unknown sub-key.
    conf = gitaly.get("configuration") if version >= (15, 10, 0) else None
    if conf is None:
        conf = {}
    if not isinstance(conf, dict):
        raise SimError("gitaly['configuration'] must be a Hash")
    flat = gitaly if version < (16, 0, 0) else {}  # DOC_GITALY_STRUCTURE: flat keys until 15.x
    tls = conf.get("tls") or {}
    auth = conf.get("auth") or {}
    if not isinstance(tls, dict) or not isinstance(auth, dict):
        raise SimError("gitaly['configuration'][:tls] and [:auth] must be Hashes")
    settings = {
        "listen_addr": _listen(conf.get("listen_addr", flat.get("listen_addr")), "gitaly listen_addr"),
        "tls_listen_addr": _listen(conf.get("tls_listen_addr", flat.get("tls_listen_addr")), "gitaly tls_listen_addr"),
        "certificate_path": tls.get("certificate_path", flat.get("certificate_path")),
        "key_path": tls.get("key_path", flat.get("key_path")),
        "token": auth.get("token", flat.get("auth_token")) or "",
        "socket_path": GITALY_SOCKET,
        "internal_api_url": attrs.get("gitlab_rails", {}).get("internal_api_url")
        or (f"http://127.0.0.1:{local_rails['port']}" if local_rails else DEFAULT_INTERNAL_API),
        "secret_file": str(SHELL_SECRET_FILE),
        "storages": [],
    }
    if settings["tls_listen_addr"] and not (settings["certificate_path"] and settings["key_path"]):
        raise SimError("Gitaly TLS needs a certificate_path and a key_path")
    if conf.get("storage") is not None:
        storage = conf["storage"]
        if not isinstance(storage, list) or not all(isinstance(s, dict) and s.get("name") and s.get("path") for s in storage):
            raise SimError("gitaly['configuration'][:storage] must be a list of { name:, path: }")
        settings["storages"] = [{"name": s["name"], "path": s["path"]} for s in storage]
    elif "git_data_dirs" in calls:
        dirs = calls["git_data_dirs"][-1]
        if not isinstance(dirs, dict):
            raise SimError("git_data_dirs takes a Hash")
        for name, entry in dirs.items():
            if isinstance(entry, dict) and entry.get("path"):
                settings["storages"].append({"name": name, "path": entry["path"].rstrip("/") + "/repositories"})
    else:
        settings["storages"] = [{"name": "default", "path": DEFAULT_REPOSITORIES}]
    paths = [os.path.normpath(s["path"]) for s in settings["storages"]]
    if len(set(paths)) != len(paths):
        raise SimError("Multiple Gitaly storages are sharing the same filesystem path")
    return settings


def _url_port(url: str) -> tuple[str, int]:
    match = re.match(r"^(https?)://([^/:]+)(?::(\d+))?", url or "")
    if not match:
        raise SimError(f"external_url {url!r} is not a valid URL")
    return match.group(2), int(match.group(3) or (443 if match.group(1) == "https" else 80))


def rails_settings(version: tuple[int, int, int], rec: dict) -> dict:
    """What Omnibus renders into gitlab-rails/etc/gitlab.yml: the repository storages."""
    attrs, calls = rec["attributes"], rec["calls"]
    rails = attrs.get("gitlab_rails", {})
    token = rails.get("gitaly_token")
    storages: dict[str, dict] = {}
    # DOC_CONFIGURE_GITALY, DOC_GIT_DATA_DIRS: before 18.0 Omnibus computes the Rails storages from
    # git_data_dirs; from 18.0 only gitlab_rails['repositories_storages'] exists. ASSUMPTION (no
    # docs page found that names the release): a repositories_storages without git_data_dirs is
    # honoured from 17.8, the release whose reconfigure starts deprecating git_data_dirs.
    if "git_data_dirs" in calls and version < (18, 0, 0):
        dirs = calls["git_data_dirs"][-1]
        if not isinstance(dirs, dict):
            raise SimError("git_data_dirs takes a Hash")
        for name, entry in dirs.items():
            entry = entry if isinstance(entry, dict) else {}
            storages[name] = {"address": entry.get("gitaly_address") or LOCAL_GITALY_ADDRESS,
                              "token": entry.get("gitaly_token") or token}
    elif rails.get("repositories_storages") is not None and version >= (17, 8, 0):
        configured = rails["repositories_storages"]
        if not isinstance(configured, dict):
            raise SimError("gitlab_rails['repositories_storages'] must be a Hash")
        for name, entry in configured.items():
            if not isinstance(entry, dict) or not entry.get("gitaly_address"):
                raise SimError(f"gitlab_rails['repositories_storages']['{name}'] needs a gitaly_address")
            storages[name] = {"address": entry["gitaly_address"], "token": entry.get("gitaly_token") or token}
    else:
        storages["default"] = {"address": LOCAL_GITALY_ADDRESS, "token": token}
    if "default" not in storages:
        raise SimError("GitLab requires a repository storage named 'default' (gitlab_rails['repositories_storages'])")
    external = (calls.get("external_url") or [None])[-1]
    host, port = _url_port(external or "http://gitlab.example.com")
    port = attrs.get("nginx", {}).get("listen_port") or port
    return {"storages": storages, "external_url": external, "host": host, "port": int(port),
            "secret_file": str(SHELL_SECRET_FILE), "gitlab_version": ".".join(str(p) for p in version)}


# ---------------------------------------------------------------------------------- secrets

def _hex(nbytes: int) -> str:
    return secrets.token_hex(nbytes)


SECRET_LAYOUT = {
    "gitlab_workhorse": {"secret_token": lambda: base64.b64encode(os.urandom(32)).decode()},
    "gitlab_shell": {"secret_token": lambda: _hex(64)},
    "gitlab_rails": {
        "secret_key_base": lambda: _hex(64), "db_key_base": lambda: _hex(64),
        "otp_key_base": lambda: _hex(64), "encrypted_settings_key_base": lambda: _hex(64),
    },
    "gitlab_kas": {"api_secret_key": lambda: base64.b64encode(os.urandom(32)).decode()},
}


def ensure_secrets(rec: dict) -> tuple[dict, list[str]]:
    """Create or complete /etc/gitlab/gitlab-secrets.json (mode 0600, root); never replace a value."""
    actions = []
    current: dict = {}
    if SECRETS.exists():
        try:
            current = json.loads(SECRETS.read_text())
        except ValueError as err:
            raise SimError(f"JSON::ParserError: {err} in {SECRETS}") from None
        if not isinstance(current, dict):
            raise SimError(f"{SECRETS}: not a JSON object")
    wanted = json.loads(json.dumps(current))
    for section, keys in SECRET_LAYOUT.items():
        sec = wanted.setdefault(section, {})
        for key, make in keys.items():
            if not sec.get(key):
                sec[key] = make()
    override = rec["attributes"].get("gitlab_shell", {}).get("secret_token")
    if override:
        wanted["gitlab_shell"]["secret_token"] = override
    text = json.dumps(wanted, indent=2) + "\n"
    if not SECRETS.exists() or SECRETS.read_text() != text:
        SECRETS.parent.mkdir(parents=True, exist_ok=True)
        tmp = SECRETS.with_suffix(".sim-tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, SECRETS)
        actions.append(f"file[{SECRETS}] {'updated' if current else 'created'}")
    os.chmod(SECRETS, 0o600)
    os.chown(SECRETS, 0, 0)
    return wanted, actions


def write_private(path: Path, text: str, mode: int = 0o640, group: str | None = GIT_USER) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    changed = not path.exists() or path.read_text() != text
    if changed:
        tmp = path.with_name(path.name + ".sim-tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    gid = grp.getgrnam(group).gr_gid if group else 0
    os.chown(path, 0, gid)
    os.chmod(path, mode)
    return changed


# ------------------------------------------------------------------------ accounts and dirs

def ensure_git_account() -> list[str]:
    """Omnibus' gitlab::users recipe: the `git` user and group that run Gitaly and Rails."""
    try:
        pwd.getpwnam(GIT_USER)
        return []
    except KeyError:
        pass
    subprocess.run(["useradd", "--system", "--user-group", "--home-dir", str(VAR), "--no-create-home",
                    "--shell", "/bin/sh", GIT_USER], check=True, capture_output=True)
    return [f"account[GitLab user and group] created ({GIT_USER})"]


def git_ids() -> tuple[int, int]:
    entry = pwd.getpwnam(GIT_USER)
    return entry.pw_uid, entry.pw_gid


def ensure_storage_dirs(storages: list[dict]) -> list[str]:
    """Create missing storage directories the way Omnibus does (parent 0700, storage 2770, git)."""
    uid, gid = git_ids()
    actions = []
    for storage in storages:
        path = Path(storage["path"])
        if path.exists():
            continue
        parent = path.parent
        if not parent.exists():
            parent.mkdir(parents=True)
            os.chown(parent, uid, gid)
            os.chmod(parent, 0o700)
        path.mkdir()
        os.chown(path, uid, gid)
        os.chmod(path, 0o2770)
        actions.append(f"storage_directory[{path}] created")
    return actions


# ---------------------------------------------------------------------------- processes

def _alive(pid) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ")[-1][:1] not in ("Z", "X")
    except OSError:
        return False


def _started_at(pid) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ")[-1].split()[19]
    except (OSError, IndexError):
        return None


def service_state(name: str) -> dict | None:
    """The saved state; a PID whose process is not the one recorded (the host rebooted, the
    PID was reused) reads as gone, as runit's supervise directory would after a reboot."""
    path = SERVICE_STATE / f"{name}.json"
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    for key in ("pid", "log_pid"):
        if state.get(key) and _started_at(state[key]) != state.get(f"{key}_started_at"):
            state[key] = None
    return state


def save_service_state(name: str, state: dict | None) -> None:
    path = SERVICE_STATE / f"{name}.json"
    if state is None:
        path.unlink(missing_ok=True)
        return
    SERVICE_STATE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def all_services() -> list[str]:
    if not SERVICE_STATE.exists():
        return []
    return sorted(p.stem for p in SERVICE_STATE.glob("*.json"))


def service_command(name: str) -> list[str]:
    py = "/usr/bin/python3"
    if name == "gitaly":
        return [py, str(SIM_DIR / "gitaly.py"), "--config", str(GITALY_CONFIG)]
    if name == "puma":
        return [py, str(SIM_DIR / "rails.py"), "--config", str(RAILS_CONFIG)]
    # Every other service is a placeholder process: it exists, it is supervised, it does nothing.
    return ["/bin/sleep", "infinity"]


def _start_logger(name: str) -> subprocess.Popen:
    logdir = LOG_ROOT / name
    logdir.mkdir(parents=True, exist_ok=True)
    out = open(logdir / "current", "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(["/bin/cat"], stdin=subprocess.PIPE, stdout=out, stderr=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True)
    finally:
        out.close()


def _reattach_logger(pid):
    """The running log process's stdin pipe, or None if that process is gone or exiting."""
    if not _alive(pid):
        return None
    try:
        return open(f"/proc/{pid}/fd/0", "wb")  # noqa: SIM115 - handed to the child
    except OSError:
        return None


def start(name: str, config_hash: str | None = None) -> str:
    state = service_state(name) or {"hash": config_hash}
    if config_hash is not None:
        state["hash"] = config_hash
    if _alive(state.get("pid")):
        return "already running"
    log_stdin = _reattach_logger(state.get("log_pid"))
    if log_stdin is None:
        logger = _start_logger(name)
        state["log_pid"] = logger.pid
        state["log_pid_started_at"] = _started_at(logger.pid)
        state["log_started"] = time.time()
        log_stdin = logger.stdin
    try:
        proc = subprocess.Popen(service_command(name), stdin=subprocess.DEVNULL, stdout=log_stdin,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    finally:
        log_stdin.close()
    state.update({"pid": proc.pid, "pid_started_at": _started_at(proc.pid), "started": time.time(),
                  "want": "up", "stopped": None})
    save_service_state(name, state)
    _wait_ready(name, proc)
    return "started"


def _wait_ready(name: str, proc: subprocess.Popen, timeout: float = 8.0) -> None:
    """Wait until a listener service is listening (or has died): keeps tests deterministic."""
    marker = {"gitaly": GITALY_DIR / "ready", "puma": VAR / "gitlab-rails" / "ready"}.get(name)
    if marker is None:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return
        try:
            if int(marker.read_text().strip()) == proc.pid:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)


def _kill(pid, timeout: float = 5.0) -> None:
    if not _alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while _alive(pid):
            time.sleep(0.02)


def stop(name: str) -> str:
    state = service_state(name)
    if state is None:
        return "not configured"
    was = _alive(state.get("pid"))
    _kill(state.get("pid"))
    state.update({"want": "down", "stopped": time.time() if was else state.get("stopped") or time.time()})
    save_service_state(name, state)
    return "stopped" if was else "already down"


def remove(name: str) -> None:
    """A service disabled in gitlab.rb: runit's service link and its log process go away."""
    state = service_state(name)
    if state is None:
        return
    _kill(state.get("pid"))
    _kill(state.get("log_pid"))
    save_service_state(name, None)


def status_line(name: str) -> tuple[str, bool]:
    state = service_state(name) or {}
    now = time.time()
    pid, log_pid = state.get("pid"), state.get("log_pid")
    if _alive(log_pid):
        log = f"run: log: (pid {log_pid}) {int(now - state.get('log_started', now))}s"
    else:
        log = "down: log: 0s, normally up"
    if _alive(pid):
        return f"run: {name}: (pid {pid}) {int(now - state.get('started', now))}s; {log}", True
    since = state.get("stopped")
    if since is None:
        # died on its own: runit would restart it; the simulation does not, and says so
        try:
            since = (LOG_ROOT / name / "current").stat().st_mtime
        except OSError:
            since = now
    want = ", want up" if state.get("want") == "up" else ""
    return f"down: {name}: {int(now - since)}s, normally up{want}; {log}", False


# --------------------------------------------------------------------------- reconfigure

def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def reconfigure() -> tuple[list[str], list[str]]:
    """``gitlab-ctl reconfigure``: returns (actions, deprecation warnings); raises SimError."""
    version = installed_version()
    rec = evaluate()
    deprecations = check_config(version, rec)
    services = enabled_services(version, rec)
    rails = rails_settings(version, rec) if services["puma"] else None
    gitaly = gitaly_settings(version, rec, rails) if services["gitaly"] else None
    rails_attrs = rec["attributes"].get("gitlab_rails", {})
    auto_migrate = _bool(rails_attrs.get("auto_migrate"), "gitlab_rails['auto_migrate']", True)
    if auto_migrate and not services["postgresql"] and not rails_attrs.get("db_host"):
        raise SimError(
            "rails_migration[gitlab-rails] (gitlab::database_migrations line 51) had an error: "
            "Mixlib::ShellOut::ShellCommandFailed: bash_hide_env[migrate gitlab-rails database] ... "
            "PG::ConnectionBad: could not connect to server: No such file or directory. Is the server running "
            "locally and accepting connections on Unix domain socket \"/var/opt/gitlab/postgresql/.s.PGSQL.5432\"?")

    actions = ensure_git_account()
    for d in (VAR, LOG_ROOT, SIM_STATE, SHELL_SECRET_FILE.parent, RAILS_CONFIG.parent):
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o755)  # Omnibus' directory resources: root-owned, world-traversable
    secrets_doc, secret_actions = ensure_secrets(rec)
    actions += secret_actions
    shell_secret = secrets_doc["gitlab_shell"]["secret_token"]
    if write_private(SHELL_SECRET_FILE, shell_secret + "\n"):
        actions.append(f"file[{SHELL_SECRET_FILE}] updated")
    manage_dirs = _bool(rec["attributes"].get("manage_storage_directories", {}).get("enable"),
                        "manage_storage_directories['enable']", True)
    hashes = {}
    if gitaly is not None:
        if manage_dirs:
            actions += ensure_storage_dirs(gitaly["storages"])
        GITALY_DIR.mkdir(parents=True, exist_ok=True)
        uid, gid = git_ids()
        os.chown(GITALY_DIR, uid, gid)
        os.chmod(GITALY_DIR, 0o700)
        if write_private(GITALY_CONFIG, json.dumps(gitaly, indent=2) + "\n"):
            actions.append(f"file[{GITALY_CONFIG}] updated")
        hashes["gitaly"] = _hash([gitaly, shell_secret])
    if rails is not None:
        if write_private(RAILS_CONFIG, json.dumps(rails, indent=2) + "\n"):
            actions.append(f"file[{RAILS_CONFIG}] updated")
        hashes["puma"] = _hash([rails, shell_secret])

    for name in sorted(services):
        if not services[name]:
            if service_state(name) is not None:
                remove(name)
                actions.append(f"service[{name}] disabled")
            continue
        wanted_hash = hashes.get(name, "static")
        state = service_state(name)
        if state is not None and _alive(state.get("pid")) and state.get("hash") != wanted_hash:
            _kill(state["pid"])
            start(name, wanted_hash)
            actions.append(f"service[{name}] restarted (configuration changed)")
        elif state is None or not _alive(state.get("pid")):
            if state is not None and state.get("want") == "down" and state.get("hash") == wanted_hash:
                # `gitlab-ctl stop`ped services stay down until started (runit's `down` state),
                # unless their configuration changed: then reconfigure's restart starts them
                continue
            start(name, wanted_hash)
            actions.append(f"service[{name}] started")
    return actions, deprecations


# ------------------------------------------------------------------ Gitaly client (Rails side)

def auth_header(token: str | None) -> dict:
    """Gitaly's v2 token: ``v2.<hex HMAC-SHA256(token, timestamp)>.<timestamp>``; the token never travels."""
    if not token:
        return {}
    stamp = str(int(time.time()))
    mac = hmac.new(token.encode(), stamp.encode(), hashlib.sha256).hexdigest()
    return {"Authorization": f"Bearer v2.{mac}.{stamp}"}


def check_auth(header: str | None, token: str) -> tuple[int, str] | None:
    """Server side of :func:`auth_header`: ``None`` when allowed, else a gRPC (code, message)."""
    if not token:
        return None  # Gitaly without a token accepts every client
    match = re.match(r"^Bearer v2\.([0-9a-f]{64})\.(\d+)$", header or "")
    if not match:
        return 16, "authentication required"
    if abs(time.time() - int(match.group(2))) > 30:
        return 7, "permission denied: token has expired"
    expected = hmac.new(token.encode(), match.group(2).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match.group(1)):
        return 7, "permission denied"
    return None


class GitalyUnavailable(Exception):
    pass


def gitaly_request(address: str, token: str | None, method: str, path: str, body: dict | None = None,
                   timeout: float = 10.0) -> dict:
    """One call to a Gitaly listener; returns the JSON answer (``{"code": ...}`` on errors)."""
    headers = {"Content-Type": "application/json", **auth_header(token)}
    data = json.dumps(body).encode() if body is not None else None
    try:
        if address.startswith("unix:"):
            conn = _UnixHTTPConnection(address[len("unix:"):], timeout=timeout)
        else:
            match = re.match(r"^(tcp|tls)://(\[[^\]]+\]|[^:/]+):(\d+)$", address)
            if not match:
                raise GitalyUnavailable(f"invalid address {address!r}")
            host = match.group(2).strip("[]")
            if match.group(1) == "tls":
                ctx = ssl.create_default_context()
                if TRUSTED_CERTS.is_dir():
                    for cert in sorted(TRUSTED_CERTS.iterdir()):
                        ctx.load_verify_locations(cafile=str(cert))
                conn = http.client.HTTPSConnection(host, int(match.group(3)), timeout=timeout, context=ctx)
            else:
                conn = http.client.HTTPConnection(host, int(match.group(3)), timeout=timeout)
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
    except (OSError, http.client.HTTPException) as err:
        raise GitalyUnavailable(str(err)) from None
    try:
        return json.loads(payload or b"{}")
    except ValueError:
        raise GitalyUnavailable(f"unexpected answer from {address}") from None


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over Gitaly's Unix socket (``unix:/var/opt/gitlab/gitaly/gitaly.socket``)."""

    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def load_rails_config() -> dict:
    try:
        return json.loads(RAILS_CONFIG.read_text())
    except (OSError, ValueError):
        raise SimError("GitLab Rails is not configured on this node (no gitlab-rails/etc/gitlab.yml: "
                       "puma is disabled or `gitlab-ctl reconfigure` has not run)") from None


# ------------------------------------------------------------------------------ JWT (Shell)

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def shell_jwt(secret: str) -> str:
    """GitLab Shell's ``Gitlab-Shell-Api-Request`` header: an HS256 JWT signed with the secret."""
    now = int(time.time())
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"iss": "gitlab-shell", "iat": now, "exp": now + 60}).encode())
    sig = _b64(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def verify_shell_jwt(token: str | None, secret: str) -> bool:
    try:
        head, body, sig = (token or "").split(".")
        expected = _b64(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, sig):
            return False
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        return claims.get("iss") == "gitlab-shell" and claims.get("exp", 0) >= time.time()
    except (ValueError, TypeError):
        return False


def read_shell_secret() -> str:
    return SHELL_SECRET_FILE.read_text().strip()


def hashed_path(project_id: int) -> str:
    digest = hashlib.sha256(str(project_id).encode()).hexdigest()
    return f"@hashed/{digest[:2]}/{digest[2:4]}/{digest}.git"


def log_json(level: str, msg: str, **fields) -> None:
    """A Gitaly/Rails-style structured log line on stdout (runit's log process keeps it)."""
    record = {"level": level, "msg": msg, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **fields}
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def uninstall() -> None:
    """``gitlab-ctl uninstall``: kill every service process and its log process."""
    for name in all_services():
        state = service_state(name) or {}
        _kill(state.get("pid"))
        _kill(state.get("log_pid"))
    shutil.rmtree(SERVICE_STATE, ignore_errors=True)


class ThreadingHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """The HTTP server of the simulated services (Gitaly's listener, the Rails internal API)."""

    daemon_threads = True
    allow_reuse_address = True
