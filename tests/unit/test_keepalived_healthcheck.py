"""keepalived-healthcheck (roles/keepalived/files), the track script with the restart-once
contract, run on the controller with stand-in commands: a passing check, a failure fixed by
the one restart, a restart that fails (give up at once), a restart that does not help (give
up after the wait), and a plain check without a restart."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "roles" / "keepalived" / "files" / "keepalived-healthcheck"


def settings(tmp: Path, restart: str, wait: int = 2) -> Path:
    conf = tmp / "check.conf"
    conf.write_text(f"NAME=app\nCHECK='test -e {tmp}/up'\nCHECK_TIMEOUT=2\nRESTART='{restart}'\nRESTART_WAIT={wait}\n"
                    f"GIVE_UP='touch {tmp}/gave-up'\nNOTIFY_LOG={tmp}/notify.log\nSTATE_DIR={tmp}/state\n")
    return conf


def run(conf: Path) -> tuple[int, float]:
    t0 = time.monotonic()
    proc = subprocess.run([str(SCRIPT), str(conf)], capture_output=True, text=True, timeout=30, check=False)
    return proc.returncode, time.monotonic() - t0


def log(tmp: Path) -> str:
    path = tmp / "notify.log"
    return path.read_text() if path.exists() else ""


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
    assert "check app: failed: restarting the service once" in text and "passes after the restart" in text
    assert not (tmp_path / "gave-up").exists()
    # a later failure is a new failure: it gets its own restart
    (tmp_path / "up").unlink()
    assert run(settings(tmp_path, f"touch {tmp_path}/up"))[0] == 0
    assert log(tmp_path).count("restarting the service once") == 2


def test_a_failed_restart_gives_up_at_once(tmp_path):
    rc, took = run(settings(tmp_path, "echo cannot start; exit 1", wait=5))
    assert rc == 1 and took < 4
    assert wait_for(tmp_path / "gave-up")
    text = log(tmp_path)
    assert "restart: cannot start" in text and "restart exited with status 1" in text
    assert "still failing after one restart: giving up, stopping keepalived so that the peer takes over" in text
    # the next run does not restart again: it has given up
    assert run(settings(tmp_path, f"touch {tmp_path}/restarted"))[0] == 1
    assert not (tmp_path / "restarted").exists()


def test_a_restart_that_does_not_help_gives_up_after_the_wait(tmp_path):
    rc, took = run(settings(tmp_path, "true", wait=2))
    assert rc == 1 and 1.5 <= took < 6
    assert wait_for(tmp_path / "gave-up")


def test_a_run_while_another_waits_reports_healthy(tmp_path):
    conf = settings(tmp_path, f"sleep 1; touch {tmp_path}/up", wait=3)
    first = subprocess.Popen([str(SCRIPT), str(conf)])  # pylint: disable=consider-using-with
    time.sleep(0.3)
    assert run(conf)[0] == 0  # the lock is held by the waiting run
    assert first.wait(timeout=20) == 0
    assert log(tmp_path).count("restarting the service once") == 1


def test_a_plain_check_leaves_the_decision_to_keepalived(tmp_path):
    conf = tmp_path / "plain.conf"
    conf.write_text(f"NAME=plain\nCHECK='false'\nNOTIFY_LOG={tmp_path}/notify.log\nSTATE_DIR={tmp_path}/state\n")
    assert run(conf)[0] == 1
    assert log(tmp_path) == ""
