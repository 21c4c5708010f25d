# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate the Gitaly settings and render the managed ``gitlab.rb`` block.

Two roles:

``gitaly``  the node that only runs Gitaly. The block enables Gitaly, disables every other
            Omnibus service, stops ``gitlab-ctl reconfigure`` from touching the database
            (``gitlab_rails['rake_cache_clear'] = false``, ``gitlab_rails['auto_migrate'] =
            false``), points the GitLab Shell callbacks at ``gitlab_rails['internal_api_url']``
            and sets the listen address(es), the auth token and the storages (name -> the
            repositories directory Gitaly serves). GitLab docs, "Configure Gitaly" > "Configure
            Gitaly server" (the service list, ``auto_migrate``, ``internal_api_url``,
            ``gitaly['configuration']``) and the pre-16 revision of the same page (flat keys).
``rails``   the node running GitLab Rails. Each storage points either at a remote Gitaly
            (``tcp://HOST:PORT`` or ``tls://HOST:PORT``) or at a local path served by the
            node's own Gitaly (``unix:/var/opt/gitlab/gitaly/gitaly.socket``, Omnibus' default
            ``socket_path``, ``gitaly/attributes/default.rb``). The same token goes into
            ``gitlab_rails['gitaly_token']``, which Rails sends to every storage, so a local
            Gitaly gets that token too; when no storage stays local, ``gitaly['enable'] =
            false`` ("Disable Gitaly where not required"). Keeping
            ``default`` local is how projects already pushed to the Rails node stay reachable
            after new storages move to the Gitaly node (GitLab needs a storage named
            ``default``: "GitLab requires a default repository storage").

What each syntax (see ``version.py`` for the version ranges) writes:

==================  ==========================================  ==================================
syntax              Gitaly node                                 Rails node
==================  ==========================================  ==================================
legacy (<16)        ``gitaly['listen_addr']``,                  ``git_data_dirs({ n => {
                    ``gitaly['auth_token']``, TLS:              'gitaly_address' => a } })``
                    ``gitaly['tls_listen_addr']``,              (local: ``'path' => parent``),
                    ``gitaly['certificate_path']``,             ``gitlab_rails['gitaly_token']``;
                    ``gitaly['key_path']``;                     local storages also
                                                                ``gitaly['auth_token']``
                    ``git_data_dirs({ n => { 'path' => parent } })``
gitaly_             ``gitaly['configuration'] = {               ``git_data_dirs({ n => {
configuration       listen_addr:, tls_listen_addr:,             'gitaly_address' => a } })``,
(16.x-17.x)         tls: { certificate_path:, key_path: },      token; local storages also in
                    auth: { token: }, storage: [{ name:,        ``gitaly['configuration'] =
                    path: }] }``                                { auth:, storage: [...] }``
repositories_       same as above                               ``gitlab_rails[
storages (>=18)                                                 'repositories_storages'] =
                                                                { n => { 'gitaly_address' =>
                                                                a } }``, token, local as above
==================  ==========================================  ==================================

Storage paths are always the repositories directory itself (what ``gitaly['configuration']
[:storage]`` takes, e.g. ``/var/opt/gitlab/git-data/repositories``). ``git_data_dirs`` appends
``/repositories`` to its ``path`` (``Gitaly.parse_git_data_dirs``), so the legacy syntax writes
the parent directory and refuses a path that does not end in ``/repositories``.

Validation happens entirely before anything is rendered or written; every refusal is one
:class:`GitalyConfigError` whose message never contains the token.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from urllib.parse import urlsplit

from ansible_collections.hapair.ha.plugins.module_utils.gitaly.errors import GitalyConfigError
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.version import (
    SYNTAX_GITALY_CONFIGURATION,
    SYNTAX_LEGACY,
    SYNTAX_REPOSITORIES_STORAGES,
    GitLabVersion,
    parse_version,
)

ROLES = ("gitaly", "rails")
DEFAULT_LISTEN_ADDR = "0.0.0.0:8075"
# Omnibus' default Gitaly socket (gitaly['configuration'][:socket_path] default,
# "#{node['gitaly']['dir']}/gitaly.socket" with dir /var/opt/gitlab/gitaly).
LOCAL_GITALY_ADDRESS = "unix:/var/opt/gitlab/gitaly/gitaly.socket"

