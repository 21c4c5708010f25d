#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: managed_files
version_added: 0.1.0
short_description: Install a set of files and directories in one task, with check mode and diff
description:
  - Brings a list of directories and files (content, owner, group, mode) to their wanted state in
    one module run; each path is compared with what is wanted, and only what differs is written
    (atomically, through a temporary file in the same directory) or has its attributes set.
  - The file contents come from the controller. The action plugin of the same name reads
    O(files[].src) from the role's or play's C(files/) directory and renders O(files[].template)
    from C(templates/) with the task's variables, as M(ansible.builtin.copy) and
    M(ansible.builtin.template) do, and sends everything in one module call. A task that changes
    nothing costs one round trip whatever the number of files.
  - In check mode nothing is changed; the result says what would change. With C(--diff) every
    changed file shows its old and new content; binary files and files over 64 KiB are summarised,
    and a file marked O(files[].secret) shows only that its content changed.
  - The entries are handled in the given order; list a directory before the files in it.
author:
  - hapair.ha contributors (@hapair)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
    details:
      - The action plugin reads O(files[].src) and renders O(files[].template) on the controller.
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - A file marked O(files[].secret) shows only that its content changed.
  platform:
    platforms: posix
  safe_file_operations:
    description: Uses Ansible's strict file operation functions to ensure proper permissions and avoid data corruption.
    support: full
options:
  files:
    description:
      - The directories and files, in the order they are handled.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description:
          - Absolute path of the file or directory on the node.
        type: path
        required: true
      state:
        description:
          - V(file) writes a regular file (a symbolic link at O(files[].path) is replaced),
            V(directory) creates a directory (and missing parents, mode 0755).
          - An existing path of the other type is an error; nothing is removed.
        type: str
        choices: [file, directory]
        default: file
      content:
        description:
          - The text of the file. Exactly one of O(files[].content), O(files[].content_base64),
            O(files[].src) and O(files[].template) is needed for a file.
        type: str
      src:
        description:
          - A file on the controller, looked up like the O(ansible.builtin.copy#module:src) of
            M(ansible.builtin.copy) (the role's C(files/) directory first, or an absolute path). Read
            by the action plugin.
        type: str
      template:
        description:
          - A Jinja2 template on the controller, looked up like the O(ansible.builtin.template#module:src) of
            M(ansible.builtin.template) and rendered with the task's variables (and C(ansible_managed)). Rendered by
            the action plugin.
        type: str
      content_base64:
        description:
          - The content as base64, e.g. what M(ansible.builtin.slurp) read from another node (a
            binary file needs no decoding on the controller). The action plugin sends every
            content to the module this way.
        type: str
      mode:
        description:
          - The permissions, as an octal string such as V('0644') (or a symbolic mode, as
            M(ansible.builtin.file) takes). Not set means the mode is left as it is (a new file
            gets 0600, a new directory 0755).
        type: raw
      owner:
        description:
          - The owner (name or id). Not set means left as it is.
        type: str
      group:
        description:
          - The group (name or id). Not set means left as it is.
        type: str
      secret:
        description:
          - The content is a secret; the diff shows only that it changed, never the text, and it is
            masked in the module's output.
          - Set O(files[].mode) (e.g. V('0600')) as well; a new secret file is not readable by
            others while it is written.
        type: bool
        default: false
      validate:
        description:
          - A command that checks the new content before it replaces the file; C(%s) is the path
            of a temporary copy. A non-zero exit fails the task and leaves the file as it was.
          - Not run in check mode.
        type: str
notes:
  - The attributes are set with Ansible's common file handling, so SELinux contexts of existing
    files are kept and new files get the default context of their directory.
  - Nothing is ever removed; a file that is no longer wanted must be removed with M(ansible.builtin.file).
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.template
"""

EXAMPLES = r"""
- name: Install a helper, its settings and its secret in one task
  hapair.ha.managed_files:
    files:
      - path: /usr/local/libexec/hapair
        state: directory
        owner: root
        group: root
        mode: "0755"
      - path: /usr/local/libexec/hapair/my-helper
        src: my-helper
        owner: root
        group: root
        mode: "0755"
      - path: /etc/my-helper.conf
        template: my-helper.conf.j2
        owner: root
        group: root
        mode: "0644"
        validate: /usr/local/libexec/hapair/my-helper --test %s
      - path: /etc/my-helper.secret
        content: "{{ my_helper_token }}\n"
        owner: root
        group: root
        mode: "0600"
        secret: true
  register: my_helper_files
  notify: my helper files changed

- name: Restart the helper only when its settings changed
  ansible.builtin.debug:
    msg: "{{ my_helper_files.changed_paths }}"
  when: "'/etc/my-helper.conf' in my_helper_files.changed_paths"
"""

RETURN = r"""
changed_paths:
  description:
    - The paths that were (in check mode, would be) created, written or given other attributes,
      in the order of O(files).
  returned: always
  type: list
  elements: str
  sample: [/etc/my-helper.conf]
created_paths:
  description:
    - The paths among RV(changed_paths) that did not exist before (or were a symbolic link); in
      check mode, that would be created.
  returned: always
  type: list
  elements: str
  sample: [/usr/local/libexec/hapair/my-helper]
diff:
  description:
    - One entry per change (content, attributes, a new directory) with C(before_header),
      C(after_header), C(before) and C(after), as the C(--diff) output prints them.
  returned: when diff mode is on
  type: list
  elements: dict
  sample:
    - before_header: /etc/my-helper.conf
      after_header: /etc/my-helper.conf
      before: "interval 1\n"
      after: "interval 2\n"
"""

import base64

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hapair.ha.plugins.module_utils.common.results import finish

from ansible_collections.hapair.ha.plugins.module_utils.files.managed import (
    ManagedFilesError,
    ModuleOps,
    check_entries,
    manage,
)

ENTRY_SPEC = dict(
    path=dict(type="path", required=True),
    state=dict(type="str", choices=["file", "directory"], default="file"),
    content=dict(type="str"),
    src=dict(type="str"),
    template=dict(type="str"),
    content_base64=dict(type="str"),
    mode=dict(type="raw"),
    owner=dict(type="str"),
    group=dict(type="str"),
    secret=dict(type="bool", default=False),
    validate=dict(type="str"),
)

ARGSPEC = dict(files=dict(type="list", elements="dict", required=True, options=ENTRY_SPEC))


def _resolved(entry):
    """The entry with its content as bytes (the action plugin sends content_base64)."""
    out = dict(entry)
    if entry["state"] == "file":
        if entry.get("content_base64") is not None:
            out["content"] = base64.b64decode(entry["content_base64"])
        elif entry.get("content") is not None:
            out["content"] = entry["content"].encode("utf-8")
        else:
            raise ManagedFilesError("%s: src and template are read by the action plugin (no content arrived)" % entry["path"])
    return out


def main():
    module = AnsibleModule(argument_spec=ARGSPEC, supports_check_mode=True)
    entries = module.params["files"]
    for entry in entries:
        if entry["secret"]:
            for key in ("content", "content_base64"):
                if entry.get(key):
                    module.no_log_values.add(entry[key])
    problems = check_entries(entries)
    if problems:
        module.fail_json(msg="Failed to install the files: " + "; ".join(problems), changed_paths=[])
    try:
        report = manage([_resolved(entry) for entry in entries], ModuleOps(module))
    except ManagedFilesError as err:
        module.fail_json(msg="Failed to install the files: %s" % err)
    finish(module, report)


if __name__ == "__main__":
    main()
