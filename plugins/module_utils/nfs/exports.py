# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate and render an NFS exports file (``/etc/exports.d/<name>.exports``, exports(5)).

:func:`check_exports` takes the role's input (a list of ``{path, clients: [{host, options}],
owner, group, mode, create}``) and returns ``(problems, exports)``: every mistake found (bad or
relative path, duplicate path, empty client list, bad client, unknown or contradictory option,
bad owner or mode) and the normalised exports. :func:`render_exports` turns normalised exports
into the lines of the file.
Nothing here touches a host: the role runs it on the controller, before any change.
"""

from __future__ import annotations

import difflib
import ipaddress
import re

from ansible_collections.hapair.ha.plugins.module_utils.nfs.common import (
    check_abs_path,
    check_conflicts,
    check_entry_ownership,
    check_hostname,
    check_ownership,
    entry_ownership,
    looks_like_ip,
    split_options,
    unknown_keys,
)

# exports(5), nfs-utils 2.x: options without a value.
EXPORT_FLAGS = frozenset((
    "secure", "insecure", "rw", "ro", "async", "sync", "wdelay", "no_wdelay", "nohide", "hide",
    "crossmnt", "no_subtree_check", "subtree_check", "insecure_locks", "no_auth_nlm", "secure_locks",
    "auth_nlm", "mountpoint", "mp", "nordirplus", "pnfs", "no_pnfs", "security_label", "root_squash",
    "no_root_squash", "all_squash", "no_all_squash", "acl", "no_acl",
))
_UUID_RE = re.compile(r"^[0-9A-Fa-f]{8}(-?[0-9A-Fa-f]{4}){3}-?[0-9A-Fa-f]{12}$|^[0-9A-Fa-f]{32}$")
_SEC_FLAVOURS = ("sys", "krb5", "krb5i", "krb5p", "none")
_XPRTSEC = ("none", "tls", "mtls")


def _check_fsid(value):
    if value == "root" or value.isdigit() or _UUID_RE.match(value):
        return None
    return "fsid=%s must be a number, root or a UUID" % value


def _check_id(name):
    def check(value):
        return None if value.isdigit() else "%s=%s must be a numeric id" % (name, value)
    return check


def _check_flavours(name, allowed):
    def check(value):
        bad = [f for f in value.split(":") if f not in allowed]
        return "%s=%s: unknown value(s) %s (allowed: %s)" % (name, value, ", ".join(bad), ", ".join(allowed)) if bad else None
    return check


def _check_mountpoint(value):
    return check_abs_path(value, "mountpoint=")


def _non_empty(value):
    return None


# Options that take a value: name -> check of the value (None: fine).
EXPORT_VALUED = {
    "fsid": _check_fsid,
    "anonuid": _check_id("anonuid"),
    "anongid": _check_id("anongid"),
    "sec": _check_flavours("sec", _SEC_FLAVOURS),
    "xprtsec": _check_flavours("xprtsec", _XPRTSEC),
    "mountpoint": _check_mountpoint,
    "mp": _check_mountpoint,
    "refer": _non_empty,
    "replicas": _non_empty,
}
EXPORT_CONFLICTS = (
    ("rw", "ro"), ("sync", "async"), ("secure", "insecure"), ("wdelay", "no_wdelay"), ("hide", "nohide"),
    ("subtree_check", "no_subtree_check"), ("secure_locks", "insecure_locks"), ("auth_nlm", "no_auth_nlm"),
    ("root_squash", "no_root_squash"), ("all_squash", "no_all_squash"), ("pnfs", "no_pnfs"), ("acl", "no_acl"),
)
EXPORT_KEYS = frozenset(("path", "clients", "owner", "group", "mode", "create"))
CLIENT_KEYS = frozenset(("host", "options"))
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_NETGROUP_RE = re.compile(r"^@[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_WILDCARD_RE = re.compile(r"^[A-Za-z0-9*?]([A-Za-z0-9*?.-]*[A-Za-z0-9*?])?$")


def check_name(name):
    """The file name part of ``/etc/exports.d/<name>.exports``."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        return ("nfs_exports_name %r must be 1-64 letters, digits, '_', '.', '@' or '-' "
                "(it becomes /etc/exports.d/<name>.exports)" % (name,))
    return None


def check_client_host(host):
    """An exports(5) client: address, network (CIDR or netmask), host name or wildcard, @netgroup, *."""
    if not isinstance(host, str) or not host:
        return "client host must be a non-empty string (got %r)" % (host,)
    if host == "*" or _NETGROUP_RE.match(host):
        return None
    if looks_like_ip(host):
        try:
            if "/" in host:
                ipaddress.ip_network(host, strict=True)
            else:
                ipaddress.ip_address(host)
        except ValueError as err:
            hint = ""
            try:
                hint = " (did you mean %s?)" % ipaddress.ip_network(host, strict=False)
            except ValueError:
                pass
            return "client host %r is not a valid address or network: %s%s" % (host, err, hint)
        return None
    if check_hostname(host) or ("*" in host or "?" in host) and _WILDCARD_RE.match(host):
        return None
    return "client host %r is not an address, network, host name, wildcard, @netgroup or *" % (host,)


