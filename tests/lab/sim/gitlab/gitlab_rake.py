"""LAB SIMULATION of `gitlab-rake`, only the task `gitlab:gitaly:check`. Not GitLab.

For every repository storage Rails is configured with (gitlab.yml, rendered by reconfigure), it
calls the Gitaly health check at the storage's address with the token and prints GitLab's
SystemCheck output (lib/system_check/gitaly_check.rb)::

    Checking Gitaly ...

    Gitaly: ... default ... OK
    storage1 ... FAIL: 7:permission denied

    Checking Gitaly ... Finished

Like the real task it exits 0 even when a storage FAILs: callers must read the output.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import omnibus  # noqa: E402  (a sibling file, not a package)


def gitaly_check() -> int:
    try:
        config = omnibus.load_rails_config()
    except omnibus.SimError as err:
        print("rake aborted!\n%s" % err, file=sys.stderr)
        return 1
    print("Checking Gitaly ...\n")
    first = True
    for name, storage in config["storages"].items():
        prefix = "Gitaly: ... " if first else ""
        first = False
        try:
            answer = omnibus.gitaly_request(storage["address"], storage.get("token"), "GET", "/healthz", timeout=5)
        except omnibus.GitalyUnavailable:
            print("%s%s ... FAIL: 14:failed to connect to all addresses" % (prefix, name))
            continue
        if answer.get("code") == 0 and answer.get("status") == "SERVING":
            print("%s%s ... OK" % (prefix, name))
        else:
            print("%s%s ... FAIL: %s:%s" % (prefix, name, answer.get("code", 2), answer.get("message", "unknown")))
    print("\nChecking Gitaly ... Finished\n")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["gitlab:gitaly:check"]:
        return gitaly_check()
    print("rake aborted!\nDon't know how to build task '%s' (lab simulation: only gitlab:gitaly:check)"
          % (argv[0] if argv else ""), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
