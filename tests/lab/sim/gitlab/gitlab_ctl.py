"""LAB SIMULATION of `gitlab-ctl` (Omnibus GitLab's control command). Not GitLab.

    gitlab-ctl reconfigure              evaluate /etc/gitlab/gitlab.rb, apply it (see omnibus.py)
    gitlab-ctl status [SERVICE]         runit's lines: "run: gitaly: (pid 123) 45s; run: log: (pid 99) 45s"
    gitlab-ctl start|stop|restart [SERVICE]
    gitlab-ctl uninstall                kill every service process (data is kept)

Exit codes follow omnibus-ctl/runit: reconfigure 1 on error; status adds 3 per service that is
not running (LSB "not running"), 0 when all run.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import omnibus  # noqa: E402  (a sibling file, not a package)


def reconfigure() -> int:
    print("[lab simulation of gitlab-ctl reconfigure: GitLab %s]" % _version_or_unknown())
    try:
        actions, deprecations = omnibus.reconfigure()
    except omnibus.SimError as err:
        print("\nThere was an error running gitlab-ctl reconfigure:\n\n%s\n" % err)
        return 1
    for action in actions:
        print("  * %s" % action)
    print("\nRunning handlers complete\nInfra Phase complete, %d resources updated\n" % len(actions))
    print("gitlab Reconfigured!")
    if deprecations:
        print("\nDeprecations:\n" + "\n".join("* %s" % d for d in deprecations))
    return 0


def _version_or_unknown() -> str:
    try:
        return omnibus.version_text()
    except omnibus.SimError:
        return "unknown"


def _targets(args: list[str]) -> list[str] | None:
    names = omnibus.all_services()
    if not args:
        return names
    if args[0] not in names:
        return []  # a disabled/unknown service: runit has nothing to say about it
    return [args[0]]


def status(args: list[str]) -> int:
    rc = 0
    for name in _targets(args):
        line, running = omnibus.status_line(name)
        print(line)
        if not running:
            rc += 3
    return min(rc, 99)


def control(command: str, args: list[str]) -> int:
    rc = 0
    for name in _targets(args):
        if command in ("stop", "restart"):
            omnibus.stop(name)
        if command in ("start", "restart"):
            omnibus.start(name)
        line, running = omnibus.status_line(name)
        verb = "ok"
        if command != "stop" and not running:
            verb, rc = "fail", rc + 1
        print("%s: %s" % (verb, line.split(";", maxsplit=1)[0]))
    return rc


def main(argv: list[str]) -> int:
    if not argv:
        print("I don't know that command.\nUsage: gitlab-ctl reconfigure|status|start|stop|restart|uninstall")
        return 1
    command, args = argv[0], argv[1:]
    try:
        if command == "reconfigure":
            return reconfigure()
        if command == "status":
            return status(args)
        if command in ("start", "stop", "restart"):
            return control(command, args)
        if command == "uninstall":
            omnibus.uninstall()
            return 0
    except omnibus.SimError as err:
        print(str(err), file=sys.stderr)
        return 1
    print("I don't know that command.")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