def check_export_options(options, what):
    """Problems of one client's options (unknown, bad values, contradictions, repeats)."""
    problems = []
    names = []
    for option in options:
        name, sep, value = option.partition("=")
        names.append(name)
        if sep:
            check = EXPORT_VALUED.get(name)
            if check is None:
                problems.append("%s: option %s takes no value" % (what, option) if name in EXPORT_FLAGS
                                else _unknown(what, option, name))
            elif not value:
                problems.append("%s: option %s needs a value" % (what, option))
            else:
                problem = check(value)
                if problem:
                    problems.append("%s: %s" % (what, problem))
        elif name not in EXPORT_FLAGS:
            problems.append("%s: option %s needs a value" % (what, name) if name in EXPORT_VALUED
                            else _unknown(what, option, name))
    problems.extend(check_conflicts(names, EXPORT_CONFLICTS, what))
    return problems


def _unknown(what, option, name):
    close = difflib.get_close_matches(name, sorted(EXPORT_FLAGS | set(EXPORT_VALUED)), n=1, cutoff=0.75)
    return "%s: unknown export option %s%s" % (what, option, " (did you mean %s?)" % close[0] if close else "")


def check_exports(exports, owner="root", group="root", mode="0755", name="hapair"):
    """Return ``(problems, normalised exports)`` for the role's ``nfs_exports_list``."""
    problems = []
    out = []
    problem = check_name(name)
    if problem:
        problems.append(problem)
    problems.extend(check_ownership(owner, group, mode, "nfs_exports"))
    if not isinstance(exports, (list, tuple)):
        return problems + ["nfs_exports_list must be a list of exports (got %r)" % (exports,)], []
    seen_paths = {}
    for index, export in enumerate(exports):
        where = "nfs_exports_list[%d]" % index
        if not isinstance(export, dict):
            problems.append("%s must be a dict with path and clients (got %r)" % (where, export))
            continue
        path = export.get("path")
        if isinstance(path, str) and path:
            where = "export %s" % path
        entry_problems = []
        problem = unknown_keys(export, EXPORT_KEYS, where)
        if problem:
            entry_problems.append(problem)
        problem = check_abs_path(path, "%s: path" % where) if "path" in export else "%s: path is required" % where
        if problem:
            entry_problems.append(problem)
        elif path == "/":
            entry_problems.append("%s: exporting / is refused (export a directory below it)" % where)
        elif path in seen_paths:
            entry_problems.append("%s: path %s is listed twice (entries %d and %d)" % (where, path, seen_paths[path], index))
        else:
            seen_paths[path] = index
        entry_problems.extend(check_entry_ownership(export, where))
        create = export.get("create", True)
        if not isinstance(create, bool):
            entry_problems.append("%s: create must be true or false (got %r)" % (where, create))
        clients = export.get("clients")
        norm_clients = []
        if not isinstance(clients, (list, tuple)) or not clients:
            entry_problems.append("%s: clients must be a non-empty list of {host, options} (got %r)" % (where, clients))
        else:
            seen_hosts = set()
            for cindex, client in enumerate(clients):
                cwhere = "%s client %d" % (where, cindex)
                if isinstance(client, str):
                    client = {"host": client}
                if not isinstance(client, dict):
                    entry_problems.append("%s must be a dict {host, options} (got %r)" % (cwhere, client))
                    continue
                host = client.get("host")
                if isinstance(host, str) and host:
                    cwhere = "%s client %s" % (where, host)
                problem = unknown_keys(client, CLIENT_KEYS, cwhere)
                if problem:
                    entry_problems.append(problem)
                problem = check_client_host(host)
                if problem:
                    entry_problems.append("%s: %s" % (where, problem))
                elif host in seen_hosts:
                    entry_problems.append("%s: client %s is listed twice" % (where, host))
                else:
                    seen_hosts.add(host)
                options, problem = split_options(client.get("options"), cwhere)
                if problem:
                    entry_problems.append(problem)
                    continue
                entry_problems.extend(check_export_options(options, cwhere))
                norm_clients.append({"host": host, "options": options})
        problems.extend(entry_problems)
        if not entry_problems:
            out.append({"path": path, "clients": norm_clients, **entry_ownership(export, owner, group, mode), "create": create})
    return problems, (out if not problems else [])


def _quote_path(path):
    return '"%s"' % path if any(ch.isspace() for ch in path) else path


def render_exports(exports):
    """The lines of the exports file for normalised exports (no trailing newline)."""
    lines = []
    for export in exports:
        clients = []
        for client in export["clients"]:
            options = client.get("options") or []
            clients.append("%s(%s)" % (client["host"], ",".join(options)) if options else client["host"])
        lines.append("%s %s" % (_quote_path(export["path"]), " ".join(clients)))
    return "\n".join(lines)
