"""Unit tests of hapair-volume (roles/shared_volume/files), the helper keepalived runs on the
nodes: the parsers (debugfs dump_mmp, dumpe2fs -h, mountinfo), the guard's decision from MMP
samples, the fsck decision and the relocation plan - no lab, no devices."""
from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "roles" / "shared_volume" / "files" / "hapair-volume"
_loader = importlib.machinery.SourceFileLoader("hapair_volume", str(SCRIPT))
_spec = importlib.util.spec_from_loader("hapair_volume", _loader)
hv = importlib.util.module_from_spec(_spec)
_loader.exec_module(hv)

DUMP_MMP_ACTIVE = """debugfs 1.47.0 (5-Feb-2023)
block_number: 4385
update_interval: 2
check_interval: 5
sequence: 0000001c
time: 1795248718 -- Sat Nov 21 08:11:58 2026
node_name: gl-1
device_name: loop0
magic: 0x4d4d50
checksum: 0x30d810a7
"""
DUMPE2FS = """Filesystem volume name:   gitlab-data
Filesystem features:      has_journal ext_attr resize_inode dir_index filetype needs_recovery extent mmp
Filesystem state:         clean
"""
MOUNTINFO = """22 1 0:21 / / rw,relatime shared:1 - overlay overlay rw
98 22 7:0 / /home/git/gitlab-data rw,noatime - ext4 /dev/loop0 rw
99 22 0:45 / /home/git/with\\040space rw - tmpfs tmpfs rw
"""


def test_parse_mmp_reads_the_block():
    mmp = hv.parse_mmp(DUMP_MMP_ACTIVE)
    assert mmp == {"seq": 0x1C, "update_interval": 2, "check_interval": 5, "node": "gl-1", "device": "loop0", "time": 1795248718}
    assert hv.mmp_state(mmp["seq"]) == "active"
    assert hv.mmp_state(0xFF4D4D50) == "clean"
    assert hv.mmp_state(0xE24D4D50) == "fsck"


@pytest.mark.parametrize("text", ["", "debugfs 1.47.0\ndump_mmp: MMP: not active on this filesystem.\n", "sequence: zz\n"])
def test_parse_mmp_without_a_block(text):
    assert hv.parse_mmp(text) is None


def test_parse_superblock():
    sb = hv.parse_superblock(DUMPE2FS)
    assert sb["state"] == "clean" and "mmp" in sb["features"] and "needs_recovery" in sb["features"]
    assert hv.parse_superblock("garbage") == {"state": "", "features": []}


@pytest.mark.parametrize(
    ("policy", "sb", "seq", "expect"),
    [
        ("auto", {"state": "clean", "features": []}, 0xFF4D4D50, ""),
        ("auto", {"state": "clean", "features": []}, 0x12, "did not release it cleanly"),
        ("auto", {"state": "not clean with errors", "features": []}, 0xFF4D4D50, "the superblock says 'not clean with errors'"),
        ("auto", {"state": "clean", "features": ["needs_recovery"]}, 0xFF4D4D50, "journal needs recovery"),
        ("never", {"state": "not clean", "features": []}, 0x12, ""),
        ("always", {"state": "clean", "features": []}, 0xFF4D4D50, "always"),
    ],
)
def test_fsck_needed(policy, sb, seq, expect):
    why = hv.fsck_needed(policy, sb, {"seq": seq})
    assert (expect in why) if expect else why == ""


def test_find_mount():
    assert hv.find_mount(MOUNTINFO, "/home/git/gitlab-data") == {"major_minor": "7:0", "fstype": "ext4", "source": "/dev/loop0"}
    assert hv.find_mount(MOUNTINFO, "/home/git/with space")["fstype"] == "tmpfs"
    assert hv.find_mount(MOUNTINFO, "/home/git") is None
    assert hv.find_mount("short line\n", "/") is None


CLEAN, FSCK = 0xFF4D4D50, 0xE24D4D50


@pytest.mark.parametrize(
    ("samples", "waited", "verdict", "why"),
    [
        ([(0.0, CLEAN)], 0, "go", "not held"),
        ([(0.0, 5), (0.5, 5), (1.0, CLEAN)], 1, "go", "not held"),  # released during the wait
        ([(0.0, 5), (0.5, 6)], 0.5, "wait", "held by another node"),
        ([(0.0, 5), (2.0, 6), (10.0, 7)], 10, "refuse", "still changing after 10s"),
        ([(0.0, 5), (3.0, 5), (5.5, 5)], 5.5, "go", "stopped without releasing it"),  # stale, 2*2+1 = 5 s
        ([(0.0, 5), (3.0, 5)], 3, "wait", "not clean"),
        ([(0.0, FSCK), (10.0, FSCK)], 10, "refuse", "checking it with e2fsck"),
        ([(0.0, FSCK)], 0, "wait", "held by another node"),
    ],
)
def test_guard_decision(samples, waited, verdict, why):
    got, reason = hv.guard_decision(samples, update_interval=2, waited=waited, takeover_wait=10)
    assert got == verdict and why in reason


class FakeFs:
    def __init__(self, files=(), links=None):
        self.files = set(files)
        self.links = dict(links or {})

    def plan(self, item, mounted):
        return hv.relocation_plan(item, "/data", lambda p: p in self.files or p in self.links,
                                  lambda p: p in self.links, self.links.get, mounted)


ITEM = {"path": "/srv/app/uploads", "dest": "uploads", "type": "directory", "link": True}


def test_plan_first_holder_moves_local_state_once():
    assert FakeFs(files={"/srv/app/uploads"}).plan(ITEM, True) == [
        ("move", "/srv/app/uploads -> /data/uploads"), ("owner", "/data/uploads"), ("link", "/srv/app/uploads -> /data/uploads")]


def test_plan_nothing_to_do_when_linked():
    fs = FakeFs(files={"/data/uploads"}, links={"/srv/app/uploads": "/data/uploads"})
    assert fs.plan(ITEM, True) == [("owner", "/data/uploads")]
    assert fs.plan(ITEM, False) == []


def test_plan_other_node_keeps_its_local_copy_aside():
    fs = FakeFs(files={"/srv/app/uploads", "/data/uploads"})
    assert fs.plan(ITEM, True) == [("owner", "/data/uploads"), ("aside", "/srv/app/uploads -> /srv/app/uploads.pre-shared-volume"),
                                   ("link", "/srv/app/uploads -> /data/uploads")]
    # the BACKUP (volume not mounted) does the local side only
    assert FakeFs(files={"/srv/app/uploads"}).plan(ITEM, False) == [
        ("aside", "/srv/app/uploads -> /srv/app/uploads.pre-shared-volume"), ("link", "/srv/app/uploads -> /data/uploads")]


def test_plan_refuses_to_overwrite_a_kept_copy():
    fs = FakeFs(files={"/srv/app/uploads", "/srv/app/uploads.pre-shared-volume"})
    with pytest.raises(hv.VolumeError, match="already exists"):
        fs.plan(ITEM, False)


def test_plan_creates_missing_state_and_replaces_a_wrong_link():
    fs = FakeFs(links={"/srv/app/uploads": "/elsewhere"})
    assert fs.plan(ITEM, True) == [("create", "/data/uploads"), ("owner", "/data/uploads"), ("unlink", "/srv/app/uploads"),
                                   ("link", "/srv/app/uploads -> /data/uploads")]


def test_plan_without_link_leaves_the_path_to_the_application():
    item = dict(ITEM, link=False)
    assert FakeFs(files={"/srv/app/uploads"}).plan(item, True) == [("move", "/srv/app/uploads -> /data/uploads"),
                                                                   ("owner", "/data/uploads")]
    assert FakeFs(files={"/srv/app/uploads"}).plan(item, False) == []


def test_bad_settings_are_reported(tmp_path, capsys):
    cfg = tmp_path / "v.json"
    cfg.write_text('{"name": "data"}')
    assert hv.main(["--config", str(cfg), "--json", "status"]) == 2
    assert "lack device, mount_point" in capsys.readouterr().out
    assert hv.main(["--config", str(tmp_path / "missing.json"), "status"]) == 1


def test_a_move_interrupted_half_way_starts_again_from_the_local_copy(tmp_path):
    """A crash during the copy leaves the local copy and a '.hapair-partial' on the volume; the
    next run removes the partial copy and moves again."""
    local = tmp_path / "app" / "uploads"
    local.mkdir(parents=True)
    (local / "a.txt").write_text("a")
    volume = tmp_path / "volume"
    volume.mkdir()
    partial = volume / "uploads.hapair-partial"
    partial.mkdir()
    (partial / "half").write_text("half-copied")
    cfg = {"name": "data", "device": "/dev/null", "mount_point": str(volume), "fstype": "ext4", "vrrp_name": "G",
           "owner": "root", "group": "root", "mode": "0755",
           "relocate": [{"path": str(local), "dest": "uploads", "type": "directory", "owner": "root", "group": "root",
                         "mode": "0700", "link": True}]}
    vol = hv.Volume(cfg, say=lambda line: None)
    vol.relocate(volume_mounted=True)
    assert (volume / "uploads" / "a.txt").read_text() == "a"
    assert not partial.exists() and not (volume / "uploads" / "half").exists()
    assert local.is_symlink() and str(local.readlink()) == str(volume / "uploads")
    assert oct((volume / "uploads").stat().st_mode & 0o777) == "0o700"
    # converged: a second run has nothing to do
    again = hv.Volume(cfg, say=lambda line: None)
    again.relocate(volume_mounted=True)
    assert again.actions == []
