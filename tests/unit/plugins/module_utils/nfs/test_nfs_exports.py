"""NFS exports: validation (table-driven, malformed input) and rendering of exports(5) lines."""
from __future__ import annotations

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.nfs.exports import (
    check_client_host,
    check_exports,
    render_exports,
)

NET = "10.0.1.0/24"


def export(path="/srv/nfs/sessions", clients=None, **extra):
    return dict(path=path, clients=[{"host": NET, "options": ["rw", "sync"]}] if clients is None else clients, **extra)


def test_valid_exports_are_normalised_and_rendered():
    problems, out = check_exports([
        export(owner="app", group="app", mode="770"),
        export("/srv/nfs/files", clients=[{"host": NET, "options": "rw, sync ,no_subtree_check"}, "backup.example.com",
                                          {"host": "@trusted", "options": ["ro", "sec=krb5p:krb5i", "fsid=1"]}],
               create=False),
    ], owner="root", group="www-data", mode="0755", name="app")
    assert problems == []
    assert out == [
        {"path": "/srv/nfs/sessions", "clients": [{"host": NET, "options": ["rw", "sync"]}],
         "owner": "app", "group": "app", "mode": "0770", "create": True},
        {"path": "/srv/nfs/files", "clients": [
            {"host": NET, "options": ["rw", "sync", "no_subtree_check"]},
            {"host": "backup.example.com", "options": []},
            {"host": "@trusted", "options": ["ro", "sec=krb5p:krb5i", "fsid=1"]}],
         "owner": "root", "group": "www-data", "mode": "0755", "create": False},
    ]
    assert render_exports(out) == (
        "/srv/nfs/sessions 10.0.1.0/24(rw,sync)\n"
        "/srv/nfs/files 10.0.1.0/24(rw,sync,no_subtree_check) backup.example.com @trusted(ro,sec=krb5p:krb5i,fsid=1)"
    )


def test_paths_with_spaces_are_quoted():
    problems, out = check_exports([export("/srv/nfs/my files")])
    assert problems == []
    assert render_exports(out) == '"/srv/nfs/my files" 10.0.1.0/24(rw,sync)'


def test_empty_list_renders_nothing():
    assert check_exports([]) == ([], [])
    assert render_exports([]) == ""


@pytest.mark.parametrize("host", [
    "10.0.1.5", "10.0.1.0/24", "10.0.1.0/255.255.255.0", "2001:db8::/32", "2001:db8::1", "app-1",
    "app-1.example.com", "*.example.com", "app-?.example.com", "@netgroup", "*",
])
def test_client_hosts_accepted(host):
    assert check_client_host(host) is None


@pytest.mark.parametrize("host, words", [
    ("10.0.1.5/24", "did you mean 10.0.1.0/24?"),
    ("10.0.1.300", "not a valid address"),
    ("10.0.1.0/33", "not a valid address"),
    ("2001:db8::zz", "not a valid address"),
    ("bad host", "not an address, network, host name"),
    ("host(rw)", "not an address, network, host name"),
    ("-leading.example.com", "not an address, network, host name"),
    ("", "non-empty string"),
    (None, "non-empty string"),
])
def test_client_hosts_refused(host, words):
    assert words in check_client_host(host)


# (exports, words of the problem) - each input has exactly one problem
MALFORMED = [
    ("not a list", "nfs_exports_list must be a list"),
    (["/srv/nfs/x"], "must be a dict with path and clients"),
    ([{"clients": [{"host": NET}]}], "path is required"),
    ([export("srv/nfs/x")], "path 'srv/nfs/x' is not an absolute path"),
    ([export("/srv/nfs/x/")], "is not normalised (write '/srv/nfs/x')"),
    ([export("/srv//nfs")], "is not normalised (write '/srv/nfs')"),
    ([export("/srv/nfs/../etc")], "is not normalised (write '/srv/etc')"),
    ([export("/")], "exporting / is refused"),
    ([export('/srv/"x"')], "quote, backslash"),
    ([export("/srv/x\ny")], "control character"),
    ([export(clients=[])], "clients must be a non-empty list"),
    ([export(clients=None) | {"clients": None}], "clients must be a non-empty list"),
    ([export(clients=[{"host": NET, "options": ["rw", "no_root_sqash"]}])],
     "unknown export option no_root_sqash (did you mean no_root_squash?)"),
    ([export(clients=[{"host": NET, "options": ["rw", "ro"]}])], "rw and ro contradict each other"),
    ([export(clients=[{"host": NET, "options": ["rw", "rw"]}])], "rw is listed twice"),
    ([export(clients=[{"host": NET, "options": ["rw=1"]}])], "option rw=1 takes no value"),
    ([export(clients=[{"host": NET, "options": ["anonuid"]}])], "option anonuid needs a value"),
    ([export(clients=[{"host": NET, "options": ["anonuid=abc"]}])], "anonuid=abc must be a numeric id"),
    ([export(clients=[{"host": NET, "options": ["fsid=x1"]}])], "fsid=x1 must be a number, root or a UUID"),
    ([export(clients=[{"host": NET, "options": ["sec=krb6"]}])], "sec=krb6: unknown value(s) krb6"),
    ([export(clients=[{"host": NET, "options": ["rw sync"]}])], "contains whitespace"),
    ([export(clients=[{"host": NET, "options": 5}])], "must be a list of strings"),
    ([export(clients=[{"host": NET}, {"host": NET}])], "client 10.0.1.0/24 is listed twice"),
    ([export(clients=[{"host": NET, "option": ["rw"]}])], "unknown key(s) option"),
    ([export(clients=[5])], "must be a dict {host, options}"),
    ([export(), export()], "path /srv/nfs/sessions is listed twice (entries 0 and 1)"),
    ([export(mode=488)], "is a number, not an octal string: quote it"),
    ([export(mode="0999")], "is not an octal mode"),
    ([export(owner="bad owner")], "is not a valid user/group name"),
    ([export(create="yes")], "create must be true or false"),
    ([export(paths="/x")], "unknown key(s) paths"),
]


@pytest.mark.parametrize("exports, words", MALFORMED, ids=[case[1] for case in MALFORMED])
def test_malformed_exports(exports, words):
    problems, out = check_exports(exports)
    assert out == []
    assert len(problems) == 1, problems
    assert words in problems[0], problems


def test_every_problem_is_reported_at_once():
    exports = [export("relative", clients=[]), export(clients=[{"host": "10.0.0.1/8"}])]
    problems = check_exports(exports, mode=493, name="bad/name")[0]
    assert len(problems) == 5, problems
    assert check_exports([export("relative")]) == (["export relative: path 'relative' is not an absolute path"], [])


@pytest.mark.parametrize("name, ok", [("app", True), ("db_pair-1.x", True), ("", False), ("a/b", False),
                                      ("../x", False), (".hidden", False), ("x" * 65, False)])
def test_file_name(name, ok):
    problems = check_exports([], name=name)[0]
    assert (problems == []) == ok, problems
