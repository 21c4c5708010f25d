"""Nothing shipped knows the lab (issue 10).

The collection artifact (plugins, roles, playbooks, the example inventory, meta, galaxy.yml) must
describe production only: no Linux-namespace hosts, no moto server standing in for AWS, no
simulated appliances, no "in the lab" notes. Lab notes belong under tests/ (for the roles:
tests/integration/LAB-NOTES-roles.md).

Every file git knows under the shipped paths is scanned line by line. A hit that cannot be
avoided is listed in ALLOWED with its reason; an ALLOWED entry that no longer suppresses any hit
fails the test too, so the list cannot go stale.
"""
from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Iterable, NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What `ansible-galaxy collection build` ships (galaxy.yml's build_ignore drops the rest).
SHIPPED = ("plugins", "roles", "playbooks", "inventories/example", "meta", "extensions/awx", "galaxy.yml")

# Checked on every line of every shipped file.
LINE_PATTERNS = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"\blab\b",
    r"\blabs\b",
    r"\bmoto\b",
    r"moto_server",
    r"simulat",
    r"stand-in",
    r"198\.1[89]\.",        # the lab's address space (198.18.0.0/15, RFC 2544 benchmarking range)
    r"\btini\b",            # the lab's init process
    r"https?://(127\.0\.0\.1|localhost):\d+",   # a local server on a port: a stand-in, not a product URL
))

# Checked only inside the EXAMPLES string of plugins/modules/*.py: an example runs from the
# controller, so a loopback URL there points at a local stand-in. Elsewhere a loopback URL without
# a port is legitimate (a health check run on the node itself, a module default polled on the node).
EXAMPLES_PATTERNS = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"https?://(127\.0\.0\.1|localhost)(:\d+)?",
))


class Allowed(NamedTuple):
    path: str        # repository-relative, POSIX
    text: str        # an exact substring of the allowed line
    reason: str


ALLOWED = (
    Allowed("galaxy.yml", "- inventories/lab",
            "build_ignore: the lab writes its inventories there and they must never be packaged"),
)


class Hit(NamedTuple):
    path: str
    lineno: int
    line: str
    match: str
    pattern: str

    def __str__(self):
        return f"{self.path}:{self.lineno}: {self.match!r} (/{self.pattern}/) in: {self.line.strip()}"


def _is_module(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return len(parts) == 3 and parts[:2] == ("plugins", "modules") and parts[2].endswith(".py")


def _examples_lines(source: str) -> range:
    """1-based line numbers spanned by the module's EXAMPLES string (empty if it has none)."""
    for node in ast.parse(source).body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
                and any(isinstance(t, ast.Name) and t.id == "EXAMPLES" for t in node.targets)):
            return range(node.value.lineno, node.value.end_lineno + 1)
    return range(0)


def scan(root: Path, files: Iterable[str]) -> list[Hit]:
    """Every line of ``files`` (paths relative to ``root``) that matches a pattern."""
    hits = []
    for rel in sorted(set(files)):
        path = root / rel
        if not path.is_file():      # tracked but deleted in the work tree
            continue
        data = path.read_bytes()
        if b"\0" in data:           # binary
            continue
        text = data.decode("utf-8", errors="replace")
        examples = _examples_lines(text) if _is_module(rel) else range(0)
        for lineno, line in enumerate(text.splitlines(), start=1):
            patterns = LINE_PATTERNS + (EXAMPLES_PATTERNS if lineno in examples else ())
            for pattern in patterns:
                for m in pattern.finditer(line):
                    hits.append(Hit(rel, lineno, line, m.group(0), pattern.pattern))
    return hits


def apply_allow_list(hits: list[Hit], allowed=ALLOWED) -> tuple[list[Hit], list[Allowed]]:
    """(hits no entry allows, entries that allow no hit)."""
    used = set()
    remaining = []
    for hit in hits:
        entries = [a for a in allowed if a.path == hit.path and a.text in hit.line]
        used.update(entries)
        if not entries:
            remaining.append(hit)
    return remaining, [a for a in allowed if a not in used]


def shipped_files(root: Path = ROOT) -> list[str]:
    """The files git knows (tracked, plus new files not ignored) under the shipped paths."""
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *SHIPPED],
        cwd=root, check=True, capture_output=True, text=True).stdout
    return [f for f in out.split("\0") if f]


def test_shipped_files_know_nothing_of_the_lab():
    files = shipped_files()
    assert any(_is_module(f) for f in files), "no modules found: is SHIPPED still right?"
    remaining, stale = apply_allow_list(scan(ROOT, files))
    problems = [str(h) for h in remaining]
    problems += [f"stale allow-list entry (matches nothing): {a.path}: {a.text!r} ({a.reason})"
                 for a in stale]
    assert not problems, ("lab knowledge in shipped files (move lab notes under tests/, or allow-list "
                          "an unavoidable line with its reason):\n" + "\n".join(problems))


def test_scanner_catches_planted_lines(tmp_path):
    module = tmp_path / "plugins" / "modules" / "planted.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        'DOCUMENTATION = r"""\n'
        "options:\n"
        "  status_url:\n"
        "    default: http://localhost/status\n"         # outside EXAMPLES, no port: legitimate
        '"""\n'
        "\n"
        'EXAMPLES = r"""\n'
        "- name: Fail over\n"
        "  hapair.ha.planted:\n"
        "    endpoint_url: http://localhost/\n"           # 10: loopback URL in EXAMPLES
        '"""\n'
        "# Only these filters: Moto lacks the others.\n"  # 12
    )
    readme = tmp_path / "roles" / "demo" / "README.md"
    readme.parent.mkdir(parents=True)
    readme.write_text(
        "# demo\n"
        "\n"
        "Health check: curl -fsS http://127.0.0.1/-/health\n"   # legitimate: on the node itself
        "## Tested in the Lab\n"                                # 4
        "The AWS API is a stand-in at http://127.0.0.1:5000 on 198.19.0.1.\n"   # 5
    )
    (tmp_path / "galaxy.yml").write_text("build_ignore:\n  - inventories/lab\n")
    binary = tmp_path / "roles" / "demo" / "files" / "blob.bin"
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"\0lab moto\0")

    files = ["plugins/modules/planted.py", "roles/demo/README.md", "galaxy.yml",
             "roles/demo/files/blob.bin", "roles/demo/missing.yml"]
    hits = scan(tmp_path, files)
    found = {(h.path, h.lineno, h.match.lower()) for h in hits}
    assert found == {
        ("plugins/modules/planted.py", 10, "http://localhost"),
        ("plugins/modules/planted.py", 12, "moto"),
        ("roles/demo/README.md", 4, "lab"),
        ("roles/demo/README.md", 5, "stand-in"),
        ("roles/demo/README.md", 5, "http://127.0.0.1:5000"),
        ("roles/demo/README.md", 5, "198.19."),
        ("galaxy.yml", 2, "lab"),
    }
    assert "roles/demo/README.md:4: 'Lab'" in str(next(h for h in hits if h.lineno == 4))

    remaining, stale = apply_allow_list(hits)
    assert ("galaxy.yml", 2) not in {(h.path, h.lineno) for h in remaining}
    assert not stale
    stale_entry = Allowed("roles/demo/README.md", "no such line", "test")
    assert apply_allow_list(hits, ALLOWED + (stale_entry,))[1] == [stale_entry]
