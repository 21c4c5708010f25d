"""tests/integration/leaks.py finds a secret in every form Ansible's output could hold it (and
nothing where it is not): the secret-leak tests can only fail if the helper can find a leak."""
from __future__ import annotations

import base64
import json

from tests.integration.leaks import leaks

SECRET = "Sentinel-pw/+9Zq'x"


def test_finds_every_form():
    folded = "msg: 'the password is Sentinel-pw/+9Z\n    q''x and more'"
    quoted = 'msg: "... Sentinel-pw/+9\\\n  Zq\'x ..."'
    header = "Authorization: Basic " + base64.b64encode(f"api_key:{SECRET}".encode()).decode()
    for text in (SECRET, folded, quoted, json.dumps({"p": SECRET}), header,
                 "url: https://h/?p=Sentinel-pw%2F%2B9Zq%27x", "x" + base64.b64encode(SECRET.encode()).decode()):
        assert leaks(text, [SECRET]) == ["Sent…"], text


def test_finds_nothing_where_there_is_no_secret():
    text = ('"primary_api_password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"\nok: [ghe-1]\n'
            + base64.b64encode(b"api_key:another").decode())
    assert leaks(text, [SECRET]) == []
