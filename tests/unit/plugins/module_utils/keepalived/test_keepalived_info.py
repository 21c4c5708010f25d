"""keepalived_info (plugins/module_utils/keepalived/info.py and the module): the dispatcher's
settings and state files as roles/keepalived writes them, what systemd and keepalived say, and
the module's real exit path."""
from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.keepalived.info import (
    KeepalivedInfoError,
    gather,
    parse_settings,
    parse_state,
    read_states,
)
from ansible_collections.hapair.ha.plugins.modules import keepalived_info

ROOT = Path(__file__).resolve().parents[5]

SETTINGS = """# Ansible managed
HOOKS_DIR=/etc/keepalived/notify.d
STATE_DIR='/run/keepalived hapair'
HOOK_TIMEOUT=60
NAMES='VIP VIP_HB'

kind_of() {
    case $1 in
        VIP) echo GROUP ;;
    esac
}
"""


def test_parse_settings_reads_assignments_only():
    assert parse_settings(SETTINGS) == {"HOOKS_DIR": "/etc/keepalived/notify.d", "STATE_DIR": "/run/keepalived hapair",
                                        "HOOK_TIMEOUT": "60", "NAMES": "VIP VIP_HB"}
    assert parse_settings(None) == {} and parse_settings("X='unterminated\n") == {}


def test_the_role_template_holds_what_the_module_reads():
    text = (ROOT / "roles/keepalived/templates/hapair-notify.conf.j2").read_text()
    assert "HOOKS_DIR={{ keepalived_hooks_dir | quote }}" in text and "STATE_DIR={{ __keepalived_state_dir | quote }}" in text
    assert "LIBEXEC_DIR={{ keepalived_libexec_dir | quote }}" in text


def test_the_dispatcher_writes_what_the_module_reads():
    text = (ROOT / "roles/keepalived/files/keepalived-notify").read_text()
    assert """printf '%s %s\\n' "$3" "$(date""" in text and '"$STATE_DIR/$2.state.tmp"' in text
    assert 'echo "$3" > "$STATE_DIR/$2.done"' in text


@pytest.mark.parametrize("text, expected", [
    ("MASTER 2026-11-26T03:04:05.678+0000\n", ("MASTER", "2026-11-26T03:04:05.678+0000")),
    ("BACKUP", ("BACKUP", "")),
    ("", ("", "")), (None, ("", "")), ("master 2026", ("", "")), ("UNKNOWN x", ("", "")),
])
def test_parse_state(text, expected):
    assert parse_state(text) == expected


def files(mapping):
    def read(path):
        if path.endswith("/"):
            return "\n".join(sorted(p[len(path):] for p in mapping if p.startswith(path)))
        return mapping.get(path)
    return read


STATE_FILES = {"/s/VIP.state": "MASTER 2026-11-26T03:04:05.678+0000\n", "/s/VIP.done": "MASTER\n",
               "/s/HB.state": "BACKUP 2026-11-26T03:04:04.000+0000\n", "/s/HB.done": "MASTER\n",
               "/s/.notify.lock": ""}


def test_read_states_named_and_all():
    read = files(STATE_FILES)
    assert read_states("/s", ["VIP", "NONE"], read) == {
        "VIP": {"state": "MASTER", "since": "2026-11-26T03:04:05.678+0000", "hooks_done": True},
        "NONE": {"state": "", "since": "", "hooks_done": False}}
    every = read_states("/s", [], read)
    assert list(every) == ["HB", "VIP"]
    assert every["HB"] == {"state": "BACKUP", "since": "2026-11-26T03:04:04.000+0000", "hooks_done": False}


@pytest.mark.parametrize("name", ["../etc/passwd", "a b", "", "1VIP"])
def test_a_name_that_is_no_instance_is_refused(name):
    with pytest.raises(KeepalivedInfoError, match="is not a VRRP instance or sync group name"):
        read_states("/s", [name], files({}))


