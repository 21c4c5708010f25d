"""A stand-in for systemd-cat(1) for tests that run the keepalived role's scripts outside a host:
first in PATH, it appends what it reads on stdin to a log file and its ``-t`` tag to a tags
file (one line per call), and exits with the given status (non-zero: as if the journal were
unreachable, so the scripts fall back to stderr)."""
from __future__ import annotations

import shlex
from pathlib import Path


def fake_systemd_cat(bin_dir: Path, log: Path, tags: Path, status: int = 0) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "systemd-cat"
    path.write_text(f"""#!/bin/sh
[ {status} -eq 0 ] || exit {status}
tag=
while [ $# -gt 0 ]; do
    case $1 in
        -t) tag=$2; shift 2 ;;
        *) shift ;;
    esac
done
cat >> {shlex.quote(str(log))}
printf '%s\\n' "$tag" >> {shlex.quote(str(tags))}
exit 0
""")
    path.chmod(0o755)
    return path
