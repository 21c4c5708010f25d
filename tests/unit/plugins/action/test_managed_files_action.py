"""The action plugin of hapair.ha.managed_files: src and template resolved on the controller,
one module call, secrets kept out of the echoed arguments."""

from __future__ import annotations

import base64
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.hapair.ha.plugins.action.managed_files import ActionModule


class FakeTemplateLookup:
    """ansible.builtin.template's lookup as the action calls it (the real one needs Ansible's
    plugin loader, which the lab tests run): renders with jinja2, records the call."""

    def __init__(self, calls):
        self.calls = calls

    def run(self, terms, variables):
        import jinja2

        self.calls.append((terms, variables))
        path = Path(variables["ansible_search_path"][0]) / "templates" / terms[0]
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        env.filters["comment"] = lambda text: "#\n# %s\n#" % text
        try:
            return [env.from_string(path.read_text()).render(ansible_managed="Ansible managed", **variables)]
        except jinja2.UndefinedError as err:
            raise AnsibleError(str(err)) from None


def make_action(tmp_path, files):
    loader = DataLoader()
    loader.set_basedir(str(tmp_path))
    task = MagicMock()
    task.args = {"files": files}
    task.async_val = 0
    task.check_mode = False
    task.diff = False
    task.get_search_path.return_value = [str(tmp_path)]
    shared = MagicMock()
    shared.lookup_loader.get.return_value = FakeTemplateLookup([])
    action = ActionModule(task, MagicMock(), MagicMock(), loader, Templar(loader=loader), shared)
    action._shared_loader_obj = shared  # ActionBase always takes ansible.plugins.loader
    action._execute_module = MagicMock(return_value={
        "changed": True, "changed_paths": [], "invocation": {"module_args": {"files": "lots of base64"}}})
    return action


@pytest.fixture()
def play_dir(tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "helper").write_bytes(b"#!/bin/sh\nexit 0\n")
    (tmp_path / "files" / "blob").write_bytes(b"\x00\xff\x01")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "app.conf.j2").write_text("{{ ansible_managed | comment }}\nport {{ app_port }}\n")
    return tmp_path


def sent_files(action):
    (call,) = action._execute_module.call_args_list
    assert call.kwargs["module_name"] == "hapair.ha.managed_files"
    return call.kwargs["module_args"]["files"]


def decoded(entry):
    return base64.b64decode(entry["content_base64"])


def test_one_module_call_with_every_content(play_dir):
    files = [
        {"path": "/etc/app", "state": "directory", "mode": "0755"},
        {"path": "/etc/app/helper", "src": "helper", "mode": "0755", "owner": "root"},
        {"path": "/etc/app/blob", "src": str(play_dir / "files" / "blob")},
        {"path": "/etc/app/app.conf", "template": "app.conf.j2", "validate": "check %s"},
        {"path": "/etc/app/secret", "content": "s3cret\n", "secret": True, "mode": "0600"},
        {"path": "/etc/app/slurped", "content_base64": base64.b64encode(b"t0ken").decode(), "secret": "True"},
    ]
    action = make_action(play_dir, files)
    task_vars = {"app_port": 8080, "ansible_search_path": [str(play_dir)]}
    result = action.run(task_vars=task_vars)
    sent = sent_files(action)
    assert sent[0] == {"path": "/etc/app", "state": "directory", "mode": "0755"}
    assert decoded(sent[1]) == b"#!/bin/sh\nexit 0\n" and sent[1]["owner"] == "root" and "src" not in sent[1]
    assert decoded(sent[2]) == b"\x00\xff\x01"
    assert decoded(sent[3]).endswith(b"port 8080\n") and b"Ansible managed" in decoded(sent[3])
    assert sent[3]["validate"] == "check %s" and "template" not in sent[3]
    action._shared_loader_obj.lookup_loader.get.assert_called_with(
        "ansible.builtin.template", loader=action._loader, templar=action._templar)
    assert decoded(sent[4]) == b"s3cret\n" and sent[4]["secret"] is True
    assert decoded(sent[5]) == b"t0ken"
    # the echoed arguments are the task's, with the secret masked
    echoed = result["invocation"]["module_args"]["files"]
    assert echoed[1]["src"] == "helper" and "s3cret" not in repr(echoed)
    assert echoed[5]["content_base64"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_bad_entries_fail_before_any_module_call(play_dir):
    action = make_action(play_dir, [{"path": "/a", "content": "x", "colour": "red"}, {"path": "b"}])
    with pytest.raises(AnsibleActionFail) as err:
        action.run(task_vars={})
    assert "files[0]: unknown key(s) colour" in str(err.value)
    assert "files[1] (b): path must be an absolute path" in str(err.value)
    action._execute_module.assert_not_called()


def test_missing_src_names_the_entry(play_dir):
    action = make_action(play_dir, [{"path": "/etc/x", "src": "nope"}])
    with pytest.raises(AnsibleActionFail, match="cannot read nope for /etc/x"):
        action.run(task_vars={"ansible_search_path": [str(play_dir)]})
    action._execute_module.assert_not_called()


def test_secret_template_error_hides_the_details(play_dir):
    (play_dir / "templates" / "bad.j2").write_text("{{ undefined_secret_var }}")
    action = make_action(play_dir, [{"path": "/etc/x", "template": "bad.j2", "secret": True}])
    with pytest.raises(AnsibleActionFail) as err:
        action.run(task_vars={"ansible_search_path": [str(play_dir)]})
    assert "details not shown" in str(err.value) and "undefined_secret_var" not in str(err.value)


def test_files_must_be_a_list():
    action = make_action(".", "not a list")
    with pytest.raises(AnsibleActionFail, match="files must be a list of dicts"):
        action.run(task_vars={})
