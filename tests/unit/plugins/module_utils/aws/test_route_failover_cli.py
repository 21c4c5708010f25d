"""Unit tests for the node-side command (plugins/module_utils/aws/route_failover_cli.py).

main([...]) runs against moto in-process (the real client factory) or an injected factory;
--self reads a fake IMDSv2 server on 127.0.0.1.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aws_stubs import MAC, install_node_command, targets

from ansible_collections.hapair.ha.plugins.module_utils.aws import route_failover_cli
from ansible_collections.hapair.ha.plugins.module_utils.aws.common import AwsError
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_failover_cli import load_config, main
from ansible_collections.hapair.ha.plugins.module_utils.aws.route_table import DEFAULT_MAX_CONCURRENCY


def cli(argv, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    status = main(argv, stdout=out, stderr=err, **kwargs)
    return status, out.getvalue(), err.getvalue()


def write_config(tmp_path, text, mode=0o600, name="failover.conf"):
    path = tmp_path / name
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def point_imds_at(imds, m):
    imds.metadata[f"network/interfaces/macs/{MAC}/interface-id"] = m["eni_b"]
    imds.metadata[f"network/interfaces/macs/{MAC}/vpc-id"] = m["vpc"]
    imds.metadata["placement/region"] = "us-east-1"


# ---- against moto -------------------------------------------------------------------------


def test_switch_with_listed_tables_then_unchanged(moto_vpc):
    m = moto_vpc
    args = ["--vip", "10.1.0.10", "--network-interface-id", m["eni_b"]]
    for t in m["tables"]:
        args += ["--route-table-id", t]
    status, out, err = cli(args)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines == [f"{t}: {m['eni_a']} -> {m['eni_b']} replaced" for t in m["tables"]]
    assert targets(m["client"], m["tables"]) == {t: m["eni_b"] for t in m["tables"]}

    status, out, _err = cli(args)
    assert status == 0
    assert out.splitlines() == [f"{t}: {m['eni_b']} unchanged" for t in m["tables"]]


def test_self_via_imds_and_vpc_discovery_costs_n_plus_2(moto_vpc, imds):
    m = moto_vpc
    point_imds_at(imds, m)
    status, out, err = cli(["--self", "--vip", "10.1.0.10/32", "--vpc-id", m["vpc"], "--json",
                            "--imds-url", imds.url])
    assert (status, err) == (0, "")
    result = json.loads(out)
    assert result["network_interface_id"] == m["eni_b"]
    assert result["changed"] is True
    assert result["api_calls"] == len(m["tables"]) + 2
    assert result["source_dest_check"]["desired"] is None
    assert "diff" not in result
    assert targets(m["client"], m["tables"]) == {t: m["eni_b"] for t in m["tables"]}


def test_imds_url_from_botocore_environment_variable(moto_vpc, imds, monkeypatch):
    m = moto_vpc
    point_imds_at(imds, m)
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url)
    status, _out, err = cli(["--self", "--vip", "10.1.0.10", "--vpc-id", m["vpc"], "--dry-run"])
    assert (status, err) == (0, "")


def test_dry_run_changes_nothing(moto_vpc):
    m = moto_vpc
    status, out, _err = cli(["--vip", "10.1.0.10", "--vpc-id", m["vpc"], "--network-interface-id", m["eni_b"],
                             "--dry-run", "--source-dest-check", "disable"])
    assert status == 0
    assert all(line.endswith("would be replaced") for line in out.splitlines()[:3])
    assert out.splitlines()[3] == f"{m['eni_b']}: source/destination check would be set to false"
    assert targets(m["client"], m["tables"]) == {t: m["eni_a"] for t in m["tables"]}


def test_config_file_with_static_keys(moto_vpc, tmp_path, monkeypatch):
    m = moto_vpc
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    path = write_config(tmp_path, "\n".join([
        "[route_failover]",
        "vip = 10.1.0.10",
        f"route_table_ids = {m['tables'][0]}, {m['tables'][1]}",
        f"network_interface_id = {m['eni_b']}",
        "region = us-east-1",
        "access_key = AKIDFROMFILE",
        "secret_key = do-not-print-me",
        "source_dest_check = disable",
    ]))
    status, out, err = cli(["--config", path])
    assert (status, err) == (0, "")
    assert "do-not-print-me" not in out
    assert targets(m["client"], m["tables"][:2]) == {t: m["eni_b"] for t in m["tables"][:2]}


def test_error_is_one_line_and_exit_1(moto_vpc):
    m = moto_vpc
    status, out, err = cli(["--vip", "10.1.0.10", "--route-table-id", m["spare_table"],
                            "--network-interface-id", m["eni_b"]])
    assert status == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "has no route for 10.1.0.10/32" in err


def test_error_as_json(moto_vpc):
    m = moto_vpc
    status, out, _err = cli(["--vip", "10.1.0.10", "--route-table-id", "rtb-0123456789abcdef0",
                             "--network-interface-id", m["eni_b"], "--json"])
    assert status == 1
    result = json.loads(out)
    assert result["failed"] is True
    assert "route table not found" in result["msg"]


# ---- usage errors (exit 2), with an injected factory that must not be called ---------------


def forbidden_factory(**_kwargs):
    raise AssertionError("no AWS client may be created for a usage error")


@pytest.mark.parametrize("argv, message", [
    (["--route-table-id", "rtb-1", "--network-interface-id", "eni-1"], "--vip is required"),
    (["--vip", "10.1.0.10", "--network-interface-id", "eni-1"], "--route-table-id and/or --vpc-id"),
    (["--vip", "10.1.0.10", "--vpc-id", "vpc-1"], "exactly one of"),
    (["--vip", "10.1.0.10", "--vpc-id", "vpc-1", "--self", "--network-interface-id", "eni-1"], "not allowed with"),
    (["--vip", "10.1.0.10", "--vpc-id", "vpc-1", "--source-dest-check", "maybe"], "invalid choice"),
    (["--bogus"], "unrecognized arguments"),
    (["--vip", "10.1.0.10", "--vpc-id", "vpc-1", "--self", "--max-concurrency", "0"],
     "argument --max-concurrency: expected an integer of at least 1, got '0'"),
    (["--vip", "10.1.0.10", "--vpc-id", "vpc-1", "--self", "--max-concurrency", "-3"],
     "argument --max-concurrency: expected an integer of at least 1"),
    (["--vip", "10.1.0.10", "--vpc-id", "vpc-1", "--self", "--max-concurrency", "many"],
     "argument --max-concurrency: expected an integer of at least 1, got 'many'"),
])
def test_usage_errors_exit_2(argv, message):
    status, out, err = cli(argv, client_factory=forbidden_factory)
    assert status == 2
    assert out == ""
    assert message in err
    assert len(err.splitlines()) == 1


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--route-table-id" in out
    assert "--max-concurrency N" in out and f"default {DEFAULT_MAX_CONCURRENCY}" in out


def recording_factory(seen):
    def factory(**kwargs):
        seen.update(kwargs)
        raise AwsError("stop here")
    return factory


@pytest.mark.parametrize("argv, config, expected", [
    ([], None, DEFAULT_MAX_CONCURRENCY),
    (["--max-concurrency", "3"], None, 3),
    ([], "max_concurrency = 4\n", 4),
    ([], '{"max_concurrency": 6}', 6),
    (["--max-concurrency", "2"], "max_concurrency = 4\n", 2),  # the command line wins
])
def test_max_concurrency_reaches_the_client_factory(tmp_path, argv, config, expected):
    seen = {}
    if config is not None:
        argv = argv + ["--config", write_config(tmp_path, config)]
    status, _out, err = cli(["--vip", "10.1.0.10", "--vpc-id", "vpc-1", "--network-interface-id", "eni-1",
                             "--region", "eu-west-1"] + argv, client_factory=recording_factory(seen), environ={})
    assert status == 1 and "stop here" in err
    assert seen["max_concurrency"] == expected


def test_max_concurrency_reaches_ensure_route_target(monkeypatch):
    seen = {}

    def fake_ensure(_client, _vip, **kwargs):
        seen.update(kwargs)
        raise AwsError("stop here")

    monkeypatch.setattr(route_failover_cli, "ensure_route_target", fake_ensure)
    status, _out, _err = cli(["--vip", "10.1.0.10", "--vpc-id", "vpc-1", "--network-interface-id", "eni-1",
                              "--max-concurrency", "5"], client_factory=lambda **_kw: object(), environ={})
    assert status == 1
    assert seen["max_concurrency"] == 5


def test_parallel_switch_against_moto_with_a_bound(moto_vpc):
    m = moto_vpc
    args = ["--vip", "10.1.0.10", "--network-interface-id", m["eni_b"], "--max-concurrency", "2", "--json"]
    for t in m["tables"]:
        args += ["--route-table-id", t]
    status, out, err = cli(args)
    assert (status, err) == (0, "")
    result = json.loads(out)
    assert [e["route_table_id"] for e in result["route_tables"]] == m["tables"]
    assert result["api_calls"] == len(m["tables"]) + 3  # lookup, describe, N replaces, read-back
    assert targets(m["client"], m["tables"]) == {t: m["eni_b"] for t in m["tables"]}


def test_bad_vip_exits_1_before_any_client_call():
    calls = []

    class Recorder:
        def __getattr__(self, name):
            calls.append(name)
            raise AssertionError(name)

    status, _out, err = cli(["--vip", "10.1.0.0/24", "--vpc-id", "vpc-1", "--network-interface-id", "eni-1"],
                            client_factory=lambda **_kw: Recorder())
    assert status == 1
    assert "is a /24 network" in err
    assert not calls


def test_factory_receives_connection_settings(tmp_path):
    seen = {}

    def factory(**kwargs):
        seen.update(kwargs)
        raise AwsError("stop here")

    path = write_config(tmp_path, json.dumps({"profile": "db", "endpoint_url": "http://127.0.0.1:5000",
                                              "validate_certs": "no"}), name="f.json")
    status, _out, err = cli(["--config", path, "--vip", "10.1.0.10", "--vpc-id", "vpc-1",
                             "--network-interface-id", "eni-1", "--region", "eu-west-1"],
                            client_factory=factory, environ={})
    assert status == 1 and "stop here" in err
    assert seen["profile"] == "db"
    assert seen["region"] == "eu-west-1"
    assert seen["endpoint_url"] == "http://127.0.0.1:5000"
    assert seen["validate_certs"] is False


def test_region_from_imds_with_self(imds):
    seen = {}

    def factory(**kwargs):
        seen.update(kwargs)
        raise AwsError("stop")

    cli(["--self", "--vip", "10.1.0.10", "--vpc-id", "vpc-1", "--imds-url", imds.url],
        client_factory=factory, environ={})
    assert seen["region"] == "eu-west-1"


def test_imds_unreachable_is_a_one_line_error():
    status, _out, err = cli(["--self", "--vip", "10.1.0.10", "--vpc-id", "vpc-1", "--imds-url",
                             "http://127.0.0.1:9"], client_factory=forbidden_factory)
    assert status == 1
    assert "instance metadata" in err and len(err.strip().splitlines()) == 1


# ---- configuration file -------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_config_file_readable_by_others_is_refused(tmp_path, mode):
    path = write_config(tmp_path, "vip = 10.1.0.10\n", mode=mode)
    status, _out, err = cli(["--config", path], client_factory=forbidden_factory)
    assert status == 2
    assert f"mode {mode:04o}" in err and "chmod 600" in err


@pytest.mark.parametrize("text, expected", [
    ("vip = 10.1.0.10\ncreate_missing = yes\n", {"vip": "10.1.0.10", "create_missing": True}),
    ("[route_failover]\nroute_table_ids = rtb-1 rtb-2,rtb-3\n", {"route_table_ids": ["rtb-1", "rtb-2", "rtb-3"]}),
    ('{"route_table_ids": ["rtb-1"], "self": true}', {"route_table_ids": ["rtb-1"], "self": True}),
    ('{"route_table_ids": "rtb-1,rtb-2"}', {"route_table_ids": ["rtb-1", "rtb-2"]}),
    ("max_concurrency = 12\n", {"max_concurrency": 12}),
    ('{"max_concurrency": 1}', {"max_concurrency": 1}),
    ('{"max_concurrency": "3"}', {"max_concurrency": 3}),
])
def test_load_config(tmp_path, text, expected):
    assert load_config(write_config(tmp_path, text, mode=0o400)) == expected


@pytest.mark.parametrize("text, message", [
    ("vpc = vpc-1\n", "unknown key(s) vpc"),
    ("create_missing = perhaps\n", "expected a boolean"),
    ("[other]\nvip = 1\n", "single [route_failover] section"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "single [route_failover] section"),
    ('{"vip": 10}', "expected a string"),
    ('{"route_table_ids": [1]}', "expected a list of strings"),
    ("vip = 1\nvip = 2\n", "not valid INI"),
    ("max_concurrency = 0\n", "max_concurrency: expected an integer of at least 1, got '0'"),
    ("max_concurrency = ten\n", "max_concurrency: expected an integer of at least 1"),
    ("max_concurrency = 2.5\n", "max_concurrency: expected an integer of at least 1"),
    ('{"max_concurrency": true}', "max_concurrency: expected an integer of at least 1, got True"),
    ('{"max_concurrency": 2.0}', "max_concurrency: expected an integer of at least 1"),
    ('{"max_concurrency": -1}', "max_concurrency: expected an integer of at least 1"),
])
def test_load_config_rejects_malformed_files(tmp_path, text, message):
    with pytest.raises(route_failover_cli.UsageError) as caught:
        load_config(write_config(tmp_path, text))
    assert message in str(caught.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(route_failover_cli.UsageError, match="cannot read config file"):
        load_config(str(tmp_path / "nope.conf"))


def test_command_line_overrides_config(tmp_path):
    path = write_config(tmp_path, "vip = 10.9.9.9\nself = true\nvpc_id = vpc-1\n")
    seen = {}

    def factory(**kwargs):
        seen.update(kwargs)
        raise AwsError("stop")

    # --network-interface-id replaces the file's self (no IMDS call), --vip the file's VIP.
    status, _out, err = cli(["--config", path, "--vip", "10.1.0.10/24", "--network-interface-id", "eni-1"],
                            client_factory=factory, environ={"AWS_REGION": "ap-south-1"})
    assert status == 1 and "'10.1.0.10/24' is a /24 network" in err
    assert not seen

    status, _out, err = cli(["--config", path, "--network-interface-id", "eni-1"],
                            client_factory=factory, environ={"AWS_REGION": "ap-south-1"})
    assert status == 1 and err.endswith("stop\n")
    assert seen["region"] == "ap-south-1"  # no --region, no IMDS: AWS_REGION


# ---- the way a role runs it on a node: only stdlib + boto3 + netaddr, no Ansible ------------


def test_runs_from_a_copied_tree_without_ansible(tmp_path):
    # what the vip_route role installs: every file of the package, and its wrapper
    wrapper = install_node_command(tmp_path, Path(route_failover_cli.__file__).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run([sys.executable, str(wrapper), "--vip", "10.1.0.0/24", "--vpc-id", "vpc-1",
                           "--network-interface-id", "eni-1", "--region", "us-east-1"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "is a /24 network" in proc.stderr
    assert "Traceback" not in proc.stderr
