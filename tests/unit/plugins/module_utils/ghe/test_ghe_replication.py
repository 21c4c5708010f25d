# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for module_utils/ghe/replication.py: state reading, setup transitions, promotion."""

from __future__ import annotations

import http.client
import json
import urllib.error

import pytest
from ansible.module_utils import urls

from ansible_collections.hapair.ha.plugins.module_utils.ghe import GheError, make_runner
from ansible_collections.hapair.ha.plugins.module_utils.ghe import replication as repl
from ghe_fake import NO_FILE, FakeAppliance, ScriptedRunner, fixture

PRIMARY = "10.0.0.1"
READ_ONLY = ["read /etc/github/repl-state", "read /data/user/common/cluster.conf", "ghe-repl-status -vv"]
STANDALONE_READS = ["read /etc/github/repl-state", "ghe-repl-status -vv"]


# ---- reading state --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "answer, expected",
    [
        ((0, "replica\n", ""), "replica"),
        ((0, "  PRIMARY \n", ""), "primary"),
        ((1, "", NO_FILE.format("/etc/github/repl-state")), "standalone"),
        ((1, "", "Permission denied\n"), GheError),
        ((0, "", ""), GheError),
        ((0, "secondary\n", ""), GheError),
    ],
)
def test_read_role(answer, expected):
    run = ScriptedRunner({"read /etc/github/repl-state": answer})
    if expected is GheError:
        with pytest.raises(GheError):
            repl.read_role(run)
    else:
        assert repl.read_role(run) == expected


def test_parse_cluster_conf_ha_fixture():
    conf = repl.parse_cluster_conf(fixture("cluster_ha.conf"))
    assert conf["cluster"]["mysql-master"] == "ghe-primary"
    assert set(conf["nodes"]) == {"ghe-primary", "ghe-replica"}
    summary = repl.cluster_summary(conf)
    assert summary == {
        "primary": {"name": "ghe-primary", "hostname": "ghe-primary", "ipv4": "10.0.0.1", "ipv6": None},
        "replicas": ["ghe-replica"],
        "replica_count": 1,
    }


def test_parse_cluster_conf_geo_fixture_quotes_comments_and_tabs():
    summary = repl.cluster_summary(repl.parse_cluster_conf(fixture("cluster_geo8.conf")))
    assert summary["primary"]["ipv6"] == "fd00::1"
    assert summary["replica_count"] == 8
    assert summary["replicas"][0] == "ghe-replica-1"


@pytest.mark.parametrize(
    "text, primary_name, replicas",
    [
        # no mysql-master: the only node without replica = enabled is the primary
        ('[cluster "a"]\n ipv4 = 1.1.1.1\n[cluster "b"]\n replica = enabled\n', "a", ["b"]),
        # two candidates: unknown primary
        ('[cluster "a"]\n ipv4 = 1.1.1.1\n[cluster "b"]\n ipv4 = 2.2.2.2\n', None, []),
        # mysql-master naming a missing node falls back to the only candidate
        ('[cluster]\n mysql-master = ghost\n[cluster "a"]\n ipv4 = 1.1.1.1\n', "a", []),
        # other sections are ignored, upper-case keys and boolean keys are read
        ('[core]\n replica = enabled\n[Cluster "a"]\n IPV4 = 1.1.1.1\n', "a", []),
        # a key without a value is boolean true, not "enabled": not a replica
        ('[cluster "a"]\n replica\n', "a", []),
        ("", None, []),
    ],
)
def test_cluster_summary_table(text, primary_name, replicas):
    summary = repl.cluster_summary(repl.parse_cluster_conf(text))
    assert (summary["primary"] or {}).get("name") == primary_name
    assert summary["replicas"] == replicas


@pytest.mark.parametrize("text", ["[cluster \"a\"]\n = nothing\n", "[cluster]\n 9bad = 1\n", "[cluster]\nnot a key line!\n"])
def test_parse_cluster_conf_malformed(text):
    with pytest.raises(GheError, match="cannot parse"):
        repl.parse_cluster_conf(text)


def test_parse_cluster_conf_rejects_non_text():
    with pytest.raises(GheError):
        repl.parse_cluster_conf(None)


@pytest.mark.parametrize(
    "host, expected",
    [("10.0.0.1", True), ("GHE-PRIMARY", True), ("ghe-primary", True), ("fd00::1", True),
     ("10.0.0.2", False), ("", False), (None, False)],
)
def test_host_matches(host, expected):
    primary = {"name": "ghe-primary", "hostname": "ghe-primary", "ipv4": "10.0.0.1", "ipv6": "fd00::1"}
    assert repl.host_matches(primary, host) is expected
    assert repl.host_matches(None, "10.0.0.1") is False


