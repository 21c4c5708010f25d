"""roles/vip_route/files/vip-route-witness: the witness track script succeeds when any of its
addresses answers one ping, fails when none does; a fake ``ping`` on PATH answers for the
addresses listed in $UP and records what was asked."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "roles" / "vip_route" / "files" / "vip-route-witness"

FAKE_PING = """#!/bin/sh
# fake ping: the last argument is the address; it answers when listed in $UP
for last in "$@"; do :; done
echo "$*" >> "$PING_LOG"
case " $UP " in *" $last "*) exit 0 ;; esac
exit 1
"""


def run(tmp_path, up, *addresses):
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "ping").write_text(FAKE_PING)
    (bindir / "ping").chmod(0o755)
    log = tmp_path / "ping.log"
    log.write_text("")
    env = dict(os.environ, PATH=f"{bindir}:/usr/bin:/bin", UP=" ".join(up), PING_LOG=str(log))
    proc = subprocess.run(["sh", str(SCRIPT), *addresses], env=env, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stderr, log.read_text().splitlines()


def test_the_peer_answers_first_and_nothing_else_is_asked(tmp_path):
    status, _err, asked = run(tmp_path, ["10.0.2.30"], "10.0.2.30", "10.0.12.30", "10.0.5.5")
    assert status == 0
    assert asked == ["-n -q -c 1 -W 1 10.0.2.30"]


def test_only_the_witness_answers(tmp_path):
    status, _err, asked = run(tmp_path, ["10.0.5.5"], "10.0.2.30", "10.0.12.30", "10.0.5.5")
    assert status == 0
    assert [line.split()[-1] for line in asked] == ["10.0.2.30", "10.0.12.30", "10.0.5.5"]


def test_neither_peer_nor_witness_fails(tmp_path):
    status, err, asked = run(tmp_path, [], "10.0.2.30", "10.0.5.5")
    assert status == 1
    assert "none of 10.0.2.30 10.0.5.5 answers" in err
    assert len(asked) == 2


@pytest.mark.parametrize("addresses", [(), ("",)])
def test_no_address_is_bad_usage_or_failure(tmp_path, addresses):
    status, _err, _asked = run(tmp_path, ["10.0.5.5"], *addresses)
    assert status in (1, 2) and status != 0
