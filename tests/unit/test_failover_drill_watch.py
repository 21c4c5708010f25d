"""failover-drill-watch (roles/failover_drill/files), the client side of a failover drill, run
here with stand-in probe and marker commands: who answered, when the peer took over, the marker,
the timeout, one probe only, the ready file."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.drill.timeline import parse_watch_log

SCRIPT = Path(__file__).resolve().parents[2] / "roles" / "failover_drill" / "files" / "failover-drill-watch"


def run(tmp_path: Path, answers: list[str], **env) -> tuple[int, str]:
    """Run the watcher; the probe prints answers[n] on its n-th call (the last one for ever);
    an answer "FAIL" makes it exit 7."""
    script = tmp_path / "probe"
    lines = ["n=$(cat \"$0.count\" 2>/dev/null || echo 0); echo $((n+1)) > \"$0.count\""]
    for i, answer in enumerate(answers):
        test = f"[ $n -eq {i} ]" if i < len(answers) - 1 else "true"
        action = "exit 7" if answer == "FAIL" else f"printf '%s\\n' '{answer}'; exit 0"
        lines.append(f"if {test}; then {action}; fi")
    script.write_text("\n".join(lines) + "\n")
    environ = dict(os.environ, FAILOVER_DRILL_PROBE=f"sh {script}", FAILOVER_DRILL_OLD_IDS="gl-1 02:68:6c:05:0a:00",
                   FAILOVER_DRILL_NEW_IDS="gl-2 gl-2.example.com", FAILOVER_DRILL_INTERVAL="0.05",
                   FAILOVER_DRILL_TIMEOUT="5")
    environ.update(env)
    proc = subprocess.run(["sh", str(SCRIPT)], capture_output=True, text=True, env=environ, timeout=30, check=False)
    return proc.returncode, proc.stdout


def test_takeover(tmp_path):
    rc, out = run(tmp_path, ["gl-1", "gl-1", "FAIL", "FAIL", "Served by GL-2:8080"])
    assert rc == 0
    kinds = [line.split()[0] for line in out.splitlines()]
    assert kinds == ["start", "probe", "probe", "probe", "served_by_peer"]   # a line per change only
    watch = parse_watch_log(out)
    assert [(p["rc"], p["who"]) for p in watch["probes"]] == [(0, "old"), (7, "none"), (0, "new")]
    assert watch["served_by_peer"]["end"] >= watch["probes"][-1]["start"]


@pytest.mark.parametrize("answer, who", [
    ("gl-1", "old"),
    ("198.19.95.10 dev eth0 lladdr 02:68:6c:05:0a:00 REACHABLE", "old"),   # a MAC keeps its colons
    ('{"node": "gl-2.example.com"}', "new"),
    ("gl-10", "none"),                                                     # whole words only
    ("nobody", "none"),
])
def test_who_answered(tmp_path, answer, who):
    rc, out = run(tmp_path, [answer], FAILOVER_DRILL_ONCE="1")
    assert rc == 0 and out.split()[0] == "probe" and out.split()[3:] == ["0", who]


def test_the_probe_output_is_never_printed(tmp_path):
    rc, out = run(tmp_path, ["gl-2 token=secret-7Qx2"])
    assert rc == 0 and "secret" not in out


def test_marker_after_the_takeover(tmp_path):
    marker = tmp_path / "marker"
    read = f"n=$(cat {marker}.n 2>/dev/null || echo 0); echo $((n+1)) > {marker}.n; [ $n -ge 2 ] && echo \"x $M y\""
    rc, out = run(tmp_path, ["gl-2"], FAILOVER_DRILL_MARKER_READ=read, FAILOVER_DRILL_MARKER="drill-42", M="drill-42")
    assert rc == 0 and out.splitlines()[-1].startswith("marker_served ")
    assert (marker.parent / "marker.n").read_text().strip() == "3"       # read until it came back
    rc, out = run(tmp_path, ["gl-2"], FAILOVER_DRILL_MARKER_READ="echo other", FAILOVER_DRILL_MARKER="drill-42",
                  FAILOVER_DRILL_TIMEOUT="1")
    assert rc == 5 and out.splitlines()[-1].startswith("marker_timeout ")


def test_timeout(tmp_path):
    rc, out = run(tmp_path, ["gl-1"], FAILOVER_DRILL_TIMEOUT="1")
    assert rc == 3 and out.splitlines()[-1].startswith("timeout ")
    assert parse_watch_log(out)["timed_out_at"] is not None


def test_ready_file(tmp_path):
    ready = tmp_path / "ready"
    probe = f"test -e {ready} && echo gl-2 || echo gl-1"     # the peer answers once the file exists
    environ = dict(os.environ, FAILOVER_DRILL_PROBE=probe, FAILOVER_DRILL_OLD_IDS="gl-1", FAILOVER_DRILL_NEW_IDS="gl-2",
                   FAILOVER_DRILL_INTERVAL="0.05", FAILOVER_DRILL_TIMEOUT="5", FAILOVER_DRILL_READY=str(ready))
    proc = subprocess.run(["sh", str(SCRIPT)], capture_output=True, text=True, env=environ, timeout=30, check=False)
    assert proc.returncode == 0 and "served_by_peer" in proc.stdout
    assert not ready.exists()                                  # removed when the watcher exits
