# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The settings file of ``hapair-route-failover`` (``--config``, mode 0600).

Standard library only: the failover command reads it before it knows whether it will hand the
request to its warm agent (``route_failover_agent``) or import boto3 and run it itself.
"""

from __future__ import annotations

import configparser
import json
import os
import stat

#: The command's name, and the words of a failed failover, whether the command or its agent ran
#: it: ``PROG: error: FAILURE: <why>``, one line on stderr.
PROG = "hapair-route-failover"
FAILURE = "Failed to point the VIP route at the target"


def error_line(message):
    """The one line on stderr of a failed command."""
    return f"{PROG}: error: {message}"


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
    "agent_socket": "str",
    "fencing": "str",
    "instance_id": "str",
    "peer_instance_id": "str",
    "fencing_timeout": "int",
    "fencing_delay": "count",
    "planned_switchover_file": "str",
    "fencing_lock_file": "str",
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


def _to_bool(key, value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"{key}: expected a boolean, got {value!r}")


def positive_int(value):
    """``value`` (an int, or its decimal text) as an integer >= 1; None if it is not one."""
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if text.isascii() and text.isdigit() else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def _to_positive_int(key, value):
    number = positive_int(value)
    if number is None:
        raise UsageError(f"{key}: expected an integer of at least 1, got {value!r}")
    return number


def _convert(key, value):
    kind = _CONFIG_KEYS[key]
    if kind == "bool":
        return _to_bool(key, value)
    if kind == "int":
        return _to_positive_int(key, value)
    if kind == "count":
        number = positive_int(value) if str(value).strip() not in ("0",) else 0
        if number is None:
            raise UsageError(f"{key}: expected an integer of at least 0, got {value!r}")
        return number
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
