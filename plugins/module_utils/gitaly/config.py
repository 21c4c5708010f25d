# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan and apply the Gitaly settings of one node's ``gitlab.rb``.

:func:`plan_gitlab_rb` is pure (text in, text out). :func:`configure_gitaly_remote` reads the
file, validates everything, plans, checks the new text is valid Ruby (through an injected
``syntax_check``), then -- unless in check mode and only when something changes -- keeps a
one-time backup (``<config>.hapair-orig``, never overwritten) and writes atomically (temporary
file in the same directory, ``fsync``, ``os.replace``) with the original mode and owner.

The result never holds the token: ``before``, ``after`` and ``block`` are masked with
:func:`rbfile.mask_secrets`. When only the token changed, the masked diff still differs: the
old value reads ``<hidden>``, the new one ``<auth_token hidden>``.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile

from ansible_collections.hapair.ha.plugins.module_utils.gitaly.errors import GitalyConfigError
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.rbfile import (
    mask_secrets,
    place_block,
    wrap_block,
)
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.render import (
    build_settings,
    owned_keys,
    render_body,
)
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.version import (
    GitLabVersion,
    detect_gitlab_version,
    parse_version,
    select_syntax,
)

DEFAULT_CONFIG_PATH = "/etc/gitlab/gitlab.rb"
BACKUP_SUFFIX = ".hapair-orig"
NEW_FILE_MODE = 0o600


def plan_gitlab_rb(current_text, settings, version):
    """Return ``{'text', 'block', 'syntax', 'neutralised', 'changed'}`` (unmasked)."""
    if not isinstance(version, GitLabVersion):
        version = parse_version(version)
    syntax = select_syntax(version)
    block = wrap_block(render_body(settings, syntax, version))
    text, neutralised = place_block(current_text or "", block, owned_keys(settings))
    return {
        "text": text,
        "block": block,
        "syntax": syntax,
        "neutralised": neutralised,
        "changed": text != (current_text or ""),
    }


def read_text_file(path):
    """File text (``surrogateescape`` keeps any byte), or ``None`` when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise GitalyConfigError("cannot read %s: %s" % (path, err.strerror or err)) from None


def _encode(text):
    return text.encode("utf-8", "surrogateescape")


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_temp(directory, prefix, data, mode, uid, gid):
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if uid is not None and (uid, gid) != (os.geteuid(), os.getegid()):
            os.chown(tmp, uid, gid)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def atomic_write(path, data, mode, uid=None, gid=None):
    """Replace ``path`` with ``data`` atomically, with the given mode and owner."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        tmp = _write_temp(directory, "." + os.path.basename(path) + ".", data, mode, uid, gid)
        try:
            os.replace(tmp, path)
        except BaseException:
            _unlink_quietly(tmp)
            raise
    except OSError as err:
        raise GitalyConfigError("cannot write %s: %s" % (path, err.strerror or err)) from None
    _fsync_dir(directory)


def make_backup(path, backup_path, data, mode, uid=None, gid=None):
    """Create ``backup_path`` with ``data`` unless it exists; ``True`` when created.

    The copy is written to a temporary file and hard-linked into place, which fails if a backup
    already exists, so an existing backup is never overwritten, even by a concurrent run.
    """
    if os.path.lexists(backup_path):
        return False
    directory = os.path.dirname(os.path.abspath(backup_path))
    try:
        tmp = _write_temp(directory, "." + os.path.basename(path) + ".backup.", data, mode, uid, gid)
    except OSError as err:
        raise GitalyConfigError("cannot back up %s: %s" % (path, err.strerror or err)) from None
    try:
        os.link(tmp, backup_path)
    except FileExistsError:
        return False
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise GitalyConfigError("cannot back up %s: %s" % (path, err.strerror or err)) from None
        # No hard links on this filesystem: rename, after checking again.
        if os.path.lexists(backup_path):
            return False
        try:
            os.rename(tmp, backup_path)
        except OSError as err2:
            raise GitalyConfigError("cannot back up %s: %s" % (path, err2.strerror or err2)) from None
        return True
    finally:
        _unlink_quietly(tmp)
    return True


