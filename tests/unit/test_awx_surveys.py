"""The AWX surveys in extensions/awx/surveys agree with the playbooks and the roles' argument specs.

One survey per playbook (every playbook is a job template). Each question must ask a variable that
the playbook documents in its header ("Inputs") and that the playbook or a role it runs reads;
every input the header marks required is asked, as a required question; the question's type,
choices and default agree with the role's meta/argument_specs.yml (or, for a playbook-level
variable, with what the playbook does with it: `| bool`, `| int`, the role option it is passed
to, its `default(...)`); secrets are `password` questions.

AWX passes survey answers as extra vars, which override the inventory, and an optional question
left blank is sent as "" (or null) by the AWX releases before ansible/awx#16289. So an optional
question always carries the documented default, a question whose variable has no known default
must be required, and no optional question asks a setting of the pair that the example inventory
holds (its default would silently replace the inventory's value, e.g. the VRRP name). A multiple-choice answer is a string: a bool question is answered
"true"/"false", which only works where every reader of the variable applies `| bool` (or hands
it whole to a module option, which converts it) - checked here as well.

Format: the survey_spec of /api/v2/job_templates/N/survey_spec/ (name, description, spec with
question_name, question_description, variable, type, required, default, min, max, choices), e.g.
https://docs.oracle.com/cd/F61250_01/2/olam-api-cli/op-api-v2-job_templates-id-survey_spec-post.html
"""
from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))
SURVEYS = ROOT / "extensions" / "awx" / "surveys"
# Playbooks that are not a job template (none: every playbook in playbooks/ is one).
NOT_JOBS: dict[str, str] = {}

TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
CONDITIONAL_KEYS = {"when", "that", "until", "failed_when", "changed_when"}
SECRET_NAME = re.compile(r"(pass(word|wd)?|secret|token)(_|$)|_key$")
IDENT = re.compile(r"[a-z][a-z0-9_]*\*?")
REQUIRED_MARK = re.compile(r"\(required[;)]|(^|\s)required:")
UNKNOWN = object()


def _yaml(path: Path):
    return yaml.safe_load(path.read_text()) or {}


# --- what a playbook documents -------------------------------------------------------------------

def header_inputs(text: str) -> dict[str, bool]:
    """Variables of the header's "Inputs" block -> required? (names ending in * are wildcards)."""
    lines = []
    for line in text.splitlines():
        if line.startswith("---"):
            continue
        if not line.startswith("#"):
            break
        lines.append(line)
    start = next((i for i, line in enumerate(lines) if "Inputs" in line), None)
    assert start is not None, "the playbook header has no Inputs block"
    entries: list[list[str]] = []  # [names, description]
    for line in lines[start + 1:]:
        match = re.match(r"#( {3,})(\S.*)$", line)
        if not match:
            if entries:
                break
            continue
        indent, rest = len(match.group(1)), match.group(2)
        if indent > 3 and entries:
            entries[-1][1] += " " + rest
            continue
        parts = re.split(r"\s{2,}", rest, maxsplit=1)
        entries.append([parts[0], parts[1] if len(parts) > 1 else ""])
    inputs: dict[str, bool] = {}
    for names, description in entries:
        required = bool(REQUIRED_MARK.search(description))
        for name in IDENT.findall(names):
            if "_" in name:
                inputs[name] = inputs.get(name, False) or required
    return inputs


