"""hapair.ha.instance_metadata_facts: its main() against the fake IMDSv2 of the AWS unit tests."""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest
from module_runner import run_main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils" / "aws"))
from aws_stubs import MAC, FakeImds  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.hapair.ha.plugins.module_utils.aws import imds as imds_utils  # noqa: E402
from ansible_collections.hapair.ha.plugins.modules import instance_metadata_facts  # noqa: E402


@pytest.fixture
def fake(monkeypatch):
    with FakeImds.running() as server:
        # the module's client talks to the fake instead of 169.254.169.254
        monkeypatch.setattr(instance_metadata_facts, "ImdsClient", functools.partial(imds_utils.ImdsClient, server.url))
        yield server


def test_facts_are_returned_and_nothing_changes(capsys, fake):
    rc, result, _out = run_main(capsys, instance_metadata_facts.main, {"_ansible_check_mode": True})
    assert rc == 0 and result["changed"] is False, result
    facts = result["ansible_facts"]
    assert facts["ec2_mac"] == MAC and facts["ec2_instance_id"] == "i-0123456789abcdef0"
    assert fake.requests[0][2]["X-aws-ec2-metadata-token-ttl-seconds"] == "60"


def test_no_metadata_service_is_one_clear_failure(capsys, fake):
    fake.token_status = 403
    rc, result, _out = run_main(capsys, instance_metadata_facts.main, {"metadata_token_ttl_seconds": 30})
    assert rc == 1 and result["failed"] is True
    assert result["msg"].startswith("Failed to read the instance metadata: instance metadata PUT")
    assert "HTTP 403" in result["msg"] and "IMDSv2" in result["msg"]
    assert "ansible_facts" not in result