def _file_meta(path):
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise GitalyConfigError("cannot stat %s: %s" % (path, err.strerror or err)) from None
    if not stat.S_ISREG(info.st_mode):
        raise GitalyConfigError("%s is not a regular file" % path)
    return stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid


def configure_gitaly_remote(role, storages, auth_token, config_path=DEFAULT_CONFIG_PATH,
                            gitlab_version="auto", listen_addr=None, tls_listen_addr=None,
                            tls_certificate_path=None, tls_key_path=None, internal_api_url=None,
                            backup=False, check_mode=False, read_text=read_text_file,
                            syntax_check=None):
    """Make ``config_path`` carry the Gitaly settings for ``role``.

    ``read_text(path)`` reads node files (``None`` if missing); ``syntax_check(text)`` returns
    the name of the checker used (or ``None`` when none is available) and raises
    :class:`GitalyConfigError` for invalid Ruby.
    """
    # 1. validate every input before touching anything
    settings = build_settings(
        role, storages, auth_token, listen_addr=listen_addr, tls_listen_addr=tls_listen_addr,
        tls_certificate_path=tls_certificate_path, tls_key_path=tls_key_path,
        internal_api_url=internal_api_url)
    if not config_path or not isinstance(config_path, str) or not os.path.isabs(config_path):
        raise GitalyConfigError("config_path must be an absolute path")
    if gitlab_version in (None, "", "auto"):
        version, version_source = detect_gitlab_version(read_text)
    else:
        version, version_source = parse_version(gitlab_version), "gitlab_version"
    select_syntax(version)  # refuses unsupported versions early

    # 2. plan
    meta = _file_meta(config_path)
    if meta is None and not os.path.isdir(os.path.dirname(config_path)):
        raise GitalyConfigError("%s does not exist and neither does its directory" % config_path)
    current = read_text_file(config_path) if meta is not None else None
    plan = plan_gitlab_rb(current, settings, version)
    checked_with = None
    if plan["changed"] and syntax_check is not None:
        checked_with = syntax_check(plan["text"])

    backup_path = config_path + BACKUP_SUFFIX
    result = {
        "changed": plan["changed"],
        "config_path": config_path,
        "role": role,
        "syntax": plan["syntax"],
        "gitlab_version": str(version),
        "version_source": version_source,
        "backup_file": None,
        "neutralised": plan["neutralised"],
        "block": mask_secrets(plan["block"], auth_token),
        "before": mask_secrets(current if current is not None else "", auth_token),
        "after": mask_secrets(plan["text"], auth_token),
        "syntax_checked_with": checked_with,
    }
    if backup and meta is not None and (os.path.lexists(backup_path) or plan["changed"]):
        result["backup_file"] = backup_path
    if not plan["changed"] or check_mode:
        return result

    # 3. apply: backup once, then the atomic replace
    if meta is None:
        mode, uid, gid = NEW_FILE_MODE, None, None
    else:
        mode, uid, gid = meta
        if backup:
            make_backup(config_path, backup_path, _encode(current), mode, uid, gid)
    atomic_write(config_path, _encode(plan["text"]), mode, uid, gid)
    return result


EMBEDDED_RUBY = "/opt/gitlab/embedded/bin/ruby"


def make_ruby_syntax_check(run_command, ruby, auth_token=None):
    """A ``syntax_check`` for :func:`configure_gitaly_remote` running ``ruby -c`` on stdin.

    ``run_command(argv, data)`` returns ``(rc, stdout, stderr)``; ``ruby`` is the interpreter
    (Omnibus' :data:`EMBEDDED_RUBY` when present, else one from ``PATH``) or ``None`` to skip
    the check. Ruby's error text is masked: it can quote the offending line.
    """
    def check(text):
        if not ruby:
            return None
        rc, out, err = run_command([ruby, "-c"], text)
        if rc != 0:
            detail = mask_secrets((err or out or "").strip(), auth_token)
            raise GitalyConfigError("the new gitlab.rb is not valid Ruby (%s -c): %s" % (ruby, detail))
        return ruby
    return check
