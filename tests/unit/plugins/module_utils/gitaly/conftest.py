"""Fixtures for the gitaly module_utils tests: real Ruby, as ``ruby -c`` and a recording DSL."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

# The recording DSL is shared with the lab's simulated `gitlab-ctl reconfigure`.
RECORDER = Path(__file__).resolve().parents[5] / "tests" / "lab" / "sim" / "gitlab" / "gitlab_rb_recorder.rb"
EMBEDDED_RUBY = Path("/opt/gitlab/embedded/bin/ruby")


def _ruby():
    if EMBEDDED_RUBY.is_file():
        return str(EMBEDDED_RUBY)
    return shutil.which("ruby")


@pytest.fixture(scope="session")
def ruby_bin():
    ruby = _ruby()
    if not ruby:
        pytest.skip("no Ruby interpreter (install Debian's ruby package) - cannot check gitlab.rb output")
    return ruby


@pytest.fixture()
def ruby_syntax_ok(ruby_bin):
    """``ruby_syntax_ok(text)`` -> (ok, message) from ``ruby -c``."""
    def check(text):
        proc = subprocess.run([ruby_bin, "-c"], input=text.encode("utf-8", "surrogateescape"),
                              capture_output=True, timeout=60, check=False)
        return proc.returncode == 0, (proc.stdout + proc.stderr).decode("utf-8", "replace")
    return check


@pytest.fixture()
def ruby_record(ruby_bin, tmp_path):
    """``ruby_record(text)`` -> what the recording DSL saw when Ruby evaluated ``text``."""
    def record(text):
        path = tmp_path / "gitlab.rb"
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        proc = subprocess.run([ruby_bin, str(RECORDER), str(path)], capture_output=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
        return json.loads(proc.stdout)
    return record
