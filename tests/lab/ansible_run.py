"""Run ansible-playbook / ansible against a lab and read the PLAY RECAP (test helper)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .lab import REPO, Lab

RECAP_RE = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
    r"failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)\s+ignored=(?P<ignored>\d+)",
    re.M,
)


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(h["changed"] for h in self.recap.values())

    @property
    def failed(self) -> int:
        return sum(h["failed"] + h["unreachable"] for h in self.recap.values())


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.update(
        {
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
            "PATH": f"{Path(sys.executable).parent}:{e.get('PATH', '')}",
        }
    )
    return e


def playbook(lab: Lab, path: str | Path, *args: str, extra_vars: dict | None = None, check: bool = False,
             diff: bool = False, timeout: float = 600) -> Result:
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(lab.inventory), str(REPO / path), *args]
    if extra_vars:
        import json

        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=REPO, timeout=timeout, check=False)
    recap = {
        m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"} for m in RECAP_RE.finditer(proc.stdout)
    }
    return Result(proc.returncode, proc.stdout, proc.stderr, recap)


def adhoc(lab: Lab, pattern: str, module: str, module_args: str = "", timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "ansible"), "-i", str(lab.inventory), pattern, "-m", module, "-o"]
    if module_args:
        cmd += ["-a", module_args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=REPO, timeout=timeout, check=False)
