# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keepalived settings of the collection's two pairs (plain Python, no Ansible).

The roles that build on hapair.ha.keepalived publish the VRRP settings of their pair as one
dict, ``{problems, vrrp_instances, sync_groups, static_routes, vrrp_scripts}``, which a playbook
hands to the keepalived role (``keepalived_vrrp_instances`` etc.):

- :func:`vip_pair` - hapair.ha.vip_route: an active/standby pair behind a VPC route-table
  virtual IP, with unicast VRRP on the VIP's interface and optionally a second heartbeat path.
  With a heartbeat interface, two instances (``NAME_LAN``, ``NAME_HB``) form the sync group
  ``NAME``: cutting one path fails nothing over, losing the peer on both does; a weight-0 track
  script (``keepalived-links-up``) turns a node that lost both links into FAULT. With a
  witness, a weight-0 track script (``vip-route-witness``) turns a node that reaches neither its
  peer (on any path) nor the witness into FAULT: it does not become MASTER, a MASTER releases.
- :func:`volume_pair` - hapair.ha.shared_volume: a master/backup pair with a VRRP virtual IP on
  one interface and the application's health check (restart once, then give up).

Each node is described by a small dict its own host computed from its facts (``nodes``, in
the pair's order: the first is the preferred MASTER); the result is for one of them (``host``).
Nothing raises on bad input: the problems are returned so that the role fails once, naming each.
"""

from __future__ import annotations

FIRST_PRIORITY = 200
OTHER_PRIORITY = 190


def _priority(node, index):
    value = node.get("priority") or 0
    try:
        value = int(value)
    except (TypeError, ValueError):
        value = 0
    return value or (FIRST_PRIORITY if index == 0 else OTHER_PRIORITY)


def _split(nodes, host):
    """``(index, self, peers)`` of ``host`` among ``nodes``; index -1 when it is not one of them."""
    nodes = [dict(node or {}) for node in nodes or []]
    for index, node in enumerate(nodes):
        if node.get("host") == host:
            return index, node, [peer for peer in nodes if peer.get("host") != host]
    return -1, {}, nodes


def _empty(problems):
    return {"problems": problems, "vrrp_instances": [], "sync_groups": [], "static_routes": [], "vrrp_scripts": []}


#: The witness track script: how often, and how many results in a row change its state.
WITNESS_INTERVAL = 2
WITNESS_FALL = 2
WITNESS_RISE = 2


def _witness_script(witness, peers, libexec_dir, heartbeat):
    """The track script ``vip_route_witness``: the peers' addresses on every path, then the witness."""
    addresses = []
    for peer in peers:
        for key in ("lan_address", "heartbeat_address") if heartbeat else ("lan_address",):
            if peer.get(key) and peer[key] not in addresses:
                addresses.append(str(peer[key]))
    addresses.append(witness)
    return {"name": "vip_route_witness", "interval": WITNESS_INTERVAL, "fall": WITNESS_FALL, "rise": WITNESS_RISE,
            "weight": 0, "timeout": len(addresses) * 2 + 1,
            "script": f"{libexec_dir}/vip-route-witness {' '.join(addresses)}"}


def vip_pair(nodes, host, vip, name="VIP", virtual_router_id=51, heartbeat_interface="", check_interval=30,
             check_command="", libexec_dir="/usr/local/libexec/hapair", witness=""):
    """keepalived settings of ``host`` in a route-table VIP pair.

    ``nodes``: ``[{host, lan_interface, lan_address, interfaces, heartbeat_address,
    heartbeat_gateway, priority}]`` - ``heartbeat_address`` is the node's address on
    ``heartbeat_interface``, ``heartbeat_gateway`` the gateway of its subnet when the peer's
    heartbeat address is in another one, ``priority`` 0 for the default (200 for the first node,
    190 for the others: a high backup priority keeps the takeover skew short).
    ``check_interval``: seconds between the MASTER's route checks (``check_command``); 0: none.
    ``witness``: an address both nodes reach on their own paths; with it the track script
    ``vip_route_witness`` fails on a node that reaches neither its peer nor the witness.
    """
    index, node, peers = _split(nodes, host)
    if index < 0:
        return _empty([f"{host} is not a node of the pair ({', '.join(str(n.get('host')) for n in peers)})"])
    name = str(name)
    hb_if = str(heartbeat_interface or "")
    lan_if = str(node.get("lan_interface") or "")
    vrid = int(virtual_router_id)
    interval = int(check_interval or 0)
    priority = _priority(node, index)
    address = str(vip).split("/", 1)[0]

    problems = [f"{n.get('host')}: no IPv4 address of the default route (gather its network facts)"
                for n in [node] + peers if not n.get("lan_address")]
    if hb_if:
        if hb_if not in (node.get("interfaces") or []):
            problems.append(f"heartbeat interface {hb_if}: {host} has no such interface")
        missing = [str(n.get("host")) for n in [node] + peers if not n.get("heartbeat_address")]
        if missing:
            problems.append(f"heartbeat interface {hb_if}: no IPv4 address on {', '.join(missing)} "
                            "(give it one, or set the node's heartbeat address)")
        if hb_if == lan_if:
            problems.append(f"heartbeat interface {hb_if} must differ from the VIP's interface {lan_if}")
    witness = str(witness or "").strip()
    if witness and (any(c.isspace() for c in witness) or witness.startswith("-")
                    or witness in [str(n.get(k)) for n in [node] + peers for k in ("lan_address", "heartbeat_address")]):
        problems.append(f"witness {witness!r} must be one address (a host name or IP), not one of the pair's own")
    if problems:
        return _empty(problems)
    witness_names = ["vip_route_witness"] if witness else []

    lan = {
        "name": f"{name}_LAN" if hb_if else name,
        "interface": lan_if,
        "virtual_router_id": vrid,
        "priority": priority,
        "dont_track_primary": bool(hb_if),
        "unicast_src_ip": node.get("lan_address") or "",
        "unicast_peers": [peer.get("lan_address") or "" for peer in peers],
        "virtual_ipaddresses": [f"{address}/32 dev {lan_if}"],
        "track_scripts": [] if hb_if else witness_names + (["vip_route_check"] if interval > 0 else []),
    }
    instances = [lan]
    groups, routes, scripts = [], [], []
    if hb_if:
        instances.append({
            "name": f"{name}_HB",
            "interface": hb_if,
            "virtual_router_id": vrid + 1,
            "priority": priority,
            "dont_track_primary": True,
            "unicast_src_ip": node.get("heartbeat_address") or "",
            "unicast_peers": [peer.get("heartbeat_address") for peer in peers],
            "virtual_ipaddresses": [],
        })
        group_scripts = ["hapair_links_up"] + witness_names + (["vip_route_check"] if interval > 0 else [])
        groups.append({"name": name, "instances": [f"{name}_LAN", f"{name}_HB"], "track_scripts": group_scripts})
        via = f" via {node['heartbeat_gateway']}" if node.get("heartbeat_gateway") else ""
        routes = [f"{peer.get('heartbeat_address')}/32{via} dev {hb_if}" for peer in peers]
        scripts.append({"name": "hapair_links_up", "interval": 1, "fall": 2, "rise": 1, "weight": 0,
                        "script": f"{libexec_dir}/keepalived-links-up {lan_if} {hb_if}"})
    if witness:
        scripts.append(_witness_script(witness, peers, libexec_dir, bool(hb_if)))
    if interval > 0:
        scripts.append({"name": "vip_route_check", "interval": interval, "fall": 1, "rise": 1, "weight": 0,
                        "timeout": 10, "script": check_command})
    return {"problems": [], "vrrp_instances": instances, "sync_groups": groups, "static_routes": routes,
            "vrrp_scripts": scripts}


def volume_pair(nodes, host, vip, name="PAIR", virtual_router_id=61, check_command="", restart_command="",
                check_interval=2):
    """keepalived settings of ``host`` in a master/backup pair with a shared volume.

    ``nodes``: ``[{host, interface, address, priority}]`` - the VIP's interface on the node and
    the node's IPv4 address there. ``vip`` with its prefix (``10.0.3.100/24``). With
    ``check_command`` a track script ``pair_app`` runs it every ``check_interval`` seconds; with
    ``restart_command`` too, it follows the keepalived role's restart-once contract.
    """
    index, node, peers = _split(nodes, host)
    if index < 0:
        return _empty([f"{host} is not a node of the pair ({', '.join(str(n.get('host')) for n in peers)})"])
    iface = str(node.get("interface") or "")
    problems = [f"{n.get('host')} has no IPv4 address on {n.get('interface') or 'its interface'}"
                for n in [node] + peers if not n.get("address")]
    if not peers:
        problems.append("the pair needs at least two hosts")
    if problems:
        return _empty(problems)
    scripts = []
    if check_command:
        script = {"name": "pair_app", "script": check_command, "interval": int(check_interval), "rise": 1, "weight": 0}
        if restart_command:
            script["restart"] = restart_command
        scripts.append(script)
    instance = {
        "name": str(name),
        "interface": iface,
        "virtual_router_id": int(virtual_router_id),
        "priority": _priority(node, index),
        "unicast_src_ip": node["address"],
        "unicast_peers": [peer["address"] for peer in peers],
        "virtual_ipaddresses": [f"{vip} dev {iface}"],
        "track_scripts": ["pair_app"] if check_command else [],
    }
    return {"problems": [], "vrrp_instances": [instance], "sync_groups": [], "static_routes": [],
            "vrrp_scripts": scripts}