# Every Omnibus service a Gitaly-only node turns off, with the versions where the key exists
# (a key Omnibus no longer knows makes the package's pre-install check or reconfigure fail):
# unicorn was removed in 14.0 (Puma the default since 13.0); the bundled Grafana was removed
# in 16.3 (its keys must go, GitLab docs "Configure Grafana" history, GET!1098); gitlab_kas is
# bundled and on by default from 14.x.  Kept in the order of the GitLab docs' example.
SERVICES = (
    # (service, first version with the key or None, first version without it or None)
    ("postgresql", None, None),
    ("redis", None, None),
    ("nginx", None, None),
    ("puma", None, None),
    ("unicorn", None, (14, 0, 0)),
    ("sidekiq", None, None),
    ("gitlab_workhorse", None, None),
    ("gitlab_exporter", None, None),
    ("gitlab_kas", (14, 0, 0), None),
    ("prometheus", None, None),
    ("alertmanager", None, None),
    ("grafana", None, (16, 3, 0)),
)

_STORAGE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^:\[\]]*)):(?P<port>[0-9]+)$")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_CLIENT_ADDRESS = re.compile(r"^(?P<scheme>tcp|tls)://(?P<rest>.*)$")


# --------------------------------------------------------------------------- validation

def _check_text(value, what, allow_empty=False):
    if not isinstance(value, str):
        raise GitalyConfigError("%s must be a string" % what)
    if not value and not allow_empty:
        raise GitalyConfigError("%s must not be empty" % what)
    if _CONTROL.search(value):
        raise GitalyConfigError("%s must not contain control characters (newline, tab, NUL ...)" % what)
    return value


def _check_host(host, what, allow_unspecified):
    """A hostname, an IPv4 address or (already unbracketed) an IPv6 address."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None:
        labels = host.split(".")
        if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
            raise GitalyConfigError("%s: %r is neither an IP address nor a valid host name" % (what, host))
        if all(label.isdigit() for label in labels):
            raise GitalyConfigError("%s: %r is not a valid IPv4 address" % (what, host))
        return
    if address.is_unspecified and not allow_unspecified:
        raise GitalyConfigError(
            "%s: %s is the unspecified address; a client needs the Gitaly server's address" % (what, host))


def parse_host_port(value, what, allow_unspecified=True):
    """Check ``HOST:PORT`` (``[IPv6]:PORT`` for IPv6); return ``(host, port)``."""
    _check_text(value, what)
    match = _HOST_PORT.match(value)
    if not match:
        if value.count(":") > 1 and not value.startswith("["):
            raise GitalyConfigError("%s %r: write IPv6 addresses in brackets, e.g. [::]:8075" % (what, value))
        raise GitalyConfigError("%s %r is not HOST:PORT (e.g. 0.0.0.0:8075)" % (what, value))
    port = int(match.group("port"))
    if not 1 <= port <= 65535 or match.group("port").startswith("0"):
        raise GitalyConfigError("%s %r: port must be a number from 1 to 65535" % (what, value))
    if match.group("v6") is not None:
        try:
            ipaddress.IPv6Address(match.group("v6"))
        except ValueError:
            raise GitalyConfigError("%s %r: %r is not an IPv6 address" % (what, value, match.group("v6"))) from None
        host = match.group("v6")
        _check_host(host, "%s %r" % (what, value), allow_unspecified)
    else:
        host = match.group("host")
        if not host:
            raise GitalyConfigError("%s %r has no host (use 0.0.0.0 or [::] for all interfaces)" % (what, value))
        if ":" in host:
            raise GitalyConfigError("%s %r: write IPv6 addresses in brackets" % (what, value))
        _check_host(host, "%s %r" % (what, value), allow_unspecified)
    return host, port


def parse_client_address(value, what):
    """Check a Rails-side Gitaly address ``tcp://HOST:PORT`` / ``tls://HOST:PORT``."""
    _check_text(value, what)
    match = _CLIENT_ADDRESS.match(value)
    if not match:
        raise GitalyConfigError(
            "%s %r must be tcp://HOST:PORT or tls://HOST:PORT (use path for a storage kept on this node)"
            % (what, value))
    parse_host_port(match.group("rest"), what, allow_unspecified=False)
    return match.group("scheme")


def _check_path(value, what):
    _check_text(value, what)
    if not value.startswith("/"):
        raise GitalyConfigError("%s %r must be an absolute path" % (what, value))
    return value


def _normalise_path(path):
    return path.rstrip("/") or "/"


