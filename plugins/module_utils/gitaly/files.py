# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node file operations of ``gitaly_remote``, done by AnsibleModule's own file handling.

:class:`ModuleFiles` is the ``files`` argument of
:func:`~ansible_collections.hapair.ha.plugins.module_utils.gitaly.config.configure_gitaly_remote`:

* ``backup`` -- ``module.backup_local``: a copy named ``<path>.<pid>.<YYYY-MM-DD@HH:MM:SS~>``
  with the file's owner, mode and SELinux context, as every module with ``backup: true`` makes;
* ``replace`` -- the new text goes to a temporary file (mode 0600) in the file's own directory,
  then ``module.atomic_move`` renames it over the file, keeping the old file's owner, group,
  mode and SELinux context (a new file gets mode 0600 and the directory's default context),
  honouring ``unsafe_writes``;
* ``set_attributes`` -- ``module.set_fs_attributes_if_different`` with the common file
  arguments (``owner``, ``group``, ``mode``, ``seuser``... from ``add_file_common_args``): in
  check mode it only reports, and it fills the attribute diff.

Every failure is raised as :class:`GitalyConfigError` (AnsibleModule raises plain exceptions),
so that ``main()`` catches one exception type.
"""

from __future__ import annotations

import os
import tempfile

from ansible_collections.hapair.ha.plugins.module_utils.common.errors import reason
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.errors import GitalyConfigError

# Mode of a gitlab.rb the module creates (it holds the token), unless O(mode) says otherwise.
NEW_FILE_MODE = "0600"


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


class ModuleFiles:
    """File operations on the node through an ``AnsibleModule`` (see the module docstring)."""

    def __init__(self, module):
        self.module = module

    def backup(self, path):
        try:
            return self.module.backup_local(path) or None
        except Exception as err:  # AnsibleModule raises Exception with the reason chained
            raise GitalyConfigError("cannot back up %s: %s" % (path, reason(err))) from None

    def replace(self, path, data, new_file=False):
        directory = os.path.dirname(os.path.abspath(path))
        try:
            fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
        except OSError as err:
            raise GitalyConfigError("cannot write %s: %s" % (path, err.strerror or err)) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            # atomic_move gives a file it creates mode 0666 & ~umask: keep the token private
            # (set_attributes applies O(mode) afterwards, if one is given).
            umask = os.umask(0o077) if new_file else None
            try:
                self.module.atomic_move(tmp, path, unsafe_writes=self.module.params.get("unsafe_writes"))
            finally:
                if umask is not None:
                    os.umask(umask)
        except Exception as err:
            _unlink_quietly(tmp)
            raise GitalyConfigError("cannot write %s: %s" % (path, reason(err))) from None

    def set_attributes(self, path, changed, diff, new_file=False):
        file_args = self.module.load_file_common_arguments(self.module.params, path=path)
        if new_file and file_args.get("mode") is None:
            file_args["mode"] = NEW_FILE_MODE
        try:
            return self.module.set_fs_attributes_if_different(file_args, changed, diff=diff)
        except Exception as err:
            raise GitalyConfigError("cannot set the attributes of %s: %s" % (path, reason(err))) from None
