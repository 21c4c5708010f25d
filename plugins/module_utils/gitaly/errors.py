# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception of the ``gitaly`` area.

Every refusal (bad input, unknown GitLab version, unparsable ``gitlab.rb``, failed write) is
raised as :class:`GitalyConfigError` by the ``gitaly`` module_utils and caught once, in the
module's ``main()``. Messages never contain the Gitaly auth token.
"""

from __future__ import annotations


class GitalyConfigError(Exception):
    """Refusal to render or apply the Gitaly settings of ``gitlab.rb``."""