@functools.lru_cache(maxsize=None)
def example_inventory_vars() -> frozenset[str]:
    """Variables inventories/example sets (group_vars, host_vars, host variables in hosts.yml)."""
    names: set[str] = set()
    inventory = ROOT / "inventories" / "example"
    for path in list(inventory.glob("group_vars/**/*.yml")) + list(inventory.glob("host_vars/**/*.yml")):
        names.update(_yaml(path))

    def hosts(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "hosts" and isinstance(value, dict):
                    for host_vars in value.values():
                        names.update(host_vars or {})
                elif key == "vars" and isinstance(value, dict):
                    names.update(value)
                else:
                    hosts(value)

    hosts(_yaml(inventory / "hosts.yml"))
    return frozenset(names)


def documented(var: str, inputs: dict[str, bool]) -> bool:
    return var in inputs or any(n.endswith("*") and var.startswith(n[:-1]) for n in inputs)


# --- what the playbook and its roles read ---------------------------------------------------------

def _role_refs(node) -> list[str]:
    """hapair.ha roles a play or task list runs (roles:, include_role, import_role)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "role" and isinstance(value, str):
                found.append(value)
            elif key in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role",
                         "import_role") and isinstance(value, dict):
                found.append(value.get("name", ""))
            elif key == "roles" and isinstance(value, list):
                found.extend(item for item in value if isinstance(item, str))
                found.extend(_role_refs(value))
            else:
                found.extend(_role_refs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_role_refs(item))
    return found


@functools.lru_cache(maxsize=None)
def roles_run(text: str) -> tuple[str, ...]:
    """Roles of this collection a playbook (or a role it runs) runs, in order, without repeats."""
    seen: list[str] = []
    todo = _role_refs(yaml.safe_load(text))
    while todo:
        role = todo.pop(0).removeprefix("hapair.ha.")
        if role in seen or not (ROOT / "roles" / role / "tasks").is_dir():
            continue
        seen.append(role)
        for path in sorted((ROOT / "roles" / role / "tasks").glob("*.yml")):
            todo.extend(_role_refs(_yaml(path)))
    return tuple(seen)


@functools.lru_cache(maxsize=None)
def role_options(roles: tuple[str, ...]) -> dict[str, dict]:
    options: dict[str, dict] = {}
    for role in roles:
        specs = _yaml(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
        for entry in specs.values():
            options.update(entry.get("options") or {})
    return options


@functools.lru_cache(maxsize=None)
def role_files(roles: tuple[str, ...]) -> list[Path]:
    files = []
    for role in roles:
        for sub in ("tasks", "handlers", "vars", "defaults"):
            files.extend(sorted((ROOT / "roles" / role / sub).glob("*.yml")))
        files.extend(sorted((ROOT / "roles" / role / "templates").glob("**/*.j2")))
    return files


def _balanced(text: str, start: int) -> int:
    """Index after the parenthesis that closes the one at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    return len(text)


def uses(expr: str, var: str):
    """Each read of var in a Jinja expression: (its default(...) argument or None, the rest after it)."""
    for match in re.finditer(rf"(?<![\w.'\"]){re.escape(var)}\b(?!\s*[:=])", expr):
        end = match.end()
        default = None
        dm = re.match(r"\s*\|\s*default\(", expr[end:])
        if dm:
            close = _balanced(expr, end + dm.end() - 1)
            default = expr[end + dm.end():close - 1].strip()
            end = close
        yield default, expr[end:]


def expressions(path: Path, text: str | None = None) -> list[tuple[str, str | None]]:
    """(Jinja expression, key it is the whole value of, or None) in a YAML file or a template."""
    return _expressions(path, path.read_text() if text is None else text)


@functools.lru_cache(maxsize=None)
def _expressions(path: Path, text: str) -> list[tuple[str, str | None]]:
    return list(_walk_expressions(path, text))


def _walk_expressions(path: Path, text: str):
    if path.suffix == ".j2":
        for match in re.finditer(r"\{\{(.*?)\}\}|\{%(.*?)%\}", text, re.S):
            yield (match.group(1) or match.group(2)), None
        return

    def walk(node, key=None):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in CONDITIONAL_KEYS:
                    for item in v if isinstance(v, list) else [v]:
                        if isinstance(item, str):
                            yield item, None
                else:
                    yield from walk(v, k)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, key)
        elif isinstance(node, str):
            whole = re.fullmatch(r"\s*\{\{(.*)\}\}\s*", node, re.S)
            for match in re.finditer(r"\{\{(.*?)\}\}|\{%(.*?)%\}", node, re.S):
                yield (match.group(1) or match.group(2)), (key if whole else None)

    yield from walk(yaml.safe_load(text))


def literal(arg: str):
    """The value of a literal default(...) argument, or UNKNOWN for an expression."""
    try:
        value = yaml.safe_load(arg)
    except yaml.YAMLError:
        return UNKNOWN
    if isinstance(value, (str, int, float, bool)) and not (isinstance(value, str) and arg[:1] not in "'\""):
        return value
    return UNKNOWN


