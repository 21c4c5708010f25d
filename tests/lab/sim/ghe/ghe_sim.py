"""LAB SIMULATION of a GitHub Enterprise Server (GHES) appliance -- not GitHub code.

Test infrastructure for the hapair.ha lab only. Installed into a lab host by ``boot.sh`` as
/usr/local/lib/ghe-sim/ghe_sim.py, with a two-line wrapper per ``ghe-*`` command in
/usr/local/bin (``exec /usr/bin/python3 .../ghe_sim.py ghe-repl-setup "$@"``; ``/usr`` is a
per-host overlay, so this stays inside the host). It stands in
for the parts of an appliance the hapair.ha GHE modules and roles touch, following GitHub's
documentation and the contract in plugins/module_utils/ghe/__init__.py:

* ``ghe-repl-setup [--add] PRIMARY``: the first run generates the admin user's key pair and
  asks for its public key to be authorised on the primary; every run REALLY connects to
  ``admin@PRIMARY`` on port 122 with that key and only goes on once the primary accepts it.
  A node that is or has been a primary asks "Proceed with initializing this instance as a
  replica? [y/N]" (one line read from stdin). ``--add`` keeps the other replicas; at most 8.
* ``ghe-repl-start`` / ``-stop`` / ``-teardown`` / ``-promote`` / ``-status [-v|-vv]``.
  Replication REALLY copies the datastores (``/data/repositories``, ``/data/user/{mysql,redis,
  elasticsearch,pages}``) from the primary with rsync over SSH (port 122, the replica's key), in
  a loop process that ``ghe-repl-start`` starts and ``ghe-repl-stop`` ends. ``ghe-repl-status``
  compares the replica's data with the primary's (``rsync --dry-run --checksum``): "in sync"
  only when they match. Nagios exit codes: 0 all OK, 1 WARNING or not running, 2 CRITICAL.
* ``ghe-maintenance -s | -u | -q``.
* ``httpd``: ``/status`` on 80 and 443 (200 on an active node, 503 on a replica or in
  maintenance) and the Manage API on 8443 (HTTPS, basic auth ``api_key:<root site admin
  password>``): ``GET/POST/DELETE /manage/v1/access/ssh``, ``GET/POST /manage/v1/maintenance``.

Node-local files (as on an appliance): ``/etc/github/repl-state`` (``primary``/``replica``,
absent when standalone), ``/data/user/common/cluster.conf`` (git-config syntax),
``/data/user/common/uuid``. Simulation-only state lives in ``/data/user/common/ghe-sim/``
(maintenance flag, "has been a primary" marker, replication bookkeeping) and ``/run/ghe-sim``.

Formats follow GitHub's documentation (each format below cites its page):

* Command-line utilities (flags, exit codes of ``ghe-repl-status``, ``ghe-repl-promote``/``-setup``/
  ``-start``/``-stop``/``-teardown``, ``ghe-maintenance -h``, ``ghe-cluster-maintenance -q|-s
  [MESSAGE]|-m MESSAGE|-u``):
  https://docs.github.com/en/enterprise-server@latest/admin/administering-your-instance/administering-your-instance-from-the-command-line/command-line-utilities
* Failover procedure (maintenance mode, wait until Git operations, MySQL queries and Resque jobs
  reach zero, then 30 s, ``ghe-repl-status -vv``, ``ghe-repl-promote``):
  https://docs.github.com/en/enterprise-server@latest/admin/monitoring-and-managing-your-instance/configuring-high-availability/initiating-a-failover-to-your-replica-appliance
* ``/status`` 200 on an active node, 503 on a passive replica or in maintenance:
  https://docs.github.com/en/enterprise-server@latest/admin/monitoring-and-managing-your-instance/configuring-high-availability/monitoring-a-high-availability-configuration
* Manage GHES API (basic auth ``api_key:PASSWORD``, ``/manage/v1/access/ssh``,
  ``/manage/v1/maintenance`` with ``connection_services``, ``ip_exception_list``,
  ``maintenance_mode_message``):
  https://docs.github.com/en/enterprise-server@latest/rest/enterprise-admin/manage-ghes
* Maintenance mode refuses HTTP (503) and Git; in-flight work drains:
  https://docs.github.com/en/enterprise-server@latest/admin/administering-your-instance/configuring-maintenance-mode/enabling-and-scheduling-maintenance-mode

GitHub's pages give no sample of the status lines themselves (``OK: mysql replication is in
sync`` ...), of ``ghe-repl-setup``'s dialogue or of ``ghe-maintenance -q``'s answer; those lines
are the ones GHES 3.x prints (as quoted in public transcripts of GHES 3.6) and are marked
"(not in GitHub's docs)" where they are produced.

Test hooks (simulation only): ``/run/ghe-sim/activity.json`` -- in-flight work the Manage API
reports as ``connection_services``, e.g. ``{"git operations": 3, "mysql queries": 1,
"drain_after_seconds": 6}``: the numbers stand until maintenance mode has been on for
``drain_after_seconds`` (without that key: until the file changes), then they are 0, as the
in-flight operations finish once maintenance mode refuses new ones. ``/var/log/lab/ghe-sim-events.log``
is the simulator's own journal (JSON lines with an epoch ``t``): maintenance mode switched,
every maintenance status served with its numbers, ``ghe-repl-promote`` started -- what a test
reads to know what really happened on the appliance, never the product's own output.

Known simplifications: no MySQL/Redis/Elasticsearch processes (their data are plain files
copied like the rest), no VPN on 1194/udp (replication runs over SSH), Git replication keeps
going while the primary is in maintenance mode, scheduled maintenance is not simulated.
The ``ghe-*`` commands run as ``admin`` (root drops to ``admin``), as on an appliance where
``admin`` runs them over SSH on port 122.
"""
from __future__ import annotations

