"""extensions/awx/job_templates.yml (AWX job templates as code, an example not run here) parses.

`ansible-playbook --syntax-check` resolves every module, so it needs awx.awx. Galaxy is not
reachable here, but the community package `ansible` from PyPI (requirements.txt) carries awx.awx
in its ansible_collections; the check runs with ANSIBLE_COLLECTIONS_PATH pointing there and is
skipped, saying why, when no awx.awx is found.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AWX = ROOT / "extensions" / "awx"
JOB_TEMPLATES = AWX / "job_templates.yml"


def awx_collection_root() -> Path | None:
    """A directory holding ansible_collections/awx/awx (ANSIBLE_COLLECTIONS_PATH, the ansible package)."""
    candidates = [Path(p) for p in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if p]
    spec = importlib.util.find_spec("ansible_collections")
    if spec and spec.submodule_search_locations:
        candidates += [Path(p).parent for p in spec.submodule_search_locations]
    candidates.append(Path.home() / ".ansible" / "collections")
    for root in candidates:
        if (root / "ansible_collections" / "awx" / "awx" / "plugins" / "modules" / "job_template.py").is_file():
            return root
    return None


def syntax_check(playbook: Path) -> subprocess.CompletedProcess:
    root = awx_collection_root()
    if root is None:
        pytest.skip("awx.awx is not installed: install the `ansible` package from PyPI (it carries awx.awx) "
                    "or `ansible-galaxy collection install awx.awx`, or set ANSIBLE_COLLECTIONS_PATH")
    binary = Path(sys.executable).parent / "ansible-playbook"
    if not binary.exists():
        found = shutil.which("ansible-playbook")
        if not found:
            pytest.skip("ansible-playbook is not installed")
        binary = Path(found)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(root))
    return subprocess.run([str(binary), "--syntax-check", "-i", "localhost,", str(playbook)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_job_templates_pass_syntax_check():
    result = syntax_check(JOB_TEMPLATES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_syntax_check_fails_on_a_module_awx_awx_does_not_have(tmp_path):
    broken = tmp_path / "job_templates.yml"
    broken.write_text(JOB_TEMPLATES.read_text().replace("awx.awx.job_template:", "awx.awx.job_templat:"))
    assert broken.read_text() != JOB_TEMPLATES.read_text()
    result = syntax_check(broken)
    assert result.returncode != 0
    assert "awx.awx.job_templat" in result.stdout + result.stderr


def test_one_job_template_per_playbook_with_its_survey():
    play = yaml.safe_load(JOB_TEMPLATES.read_text())[0]
    templates = play["vars"]["__hapair_awx_job_templates"]
    playbooks = {p.stem for p in (ROOT / "playbooks").glob("*.yml")}
    named = [t["playbook"] for t in templates]
    assert len(named) == len(set(named)), "a playbook has two job templates"
    assert set(named) == playbooks, f"missing: {playbooks - set(named)}, unknown: {set(named) - playbooks}"
    for name in named:
        assert (AWX / "surveys" / f"{name}.json").is_file(), f"no survey for {name}"
    assert "NOT RUN HERE" in JOB_TEMPLATES.read_text().split("\n- name:")[0]