def expected(var: str, playbook: Path, text: str) -> dict:
    """What the survey question for var must look like: type, default, choices, secret, bool reads."""
    roles = roles_run(text)
    options = role_options(roles)
    if var in options:
        opt = options[var]
        return {"type": opt.get("type", "str"), "default": opt.get("default", UNKNOWN),
                "choices": opt.get("choices"), "secret": bool(opt.get("no_log")) or bool(SECRET_NAME.search(var)),
                "elements": opt.get("elements")}
    found = {"type": "str", "default": UNKNOWN, "choices": None, "secret": bool(SECRET_NAME.search(var)),
             "elements": None}
    defaults = set()
    for expr, key in expressions(playbook, text):
        for default, rest in uses(expr, var):
            if default is not None:
                value = literal(default)
                defaults.add(json.dumps(value) if value is not UNKNOWN else "UNKNOWN")
            if re.match(r"\s*\|\s*bool\b", rest):
                found["type"] = "bool"
            elif re.match(r"\s*\|\s*int\b", rest):
                found["type"] = "int"
            elif key in options and not rest.strip():
                target = options[key]
                found["type"] = target.get("type", "str")
                found["choices"] = target.get("choices")
                found["secret"] = found["secret"] or bool(target.get("no_log"))
    if len(defaults) == 1 and "UNKNOWN" not in defaults:
        found["default"] = json.loads(defaults.pop())
    return found


def bool_reads_ok(var: str, playbook: Path, text: str) -> list[str]:
    """Every read of a bool survey variable converts the string answer ("true"/"false")."""
    roles = roles_run(text)
    options = role_options(roles)
    errors = []
    todo = [(var, [(playbook, text)])]
    seen = set()
    while todo:
        name, files = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for path, content in files:
            for expr, key in expressions(path, content):
                for _default, rest in uses(expr, name):
                    if re.match(r"\s*\|\s*bool\b", rest):
                        continue
                    if key and not rest.strip():
                        # handed whole to a module option (converted there) or to another variable
                        if key in options and options[key].get("type") == "bool":
                            todo.append((key, [(p, None) for p in role_files(roles)]))
                        continue
                    errors.append(f"{name} is read without | bool in {path.relative_to(ROOT)}: {expr.strip()}")
    return errors


# --- the check ------------------------------------------------------------------------------------