@pytest.mark.parametrize("host", ["10.0.0.1", "ghe-primary.example.com", "fd00::1"])
def test_validate_host_accepts(host):
    assert repl.validate_host(host) == host


@pytest.mark.parametrize("host", ["", " 10.0.0.1", "10.0.0.1 ", "-rf", "10.0.0.1;reboot", "a b", "h/x", None, 10, "x" * 300])
def test_validate_host_rejects(host):
    with pytest.raises(GheError, match="primary_host must be"):
        repl.validate_host(host)


def test_read_state_on_each_role():
    assert repl.read_state(FakeAppliance(role="standalone")) == {
        "role": "standalone", "primary": None, "primary_host": None, "replicas": [], "replica_count": 0,
        "replication_running": False, "status": repl.parse_status("", 1, "Error: replication is not configured on this node\n"),
    }
    replica = repl.read_state(FakeAppliance(role="replica", primary_ip=PRIMARY, running=True))
    assert (replica["role"], replica["primary_host"], replica["replication_running"]) == ("replica", PRIMARY, True)
    assert replica["status"]["in_sync"] is True
    primary = repl.read_state(FakeAppliance(role="primary", replicas=3))
    assert (primary["role"], primary["replica_count"], primary["replication_running"]) == ("primary", 3, False)


def test_read_state_without_status_skips_ghe_repl_status():
    node = FakeAppliance(role="replica", primary_ip=PRIMARY)
    state = repl.read_state(node, with_status=False)
    assert state["status"] is None
    assert node.commands == READ_ONLY[:2]


