# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files and directories that a role manages as one set (module ``hapair.ha.managed_files``).

:func:`manage` takes the entries (already resolved by the action plugin: every file has its
content as bytes) and an ``ops`` object that does what touches the node:

* ``check_mode`` -- plan only;
* ``write(path, data, new_file)`` -- atomic replacement (``AnsibleModule.atomic_move``);
* ``set_attributes(entry, changed, diff)`` -- ``AnsibleModule.set_fs_attributes_if_different``
  with the common file arguments (keeps SELinux contexts), fills the attribute diff;
* ``make_directory(path)`` -- create one directory;
* ``validate(command, data, path)`` -- run a validation command on a temporary copy.

Entries are handled in the given order (a directory before the files in it, a validation
helper before the file it validates). It returns ``changed``, ``changed_paths``, ``created_paths`` (not there before) and a ``diff``
list in the shape Ansible's callbacks print (``before_header``/``after_header``/``before``/
``after``). A ``secret`` entry's content never appears in the diff or a message.

Every failure is raised as :class:`ManagedFilesError`, caught once in the module's ``main()``.
"""

from __future__ import annotations

import os
import stat
import tempfile

from ansible_collections.hapair.ha.plugins.module_utils.common.errors import reason

# Larger files (or files with NUL bytes) are summarised in the diff instead of shown.
DIFF_MAX_BYTES = 64 * 1024


class ManagedFilesError(Exception):
    """A file or directory could not be checked or written."""


def _is_text(data):
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _read(path):
    """(kind, data): kind is ``absent``, ``file`` (data: bytes), ``directory``, ``link`` or ``other``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "absent", None
    except OSError as err:
        raise ManagedFilesError("cannot look at %s: %s" % (path, err.strerror or err)) from None
    if stat.S_ISLNK(st.st_mode):
        return "link", None
    if stat.S_ISDIR(st.st_mode):
        return "directory", None
    if not stat.S_ISREG(st.st_mode):
        return "other", None
    try:
        with open(path, "rb") as handle:
            return "file", handle.read()
    except OSError as err:
        raise ManagedFilesError("cannot read %s: %s" % (path, err.strerror or err)) from None


def content_diff(path, before, after, secret=False):
    """The diff entry of a file whose content changes (``before`` is None for a new file)."""
    entry = {"before_header": path if before is not None else "%s (absent)" % path, "after_header": path}
    if secret:
        entry["before"] = "" if before is None else "(secret content of %s, not shown)\n" % path
        entry["after"] = "(secret content of %s changed, not shown)\n" % path
        return entry
    texts = [data is None or (len(data) <= DIFF_MAX_BYTES and _is_text(data)) for data in (before, after)]
    if all(texts):
        entry["before"] = "" if before is None else before.decode("utf-8")
        entry["after"] = after.decode("utf-8")
    else:
        entry["before"] = "" if before is None else "(binary or large file, %d bytes)\n" % len(before)
        entry["after"] = "(binary or large file, %d bytes, content changed)\n" % len(after)
    return entry


def _attribute_diff(path, diff):
    """A diff entry from the ``before``/``after`` dicts set_fs_attributes_if_different filled."""
    keys = sorted(k for k in set(diff["before"]) | set(diff["after"]) if k != "path")
    if not keys:
        return None
    return {
        "before_header": "%s (attributes)" % path,
        "after_header": "%s (attributes)" % path,
        "before": "".join("%s: %s\n" % (k, diff["before"].get(k, "")) for k in keys),
        "after": "".join("%s: %s\n" % (k, diff["after"].get(k, "")) for k in keys),
    }


def _manage_directory(entry, ops, report):
    path = entry["path"]
    kind, _data = _read(path)
    if kind not in ("absent", "directory"):
        raise ManagedFilesError("%s exists and is not a directory (%s)" % (path, kind))
    changed = False
    if kind == "absent":
        report["diff"].append({"before_header": path, "after_header": path,
                               "before": "absent\n", "after": "directory\n"})
        changed = True
        if not ops.check_mode:
            ops.make_directory(path)
    if kind == "directory" or not ops.check_mode:
        attr_diff = {"before": {}, "after": {}}
        if ops.set_attributes(entry, False, attr_diff):
            changed = True
            if kind == "directory":
                found = _attribute_diff(path, attr_diff)
                if found:
                    report["diff"].append(found)
    return changed