def runner(answers):
    calls = []

    def run(argv):
        calls.append(argv)
        return answers.get(argv[0] + " " + argv[1], (0, "", ""))
    run.calls = calls
    return run


def test_gather_on_a_configured_node():
    read = files({"/etc/keepalived/hapair-notify.conf": "HOOKS_DIR=/h\nSTATE_DIR=/s\nLIBEXEC_DIR=/x\n", **STATE_FILES})
    run = runner({"keepalived --version": (0, "", "Keepalived v2.2.7 (01/16,2022)\n\nCopyright(C) 2001-2022\n")})
    info = gather("/etc/keepalived/keepalived.conf", ["VIP"], read, run)
    assert info == {"installed": True, "version": "2.2.7", "active": True, "enabled": True, "configured": True,
                    "settings_path": "/etc/keepalived/hapair-notify.conf", "hooks_dir": "/h", "state_dir": "/s",
                    "libexec_dir": "/x", "states": {"VIP": {"state": "MASTER", "since": "2026-11-26T03:04:05.678+0000", "hooks_done": True}}}
    assert run.calls == [["keepalived", "--version"], ["systemctl", "is-active", "--quiet", "keepalived"],
                         ["systemctl", "is-enabled", "--quiet", "keepalived"]]


def test_gather_on_a_bare_node():
    run = runner({"keepalived --version": (127, "", "not found"), "systemctl is-active": (3, "", ""),
                  "systemctl is-enabled": (4, "", "")})
    info = gather("/etc/keepalived/keepalived.conf", ["VIP"], files({}), run)
    assert (info["installed"], info["version"], info["active"], info["enabled"], info["configured"]) == (
        False, "", False, False, False)
    assert (info["hooks_dir"], info["state_dir"], info["libexec_dir"]) == ("", "", "")
    assert info["states"] == {"VIP": {"state": "", "since": "", "hooks_done": False}}


def run_module(args, monkeypatch, capsys, commands):
    import json

    from ansible.module_utils import basic
    from ansible.module_utils.testing import patch_module_args

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/usr/sbin/" + name)
    monkeypatch.setattr(basic.AnsibleModule, "run_command",
                        lambda self, argv, **kw: commands.get(" ".join(argv[:2]), (0, "", "")))
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        keepalived_info.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_module_reads_the_node(tmp_path, monkeypatch, capsys):
    (tmp_path / "k").mkdir()
    (tmp_path / "s").mkdir()
    (tmp_path / "k" / "hapair-notify.conf").write_text(f"HOOKS_DIR=/etc/keepalived/notify.d\nSTATE_DIR={tmp_path}/s\n")
    (tmp_path / "s" / "VIP.state").write_text("BACKUP 2026-11-26T03:04:05.678+0000\n")
    code, result = run_module({"config_path": str(tmp_path / "k" / "keepalived.conf"), "_ansible_check_mode": True},
                              monkeypatch, capsys, {"/usr/sbin/keepalived --version": (0, "Keepalived v2.3.3 (x)\n", "")})
    assert code == 0 and result["changed"] is False
    assert (result["version"], result["hooks_dir"], result["state_dir"]) == ("2.3.3", "/etc/keepalived/notify.d", f"{tmp_path}/s")
    assert result["states"] == {"VIP": {"state": "BACKUP", "since": "2026-11-26T03:04:05.678+0000", "hooks_done": False}}


def test_module_refuses_a_bad_name(tmp_path, monkeypatch, capsys):
    (tmp_path / "hapair-notify.conf").write_text(f"STATE_DIR={tmp_path}\n")
    code, result = run_module({"config_path": str(tmp_path / "keepalived.conf"), "names": ["../x"]}, monkeypatch, capsys, {})
    assert code == 1 and result["failed"]
    assert result["msg"] == "Failed to read the keepalived states: '../x' is not a VRRP instance or sync group name"
