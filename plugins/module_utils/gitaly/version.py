# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GitLab (Omnibus) version detection and the choice of ``gitlab.rb`` syntax.

Three syntaxes, one per version range (what each renders: see ``render.py``):

``legacy`` -- GitLab 13.0 to 15.x
    Flat Gitaly keys (``gitaly['listen_addr']``, ``gitaly['auth_token']``,
    ``gitaly['tls_listen_addr']``, ``gitaly['certificate_path']``, ``gitaly['key_path']``) and
    ``git_data_dirs({...})`` on both nodes. GitLab 15.10 introduced ``gitaly['configuration']``
    but kept the flat keys working until 16.0, so the flat keys are right for all of 15.x.
``gitaly_configuration`` -- GitLab 16.0 to 17.x
    Gitaly node: ``gitaly['configuration'] = { listen_addr:, auth: { token: }, storage: [...] }``
    (the flat keys were *removed* in 16.0: ``gitlab-ctl reconfigure`` aborts with "gitaly[...]
    has been deprecated since 15.10 and was removed in 16.0", omnibus-gitlab!6866, GitLab 16
    upgrade notes "Gitaly configuration structure change"). Rails node: still
    ``git_data_dirs({ name => { 'gitaly_address' => ... } })``, because up to 17.x Omnibus
    *computes* ``gitlab_rails['repositories_storages']`` from ``git_data_dirs`` and overwrites a
    value set in gitlab.rb (``Gitaly.parse_git_data_dirs`` in
    ``files/gitlab-cookbooks/gitaly/libraries/gitaly.rb`` of the 16.x cookbooks); setting
    ``repositories_storages`` directly is only honoured after omnibus-gitlab!7962 ("gitaly:
    Deprecate git_data_dirs", a 17.x release). ``git_data_dirs`` works, with a deprecation
    warning from 17.8, until 17.x.
``repositories_storages`` -- GitLab 18.0 and later
    ``git_data_dirs`` was removed in 18.0 (deprecations page "git_data_dirs for configuring
    Gitaly storages", omnibus-gitlab#8786; the 18.x package pre-install check refuses it). Gitaly
    node as above; Rails node ``gitlab_rails['repositories_storages'] = { name => {
    'gitaly_address' => ... } }`` (GitLab docs "Configure Gitaly", "Configure Gitaly clients").

Versions before 13.0 are refused: Puma replaced Unicorn as the default in 13.0 and older
releases lack keys the Gitaly-only node disables.

Where the version comes from, in order: the first line of ``/opt/gitlab/version-manifest.txt``
(``gitlab-ee 17.5.1``, ``gitlab-ce 16.11.3``; GitLab docs "Package information": the manifest
lists the GitLab version and every bundled library), then
``/opt/gitlab/embedded/service/gitlab-rails/VERSION`` (``17.5.1-ee``). ``gitlab-ctl`` has no
sub-command printing the version (omnibus-ctl's command map has none), so text from the tools
that do (``gitlab-rake gitlab:env:info``: ``Version: 17.5.1-ee``) is parsed by
:func:`parse_version_text`, which also reads the ``VERSION`` file.
"""

from __future__ import annotations

import functools
import re

from ansible_collections.hapair.ha.plugins.module_utils.gitaly.errors import GitalyConfigError

MANIFEST_PATH = "/opt/gitlab/version-manifest.txt"
RAILS_VERSION_PATH = "/opt/gitlab/embedded/service/gitlab-rails/VERSION"

SYNTAX_LEGACY = "legacy"
SYNTAX_GITALY_CONFIGURATION = "gitaly_configuration"
SYNTAX_REPOSITORIES_STORAGES = "repositories_storages"
SYNTAXES = (SYNTAX_LEGACY, SYNTAX_GITALY_CONFIGURATION, SYNTAX_REPOSITORIES_STORAGES)

MIN_SUPPORTED = (13, 0, 0)

# "17", "17.5", "17.5.1", "17.5.1-ee", "16.0.0-rc42", "17.6.0+rnightly.1"
_VERSION = re.compile(r"^v?(\d{1,3})(?:\.(\d{1,3}))?(?:\.(\d{1,3}))?(?:[-+~][0-9A-Za-z.+~-]*)?$")
# First line of version-manifest.txt: "<project> <version>", project gitlab-ce / gitlab-ee
# (gitlab-jh for the JiHu edition); some builds append a build identifier after the version.
_MANIFEST_LINE = re.compile(r"^gitlab-(?:ce|ee|jh)\s+(\S+)(?:\s+\S+)*\s*$")
_TEXT_PATTERNS = (
    # gitlab-rake gitlab:env:info: "Version:        17.5.1-ee"
    re.compile(r"^\s*Version:\s*(\d+\.\d+\.\d+\S*)\s*$", re.MULTILINE),
    # manifest-style line anywhere in the text: "gitlab-ee 17.5.1"
    re.compile(r"^\s*gitlab-(?:ce|ee|jh)\s+(\d+\.\d+\.\d+\S*)", re.MULTILINE),
    # gitlab-rails/VERSION file, or a bare "GitLab 17.5.1-ee" line
    re.compile(r"^\s*(?:GitLab\s+)?(\d+\.\d+\.\d+(?:-(?:ce|ee|jh|pre|rc\d*)\S*)?)\s*$", re.MULTILINE),
)


@functools.total_ordering
class GitLabVersion:
    """A GitLab version: ``major``, ``minor``, ``patch`` and the text it was written as."""

    __slots__ = ("major", "minor", "patch", "text")

    def __init__(self, major, minor=0, patch=0, text=None):
        self.major = int(major)
        self.minor = int(minor)
        self.patch = int(patch)
        self.text = text or "%d.%d.%d" % (self.major, self.minor, self.patch)

    def as_tuple(self):
        return (self.major, self.minor, self.patch)

    def __eq__(self, other):
        if isinstance(other, GitLabVersion):
            return self.as_tuple() == other.as_tuple()
        if isinstance(other, tuple):
            return self.as_tuple() == other
        return NotImplemented

    def __lt__(self, other):
        other = other.as_tuple() if isinstance(other, GitLabVersion) else other
        return self.as_tuple() < other

    def __hash__(self):
        return hash(self.as_tuple())

    def __str__(self):
        return self.text

    def __repr__(self):
        return "GitLabVersion(%r)" % self.text


def parse_version(value):
    """Parse ``17``, ``17.5``, ``17.5.1`` or ``17.5.1-ee`` into a :class:`GitLabVersion`."""
    if not isinstance(value, str):
        raise GitalyConfigError("gitlab_version must be a string like '17.5.1', got %s" % type(value).__name__)
    text = value.strip()
    match = _VERSION.match(text)
    if not match:
        raise GitalyConfigError("cannot parse GitLab version %r (expected e.g. '17.5.1' or '16.11')" % value)
    major, minor, patch = (int(part) if part is not None else 0 for part in match.groups())
    # keep "17.5.1" (drop edition/build suffixes) as the canonical text
    canonical = ".".join(part for part in match.groups() if part is not None)
    return GitLabVersion(major, minor, patch, canonical)


def parse_version_manifest(text):
    """Version from the first line of ``/opt/gitlab/version-manifest.txt``."""
    if text is None or not text.strip():
        raise GitalyConfigError("version manifest is empty")
    first = text.lstrip("\ufeff").splitlines()[0].strip()
    match = _MANIFEST_LINE.match(first)
    if not match:
        raise GitalyConfigError(
            "first line of the version manifest is %r, expected 'gitlab-ee X.Y.Z' or 'gitlab-ce X.Y.Z'" % first[:80])
    version = parse_version(match.group(1))
    if match.group(1).count(".") < 2:
        raise GitalyConfigError("version manifest names an incomplete version %r" % match.group(1))
    return version


def parse_version_text(text):
    """Version from ``gitlab-rails/VERSION`` or from tool output naming the GitLab version.

    Accepts ``17.5.1-ee`` (the ``VERSION`` file), ``Version: 17.5.1-ee`` (``gitlab-rake
    gitlab:env:info``) and ``gitlab-ee 17.5.1`` lines. Several *different* versions in the same
    text are refused rather than guessed between.
    """
    if text is None or not text.strip():
        raise GitalyConfigError("no version text to parse")
    found = []
    for pattern in _TEXT_PATTERNS:
        for match in pattern.finditer(text):
            version = parse_version(match.group(1))
            if version not in found:
                found.append(version)
        if found:
            break
    if not found:
        raise GitalyConfigError("no GitLab version found in %r" % text.strip()[:80])
    if len(found) > 1:
        raise GitalyConfigError("ambiguous GitLab version: found %s" % ", ".join(str(v) for v in found))
    return found[0]


def detect_gitlab_version(read_text):
    """Read the installed version from the node.

    ``read_text(path)`` returns the file's text, or ``None`` when the file does not exist.
    Returns ``(GitLabVersion, source_path)``.
    """
    reasons = []
    for path, parser in ((MANIFEST_PATH, parse_version_manifest), (RAILS_VERSION_PATH, parse_version_text)):
        text = read_text(path)
        if text is None:
            reasons.append("%s does not exist" % path)
            continue
        try:
            return parser(text), path
        except GitalyConfigError as err:
            reasons.append("%s: %s" % (path, err))
    raise GitalyConfigError(
        "cannot detect the GitLab version (%s); is GitLab (Omnibus) installed? "
        "Set gitlab_version explicitly otherwise" % "; ".join(reasons))


def select_syntax(version):
    """The gitlab.rb syntax for ``version`` (a :class:`GitLabVersion` or a version string)."""
    if not isinstance(version, GitLabVersion):
        version = parse_version(version)
    if version < MIN_SUPPORTED:
        raise GitalyConfigError("GitLab %s is not supported (13.0 or later is required)" % version)
    if version.major < 16:
        return SYNTAX_LEGACY
    if version.major < 18:
        return SYNTAX_GITALY_CONFIGURATION
    return SYNTAX_REPOSITORIES_STORAGES
