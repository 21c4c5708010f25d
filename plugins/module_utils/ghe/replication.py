# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replica setup, start/stop/teardown and promotion for GitHub Enterprise Server.

Plain Python over an injected runner (see the package docstring for the exact commands,
files, prompts and outputs relied on). Nothing here imports AnsibleModule.

Facts used (GitHub's GHES documentation: "Creating a high availability replica",
"Initiating a failover to your replica appliance", "Command-line utilities", "About high
availability configuration"):

* ``ghe-repl-setup PRIMARY`` run on the replica; the first run generates a key pair and asks
  for the public key to be authorised on the primary ("Visit http://PRIMARY/setup/settings and
  authorize the following SSH key: ..." then "Run `ghe-repl-setup PRIMARY' once the key has been
  added to continue replica setup."); the second run ends with "Success: Replica mode is
  configured against PRIMARY." and leaves replication stopped ("Run `ghe-repl-start' ...").
* On a node that is or has been a primary it warns and asks "Proceed with initializing this
  instance as a replica? [y/N]".
* ``--add`` adds a replica without overwriting the existing replication configuration
  (geo-replication); at most 8 replicas in total.
* ``ghe-repl-promote`` on the replica tries to put the primary in maintenance mode, stops
  replication, leaves replica mode and starts services. A planned failover first puts the
  primary in maintenance mode and waits for ``ghe-repl-status -vv`` to be all OK.
* ``/status`` answers 200 on an active node, 503 on a passive replica or in maintenance.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error

from ansible.module_utils.urls import ConnectionError as UrlConnectionError
from ansible.module_utils.urls import open_url

from ansible_collections.hapair.ha.plugins.module_utils.ghe import GheError, command_text
from ansible_collections.hapair.ha.plugins.module_utils.ghe.status import not_ok_summary, parse_status

REPL_STATE_FILE = "/etc/github/repl-state"
CLUSTER_CONF_FILE = "/data/user/common/cluster.conf"
STATUS_CMD = ["ghe-repl-status", "-vv"]
START_CMD = ["ghe-repl-start"]
STOP_CMD = ["ghe-repl-stop"]
TEARDOWN_CMD = ["ghe-repl-teardown"]
PROMOTE_CMD = ["ghe-repl-promote"]
MAX_REPLICAS = 8
ROLES = ("standalone", "primary", "replica")
SETUP_STATES = ("present", "started", "stopped", "absent")
DEFAULT_STATUS_URL = "http://localhost/status"
MANAGE_API_PORT = 8443

_HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")
_SECTION_RE = re.compile(r'^\[\s*([A-Za-z0-9][\w.-]*)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]$')
_KEY_RE = re.compile(r"^([A-Za-z][\w-]*)\s*(?:=\s*(.*))?$")
_PUBLIC_KEY_RE = re.compile(
    r"((?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-nistp(?:256|384|521)|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)"
    r"\s+[A-Za-z0-9+/]+={0,3}(?:[ \t]+[^\r\n]*)?)"
)
_KEY_MARKER = "authorize the following ssh key"
_PRIMARY_PROMPT = "proceed with initializing this instance as a replica"
_SETUP_SUCCESS = "success: replica mode is configured against"
_SUCCESS_MARKERS = {
    "ghe-repl-start": "success: replication is running for all services",
    "ghe-repl-stop": "success: replication was stopped for all services",
    "ghe-repl-teardown": "success: replication configuration has been removed",
    "ghe-repl-promote": "success: replica has been promoted to primary",
}


# ---- reading state (side-effect free) -------------------------------------------------------

def _read(run, path):
    """A file's text through the runner (None: it does not exist)."""
    try:
        return run.read(path)
    except OSError as err:
        raise GheError(f"cannot read {path}: {err.strerror or err}") from None


def read_role(run):
    """``standalone``, ``primary`` or ``replica``, from ``/etc/github/repl-state``."""
    out = _read(run, REPL_STATE_FILE)
    if out is None:
        return "standalone"
    role = out.strip().lower()
    if role not in ("primary", "replica"):
        raise GheError(f"unexpected content in {REPL_STATE_FILE}: {out.strip()[:80]!r}")
    return role


def parse_cluster_conf(text):
    """Parse the git-config style ``cluster.conf`` into ``{"cluster": {...}, "nodes": {...}}``.

    ``cluster`` holds the keys of the bare ``[cluster]`` section, ``nodes`` maps each
    ``[cluster "NAME"]`` section to its keys. Keys are lower-cased, values unquoted.
    """
    if not isinstance(text, str):
        raise GheError("cluster.conf content must be text")
    top = {}
    nodes = {}
    current = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        match = _SECTION_RE.match(line)
        if match:
            section, sub = match.groups()
            section = section.lower()
            if section != "cluster":
                current = None  # other sections are not ours to read
            elif sub is None:
                current = top
            else:
                current = nodes.setdefault(sub, {})
            continue
        match = _KEY_RE.match(line)
        if not match:
            raise GheError(f"cannot parse {CLUSTER_CONF_FILE} line {lineno}: {line[:80]!r}")
        if current is None:
            continue
        key, value = match.groups()
        value = "true" if value is None else value.split(" #")[0].split(" ;")[0].strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        current[key.lower()] = value
    return {"cluster": top, "nodes": nodes}


def cluster_summary(conf):
    """Primary node and replicas of a parsed cluster.conf."""
    nodes = conf["nodes"]
    replicas = sorted(name for name, keys in nodes.items() if keys.get("replica", "").lower() == "enabled")
    primary_name = conf["cluster"].get("mysql-master")
    if primary_name not in nodes:
        candidates = [name for name in nodes if name not in replicas]
        primary_name = candidates[0] if len(candidates) == 1 else None
    primary = None
    if primary_name is not None:
        keys = nodes[primary_name]
        primary = {
            "name": primary_name,
            "hostname": keys.get("hostname", primary_name),
            "ipv4": keys.get("ipv4"),
            "ipv6": keys.get("ipv6"),
        }
    return {"primary": primary, "replicas": replicas, "replica_count": len(replicas)}


def read_cluster(run):
    """The cluster summary from ``cluster.conf``, or None when the file does not exist."""
    out = _read(run, CLUSTER_CONF_FILE)
    if out is None:
        return None
    return cluster_summary(parse_cluster_conf(out))


def primary_address(primary):
    """The address to show for a primary node: IPv4, else IPv6, else its hostname."""
    if not primary:
        return None
    return primary.get("ipv4") or primary.get("ipv6") or primary.get("hostname")


def host_matches(primary, host):
    """Whether ``host`` (IP or name, as given to ghe-repl-setup) designates ``primary``."""
    if not primary or not host:
        return False
    wanted = host.strip().lower()
    known = {primary.get(k) for k in ("name", "hostname", "ipv4", "ipv6")}
    return wanted in {str(v).lower() for v in known if v}


def read_state(run, with_status=True):
    """Everything the modules decide on, read without side effects.

    ``ghe-repl-status -vv`` runs on every node when ``with_status`` (its parse is returned as
    ``status``); ``replication_running`` is only true on a replica.
    """
    role = read_role(run)
    cluster = read_cluster(run) if role != "standalone" else None
    status = None
    if with_status:
        rc, out, err = run(STATUS_CMD)
        status = parse_status(out, rc, err)
    primary = cluster["primary"] if cluster else None
    return {
        "role": role,
        "primary": primary,
        "primary_host": primary_address(primary),
        "replicas": cluster["replicas"] if cluster else [],
        "replica_count": cluster["replica_count"] if cluster else 0,
        "replication_running": bool(role == "replica" and status and status["replication_running"]),
        "status": status,
    }


# ---- helpers -------------------------------------------------------------------------------

def validate_host(host, what="primary_host"):
    if not isinstance(host, str) or not _HOST_RE.match(host.strip()) or host.strip() != host:
        raise GheError(f"{what} must be an IP address or a host name, got {host!r}")
    return host


def _tail(out, err, lines=8):
    text = "\n".join(x for x in ((out or "").strip(), (err or "").strip()) if x)
    tail = text.splitlines()[-lines:]
    return " | ".join(line.strip() for line in tail if line.strip()) or "no output"


def _run_checked(run, args, warnings, data=None):
    """Run a mutating ghe-repl-* command; rc 0 is success, a missing marker only warns."""
    rc, out, err = run(args, data)
    if rc != 0:
        raise GheError(f"`{command_text(args)}` failed (rc={rc}): {_tail(out, err)}")
    marker = _SUCCESS_MARKERS.get(args[0])
    if marker and marker not in f"{out}\n{err}".lower():
        warnings.append(f"`{command_text(args)}` exited 0 without the expected line {marker!r}")
    return out


def extract_public_key(text):
    """The public key ghe-repl-setup asks to authorise, or None if it does not ask."""
    lower = text.lower()
    index = lower.find(_KEY_MARKER)
    if index < 0:
        return None
    match = _PUBLIC_KEY_RE.search(text, index + len(_KEY_MARKER))
    if not match:
        raise GheError("ghe-repl-setup asks for an SSH key to be authorised but prints no public key")
    return match.group(1).strip()


def _setup_args(primary_host, add):
    return ["ghe-repl-setup"] + (["--add"] if add else []) + [primary_host]


def _primary_refusal(primary_host):
    return GheError(
        "this node is or has been a configured primary: ghe-repl-setup would overwrite its data "
        f"to make it a replica of {primary_host}. Set overwrite_primary_data=true to allow that "
        "(nothing was changed)"
    )


def _scrub(text, secret):
    return text.replace(secret, "********") if secret else text


def _reason(err):
    reason = getattr(err, "reason", None) or err
    return str(reason) or type(err).__name__


def request_status(url, method="GET", data=None, headers=None, timeout=10, validate_certs=True, ca_path=None,
                   use_proxy=True, follow_redirects="urllib2", url_username=None, url_password=None, opener=None):
    """HTTP status of one request made with ``ansible.module_utils.urls.open_url``.

    So the standard HTTP handling of Ansible applies: the ``https_proxy``/``http_proxy``/
    ``no_proxy`` environment when ``use_proxy``, ``validate_certs``, a CA bundle (``ca_path``),
    basic auth. An HTTP error status is returned, not raised; a request that gets no HTTP answer
    raises :class:`GheError`. ``opener`` (default ``open_url``, same signature) is injectable
    so unit tests need no network.
    """
    opener = opener or open_url
    try:
        response = opener(
            url, data=data, headers=headers, method=method, timeout=timeout, use_proxy=use_proxy,
            validate_certs=validate_certs, ca_path=ca_path, follow_redirects=follow_redirects,
            url_username=url_username, url_password=url_password, force_basic_auth=url_username is not None,
        )
    except urllib.error.HTTPError as err:  # a status >= 400 (or a redirect not followed)
        err.close()
        return err.code
    except (urllib.error.URLError, UrlConnectionError, http.client.HTTPException, OSError, ValueError) as err:
        raise GheError(f"{url} is unreachable: {_reason(err)}") from None
    try:
        return response.getcode()
    finally:
        response.close()


def authorize_key_via_manage_api(api_url, password, public_key, validate_certs=True, ca_path=None, timeout=30,
                                 opener=None):
    """POST the key to ``{api_url}/manage/v1/access/ssh`` (Manage GHES API, "Set a new SSH key").

    Basic auth ``api_key:PASSWORD``; redirects are not followed (the credentials would go along).
    The password is scrubbed from any error. ``opener``: see :func:`request_status`.
    """
    if not password:
        raise GheError("a Manage API password is required to authorise the key")
    url = api_url.rstrip("/") + "/manage/v1/access/ssh"
    try:
        code = request_status(
            url, method="POST", data=json.dumps({"key": public_key}).encode("utf-8"),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            timeout=timeout, validate_certs=validate_certs, ca_path=ca_path, follow_redirects="none",
            url_username="api_key", url_password=password, opener=opener,
        )
    except GheError as err:
        raise GheError(_scrub(f"cannot authorise the replica key at {url}: {err}", password)) from None
    if not 200 <= code < 300:
        hint = " (wrong root site administrator password?)" if code == 401 else ""
        raise GheError(f"the Manage API at {url} refused the replica key: HTTP {code}{hint}")
    return url


def http_status(url, timeout=10, validate_certs=True, ca_path=None, opener=None):
    """HTTP status of a GET on ``url``, or None when it cannot be reached.

    Never through a proxy: the probes ask whether a node itself serves (``/status`` of the
    primary before a promotion, the local one after), and a proxy's own answer (502, 504) would
    pass for a primary that stopped serving.
    """
    try:
        return request_status(url, timeout=timeout, validate_certs=validate_certs, ca_path=ca_path,
                              use_proxy=False, opener=opener)
    except GheError:
        return None


# ---- repl_setup ----------------------------------------------------------------------------

def _state_view(role, primary_host, running):
    return {"role": role, "primary_host": primary_host, "replication_running": running}


def setup_replica(run, state="present", primary_host=None, add=False, overwrite_primary_data=False,
                  existing_replicas=None, check_mode=False, authorize_key=None):
    """Bring the target node to ``state`` (present | started | stopped | absent).

    ``authorize_key(public_key)`` (optional) authorises a newly generated replica key on the
    primary; without it a pending key is returned (``needs_key_authorization``) and nothing
    else happens, so the caller can authorise it and call again.
    """
    if state not in SETUP_STATES:
        raise GheError(f"state must be one of {', '.join(SETUP_STATES)}, got {state!r}")
    if state != "absent":
        if primary_host is None:
            raise GheError(f"primary_host is required with state={state}")
        validate_host(primary_host)
    if existing_replicas is not None and (
        not isinstance(existing_replicas, int) or isinstance(existing_replicas, bool) or existing_replicas < 0
    ):
        raise GheError(f"existing_replicas must be a non-negative integer, got {existing_replicas!r}")

    before = read_state(run)
    plan = []
    warnings = []
    after_role, after_primary, after_running = before["role"], before["primary_host"], before["replication_running"]

    if state == "absent":
        if before["role"] == "replica":
            plan.append(TEARDOWN_CMD)
            after_role, after_primary, after_running = "standalone", None, False
    else:
        is_replica = before["role"] == "replica"
        if is_replica and before["primary"] is None:
            raise GheError(f"this node is a replica but {CLUSTER_CONF_FILE} does not name its primary")
        configured = is_replica and host_matches(before["primary"], primary_host)
        if is_replica and not configured:
            raise GheError(
                f"this node is already a replica of {before['primary_host']}, not {primary_host}; "
                "remove it first with state=absent (nothing was changed)"
            )
        if not configured:
            if before["role"] == "primary" and not overwrite_primary_data:
                raise _primary_refusal(primary_host)
            if existing_replicas is not None:
                if add and existing_replicas >= MAX_REPLICAS:
                    raise GheError(
                        f"the primary already has {existing_replicas} replicas; GitHub Enterprise Server "
                        f"allows at most {MAX_REPLICAS} (nothing was changed)"
                    )
                if not add and existing_replicas > 0:
                    warnings.append(
                        f"existing_replicas={existing_replicas} but add=false: ghe-repl-setup replaces the "
                        "existing replication configuration; use add=true for an additional replica"
                    )
            plan.append(_setup_args(primary_host, add))
            after_role, after_primary, after_running = "replica", primary_host, False
        if state == "started" and not after_running:
            plan.append(START_CMD)
            after_running = True
        elif state == "stopped" and after_running:
            plan.append(STOP_CMD)
            after_running = False

    result = {
        "changed": bool(plan),
        "state": state,
        "commands": [command_text(args) for args in plan],
        "needs_key_authorization": False,
        "public_key": None,
        "key_authorized": False,
        "warnings": warnings,
        "diff": {
            "before": _state_view(before["role"], before["primary_host"], before["replication_running"]),
            "after": _state_view(after_role, after_primary, after_running),
        },
    }
    if check_mode or not plan:
        result.update(result["diff"]["after"])
        return result

    executed = []  # every command run, in order
    completed = []  # the steps of the plan that succeeded
    try:
        for args in plan:
            if args[0] == "ghe-repl-setup":
                pending_key, authorized_key = _run_setup(
                    run, args, overwrite_primary_data, primary_host, authorize_key, executed
                )
                if authorized_key:
                    result.update(key_authorized=True, public_key=authorized_key)
                if pending_key:
                    # The key must be authorised on the primary before anything else can
                    # happen; no replication setting changed yet.
                    result.update(changed=False, commands=executed, needs_key_authorization=True,
                                  public_key=pending_key)
                    result["diff"]["after"] = dict(result["diff"]["before"])
                    result.update(result["diff"]["before"])
                    return result
            else:
                executed.append(command_text(args))
                _run_checked(run, args, warnings)
            completed.append(command_text(args))
    except GheError as err:
        # A later step failed after earlier ones changed the node: say so in the failure.
        err.details.setdefault("changed", bool(completed))
        err.details.setdefault("commands", executed)
        raise
    result["commands"] = executed
    result.update(result["diff"]["after"])
    return result


def _run_setup(run, args, overwrite_primary_data, primary_host, authorize_key, executed):
    """Run ghe-repl-setup, twice when a new key is authorised in between.

    Returns ``(pending_key, authorized_key)``: the key when it still needs authorising (no
    ``authorize_key`` given), else None once configured; and the key ``authorize_key``
    authorised during this call, if any.
    """
    answer = "y\n" if overwrite_primary_data else "N\n"
    authorized = None
    while True:
        rc, out, err = run(args, answer)
        executed.append(command_text(args))
        text = f"{out}\n{err}"
        lower = text.lower()
        public_key = extract_public_key(text)
        if public_key:
            if authorize_key is None:
                return public_key, None
            if authorized:
                raise GheError(
                    "the replica key was authorised on the primary but ghe-repl-setup still asks for it: "
                    + _tail(out, err)
                )
            authorize_key(public_key)
            authorized = public_key
            continue
        if _PRIMARY_PROMPT in lower and not overwrite_primary_data:
            raise _primary_refusal(primary_host)
        if rc == 0 and _SETUP_SUCCESS in lower:
            return None, authorized
        raise GheError(f"`{command_text(args)}` failed (rc={rc}): {_tail(out, err)}")


# ---- repl_promote --------------------------------------------------------------------------

def promote_replica(run, require_in_sync=True, primary_unreachable=False, primary_status_url=None,
                    status_url=DEFAULT_STATUS_URL, status_timeout=300, status_interval=5,
                    check_mode=False, get_status=None, sleep=time.sleep, clock=time.monotonic):
    """Promote the target replica to primary, after the safety checks, and verify /status.

    * the target must be a replica (a node that is not one but whose ``status_url`` answers 200
      is reported as already active, unchanged);
    * unless ``primary_unreachable``: replication must be all OK when ``require_in_sync``, and
      the primary's /status (``primary_status_url``, default ``http://PRIMARY/status``) must not
      answer 200 (the primary must be in maintenance mode, or the promotion would split the
      brain);
    * after ``ghe-repl-promote`` the local ``status_url`` must answer 200 within
      ``status_timeout`` seconds.

    ``get_status(url) -> int | None`` is the HTTP probe (None = unreachable).
    """
    if not isinstance(status_timeout, int) or isinstance(status_timeout, bool) or status_timeout < 0:
        raise GheError(f"status_timeout must be a non-negative integer, got {status_timeout!r}")
    for name, url in (("status_url", status_url), ("primary_status_url", primary_status_url)):
        if url is not None and not re.match(r"^https?://[^\s/]+", str(url)):
            raise GheError(f"{name} must be an http(s) URL, got {url!r}")
    probe = get_status or http_status
    state = read_state(run)
    status = state["status"]
    result = {
        "changed": False,
        "promoted": False,
        "commands": [],
        "warnings": [],
        "role": state["role"],
        "replication_status": status["status"],
        "status_code": None,
        "diff": {"before": {"role": state["role"]}, "after": {"role": state["role"]}},
    }
    if state["role"] != "replica":
        code = probe(status_url)
        if code == 200:
            result["status_code"] = code
            return result
        raise GheError(
            f"this node is not a replica ({REPL_STATE_FILE}: {state['role']}) and {status_url} answers "
            f"{code if code is not None else 'nothing'}; refusing to promote"
        )

    if primary_unreachable:
        result["warnings"].append(
            "primary_unreachable=true: promoting without checking replication health or maintenance "
            "mode on the primary; writes not yet replicated are lost and the old primary must not come back"
        )
    else:
        if require_in_sync and not status["in_sync"]:
            raise GheError(
                f"replication is not in sync ({status['status']}: {not_ok_summary(status)}); wait for "
                "ghe-repl-status -vv to be all OK, or set require_in_sync=false (planned) or "
                "primary_unreachable=true (disaster)"
            )
        url = primary_status_url
        if url is None:
            address = state["primary_host"]
            if not address:
                raise GheError(
                    f"cannot tell the primary's address from {CLUSTER_CONF_FILE}; set primary_status_url"
                )
            url = f"http://{'[' + address + ']' if ':' in address else address}/status"
        code = probe(url)
        if code is None:
            raise GheError(
                f"the primary is unreachable ({url}); if it is really down, set primary_unreachable=true"
            )
        if code == 200:
            raise GheError(
                f"the primary still serves requests ({url} answers 200); put it in maintenance mode "
                "first (hapair.ha.ghe_maintenance state=on) so no write is lost"
            )
        result["primary_status_code"] = code

    result["changed"] = True
    result["diff"]["after"] = {"role": "primary"}
    result["commands"] = [command_text(PROMOTE_CMD)]
    if check_mode:
        result["role"] = "primary"
        return result

    _run_checked(run, PROMOTE_CMD, result["warnings"])
    result["promoted"] = True
    result["role"] = "primary"
    deadline = clock() + status_timeout
    while True:
        code = probe(status_url)
        result["status_code"] = code
        if code == 200:
            return result
        if clock() >= deadline:
            raise GheError(
                f"the replica was promoted but {status_url} answers "
                f"{code if code is not None else 'nothing'} after {status_timeout}s",
                promoted=True, changed=True, status_code=code, commands=result["commands"],
            )
        sleep(status_interval)
