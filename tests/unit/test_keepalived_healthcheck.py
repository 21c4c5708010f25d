"""keepalived-healthcheck (roles/keepalived/files), the track script with the restart-once
contract, run on the controller with stand-in commands: a passing check, a failure fixed by
the one restart, a restart that fails (give up at once), a restart that does not help (give
up after the wait), and a plain check without a restart.

Log lines are caught by a fake ``logger --journald`` first in PATH (the message after ``--`` to a file, the
-t tag to another), as the script would send them to the journal."""
from __future__ import annotations

from tests.fake_journal import fake_journal

import os
import subprocess
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "roles" / "keepalived" / "files" / "keepalived-healthcheck"


def fake_logger(tmp: Path, status: int = 0) -> None:
    """The journal, caught in tmp/log and tmp/tags: see tests/fake_journal.py."""
    fake_journal(tmp / "bin", tmp / "log", tmp / "tags", status)


def settings(tmp: Path, restart: str, wait: int = 2) -> Path:
    fake_logger(tmp)
    conf = tmp / "check.conf"
    conf.write_text(f"NAME=app\nCHECK='test -e {tmp}/up'\nCHECK_TIMEOUT=2\nRESTART='{restart}'\nRESTART_WAIT={wait}\n"
                    f"GIVE_UP='touch {tmp}/gave-up'\nSTATE_DIR={tmp}/state\n")
    return conf


def fake_path(conf: Path) -> dict:
    """The environment with the fake logger first in PATH."""
    return dict(os.environ, PATH=f"{conf.parent / 'bin'}:{os.environ['PATH']}")


def run(conf: Path) -> tuple[int, float]:
    return run_proc(conf)[:2]


def run_proc(conf: Path) -> tuple[int, float, str]:
    t0 = time.monotonic()
    proc = subprocess.run([str(SCRIPT), str(conf)], capture_output=True, text=True, timeout=30, env=fake_path(conf),
                          check=False)
    return proc.returncode, time.monotonic() - t0, proc.stderr


def log(tmp: Path) -> str:
    path = tmp / "log"
    return path.read_text() if path.exists() else ""


def tags(tmp: Path) -> set[str]:
    path = tmp / "tags"
    return set(path.read_text().splitlines()) if path.exists() else set()


def wait_for(path: Path) -> bool:
    for _attempt in range(50):
        if path.exists():
            return True
        time.sleep(0.1)
    return False


def test_a_passing_check_does_nothing(tmp_path):
    (tmp_path / "up").touch()
    assert run(settings(tmp_path, f"touch {tmp_path}/restarted"))[0] == 0
    assert not (tmp_path / "restarted").exists() and log(tmp_path) == ""


def test_one_restart_that_fixes_it_keeps_the_node(tmp_path):
    assert run(settings(tmp_path, f"touch {tmp_path}/up"))[0] == 0
    text = log(tmp_path)
    assert text.splitlines() == [
        f"check app: failed: restarting the service once (touch {tmp_path}/up)",
        "check app: passes after the restart",
    ]
    assert tags(tmp_path) == {"keepalived-check"}
    assert not (tmp_path / "gave-up").exists()
    # a later failure is a new failure: it gets its own restart
    (tmp_path / "up").unlink()
    assert run(settings(tmp_path, f"touch {tmp_path}/up"))[0] == 0
    assert log(tmp_path).count("restarting the service once") == 2


def test_a_failed_restart_gives_up_at_once(tmp_path):
    rc, took = run(settings(tmp_path, "echo cannot start; exit 1", wait=5))
    assert rc == 1 and took < 4
    assert wait_for(tmp_path / "gave-up")
    assert log(tmp_path).splitlines() == [
        "check app: failed: restarting the service once (echo cannot start; exit 1)",
        "check app: restart: cannot start",
        "check app: restart exited with status 1",
        "check app: still failing after one restart: giving up, stopping keepalived so that the peer takes over"
        f" (touch {tmp_path}/gave-up)",
    ]
    # the next run does not restart again: it has given up
    assert run(settings(tmp_path, f"touch {tmp_path}/restarted"))[0] == 1
    assert not (tmp_path / "restarted").exists()


def test_a_restart_that_does_not_help_gives_up_after_the_wait(tmp_path):
    rc, took = run(settings(tmp_path, "true", wait=2))
    assert rc == 1 and 1.5 <= took < 6
    assert wait_for(tmp_path / "gave-up")


def test_a_run_while_another_waits_reports_healthy(tmp_path):
    conf = settings(tmp_path, f"sleep 1; touch {tmp_path}/up", wait=3)
    first = subprocess.Popen([str(SCRIPT), str(conf)], env=fake_path(conf))  # pylint: disable=consider-using-with
    time.sleep(0.3)
    assert run(conf)[0] == 0  # the lock is held by the waiting run
    assert first.wait(timeout=20) == 0
    assert log(tmp_path).splitlines() == [
        f"check app: failed: restarting the service once (sleep 1; touch {tmp_path}/up)",
        "check app: passes after the restart",
    ]


def test_a_plain_check_leaves_the_decision_to_keepalived(tmp_path):
    conf = tmp_path / "plain.conf"
    fake_logger(tmp_path)
    conf.write_text(f"NAME=plain\nCHECK='false'\nSTATE_DIR={tmp_path}/state\n")
    assert run(conf)[0] == 1
    assert log(tmp_path) == ""


def test_without_a_working_logger_the_lines_go_to_stderr(tmp_path):
    conf = settings(tmp_path, f"touch {tmp_path}/up")
    fake_logger(tmp_path, status=1)
    rc, _took, stderr = run_proc(conf)
    assert rc == 0
    assert stderr.splitlines() == [
        f"check app: failed: restarting the service once (touch {tmp_path}/up)",
        "check app: passes after the restart",
    ]
    assert log(tmp_path) == ""
