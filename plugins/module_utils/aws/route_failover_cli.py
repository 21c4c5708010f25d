# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""``hapair-route-failover``: the node-side entry point of the VIP route failover.

keepalived (or any clustering software) runs it on the node becoming MASTER. It calls the same
:func:`ensure_route_target` as the ``hapair.ha.route_table_failover`` module and needs only the
standard library, boto3/botocore and netaddr. A role installs these files on the node and calls
:func:`main` through a tiny wrapper::

    sys.path.insert(0, DIR)
    from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_cli import main
    sys.exit(main())

Typical use on a DB node (all settings may also live in ``--config``, mode 0600)::

    hapair-route-failover --self --vip 10.1.0.10 --vpc-id vpc-0abc...

``hapair-route-failover --config FILE --serve`` is its warm agent (``route_failover_agent``): it
keeps the EC2 client, the node's ENI and region between requests and answers, on the
``agent_socket`` of FILE, what ``hapair-route-failover --config FILE [--dry-run] [--json]`` would
have done; the role's wrapper asks it first and runs :func:`main` when no agent listens.

The route tables are changed in parallel, at most ``--max-concurrency`` at once (config key
``max_concurrency``; default ``DEFAULT_MAX_CONCURRENCY`` of ``route_table.py``).

Exit status: 0 on success, 1 when the failover failed (one line on stderr), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import subprocess
import sys
import time

from ansible_collections.hapair.ha.plugins.module_utils.aws import route_failover_agent
from ansible_collections.hapair.ha.plugins.module_utils.aws.common import AwsError, make_client
from ansible_collections.hapair.ha.plugins.module_utils.aws.imds import (
    DEFAULT_IMDS_URL,
    IMDS_ENDPOINT_ENV,
    ImdsClient,
)
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_config import (
    FAILURE,
    PROG,
    UsageError,
    error_line,
    load_config,
    positive_int,
)
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_fence import (
    DEFAULT_FENCING_TIMEOUT,
    FENCING_CHOICES,
    FenceError,
    fence_lock,
    fence_peer,
    needs_fence,
    take_planned_marker,
)
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_table import (
    DEFAULT_MAX_CONCURRENCY,
    ensure_route_target,
    validate_request,
)

SOURCE_DEST_CHECK_CHOICES = {"keep": None, "disable": False, "enable": True}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing to sys.stderr and exiting."""

    def error(self, message):
        raise UsageError(message)


def _max_concurrency_arg(text):
    """argparse ``type`` of --max-concurrency (a bad value is a usage error, exit 2)."""
    number = positive_int(text)
    if number is None:
        raise argparse.ArgumentTypeError(f"expected an integer of at least 1, got {text!r}")
    return number


def build_parser():
    parser = _Parser(
        prog=PROG,
        description="Point a virtual IP's /32 route at a network interface in VPC route tables "
                    "(the node-side twin of the hapair.ha.route_table_failover module).")
    parser.add_argument("--vip", help="virtual IPv4 address or /32 CIDR")
    parser.add_argument("--route-table-id", dest="route_table_ids", action="append", metavar="RTB",
                        help="route table to update (repeatable)")
    parser.add_argument("--vpc-id", help="update every route table in this VPC that has a route for the VIP")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--network-interface-id", metavar="ENI", help="the new target interface")
    target.add_argument("--self", dest="self_", action="store_true", default=None,
                        help="target this instance's own primary interface (from IMDSv2)")
    parser.add_argument("--create-missing", action="store_true", default=None,
                        help="create the route in listed tables that lack it")
    parser.add_argument("--source-dest-check", choices=sorted(SOURCE_DEST_CHECK_CHOICES),
                        help="enforce the target interface's source/destination check "
                             "(default keep: not looked at, saves API calls)")
    parser.add_argument("--max-concurrency", type=_max_concurrency_arg, metavar="N",
                        help="change at most N route tables at once "
                             f"(default {DEFAULT_MAX_CONCURRENCY}; 1: one after another)")
    parser.add_argument("--region", help="AWS region (default: from IMDS with --self, else boto3's)")
    parser.add_argument("--endpoint-url", help="alternative EC2 endpoint URL")
    parser.add_argument("--imds-url", help=f"instance metadata service URL (default ${IMDS_ENDPOINT_ENV} "
                                           f"or {DEFAULT_IMDS_URL})")
    parser.add_argument("--config", metavar="FILE", help="JSON or INI file with the same keys (mode 0600)")
    parser.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--serve", action="store_true",
                        help="run as the warm agent: answer `--config FILE [--dry-run] [--json]` "
                             "commands on the agent_socket of FILE (a systemd service)")
    return parser


def _settings(args):
    """Merge defaults < config file < command line into one dict."""
    settings = {"create_missing": False, "self": False, "source_dest_check": "keep",
                "max_concurrency": DEFAULT_MAX_CONCURRENCY}
    if args.config:
        settings.update(load_config(args.config))
    cli = {
        "vip": args.vip,
        "route_table_ids": args.route_table_ids,
        "vpc_id": args.vpc_id,
        "network_interface_id": args.network_interface_id,
        "self": args.self_,
        "create_missing": args.create_missing,
        "source_dest_check": args.source_dest_check,
        "max_concurrency": args.max_concurrency,
        "region": args.region,
        "endpoint_url": args.endpoint_url,
        "imds_url": args.imds_url,
    }
    # An interface given on the command line overrides --self from the file, and vice versa.
    if args.network_interface_id:
        settings["self"] = False
    if args.self_:
        settings.pop("network_interface_id", None)
    settings.update({k: v for k, v in cli.items() if v is not None})

    if settings.get("fencing", "none") not in FENCING_CHOICES:
        raise UsageError(f"fencing must be one of {', '.join(FENCING_CHOICES)}")
    if settings.get("fencing") == "stop_peer" and not settings.get("peer_instance_id"):
        raise UsageError("fencing = stop_peer needs peer_instance_id")
    if settings["source_dest_check"] not in SOURCE_DEST_CHECK_CHOICES:
        raise UsageError(f"source_dest_check must be one of {', '.join(sorted(SOURCE_DEST_CHECK_CHOICES))}")
    if not settings.get("vip"):
        raise UsageError("--vip is required")
    if not settings.get("route_table_ids") and not settings.get("vpc_id"):
        raise UsageError("give --route-table-id and/or --vpc-id")
    if bool(settings.get("network_interface_id")) == bool(settings.get("self")):
        raise UsageError("give exactly one of --network-interface-id and --self")
    return settings


def _format_line(entry, dry_run):
    rtb, old, new = entry["route_table_id"], entry["previous_target"], entry["new_target"]
    verb = {"replace": "replaced", "create": "created"}.get(entry["action"])
    if verb is None:
        return f"{rtb}: {new} unchanged"
    if dry_run:
        verb = "would be " + verb
    return f"{rtb}: {old or 'no route'} -> {new} {verb}"


def holds_address(vip):
    """Whether ``vip`` is up on an interface of this host (``ip -o -4 addr show to VIP/32``)."""
    address = str(vip).split("/", 1)[0]
    try:
        out = subprocess.run(["ip", "-o", "-4", "addr", "show", "to", f"{address}/32"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() != ""


def _fence_before_claiming(client, settings, preview, dry_run, holds_vip):
    """With ``fencing = stop_peer``: fence the peer when claiming the routes takes one from
    another target, unless a planned switchover left its marker; return the report."""
    peer = settings["peer_instance_id"]
    report = {"mode": "stop_peer", "peer_instance_id": peer, "needed": needs_fence(preview["route_tables"]),
              "planned_switchover": False, "fenced": False}
    if not report["needed"] or dry_run:
        return report
    try:
        if take_planned_marker(settings.get("planned_switchover_file")):
            report["planned_switchover"] = True
            return report
        report.update(fence_peer(
            client, peer, own_instance_id=settings.get("instance_id"),
            timeout=settings.get("fencing_timeout", DEFAULT_FENCING_TIMEOUT),
            delay=settings.get("fencing_delay", 0),
            still_holds_vip=functools.partial(holds_vip, settings["vip"])))
    except FenceError as err:
        raise FenceError(f"fencing the peer {peer} failed, the routes are left alone: {err}",
                         details=dict(err.details, fenced=False, peer_instance_id=peer)) from err
    report["fenced"] = True
    return report


def run(settings, dry_run=False, client_factory=None, imds_factory=None, environ=None, holds_vip=None):
    """Resolve the target and region, build the client, fence the peer if needed (fencing =
    stop_peer), call ensure_route_target."""
    environ = os.environ if environ is None else environ
    holds_vip = holds_vip or holds_address
    client_factory = client_factory or functools.partial(make_client, "ec2")
    imds_factory = imds_factory or ImdsClient
    target_vpc_id = None
    eni = settings.get("network_interface_id")
    # Bad input fails before IMDS or AWS is asked anything.
    validate_request(settings["vip"], settings.get("route_table_ids"), settings.get("vpc_id"),
                     network_interface_id=eni, require_target=False)
    region = settings.get("region")
    if settings.get("self"):
        imds = imds_factory(settings.get("imds_url") or environ.get(IMDS_ENDPOINT_ENV) or DEFAULT_IMDS_URL)
        own = imds.primary_interface()
        eni, target_vpc_id = own["network_interface_id"], own["vpc_id"]
        region = region or imds.region()
    region = region or environ.get("AWS_REGION") or None  # boto3 itself reads AWS_DEFAULT_REGION

    client = client_factory(
        region=region,
        endpoint_url=settings.get("endpoint_url"),
        access_key=settings.get("access_key"),
        secret_key=settings.get("secret_key"),
        session_token=settings.get("session_token"),
        profile=settings.get("profile"),
        validate_certs=settings.get("validate_certs", True),
        aws_ca_bundle=settings.get("aws_ca_bundle"),
        max_concurrency=settings.get("max_concurrency", DEFAULT_MAX_CONCURRENCY),
    )
    ensure = functools.partial(
        ensure_route_target,
        client,
        settings["vip"],
        route_table_ids=settings.get("route_table_ids") or None,
        vpc_id=settings.get("vpc_id"),
        network_interface_id=eni,
        create_missing=settings.get("create_missing", False),
        source_dest_check=SOURCE_DEST_CHECK_CHOICES[settings["source_dest_check"]],
        target_vpc_id=target_vpc_id,
        max_concurrency=settings.get("max_concurrency", DEFAULT_MAX_CONCURRENCY),
    )
    fencing = None
    fences = settings.get("fencing") == "stop_peer"
    # one fence-and-claim at a time on this node: the hook and the route check can race
    lock = fence_lock(settings.get("fencing_lock_file")) if fences and not dry_run else contextlib.nullcontext()
    with lock:
        if fences:
            fencing = _fence_before_claiming(client, settings, ensure(check_mode=True), dry_run, holds_vip)
        result = ensure(check_mode=dry_run)
    result.pop("diff", None)
    result["dry_run"] = dry_run
    if fencing is not None:
        result["fencing"] = fencing
    return result


def _fencing_line(fencing, dry_run):
    peer = fencing["peer_instance_id"]
    if not fencing["needed"]:
        return None
    if dry_run:
        return f"{peer}: the peer would be fenced (StopInstances, Force) before the routes are claimed"
    if fencing["planned_switchover"]:
        return f"{peer}: planned switchover, the peer is not fenced"
    return (f"{peer}: the peer was fenced ({fencing['previous_state']} -> {fencing['state']} in "
            f"{fencing['seconds']:.2f}s" + (f", after a fence delay of {fencing['delayed']}s" if fencing['delayed'] else "")
            + ")")


def _say(stream, line):
    # A command's output, not a module's: write to the stream (print() is banned in module_utils).
    stream.write(line + "\n")
    stream.flush()


def _usage_error_line(err):
    return error_line(f"{err} (see --help)")


def execute(settings, dry_run=False, as_json=False, runner=None):
    """Run the failover with ``settings``; return ``(status, stdout_lines, stderr_lines)`` - what
    the command prints, whether it runs in-process or in the agent."""
    runner = runner or run
    try:
        result = runner(settings, dry_run=dry_run)
    except UsageError as err:
        return 2, [], [_usage_error_line(err)]
    except AwsError as err:
        msg = f"{FAILURE}: {err}"
        if as_json:
            return 1, [json.dumps({"failed": True, "msg": msg, **err.details}, sort_keys=True, default=str)], []
        return 1, [], [error_line(msg)]

    if as_json:
        return 0, [json.dumps(result, sort_keys=True, default=str)], []
    out = [_format_line(entry, dry_run) for entry in result["route_tables"]]
    fence_line = _fencing_line(result["fencing"], dry_run) if result.get("fencing") else None
    if fence_line:
        out.insert(0, fence_line)
    sdc = result["source_dest_check"]
    if sdc["changed"]:
        verb = "would be set" if dry_run else "set"
        out.append(f"{sdc['network_interface_id']}: source/destination check {verb} to "
                   f"{str(sdc['desired']).lower()}")
    return 0, out, []


class _CachedImds:
    """An IMDS client whose answers are kept: the primary ENI, its VPC and the region of a
    running instance do not change. A failed lookup is not kept (asked again next time)."""

    def __init__(self, imds):
        self._imds = imds
        self._primary = None
        self._region = None

    def primary_interface(self):
        if self._primary is None:
            self._primary = self._imds.primary_interface()
        return self._primary

    def region(self):
        if self._region is None:
            self._region = self._imds.region()
        return self._region


class Agent:
    """What ``--serve`` keeps warm between requests: the settings of ``config_path``, the EC2
    client and the IMDS answers. The settings are read again when the file changes (its size,
    time or inode), and the client and IMDS answers are then built anew."""

    def __init__(self, config_path, client_factory=None, imds_factory=None, environ=None):
        self.config_path = config_path
        self._client_factory = client_factory or functools.partial(make_client, "ec2")
        self._imds_factory = imds_factory or ImdsClient
        self._environ = environ
        self._signature = None
        self.settings = None
        self._client = None
        self._imds = {}
        self.reload_if_changed()

    def _file_signature(self):
        st = os.stat(self.config_path)
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def reload_if_changed(self):
        """Read the settings again if the file changed; True when it did."""
        try:
            signature = self._file_signature()
        except OSError as err:
            raise UsageError(f"cannot read config file {self.config_path}: {err.strerror or err}") from err
        if signature == self._signature:
            return False
        args = build_parser().parse_args(["--config", self.config_path])
        self.settings = _settings(args)
        self._signature = signature
        self._client = None
        self._imds = {}
        return True

    def _client_for(self, **kwargs):
        if self._client is None:
            self._client = self._client_factory(**kwargs)
        return self._client

    def _imds_for(self, url):
        if url not in self._imds:
            self._imds[url] = _CachedImds(self._imds_factory(url))
        return self._imds[url]

    def run(self, settings, dry_run=False):
        return run(settings, dry_run=dry_run, client_factory=self._client_for,
                   imds_factory=self._imds_for, environ=self._environ)

    def handle(self, request):
        """Answer one request of the protocol (route_failover_agent)."""
        try:
            self.reload_if_changed()
        except UsageError as err:
            return {"status": 2, "stdout": [], "stderr": [_usage_error_line(err)]}
        status, out, err = execute(self.settings, dry_run=request.get("dry_run", False),
                                   as_json=request.get("json", False), runner=self.run)
        return {"status": status, "stdout": out, "stderr": err}


def _worth_logging(request, answer):
    """Whether the agent logs a request: everything but a run that found every table right
    (the periodic route check asks every few seconds; its repairs and failures are logged)."""
    if request["dry_run"] or answer["status"] != 0:
        return True
    if request["json"]:
        try:
            return bool(json.loads(answer["stdout"][0]).get("changed"))
        except (IndexError, ValueError, AttributeError):
            return True
    return any(not line.endswith(" unchanged") for line in answer["stdout"])


def _serve(args, client_factory, imds_factory, environ, stderr, stop=None):
    """``--serve``: warm up (a dry run: credentials, IMDS, endpoint, connection), then answer
    requests on the ``agent_socket`` of the settings until stopped."""
    agent = Agent(args.config, client_factory=client_factory, imds_factory=imds_factory, environ=environ)
    socket_path = agent.settings.get("agent_socket")
    if not socket_path:
        raise UsageError("--serve needs agent_socket in the --config file")
    log = functools.partial(_say, stderr)
    sock = route_failover_agent.listen(socket_path)
    try:
        started = time.monotonic()
        status, _out, err = execute(agent.settings, dry_run=True, runner=agent.run)
        log(f"warm-up dry run: exit {status} in {time.monotonic() - started:.2f}s" + (f": {err[0]}" if err else ""))
        log(f"listening on {socket_path}")
        route_failover_agent.notify_ready(environ)

        def handle(request):
            t0 = time.monotonic()
            try:
                answer = agent.handle(request)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # a defect must not take the agent down with the failover in hand: report it
                answer = {"status": 1, "stdout": [],
                          "stderr": [error_line(f"{FAILURE}: {exc!r}")]}
            if _worth_logging(request, answer):
                kind = "dry run" if request["dry_run"] else "failover"
                lines = answer["stdout"] + answer["stderr"]
                log(f"{kind}: exit {answer['status']} in {time.monotonic() - t0:.2f}s"
                    + (" - " + "; ".join(lines) if lines and not request["json"] else ""))
            return answer

        route_failover_agent.serve(sock, handle, log, stop=stop)
    finally:
        sock.close()
        try:
            os.unlink(socket_path)
        except OSError:
            pass
    return 0


def main(argv=None, client_factory=None, imds_factory=None, stdout=None, stderr=None, environ=None, stop=None):
    """Entry point; returns the exit status. The factories are injectable for tests."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:  # --help
            return int(exit_.code or 0)
        if args.serve:
            if not args.config:
                raise UsageError("--serve needs --config")
            return _serve(args, client_factory, imds_factory, environ, stderr, stop=stop)
        settings = _settings(args)
    except UsageError as err:
        _say(stderr, _usage_error_line(err))
        return 2

    def runner(settings_, dry_run):
        return run(settings_, dry_run=dry_run, client_factory=client_factory,
                   imds_factory=imds_factory, environ=environ)

    status, out, err = execute(settings, dry_run=args.dry_run, as_json=args.json, runner=runner)
    for line in out:
        _say(stdout, line)
    for line in err:
        _say(stderr, line)
    return status
