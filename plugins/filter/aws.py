# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the AWS roles. The work is in ``module_utils/aws`` (plain Python, unit tested)."""

from __future__ import annotations

from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_policy import (
    PolicyError,
    route_failover_policy,
)


def route_failover_iam_policy(settings, partition="aws", region="*", account_id="*", network_interface_ids=None,
                              fence_pairs=None):
    """The least-privilege IAM policy of ``hapair-route-failover`` run with ``settings``."""
    if isinstance(account_id, int) and not isinstance(account_id, bool):
        account_id = f"{account_id:012d}"  # an unquoted account id in YAML (leading zeros lost)
    try:
        return route_failover_policy(settings, partition=partition or "aws", region=region or "*",
                                     account_id=account_id or "*", network_interface_ids=network_interface_ids,
                                     fence_pairs=fence_pairs)
    except PolicyError as err:
        # Imported here: importing the controller's ansible.errors marks the whole process as a
        # controller (module_utils then sends warnings to the display), which unit tests of
        # modules in the same process must not inherit from merely loading this plugin.
        from ansible.errors import AnsibleFilterError  # pylint: disable=import-outside-toplevel

        raise AnsibleFilterError(f"route_failover_iam_policy: {err}") from err


class FilterModule:
    """hapair.ha AWS filters."""

    def filters(self):
        return {"route_failover_iam_policy": route_failover_iam_policy}
