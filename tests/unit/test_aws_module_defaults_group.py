"""One `module_defaults` entry for group/hapair.ha.aws reaches amazon.aws's modules and hapair.ha's.

ansible-playbook runs a localhost play whose only defaults are `group/hapair.ha.aws` with a profile
that does not exist: each module fails naming that profile, before any request is sent (no network),
which shows the defaults reached it. Without the entry neither would know the profile.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROFILE = "hapair-test-no-such-profile"

PLAY = [{
    "name": "One connection block for both collections",
    "hosts": "localhost",
    "gather_facts": False,
    "module_defaults": {"group/hapair.ha.aws": {"region": "eu-west-1", "profile": PROFILE}},
    "tasks": [
        {"name": "amazon.aws module", "amazon.aws.ec2_vpc_route_table_info": {}, "register": "amazon",
         "ignore_errors": True},
        {"name": "hapair.ha module", "hapair.ha.drill_routes_info": {
            "vip": "10.1.0.10", "vpc_id": "vpc-0123456789abcdef0",
            "network_interface_id": "eni-0123456789abcdef0", "timeout": 0},
         "register": "hapair", "ignore_errors": True},
        {"name": "Results", "ansible.builtin.copy": {
            "content": "{{ {'amazon': amazon.msg | default(''), 'hapair': hapair.msg | default('')} | to_json }}",
            "dest": "{{ result_file }}", "mode": "0600"}},
    ],
}]


def test_group_hapair_ha_aws_sets_amazon_aws_and_hapair_ha_modules(tmp_path):
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    assert runtime["action_groups"]["aws"][0] == {"metadata": {"extend_group": ["amazon.aws.aws"]}}

    binary = Path(sys.executable).parent / "ansible-playbook"
    if not binary.exists():
        pytest.skip("ansible-playbook is not installed beside this Python")
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(PLAY))
    result_file = tmp_path / "result.json"
    env = dict(os.environ, AWS_CONFIG_FILE=str(tmp_path / "no-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY", "AWS_SECRET_KEY"):
        env.pop(name, None)
    run = subprocess.run([str(binary), "-i", "localhost,", "-c", "local", str(playbook),
                          "-e", f"result_file={result_file}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    messages = json.loads(result_file.read_text())
    assert PROFILE in messages["amazon"], messages
    assert PROFILE in messages["hapair"], messages