import base64
import hmac
import http.server
import json
import os
import pwd
import re
import shlex
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time

ADMIN = "admin"
SSH_PORT = 122
MAX_REPLICAS = 8
SIM_LIB = "/usr/local/lib/ghe-sim/ghe_sim.py"
REPL_STATE = "/etc/github/repl-state"
SIM_CONF = "/etc/github/ghe-sim.json"
PASSWORD_FILE = "/etc/github/manage-password"
TLS_CERT = "/etc/github/ssl/ghe.crt"
TLS_KEY = "/etc/github/ssl/ghe.key"
DATA = "/data"
COMMON = "/data/user/common"
CLUSTER_CONF = "/data/user/common/cluster.conf"
UUID_FILE = "/data/user/common/uuid"
STATE_DIR = "/data/user/common/ghe-sim"
MAINTENANCE_FILE = STATE_DIR + "/maintenance.json"
WAS_PRIMARY_FILE = STATE_DIR + "/was-primary"
STARTED_FILE = STATE_DIR + "/replication-started"
SYNC_STATE_FILE = STATE_DIR + "/sync.json"
RUN_DIR = "/run/ghe-sim"
LOOP_PID_FILE = RUN_DIR + "/repl-loop.pid"
ACTIVITY_FILE = RUN_DIR + "/activity.json"
LOOP_LOG = "/var/log/lab/ghe-repl-loop.log"
EVENT_LOG = "/var/log/lab/ghe-sim-events.log"
CONNECTION_SERVICES = ("git operations", "mysql queries", "aqueduct jobs", "resque jobs")
ADMIN_HOME = "/home/admin"
KEY = ADMIN_HOME + "/.ssh/id_ed25519"
AUTHORIZED_KEYS = ADMIN_HOME + "/.ssh/authorized_keys"
# Datastores as ghe-repl-status reports them, and where their data lives under /data.
DATASTORES = (
    ("mysql", "user/mysql"),
    ("redis", "user/redis"),
    ("elasticsearch", "user/elasticsearch"),
    ("git", "repositories"),
    ("pages", "user/pages"),
)
DEFAULTS = {"sync_interval": 1.0, "git_critical_repositories": 10, "critical_after_seconds": 60}
_HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")


class SimError(Exception):
    """A command-level failure: message printed on stderr, exit code ``rc``."""

    def __init__(self, msg, rc=1):
        super().__init__(msg)
        self.rc = rc


# ---- small helpers -------------------------------------------------------------------------

def config():
    out = dict(DEFAULTS)
    try:
        with open(SIM_CONF, encoding="utf-8") as fh:
            out.update(json.load(fh))
    except (OSError, ValueError):
        pass
    return out


def hostname():
    return socket.gethostname()


def read(path, default=None):
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return default


def write(path, text, mode=0o644):
    """Atomic write; files made by root (the httpd) are handed to admin like the rest."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    if os.geteuid() == 0:
        pw = pwd.getpwnam(ADMIN)
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    os.replace(tmp, path)


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def read_json(path, default=None):
    text = read(path)
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def node_uuid():
    return (read(UUID_FILE) or "").strip()


def role():
    text = read(REPL_STATE)
    return text.strip() if text else "standalone"


def event(name, **fields):
    """Append one line to the simulator's own journal (EVENT_LOG); never fails the command."""
    line = json.dumps({"t": round(time.time(), 3), "host": hostname(), "event": name, **fields})
    try:
        with open(EVENT_LOG, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    except OSError:
        pass


def maintenance():
    return read_json(MAINTENANCE_FILE) or {}


def maintenance_on():
    return bool(maintenance().get("enabled"))


def set_maintenance(enabled, message=None):
    if enabled:
        current = maintenance()
        if not current.get("enabled"):
            write(MAINTENANCE_FILE, json.dumps({"enabled": True, "since": time.time(), "message": message}) + "\n")
            event("maintenance", enabled=True)
        elif message is not None:
            write(MAINTENANCE_FILE, json.dumps(dict(current, message=message)) + "\n")
    elif maintenance_on():
        remove(MAINTENANCE_FILE)
        event("maintenance", enabled=False)


def activity(now=None):
    """{service: number} of in-flight work (test hook ACTIVITY_FILE, see the module docstring)."""
    hook = read_json(ACTIVITY_FILE, {}) or {}
    numbers = {name: int(hook.get(name, 0) or 0) for name in CONNECTION_SERVICES}
    drain = hook.get("drain_after_seconds")
    state = maintenance()
    if drain is not None and state.get("enabled"):
        if (now or time.time()) >= float(state.get("since", 0)) + float(drain):
            numbers = dict.fromkeys(numbers, 0)
    return numbers


def drop_to_admin():
    """ghe-* commands run as admin on an appliance; root (lab.exec in tests) becomes admin."""
    if os.geteuid() != 0:
        return
    pw = pwd.getpwnam(ADMIN)
    os.initgroups(ADMIN, pw.pw_gid)
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)
    os.environ.update(HOME=pw.pw_dir, USER=ADMIN, LOGNAME=ADMIN)
    os.chdir(pw.pw_dir)


def ssh_args(host, master=False):
    args = [
        "ssh", "-p", str(SSH_PORT), "-i", KEY,
        "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "PasswordAuthentication=no",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
        "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2",
    ]
    if master:
        # Only the replication loop shares a connection: its stdio is a log file, so the
        # background master cannot hold a caller's pipes open.
        args += ["-o", "ControlMaster=auto", "-o", f"ControlPath={RUN_DIR}/cm-%C", "-o", "ControlPersist=15"]
    return args


def remote(host, *command, timeout=30, data=None):
    """Run a command on admin@host over SSH with the replica key."""
    cmd = ssh_args(host) + [f"{ADMIN}@{host}", " ".join(shlex.quote(c) for c in command)]
    try:
        # Never let ssh read this command's stdin: it holds the answer to ghe-repl-setup's prompt.
        return subprocess.run(cmd, input=data, stdin=None if data is not None else subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, 255, "", f"ssh: connection to {host} timed out\n")


def remote_sim(host, *args, timeout=30):
    return remote(host, "/usr/bin/python3", SIM_LIB, *args, timeout=timeout)


def validate_host(host):
    if not _HOST_RE.match(host or ""):
        raise SimError(f"Error: invalid primary address {host!r}")


# ---- cluster.conf --------------------------------------------------------------------------

_SECTION = re.compile(r'^\[\s*([A-Za-z0-9][\w.-]*)(?:\s+"([^"]*)")?\s*\]$')
_KEYVAL = re.compile(r"^([A-Za-z][\w-]*)\s*(?:=\s*(.*))?$")


def parse_cluster(text):
    """``(top, nodes)`` of a cluster.conf: the bare [cluster] keys and each [cluster "NAME"]."""
    top, nodes, current = {}, {}, None
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        match = _SECTION.match(line)
        if match:
            section, sub = match.groups()
            if section.lower() != "cluster":
                current = None
            elif sub is None:
                current = top
            else:
                current = nodes.setdefault(sub, {})
            continue
        match = _KEYVAL.match(line)
        if match and current is not None:
            key, value = match.groups()
            value = (value or "true").split(" ;")[0].split(" #")[0].strip().strip('"')
            current[key.lower()] = value
    return top, nodes


def render_cluster(primary_name, nodes):
    lines = [
        "# written by the GHES simulator (hapair.ha lab)",
        "[core]",
        "  cluster-ha = true",
        "[cluster]",
        f"  mysql-master = {primary_name}",
        f"  redis-master = {primary_name}",
        "  primary-datacenter = default",
    ]
    for name, keys in nodes.items():
        lines.append(f'[cluster "{name}"]')
        for key, value in keys.items():
            lines.append(f"  {key} = {value}")
    return "\n".join(lines) + "\n"


def cluster():
    top, nodes = parse_cluster(read(CLUSTER_CONF, ""))
    replicas = {n: k for n, k in nodes.items() if k.get("replica", "").lower() == "enabled"}
    primary = top.get("mysql-master")
    if primary not in nodes:
        others = [n for n in nodes if n not in replicas]
        primary = others[0] if len(others) == 1 else None
    return primary, nodes, replicas


def primary_address():
    primary, nodes, _replicas = cluster()
    if primary is None:
        return None
    keys = nodes[primary]
    return keys.get("ipv4") or keys.get("ipv6") or keys.get("hostname") or primary


# ---- replication loop -----------------------------------------------------------------------

def loop_pid():
    try:
        pid = int((read(LOOP_PID_FILE) or "").strip())
    except ValueError:
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if b"repl-loop" not in fh.read():
                return None
    except OSError:
        return None
    return pid


def rsync_sources(host):
    first, *rest = [f"{DATA}/./{path}/" for _name, path in DATASTORES]
    return [f"{ADMIN}@{host}:{first}"] + [f":{p}" for p in rest]


def rsync(host, *extra, master=False, timeout=120):
    ssh = " ".join(shlex.quote(a) for a in ssh_args(host, master=master))
    cmd = ["rsync", "-a", "--delete", "-R", "-e", ssh, *extra, *rsync_sources(host), f"{DATA}/"]
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, 30, "", "rsync: timed out\n")