def _manage_file(entry, ops, report):
    path = entry["path"]
    data = entry["content"]
    secret = entry.get("secret", False)
    kind, before = _read(path)
    if kind in ("directory", "other"):
        raise ManagedFilesError("%s exists and is not a regular file (%s)" % (path, kind))
    new_file = kind != "file"
    if kind == "link":
        # The link itself is replaced by the file (as ansible.builtin.copy does by default).
        report["diff"].append({"before_header": path, "after_header": path,
                               "before": "symbolic link\n", "after": "regular file\n"})
    content_changed = new_file or before != data
    if content_changed and kind != "link":
        report["diff"].append(content_diff(path, before, data, secret=secret))
    if content_changed and not ops.check_mode:
        if entry.get("validate"):
            ops.validate(entry["validate"], data, path)
        if not new_file:
            # Give the old file the wanted owner and mode first: atomic_move passes them on to
            # the new content, which is then never readable by more than it should be.
            ops.set_attributes(entry, False, {"before": {}, "after": {}})
        ops.write(path, data, new_file)
    attributes_changed = False
    if not (new_file and ops.check_mode):
        attr_diff = {"before": {}, "after": {}}
        attributes_changed = ops.set_attributes(entry, False, attr_diff)
        if attributes_changed and not new_file:
            found = _attribute_diff(path, attr_diff)
            if found:
                report["diff"].append(found)
    return content_changed or attributes_changed


def manage(entries, ops):
    """Bring every entry to its wanted state (see the module docstring); return the report."""
    report = {"changed": False, "changed_paths": [], "created_paths": [], "diff": []}
    for entry in entries:
        if _read(entry["path"])[0] in ("absent", "link"):
            report["created_paths"].append(entry["path"])
        if entry.get("state", "file") == "directory":
            changed = _manage_directory(entry, ops, report)
        else:
            changed = _manage_file(entry, ops, report)
        if changed:
            report["changed"] = True
            report["changed_paths"].append(entry["path"])
    return report


def check_entries(entries):
    """Problems of the entries (a list of messages; empty when they are usable)."""
    problems = []
    seen = set()
    for index, entry in enumerate(entries):
        path = entry.get("path") or ""
        where = "files[%d] (%s)" % (index, path) if path else "files[%d]" % index
        if not path or not os.path.isabs(path):
            problems.append("%s: path must be an absolute path" % where)
        elif os.path.normpath(path) in seen:
            problems.append("%s: the path is listed twice" % where)
        else:
            seen.add(os.path.normpath(path))
        state = entry.get("state", "file")
        sources = [key for key in ("content", "content_base64", "src", "template") if entry.get(key) is not None]
        if state == "directory" and sources:
            problems.append("%s: a directory takes no %s" % (where, sources[0]))
        if state == "directory" and entry.get("validate"):
            problems.append("%s: a directory takes no validate" % where)
        if state == "file" and len(sources) != 1:
            problems.append("%s: a file needs exactly one of content, content_base64, src or template" % where)
        if entry.get("validate") and "%s" not in entry["validate"]:
            problems.append("%s: validate must contain %%s (the file to check)" % where)
    return problems


class ModuleOps:
    """The node operations of :func:`manage`, done by an ``AnsibleModule``'s own file handling."""

    def __init__(self, module):
        self.module = module
        self.check_mode = module.check_mode

    def _file_args(self, entry):
        wanted = {key: entry.get(key) for key in ("mode", "owner", "group")}
        return self.module.load_file_common_arguments(wanted, path=entry["path"])

    def set_attributes(self, entry, changed, diff):
        try:
            return self.module.set_fs_attributes_if_different(self._file_args(entry), changed, diff=diff)
        except Exception as err:  # AnsibleModule raises plain exceptions (or fails itself)
            raise ManagedFilesError("cannot set the owner or mode of %s: %s" % (entry["path"], reason(err))) from None

    def make_directory(self, path):
        try:
            os.makedirs(path, mode=0o755, exist_ok=True)
        except OSError as err:
            raise ManagedFilesError("cannot create %s: %s" % (path, err.strerror or err)) from None

    def _temporary(self, path, data):
        directory = os.path.dirname(path)
        try:
            fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as err:
            raise ManagedFilesError("cannot write %s: %s" % (path, err.strerror or err)) from None
        return tmp

    def validate(self, command, data, path):
        tmp = self._temporary(path, data)
        try:
            rc, out, err = self.module.run_command(command % tmp)
        finally:
            _unlink_quietly(tmp)
        if rc != 0:
            raise ManagedFilesError("the new %s did not pass %s (rc %d): %s"
                                    % (path, command.split()[0], rc, (err or out).strip()))

    def write(self, path, data, new_file):
        tmp = self._temporary(path, data)
        # atomic_move gives a file it creates mode 0666 & ~umask: a new file stays private until
        # its mode is set (an existing file passes its attributes, already set, to the new one).
        umask = os.umask(0o077) if new_file else None
        try:
            self.module.atomic_move(tmp, path, unsafe_writes=False)
        except Exception as err:
            _unlink_quietly(tmp)
            raise ManagedFilesError("cannot write %s: %s" % (path, reason(err))) from None
        finally:
            if umask is not None:
                os.umask(umask)


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass
