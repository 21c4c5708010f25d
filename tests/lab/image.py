"""Root filesystem images of the lab's hosts: Debian servers built with debootstrap.

Every lab host boots real systemd from a copy-on-write overlay over one of these images, so it
shares nothing of the controller's ``/usr``. An image is built once per machine and kept outside
the checkout (``/var/cache/hapair-lab/images``, or ``$HAPAIR_LAB_IMAGES``). Its directory name
carries a digest of everything that goes into it (release, package lists, the customisation
below), so changing a package list builds a new image and the old one is removed.

Build: ``debootstrap --variant=minbase`` with the packages systemd needs to boot (debootstrap's
own resolver cannot install packages that depend on virtual packages), then ``apt-get install``
of the rest inside the new root, then a few changes that make a container boot clean: units
that manage hardware or the real machine (udev, getty, module loading, time sync) and timers
that would wake up during tests (apt, man-db, fstrim, e2scrub) are masked. The mirror is the one
apt on this machine uses. Concurrent builders wait for each other (flock).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

IMAGE_ROOT = Path(os.environ.get("HAPAIR_LAB_IMAGES", "/var/cache/hapair-lab/images"))
DEFAULT_RELEASE = "bookworm"
# What debootstrap installs itself: enough to boot systemd and reach the host over SSH.
BOOT_PACKAGES = ["systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "iproute2"]
# What every host has on top (Ansible's modules, the roles' tools, the simulations' tools).
COMMON_PACKAGES = [
    "openssh-client", "python3-apt", "python3-boto3", "python3-netaddr", "keepalived", "rsync",
    "openssl", "curl", "procps", "psmisc", "iputils-ping", "e2fsprogs", "sudo", "less",
]
RELEASES = {
    # Debian 12: every topology. ruby and git for the GitLab simulation, resource-agents and
    # awscli for the aws-vpc-move-ip comparison in tests/bench.
    # systemd 252 boots on the machine's hybrid cgroup layout (v1 name=systemd + cgroup2).
    "bookworm": {"version": "12", "cgroup": "hybrid",
                 "packages": COMMON_PACKAGES + ["ruby", "git", "resource-agents", "awscli"]},
    # Debian 13: the keepalived-based suites (another keepalived, OpenSSH, Python and systemd).
    # systemd 257 wants a pure cgroup2 view.
    "trixie": {"version": "13", "cgroup": "unified", "packages": list(COMMON_PACKAGES)},
}
# Units that have no business in a lab host: hardware, consoles, the real machine's clock and
# kernel modules, and timers that would start work at random moments of a test.
MASKED_UNITS = [
    "systemd-udevd.service", "systemd-udevd-control.socket", "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service", "systemd-udev-settle.service",
    "getty@.service", "serial-getty@.service", "console-getty.service", "getty-static.service",
    "systemd-modules-load.service", "kmod-static-nodes.service", "systemd-timesyncd.service",
    "systemd-hwdb-update.service", "sys-kernel-config.mount", "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount", "sys-fs-fuse-connections.mount", "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount", "systemd-sysctl.service", "systemd-random-seed.service",
    "apt-daily.timer", "apt-daily-upgrade.timer", "man-db.timer", "fstrim.timer", "e2scrub_all.timer",
    "e2scrub_reap.service", "dpkg-db-backup.timer", "systemd-tmpfiles-clean.timer",
    "systemd-pcrphase.service", "systemd-pcrphase-initrd.service", "systemd-pcrphase-sysinit.service",
    "ldconfig.service", "systemd-firstboot.service", "systemd-networkd-wait-online.service",
    # resource-agents brings cluster-glue's logging daemon; nothing in the lab uses it.
    "logd.service",
]
# Bump when the customisation below changes: the digest then names a new image.
RECIPE_VERSION = 1


class ImageError(RuntimeError):
    """An image could not be built; the message says why."""


@dataclass(frozen=True)
class Image:
    release: str
    path: Path

    @property
    def version(self) -> str:
        return RELEASES[self.release]["version"]


def digest(release: str) -> str:
    spec = RELEASES[release]
    text = "\n".join([release, str(RECIPE_VERSION), *BOOT_PACKAGES, "--", *spec["packages"], "--", *MASKED_UNITS])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def image_dir(release: str, root: Path = IMAGE_ROOT) -> Path:
    return root / f"debian-{release}-{digest(release)}"


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line sources)."""
    candidates = [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"),
                  *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            m = re.match(r"^URIs:\s*(\S+/debian)/?\s*$", line) or re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s+\S+", line)
            if m:
                return m.group(1)
    raise ImageError("cannot find the Debian mirror in apt's sources (/etc/apt/sources.list*)")


def _run(cmd: list[str], log, timeout: float = 1800) -> None:
    log.write(f"\n$ {' '.join(cmd)}\n".encode())
    log.flush()
    proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise ImageError(f"`{' '.join(cmd[:6])} …` failed ({proc.returncode}); see {log.name}")


def _marker(target: Path) -> Path:
    """Written last: an image without it is an interrupted build."""
    return target.with_name(target.name + ".ok")


def ensure(release: str = DEFAULT_RELEASE, root: Path = IMAGE_ROOT, quiet: bool = False) -> Image:
    """The image of this release, built first if it is missing or out of date."""
    if release not in RELEASES:
        raise ImageError(f"unknown Debian release {release!r} (known: {', '.join(RELEASES)})")
    target = image_dir(release, root)
    if _marker(target).exists():
        return Image(release, target)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{release}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _marker(target).exists():
            _build(release, target, quiet)
        for old in root.glob(f"debian-{release}-*"):
            if old.name.startswith(target.name):
                continue
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
    return Image(release, target)


def _build(release: str, target: Path, quiet: bool) -> None:
    if shutil.which("debootstrap") is None:
        raise ImageError("debootstrap is not installed (run `make setup`)")
    work = target.with_name(target.name + ".build")
    shutil.rmtree(work, ignore_errors=True)
    log_path = target.with_name(target.name + ".log")
    t0 = time.monotonic()
    if not quiet:
        print(f"lab: building the Debian {RELEASES[release]['version']} ({release}) host image in {target} "
              f"(once per machine, about 2-4 minutes; log: {log_path})", flush=True)
    env_apt = ["env", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C"]
    with open(log_path, "wb") as log:
        _run(["debootstrap", "--variant=minbase", f"--include={','.join(BOOT_PACKAGES)}", release, str(work), apt_mirror()], log)
        # No service may start inside the build root (debootstrap leaves none running either).
        policy = work / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        try:
            _run(["chroot", str(work), *env_apt, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                  *RELEASES[release]["packages"]], log)
            _run(["chroot", str(work), *env_apt, "apt-get", "clean"], log)
            _run(["chroot", str(work), "systemctl", "mask", *MASKED_UNITS], log)
            _run(["chroot", str(work), "systemctl", "set-default", "multi-user.target"], log)
        finally:
            policy.unlink()
        # Per host at first boot: host keys, machine id.
        for key in (work / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        (work / "etc/machine-id").write_text("")
        shutil.rmtree(work / "var/lib/apt/lists", ignore_errors=True)
        (work / "var/lib/apt/lists/partial").mkdir(parents=True)
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    _marker(target).write_text(f"built in {time.monotonic() - t0:.0f} s\n")
    if not quiet:
        print(f"lab: image {target.name} built in {time.monotonic() - t0:.0f} s", flush=True)
