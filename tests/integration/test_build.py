"""The collection artifact: clean, installable, documented (no lab needed)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FORBIDDEN = ("tests/", "extensions/molecule/", "inventories/lab/", ".venv/", "build/", ".ci/", ".git/", "Makefile")


def run(*cmd, cwd=ROOT, env=None):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, env=env, check=False)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    run(BIN / "ansible-galaxy", "collection", "build", "--force", "--output-path", out)
    meta = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    tarball = out / f"{meta['namespace']}-{meta['name']}-{meta['version']}.tar.gz"
    assert tarball.exists()
    return tarball


def test_artifact_holds_no_tests_lab_or_venv(artifact):
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
    assert "plugins" in names and "roles" in names and "meta/runtime.yml" in names
    assert "extensions/awx/job_templates.yml" in names and "extensions/awx/surveys/ghe_failover.json" in names
    leaked = [n for n in names if n.startswith(FORBIDDEN) or "__pycache__" in n or n.endswith(".pyc")]
    assert not leaked, leaked
    manifest = json.loads(tarfile.open(artifact).extractfile("MANIFEST.json").read())
    assert manifest["collection_info"]["dependencies"].keys() >= {"amazon.aws", "ansible.posix"}


def test_installed_artifact_documents_every_module_and_role(artifact, tmp_path):
    target = tmp_path / "collections"
    # only the fresh path is configured, so nothing else on the machine can stand in for it
    empty_cfg = tmp_path / "ansible.cfg"
    empty_cfg.write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(target), ANSIBLE_CONFIG=str(empty_cfg))
    run(BIN / "ansible-galaxy", "collection", "install", "--force", "--no-deps", "-p", target, artifact, cwd=tmp_path, env=env)
    installed = target / "ansible_collections" / "hapair" / "ha"
    modules = sorted(p.stem for p in (installed / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
    roles = sorted(p.name for p in (installed / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())
    assert roles, "no role with argument_specs was installed"
    listed = json.loads(run(BIN / "ansible-doc", "-t", "module", "-l", "hapair.ha", "-j", cwd=tmp_path, env=env))
    assert sorted(k.split(".")[-1] for k in listed) == modules
    # one ansible-doc process for all modules and one for all roles (each process costs seconds)
    docs = json.loads(run(BIN / "ansible-doc", "-j", *(f"hapair.ha.{m}" for m in modules), cwd=tmp_path, env=env))
    assert sorted(docs) == [f"hapair.ha.{m}" for m in modules]
    for module in modules:
        entry = docs[f"hapair.ha.{module}"]
        assert entry["doc"]["short_description"] and entry["examples"].strip() and entry["return"], module
    docs = json.loads(run(BIN / "ansible-doc", "-t", "role", "-j", *(f"hapair.ha.{r}" for r in roles),
                          cwd=tmp_path, env=env))
    assert sorted(docs) == [f"hapair.ha.{r}" for r in roles]
    for role in roles:
        main = docs[f"hapair.ha.{role}"]["entry_points"]["main"]
        assert main["short_description"] and all(name.startswith(role + "_") for name in main["options"]), role