def repl_loop(host):
    """Pull the primary's datastores every ``sync_interval`` seconds until SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    write(LOOP_PID_FILE, f"{os.getpid()}\n")
    interval = float(config()["sync_interval"])
    while not stop.is_set():
        started = time.time()
        # --checksum: size+mtime alone misses files of equal size written in the same second
        # (two appliances booted together); the data here is small.
        proc = rsync(host, "--checksum", master=True)
        state = read_json(SYNC_STATE_FILE, {}) or {}
        if proc.returncode == 0:
            state.update(last_sync=started, last_error=None)
        else:
            state.update(last_error=(proc.stderr or proc.stdout).strip()[-300:], last_error_at=time.time())
            print(time.strftime("%H:%M:%S"), "sync failed:", state["last_error"], flush=True)
        write(SYNC_STATE_FILE, json.dumps(state) + "\n")
        stop.wait(interval)
    remove(LOOP_PID_FILE)
    subprocess.run(ssh_args(host, master=True) + ["-O", "exit", f"{ADMIN}@{host}"], stdin=subprocess.DEVNULL,
                   capture_output=True, check=False)
    return 0


def start_loop(host):
    if loop_pid():
        return
    os.makedirs(RUN_DIR, exist_ok=True)
    with open(LOOP_LOG, "ab") as log:
        subprocess.Popen(  # noqa: S603 - the lab's own script
            ["/usr/bin/python3", SIM_LIB, "repl-loop", host],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + 5
    while not loop_pid() and time.monotonic() < deadline:
        time.sleep(0.05)


def stop_loop():
    pid = loop_pid()
    if not pid:
        return
    for sig in (signal.SIGTERM, signal.SIGCONT):  # SIGCONT: a stopped loop must see SIGTERM
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
    deadline = time.monotonic() + 5
    while loop_pid() and time.monotonic() < deadline:
        time.sleep(0.05)
    if loop_pid():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        remove(LOOP_PID_FILE)


# ---- ghe-repl-setup ---------------------------------------------------------------------------

def ensure_key(out):
    if os.path.exists(KEY):
        return
    os.makedirs(os.path.dirname(KEY), mode=0o700, exist_ok=True)
    comment = f"ha-replica-{hostname()}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", KEY], check=True,
                   stdin=subprocess.DEVNULL, capture_output=True)
    out("Generating public/private ed25519 key pair.")
    out(f"Your identification has been saved in {KEY}")
    out(f"Your public key has been saved in {KEY}.pub")


def connection_check(primary, out, setup_hint=True):
    """Really log in to admin@PRIMARY:122 with the replica key."""
    out(f"Verifying ssh connectivity with {primary} ...")
    proc = remote_sim(primary, "node-info", timeout=20)
    if proc.returncode == 0:
        out("Connection check with primary succeeded.")
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise SimError(f"Error: unexpected answer from {primary}: {proc.stdout.strip()[:200]}") from None
    out("Connection check failed.")
    err = (proc.stderr or proc.stdout).strip()
    if "permission denied" in err.lower() and setup_hint:
        pub = read(KEY + ".pub", "").strip()
        out(f"{ADMIN}@{primary}: Permission denied (publickey).")
        out("The primary GitHub Enterprise Server appliance must be configured to allow replica access.")
        out(f"Visit http://{primary}/setup/settings and authorize the following SSH key:")
        out("")
        out(pub)
        out("")
        out(f"Run `ghe-repl-setup {primary}' once the key has been added to continue replica setup.")
        raise SimError("", rc=1)
    raise SimError(
        f"{err}\nError: could not connect to {primary} on port {SSH_PORT}. Check the address and that "
        f"{SSH_PORT}/tcp is open between the appliances."
    )


def cmd_setup(argv, out):
    args = [a for a in argv if a != "--add"]
    add = "--add" in argv
    if len(args) != 1 or args[0].startswith("-"):
        raise SimError("Usage: ghe-repl-setup [--add] PRIMARY_IP", rc=64)
    primary = args[0]
    validate_host(primary)
    current = role()
    if current == "replica":
        configured = primary_address()
        if configured and configured != primary:
            raise SimError(
                f"Error: this instance is already a replica of {configured}. Run `ghe-repl-teardown' first."
            )
    ensure_key(out)
    info = connection_check(primary, out)
    if info.get("role") == "replica":
        raise SimError(f"Error: {primary} is configured as a replica; run ghe-repl-setup against the primary.")
    if info.get("uuid") == node_uuid():
        raise SimError("Error: the primary address points to this instance.")
    others = [u for u in info.get("replica_uuids", []) if u != node_uuid()]
    if add and len(others) >= MAX_REPLICAS:
        raise SimError(
            f"Error: {primary} already has {len(others)} replicas. GitHub Enterprise Server supports at most "
            f"{MAX_REPLICAS} replicas."
        )
    if current == "primary" or os.path.exists(WAS_PRIMARY_FILE):
        out("Warning: This instance is or has been a configured primary instance. Proceding will overwrite "
            "data on this instance.")
        out("Proceed with initializing this instance as a replica? [y/N] ", end="")
        answer = sys.stdin.readline().strip().lower()
        out("")
        if answer not in ("y", "yes"):
            raise SimError("Aborted.")
    out("Configuring database replication against primary ...")
    proc = remote_sim(primary, "cluster-register", hostname(), node_uuid(), "--add" if add else "--replace")
    if proc.returncode != 0:
        raise SimError((proc.stderr or proc.stdout).strip() or f"Error: registering with {primary} failed")
    stop_loop()
    remove(STARTED_FILE)
    remove(SYNC_STATE_FILE)
    write(CLUSTER_CONF, proc.stdout)
    write(REPL_STATE, "replica\n")
    set_maintenance(False)
    out(f"Success: Replica mode is configured against {primary}.")
    out("To disable replica mode and undo these changes, run 'ghe-repl-teardown'.")
    out("Run 'ghe-repl-start' to start replicating from the newly configured primary.")
    return 0


def cmd_node_info(_argv, out):
    """Internal (over SSH from another node): who is this node."""
    replicas = cluster()[2]
    out(json.dumps({
        "hostname": hostname(),
        "uuid": node_uuid(),
        "role": role(),
        "replica_uuids": [k.get("uuid", n) for n, k in replicas.items()],
        "maintenance": maintenance_on(),
    }))
    return 0


def _ssh_connection():
    parts = os.environ.get("SSH_CONNECTION", "").split()
    if len(parts) != 4:
        raise SimError("Error: cluster-register must be called over SSH")
    return parts[0], parts[2]  # client (the replica), server (this node, as the replica reached it)


def cmd_cluster_register(argv, out):
    """Internal (over SSH from a replica): add the caller to this primary's cluster.conf."""
    name, node_id, mode = argv
    if role() == "replica":
        raise SimError("Error: this instance is a replica")
    replica_ip, my_ip = _ssh_connection()
    primary, nodes, replicas = cluster()
    if mode == "--replace" or primary != hostname():
        nodes = {}
    nodes = {n: k for n, k in nodes.items() if k.get("uuid") != node_id and n != name}
    if mode == "--add":
        count = sum(1 for k in nodes.values() if k.get("replica", "").lower() == "enabled")
        if count >= MAX_REPLICAS:
            raise SimError(f"Error: this primary already has {count} replicas (at most {MAX_REPLICAS}).")
    me = {"hostname": hostname(), "uuid": node_uuid(), "datacenter": "default", "active": "true", "ipv4": my_ip}
    nodes = {hostname(): me, **{n: k for n, k in nodes.items() if n != hostname()}}
    nodes[name] = {"hostname": name, "uuid": node_id, "datacenter": "default", "active": "false",
                   "replica": "enabled", "ipv4": replica_ip}
    text = render_cluster(hostname(), nodes)
    write(CLUSTER_CONF, text)
    write(REPL_STATE, "primary\n")
    write(WAS_PRIMARY_FILE, f"{int(time.time())}\n")
    out(text, end="")
    return 0


