"""keepalived-notify (roles/keepalived/files), the notify dispatcher, run on the controller.

As keepalived runs it (SETTINGS TYPE NAME STATE PRIORITY): the state and done files, hook order
(name order on MASTER, reverse on any other state), the STOP of a group from its instance's
STOP. As systemd runs it, keepalived.service's ExecStopPost= (--release SETTINGS): every name
whose last state is not a completed STOP has its addresses released and its STOP hooks run;
the others are left alone.

Log lines are caught by a fake ``logger --journald`` first in PATH (the message after ``--`` to one file,
the -t tag to another); hooks record their arguments in a calls file.
"""
from __future__ import annotations

from tests.fake_journal import fake_journal

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "keepalived"
NOTIFY = ROLE / "files" / "keepalived-notify"
HOOKS = ("10-mount", "40-exports", "50-vip-route")
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}"
# what systemd sets for ExecStopPost=; the tests set their own
SYSTEMD_VARS = ("SERVICE_RESULT", "EXIT_CODE", "EXIT_STATUS")

SETTINGS = """\
HOOKS_DIR={hooks}
STATE_DIR={state}
HOOK_TIMEOUT=5
NAMES='VIP DB SOLO NEW'
kind_of() {{ case $1 in VIP|DB) echo GROUP ;; *) echo INSTANCE ;; esac; }}
group_of() {{ case $1 in DB_LAN|DB_HB) echo DB ;; *) ;; esac; }}
release_addresses() {{
    echo "release $1" >> {calls}
    case $1 in
        VIP) echo "removed 10.1.0.10/32 from eth0" ;;
        SOLO) echo "removed 10.2.0.10/32 from eth1" ;;
        *) ;;
    esac
    return 0
}}
"""


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def fake_logger(bin_dir: Path, log: Path, tags: Path, status: int = 0) -> Path:
    """The journal, caught: see tests/fake_journal.py."""
    return fake_journal(bin_dir, log, tags, status)


