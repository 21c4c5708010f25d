# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan and apply the Gitaly settings of one node's ``gitlab.rb``.

:func:`plan_gitlab_rb` is pure (text in, text out). :func:`configure_gitaly_remote` reads the
file with Python, validates everything, plans and checks the new text is valid Ruby (through an
injected ``syntax_check``). What touches the file goes through an injected ``files`` object
(:class:`~ansible_collections.hapair.ha.plugins.module_utils.gitaly.files.ModuleFiles` in the
module: AnsibleModule's ``backup_local``, ``atomic_move`` and ``set_fs_attributes_if_different``):
only when the text changes and not in check mode, an optional timestamped backup and then the
atomic replace; in every mode the file attributes (owner, group, mode, SELinux) asked for.

The result never holds the token: ``before``, ``after`` and ``block`` are masked with
:func:`rbfile.mask_secrets`. When only the token changed, the masked diff still differs: the
old value reads ``<hidden>``, the new one ``<auth_token hidden>``.
"""

from __future__ import annotations

import os
import stat

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


def _file_exists(path):
    """``True`` for a regular file, ``False`` when missing; refuses anything else."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as err:
        raise GitalyConfigError("cannot stat %s: %s" % (path, err.strerror or err)) from None
    if not stat.S_ISREG(info.st_mode):
        raise GitalyConfigError("%s is not a regular file" % path)
    return True


def configure_gitaly_remote(role, storages, auth_token, files, config_path=DEFAULT_CONFIG_PATH,
                            gitlab_version="auto", listen_addr=None, tls_listen_addr=None,
                            tls_certificate_path=None, tls_key_path=None, internal_api_url=None,
                            backup=False, check_mode=False, read_text=read_text_file,
                            syntax_check=None):
    """Make ``config_path`` carry the Gitaly settings for ``role``.

    ``files`` does what changes the node (see :mod:`.files`): ``backup(path)`` returns the
    backup's path, ``replace(path, data, new_file)`` writes atomically, ``set_attributes(path,
    changed, diff, new_file)`` applies the requested owner/group/mode/SELinux context (in check
    mode: only reports) and returns whether anything differs, filling ``diff``.
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
    exists = _file_exists(config_path)
    if not exists and not os.path.isdir(os.path.dirname(config_path)):
        raise GitalyConfigError("%s does not exist and neither does its directory" % config_path)
    current = read_text_file(config_path) if exists else None
    plan = plan_gitlab_rb(current, settings, version)
    checked_with = None
    if plan["changed"] and syntax_check is not None:
        checked_with = syntax_check(plan["text"])

    result = {
        "changed": plan["changed"],
        "config_path": config_path,
        "role": role,
        "syntax": plan["syntax"],
        "gitlab_version": str(version),
        "version_source": version_source,
        "neutralised": plan["neutralised"],
        "block": mask_secrets(plan["block"], auth_token),
        "before": mask_secrets(current if current is not None else "", auth_token),
        "after": mask_secrets(plan["text"], auth_token),
        "syntax_checked_with": checked_with,
    }

    # 3. apply: a timestamped backup of the file as it was, then the atomic replace
    if plan["changed"] and not check_mode:
        if backup and exists:
            result["backup_file"] = files.backup(config_path)
        files.replace(config_path, _encode(plan["text"]), new_file=not exists)

    # 4. owner, group, mode, SELinux context: reported in check mode, applied otherwise. A file
    #    that check mode would create has nothing to compare yet (it is reported as changed).
    attributes = {"before": {"path": config_path}, "after": {"path": config_path}}
    if exists or not check_mode:
        if files.set_attributes(config_path, result["changed"], attributes, new_file=not exists):
            result["changed"] = True
    if len(attributes["before"]) > 1 or len(attributes["after"]) > 1:
        result["attributes_diff"] = attributes
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
