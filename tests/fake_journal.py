"""A stand-in for ``logger --journald`` for tests that run the keepalived role's scripts outside a
host: first in PATH, it reads the journal fields on stdin and appends MESSAGE to a log file and
SYSLOG_IDENTIFIER to a tags file (one line per entry), and exits with the given status
(non-zero: as if the journal were unreachable, so the scripts fall back to stderr). It also
checks that every entry names the unit it is about (OBJECT_SYSTEMD_UNIT), as the scripts must
for ``journalctl -u keepalived`` to show it."""
from __future__ import annotations

import shlex
from pathlib import Path


def fake_journal(bin_dir: Path, log: Path, tags: Path, status: int = 0) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "logger"
    path.write_text(f"""#!/bin/sh
[ {status} -eq 0 ] || exit {status}
[ "$1" = --journald ] || {{ echo "fake logger: only --journald" >&2; exit 64; }}
unit=
while IFS= read -r line; do
    case $line in
        MESSAGE=*) printf '%s\\n' "${{line#MESSAGE=}}" >> {shlex.quote(str(log))} ;;
        SYSLOG_IDENTIFIER=*) printf '%s\\n' "${{line#SYSLOG_IDENTIFIER=}}" >> {shlex.quote(str(tags))} ;;
        OBJECT_SYSTEMD_UNIT=*) unit=${{line#OBJECT_SYSTEMD_UNIT=}} ;;
    esac
done
[ "$unit" = keepalived.service ] || {{ echo "fake logger: no OBJECT_SYSTEMD_UNIT=keepalived.service" >&2; exit 65; }}
exit 0
""")
    path.chmod(0o755)
    return path
