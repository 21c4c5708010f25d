"""NFS client mounts: validation (table-driven, malformed input) and the fstab lines."""
from __future__ import annotations

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.nfs.mounts import (
    check_mounts,
    fstab_line,
    parse_src,
)

VIP = "10.1.0.10"


def mount(src=f"{VIP}:/srv/nfs/sessions", path="/var/lib/app/sessions", **extra):
    return dict(src=src, path=path, **extra)


def test_valid_mounts_are_normalised():
    problems, out = check_mounts([
        mount(opts="intr,noac", owner="www-data", group=33, mode="0770"),
        mount("/srv/nfs/files", "/var/lib/app/files", opts=["intr"]),
        mount("[2001:db8::10]:/export", "/mnt/v6/data", fstype="nfs4", opts="hard,timeo=600,vers=4.1,x-systemd.automount"),
    ], server=VIP, opts="defaults")
    assert problems == []
    assert [fstab_line(m) for m in out] == [
        "10.1.0.10:/srv/nfs/sessions /var/lib/app/sessions nfs intr,noac 0 0",
        "10.1.0.10:/srv/nfs/files /var/lib/app/files nfs intr 0 0",
        "[2001:db8::10]:/export /mnt/v6/data nfs4 hard,timeo=600,vers=4.1,x-systemd.automount 0 0",
    ]
    assert out[0]["owner"] == "www-data" and out[0]["group"] == "33" and out[0]["mode"] == "0770"
    assert out[1]["owner"] == "root" and out[1]["mode"] == "0755"
    assert out[0]["aside"] == "/var/lib/app/sessions.pre-nfs"


def test_default_options_apply():
    assert check_mounts([mount()], opts="defaults")[1][0]["opts"] == "defaults"
    assert check_mounts([mount()], opts="rw,hard")[1][0]["opts"] == "rw,hard"


@pytest.mark.parametrize("src, server, want", [
    ("10.1.0.10:/srv/x", "", ("10.1.0.10", "/srv/x")),
    ("nfs.example.com:/srv/x", "", ("nfs.example.com", "/srv/x")),
    ("/srv/x", "10.1.0.10", ("10.1.0.10", "/srv/x")),
    ("[2001:db8::1]:/srv/x", "", ("2001:db8::1", "/srv/x")),
])
def test_parse_src(src, server, want):
    host, path, problem = parse_src(src, server)
    assert problem is None and (host, path) == want


# (mounts, keyword arguments, words of the problem) - each input has exactly one problem
MALFORMED = [
    ("not a list", {}, "nfs_mounts_list must be a list"),
    ([5], {}, "must be a dict with src and path"),
    ([{"src": f"{VIP}:/x"}], {}, "path is required"),
    ([{"path": "/var/lib/app/x"}], {}, "src is required"),
    ([mount(path="var/lib/app")], {}, "path 'var/lib/app' is not an absolute path"),
    ([mount(path="/var/lib/app/")], {}, "is not normalised"),
    ([mount(path="/var/lib/my app")], {}, "contains whitespace"),
    ([mount(path="/var")], {}, "/var is a system directory"),
    ([mount(path="/")], {}, "/ is a system directory"),
    ([mount(), mount(src=f"{VIP}:/other")], {}, "path /var/lib/app/sessions is listed twice (entries 0 and 1)"),
    ([mount(src="10.1.0.300:/srv/x")], {}, "server '10.1.0.300' is not a valid IP address"),
    ([mount(src="10.1.0.10/srv/x")], {}, "is not HOST:/path"),
    ([mount(src="10.1.0.10:srv/x")], {}, "remote path 'srv/x' is not an absolute path"),
    ([mount(src="bad_host!:/srv/x")], {}, "is not an IP address or host name"),
    ([mount(src="[2001:db8::1:/srv/x")], {}, "an IPv6 server is written [ADDRESS]:/path"),
    ([mount(src="/srv/x")], {}, "has no server: write HOST:/path or set nfs_mounts_server"),
    ([mount(src="/srv/x")], {"server": "10.1.0.999"}, "nfs_mounts_server: server '10.1.0.999' is not a valid IP"),
    ([mount(opts="intr,noac,hardd")], {}, "unknown mount option hardd (did you mean hard?)"),
    ([mount(opts="hard,soft")], {}, "hard and soft contradict each other"),
    ([mount(opts="intr,intr")], {}, "intr is listed twice"),
    ([mount(opts="timeo=abc")], {}, "option timeo=abc has an invalid value"),
    ([mount(opts="timeo")], {}, "option timeo needs a value"),
    ([mount(opts="noac=1")], {}, "option noac=1 takes no value"),
    ([mount(opts="intr noac")], {}, "contains whitespace"),
    ([mount(opts="")], {}, "opts is empty"),
    ([mount(fstype="nfs4", opts="vers=3")], {}, "option vers=3 contradicts fstype nfs4"),
    ([mount(fstype="cifs")], {}, "fstype 'cifs' must be one of nfs, nfs4"),
    ([mount()], {"fstype": "ext4"}, "nfs_mounts_fstype 'ext4' must be one of nfs, nfs4"),
    ([mount(mode=504)], {}, "is a number, not an octal string: quote it"),
    ([mount(owner="")], {}, "is not a valid user/group name"),
    ([mount(options="intr")], {}, "unknown key(s) options"),
    ([mount()], {"aside_suffix": "/x"}, "nfs_mounts_aside_suffix '/x' must be"),
]


@pytest.mark.parametrize("mounts, kwargs, words", MALFORMED, ids=[case[2] for case in MALFORMED])
def test_malformed_mounts(mounts, kwargs, words):
    problems, out = check_mounts(mounts, **kwargs)
    assert out == []
    assert len(problems) == 1, problems
    assert words in problems[0], problems


def test_every_problem_is_reported_at_once():
    problems = check_mounts([mount(path="relative", src="x"), mount(opts="foo")], mode="x")[0]
    assert len(problems) == 4, problems
    problems, out = check_mounts([mount(path="/etc")])
    assert out == [] and len(problems) == 1 and "system directory" in problems[0], problems