@pytest.mark.parametrize("text, key", [
    (fixture("setup_needs_key.txt"), "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDHJ6vq9m3Xr0lJ8Qz5b0nTq+4zZ2Qp8x7yGm1pE2dL ha-replica-10-0-0-2"),
    (fixture("setup_needs_key_inline.txt"), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK7c0zYb8jQ1y2WvR6xP3sL9mN4tU5vA0bC1dE2fG3hH ha-replica-geo-2"),
    (fixture("setup_success.txt"), None),
    ("ssh-rsa AAAA not-after-the-marker\n", None),
])
def test_extract_public_key(text, key):
    assert repl.extract_public_key(text) == key


def test_extract_public_key_marker_without_key():
    with pytest.raises(GheError, match="no public key"):
        repl.extract_public_key("Visit http://x/setup/settings and authorize the following SSH key:\n\n(none)\n")


def test_make_runner_passes_stdin_verbatim():
    seen = []

    def run_command(args, **kwargs):
        seen.append((args, kwargs))
        return 0, None, None

    run = make_runner(run_command)
    assert run(("ghe-repl-setup", PRIMARY), "N\n") == (0, "", "")
    assert run(["ghe-repl-status", "-vv"]) == (0, "", "")
    assert seen[0] == (["ghe-repl-setup", PRIMARY],
                       {"environ_update": {"LC_ALL": "C", "LANG": "C"}, "data": "N\n", "binary_data": True})
    assert "data" not in seen[1][1]


# ---- setup transitions ----------------------------------------------------------------------

TRANSITIONS = [
    # initial node, params, mutating commands, final (role, primary, running)
    ({"role": "standalone"}, {"state": "present"}, [f"ghe-repl-setup {PRIMARY}"], ("replica", PRIMARY, False)),
    ({"role": "standalone"}, {"state": "started"}, [f"ghe-repl-setup {PRIMARY}", "ghe-repl-start"], ("replica", PRIMARY, True)),
    ({"role": "standalone"}, {"state": "stopped"}, [f"ghe-repl-setup {PRIMARY}"], ("replica", PRIMARY, False)),
    ({"role": "standalone"}, {"state": "started", "add": True},
     [f"ghe-repl-setup --add {PRIMARY}", "ghe-repl-start"], ("replica", PRIMARY, True)),
    ({"role": "replica", "primary_ip": PRIMARY, "running": True}, {"state": "started"}, [], ("replica", PRIMARY, True)),
    ({"role": "replica", "primary_ip": PRIMARY, "running": True}, {"state": "present"}, [], ("replica", PRIMARY, True)),
    ({"role": "replica", "primary_ip": PRIMARY, "running": True}, {"state": "stopped"}, ["ghe-repl-stop"], ("replica", PRIMARY, False)),
    ({"role": "replica", "primary_ip": PRIMARY, "running": False}, {"state": "started"}, ["ghe-repl-start"], ("replica", PRIMARY, True)),
    ({"role": "replica", "primary_ip": PRIMARY, "running": False}, {"state": "stopped"}, [], ("replica", PRIMARY, False)),
    ({"role": "replica", "primary_ip": PRIMARY, "running": True}, {"state": "absent"}, ["ghe-repl-teardown"], ("standalone", None, False)),
    ({"role": "replica", "primary_ip": PRIMARY, "running": False}, {"state": "absent", "primary_host": None},
     ["ghe-repl-teardown"], ("standalone", None, False)),
    ({"role": "standalone"}, {"state": "absent"}, [], ("standalone", None, False)),
    ({"role": "primary"}, {"state": "absent"}, [], ("primary", None, False)),
    ({"role": "primary"}, {"state": "started", "overwrite_primary_data": True},
     [f"ghe-repl-setup {PRIMARY}", "ghe-repl-start"], ("replica", PRIMARY, True)),
    # the primary given by host name is the same primary
    ({"role": "replica", "primary_ip": PRIMARY, "running": True}, {"state": "started", "primary_host": "ghe-primary"},
     [], ("replica", PRIMARY, True)),
]


def _params(params):
    merged = {"primary_host": PRIMARY}
    merged.update(params)
    return merged


@pytest.mark.parametrize("node_kwargs, params, mutating, final", TRANSITIONS)
def test_setup_transitions_then_idempotent(node_kwargs, params, mutating, final):
    node = FakeAppliance(**node_kwargs)
    result = repl.setup_replica(node, **_params(params))
    assert node.mutating_commands == mutating
    assert result["commands"] == mutating
    assert result["changed"] is bool(mutating)
    assert (node.role, node.primary_ip if node.role == "replica" else None, node.running) == final
    assert (result["role"], result["replication_running"]) == (final[0], final[2])
    if final[0] == "replica":
        assert result["primary_host"] == PRIMARY
    assert result["needs_key_authorization"] is False
    # Second run: nothing to do.
    node.calls.clear()
    again = repl.setup_replica(node, **_params(params))
    assert again["changed"] is False
    assert node.mutating_commands == []


@pytest.mark.parametrize("node_kwargs, params, mutating, final", TRANSITIONS)
def test_setup_check_mode_plans_and_runs_nothing(node_kwargs, params, mutating, final):
    node = FakeAppliance(**node_kwargs)
    before = (node.role, node.primary_ip, node.running)
    result = repl.setup_replica(node, check_mode=True, **_params(params))
    assert result["commands"] == mutating
    assert result["changed"] is bool(mutating)
    assert (result["role"], result["replication_running"]) == (final[0], final[2])
    expected_reads = STANDALONE_READS if node_kwargs["role"] == "standalone" else READ_ONLY
    assert node.commands == expected_reads
    assert (node.role, node.primary_ip, node.running) == before
    assert result["diff"]["after"]["role"] == final[0]


def test_setup_diff_before_and_after():
    result = repl.setup_replica(FakeAppliance(), primary_host=PRIMARY, state="started")
    assert result["diff"] == {
        "before": {"role": "standalone", "primary_host": None, "replication_running": False},
        "after": {"role": "replica", "primary_host": PRIMARY, "replication_running": True},
    }


def test_setup_answers_n_unless_overwrite_allowed():
    node = FakeAppliance()
    repl.setup_replica(node, primary_host=PRIMARY)
    assert [d for c, d in node.calls if c.startswith("ghe-repl-setup")] == ["N\n"]
    node = FakeAppliance(role="primary")
    repl.setup_replica(node, primary_host=PRIMARY, overwrite_primary_data=True)
    assert [d for c, d in node.calls if c.startswith("ghe-repl-setup")] == ["y\n"]


def test_setup_refuses_a_primary_before_running_anything():
    node = FakeAppliance(role="primary")
    with pytest.raises(GheError, match="overwrite_primary_data=true") as err:
        repl.setup_replica(node, primary_host=PRIMARY, state="started")
    assert "nothing was changed" in str(err.value)
    assert node.commands == READ_ONLY
    assert node.role == "primary"


def _standalone_script(setup_answer):
    return ScriptedRunner({
        "read /etc/github/repl-state": (1, "", NO_FILE.format("/etc/github/repl-state")),
        "ghe-repl-status -vv": (1, "", "Error: replication is not configured on this node\n"),
        f"ghe-repl-setup {PRIMARY}": setup_answer,
        "ghe-repl-start": (0, "Success: replication is running for all services.\n", ""),
    })


def test_setup_prompt_answered_no_when_repl_state_did_not_tell():
    # A torn-down former primary: no repl-state file, but ghe-repl-setup still asks.
    run = _standalone_script((1, fixture("setup_primary_prompt.txt") + "Aborted.\n", ""))
    with pytest.raises(GheError, match="is or has been a configured primary.*overwrite_primary_data=true"):
        repl.setup_replica(run, primary_host=PRIMARY, state="started")
    assert run.calls[-1] == (f"ghe-repl-setup {PRIMARY}", "N\n")
    assert "ghe-repl-start" not in run.commands


def test_setup_prompt_answered_yes_when_overwrite_allowed():
    run = _standalone_script((0, fixture("setup_primary_prompt.txt") + fixture("setup_success.txt"), ""))
    result = repl.setup_replica(run, primary_host=PRIMARY, state="started", overwrite_primary_data=True)
    assert (f"ghe-repl-setup {PRIMARY}", "y\n") in run.calls
    assert result["commands"] == [f"ghe-repl-setup {PRIMARY}", "ghe-repl-start"]


@pytest.mark.parametrize(
    "answer, match",
    [
        ((1, "Verifying ssh connectivity with 10.0.0.1 ...\nConnection check failed.\n", "ssh: timeout\n"),
         r"failed \(rc=1\): Verifying ssh connectivity.*Connection check failed\. \| ssh: timeout"),
        ((0, "Configuring database replication against primary ...\n", ""), r"failed \(rc=0\)"),
        ((2, fixture("setup_success.txt"), ""), r"failed \(rc=2\)"),
        ((1, "", ""), r"no output"),
    ],
)
def test_setup_failures_report_the_output_tail(answer, match):
    run = _standalone_script(answer)
    with pytest.raises(GheError, match=match):
        repl.setup_replica(run, primary_host=PRIMARY, state="started")
    assert "ghe-repl-start" not in run.commands


@pytest.mark.parametrize("node_kwargs, changed, commands", [
    ({"role": "replica", "primary_ip": PRIMARY}, False, ["ghe-repl-start"]),
    # ghe-repl-setup succeeded before ghe-repl-start failed: the failure says the node changed
    ({}, True, [f"ghe-repl-setup {PRIMARY}", "ghe-repl-start"]),
])
def test_start_failure_reports_what_changed(node_kwargs, changed, commands):
    node = FakeAppliance(**node_kwargs)
    node._start = lambda: (1, "", "Error: cannot reach primary\n")  # pylint: disable=protected-access
    with pytest.raises(GheError, match=r"`ghe-repl-start` failed \(rc=1\): Error: cannot reach primary") as err:
        repl.setup_replica(node, primary_host=PRIMARY, state="started")
    assert err.value.details == {"changed": changed, "commands": commands}


def test_setup_failure_details_say_unchanged():
    run = _standalone_script((1, "Connection check failed.\n", ""))
    with pytest.raises(GheError) as err:
        repl.setup_replica(run, primary_host=PRIMARY, state="started")
    assert err.value.details == {"changed": False, "commands": [f"ghe-repl-setup {PRIMARY}"]}


def test_missing_success_line_warns():
    node = FakeAppliance(role="replica", primary_ip=PRIMARY)
    node._start = lambda: (0, "started\n", "")  # pylint: disable=protected-access
    result = repl.setup_replica(node, primary_host=PRIMARY, state="started")
    assert result["warnings"] == [
        "`ghe-repl-start` exited 0 without the expected line 'success: replication is running for all services'"
    ]


# ---- key authorisation ------------------------------------------------------------------------

def test_key_authorisation_round_trip():
    node = FakeAppliance(key_authorized=False)
    first = repl.setup_replica(node, primary_host=PRIMARY, state="started")
    assert first["needs_key_authorization"] is True
    assert first["public_key"].startswith("ssh-rsa AAAAB3NzaC1yc2E")
    assert first["public_key"].endswith("ha-replica-10-0-0-2")
    assert first["changed"] is False
    assert first["commands"] == [f"ghe-repl-setup {PRIMARY}"]
    assert first["role"] == "standalone"
    assert node.mutating_commands == [f"ghe-repl-setup {PRIMARY}"]  # nothing after the key request
    # The role authorises the key on the primary, then calls again.
    node.key_authorized = True
    node.calls.clear()
    second = repl.setup_replica(node, primary_host=PRIMARY, state="started")
    assert second["needs_key_authorization"] is False
    assert second["public_key"] is None
    assert second["changed"] is True
    assert node.mutating_commands == [f"ghe-repl-setup {PRIMARY}", "ghe-repl-start"]
    assert (node.role, node.running) == ("replica", True)


def test_key_authorised_by_callback_in_one_call():
    node = FakeAppliance(key_authorized=False)
    received = []

    def authorize(key):
        received.append(key)
        node.key_authorized = True

    result = repl.setup_replica(node, primary_host=PRIMARY, state="started", authorize_key=authorize)
    assert len(received) == 1 and received[0].startswith("ssh-rsa ")
    assert result["key_authorized"] is True
    assert result["public_key"] == received[0]
    assert result["needs_key_authorization"] is False
    assert result["commands"] == [f"ghe-repl-setup {PRIMARY}", f"ghe-repl-setup {PRIMARY}", "ghe-repl-start"]
    assert node.running is True


def test_key_still_rejected_after_callback():
    node = FakeAppliance(key_authorized=False)
    with pytest.raises(GheError, match="still asks for it"):
        repl.setup_replica(node, primary_host=PRIMARY, authorize_key=lambda key: None)
    assert node.mutating_commands == [f"ghe-repl-setup {PRIMARY}"] * 2


def test_key_pending_in_check_mode_is_not_detected_and_nothing_runs():
    node = FakeAppliance(key_authorized=False)
    result = repl.setup_replica(node, primary_host=PRIMARY, state="started", check_mode=True)
    assert result["changed"] is True
    assert node.mutating_commands == []
    assert node.key_generated is False


# ---- validation: one clear error, nothing changed ---------------------------------------------

@pytest.mark.parametrize(
    "node_kwargs, params, match",
    [
        ({"role": "replica", "primary_ip": "10.0.0.9"}, {}, "already a replica of 10.0.0.9, not 10.0.0.1"),
        ({}, {"state": "running"}, "state must be one of"),
        ({}, {"primary_host": None}, "primary_host is required with state=present"),
        ({}, {"primary_host": "10.0.0.1 --add"}, "primary_host must be"),
        ({}, {"existing_replicas": -1}, "existing_replicas must be"),
        ({}, {"existing_replicas": "2"}, "existing_replicas must be"),
        ({}, {"existing_replicas": True}, "existing_replicas must be"),
        ({}, {"add": True, "existing_replicas": 8}, "already has 8 replicas.*at most 8"),
        ({}, {"add": True, "existing_replicas": 12}, "at most 8"),
    ],
)
def test_setup_validation_errors_change_nothing(node_kwargs, params, match):
    node = FakeAppliance(**node_kwargs)
    with pytest.raises(GheError, match=match):
        repl.setup_replica(node, **_params(params))
    assert node.mutating_commands == []


def test_seventh_replica_allowed_and_replacing_config_warns():
    node = FakeAppliance()
    result = repl.setup_replica(node, primary_host=PRIMARY, add=True, existing_replicas=7)
    assert result["commands"] == [f"ghe-repl-setup --add {PRIMARY}"]
    assert result["warnings"] == []
    node = FakeAppliance()
    result = repl.setup_replica(node, primary_host=PRIMARY, existing_replicas=2)
    assert "replaces the existing replication configuration" in result["warnings"][0]


def test_replica_without_cluster_conf_is_an_error():
    run = ScriptedRunner({
        "read /etc/github/repl-state": (0, "replica\n", ""),
        "read /data/user/common/cluster.conf": (1, "", NO_FILE.format("/data/user/common/cluster.conf")),
        "ghe-repl-status -vv": (0, fixture("status_ok_vv.txt"), ""),
    })
    with pytest.raises(GheError, match="does not name its primary"):
        repl.setup_replica(run, primary_host=PRIMARY)
    assert run.commands == READ_ONLY


def test_unreadable_cluster_conf_is_an_error():
    run = ScriptedRunner({
        "read /etc/github/repl-state": (0, "primary\n", ""),
        "read /data/user/common/cluster.conf": (1, "", "Permission denied\n"),
    })
    with pytest.raises(GheError, match="cannot read /data/user/common/cluster.conf"):
        repl.read_state(run)


# ---- Manage API key authorisation ---------------------------------------------------------------

SECRET = "s3cr3t-P@ss"


class _Response:
    def __init__(self, code=200):
        self.code = code
        self.closed = False

    def getcode(self):
        return self.code

    def close(self):
        self.closed = True


def test_authorize_key_request_shape():
    seen = []

    def opener(url, **kwargs):
        seen.append((url, kwargs))
        return _Response(201)

    url = repl.authorize_key_via_manage_api("https://10.0.0.1:8443/", SECRET, "ssh-rsa AAAA k", opener=opener)
    assert url == "https://10.0.0.1:8443/manage/v1/access/ssh"
    [(called, kwargs)] = seen
    assert called == url
    assert kwargs["method"] == "POST"
    assert json.loads(kwargs["data"]) == {"key": "ssh-rsa AAAA k"}
    assert (kwargs["url_username"], kwargs["url_password"], kwargs["force_basic_auth"]) == ("api_key", SECRET, True)
    assert kwargs["headers"]["Content-Type"] == "application/json"
    assert kwargs["timeout"] == 30
    # Ansible's HTTP client does the work: the environment's proxy, certificate checks on, the
    # system CA store, and no redirect (the credentials would follow it).
    assert (kwargs["use_proxy"], kwargs["validate_certs"], kwargs["ca_path"]) == (True, True, None)
    assert kwargs["follow_redirects"] == "none"


def test_authorize_key_tls_options_passed_on():
    seen = []

    def opener(url, **kwargs):
        seen.append(kwargs)
        return _Response(200)

    repl.authorize_key_via_manage_api("https://p:8443", SECRET, "ssh-rsa AAAA k", validate_certs=False,
                                      ca_path="/etc/ssl/ghe-ca.pem", opener=opener)
    assert (seen[0]["validate_certs"], seen[0]["ca_path"]) == (False, "/etc/ssl/ghe-ca.pem")


def test_open_url_is_the_default_opener():
    assert repl.open_url is urls.open_url


def _raise(exc):
    def opener(url, **kwargs):
        raise exc
    return opener


@pytest.mark.parametrize("code, hint", [(401, True), (404, False), (500, False)])
def test_authorize_key_http_error_never_shows_the_password(code, hint):
    with pytest.raises(GheError, match=f"refused the replica key: HTTP {code}") as err:
        repl.authorize_key_via_manage_api(
            "https://p:8443", SECRET, "ssh-rsa AAAA k",
            opener=_raise(urllib.error.HTTPError("https://p:8443", code, "no", {}, None)),
        )
    assert SECRET not in str(err.value)
    assert ("wrong root site administrator password" in str(err.value)) is hint


def test_authorize_key_redirect_not_followed_is_a_refusal():
    redirect = urllib.error.HTTPError("https://p:8443", 302, "Found", {"Location": "https://elsewhere/"}, None)
    with pytest.raises(GheError, match="refused the replica key: HTTP 302"):
        repl.authorize_key_via_manage_api("https://p:8443", SECRET, "ssh-rsa AAAA k", opener=_raise(redirect))


@pytest.mark.parametrize(
    "exc",
    [
        urllib.error.URLError(f"https://api_key:{SECRET}@p:8443 refused"),
        urls.ConnectionError(f"Failed to connect to p at port 8443 ({SECRET})"),
        urls.SSLValidationError("certificate verify failed"),
        OSError("timed out"),
        http.client.RemoteDisconnected("Remote end closed connection without response"),
    ],
)
def test_authorize_key_unreachable_error_is_scrubbed(exc):
    with pytest.raises(GheError, match="cannot authorise the replica key at https://p:8443/manage/v1/access/ssh: "
                                       "https://p:8443/manage/v1/access/ssh is unreachable") as err:
        repl.authorize_key_via_manage_api("https://p:8443", SECRET, "ssh-rsa AAAA k", opener=_raise(exc))
    assert SECRET not in str(err.value)


def test_authorize_key_requires_a_password():
    calls = []
    with pytest.raises(GheError, match="password is required"):
        repl.authorize_key_via_manage_api("https://p:8443", "", "ssh-rsa AAAA k", opener=calls.append)
    assert calls == []


@pytest.mark.parametrize(
    "outcome, expected",
    [
        (_Response(200), 200),
        (urllib.error.HTTPError("http://x", 503, "Service Unavailable", {}, None), 503),
        (urllib.error.URLError("Connection refused"), None),
        (urls.ConnectionError("Failed to connect"), None),
        (OSError("timed out"), None),
        (ValueError("unknown url type"), None),
    ],
)
def test_http_status_through_open_url_without_a_proxy(outcome, expected):
    seen = []

    def opener(url, **kwargs):
        seen.append((url, kwargs))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert repl.http_status("http://localhost/status", validate_certs=False, ca_path="/ca.pem", opener=opener) == expected
    [(url, kwargs)] = seen
    assert (url, kwargs["method"], kwargs["timeout"]) == ("http://localhost/status", "GET", 10)
    assert (kwargs["use_proxy"], kwargs["validate_certs"], kwargs["ca_path"]) == (False, False, "/ca.pem")
    assert kwargs["url_username"] is None and kwargs["force_basic_auth"] is False
    if isinstance(outcome, _Response):
        assert outcome.closed


# ---- promotion ------------------------------------------------------------------------------------

def _promote(node, **kwargs):
    kwargs.setdefault("get_status", node.http_status)
    kwargs.setdefault("sleep", lambda s: None)
    return repl.promote_replica(node, **kwargs)


def test_planned_promotion():
    node = FakeAppliance(role="replica", primary_ip=PRIMARY, running=True, primary_http=503)
    result = _promote(node)
    assert node.mutating_commands == ["ghe-repl-promote"]
    assert node.commands == READ_ONLY + ["ghe-repl-promote"]
    assert node.http_calls == [f"http://{PRIMARY}/status", "http://localhost/status"]
    assert result["promoted"] is True and result["changed"] is True
    assert result["status_code"] == 200
    assert result["primary_status_code"] == 503
    assert result["role"] == "primary"
    assert result["replication_status"] == "OK"
    assert result["diff"] == {"before": {"role": "replica"}, "after": {"role": "primary"}}
    assert result["warnings"] == []
    # Run again: the node is now an active primary, nothing to do.
    node.calls.clear()
    again = _promote(node)
    assert again["changed"] is False and again["promoted"] is False
    assert node.mutating_commands == []


@pytest.mark.parametrize(
    "node_kwargs, params, match",
    [
        ({"status_fixture": "status_critical_vv.txt", "status_rc": 2}, {}, "not in sync \\(CRITICAL: CRITICAL: git replication"),
        ({"status_fixture": "status_warning_vv.txt", "status_rc": 1}, {}, "not in sync \\(WARNING"),
        ({"running": False}, {}, "not in sync \\(WARNING: exit code 1, line 1: Replication is not running"),
        ({"primary_http": 200}, {}, "still serves requests"),
        ({"primary_http": None}, {}, "primary is unreachable.*primary_unreachable=true"),
        ({"status_fixture": "status_critical_vv.txt", "status_rc": 2, "primary_http": 200},
         {"require_in_sync": False}, "still serves requests"),
        ({}, {"status_url": "ftp://x"}, "status_url must be"),
        ({}, {"primary_status_url": "localhost/status"}, "primary_status_url must be"),
        ({}, {"status_timeout": -1}, "status_timeout must be"),
        ({}, {"status_timeout": "5"}, "status_timeout must be"),
    ],
)
def test_promotion_refused_changes_nothing(node_kwargs, params, match):
    kwargs = {"role": "replica", "primary_ip": PRIMARY, "running": True}
    kwargs.update(node_kwargs)
    node = FakeAppliance(**kwargs)
    with pytest.raises(GheError, match=match):
        _promote(node, **params)
    assert node.mutating_commands == []
    assert node.role == "replica"


@pytest.mark.parametrize(
    "node_kwargs, params, primary_probed",
    [
        # override of the in-sync requirement for a planned failover
        ({"status_fixture": "status_critical_vv.txt", "status_rc": 2}, {"require_in_sync": False}, True),
        # disaster: primary gone, status CRITICAL, no probe of the primary
        ({"status_fixture": "status_critical_vv.txt", "status_rc": 2, "primary_http": None},
         {"primary_unreachable": True}, False),
        ({"running": False, "primary_http": 200}, {"primary_unreachable": True}, False),
    ],
)
def test_promotion_overrides(node_kwargs, params, primary_probed):
    kwargs = {"role": "replica", "primary_ip": PRIMARY, "running": True}
    kwargs.update(node_kwargs)
    node = FakeAppliance(**kwargs)
    result = _promote(node, **params)
    assert result["promoted"] is True
    assert node.mutating_commands == ["ghe-repl-promote"]
    assert (f"http://{PRIMARY}/status" in node.http_calls) is primary_probed
    assert bool(result["warnings"]) is bool(params.get("primary_unreachable"))


def test_promotion_check_mode_runs_only_read_only_checks():
    node = FakeAppliance(role="replica", primary_ip=PRIMARY, running=True)
    result = _promote(node, check_mode=True)
    assert result["changed"] is True and result["promoted"] is False
    assert result["commands"] == ["ghe-repl-promote"]
    assert node.commands == READ_ONLY
    assert node.http_calls == [f"http://{PRIMARY}/status"]
    assert node.role == "replica"


def test_promotion_refused_in_check_mode_too():
    node = FakeAppliance(role="replica", primary_ip=PRIMARY, running=True,
                         status_fixture="status_critical_vv.txt", status_rc=2)
    with pytest.raises(GheError, match="not in sync"):
        _promote(node, check_mode=True)


@pytest.mark.parametrize("role, maintenance, outcome", [
    ("primary", False, "unchanged"),
    ("standalone", False, "unchanged"),
    ("primary", True, "refused"),
])
def test_promotion_of_a_non_replica(role, maintenance, outcome):
    node = FakeAppliance(role=role, maintenance=maintenance)
    if outcome == "refused":
        with pytest.raises(GheError, match=f"not a replica \\(/etc/github/repl-state: {role}\\).*answers 503"):
            _promote(node)
    else:
        result = _promote(node)
        assert result["changed"] is False and result["status_code"] == 200
    assert node.mutating_commands == []


def test_promotion_waits_for_status_then_fails_with_details():
    node = FakeAppliance(role="replica", primary_ip=PRIMARY, running=True)
    codes = iter([None, 503, 503])
    clock = iter([0, 0, 5, 10])
    slept = []
    with pytest.raises(GheError, match=r"promoted but http://localhost/status answers 503 after 10s") as err:
        repl.promote_replica(
            node, status_timeout=10, status_interval=5, sleep=slept.append, clock=lambda: next(clock),
            get_status=lambda url: 503 if url.startswith(f"http://{PRIMARY}") else next(codes),
        )
    assert err.value.details["promoted"] is True and err.value.details["changed"] is True
    assert slept == [5, 5]
    assert node.mutating_commands == ["ghe-repl-promote"]


def test_promotion_waits_until_status_200():
    node = FakeAppliance(role="replica", primary_ip=PRIMARY, running=True)
    codes = iter([None, 503, 200])
    slept = []
    result = repl.promote_replica(
        node, sleep=slept.append, clock=lambda: 0,
        get_status=lambda url: 503 if url.startswith(f"http://{PRIMARY}") else next(codes),
    )
    assert result["status_code"] == 200 and slept == [5, 5]


def test_promote_command_failure():
    node = FakeAppliance(role="replica", primary_ip=PRIMARY, running=True)
    node._promote = lambda: (1, "Enabling maintenance mode on the primary ...\n", "Error: failed\n")  # pylint: disable=protected-access
    with pytest.raises(GheError, match=r"`ghe-repl-promote` failed \(rc=1\)") as err:
        _promote(node)
    assert "promoted" not in err.value.details


def test_primary_status_url_override_and_ipv6():
    node = FakeAppliance(role="replica", primary_ip=PRIMARY, running=True)
    _promote(node, primary_status_url="https://primary.example.com/status")
    assert node.http_calls[0] == "https://primary.example.com/status"
    node = FakeAppliance(role="replica", primary_ip="fd00::1", running=True)
    _promote(node)
    assert node.http_calls[0] == "http://[fd00::1]/status"


def test_primary_address_unknown_needs_primary_status_url():
    run = ScriptedRunner({
        "read /etc/github/repl-state": (0, "replica\n", ""),
        "read /data/user/common/cluster.conf": (0, '[cluster "a"]\n hostname = a\n[cluster "b"]\n hostname = b\n', ""),
        "ghe-repl-status -vv": (0, fixture("status_ok_vv.txt"), ""),
    })
    with pytest.raises(GheError, match="set primary_status_url"):
        repl.promote_replica(run, get_status=lambda url: 503)
    assert "ghe-repl-promote" not in run.commands


def test_make_runner_reads_files_with_python(tmp_path):
    """The real runner's read: a file's text, None when missing, GheError for anything else
    (here a directory) - and no command is run for it."""
    commands = []
    run = make_runner(lambda args, **kwargs: commands.append(args) or (0, "", ""))
    state = tmp_path / "repl-state"
    state.write_text("replica\n")
    assert run.read(str(state)) == "replica\n"
    assert run.read(str(tmp_path / "missing")) is None
    with pytest.raises(GheError, match=r"cannot read .*: Is a directory"):
        repl._read(run, str(tmp_path))  # pylint: disable=protected-access
    assert commands == []
