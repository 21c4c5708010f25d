"""Run a shipped playbook the way AWX / Automation Controller runs a job: ansible-runner's Python
API on a private data directory laid out as AWX lays it out for a job.

    PRIVATE_DATA_DIR/
      project/                 the project: playbooks/ and collections/requirements.yml of this
                               checkout, and its ansible.cfg (AWX runs in the project directory)
      inventory/hosts.yml      the lab's inventory without the lab's key and AWS keys (those come
                               from the credentials below)
      inventory/group_vars/all/lab.yml    what the lab's test areas pass as -e @lab_vars.yml, as an
                               AWX inventory would carry it
      inventory/group_vars/all/vault.yml  the secrets, ansible-vault encrypted with vault id
                               `hapair` (as the example inventory holds vault_* variables)
      inventory/group_vars/all/secrets.yml  the public names pointing at the vault_* ones
      env/extravars            the survey answers (password answers included, as AWX writes them)
      env/envvars              the Amazon Web Services credential as AWX injects it
                               (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
      env/ssh_key              the Machine credential (runner loads it into an ssh-agent)
      env/passwords            the Vault credential: the answer to `--vault-id hapair@prompt`
      env/cmdline              `--vault-id hapair@prompt` (and `--check` for a Check job)
      env/settings             job and idle timeouts: a job that waits for input fails
      artifacts/<ident>/       what runner writes; AWX keeps `stdout` and the job events

The collection itself is installed as AWX finds it in an execution environment: its artifact
(`ansible-galaxy collection build`) installed into a collections directory named by
ANSIBLE_COLLECTIONS_PATH; amazon.aws and ansible.posix (collections/requirements.yml) come from
the `ansible` package of the venv, as for every other integration test (Galaxy is not reachable).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import ansible_runner
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from tests.lab.lab import REPO

VAULT_ID = "hapair"
# What AWX answers for a Vault credential with a vault id (awx/main/models/credential: the
# expect pattern of `--vault-id ID@prompt`).
VAULT_PROMPT = r"Vault password \(%s\):\s*?$" % VAULT_ID
# Lab-only keys of the lab inventory that a Machine / AWS credential replaces.
CREDENTIAL_VARS = ("ansible_ssh_private_key_file", "lab_aws_access_key", "lab_aws_secret_key")
LAB_VAR_CREDENTIALS = ("aws_access_key", "aws_secret_key", "aws_session_token")
SURVEYS = REPO / "extensions" / "awx" / "surveys"


def survey(playbook: str) -> dict:
    return json.loads((SURVEYS / f"{Path(playbook).stem}.json").read_text())


def survey_answers(playbook: str, answers: dict) -> dict:
    """The extra variables AWX makes of a survey launch: every required question answered (the
    test must give it), optional ones as given or else their default, as AWX does."""
    spec = survey(playbook)["spec"]
    asked = {q["variable"] for q in spec}
    unknown = set(answers) - asked
    assert not unknown, f"{playbook}: the survey asks no {sorted(unknown)}"
    out = {}
    for q in spec:
        var = q["variable"]
        if var in answers:
            answer = answers[var]
            if q["type"] == "multiplechoice":
                assert answer in q["choices"], f"{playbook}: {var}={answer!r} is not one of {q['choices']}"
            elif q["type"] in ("integer", "float"):
                assert isinstance(answer, (int, float)), f"{playbook}: {var} is a number question"
            else:
                assert isinstance(answer, str), f"{playbook}: {var} is a {q['type']} question"
            out[var] = answer
        elif q["required"]:
            raise AssertionError(f"{playbook}: survey question {var} is required and has no answer")
        elif q.get("default") not in (None, ""):
            out[var] = q["default"]
    return out


@dataclass
class Job:
    playbook: str
    job_type: str  # run | check
    ident: str
    artifacts: Path
    status: str
    rc: int
    events: list[dict] = field(default_factory=list)

    @property
    def stdout(self) -> str:
        return (self.artifacts / "stdout").read_text(errors="replace")

    @property
    def stats(self) -> dict:
        ends = [e for e in self.events if e.get("event") == "playbook_on_stats"]
        return ends[-1]["event_data"] if ends else {}

    @property
    def changed(self) -> dict[str, int]:
        return dict(self.stats.get("changed", {}))

    @property
    def changed_total(self) -> int:
        return sum(self.changed.values())

    def events_of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == kind]

    def failed_tasks(self) -> list[tuple[str, str]]:
        """(host, task name) of every failed task result, as AWX lists them for the job."""
        return [(e["event_data"].get("host"), e["event_data"].get("task")) for e in self.events_of("runner_on_failed")
                if not e["event_data"].get("ignore_errors")]

    def stored_text(self) -> str:
        """What AWX keeps of a job: its stdout and every job event (the database rows)."""
        parts = [self.stdout]
        parts += [p.read_text(errors="replace") for p in sorted((self.artifacts / "job_events").glob("*.json"))]
        return "\n".join(parts)

    def leaks(self, secrets: dict[str, str]) -> list[str]:
        text = self.stored_text()
        # the search itself can fail: the stored output holds the recap and the playbook's events
        assert "PLAY RECAP" in text and '"event": "playbook_on_stats"' in text, f"{self.ident}: nothing stored"
        return sorted(name for name, value in secrets.items() if value and value in text)

    def tail(self) -> str:
        return self.stdout[-6000:]


class AwxRunner:
    """Makes one private data directory per job (AWX does) under ``root``."""

    def __init__(self, root: Path, collections: Path, secrets: dict[str, str], aws: dict[str, str]):
        self.root = root
        self.collections = collections
        self.vault_password = secrets["vault_password"]
        self.secrets = secrets
        self.aws = aws
        self.jobs: list[Job] = []
        self._n = 0

    # ---- the private data directory ----------------------------------------------------------
    def _project(self, pdd: Path) -> None:
        project = pdd / "project"
        shutil.copytree(REPO / "playbooks", project / "playbooks")
        (project / "collections").mkdir(parents=True)
        shutil.copy(REPO / "collections" / "requirements.yml", project / "collections" / "requirements.yml")
        shutil.copy(REPO / "ansible.cfg", project / "ansible.cfg")

    def _inventory(self, pdd: Path, lab, group_vars: dict, vault_vars: dict, secret_refs: dict) -> None:
        inv = yaml.safe_load(lab.inventory.read_text())
        for key in CREDENTIAL_VARS:
            inv["all"]["vars"].pop(key, None)
        for hv in inv["all"]["hosts"].values():
            for key in secret_refs:  # secrets the lab's topology sets as host vars come from the vault
                hv.pop(key, None)
        inv_dir = pdd / "inventory"
        all_dir = inv_dir / "group_vars" / "all"
        all_dir.mkdir(parents=True)
        (inv_dir / "hosts.yml").write_text(yaml.safe_dump(inv, sort_keys=False))
        lab_vars = {k: v for k, v in group_vars.items() if k not in LAB_VAR_CREDENTIALS}
        (all_dir / "lab.yml").write_text("---\n" + yaml.safe_dump(lab_vars, sort_keys=False))
        vault = VaultLib([(VAULT_ID, VaultSecret(self.vault_password.encode()))])
        plain = "---\n" + yaml.safe_dump(vault_vars, sort_keys=True)
        (all_dir / "vault.yml").write_bytes(vault.encrypt(plain, vault_id=VAULT_ID))
        (all_dir / "secrets.yml").write_text("---\n" + yaml.safe_dump(secret_refs, sort_keys=True))

    def _env(self, pdd: Path, lab, extravars: dict, check: bool, timeout: int) -> None:
        env = pdd / "env"
        env.mkdir()
        (env / "extravars").write_text(yaml.safe_dump(extravars, sort_keys=False))
        (env / "envvars").write_text(yaml.safe_dump({
            "AWS_ACCESS_KEY_ID": self.aws["access_key"],
            "AWS_SECRET_ACCESS_KEY": self.aws["secret_key"],
            "AWS_SESSION_TOKEN": self.aws["session_token"],
            "ANSIBLE_CONFIG": str(pdd / "project" / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
            # an execution environment has ansible-playbook on its PATH
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        }))
        shutil.copy(lab.key, env / "ssh_key")  # the Machine credential: the lab's key
        (env / "ssh_key").chmod(0o600)
        (env / "passwords").write_text(yaml.safe_dump({VAULT_PROMPT: self.vault_password}))
        (env / "cmdline").write_text(("--check " if check else "") + f"--vault-id {VAULT_ID}@prompt")
        # A job waiting for input (a prompt, a pause) has no output: it ends as `timeout`.
        (env / "settings").write_text(yaml.safe_dump({"idle_timeout": 240, "job_timeout": timeout,
                                                      "pexpect_timeout": 5, "suppress_ansible_output": True}))

    # ---- running -----------------------------------------------------------------------------
    def run(self, lab, playbook: str, *, extravars: dict, group_vars: dict, vault_vars: dict,
            secret_refs: dict, check: bool = False, timeout: int = 900) -> Job:
        self._n += 1
        job_type = "check" if check else "run"
        ident = f"{self._n:02d}-{Path(playbook).stem}-{job_type}"
        pdd = self.root / ident
        pdd.mkdir(parents=True)
        self._project(pdd)
        self._inventory(pdd, lab, group_vars, vault_vars, secret_refs)
        self._env(pdd, lab, extravars, check, timeout)
        result = ansible_runner.run(private_data_dir=str(pdd), playbook=playbook, ident=ident, quiet=True)
        job = Job(playbook=playbook, job_type=job_type, ident=ident, artifacts=pdd / "artifacts" / ident,
                  status=result.status, rc=result.rc, events=list(result.events))
        self.jobs.append(job)
        return job


def install_collection(dest: Path) -> Path:
    """The collection's artifact installed into ``dest`` (a collections path), as an execution
    environment holds it; returns ``dest``."""
    bin_dir = Path(sys.executable).parent
    build = dest.parent / "artifact"
    subprocess.run([str(bin_dir / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(build), str(REPO)],
                   check=True, capture_output=True, text=True)
    tarball = next(build.glob("hapair-ha-*.tar.gz"))
    subprocess.run([str(bin_dir / "ansible-galaxy"), "collection", "install", "--no-deps", "--force", "-p", str(dest),
                    str(tarball)], check=True, capture_output=True, text=True)
    return dest


# ---- what every job must show -----------------------------------------------------------------
PAUSE_ACTIONS = {"pause", "ansible.builtin.pause", "ansible.legacy.pause", "wait_for_connection"}


def assert_successful(job: Job) -> None:
    assert job.status == "successful" and job.rc == 0, f"{job.ident}: status {job.status}, rc {job.rc}\n{job.tail()}"
    assert_no_prompt(job)


def assert_no_prompt(job: Job) -> None:
    """Nothing asked for input: no vars_prompt, no pause (the job ran with no one to answer)."""
    assert not job.events_of("playbook_on_vars_prompt"), job.ident
    paused = [e["event_data"].get("task") for e in job.events_of("runner_on_start")
              if e["event_data"].get("task_action") in PAUSE_ACTIONS - {"wait_for_connection"}]
    assert not paused, f"{job.ident}: tasks that pause: {paused}"


def assert_unchanged(check: Job) -> None:
    """A Check job on the converged lab: changed=0 on every host (the playbook_on_stats event)."""
    assert check.stats, f"{check.ident}: no playbook_on_stats event"
    assert check.changed_total == 0, f"{check.ident}: changed {check.changed}\n" + "\n".join(
        f"{e['event_data'].get('host')}: {e['event_data'].get('task')}" for e in check.events_of("runner_on_ok")
        if e["event_data"].get("res", {}).get("changed"))


def assert_no_leak(job: Job, secrets: dict[str, str]) -> None:
    leaked = job.leaks(secrets)
    assert not leaked, f"{job.ident}: the stored stdout / job events hold {leaked}"


def vault_inputs(job_secrets: dict) -> tuple[dict, dict]:
    """(the vaulted file's variables, the inventory's public names that point at them), as the
    example inventory does (group_vars/ghe.yml: ghe_api_password: "{{ vault_... }}")."""
    vaulted = {
        "vault_ghe_api_password": job_secrets["ghe_api_password"],
        "vault_gitaly_auth_token": job_secrets["gitaly_auth_token"],
        "vault_vrrp_secret": job_secrets["keepalived_auth_pass"],
    }
    refs = {
        "ghe_api_password": "{{ vault_ghe_api_password }}",
        "gitaly_auth_token": "{{ vault_gitaly_auth_token }}",
        "keepalived_auth_pass": "{{ vault_vrrp_secret }}",
    }
    return vaulted, refs


def lab_vars(area: str) -> dict:
    """What an area's tests pass as -e @tests/integration/AREA/lab_vars.yml, without the AWS
    keys (the AWS credential replaces them), the endpoint and region (extra variables here) and
    the secrets (the vault)."""
    path = REPO / "tests" / "integration" / area / "lab_vars.yml"
    data = (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
    drop = set(LAB_VAR_CREDENTIALS) | {"aws_endpoint_url", "aws_region"} | set(vault_inputs({
        "ghe_api_password": "", "gitaly_auth_token": "", "keepalived_auth_pass": ""})[1])
    return {k: v for k, v in data.items() if k not in drop}


class LabJobs:
    """The job templates of one topology's lab."""

    def __init__(self, awx: AwxRunner, lab, group_vars: dict, report: list):
        self.awx = awx
        self.lab = lab
        self.group_vars = group_vars
        self.report = report
        self.secrets = dict(awx.secrets)

    def run(self, playbook: str, answers: dict, check: bool = False, extra: dict | None = None) -> Job:
        extravars = survey_answers(playbook, answers)
        if self.lab.topo.aws is not None:
            extravars.update({"aws_endpoint_url": self.lab.aws_endpoint, "aws_region": self.lab.topo.region})
        extravars.update(extra or {})
        vaulted, refs = vault_inputs(self.awx.secrets)
        return self.awx.run(self.lab, f"playbooks/{playbook}", extravars=extravars, group_vars=self.group_vars,
                            vault_vars=vaulted, secret_refs=refs, check=check)

    def job_and_check(self, playbook: str, answers: dict, extra: dict | None = None,
                      more_secrets=None, after_job=None) -> tuple[Job, Job]:
        """The job template launched, then as a Check job on the lab it converged: both
        successful, the check with changed=0, no secret in what AWX stores of either.
        ``after_job()`` runs between the two (waits for what the job set in motion)."""
        job = self.run(playbook, answers, extra=extra)
        assert_successful(job)
        if after_job:
            after_job()
        check = self.run(playbook, answers, check=True, extra=extra)
        assert_successful(check)
        secrets = dict(self.secrets)
        secrets.update(more_secrets() if more_secrets else {})
        for j in (job, check):
            assert_no_leak(j, secrets)
        assert_unchanged(check)
        self.report.append({"playbook": playbook, "status": job.status, "rc": job.rc, "events": len(job.events),
                            "check_status": check.status, "check_changed": check.changed_total,
                            "check_events": len(check.events), "searched": searched_names(secrets)})
        return job, check


def searched_names(secrets: dict) -> str:
    names = sorted(k for k in secrets if not k.startswith("gitlab-secrets.json"))
    n_gitlab = sum(1 for k in secrets if k.startswith("gitlab-secrets.json"))
    return ", ".join(names + ([f"gitlab-secrets.json ({n_gitlab} values)"] if n_gitlab else []))