def check_survey(playbook: Path, survey: dict, text: str | None = None) -> list[str]:
    """Everything wrong with survey for playbook (an empty list when it is right)."""
    text = playbook.read_text() if text is None else text
    errors = []
    if not isinstance(survey.get("name"), str) or not isinstance(survey.get("description"), str):
        errors.append("the survey needs a name and a description")
    spec = survey.get("spec")
    if not isinstance(spec, list) or not spec:
        return errors + ["spec must be a non-empty list of questions"]
    inputs = header_inputs(text)
    roles = roles_run(text)
    options = role_options(roles)
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    asked = {}
    for question in spec:
        var = question.get("variable", "")
        where = f"question {var or question.get('question_name')!r}"
        for field in ("question_name", "question_description", "variable", "type", "required"):
            if field not in question:
                errors.append(f"{where}: no {field}")
        if var in asked:
            errors.append(f"{where}: asked twice")
        asked[var] = question
        qtype, required, default = question.get("type"), question.get("required"), question.get("default", "")
        if qtype not in TYPES:
            errors.append(f"{where}: type {qtype!r} is not one of {sorted(TYPES)}")
            continue
        if not isinstance(required, bool):
            errors.append(f"{where}: required must be true or false")
        # read and documented
        if var not in options and not re.search(rf"(?<![\w.]){re.escape(var)}\b", code):
            errors.append(f"{where}: nothing reads {var} (neither {playbook.name} nor the roles {roles})")
            continue
        if not documented(var, inputs):
            errors.append(f"{where}: {var} is not among the inputs in the header of {playbook.name}")
        want = expected(var, playbook, text)
        # secrets
        if want["secret"] and qtype != "password":
            errors.append(f"{where}: {var} is a secret; it must be a password question, not {qtype}")
        # type, choices, default
        default_str = default if isinstance(default, str) else json.dumps(default)
        if want["type"] == "bool":
            if qtype != "multiplechoice" or set(question.get("choices") or []) != {"true", "false"}:
                errors.append(f"{where}: {var} is a bool; ask it as multiplechoice true/false")
            wanted = "" if want["default"] is UNKNOWN else str(want["default"]).lower()
        elif want["type"] == "int":
            if qtype != "integer":
                errors.append(f"{where}: {var} is an int; ask it as integer, not {qtype}")
            wanted = want["default"]
        elif want["type"] == "float":
            if qtype != "float":
                errors.append(f"{where}: {var} is a float; ask it as float, not {qtype}")
            wanted = want["default"]
        elif want["type"] == "list":
            if not want["choices"]:
                errors.append(f"{where}: {var} is a list without choices; a survey cannot ask it (inventory)")
            elif qtype != "multiselect":
                errors.append(f"{where}: {var} is a list of choices; ask it as multiselect, not {qtype}")
            wanted = want["default"]
        elif want["type"] == "dict":
            errors.append(f"{where}: {var} is a dict; a survey cannot ask it (inventory)")
            wanted = want["default"]
        elif want["choices"]:
            if qtype != "multiplechoice":
                errors.append(f"{where}: {var} has choices; ask it as multiplechoice, not {qtype}")
            wanted = want["default"]
        else:
            if qtype not in ("text", "textarea", "password"):
                errors.append(f"{where}: {var} is a string; ask it as text, textarea or password, not {qtype}")
            wanted = want["default"]
        if want["choices"] and qtype in ("multiplechoice", "multiselect"):
            if set(question.get("choices") or []) != {str(c) for c in want["choices"]}:
                errors.append(f"{where}: choices {question.get('choices')} differ from {want['choices']}")
        if qtype in ("multiplechoice", "multiselect"):
            choices = question.get("choices")
            if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
                errors.append(f"{where}: choices must be a list of strings")
            elif default not in ("", None) and not set(str(default).split("\n")) <= set(choices):
                errors.append(f"{where}: default {default!r} is not one of the choices")
        if qtype in ("integer", "float"):
            low, high = question.get("min"), question.get("max")
            if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or low > high:
                errors.append(f"{where}: min and max must be numbers, min <= max")
            elif default not in ("", None) and not (isinstance(default, (int, float)) and low <= default <= high):
                errors.append(f"{where}: default {default!r} is not a number within [{low}, {high}]")
        if qtype in ("text", "textarea", "password") and default not in ("", None):
            low, high = question.get("min", 0), question.get("max", 1024)
            if not low <= len(str(default)) <= high:
                errors.append(f"{where}: default {default!r} is not {low}..{high} characters long")
        # required and defaults
        if required is not True and var in example_inventory_vars():
            errors.append(f"{where}: inventories/example sets {var}, a setting of the pair: an optional question "
                          "would replace it with its default; ask only what is decided at launch")
        if inputs.get(var) and required is not True:
            errors.append(f"{where}: {var} is required by {playbook.name}; the question must be required")
        if default in ("", None):
            if required is not True:
                errors.append(f"{where}: an optional question needs the documented default (blank is sent as \"\")")
        elif wanted is UNKNOWN:
            errors.append(f"{where}: {var} has no literal default in {playbook.name}; the question must be "
                          f"required without a default, not default to {default!r}")
        elif want["type"] == "bool" and default_str != wanted:
            errors.append(f"{where}: default {default!r} differs from the documented default {wanted!r}")
        elif want["type"] != "bool" and default != wanted:
            errors.append(f"{where}: default {default!r} differs from the documented default {wanted!r}")
        if want["type"] == "bool":
            errors.extend(f"{where}: {e}" for e in bool_reads_ok(var, playbook, text))
    for var, required in inputs.items():
        if required and var not in asked:
            errors.append(f"{var} is required by {playbook.name} but the survey does not ask it")
    return errors


# --- the shipped surveys ----------------------------------------------------------------------------

def _survey(playbook: Path) -> dict:
    return json.loads((SURVEYS / f"{playbook.stem}.json").read_text())


def test_every_job_playbook_has_a_survey():
    jobs = {p.stem for p in PLAYBOOKS} - set(NOT_JOBS)
    have = {p.stem for p in SURVEYS.glob("*.json")}
    assert jobs, "no playbooks found"
    assert jobs <= have, f"playbooks without a survey: {sorted(jobs - have)}"
    assert have <= jobs, f"surveys without a playbook: {sorted(have - jobs)}"


@pytest.mark.parametrize("playbook", [p for p in PLAYBOOKS if p.stem not in NOT_JOBS], ids=lambda p: p.stem)
def test_survey_agrees_with_playbook_and_roles(playbook):
    errors = check_survey(playbook, _survey(playbook))
    assert not errors, "\n".join(errors)


def test_header_inputs_parser_reads_the_required_markers():
    inputs = header_inputs((ROOT / "playbooks" / "failover_drill.yml").read_text())
    assert {k for k, v in inputs.items() if v} == {
        "failover_drill_confirm", "failover_drill_client", "failover_drill_probe_command"}
    assert "failover_drill_*" in inputs and inputs["aws_secret_key"] is False
    ghe = header_inputs((ROOT / "playbooks" / "ghe_failover.yml").read_text())
    assert ghe["ghe_api_password"] is False  # "required with ghe_prepare_failback" is conditional


# --- the check can fail ------------------------------------------------------------------------------