def cmd_cluster_unregister(argv, out):
    """Internal (over SSH from a replica being torn down): drop it from cluster.conf."""
    (node_id,) = argv
    if role() != "primary":
        return 0
    primary, nodes, _replicas = cluster()
    nodes = {n: k for n, k in nodes.items() if k.get("uuid") != node_id}
    if not any(k.get("replica", "").lower() == "enabled" for k in nodes.values()):
        remove(CLUSTER_CONF)
        remove(REPL_STATE)  # the last replica is gone: standalone again (but "has been a primary")
        out("standalone")
        return 0
    write(CLUSTER_CONF, render_cluster(primary or hostname(), nodes))
    out("primary")
    return 0


# ---- start / stop / teardown / promote --------------------------------------------------------

def require_replica():
    if role() != "replica":
        raise SimError("Error: replica mode is not configured on this instance. Run `ghe-repl-setup' first.")
    address = primary_address()
    if not address:
        raise SimError(f"Error: {CLUSTER_CONF} does not name the primary.")
    return address


def cmd_start(_argv, out):
    primary = require_replica()
    connection_check(primary, out, setup_hint=False)
    out(f"Starting MySQL replication to {primary} ...")
    out("Starting Redis replication ...")
    out("Starting Elasticsearch replication ...")
    out("Starting Pages replication ...")
    out("Starting Git replication ...")
    write(STARTED_FILE, f"{int(time.time())}\n")
    start_loop(primary)
    if not loop_pid():
        raise SimError(f"Error: the replication process did not start (see {LOOP_LOG}).")
    out("Success: replication is running for all services.")
    out("Run `ghe-repl-status' to monitor replication health and progress.")
    return 0


def cmd_stop(_argv, out):
    require_replica()
    for name in ("Pages", "Git", "MySQL", "Redis", "Elasticsearch"):
        out(f"Stopping {name} replication ...")
    stop_loop()
    remove(STARTED_FILE)
    out("Success: Replication was stopped for all services.")
    out("To disable replica mode and remove all replica configuration, run 'ghe-repl-teardown'.")
    return 0


def cmd_teardown(argv, out):
    if role() == "primary" and argv[:1] == ["-u"] and len(argv) == 2:
        # On the primary: forget a replica by UUID (GitHub's `ghe-repl-teardown -u UUID`).
        cmd_cluster_unregister([argv[1]], lambda *a, **k: None)
        out("Success: Replication configuration has been removed.")
        return 0
    if role() != "replica":
        raise SimError("Error: replica mode is not configured on this instance.")
    primary = primary_address()
    stop_loop()
    remove(STARTED_FILE)
    remove(SYNC_STATE_FILE)
    if primary:
        proc = remote_sim(primary, "cluster-unregister", node_uuid(), timeout=20)
        if proc.returncode != 0:
            out(f"Warning: could not remove this replica from {primary}'s configuration: "
                f"{(proc.stderr or proc.stdout).strip()[:200]}")
    remove(CLUSTER_CONF)
    remove(REPL_STATE)
    out("Success: Replication configuration has been removed.")
    out("Run `ghe-repl-setup' to re-enable replica mode.")
    return 0


