# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate NFS client mounts (the fstab lines of ``hapair.ha.nfs_mounts``).

:func:`check_mounts` takes the role's input (a list of ``{src, path, opts, fstype, owner, group,
mode}``) and returns ``(problems, mounts)``: every mistake found (bad server or remote path,
relative or system path, duplicate path, unknown or contradictory mount option, bad owner or
mode) and the normalised mounts, ``src`` always ``SERVER:/remote/path`` and ``opts`` the
comma-joined options in the order given. :func:`fstab_line` renders one mount as the line
``ansible.posix.mount`` writes. Nothing here touches a host.
"""

from __future__ import annotations

import difflib
import re

from ansible_collections.hapair.ha.plugins.module_utils.nfs.common import (
    check_abs_path,
    check_conflicts,
    check_entry_ownership,
    check_hostname,
    check_ip_host,
    check_ownership,
    entry_ownership,
    looks_like_ip,
    split_options,
    unknown_keys,
)

FSTYPES = ("nfs", "nfs4")
# nfs(5) and the generic mount(8)/fstab options that make sense on an NFS mount.
MOUNT_FLAGS = frozenset((
    "defaults", "auto", "noauto", "_netdev", "nofail", "ro", "rw", "sync", "async", "dirsync",
    "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime", "strictatime", "nostrictatime",
    "lazytime", "nolazytime", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "user", "nouser", "users",
    "owner", "group", "iversion", "noiversion", "mand", "nomand", "silent", "loud",
    # nfs(5)
    "soft", "softerr", "hard", "intr", "nointr", "ac", "noac", "cto", "nocto", "bg", "fg", "lock", "nolock",
    "tcp", "udp", "rdma", "acl", "noacl", "rdirplus", "nordirplus", "sharecache", "nosharecache",
    "resvport", "noresvport", "fsc", "nofsc", "posix", "noposix", "sloppy", "trunkdiscovery",
    "notrunkdiscovery", "migration", "nomigration", "softreval", "nosoftreval",
))
_NUMBER = re.compile(r"^[0-9]+$")
MOUNT_VALUED = {
    "timeo": _NUMBER, "retrans": _NUMBER, "rsize": _NUMBER, "wsize": _NUMBER, "acregmin": _NUMBER,
    "acregmax": _NUMBER, "acdirmin": _NUMBER, "acdirmax": _NUMBER, "actimeo": _NUMBER, "retry": _NUMBER,
    "port": _NUMBER, "mountport": _NUMBER, "namlen": _NUMBER, "nconnect": _NUMBER, "max_connect": _NUMBER,
    "mountvers": re.compile(r"^[1-3]$"), "vers": re.compile(r"^(2|3|4|4\.[0-2])$"),
    "nfsvers": re.compile(r"^(2|3|4|4\.[0-2])$"), "minorversion": re.compile(r"^[0-2]$"),
    "proto": re.compile(r"^(tcp|udp|rdma|tcp6|udp6|rdma6)$"), "mountproto": re.compile(r"^(tcp|udp|tcp6|udp6)$"),
    "sec": re.compile(r"^(sys|krb5|krb5i|krb5p|none)(:(sys|krb5|krb5i|krb5p|none))*$"),
    "lookupcache": re.compile(r"^(all|none|pos|positive)$"), "local_lock": re.compile(r"^(all|flock|posix|none)$"),
    "xprtsec": re.compile(r"^(none|tls|mtls)$"),
    "mounthost": re.compile(r"^[A-Za-z0-9.:-]+$"), "clientaddr": re.compile(r"^[0-9A-Fa-f.:]+$"),
    "addr": re.compile(r"^[0-9A-Fa-f.:]+$"), "fsc": re.compile(r"^\S+$"), "comment": re.compile(r"^\S+$"),
    "context": re.compile(r"^\S+$"), "fscontext": re.compile(r"^\S+$"), "defcontext": re.compile(r"^\S+$"),
    "rootcontext": re.compile(r"^\S+$"),
}
# x-systemd.* and x-* options (read by systemd / userspace tools, ignored by the kernel).
_X_OPTION = re.compile(r"^x-[A-Za-z0-9_.-]+(=\S+)?$")
MOUNT_CONFLICTS = (
    ("hard", "soft"), ("ro", "rw"), ("ac", "noac"), ("intr", "nointr"), ("bg", "fg"), ("lock", "nolock"),
    ("cto", "nocto"), ("auto", "noauto"), ("tcp", "udp"), ("sync", "async"), ("suid", "nosuid"), ("dev", "nodev"),
    ("exec", "noexec"), ("acl", "noacl"), ("sharecache", "nosharecache"), ("resvport", "noresvport"),
    ("rdirplus", "nordirplus"),
)
MOUNT_KEYS = frozenset(("src", "path", "opts", "fstype", "owner", "group", "mode"))
# Mounting over these (and moving their content aside) would break the host: refused.
SYSTEM_PATHS = frozenset((
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt",
    "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib",
    "/usr/local", "/usr/sbin", "/usr/share", "/var", "/var/lib", "/var/log", "/var/cache", "/var/tmp",
    "/var/spool", "/var/run",
))


def parse_src(src, server=""):
    """``(host, remote_path, problem)`` from ``HOST:/path``, ``[IPv6]:/path`` or ``/path`` with ``server``."""
    if not isinstance(src, str) or not src:
        return None, None, "src must be a non-empty string HOST:/path (got %r)" % (src,)
    if src.startswith("/"):
        if not server:
            return None, None, "src %r has no server: write HOST:/path or set nfs_mounts_server" % src
        host, path = server, src
    elif src.startswith("["):
        host, sep, path = src[1:].partition("]:")
        if not sep:
            return None, None, "src %r: an IPv6 server is written [ADDRESS]:/path" % src
    else:
        host, sep, path = src.rpartition(":")
        if not sep:
            return None, None, "src %r is not HOST:/path" % src
    problem = check_server(host)
    if problem:
        return None, None, "src %r: %s" % (src, problem)
    problem = check_abs_path(path, "src %r: remote path" % src, spaces=False)
    if problem:
        return None, None, problem
    return host.strip("[]"), path, None


def check_server(host):
    """The NFS server (the VIP): an IPv4/IPv6 address or a DNS name."""
    if not isinstance(host, str) or not host:
        return "server must be an address or host name (got %r)" % (host,)
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if looks_like_ip(host):
        return check_ip_host(host, "server")
    if check_hostname(host):
        return None
    return "server %r is not an IP address or host name" % host


def format_src(host, path):
    return "[%s]:%s" % (host, path) if ":" in host else "%s:%s" % (host, path)


def check_mount_options(options, fstype, what):
    """Problems of a mount's options (unknown, bad values, contradictions, repeats)."""
    problems = []
    names = []
    for option in options:
        if _X_OPTION.match(option):
            continue
        name, sep, value = option.partition("=")
        names.append(name)
        if sep:
            pattern = MOUNT_VALUED.get(name)
            if pattern is None:
                problems.append("%s: option %s takes no value" % (what, option) if name in MOUNT_FLAGS
                                else _unknown(what, option, name))
            elif not pattern.match(value):
                problems.append("%s: option %s has an invalid value" % (what, option))
        elif name not in MOUNT_FLAGS:
            problems.append("%s: option %s needs a value" % (what, name) if name in MOUNT_VALUED
                            else _unknown(what, option, name))
        if fstype == "nfs4" and name in ("vers", "nfsvers") and value[:1] in ("2", "3"):
            problems.append("%s: option %s contradicts fstype nfs4" % (what, option))
    problems.extend(check_conflicts(names, MOUNT_CONFLICTS, what))
    return problems


