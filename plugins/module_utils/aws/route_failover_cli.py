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

The route tables are changed in parallel, at most ``--max-concurrency`` at once (config key
``max_concurrency``; default ``DEFAULT_MAX_CONCURRENCY`` of ``route_table.py``).

Exit status: 0 on success, 1 when the failover failed (one line on stderr), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import configparser
import functools
import json
import os
import stat
import sys

from ansible_collections.hapair.ha.plugins.module_utils.aws.common import AwsError, make_client
from ansible_collections.hapair.ha.plugins.module_utils.aws.imds import (
    DEFAULT_IMDS_URL,
    IMDS_ENDPOINT_ENV,
    ImdsClient,
)
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_table import (
    DEFAULT_MAX_CONCURRENCY,
    ensure_route_target,
    validate_request,
)

PROG = "hapair-route-failover"

SOURCE_DEST_CHECK_CHOICES = {"keep": None, "disable": False, "enable": True}

# Keys a --config file may set, with their type. The connection keys (static credentials
# included) are allowed there and only there: never on the command line, where ps shows them.
_CONFIG_KEYS = {
    "vip": "str",
    "route_table_ids": "list",
    "vpc_id": "str",
    "network_interface_id": "str",
    "self": "bool",
    "create_missing": "bool",
    "source_dest_check": "str",
    "max_concurrency": "int",
    "region": "str",
    "endpoint_url": "str",
    "imds_url": "str",
    "access_key": "str",
    "secret_key": "str",
    "session_token": "str",
    "profile": "str",
    "aws_ca_bundle": "str",
    "validate_certs": "bool",
}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class UsageError(Exception):
    """Bad command line or configuration file (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing to sys.stderr and exiting."""

    def error(self, message):
        raise UsageError(message)


def _to_bool(key, value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"{key}: expected a boolean, got {value!r}")


def _positive_int(value):
    """``value`` (an int, or its decimal text) as an integer >= 1; None if it is not one."""
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if text.isascii() and text.isdigit() else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def _to_positive_int(key, value):
    number = _positive_int(value)
    if number is None:
        raise UsageError(f"{key}: expected an integer of at least 1, got {value!r}")
    return number


def _max_concurrency_arg(text):
    """argparse ``type`` of --max-concurrency (a bad value is a usage error, exit 2)."""
    number = _positive_int(text)
    if number is None:
        raise argparse.ArgumentTypeError(f"expected an integer of at least 1, got {text!r}")
    return number


def _convert(key, value):
    kind = _CONFIG_KEYS[key]
    if kind == "bool":
        return _to_bool(key, value)
    if kind == "int":
        return _to_positive_int(key, value)
    if kind == "list":
        if isinstance(value, str):
            return [v for v in value.replace(",", " ").split() if v]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise UsageError(f"{key}: expected a list of strings")
    if not isinstance(value, str):
        raise UsageError(f"{key}: expected a string, got {type(value).__name__}")
    return value.strip()


def load_config(path):
    """Read a JSON or INI configuration file; refuse it unless only its owner can read it.

    INI: ``key = value`` lines, optionally under a ``[route_failover]`` section; lists are
    comma or space separated. JSON: one object with the same keys.
    """
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            raise UsageError(f"config file {path} has mode {mode:04o}; it may hold AWS keys, so it must "
                             "not be accessible by group or others (chmod 600)")
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        raise UsageError(f"cannot read config file {path}: {err.strerror or err}") from err

    if text.lstrip().startswith("{"):
        try:
            raw = json.loads(text)
        except ValueError as err:
            raise UsageError(f"config file {path} is not valid JSON: {err}") from err
        if not isinstance(raw, dict):
            raise UsageError(f"config file {path}: expected a JSON object")
    else:
        parser = configparser.ConfigParser(interpolation=None)
        has_section = any(line.strip().startswith("[") for line in text.splitlines())
        try:
            parser.read_string(text if has_section else "[route_failover]\n" + text, source=path)
        except configparser.Error as err:
            raise UsageError(f"config file {path} is not valid INI: {err}") from err
        if parser.sections() != ["route_failover"]:
            raise UsageError(f"config file {path}: expected a single [route_failover] section, "
                             f"found {parser.sections()}")
        raw = dict(parser.items("route_failover"))

    unknown = sorted(set(raw) - set(_CONFIG_KEYS))
    if unknown:
        raise UsageError(f"config file {path}: unknown key(s) {', '.join(unknown)}")
    return {key: _convert(key, value) for key, value in raw.items() if value is not None}


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


def run(settings, dry_run=False, client_factory=None, imds_factory=None, environ=None):
    """Resolve the target and region, build the client, call ensure_route_target."""
    environ = os.environ if environ is None else environ
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
    result = ensure_route_target(
        client,
        settings["vip"],
        route_table_ids=settings.get("route_table_ids") or None,
        vpc_id=settings.get("vpc_id"),
        network_interface_id=eni,
        create_missing=settings.get("create_missing", False),
        source_dest_check=SOURCE_DEST_CHECK_CHOICES[settings["source_dest_check"]],
        check_mode=dry_run,
        target_vpc_id=target_vpc_id,
        max_concurrency=settings.get("max_concurrency", DEFAULT_MAX_CONCURRENCY),
    )
    result.pop("diff", None)
    result["dry_run"] = dry_run
    return result


def _say(stream, line):
    # A command's output, not a module's: write to the stream (print() is banned in module_utils).
    stream.write(line + "\n")
    stream.flush()


def main(argv=None, client_factory=None, imds_factory=None, stdout=None, stderr=None, environ=None):
    """Entry point; returns the exit status. The factories are injectable for tests."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    args = None
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:  # --help
            return int(exit_.code or 0)
        settings = _settings(args)
        result = run(settings, dry_run=args.dry_run, client_factory=client_factory,
                     imds_factory=imds_factory, environ=environ)
    except UsageError as err:
        _say(stderr, f"{PROG}: error: {err} (see --help)")
        return 2
    except AwsError as err:
        msg = f"Failed to point the VIP route at the target: {err}"
        if args is not None and args.json:
            _say(stdout, json.dumps({"failed": True, "msg": msg, **err.details}, sort_keys=True, default=str))
        else:
            _say(stderr, f"{PROG}: error: {msg}")
        return 1

    if args.json:
        _say(stdout, json.dumps(result, sort_keys=True, default=str))
    else:
        for entry in result["route_tables"]:
            _say(stdout, _format_line(entry, args.dry_run))
        sdc = result["source_dest_check"]
        if sdc["changed"]:
            verb = "would be set" if args.dry_run else "set"
            _say(stdout, f"{sdc['network_interface_id']}: source/destination check {verb} to "
                         f"{str(sdc['desired']).lower()}")
    return 0