def cmd_promote(_argv, out):
    primary = require_replica()
    event("promote", primary=primary)
    out("Enabling maintenance mode on the primary to prevent writes ...")
    proc = remote(primary, "ghe-maintenance", "-s", timeout=15)
    if proc.returncode != 0:
        out(f"  | Warning: could not enable maintenance mode on {primary}: "
            f"{(proc.stderr or proc.stdout).strip()[:200] or 'no answer'}")
    out("Stopping replication ...")
    for name in ("Pages", "Git", "MySQL", "Redis", "Elasticsearch"):
        out(f"  | Stopping {name} replication ...")
    stop_loop()
    remove(STARTED_FILE)
    remove(SYNC_STATE_FILE)
    out("  | Success: replication was stopped for all services.")
    out("Switching out of replica mode ...")
    nodes = cluster()[1]
    me = dict(nodes.get(hostname(), {"hostname": hostname(), "uuid": node_uuid()}))
    me.pop("replica", None)
    me["active"] = "true"
    write(CLUSTER_CONF, render_cluster(hostname(), {hostname(): me}))
    write(REPL_STATE, "primary\n")
    write(WAS_PRIMARY_FILE, f"{int(time.time())}\n")
    out("  | Success: Replication configuration has been removed.")
    out("  | Run `ghe-repl-setup' to re-enable replica mode.")
    out("Applying configuration and starting services ...")
    set_maintenance(False)
    out("Success: Replica has been promoted to primary and is now accepting requests.")
    return 0


# ---- ghe-repl-status ------------------------------------------------------------------------

def _itemized_changes(text):
    """Paths rsync would create, change or delete (itemize lines), attribute-only ones skipped."""
    paths = []
    for line in text.splitlines():
        if line.startswith("*deleting"):
            paths.append(line.split(None, 1)[1].strip())
        elif len(line) > 12 and line[0] in "<>ch" and line[11] == " ":
            paths.append(line[12:].strip())
    return paths


def _datastore_of(path):
    for name, prefix in DATASTORES:
        if path == prefix or path.startswith(prefix + "/") or path == prefix + "/":
            return name
    return None


def _repo_of(path):
    parts = [p for p in path.split("/")[1:] if p]
    return "/".join(parts[:2]) if parts else None


def _local_repos():
    base = os.path.join(DATA, "repositories")
    out = set()
    try:
        for owner in os.listdir(base):
            sub = os.path.join(base, owner)
            if os.path.isdir(sub):
                out.update(f"{owner}/{repo}" for repo in os.listdir(sub))
    except OSError:
        pass
    return out


def cmd_status(argv, out):
    verbose = 2 if ("-vv" in argv or argv.count("-v") >= 2) else (1 if "-v" in argv else 0)
    if role() != "replica":
        raise SimError("Error: replication is not configured on this node")
    primary = require_replica()
    if not os.path.exists(STARTED_FILE):
        out("Replication is not running")
        return 1
    cfg = config()
    state = read_json(SYNC_STATE_FILE, {}) or {}
    last = state.get("last_sync")
    age = int(time.time() - last) if last else None
    alive = loop_pid() is not None
    proc = rsync(primary, "--dry-run", "--checksum", "--itemize-changes", timeout=60)
    lines = []
    if proc.returncode not in (0, 23, 24):
        err = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no answer"]
        for name, _path in DATASTORES:
            lines.append(("CRITICAL", f"{name} replication cannot reach the primary {primary}", [err[0]]))
        return _print_status(lines, verbose, out)
    pending = {name: [] for name, _path in DATASTORES}
    for path in _itemized_changes(proc.stdout):
        name = _datastore_of(path)
        if name:
            pending[name].append(path)
    delay = age if age is not None else 0

    def level(behind_count, critical_count=None):
        if behind_count == 0:
            return "OK"
        if not alive or last is None or delay >= cfg["critical_after_seconds"]:
            return "CRITICAL"
        if critical_count is not None and behind_count >= critical_count:
            return "CRITICAL"
        return "WARNING"

    not_running = "" if alive else " (replication process is not running)"
    n = len(pending["mysql"])
    st = level(n)
    lines.append((st, "mysql replication is in sync" if st == "OK" else f"mysql replication delay is {delay}s{not_running}",
                  [f"IO running: {'Yes' if alive else 'No'}, SQL running: {'Yes' if alive else 'No'}, "
                   f"Delay: {0 if st == 'OK' else delay}"]))
    st = level(len(pending["redis"]))
    lines.append((st, "redis replication is in sync" if st == "OK" else f"redis replication is behind the primary{not_running}",
                  [f"master_host:{primary}", "master_port:6379",
                   f"master_link_status:{'up' if alive else 'down'}",
                   f"master_last_io_seconds_ago:{delay}", "master_sync_in_progress:0"] if verbose > 1 else []))
    n = len(pending["elasticsearch"])
    st = level(n)
    es = f"({n} shards initializing, 0 shards unassigned)"
    lines.append((st, f"elasticsearch cluster is in sync {es}" if st == "OK" else f"elasticsearch cluster is not in sync {es}{not_running}",
                  ["{", '  "cluster_name" : "github-enterprise",', f'  "status" : "{"green" if st == "OK" else "yellow"}",',
                   f'  "initializing_shards" : {n},', '  "unassigned_shards" : 0', "}"] if verbose > 1 else []))
    behind = {r for r in (_repo_of(p) for p in pending["git"]) if r}
    if pending["git"] and not behind:
        behind = {"(repositories root)"}
    total = len(_local_repos() | behind)
    st = level(len(behind), cfg["git_critical_repositories"])
    table = [
        "                  TOTAL         OK      FAULT    PENDING      DELAY",
        f"repositories {total:>10} {total - len(behind):>10} {0:>10} {len(behind):>10} {float(delay if behind else 0):>10.1f}",
    ]
    lines.append((st, "git replication is in sync" if st == "OK" else
                  f"git replication is behind the primary by {len(behind)} repositories and/or gists{not_running}", table))
    st = level(len(pending["pages"]))
    lines.append((st, "pages replication is in sync" if st == "OK" else f"pages replication is behind the primary{not_running}",
                  ["Pages are in sync" if st == "OK" else f"{len(pending['pages'])} pages files pending"]))
    return _print_status(lines, verbose, out)