def normalise_storages(storages, role):
    """Return ``[{'name', 'path', 'address'}]`` from a list of dicts or a ``{name: value}`` dict.

    In the dict form the value is a path for role ``gitaly``; for role ``rails`` a value with
    ``://`` is an address, anything else a path.
    """
    if isinstance(storages, dict):
        items = []
        for name, value in storages.items():
            if role == "rails" and isinstance(value, str) and "://" in value:
                items.append({"name": name, "address": value})
            else:
                items.append({"name": name, "path": value})
        storages = items
    if not isinstance(storages, (list, tuple)) or not storages:
        raise GitalyConfigError("storages must list at least one storage (and one must be named 'default')")
    result = []
    seen = {}
    for index, entry in enumerate(storages, 1):
        if not isinstance(entry, dict):
            raise GitalyConfigError("storage #%d must be a dict with name and path/address" % index)
        unknown = sorted(set(entry) - {"name", "path", "address"})
        if unknown:
            raise GitalyConfigError("storage #%d: unknown key(s) %s" % (index, ", ".join(unknown)))
        name = entry.get("name")
        if name is None or name == "":
            raise GitalyConfigError("storage #%d has no name" % index)
        if not isinstance(name, str) or not _STORAGE_NAME.match(name):
            raise GitalyConfigError(
                "storage name %r is invalid: use letters, digits, '_' and '-' only" % (name,))
        if name in seen:
            raise GitalyConfigError("duplicate storage name %r (storages #%d and #%d)" % (name, seen[name], index))
        seen[name] = index
        path = entry.get("path")
        address = entry.get("address")
        if path is not None and address is not None:
            raise GitalyConfigError("storage %r: give either path or address, not both" % name)
        if role == "gitaly":
            if address is not None:
                raise GitalyConfigError(
                    "storage %r: role gitaly serves storages from local paths; address is for role rails" % name)
            if path is None:
                raise GitalyConfigError("storage %r needs a path (the repositories directory Gitaly serves)" % name)
        elif path is None and address is None:
            raise GitalyConfigError(
                "storage %r needs address (tcp://HOST:PORT or tls://HOST:PORT of a Gitaly server) "
                "or path (kept on this node's own Gitaly)" % name)
        if path is not None:
            path = _check_path(path, "storage %r: path" % name)
        if address is not None:
            parse_client_address(address, "storage %r: address" % name)
        result.append({"name": name, "path": path, "address": address})
    if "default" not in seen:
        raise GitalyConfigError(
            "no storage named 'default': GitLab requires a storage called 'default' "
            "(keep it local on the Rails node, or serve it from the Gitaly node)")
    by_path = {}
    for storage in result:
        if storage["path"] is None:
            continue
        key = _normalise_path(storage["path"])
        if key in by_path:
            # Omnibus refuses this too (Gitaly.check_duplicate_storage_paths).
            raise GitalyConfigError("storages %r and %r share the path %r" % (by_path[key], storage["name"], key))
        by_path[key] = storage["name"]
    return result


