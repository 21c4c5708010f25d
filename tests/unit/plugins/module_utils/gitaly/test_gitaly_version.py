"""GitLab version parsing/detection and the version -> gitlab.rb syntax choice."""

from __future__ import annotations

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.gitaly.errors import GitalyConfigError
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.version import (
    MANIFEST_PATH,
    RAILS_VERSION_PATH,
    GitLabVersion,
    detect_gitlab_version,
    parse_version,
    parse_version_manifest,
    parse_version_text,
    select_syntax,
)


@pytest.mark.parametrize("text, expected, canonical", [
    ("17.5.1", (17, 5, 1), "17.5.1"),
    ("17.5", (17, 5, 0), "17.5"),
    ("18", (18, 0, 0), "18"),
    ("16.11.3-ee", (16, 11, 3), "16.11.3"),
    ("16.0.0-rc42", (16, 0, 0), "16.0.0"),
    (" 15.10.2 ", (15, 10, 2), "15.10.2"),
    ("v17.6.0+rnightly.1", (17, 6, 0), "17.6.0"),
])
def test_parse_version(text, expected, canonical):
    version = parse_version(text)
    assert version.as_tuple() == expected
    assert str(version) == canonical


@pytest.mark.parametrize("text", ["", "latest", "17.", "17.5.1.2", "seventeen", "17,5", "1234.1", "17.5.1 ee"])
def test_parse_version_rejects(text):
    with pytest.raises(GitalyConfigError, match="cannot parse GitLab version"):
        parse_version(text)


def test_parse_version_rejects_non_string():
    with pytest.raises(GitalyConfigError, match="must be a string"):
        parse_version(17.5)


def test_version_ordering():
    assert GitLabVersion(16, 0, 0) > (15, 11, 9)
    assert GitLabVersion(15, 11, 9) < GitLabVersion(16, 0, 0)
    assert parse_version("17.5") == parse_version("17.5.0")
    assert len({parse_version("17.5"), parse_version("17.5.0-ee")}) == 1


@pytest.mark.parametrize("manifest, expected", [
    ("gitlab-ee 17.5.1\n\nComponent  Installed Version ...\n", (17, 5, 1)),
    ("gitlab-ce 16.11.3\nruby 3.1.5 abc\n", (16, 11, 3)),
    ("gitlab-jh 17.2.0\n", (17, 2, 0)),
    ("\ufeffgitlab-ee 15.0.0\n", (15, 0, 0)),
    ("gitlab-ee 17.6.0-pre 1a2b3c\n", (17, 6, 0)),
    ("gitlab-ce 13.12.15", (13, 12, 15)),
])
def test_parse_version_manifest(manifest, expected):
    assert parse_version_manifest(manifest).as_tuple() == expected


@pytest.mark.parametrize("manifest, message", [
    ("", "empty"),
    ("   \n\n", "empty"),
    ("gitlab 17.5.1\n", "first line"),
    ("gitlab-ee\n", "first line"),
    ("gitlab-ee seventeen\n", "cannot parse"),
    ("gitlab-ee 17.5\n", "incomplete"),
    ("ruby 3.1.5\ngitlab-ee 17.5.1\n", "first line"),
    ("\x00\x01\x02 binary\n", "first line"),
    ("<html>404 Not Found</html>\n", "first line"),
])
def test_parse_version_manifest_malformed(manifest, message):
    with pytest.raises(GitalyConfigError, match=message):
        parse_version_manifest(manifest)


@pytest.mark.parametrize("text, expected", [
    ("17.5.1-ee\n", (17, 5, 1)),
    ("16.11.3\n", (16, 11, 3)),
    ("\nSystem information\nGitLab information\nVersion:\t16.11.3-ee\nRevision:\tabc123\n", (16, 11, 3)),
    ("GitLab 18.1.0-ee\n", (18, 1, 0)),
    ("gitlab-ee 17.5.1\n", (17, 5, 1)),
    # the same version twice is not ambiguous
    ("Version: 17.5.1-ee\nGitLab Shell\nVersion: 17.5.1-ee\n", (17, 5, 1)),
])
def test_parse_version_text(text, expected):
    assert parse_version_text(text).as_tuple() == expected


@pytest.mark.parametrize("text, message", [
    ("", "no version text"),
    ("Version: unknown\n", "no GitLab version found"),
    ("run: gitaly: (pid 123) 456s\n", "no GitLab version found"),
    ("Version: 17.5.1-ee\nVersion: 16.0.0\n", "ambiguous"),
])
def test_parse_version_text_malformed(text, message):
    with pytest.raises(GitalyConfigError, match=message):
        parse_version_text(text)


def _reader(files):
    return files.get


@pytest.mark.parametrize("files, expected, source", [
    ({MANIFEST_PATH: "gitlab-ee 17.5.1\n", RAILS_VERSION_PATH: "16.0.0-ee\n"}, (17, 5, 1), MANIFEST_PATH),
    ({RAILS_VERSION_PATH: "16.2.1-ee\n"}, (16, 2, 1), RAILS_VERSION_PATH),
    ({MANIFEST_PATH: "garbage\n", RAILS_VERSION_PATH: "18.0.1-ce\n"}, (18, 0, 1), RAILS_VERSION_PATH),
])
def test_detect_gitlab_version(files, expected, source):
    version, found_in = detect_gitlab_version(_reader(files))
    assert version.as_tuple() == expected
    assert found_in == source


@pytest.mark.parametrize("files, fragments", [
    ({}, ["does not exist", "Set gitlab_version"]),
    ({MANIFEST_PATH: "garbage\n", RAILS_VERSION_PATH: "nope\n"}, ["first line", "no GitLab version found"]),
])
def test_detect_gitlab_version_fails(files, fragments):
    with pytest.raises(GitalyConfigError) as err:
        detect_gitlab_version(_reader(files))
    for fragment in fragments:
        assert fragment in str(err.value)


@pytest.mark.parametrize("version, syntax", [
    ("13.0.0", "legacy"),
    ("14.10.5", "legacy"),
    ("15.10.0", "legacy"),
    ("15.11.13", "legacy"),
    ("16.0.0", "gitaly_configuration"),
    ("16.11.3", "gitaly_configuration"),
    ("17.0", "gitaly_configuration"),
    ("17.11.7", "gitaly_configuration"),
    ("18.0.0", "repositories_storages"),
    ("18.2.1", "repositories_storages"),
    ("19.1", "repositories_storages"),
])
def test_select_syntax(version, syntax):
    assert select_syntax(version) == syntax
    assert select_syntax(parse_version(version)) == syntax


@pytest.mark.parametrize("version", ["12.10.14", "8.17", "0.1"])
def test_select_syntax_refuses_old(version):
    with pytest.raises(GitalyConfigError, match="not supported"):
        select_syntax(version)
