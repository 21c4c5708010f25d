#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: drill_report
short_description: Write the report of a failover drill or a failover (JSON, Markdown, SVG timeline)
version_added: 0.1.0
description:
  - Builds the timeline of a failover drill or of a failover from the times the hosts measured -
    phases (a start and an end each), events (instants) and, for a drill, the log of the client that
    probed the service on the virtual IP - computes the recovery time (RTO) and the data continuity,
    and writes three files into O(dest) - C(NAME-YYYYMMDDTHHMMSSZ.json) (everything, for tools),
    C(.md) (a summary and tables, for people) and C(.svg) (the timeline as a picture - a horizontal bar
    per phase with its label and seconds, a numbered line per event).
  - Run it on the controller (delegate it to C(localhost)). The roles P(hapair.ha.failover_drill#role) and
    P(hapair.ha.ghe_failover#role) call it; it can report any sequence of timed steps.
  - It changes nothing on the managed hosts; it reports C(changed) when it wrote the files (on the controller).
author:
  - hapair.ha contributors (@hapair)
attributes:
  check_mode:
    description: Builds the report and returns it (RV(markdown), RV(report)); writes no file.
    support: full
  diff_mode:
    description: Not applicable - the files are new on every run.
    support: none
  platform:
    description: Runs on the controller.
    platforms: posix
    support: full
options:
  dest:
    description: Directory of the report files, created if missing. C(~) is expanded.
    type: path
    required: true
  name:
    description: Name of the report - the file names start with it (characters outside C([A-Za-z0-9_.-]) become C(_)).
    type: str
    required: true
  title:
    description: Title of the report (Markdown heading, SVG title).
    type: str
    required: true
  summary:
    description: Facts shown at the top of the report (the pair, the fault, the VIP...), as a flat dict. Keep secrets out.
    type: dict
    default: {}
  phases:
    description:
      - The phases, in the order they are drawn.
      - C(start) and C(end) are epoch times (seconds, as C(date +%s.%N) prints them) or the name of an event (from
        O(events) or from O(watch_log)). A phase without a known start is left out; one without a known end takes
        C(end_fallback) and becomes C(failed), or else is C(incomplete).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Short identifier of the phase.
        type: str
        required: true
      label:
        description: What is shown for it (defaults to O(phases[].name)).
        type: str
      start:
        description: Epoch time or event name.
        type: raw
      end:
        description: Epoch time or event name.
        type: raw
      end_fallback:
        description: Epoch time or event name used (and the phase marked C(failed)) when O(phases[].end) is unknown.
        type: raw
      clock:
        description: The host whose clock measured the phase.
        type: str
        default: controller
      status:
        description: How the phase went.
        type: str
        choices: [ok, failed, skipped, incomplete]
        default: ok
      kind:
        description: V(outage) draws the bar in the outage colour.
        type: str
        choices: [step, outage]
        default: step
      detail:
        description: Free text kept in the JSON report.
        type: str
  events:
    description: Instants of the timeline (the fault, the routes seen switched...).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Identifier, which phases and O(rto_start)/O(rto_ends) refer to.
        type: str
        required: true
      label:
        description: What is shown for it.
        type: str
      at:
        description: Epoch time. An event without a time is left out.
        type: raw
      clock:
        description: The host whose clock measured it.
        type: str
        default: controller
  watch_log:
    description:
      - Output of the drill's client-side watcher (C(start), C(probe), C(served_by_peer), C(timeout) lines). Adds the
        events C(watch_started), C(client_lost), C(served_by_peer) and C(watch_timeout), and a table of the probes.
    type: str
  watch_clock:
    description: The host that ran the watcher.
    type: str
    default: client
  rto_start:
    description: Event from which the RTO is counted (e.g. V(fault)). Without it no RTO is computed.
    type: str
  rto_ends:
    description: Events that must all have happened for the service to be back; the RTO ends at the last of them.
    type: list
    elements: str
    default: [served_by_peer]
  rto_label:
    description: What the RTO measures, in words.
    type: str
    default: ""
  marker:
    description:
      - The data-continuity marker - C(checked) (marker commands were given), C(written), C(before) (read back before
        the fault) and C(after) (served after the takeover), each V(true), V(false) or null when not reached.
    type: dict
    default: {}
  checks:
    description: Named checks with C(ok) (V(true), V(false) or null) and a C(detail); a failed one makes the report fail.
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Report a maintenance window of two steps
  hapair.ha.drill_report:
    dest: ~/hapair-reports
    name: maintenance-db_pair
    title: "Maintenance of db_pair"
    summary:
      pair: db-01, db-02
    phases:
      - {name: patch, label: "patch db-02", start: "{{ t0 }}", end: "{{ t1 }}", clock: controller}
      - {name: reboot, label: "reboot db-02", start: "{{ t1 }}", end: "{{ t2 }}", clock: controller}
  delegate_to: localhost
  run_once: true
  register: report

- name: Show the summary
  ansible.builtin.debug:
    msg: "{{ report.markdown.splitlines() }}"
"""

RETURN = r"""
paths:
  description: The files written (in check mode, the files that would be written).
  returned: success
  type: dict
  contains:
    json:
      description: The JSON report.
      type: str
      sample: /home/ops/hapair-reports/failover-drill-db_pair-20260101T120000Z.json
    markdown:
      description: The Markdown report.
      type: str
      sample: /home/ops/hapair-reports/failover-drill-db_pair-20260101T120000Z.md
    svg:
      description: The timeline picture.
      type: str
      sample: /home/ops/hapair-reports/failover-drill-db_pair-20260101T120000Z.svg
ok:
  description: Whether nothing went wrong (no failed check, a known RTO when one is asked for, no lost data).
  returned: success
  type: bool
  sample: true
problems:
  description: What went wrong, one sentence each.
  returned: success
  type: list
  elements: str
  sample: ["RTO unknown: not seen: served_by_peer"]
rto_seconds:
  description: The recovery time in seconds, V(null) when unknown or not asked for.
  returned: success
  type: float
  sample: 1.234
total_seconds:
  description: From the first to the last time of the report.
  returned: success
  type: float
  sample: 18.2
markdown:
  description: The Markdown report.
  returned: success
  type: str
  sample: "# Failover drill: db_pair ..."
report:
  description: Everything the JSON file holds (phases with offsets and durations, events, checks, probes).
  returned: success
  type: dict
  sample: {"ok": true, "rto_seconds": 1.234, "phases": []}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hapair.ha.plugins.module_utils.drill import DrillError
from ansible_collections.hapair.ha.plugins.module_utils.drill.report import build_report, write_report

ARGUMENT_SPEC = dict(
    dest=dict(type="path", required=True),
    name=dict(type="str", required=True),
    title=dict(type="str", required=True),
    summary=dict(type="dict", default={}),
    phases=dict(type="list", elements="dict", default=[], options=dict(
        name=dict(type="str", required=True),
        label=dict(type="str"),
        start=dict(type="raw"),
        end=dict(type="raw"),
        end_fallback=dict(type="raw"),
        clock=dict(type="str", default="controller"),
        status=dict(type="str", default="ok", choices=["ok", "failed", "skipped", "incomplete"]),
        kind=dict(type="str", default="step", choices=["step", "outage"]),
        detail=dict(type="str"),
    )),
    events=dict(type="list", elements="dict", default=[], options=dict(
        name=dict(type="str", required=True),
        label=dict(type="str"),
        at=dict(type="raw"),
        clock=dict(type="str", default="controller"),
    )),
    watch_log=dict(type="str"),
    watch_clock=dict(type="str", default="client"),
    rto_start=dict(type="str"),
    rto_ends=dict(type="list", elements="str", default=["served_by_peer"]),
    rto_label=dict(type="str", default=""),
    marker=dict(type="dict", default={}),
    checks=dict(type="list", elements="dict", default=[]),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        report = build_report(
            params["title"], params["name"], params["phases"], events=params["events"],
            watch_log=params["watch_log"], watch_clock=params["watch_clock"], rto_start=params["rto_start"],
            rto_ends=params["rto_ends"], rto_label=params["rto_label"], marker=params["marker"],
            checks=params["checks"], summary=params["summary"])
        paths, texts = write_report(params["dest"], report, check_mode=module.check_mode)
    except DrillError as err:
        module.fail_json(msg=f"Failed to write the report {params['name']}: {err}")
    module.exit_json(changed=not module.check_mode, paths=paths, ok=report["ok"], problems=report["problems"],
                     rto_seconds=report["rto_seconds"], total_seconds=report["total_seconds"],
                     markdown=texts["markdown"], report=report)


if __name__ == "__main__":
    main()
