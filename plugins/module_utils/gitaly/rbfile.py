# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Edit ``gitlab.rb`` text: the managed block, owned keys outside it, secret masking.

* The block sits between :data:`BEGIN_MARKER` and :data:`END_MARKER` lines. It is replaced in
  place when present and appended otherwise (``gitlab.rb`` is Ruby evaluated top to bottom,
  so an appended block wins over earlier assignments). A lone or repeated marker is refused.
* An *owned key* assigned outside the block (``gitaly['auth_token'] = ...``,
  ``gitaly['configuration'] = {`` spanning several lines, ``git_data_dirs({...})``, ...) is
  neutralised: each line of the statement gets the :data:`DISABLED_PREFIX` comment prefix.
  The statement's extent is found with a small Ruby lexer (strings, comments, brackets, line
  continuations after ``=``, ``,``, ``\\``, operators). Heredocs are not understood; a statement
  that never ends is refused, nothing is changed.
* Everything else is kept byte for byte: lines are split on ``\\n`` only and rejoined as they
  were (CRLF, odd bytes decoded with ``surrogateescape`` by the caller).
* :func:`mask_secrets` replaces the string value of every token/secret/password-like key, and
  the auth token wherever it appears, so diffs and results never show a secret.
"""

from __future__ import annotations

import re

from ansible_collections.hapair.ha.plugins.module_utils.gitaly.errors import GitalyConfigError

BEGIN_MARKER = "# BEGIN hapair.ha.gitaly_remote (managed by Ansible; do not edit)"
END_MARKER = "# END hapair.ha.gitaly_remote"
DISABLED_PREFIX = "# hapair.ha.gitaly_remote disabled: "

TOKEN_PLACEHOLDER = "<auth_token hidden>"
SECRET_PLACEHOLDER = "<hidden>"

_CONTINUATION_END = ("=", ",", "\\", "+", "-", "*", "|", "&", ".", "(", "[", "{", "?", ":")
_OPEN = "([{"
_CLOSE = ")]}"


def split_lines(text):
    """Split on ``\\n`` only, keeping the newline on each line."""
    if not text:
        return []
    lines = text.split("\n")
    result = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        result.append(lines[-1])
    return result


def _marker_of(line):
    stripped = line.rstrip("\r\n").strip()
    if stripped == BEGIN_MARKER:
        return "begin"
    if stripped == END_MARKER:
        return "end"
    return None


def find_block(lines):
    """``(begin_index, end_index)`` of the managed block (inclusive), or ``None``."""
    begins = [i for i, line in enumerate(lines) if _marker_of(line) == "begin"]
    ends = [i for i, line in enumerate(lines) if _marker_of(line) == "end"]
    if not begins and not ends:
        return None
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise GitalyConfigError(
            "the managed block markers are broken (%d BEGIN and %d END lines, expected one pair in order); "
            "fix the file by hand: keep one '%s' ... '%s' pair or remove them"
            % (len(begins), len(ends), BEGIN_MARKER, END_MARKER))
    return begins[0], ends[0]


def wrap_block(body):
    """The full block text, markers included, ending with a newline."""
    return "%s\n%s\n%s\n" % (BEGIN_MARKER, body, END_MARKER)


# --------------------------------------------------------------------------- owned keys

def _index(key):
    return r"\[\s*(?:'%s'|\"%s\"|:%s)\s*\]" % (key, key, key)


def key_pattern(path):
    """Regex matching a line that assigns the key ``path`` (see ``render.owned_keys``)."""
    head = re.escape(path[0])
    if len(path) == 1:
        # a method call: git_data_dirs({ ... }) / git_data_dirs ({ ... })
        return re.compile(r"^\s*%s\b(?!\s*(?:=|\.|\[))" % head)
    indexes = r"\s*".join(_index(re.escape(key)) for key in path[1:])
    return re.compile(r"^\s*%s\s*%s\s*(?:=(?![=~>])|\|\|=|<<)" % (head, indexes))


def key_label(path):
    if len(path) == 1:
        return "%s(...)" % path[0]
    return path[0] + "".join("['%s']" % key for key in path[1:])


def statement_end(lines, start):
    """Index of the last line of the Ruby statement starting at ``lines[start]``."""
    depth = 0
    quote = None
    index = start
    while index < len(lines):
        line = lines[index].rstrip("\n")
        code_end = len(line)
        pos = 0
        while pos < len(line):
            char = line[pos]
            if quote:
                if char == "\\":
                    pos += 2
                    continue
                if char == quote:
                    quote = None
            elif char == "#":
                code_end = pos
                break
            elif char in "'\"":
                quote = char
            elif char in _OPEN:
                depth += 1
            elif char in _CLOSE:
                depth -= 1
                if depth < 0:
                    raise GitalyConfigError("unbalanced %r on line %d of gitlab.rb" % (char, index + 1))
            pos += 1
        if quote is None and depth == 0 and not line[:code_end].rstrip(" \t\r").endswith(_CONTINUATION_END):
            return index
        index += 1
    raise GitalyConfigError(
        "the statement starting on line %d of gitlab.rb never ends (unclosed bracket, string or "
        "trailing operator); fix it by hand" % (start + 1))


def neutralise(text, owned, first_line=1):
    """Comment out assignments of ``owned`` key paths in ``text``.

    Returns ``(new_text, [{'line': n, 'key': label}])``; ``n`` counts from ``first_line``.
    """
    patterns = [(key_pattern(path), key_label(path)) for path in owned]
    lines = split_lines(text)
    found = []
    index = 0
    while index < len(lines):
        label = None
        for pattern, key in patterns:
            if pattern.match(lines[index]):
                label = key
                break
        if label is None:
            index += 1
            continue
        end = statement_end(lines, index)
        found.append({"line": index + first_line, "key": label})
        for number in range(index, end + 1):
            lines[number] = DISABLED_PREFIX + lines[number]
        index = end + 1
    return "".join(lines), found


def place_block(text, block, owned):
    """Put ``block`` into ``text`` and neutralise ``owned`` keys outside it.

    Returns ``(new_text, neutralised)``.
    """
    lines = split_lines(text)
    found = find_block(lines)
    if found is None:
        before, neutralised = neutralise("".join(lines), owned)
        if before and not before.endswith("\n"):
            before += "\n"
        if before.strip() and not before.endswith("\n\n"):
            before += "\n"  # one blank line between the operator's settings and the block
        return before + block, neutralised
    begin, end = found
    before = "".join(lines[:begin])
    after = "".join(lines[end + 1:])
    before, neutralised = neutralise(before, owned)
    after, later = neutralise(after, owned, first_line=end + 2)
    return before + block + after, neutralised + later


# --------------------------------------------------------------------------- masking

_SECRET_VALUE = re.compile(
    r"""(?P<key>[A-Za-z0-9_]*(?:token|secret|password|passwd)[A-Za-z0-9_]*)"""
    r"""(?P<mid>['"]?\s*\]?\s*(?:=>|=|:)\s*)"""
    r"""(?P<q>['"])(?P<value>(?:\\.|(?!(?P=q)).)*)(?P=q)""",
    re.IGNORECASE)


def _ruby_unescape_single(value):
    return re.sub(r"\\([\\'])", r"\1", value)


def mask_secrets(text, auth_token=None):
    """Hide secret values in ``text``.

    The value of any ``*token*``, ``*secret*``, ``*password*`` key (``gitaly['auth_token'] =
    '...'``, ``token: '...'``, ``'gitaly_token' => '...'``) becomes ``<auth_token hidden>`` when
    it is ``auth_token`` and ``<hidden>`` otherwise, so a changed token still shows in a diff;
    any other occurrence of ``auth_token`` is replaced too.
    """
    if text is None:
        return None

    def replace(match):
        value = match.group("value")
        if match.group("q") == "'":
            plain = _ruby_unescape_single(value)
        else:
            plain = value
        label = TOKEN_PLACEHOLDER if auth_token and plain == auth_token else SECRET_PLACEHOLDER
        return "%s%s%s%s%s" % (match.group("key"), match.group("mid"), match.group("q"), label, match.group("q"))

    masked = _SECRET_VALUE.sub(replace, text)
    if auth_token:
        escaped = auth_token.replace("\\", "\\\\").replace("'", "\\'")
        for form in sorted({escaped, auth_token}, key=len, reverse=True):
            masked = masked.replace(form, TOKEN_PLACEHOLDER)
    return masked
