"""collections/requirements.yml: what AWX installs for the project's jobs. It names every
collection the collection depends on, with galaxy.yml's lower bounds, and every collection the
playbooks, roles and plugins use besides hapair.ha and ansible.builtin; the collections the jobs
of this package find (the `ansible` package of the venv, Galaxy being unreachable) meet them."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from ansible.module_utils.compat.version import LooseVersion

from tests.lab.lab import REPO

REQUIREMENTS = REPO / "collections" / "requirements.yml"


def requirements() -> dict[str, str]:
    return {c["name"]: c["version"] for c in yaml.safe_load(REQUIREMENTS.read_text())["collections"]}


def test_requirements_match_galaxy_dependencies():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert requirements() == galaxy["dependencies"]


def test_every_collection_used_is_required():
    """FQCNs in the playbooks' and roles' YAML, ansible_collections imports in the plugins."""
    fqcn = re.compile(r"^[\s-]*([a-z_0-9]+\.[a-z_0-9]+)\.[a-z_0-9]+:", re.M)
    group = re.compile(r"group/([a-z_0-9]+\.[a-z_0-9]+)\.")
    imports = re.compile(r"ansible_collections\.([a-z_0-9]+\.[a-z_0-9]+)\.")
    used = set()
    for path in [*(REPO / "playbooks").rglob("*.yml"), *(REPO / "roles").rglob("*.yml")]:
        text = path.read_text()
        used.update(fqcn.findall(text) + group.findall(text))
    for path in (REPO / "plugins").rglob("*.py"):
        used.update(imports.findall(path.read_text()))
    used -= {"ansible.builtin", "ansible.legacy", "hapair.ha"}
    assert "amazon.aws" in used  # the search finds what is there
    assert used <= set(requirements()), f"used but not in {REQUIREMENTS.name}: {sorted(used - set(requirements()))}"


def test_installed_collections_meet_the_bounds():
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-galaxy"), "collection", "list", "--format", "yaml"],
                         capture_output=True, text=True, check=True).stdout
    found = {}
    for _path, cols in (yaml.safe_load(out) or {}).items():
        for name, info in cols.items():
            found.setdefault(name, info["version"])
    for name, spec in requirements().items():
        bound = spec.removeprefix(">=")
        assert name in found, f"{name} is not installed"
        assert LooseVersion(found[name]) >= LooseVersion(bound), f"{name} {found[name]} < {bound}"