def _print_status(lines, verbose, out):
    worst = 0
    for i, (status, message, details) in enumerate(lines):
        if i and verbose:
            out("")
        out(f"{status}: {message}")
        if verbose:
            for detail in details:
                out(f"  | {detail}")
        worst = max(worst, {"OK": 0, "WARNING": 1, "CRITICAL": 2}[status])
    return worst


# ---- ghe-maintenance -----------------------------------------------------------------------

MAINTENANCE_USAGE = """Usage: ghe-maintenance [-h] [-q | -s [MESSAGE] | -m MESSAGE | -u]
  -q            Query the current maintenance mode
  -s [MESSAGE]  Set maintenance mode (with a custom message)
  -m MESSAGE    Update the custom message
  -u            Unset maintenance mode"""


def cmd_maintenance(argv, out):
    # Flags: `ghe-maintenance -h` and, for the same flags on every node, `ghe-cluster-maintenance`
    # (-q queries, -s [MESSAGE] sets, -m MESSAGE updates the message, -u unsets), GitHub's
    # command-line utilities page (module docstring). The answers' wording is not in GitHub's docs.
    if argv in (["-h"], ["--help"]):
        out(MAINTENANCE_USAGE)
        return 0
    if argv == ["-q"]:
        out("maintenance mode set" if maintenance_on() else "maintenance mode not set")
        return 0
    if argv[:1] == ["-s"] and len(argv) <= 2:
        set_maintenance(True, argv[1] if len(argv) == 2 else None)
        out("Maintenance mode enabled.")
        return 0
    if argv[:1] == ["-m"] and len(argv) == 2:
        if not maintenance_on():
            raise SimError("Error: maintenance mode is not set")
        set_maintenance(True, argv[1])
        out("Maintenance mode message updated.")
        return 0
    if argv == ["-u"]:
        set_maintenance(False)
        out("Maintenance mode disabled.")
        return 0
    raise SimError(MAINTENANCE_USAGE, rc=64)


# ---- httpd: /status and the Manage API ------------------------------------------------------

def active():
    return role() != "replica" and not maintenance_on()