FAILOVER = ROOT / "playbooks" / "ghe_failover.yml"


def _broken(change) -> list[str]:
    survey = copy.deepcopy(_survey(FAILOVER))
    change(survey["spec"])
    return check_survey(FAILOVER, survey)


def _question(spec, var):
    return next(q for q in spec if q["variable"] == var)


@pytest.mark.parametrize(("name", "change", "message"), [
    ("secret as text", lambda s: _question(s, "ghe_api_password").update(type="text"), "must be a password"),
    ("unread variable", lambda s: s.append(dict(_question(s, "ghe_appliances_group"), variable="ghe_nothing_reads_this")),
     "nothing reads ghe_nothing_reads_this"),
    ("undocumented role variable",
     lambda s: s.append(dict(_question(s, "ghe_failover_sync_timeout"), variable="ghe_replica_sync_interval", default=10)),
     "not among the inputs"),
    ("bool as text", lambda s: _question(s, "ghe_prepare_failback").update(type="text", choices=None),
     "is a bool"),
    ("bool default differs", lambda s: _question(s, "ghe_prepare_failback").update(default="true"),
     "differs from the documented default 'false'"),
    ("int as text", lambda s: _question(s, "ghe_failover_sync_timeout").update(type="text", default="900"),
     "is an int"),
    ("int default differs", lambda s: _question(s, "ghe_failover_sync_timeout").update(default=60),
     "differs from the documented default 900"),
    ("int default out of range", lambda s: _question(s, "ghe_failover_sync_timeout").update(max=100),
     "not a number within"),
    ("optional and blank", lambda s: _question(s, "ghe_appliances_group").update(default=""),
     "optional question needs the documented default"),
    ("default on a computed variable", lambda s: _question(s, "ghe_primary").update(required=False, default="ghe-1"),
     "no literal default"),
    ("choice not allowed", lambda s: _question(s, "ghe_require_in_sync").update(choices=["true", "false", "maybe"]),
     "is a bool"),
    ("unknown type", lambda s: _question(s, "ghe_appliances_group").update(type="string"), "is not one of"),
    ("asked twice", lambda s: s.append(dict(_question(s, "ghe_appliances_group"))), "asked twice"),
    ("a setting of the pair", lambda s: s.append(dict(_question(s, "ghe_require_in_sync"), variable="ghe_api_validate_certs")),
     "inventories/example sets ghe_api_validate_certs"),
])
def test_check_finds_a_broken_survey(name, change, message):
    errors = _broken(change)
    assert any(message in e for e in errors), f"{name}: {errors}"


def test_check_finds_a_required_input_not_asked():
    survey = copy.deepcopy(_survey(ROOT / "playbooks" / "vip_switchover.yml"))
    survey["spec"] = [q for q in survey["spec"] if q["variable"] != "vip_switchover_to"]
    errors = check_survey(ROOT / "playbooks" / "vip_switchover.yml", survey)
    assert any("vip_switchover_to is required" in e for e in errors), errors


def test_check_finds_a_required_input_asked_as_optional():
    survey = copy.deepcopy(_survey(ROOT / "playbooks" / "failover_drill.yml"))
    _question(survey["spec"], "failover_drill_client").update(required=False, default="client")
    errors = check_survey(ROOT / "playbooks" / "failover_drill.yml", survey)
    assert any("the question must be required" in e for e in errors), errors


def test_check_finds_wrong_choices_and_list_options():
    pb = ROOT / "playbooks" / "failover_drill.yml"
    survey = copy.deepcopy(_survey(pb))
    _question(survey["spec"], "failover_drill_fault").update(choices=["graceful_stop", "reboot"])
    survey["spec"].append({"question_name": "ids", "question_description": "", "variable": "failover_drill_node_ids",
                           "type": "text", "required": False, "default": "a"})
    errors = check_survey(pb, survey)
    assert any("differ from" in e for e in errors), errors
    assert any("list without choices" in e for e in errors), errors


def test_check_finds_a_bool_read_without_bool_filter():
    """A playbook that reads a survey bool as it is: "false" is a non-empty string."""
    text = FAILOVER.read_text().replace(
        "    - role: hapair.ha.ghe_failover\n",
        "    - role: hapair.ha.ghe_failover\n      when: ghe_prepare_failback or true\n")
    assert text != FAILOVER.read_text()
    errors = check_survey(FAILOVER, _survey(FAILOVER), text=text)
    assert any("ghe_prepare_failback is read without | bool" in e for e in errors), errors