def build_settings(role, storages, auth_token, listen_addr=None, tls_listen_addr=None,
                   tls_certificate_path=None, tls_key_path=None, internal_api_url=None):
    """Validate everything and return the settings dict the renderer takes."""
    if role not in ROLES:
        raise GitalyConfigError("role must be one of %s, got %r" % (", ".join(ROLES), role))
    if auth_token is None:
        raise GitalyConfigError("auth_token is required")
    _check_text(auth_token, "auth_token")
    settings = {
        "role": role,
        "storages": normalise_storages(storages, role),
        "auth_token": auth_token,
        "listen_addr": None,
        "tls_listen_addr": None,
        "tls_certificate_path": None,
        "tls_key_path": None,
        "internal_api_url": None,
    }
    gitaly_only = {
        "listen_addr": listen_addr, "tls_listen_addr": tls_listen_addr,
        "tls_certificate_path": tls_certificate_path, "tls_key_path": tls_key_path,
        "internal_api_url": internal_api_url,
    }
    if role == "rails":
        given = sorted(key for key, value in gitaly_only.items() if value is not None)
        if given:
            raise GitalyConfigError("%s only appl%s to role gitaly" % (", ".join(given), "ies" if len(given) == 1 else "y"))
        return settings

    if internal_api_url is None:
        raise GitalyConfigError(
            "internal_api_url is required for role gitaly (the GitLab URL GitLab Shell calls back, "
            "e.g. http://gitlab.example.com)")
    _check_text(internal_api_url, "internal_api_url")
    parts = urlsplit(internal_api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GitalyConfigError("internal_api_url %r must be an http:// or https:// URL" % internal_api_url)
    settings["internal_api_url"] = internal_api_url

    tls_given = [value is not None for value in (tls_listen_addr, tls_certificate_path, tls_key_path)]
    if any(tls_given) and not all(tls_given):
        raise GitalyConfigError("TLS needs tls_listen_addr, tls_certificate_path and tls_key_path together")
    if tls_listen_addr is not None:
        parse_host_port(tls_listen_addr, "tls_listen_addr")
        settings["tls_listen_addr"] = tls_listen_addr
        settings["tls_certificate_path"] = _check_path(tls_certificate_path, "tls_certificate_path")
        settings["tls_key_path"] = _check_path(tls_key_path, "tls_key_path")
    if listen_addr is None and tls_listen_addr is None:
        listen_addr = DEFAULT_LISTEN_ADDR
    if listen_addr is not None:
        parse_host_port(listen_addr, "listen_addr")
        if tls_listen_addr is not None and listen_addr == tls_listen_addr:
            raise GitalyConfigError("listen_addr and tls_listen_addr must differ")
        settings["listen_addr"] = listen_addr
    return settings


# --------------------------------------------------------------------------- rendering

def ruby_str(value):
    """A single-quoted Ruby string literal: only ``\\`` and ``'`` need escaping there."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def disabled_services(version):
    """The services a Gitaly-only node disables on ``version``."""
    result = []
    current = version.as_tuple()
    for service, since, until in SERVICES:
        if since is not None and current < since:
            continue
        if until is not None and current >= until:
            continue
        result.append(service)
    return result


def _legacy_parent(storage, syntax):
    path = _normalise_path(storage["path"])
    if posixpath.basename(path) != "repositories" or path == "/repositories":
        raise GitalyConfigError(
            "storage %r: the %s syntax stores it with git_data_dirs, which appends /repositories to its "
            "path, so the path must end in /repositories (e.g. /var/opt/gitlab/git-data/repositories); got %r"
            % (storage["name"], syntax, storage["path"]))
    return posixpath.dirname(path)


def _storage_list(storages, indent):
    pad = " " * indent
    lines = [pad + "storage: ["]
    for storage in storages:
        lines.append("%s  { name: %s, path: %s }," % (pad, ruby_str(storage["name"]), ruby_str(storage["path"])))
    lines.append(pad + "],")
    return lines


def _render_gitaly(settings, syntax, version):
    lines = ["gitaly['enable'] = true"]
    lines += ["%s['enable'] = false" % service for service in disabled_services(version)]
    lines += [
        "gitlab_rails['rake_cache_clear'] = false",
        "gitlab_rails['auto_migrate'] = false",
        "gitlab_rails['internal_api_url'] = %s" % ruby_str(settings["internal_api_url"]),
    ]
    token = ruby_str(settings["auth_token"])
    if syntax == SYNTAX_LEGACY:
        if settings["listen_addr"]:
            lines.append("gitaly['listen_addr'] = %s" % ruby_str(settings["listen_addr"]))
        if settings["tls_listen_addr"]:
            lines.append("gitaly['tls_listen_addr'] = %s" % ruby_str(settings["tls_listen_addr"]))
            lines.append("gitaly['certificate_path'] = %s" % ruby_str(settings["tls_certificate_path"]))
            lines.append("gitaly['key_path'] = %s" % ruby_str(settings["tls_key_path"]))
        lines.append("gitaly['auth_token'] = %s" % token)
        lines.append("git_data_dirs({")
        for storage in settings["storages"]:
            lines.append("  %s => { 'path' => %s }," % (
                ruby_str(storage["name"]), ruby_str(_legacy_parent(storage, syntax))))
        lines.append("})")
        return lines
    lines.append("gitaly['configuration'] = {")
    if settings["listen_addr"]:
        lines.append("  listen_addr: %s," % ruby_str(settings["listen_addr"]))
    if settings["tls_listen_addr"]:
        lines += [
            "  tls_listen_addr: %s," % ruby_str(settings["tls_listen_addr"]),
            "  tls: {",
            "    certificate_path: %s," % ruby_str(settings["tls_certificate_path"]),
            "    key_path: %s," % ruby_str(settings["tls_key_path"]),
            "  },",
        ]
    lines += ["  auth: {", "    token: %s," % token, "  },"]
    lines += _storage_list(settings["storages"], 2)
    lines.append("}")
    return lines


def _render_rails(settings, syntax):
    local = [s for s in settings["storages"] if s["path"] is not None]
    lines = []
    if not local:
        lines.append("gitaly['enable'] = false")
    lines.append("gitlab_rails['gitaly_token'] = %s" % ruby_str(settings["auth_token"]))
    entries = []
    for storage in settings["storages"]:
        if storage["address"] is not None:
            value = "'gitaly_address' => %s" % ruby_str(storage["address"])
        elif syntax == SYNTAX_LEGACY:
            value = "'path' => %s" % ruby_str(_legacy_parent(storage, syntax))
        else:
            value = "'gitaly_address' => %s" % ruby_str(LOCAL_GITALY_ADDRESS)
        entries.append("  %s => { %s }," % (ruby_str(storage["name"]), value))
    if syntax == SYNTAX_REPOSITORIES_STORAGES:
        lines += ["gitlab_rails['repositories_storages'] = {"] + entries + ["}"]
    else:
        lines += ["git_data_dirs({"] + entries + ["})"]
    if not local:
        return lines
    # The local Gitaly must accept the token Rails now sends to every storage.
    if syntax == SYNTAX_LEGACY:
        lines.append("gitaly['auth_token'] = %s" % ruby_str(settings["auth_token"]))
    else:
        lines.append("gitaly['configuration'] = {")
        lines += ["  auth: {", "    token: %s," % ruby_str(settings["auth_token"]), "  },"]
        lines += _storage_list(local, 2)
        lines.append("}")
    return lines


SYNTAX_TITLES = {
    SYNTAX_LEGACY: "GitLab 13.0 to 15.x",
    SYNTAX_GITALY_CONFIGURATION: "GitLab 16.0 to 17.x",
    SYNTAX_REPOSITORIES_STORAGES: "GitLab 18.0 and later",
}


def render_body(settings, syntax, version):
    """The lines between the block markers (no trailing newline)."""
    if syntax not in SYNTAX_TITLES:
        raise GitalyConfigError("unknown syntax %r" % syntax)
    if not isinstance(version, GitLabVersion):
        version = parse_version(version)
    what = "Gitaly-only node" if settings["role"] == "gitaly" else "GitLab Rails node, Gitaly storages"
    header = "# %s; gitlab.rb syntax %r (%s)" % (what, syntax, SYNTAX_TITLES[syntax])
    if settings["role"] == "gitaly":
        lines = _render_gitaly(settings, syntax, version)
    else:
        lines = _render_rails(settings, syntax)
    return "\n".join([header] + lines)


# --------------------------------------------------------------------------- owned keys

_GITALY_FLAT = ("auth_token", "listen_addr", "tls_listen_addr", "certificate_path", "key_path", "storage")
_GITALY_CONFIGURATION_OWNED = ("listen_addr", "tls_listen_addr", "tls", "auth", "storage")


def owned_keys(settings):
    """Key paths whose assignments outside the block are commented out.

    ``("gitaly", "auth_token")`` is ``gitaly['auth_token'] = ...``; ``("gitaly",
    "configuration", "auth")`` is ``gitaly['configuration'][:auth] = ...``; ``("git_data_dirs",)``
    is the ``git_data_dirs(...)`` call. The set covers every syntax's spelling of what the block
    sets, so a file written for another GitLab version is cleaned up too.
    """
    keys = [("gitaly", "enable"), ("git_data_dirs",)]
    if settings["role"] == "gitaly":
        keys += [("gitaly", "configuration")]
        keys += [("gitaly", key) for key in _GITALY_FLAT]
        keys += [("gitaly", "configuration", key) for key in _GITALY_CONFIGURATION_OWNED]
        keys += [("gitlab_rails", key) for key in ("rake_cache_clear", "auto_migrate", "internal_api_url")]
        keys += [(service, "enable") for service, _since, _until in SERVICES]
        return keys
    keys += [("gitlab_rails", "gitaly_token"), ("gitlab_rails", "repositories_storages")]
    if any(storage["path"] is not None for storage in settings["storages"]):
        # the node's own Gitaly serves storages: its token and storage list are ours too
        keys += [("gitaly", "configuration"), ("gitaly", "auth_token"), ("gitaly", "storage"),
                 ("gitaly", "configuration", "auth"), ("gitaly", "configuration", "storage")]
    return keys