def fingerprint(key):
    proc = subprocess.run(["ssh-keygen", "-l", "-f", "-"], input=key + "\n", capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        return None
    return proc.stdout.split()[1]


def authorized_keys():
    return [line.strip() for line in (read(AUTHORIZED_KEYS, "") or "").splitlines()
            if line.strip() and not line.startswith("#")]


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "GHES-simulator"
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # request lines only: never headers (credentials)
        sys.stderr.write("%s %s:%s %s\n" % (time.strftime("%H:%M:%S"), self.client_address[0],
                                            self.server.server_address[1], fmt % args))

    def _send(self, code, body, content_type="application/json"):
        data = (json.dumps(body) + "\n" if content_type == "application/json" else body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _manage_port(self):
        return self.server.server_address[1] == 8443

    def _authorized(self):
        header = self.headers.get("Authorization", "")
        expected = (read(PASSWORD_FILE, "") or "").strip()
        if not header.startswith("Basic ") or not expected:
            return False
        try:
            user, _sep, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == "api_key" and hmac.compare_digest(password.encode(), expected.encode())

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        try:
            return json.loads(self.rfile.read(length))
        except ValueError:
            return None

    def _node(self, **extra):
        return {"hostname": hostname(), "uuid": node_uuid(), **extra}

    def do_GET(self):  # noqa: N802 - http.server API
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self):  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method):
        path = self.path.split("?")[0].rstrip("/") or "/"
        if not self._manage_port():
            if path == "/status" and method == "GET":
                return self._send(200, "OK\n", "text/plain") if active() else self._send(503, "Service Unavailable\n", "text/plain")
            if path == "/":
                return self._send(200 if active() else 503, "GitHub Enterprise Server (simulated)\n", "text/plain")
            return self._send(404, {"message": "Not Found"})
        if not path.startswith("/manage/v1/"):
            return self._send(404, {"message": "Not Found"})
        if not self._authorized():
            return self._send(401, {"message": "Unauthorized"})
        if role() == "replica":
            return self._send(503, {"message": "Server in replication mode"})
        with self.lock:
            if path == "/manage/v1/access/ssh":
                return self._ssh_keys(method)
            if path == "/manage/v1/maintenance":
                return self._maintenance(method)
        return self._send(404, {"message": "Not Found"})

    def _ssh_keys(self, method):
        keys = authorized_keys()
        if method == "GET":
            return self._send(200, [{"key": k, "fingerprint": fingerprint(k)} for k in keys])
        body = self._body()
        key = (body or {}).get("key") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key.strip() or "\n" in key.strip():
            return self._send(400, {"message": "Invalid request: 'key' must be one SSH public key"})
        key = key.strip()
        fp = fingerprint(key)
        if fp is None:
            return self._send(400, {"message": "Invalid SSH public key"})
        present = [k for k in keys if fingerprint(k) == fp]
        if method == "POST":
            if not present:
                write(AUTHORIZED_KEYS, "\n".join(keys + [key]) + "\n", mode=0o600)
            return self._send(200, [self._node(message="SSH key added successfully", modified=not present)])
        if method == "DELETE":
            if present:
                rest = [k for k in keys if k not in present]
                write(AUTHORIZED_KEYS, "\n".join(rest) + ("\n" if rest else ""), mode=0o600)
            return self._send(200, [self._node(message="SSH key removed successfully", modified=bool(present))])
        return self._send(405, {"message": "Method Not Allowed"})

    def _maintenance(self, method):
        if method == "POST":
            body = self._body()
            if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
                return self._send(400, {"message": "Invalid request: 'enabled' (boolean) is required"})
            when = body.get("when", "now")
            if when not in (None, "", "now"):
                return self._send(422, {"message": "scheduled maintenance is not simulated; use when=now"})
            set_maintenance(body["enabled"], body.get("maintenance_mode_message"))
            word = "enabled" if body["enabled"] else "disabled"
            return self._send(200, [self._node(message=f"maintenance mode {word}")])
        if method != "GET":
            return self._send(405, {"message": "Method Not Allowed"})
        # Response shape: Manage GHES API "Get the status of maintenance mode" (module docstring).
        numbers = activity()
        event("maintenance-status", services=numbers, total=sum(numbers.values()), maintenance=maintenance_on())
        state = maintenance()
        return self._send(200, [self._node(
            status="on" if state.get("enabled") else "off",
            scheduled_time=None,
            connection_services=[{"name": name, "number": number} for name, number in numbers.items()],
            can_unset_maintenance=True,
            ip_exception_list=[],
            maintenance_mode_message=state.get("message"),
        )])


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, tls):
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(TLS_CERT, TLS_KEY)
            self.socket = context.wrap_socket(self.socket, server_side=True)


def _addresses():
    """This host's own addresses (not 169.254.169.254, where the lab's IMDS listens on :80)."""
    out = ["127.0.0.1"]
    proc = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, check=False)
    for link in json.loads(proc.stdout or "[]"):
        for addr in link.get("addr_info", []):
            ip = addr.get("local")
            if ip and not ip.startswith(("127.", "169.254.")):
                out.append(ip)
    return out


def cmd_httpd(_argv, out):
    servers = []
    for ip in _addresses():
        for port, tls in ((80, False), (443, True), (8443, True)):
            servers.append(_Server((ip, port), tls))
    try:
        servers.append(_Server(("::1", 80), False))
    except OSError:
        pass
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    out(f"ghe-sim httpd: listening on {', '.join(f'{s.server_address[0]}:{s.server_address[1]}' for s in servers)}")
    sys.stdout.flush()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    return 0


# ---- dispatch ------------------------------------------------------------------------------

COMMANDS = {
    "ghe-repl-setup": cmd_setup,
    "ghe-repl-start": cmd_start,
    "ghe-repl-stop": cmd_stop,
    "ghe-repl-status": cmd_status,
    "ghe-repl-teardown": cmd_teardown,
    "ghe-repl-promote": cmd_promote,
    "ghe-maintenance": cmd_maintenance,
}
INTERNAL = {
    "node-info": cmd_node_info,
    "cluster-register": cmd_cluster_register,
    "cluster-unregister": cmd_cluster_unregister,
    "httpd": cmd_httpd,
}


def main(argv):
    name = os.path.basename(argv[0])
    rest = argv[1:]
    if name not in COMMANDS:
        if not rest or rest[0] not in COMMANDS and rest[0] not in INTERNAL and rest[0] != "repl-loop":
            sys.stderr.write(f"usage: {name} {{{'|'.join(sorted(INTERNAL))}|repl-loop}} ... "
                             f"(or run it as one of {', '.join(COMMANDS)})\n")
            return 64
        name, rest = rest[0], rest[1:]

    def out(text="", end="\n"):
        sys.stdout.write(text + end)
        sys.stdout.flush()

    try:
        if name == "httpd":
            return cmd_httpd(rest, out)
        drop_to_admin()
        if name == "repl-loop":
            return repl_loop(rest[0])
        return (COMMANDS.get(name) or INTERNAL[name])(rest, out)
    except SimError as err:
        if str(err):
            sys.stdout.flush()
            sys.stderr.write(str(err).rstrip("\n") + "\n")
        return err.rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