@dataclass
class Box:
    tmp: Path
    settings: Path

    @property
    def hooks(self) -> Path:
        return self.tmp / "hooks"

    @property
    def state(self) -> Path:
        return self.tmp / "state"

    def run(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        base = {k: v for k, v in os.environ.items() if k not in SYSTEMD_VARS}
        base["PATH"] = f"{self.tmp / 'bin'}:{os.environ['PATH']}"
        proc = subprocess.run([str(NOTIFY), *args], env={**base, **(env or {})},
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc

    def notify(self, *args: str) -> subprocess.CompletedProcess:
        return self.run(str(self.settings), *args)

    def release(self, **env: str) -> subprocess.CompletedProcess:
        return self.run("--release", str(self.settings), env=env)

    def _lines(self, name: str) -> list[str]:
        path = self.tmp / name
        return path.read_text().splitlines() if path.exists() else []

    def log(self) -> list[str]:
        return self._lines("log")

    def tags(self) -> set[str]:
        return set(self._lines("tags"))

    def calls(self) -> list[str]:
        return self._lines("calls")

    def set_state(self, name: str, state: str, done: str | None) -> None:
        self.state.mkdir(exist_ok=True)
        (self.state / f"{name}.state").write_text(f"{state} 2026-01-01T00:00:00.000+0000\n")
        if done is not None:
            (self.state / f"{name}.done").write_text(f"{done}\n")

    def recorded(self, name: str) -> tuple[str, str | None]:
        """(the .state file's state, the .done file's content or None)"""
        state = (self.state / f"{name}.state").read_text().split()[0]
        done = self.state / f"{name}.done"
        return state, done.read_text().strip() if done.exists() else None


@pytest.fixture(name="box")
def _box(tmp_path) -> Box:
    (tmp_path / "hooks").mkdir()
    calls = tmp_path / "calls"
    for hook in HOOKS:
        executable(tmp_path / "hooks" / hook, f'#!/bin/sh\necho "{hook} $*" >> {shlex.quote(str(calls))}\n')
    fake_logger(tmp_path / "bin", tmp_path / "log", tmp_path / "tags")
    settings = tmp_path / "notify.conf"
    settings.write_text(SETTINGS.format(hooks=shlex.quote(str(tmp_path / "hooks")),
                                        state=shlex.quote(str(tmp_path / "state")),
                                        calls=shlex.quote(str(calls))))
    return Box(tmp_path, settings)


def stop_hooks(kind: str, name: str) -> list[str]:
    return [f"{hook} {kind} {name} STOP 0" for hook in reversed(HOOKS)]


# ---- as keepalived runs it ------------------------------------------------------------------

def test_a_transition_records_its_state_and_then_done(box):
    box.notify("GROUP", "VIP", "MASTER", "150")
    assert box.calls() == [f"{hook} GROUP VIP MASTER 150" for hook in HOOKS]
    assert re.fullmatch(rf"MASTER {STAMP}\n", (box.state / "VIP.state").read_text())
    assert (box.state / "VIP.done").read_text() == "MASTER\n"
    assert box.log() == ["GROUP VIP -> MASTER (priority 150)"]
    assert box.tags() == {"keepalived-notify"}
    # the next transition replaces both
    box.notify("GROUP", "VIP", "BACKUP", "150")
    assert box.recorded("VIP") == ("BACKUP", "BACKUP")


def test_a_hook_sees_the_state_file_before_done(box):
    """A hook runs after STATE_DIR/NAME.state is written and before NAME.done: the done file
    of the previous transition is gone."""
    box.notify("GROUP", "VIP", "MASTER", "150")
    executable(box.hooks / "20-look", f'#!/bin/sh\necho "look $(cut -d" " -f1 {box.state}/VIP.state) '
                                      f'$(cat {box.state}/VIP.done 2>/dev/null || echo none)" '
                                      f'>> {box.tmp}/calls\n')
    box.notify("GROUP", "VIP", "FAULT", "150")
    assert "look FAULT none" in box.calls()
    assert box.recorded("VIP") == ("FAULT", "FAULT")


@pytest.mark.parametrize("state", ["BACKUP", "FAULT", "STOP"])
def test_any_other_state_runs_the_hooks_in_reverse_order(box, state):
    box.notify("GROUP", "VIP", state, "150")
    assert box.calls() == [f"{hook} GROUP VIP {state} 150" for hook in reversed(HOOKS)]
    assert box.recorded("VIP") == (state, state)


def test_an_instance_stop_stops_its_group_once(box):
    box.notify("GROUP", "DB", "MASTER", "200")
    box.notify("INSTANCE", "DB_LAN", "STOP", "0")
    box.notify("INSTANCE", "DB_HB", "STOP", "0")
    box.notify("INSTANCE", "SOLO", "STOP", "0")  # in no group
    assert box.calls() == (
        [f"{hook} GROUP DB MASTER 200" for hook in HOOKS]
        + stop_hooks("INSTANCE", "DB_LAN")
        + stop_hooks("GROUP", "DB")
        + stop_hooks("INSTANCE", "DB_HB")
        + stop_hooks("INSTANCE", "SOLO")
    )
    assert box.log() == [
        "GROUP DB -> MASTER (priority 200)",
        "INSTANCE DB_LAN -> STOP (priority 0)",
        "GROUP DB -> STOP (priority 0)",
        "INSTANCE DB_HB -> STOP (priority 0)",
        "INSTANCE SOLO -> STOP (priority 0)",
    ]
    assert box.recorded("DB") == ("STOP", "STOP")


# ---- as systemd runs it: --release (ExecStopPost=) --------------------------------------------

def test_release_of_a_master_removes_its_addresses_and_runs_the_stop_hooks(box):
    box.set_state("VIP", "MASTER", "MASTER")
    box.release(SERVICE_RESULT="signal", EXIT_CODE="killed", EXIT_STATUS="KILL")
    assert box.calls() == ["release VIP"] + stop_hooks("GROUP", "VIP")
    assert box.log() == [
        "keepalived stopped (signal, killed KILL) while VIP was MASTER (hooks done): "
        "releasing its addresses and running the STOP hooks",
        "removed 10.1.0.10/32 from eth0",
        "GROUP VIP -> STOP (priority 0)",
    ]
    assert box.tags() == {"keepalived-notify"}
    assert box.recorded("VIP") == ("STOP", "STOP")
    # idempotent: a second run (the next stop) finds a completed STOP
    box.release(SERVICE_RESULT="success", EXIT_CODE="exited", EXIT_STATUS="0")
    assert box.calls() == ["release VIP"] + stop_hooks("GROUP", "VIP")
    assert len(box.log()) == 3


def test_release_leaves_a_completed_stop_alone(box):
    box.set_state("VIP", "STOP", "STOP")
    before = (box.state / "VIP.state").read_text()
    box.release(SERVICE_RESULT="success", EXIT_CODE="exited", EXIT_STATUS="0")
    assert box.calls() == [] and box.log() == []
    assert (box.state / "VIP.state").read_text() == before


def test_release_reruns_a_stop_whose_hooks_were_interrupted(box):
    box.set_state("DB", "STOP", None)
    box.release(SERVICE_RESULT="timeout", EXIT_CODE="killed", EXIT_STATUS="KILL")
    assert box.calls() == ["release DB"] + stop_hooks("GROUP", "DB")
    assert box.log() == [
        "keepalived stopped (timeout, killed KILL) while DB was STOP (hooks interrupted): "
        "releasing its addresses and running the STOP hooks",
        "GROUP DB -> STOP (priority 0)",
    ]
    assert box.recorded("DB") == ("STOP", "STOP")


def test_release_skips_a_name_without_a_state(box):
    box.release(SERVICE_RESULT="success", EXIT_CODE="exited", EXIT_STATUS="0")
    assert box.calls() == [] and box.log() == []
    assert not (box.state / "NEW.state").exists() and not (box.state / "VIP.state").exists()


def test_release_handles_every_name_that_needs_it(box):
    """NAMES in order; kind_of gives the TYPE; without systemd's variables the line says so."""
    box.set_state("VIP", "MASTER", None)   # MASTER hooks interrupted
    box.set_state("DB", "STOP", "STOP")    # released already
    box.set_state("SOLO", "BACKUP", "BACKUP")
    box.release()
    assert box.calls() == (["release VIP"] + stop_hooks("GROUP", "VIP")
                           + ["release SOLO"] + stop_hooks("INSTANCE", "SOLO"))
    assert box.log() == [
        "keepalived stopped (unknown, ? ?) while VIP was MASTER (hooks interrupted): "
        "releasing its addresses and running the STOP hooks",
        "removed 10.1.0.10/32 from eth0",
        "GROUP VIP -> STOP (priority 0)",
        "keepalived stopped (unknown, ? ?) while SOLO was BACKUP (hooks done): "
        "releasing its addresses and running the STOP hooks",
        "removed 10.2.0.10/32 from eth1",
        "INSTANCE SOLO -> STOP (priority 0)",
    ]
    assert [box.recorded(n) for n in ("VIP", "DB", "SOLO")] == [("STOP", "STOP")] * 3


def test_release_with_the_rendered_settings_removes_the_group_addresses(tmp_path):
    """The role's hapair-notify.conf.j2 (kind_of, group_of, release_addresses) with the
    dispatcher; `ip` is a fake that records its arguments."""
    calls = tmp_path / "calls"
    fake_logger(tmp_path / "bin", tmp_path / "log", tmp_path / "tags")
    executable(tmp_path / "bin" / "ip", f'#!/bin/sh\necho "ip $*" >> {calls}\n')
    (tmp_path / "hooks").mkdir()
    executable(tmp_path / "hooks" / "50-vip-route", f'#!/bin/sh\necho "50-vip-route $*" >> {calls}\n')
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["quote"] = lambda s: shlex.quote(str(s))
    env.filters["comment"] = lambda s: f"#\n# {s}\n#"
    text = env.from_string((ROLE / "templates" / "hapair-notify.conf.j2").read_text()).render(
        ansible_managed="managed",
        keepalived_hooks_dir=str(tmp_path / "hooks"),
        keepalived_hook_timeout=5,
        keepalived_libexec_dir="/usr/local/libexec/hapair",
        keepalived_sync_groups=[{"name": "DB", "instances": ["DB_LAN", "DB_HB"]}],
        __keepalived_dispatcher_bin="/usr/local/libexec/hapair/keepalived-notify",
        __keepalived_state_dir=str(tmp_path / "state"),
        __keepalived_grouped={"DB_LAN": "DB", "DB_HB": "DB"},
        __keepalived_release={"DB": [{"address": "10.1.0.10/32", "dev": "eth0"},
                                     {"address": "10.1.0.11/32", "dev": "eth0"}],
                              "SOLO": []},
    )
    settings = tmp_path / "hapair-notify.conf"
    settings.write_text(text)
    box = Box(tmp_path, settings)
    box.set_state("DB", "MASTER", "MASTER")
    box.set_state("SOLO", "MASTER", "MASTER")
    box.release(SERVICE_RESULT="signal", EXIT_CODE="killed", EXIT_STATUS="KILL")
    assert box.calls() == ["ip addr del 10.1.0.10/32 dev eth0", "ip addr del 10.1.0.11/32 dev eth0",
                           "50-vip-route GROUP DB STOP 0", "50-vip-route INSTANCE SOLO STOP 0"]
    assert box.log()[1:4] == ["removed 10.1.0.10/32 from eth0", "removed 10.1.0.11/32 from eth0",
                              "GROUP DB -> STOP (priority 0)"]
    # an instance STOP reaches its group through the rendered group_of
    box.notify("GROUP", "DB", "MASTER", "200")
    box.notify("INSTANCE", "DB_LAN", "STOP", "0")
    assert box.calls()[-2:] == ["50-vip-route INSTANCE DB_LAN STOP 0", "50-vip-route GROUP DB STOP 0"]


def test_without_a_working_logger_the_lines_go_to_stderr(box):
    fake_logger(box.tmp / "bin", box.tmp / "log", box.tmp / "tags", status=1)
    executable(box.hooks / "30-talk", "#!/bin/sh\necho hello\n")
    proc = box.notify("GROUP", "VIP", "MASTER", "150")
    assert proc.stderr.splitlines() == ["GROUP VIP -> MASTER (priority 150)", "30-talk: hello"]
    assert box.log() == []


def test_a_hooks_output_is_logged_while_it_runs_and_its_failure_after(box):
    """A hook's lines reach the journal as the hook writes them: the hook below waits until its
    first line is logged, and says whether it was (a waiting guard explains itself while it
    waits). A last line without a newline is kept, and a non-zero exit is logged after."""
    log = shlex.quote(str(box.tmp / "log"))
    executable(box.hooks / "20-wait", "#!/bin/sh\necho 'waiting for the volume'\n"
               f"for i in $(seq 50); do grep -q '20-wait: waiting' {log} && break; sleep 0.1; done\n"
               f"grep -q '20-wait: waiting' {log} && echo 'logged while running' || echo 'not logged yet'\n"
               "printf 'no newline'\nexit 3\n")
    box.notify("GROUP", "VIP", "MASTER", "150")
    assert box.log() == ["GROUP VIP -> MASTER (priority 150)", "20-wait: waiting for the volume",
                         "20-wait: logged while running", "20-wait: no newline", "20-wait: exit status 3"]
    assert box.recorded("VIP") == ("MASTER", "MASTER")
    assert box.calls() == [f"{hook} GROUP VIP MASTER 150" for hook in HOOKS]
