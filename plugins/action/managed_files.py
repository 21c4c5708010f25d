# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``hapair.ha.managed_files``: reads ``src`` files and renders ``template``
entries on the controller, then runs the module once with every content (base64) in it."""

from __future__ import annotations

import base64

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.hapair.ha.plugins.module_utils.files.managed import check_entries

MODULE = "hapair.ha.managed_files"
ENTRY_KEYS = frozenset(("path", "state", "content", "content_base64", "src", "template", "mode", "owner", "group", "secret", "validate"))
SENT_KEYS = ("path", "state", "mode", "owner", "group", "secret", "validate")


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("files",))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        files = self._task.args.get("files")
        if not isinstance(files, list) or not all(isinstance(entry, dict) for entry in files):
            raise AnsibleActionFail("Failed to install the files: files must be a list of dicts")
        problems = []
        for index, entry in enumerate(files):
            unknown = sorted(set(entry) - ENTRY_KEYS)
            if unknown:
                problems.append("files[%d]: unknown key(s) %s" % (index, ", ".join(unknown)))
        problems += check_entries(files)
        if problems:
            raise AnsibleActionFail("Failed to install the files: " + "; ".join(problems))

        sent = [self._prepare(entry, task_vars) for entry in files]
        result.update(self._execute_module(module_name=MODULE, module_args={"files": sent}, task_vars=task_vars))
        # The module echoes its arguments (every content, base64): show the task's own instead,
        # without the text of a secret entry.
        if "invocation" in result:
            result["invocation"] = {"module_args": {"files": [
                _masked(entry) if _secret(entry) else entry
                for entry in files]}}
        return result

    def _prepare(self, entry, task_vars):
        out = {key: entry[key] for key in SENT_KEYS if entry.get(key) is not None}
        if entry.get("state", "file") == "directory":
            return out
        if entry.get("content_base64") is not None:
            out["content_base64"] = entry["content_base64"]
            return out
        if entry.get("content") is not None:
            data = to_bytes(entry["content"], errors="surrogate_or_strict")
        elif entry.get("src") is not None:
            data = self._read_src(entry)
        else:
            data = to_bytes(self._render(entry, task_vars), errors="surrogate_or_strict")
        out["content_base64"] = to_text(base64.b64encode(data))
        return out

    def _read_src(self, entry):
        try:
            source = self._find_needle("files", entry["src"])
            with open(to_bytes(source, errors="surrogate_or_strict"), "rb") as handle:
                return handle.read()
        except (AnsibleError, OSError) as err:
            raise AnsibleActionFail("Failed to install the files: cannot read %s for %s: %s"
                                    % (entry["src"], entry["path"], to_text(err))) from None

    def _render(self, entry, task_vars):
        """The template rendered as ansible.builtin.template's lookup does (same search path and
        template variables, ansible_managed included)."""
        lookup = self._shared_loader_obj.lookup_loader.get("ansible.builtin.template", loader=self._loader, templar=self._templar)
        try:
            return lookup.run([entry["template"]], variables=task_vars)[0]
        except AnsibleError as err:
            if _secret(entry):
                raise AnsibleActionFail("Failed to install the files: cannot render %s for %s (details not shown: secret)"
                                        % (entry["template"], entry["path"])) from None
            raise AnsibleActionFail("Failed to install the files: cannot render %s for %s: %s"
                                    % (entry["template"], entry["path"], to_text(err))) from None


def _secret(entry):
    return boolean(entry.get("secret", False), strict=False)


def _masked(entry):
    return {key: "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" if key in ("content", "content_base64") and value is not None else value
            for key, value in entry.items()}
