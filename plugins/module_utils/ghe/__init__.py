# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GitHub Enterprise Server (GHES) replication logic for hapair.ha, as plain Python.

The modules ``repl_status_info``, ``repl_setup``, ``repl_promote``, ``ghe_maintenance`` and
``ghe_maintenance_info`` run ON the appliance (Ansible connects as ``admin`` on port 122) and drive the ``ghe-*`` utilities
there. Everything they do goes through one injected runner, so the logic is unit-tested
without an appliance; the contract below is the complete interface to the appliance.

Runner contract
===============
``run(args: list[str], data: str | None = None) -> (rc: int, stdout: str, stderr: str)``.
``args`` is an argv list (no shell). ``data``, when given, is written verbatim to stdin
(modules pass ``binary_data=True`` so no newline is added). ``make_runner`` adapts
``AnsibleModule.run_command``; commands run with ``LC_ALL=C``/``LANG=C``.

``run.read(path: str) -> str | None``: a file's text, or None when it does not exist; any
other failure raises ``OSError``. ``make_runner`` reads with Python (no command is run).

Commands and files relied on (the complete set)
===============================================
Read-only (also run in check mode):

read ``/etc/github/repl-state``
    Node role. Content ``replica`` or ``primary`` (whitespace stripped). A missing file
    means a standalone node that was never part of a
    replication pair. backup-utils relies on the same file (``ghe-host-check`` refuses
    ``replica``; ``ghe-restore`` refuses any existing file). Other content is an error.

read ``/data/user/common/cluster.conf``
    Read when the role is not standalone. git-config syntax as GHES writes it::

        [cluster]
          mysql-master = ghe-primary
          redis-master = ghe-primary
        [cluster "ghe-primary"]
          hostname = ghe-primary
          ipv4 = 10.0.0.1
        [cluster "ghe-replica-1"]
          hostname = ghe-replica-1
          ipv4 = 10.0.0.2
          replica = enabled

    The primary is the node named by ``cluster.mysql-master`` (or, without that key, the
    only node lacking ``replica = enabled``); ``primary_host`` matches its section name,
    ``hostname``, ``ipv4`` or ``ipv6`` (case-insensitive). Replicas are the nodes with
    ``replica = enabled``. A missing file on a replica means "primary unknown".

``ghe-repl-status -vv``
    Parsed by :mod:`.status`: lines ``STATUS: message`` (STATUS = OK, WARNING, CRITICAL,
    UNKNOWN), detail lines ``  | text`` belonging to the preceding status line, blank lines
    ignored, anything else kept as a note. Exit code 0 all OK, 1 any WARNING or replication
    not started (it then prints ``Replication is not running``), 2 any CRITICAL (Nagios
    conventions, GitHub's command-line-utilities page). Replication counts as running when
    at least one ``STATUS:`` line is printed.

``ghe-maintenance -q``
    Prints ``maintenance mode set`` or ``maintenance mode not set``; the text decides, the
    exit code is not relied on. Anything else is an error.

Mutating (never run in check mode):

``ghe-repl-setup [--add] PRIMARY``
    stdin is exactly one line: ``y\\n`` when ``overwrite_primary_data`` is true, else
    ``N\\n`` -- the answer to "Proceed with initializing this instance as a replica? [y/N]",
    asked after "Warning: This instance is or has been a configured primary instance."
    Outcomes recognised in stdout+stderr (case-insensitive):

    * ``authorize the following SSH key`` followed (same line after ``:`` or a later line)
      by an OpenSSH public key, and "Run `ghe-repl-setup PRIMARY' once the key has been
      added": the key needs authorising on the primary -> ``needs_key_authorization``.
    * ``Proceed with initializing this instance as a replica`` while answering ``N``:
      refused, the node is or was a primary.
    * rc 0 and ``Success: Replica mode is configured against``: configured.
    * anything else: error (the output's tail is reported).

``ghe-repl-start`` / ``ghe-repl-stop`` / ``ghe-repl-teardown`` / ``ghe-repl-promote``
    rc 0 means success. The documented closing lines ("Success: replication is running for
    all services.", "Success: replication was stopped for all services.", "Success:
    Replication configuration has been removed.", "Success: Replica has been promoted to
    primary and is now accepting requests.") are checked case-insensitively; rc 0 without
    them only adds a warning.

``ghe-maintenance -s`` / ``ghe-maintenance -u``
    rc 0 means success; the state is then re-read with ``ghe-maintenance -q``.

HTTP (``ansible.module_utils.urls.open_url``: ``validate_certs``, ``ca_path``):

``GET http(s)://HOST/status``
    200 on an active node, 503 on a passive replica or in maintenance (GitHub's "Monitoring
    a high-availability configuration"). ``repl_promote`` requires the primary's to answer
    non-200 before a planned promotion and polls the local one for 200 afterwards. Never
    through a proxy (a proxy's own error page would pass for a primary that stopped serving).

``POST https://PRIMARY:8443/manage/v1/access/ssh`` (optional, ``repl_setup``)
    JSON ``{"key": "<public key>"}``, basic auth ``api_key:<root site admin password>``
    (Manage GHES API, "Set a new SSH key"). Only used when a password is given; the password
    never appears in results or messages. Through the environment's proxy, if any; redirects
    are not followed.
"""

from __future__ import annotations


class GheError(Exception):
    """The one exception of the ghe area: raised in module_utils, caught once in ``main()``.

    ``details`` are extra, secret-free result keys for ``fail_json`` (e.g. ``promoted``).
    """

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.details = details


def make_runner(run_command):
    """Adapt ``AnsibleModule.run_command`` to the runner contract described above."""

    def run(args, data=None):
        kwargs = {"environ_update": {"LC_ALL": "C", "LANG": "C"}}
        if data is not None:
            kwargs["data"] = data
            kwargs["binary_data"] = True
        rc, out, err = run_command(list(args), **kwargs)
        return rc, out or "", err or ""

    run.read = read_text
    return run


def read_text(path):
    """The text of a file on the node, or None when it does not exist (read by Python: no
    ``cat`` through ``run_command``). Other failures (permissions...) raise ``OSError``."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def command_text(args):
    """Render an argv list for results (arguments never contain secrets here)."""
    return " ".join(str(a) for a in args)
