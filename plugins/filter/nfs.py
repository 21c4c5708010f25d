# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the NFS roles: check the input once, on the controller, before any change.

Both return a dict ``{problems, ...}`` rather than raising, so the role's preflight fails
once with a message that lists every problem (a filter exception would arrive wrapped in a
templating error). The work is in ``module_utils/nfs`` (plain Python, unit tested).
"""

from __future__ import annotations

from ansible_collections.hapair.ha.plugins.module_utils.nfs.exports import check_exports, render_exports
from ansible_collections.hapair.ha.plugins.module_utils.nfs.mounts import check_mounts, fstab_line


def nfs_exports_check(exports, name="hapair", owner="root", group="root", mode="0755"):
    """``{problems, exports, content}``: content is the exports file body (without header)."""
    problems, out = check_exports(exports, owner=owner, group=group, mode=mode, name=name)
    return {"problems": problems, "exports": out, "content": render_exports(out) if not problems else ""}


def nfs_mounts_check(mounts, server="", fstype="nfs", opts="defaults", owner="root", group="root", mode="0755",
                     aside_suffix=".pre-nfs"):
    """``{problems, mounts, fstab}``: fstab holds the expected line of every mount."""
    problems, out = check_mounts(mounts, server=server, fstype=fstype, opts=opts, owner=owner, group=group, mode=mode,
                                 aside_suffix=aside_suffix)
    return {"problems": problems, "mounts": out, "fstab": [fstab_line(m) for m in out]}


class FilterModule:
    """hapair.ha NFS filters."""

    def filters(self):
        return {
            "nfs_exports_check": nfs_exports_check,
            "nfs_mounts_check": nfs_mounts_check,
        }
