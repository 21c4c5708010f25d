# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reports of failover drills and failovers, as plain Python (no Ansible, no network).

``timeline`` turns what the hosts measured into a timeline: phases (a start and an end, each an
epoch time or the name of an event), events (instants), the client-side watcher's log, the RTO.
``render`` draws that timeline as Markdown and as a hand-written SVG picture.
``report`` assembles the report (:func:`report.build_report`) and writes the three files
(:func:`report.write_report`). The module ``hapair.ha.drill_report`` is a thin wrapper around them;
the roles ``hapair.ha.failover_drill`` and ``hapair.ha.ghe_failover`` call it.
"""

from __future__ import annotations


class DrillError(Exception):
    """Invalid report input, or the report could not be written."""
