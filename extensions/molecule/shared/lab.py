"""Molecule's create and destroy steps on the namespace lab (tests/lab): test infrastructure.

    python extensions/molecule/shared/lab.py up|down TOPOLOGY [--slot N]

Brings a lab topology (tests/lab/topologies/TOPOLOGY.yml) up or down in the Molecule slot:
``--slot``, else ``$HAPAIR_MOLECULE_SLOT``, else 1 (the ``molecule`` topology's own slot; CI runs
a second lane of scenarios in slot 15, see extensions/molecule/run.py). ``up`` prints one JSON
line: the lab's name and the inventory it wrote. ``down`` removes everything the lab made in
that slot whether or not a run of it is known (it works from the names, as ``Lab.down`` does),
then checks that nothing of the slot is left: any error, or a namespace or link that survived,
exits non-zero, so Molecule's destroy never reports a lab that is still (partly) there as gone.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from tests.lab.lab import Lab, LabError, link_list, netns_list  # noqa: E402  pylint: disable=wrong-import-position
from tests.lab.topology import TopologyError, load  # noqa: E402  pylint: disable=wrong-import-position


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="extensions/molecule/shared/lab.py")
    parser.add_argument("cmd", choices=["up", "down"])
    parser.add_argument("topology")
    parser.add_argument("--slot", type=int, default=int(os.environ.get("HAPAIR_MOLECULE_SLOT") or 1))
    args = parser.parse_args(argv)
    try:
        lab = Lab(load(args.topology, slot=args.slot))
        if args.cmd == "up":
            lab.up()
            print(json.dumps({"name": lab.name, "inventory": str(lab.inventory), "boot_seconds": round(lab.boot_seconds, 1)}))
            return 0
        removed = lab.down()
        prefix = lab.topo.prefix
        left = [ns for ns in netns_list() if ns.startswith(prefix + "-")] + [ln for ln in link_list() if ln.startswith(prefix)]
        if left or lab.dir.exists():
            raise LabError(f"lab {lab.name} is not gone: {', '.join(left) or lab.dir} left")
        print(json.dumps({"name": lab.name, "removed": removed}))
        return 0
    except (LabError, TopologyError, OSError) as err:
        print(f"lab {args.cmd} {args.topology} (slot {args.slot}): {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
