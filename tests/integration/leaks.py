"""Find a secret in Ansible's output in any of the forms it could take there (test helper).

The lab's ansible.cfg uses the YAML callback, which wraps long lines (a double-quoted scalar can
even break inside a word, with a trailing backslash) and doubles single quotes; modules print
JSON (escaped); an HTTP task can show an Authorization header (base64 of ``user:secret``) or a
URL (percent-encoded). :func:`leaks` looks for every one of those forms.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse

_B64_RUN = re.compile(r"[A-Za-z0-9+/]{12,}={0,2}")


def _unwrapped(text: str) -> str:
    """The text with YAML line folding undone: every whitespace run and backslash-newline gone."""
    return re.sub(r"\\\n|\s+", "", text.replace("''", "'"))


def _decoded_base64(text: str) -> str:
    out = []
    for run in _B64_RUN.findall(text):
        for start in range(4):  # a base64 run may begin mid-group inside a longer token
            chunk = run[start:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            try:
                out.append(base64.b64decode(chunk, validate=True).decode("utf-8", "replace"))
            except (binascii.Error, ValueError):
                continue
    return "\n".join(out)


def forms(secret: str) -> set[str]:
    """The ways a secret can be written: as is, JSON-escaped, percent-encoded, in basic auth."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        base64.b64encode(secret.encode()).decode(),
    }


def leaks(text: str, secrets) -> list[str]:
    """The secrets (first 4 characters + an ellipsis, never the whole value) found in ``text``."""
    haystacks = (text, _unwrapped(text), _decoded_base64(text), _decoded_base64(_unwrapped(text)))
    found = []
    for secret in secrets:
        wanted = set(forms(secret)) | {_unwrapped(f) for f in forms(secret)}
        if any(form and form in hay for form in wanted for hay in haystacks):
            found.append(secret[:4] + "…")
    return found
