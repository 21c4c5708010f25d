# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fencing of the VIP pair's peer through the EC2 API (``fencing = stop_peer``).

A two-node pair has no majority: a node that stops hearing its peer cannot tell a dead peer
from a cut network. With fencing on, ``hapair-route-failover`` stops the peer's instance before
it takes a route away from it (Pacemaker's ``fence_aws``):

1. the route tables are read; fencing is needed only when a table must be *replaced* (it points
   elsewhere). A node that already holds every route, or only creates a missing one, claims
   nothing and fences nobody - so a converge, which points the routes at the active node
   before keepalived starts, never fences;
2. a planned switchover is not a failure: ``playbooks/vip_switchover.yml`` leaves a marker file
   on the target before it stops keepalived on the holder (:func:`take_planned_marker`); a
   fresh marker is consumed and the routes are claimed without fencing;
3. the fence (:func:`fence_peer`): on the node with a fence delay (``pcmk_delay_base``), wait;
   on every node, look whether its own instance is being stopped (the peer fenced it first: no
   fencing back) and, just before the stop, whether it still holds the VIP; then
   ``StopInstances(InstanceIds=[peer], Force=True)`` and ``DescribeInstances`` every
   ``poll_interval`` until the peer is ``stopped`` (or ``terminated``), up to ``timeout``;
4. only then are the routes replaced.

Steps 1-4 run under an exclusive lock (:func:`fence_lock`, ``fencing_lock_file``): keepalived's
notify hook and the periodic route check can both start the command on a node that just became
MASTER. Without the lock both could read the tables, one consume the planned-switchover marker,
and the other - finding no marker - fence the peer of a planned switchover.

Any failure - an API error, the timeout, the re-check after the delay - raises
:class:`FenceError` (an :class:`AwsError`): the routes are left alone and the command exits 1
with the reason on stderr.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time

from ansible_collections.hapair.ha.plugins.module_utils.aws.common import (
    AwsError,
    call,
    wrap_client,
)

FENCING_CHOICES = ("none", "stop_peer")
DEFAULT_FENCING_TIMEOUT = 60
DEFAULT_POLL_INTERVAL = 1.0
#: How old a planned-switchover marker may be and still count (seconds).
PLANNED_WINDOW = 300
#: The lock that serialises fence-and-claim runs on a node (any caller: hook, check, agent, operator).
DEFAULT_FENCING_LOCK = "/run/hapair-route-failover.lock"
#: Instance states after which the peer can no longer serve.
FENCED_STATES = ("stopped", "terminated")
#: States of this node's own instance in which it must not fence: it is being fenced itself.
OWN_GOING_STATES = ("stopping", "stopped", "shutting-down", "terminated")


class FenceError(AwsError):
    """The peer could not be fenced, or this node must not fence it: the routes stay as they are."""


def needs_fence(route_tables):
    """Whether claiming the routes takes one away from another target (a ``replace``)."""
    return any(entry.get("action") == "replace" for entry in route_tables)


@contextlib.contextmanager
def fence_lock(path=None):
    """Hold an exclusive ``flock`` on ``path`` (None: :data:`DEFAULT_FENCING_LOCK`; created 0600
    if missing) while the block runs: one fence-and-claim at a time on this node; another run
    waits for it, then reads the tables afresh (and finds them claimed). The lock goes with the
    process, so a crash releases it."""
    path = path or DEFAULT_FENCING_LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as err:
        raise FenceError(f"cannot open the fencing lock {path}: {err.strerror or err}") from err
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def take_planned_marker(path, window=PLANNED_WINDOW, now=None):
    """Consume the planned-switchover marker at ``path``: True when it was there and at most
    ``window`` seconds old. A stale marker is removed too (and does not count)."""
    if not path:
        return False
    try:
        age = (time.time() if now is None else now) - os.stat(path).st_mtime
    except FileNotFoundError:
        return False
    except OSError as err:
        raise FenceError(f"cannot read the planned-switchover marker {path}: {err.strerror or err}") from err
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        raise FenceError(f"cannot remove the planned-switchover marker {path}: {err.strerror or err}") from err
    return -5 <= age <= window


def _call(client, operation, what, **params):
    return call(client, operation, what, error=FenceError, **params)


def instance_state(client, instance_id):
    """The state name of ``instance_id`` (``running``, ``stopping``, ``stopped``...)."""
    answer = _call(client, "describe_instances", f"DescribeInstances {instance_id}", InstanceIds=[instance_id])
    for reservation in answer.get("Reservations") or []:
        for instance in reservation.get("Instances") or []:
            if instance.get("InstanceId") == instance_id:
                return (instance.get("State") or {}).get("Name") or "unknown"
    raise FenceError(f"DescribeInstances {instance_id}: no such instance")


def fence_peer(client, peer_instance_id, own_instance_id=None, timeout=DEFAULT_FENCING_TIMEOUT, delay=0,
               still_holds_vip=None, poll_interval=DEFAULT_POLL_INTERVAL, sleep=time.sleep,
               monotonic=time.monotonic):
    """Stop ``peer_instance_id`` (Force) and wait until it is stopped; return what happened:
    ``{peer_instance_id, delayed, previous_state, state, seconds}``.

    ``delay``: seconds to wait first (the fence-race delay of one node). Then the node checks
    that its own instance (``own_instance_id``) is not being stopped and, right before the stop,
    with ``still_holds_vip`` (a callable), that it still holds the VIP. Raises :class:`FenceError`.
    """
    if not peer_instance_id:
        raise FenceError("fencing is on but the peer's instance id is not known (peer_instance_id)")
    if own_instance_id and own_instance_id == peer_instance_id:
        raise FenceError(f"peer_instance_id {peer_instance_id} is this node's own instance")
    client = wrap_client(client, sleep=sleep)
    started = monotonic()
    if delay > 0:
        sleep(delay)
    # A node being stopped itself must not fence back: with delay 0 too (the peer, delayed,
    # may just have stopped this one and taken the routes, which this node's check then sees).
    if own_instance_id:
        own = instance_state(client, own_instance_id)
        if own in OWN_GOING_STATES:
            waited = f"after the fence delay of {delay}s " if delay > 0 else ""
            raise FenceError(f"{waited}this node's instance {own_instance_id} is {own} (the peer fenced it "
                             "first): not fencing the peer")
    previous = instance_state(client, peer_instance_id)
    if previous not in FENCED_STATES:
        # Last look before the stop, on every node: a command that started while this node was
        # MASTER (its route check, a retry) must not stop a peer that has since taken the VIP
        # back - a healed partition, the other node's higher priority.
        if still_holds_vip is not None and not still_holds_vip():
            waited = f"after the fence delay of {delay}s " if delay > 0 else ""
            raise FenceError(f"{waited}this node no longer holds the VIP: not fencing the peer")
        _call(client, "stop_instances", f"StopInstances {peer_instance_id} (Force)",
              InstanceIds=[peer_instance_id], Force=True)
        deadline = started + (delay if delay > 0 else 0) + timeout
        while True:
            state = instance_state(client, peer_instance_id)
            if state in FENCED_STATES:
                break
            if monotonic() >= deadline:
                raise FenceError(f"the peer's instance {peer_instance_id} is still {state} {timeout}s after "
                                 "StopInstances (Force)")
            sleep(poll_interval)
    else:
        state = previous
    return {"peer_instance_id": peer_instance_id, "delayed": delay, "previous_state": previous, "state": state,
            "seconds": round(monotonic() - started, 2)}
