"""The execution environment: what hapair.ha declares to ansible-builder, and the build context of
the image execution-environment.yml defines.

`make ee` builds the collection's artifact and writes the build context into build/ee
(`ansible-builder create`) before it runs these tests; no image is built here (no registry).
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from bindep.depends import Depends
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONTEXT = ROOT / "build" / "ee"
COLLECTION_META = ROOT / "meta" / "execution-environment.yml"
DEFINITION = ROOT / "execution-environment.yml"
VERSION = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
ARTIFACT = ROOT / "build" / f"hapair-ha-{VERSION}.tar.gz"

# Where each third-party module the plugins import comes from (PyPI name).
DISTRIBUTION_OF = {"boto3": "boto3", "botocore": "botocore", "netaddr": "netaddr"}
TEST_ONLY = {"molecule", "pytest", "moto", "ansible-lint", "antsibull-changelog", "antsibull-docs",
             "ansible-builder", "sphinx", "pyyaml"}


def _lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def _collection_dependency(entry: str) -> Path:
    # ansible-builder reads a collection's dependency files relative to the collection's root
    return ROOT / yaml.safe_load(COLLECTION_META.read_text())["dependencies"][entry]


def _requirements() -> list[Requirement]:
    return [Requirement(ln) for ln in _lines(_collection_dependency("python"))]


def _third_party_imports() -> set[str]:
    found = set()
    for path in (ROOT / "plugins").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("ansible", "ansible_collections", "__future__"):
                    found.add(top)
    return found


def _introspect(collections_path: Path) -> dict:
    run = subprocess.run([BIN / "ansible-builder", "introspect", "--sanitize", str(collections_path)],
                         capture_output=True, text=True, check=True)
    return yaml.safe_load(run.stdout)


def test_collection_declares_its_dependency_files():
    meta = yaml.safe_load(COLLECTION_META.read_text())
    assert meta["version"] == 3
    assert meta["dependencies"] == {"python": "meta/ee-requirements.txt", "system": "meta/ee-bindep.txt"}


def test_python_requirements_are_what_the_plugins_import():
    names = {req.name.lower() for req in _requirements()}
    imported = _third_party_imports()
    assert imported <= set(DISTRIBUTION_OF), f"plugins import {imported - set(DISTRIBUTION_OF)}: map it to its PyPI name"
    assert names == {DISTRIBUTION_OF[m] for m in imported}


def test_python_requirements_have_lower_bounds_and_no_pins():
    for req in _requirements():
        operators = {spec.operator for spec in req.specifier}
        assert operators == {">="}, f"{req}: a lower bound (>=) only, no pin or upper bound"
        assert req.name.lower() not in TEST_ONLY, f"{req.name} is a development tool, not a runtime dependency"


def test_bindep_file_is_valid():
    # bindep's own parser (what ansible-builder's assemble script runs in the image)
    Depends(_collection_dependency("system").read_text())


def _installed_artifact(tmp_path: Path) -> Path:
    assert ARTIFACT.exists(), f"{ARTIFACT.name} is missing: `make ee` builds it"
    subprocess.run([BIN / "ansible-galaxy", "collection", "install", "--offline", "--no-deps",
                    "--force",  # the checkout is already installed in .venv/collections: install anyway
                    "-p", str(tmp_path), str(ARTIFACT)], capture_output=True, text=True, check=True)
    return tmp_path


@pytest.mark.parametrize("where", ["artifact", "checkout"])
def test_introspect_lists_exactly_the_collection_requirements(where, tmp_path):
    # the artifact as an image installs it, and the checkout as `make setup` links it
    path = _installed_artifact(tmp_path) if where == "artifact" else ROOT / ".venv" / "collections"
    found = _introspect(path)
    ours = [entry.split("#")[0].strip() for entry in found["python"] if entry.endswith("from collection hapair.ha")]
    assert ours == _lines(_collection_dependency("python"))
    assert [e for e in found["system"] if e.endswith("from collection hapair.ha")] == [
        f"{ln}  # from collection hapair.ha" for ln in _lines(_collection_dependency("system"))]


# ---- the image's build context (build/ee) ----------------------------------------------------

@pytest.fixture(scope="module")
def definition():
    assert (CONTEXT / "Containerfile").exists(), "no build context in build/ee: run `make ee`"
    return yaml.safe_load(DEFINITION.read_text())


def test_context_has_a_containerfile_from_the_base_image(definition):
    containerfile = (CONTEXT / "Containerfile").read_text()
    assert f'ARG EE_BASE_IMAGE="{definition["images"]["base_image"]["name"]}"' in containerfile
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile
    assert "introspect.py introspect --user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile


def test_context_carries_the_collection_dependency_files(definition):
    # the definition points at the same files the collection declares (paths relative to itself)
    for entry in ("python", "system"):
        assert (DEFINITION.parent / definition["dependencies"][entry]).resolve() == _collection_dependency(entry)
    assert (CONTEXT / "_build" / "requirements.txt").read_text() == _collection_dependency("python").read_text()
    assert (CONTEXT / "_build" / "bindep.txt").read_text() == _collection_dependency("system").read_text()


def test_context_installs_the_collection_artifact(definition):
    galaxy = yaml.safe_load((CONTEXT / "_build" / "requirements.yml").read_text())
    assert galaxy["collections"] == definition["dependencies"]["galaxy"]["collections"]
    files = [c["name"] for c in galaxy["collections"] if c.get("type") == "file"]
    assert len(files) == 1
    # the Containerfile installs requirements.yml from /build, where _build is copied
    with tarfile.open(CONTEXT / "_build" / files[0]) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == ("hapair", "ha", VERSION)
    assert os.path.getsize(CONTEXT / "_build" / files[0]) == ARTIFACT.stat().st_size
