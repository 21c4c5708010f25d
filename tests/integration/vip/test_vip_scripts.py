"""The shell helpers of the keepalived and vip_route roles, run on the controller without the
lab: the notify dispatcher (order, logging, state and done files, failing and slow hooks), the
config test wrapper (only the heartbeat instance's "No VIP" message is accepted), and the VIP
hook's state and name filter and retries (with a stand-in failover command).

The dispatcher logs with logger --journald; a fake logger first in PATH catches the lines (the
message after ``--`` to a file, the -t tag to another). Its --release mode (keepalived.service's
ExecStopPost=) is tested in tests/unit/test_keepalived_notify.py."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.fake_journal import fake_journal
from tests.lab.pytest_support import default_release_only

# run on the controller, not on a lab host: the Debian 13 run of this suite would repeat them
pytestmark = default_release_only

ROOT = Path(__file__).resolve().parents[3]
KEEPALIVED_FILES = ROOT / "roles" / "keepalived" / "files"
VIP_FILES = ROOT / "roles" / "vip_route" / "files"


def script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def fake_logger(tmp: Path) -> dict:
    """The journal caught in tmp/log and tmp/tags (tests/fake_journal.py); returns the
    environment with the fake logger first in PATH."""
    fake_journal(tmp / "bin", tmp / "log", tmp / "tags")
    return dict(os.environ, PATH=f"{tmp / 'bin'}:{os.environ['PATH']}")


def dispatcher_settings(tmp: Path, timeout: int = 5) -> Path:
    (tmp / "hooks").mkdir()
    settings = tmp / "notify.conf"
    settings.write_text(f"HOOKS_DIR={tmp / 'hooks'}\nSTATE_DIR={tmp / 'state'}\nHOOK_TIMEOUT={timeout}\n")
    return settings


def test_dispatcher_logs_records_state_and_runs_hooks_in_order(tmp_path):
    settings = dispatcher_settings(tmp_path, timeout=1)
    hooks = tmp_path / "hooks"
    script(hooks / "50-second", '#!/bin/sh\necho "second $KEEPALIVED_STATE $1 $2 $3 $4"\n')
    script(hooks / "10-first", "#!/bin/sh\necho first; echo oops >&2; exit 3\n")
    script(hooks / "70-slow", "#!/bin/sh\nsleep 5\necho never\n")
    script(hooks / "60-skip.disabled", "#!/bin/sh\necho disabled\n")
    (hooks / "40-not-executable").write_text("#!/bin/sh\necho no\n")
    env = fake_logger(tmp_path)
    proc = subprocess.run([str(KEEPALIVED_FILES / "keepalived-notify"), str(settings), "GROUP", "VIP", "MASTER", "0"],
                          capture_output=True, text=True, timeout=30, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # every line went to logger
    assert (tmp_path / "log").read_text().splitlines() == [
        "GROUP VIP -> MASTER (priority 0)",
        "10-first: first",
        "10-first: oops",
        "10-first: exit status 3",
        "50-second: second MASTER GROUP VIP MASTER 0",
        "70-slow: exit status 124",
    ]
    assert set((tmp_path / "tags").read_text().splitlines()) == {"keepalived-notify"}
    assert (tmp_path / "state" / "VIP.state").read_text().startswith("MASTER ")
    # the slow hook was killed, the others failed or not: the transition's hooks all ran
    assert (tmp_path / "state" / "VIP.done").read_text() == "MASTER\n"


def test_config_test_accepts_only_the_heartbeat_instances_missing_vip(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    script(fake / "keepalived", '#!/bin/sh\ncat "$3"; exit 5\n')  # prints its "errors" from the file
    env = dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}")
    test = str(KEEPALIVED_FILES / "keepalived-config-test")
    conf = tmp_path / "keepalived.conf"

    conf.write_text("(VIP_HB) No VIP specified; at least one is sensible\n")
    assert subprocess.run([test, "--no-vip", "VIP_HB", str(conf)], env=env, check=False).returncode == 0
    assert subprocess.run([test, str(conf)], env=env, capture_output=True, check=False).returncode == 1
    conf.write_text("(VIP_HB) No VIP specified; at least one is sensible\n(VIP_LAN) Unknown interface!\n")
    bad = subprocess.run([test, "--no-vip", "VIP_HB", str(conf)], env=env, capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "Unknown interface" in bad.stderr and "No VIP" not in bad.stderr


def test_vip_hook_acts_only_on_master_of_its_group_and_retries(tmp_path):
    calls = tmp_path / "calls"
    command = script(tmp_path / "failover", f'#!/bin/sh\necho "$@" >> {calls}\n'
                     f'n=$(wc -l < {calls}); [ "$n" -ge 2 ] && echo "rtb-1: eni-a -> eni-b replaced" && exit 0\n'
                     'echo "throttled" >&2; exit 1\n')
    settings = tmp_path / "hook.conf"
    log_file = tmp_path / "vip-route.log"
    settings.write_text(f"COMMAND={command}\nCONFIG=/etc/x.conf\nNAMES='VIP'\nATTEMPTS=3\nRETRY_DELAY=0\n"
                        f"LOG_FILE={log_file}\n")
    hook = str(VIP_FILES / "vip-route-hook")

    def run(*args):
        return subprocess.run([hook, str(settings), *args], capture_output=True, text=True, timeout=30, check=False)

    assert run("GROUP", "VIP", "BACKUP", "0").returncode == 0 and not calls.exists()
    assert run("GROUP", "OTHER", "MASTER", "0").returncode == 0 and not calls.exists()
    done = run("GROUP", "VIP", "MASTER", "0")
    assert done.returncode == 0, done.stdout
    assert calls.read_text().splitlines() == ["--config /etc/x.conf", "--config /etc/x.conf"]
    assert "attempt 1 of 3 failed with exit status 1" in done.stdout
    assert "rtb-1: eni-a -> eni-b replaced" in done.stdout and "routes point at this node (attempt 2" in done.stdout
    # the failed attempt's output is also appended to LOG_FILE (a failed fence says why there too)
    logged = log_file.read_text().splitlines()
    assert len(logged) == 1 and logged[0].endswith(" hook (exit 1): throttled"), logged
