"""Run a module's main() in-process, as Ansible runs it on a node: its arguments patched in, its
exit caught, its JSON result read from stdout. (This directory is on sys.path: pytest puts a
conftest's directory there when it is not a package.)"""
from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args


def run_main(capsys, main, args: dict) -> tuple[int, dict, str]:
    """(exit code, result, raw stdout) of ``main()`` with module arguments ``args``."""
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            main()
    output = capsys.readouterr().out
    return exit_info.value.code, json.loads(output), output