def _unknown(what, option, name):
    close = difflib.get_close_matches(name, sorted(MOUNT_FLAGS | set(MOUNT_VALUED)), n=1, cutoff=0.75)
    return "%s: unknown mount option %s%s" % (what, option, " (did you mean %s?)" % close[0] if close else "")


def check_mounts(mounts, server="", fstype="nfs", opts="defaults", owner="root", group="root", mode="0755",
                 aside_suffix=".pre-nfs"):
    """Return ``(problems, normalised mounts)`` for the role's ``nfs_mounts_list``."""
    problems = []
    out = []
    server_bad = False
    if server:
        problem = check_server(server)
        if problem:
            problems.append("nfs_mounts_server: %s" % problem)
            server_bad = True
    if fstype not in FSTYPES:
        problems.append("nfs_mounts_fstype %r must be one of %s" % (fstype, ", ".join(FSTYPES)))
    problems.extend(check_ownership(owner, group, mode, "nfs_mounts"))
    if not isinstance(aside_suffix, str) or not re.match(r"^[A-Za-z0-9_.~-]+$", aside_suffix or ""):
        problems.append("nfs_mounts_aside_suffix %r must be a non-empty file name suffix such as .pre-nfs" % (aside_suffix,))
    if not isinstance(mounts, (list, tuple)):
        return problems + ["nfs_mounts_list must be a list of mounts (got %r)" % (mounts,)], []
    seen = {}
    for index, mount in enumerate(mounts):
        where = "nfs_mounts_list[%d]" % index
        if not isinstance(mount, dict):
            problems.append("%s must be a dict with src and path (got %r)" % (where, mount))
            continue
        path = mount.get("path")
        if isinstance(path, str) and path:
            where = "mount %s" % path
        entry = []
        problem = unknown_keys(mount, MOUNT_KEYS, where)
        if problem:
            entry.append(problem)
        problem = check_abs_path(path, "%s: path" % where, spaces=False) if "path" in mount else "%s: path is required" % where
        if problem:
            entry.append(problem)
        elif path in SYSTEM_PATHS:
            entry.append("%s: %s is a system directory; mount below it (e.g. %s/app)" % (where, path, path.rstrip("/")))
        elif path in seen:
            entry.append("%s: path %s is listed twice (entries %d and %d)" % (where, path, seen[path], index))
        else:
            seen[path] = index
        host, remote, problem = parse_src(mount.get("src"), server) if "src" in mount else (None, None, "src is required")
        # a path-only src with an invalid nfs_mounts_server: that problem is reported once, above
        if problem and not (server_bad and str(mount.get("src", "")).startswith("/")):
            entry.append("%s: %s" % (where, problem))
        m_fstype = mount.get("fstype", fstype)
        if "fstype" in mount and m_fstype not in FSTYPES:
            entry.append("%s: fstype %r must be one of %s" % (where, m_fstype, ", ".join(FSTYPES)))
        options, problem = split_options(mount.get("opts", opts), "%s: opts" % where)
        if problem:
            entry.append(problem)
        elif not options:
            entry.append("%s: opts is empty (use defaults)" % where)
        else:
            entry.extend(check_mount_options(options, m_fstype, "%s" % where))
        entry.extend(check_entry_ownership(mount, where))
        problems.extend(entry)
        if not entry and host:
            out.append({
                "src": format_src(host, remote),
                "path": path,
                "fstype": m_fstype,
                "opts": ",".join(options),
                **entry_ownership(mount, owner, group, mode),
                "aside": path + aside_suffix if isinstance(aside_suffix, str) else "",
            })
    return problems, (out if not problems else [])


def fstab_line(mount, dump=0, passno=0):
    """The fstab line of a normalised mount (what ansible.posix.mount writes)."""
    return "%s %s %s %s %d %d" % (mount["src"], mount["path"], mount["fstype"], mount["opts"], dump, passno)
