"""Every role follows the collection's conventions (see ../shared/CONVENTIONS.md)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").exists())


def _yaml(path: Path):
    return yaml.safe_load(path.read_text()) or {}


def test_there_are_roles():
    assert ROLES, "no roles found"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_match_argument_specs(role):
    defaults = _yaml(role / "defaults" / "main.yml")
    spec = _yaml(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) <= set(spec), f"in defaults but not in argument_specs: {set(defaults) - set(spec)}"
    undocumented = {k for k, v in spec.items() if not v.get("required") and k not in defaults}
    assert not undocumented, f"optional in argument_specs but without a default: {undocumented}"
    for name, option in spec.items():
        assert name.startswith(role.name + "_"), f"{name} is not prefixed {role.name}_"
        assert option.get("description"), f"{name} has no description"
        if name in defaults and "default" in option:
            assert option["default"] == defaults[name], f"{name}: default differs between the two files"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_layout(role):
    assert (role / "README.md").exists()
    main = (role / "tasks" / "main.yml").read_text()
    assert "preflight.yml" in main.split("configure")[0], "preflight must run before configure"
    for tmpl in (role / "templates").glob("**/*.j2"):
        first = tmpl.read_text().splitlines()[0]
        assert "ansible_managed" in first and "comment" in first, f"{tmpl} must start with ansible_managed | comment"
    handlers = role / "handlers" / "main.yml"
    if handlers.exists():
        for handler in _yaml(handlers) or []:
            assert "listen" in handler, f"handler {handler.get('name')} has no listen:"
