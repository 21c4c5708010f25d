"""The gitlab.rb block editor: markers, owned-key neutralisation, byte preservation, masking."""

from __future__ import annotations

import pytest

from ansible_collections.hapair.ha.plugins.module_utils.gitaly.errors import GitalyConfigError
from ansible_collections.hapair.ha.plugins.module_utils.gitaly.rbfile import (
    BEGIN_MARKER,
    DISABLED_PREFIX,
    END_MARKER,
    SECRET_PLACEHOLDER,
    TOKEN_PLACEHOLDER,
    find_block,
    mask_secrets,
    neutralise,
    place_block,
    split_lines,
    statement_end,
    wrap_block,
)

BLOCK = wrap_block("gitaly['enable'] = true")
OWNED = [("gitaly", "enable"), ("gitaly", "auth_token"), ("gitaly", "configuration"), ("git_data_dirs",),
         ("gitaly", "configuration", "storage"), ("gitlab_rails", "gitaly_token")]


@pytest.mark.parametrize("text, lines", [
    ("", []),
    ("a", ["a"]),
    ("a\n", ["a\n"]),
    ("a\r\nb", ["a\r\n", "b"]),
    ("a\n\nb\n", ["a\n", "\n", "b\n"]),
    ("a\x0bb\x0cc\u2028d\n", ["a\x0bb\x0cc\u2028d\n"]),  # only \n splits, like Ruby
])
def test_split_lines(text, lines):
    assert split_lines(text) == lines
    assert "".join(split_lines(text)) == text


@pytest.mark.parametrize("text, expected", [
    ("external_url 'x'\n", None),
    ("a\n%s\nb\n%s\nc\n" % (BEGIN_MARKER, END_MARKER), (1, 3)),
    ("  %s  \r\nx\r\n%s\r\n" % (BEGIN_MARKER, END_MARKER), (0, 2)),
])
def test_find_block(text, expected):
    assert find_block(split_lines(text)) == expected


@pytest.mark.parametrize("text", [
    "%s\nx\n" % BEGIN_MARKER,
    "x\n%s\n" % END_MARKER,
    "%s\n%s\n" % (END_MARKER, BEGIN_MARKER),
    "%s\n%s\n%s\n%s\n" % (BEGIN_MARKER, END_MARKER, BEGIN_MARKER, END_MARKER),
])
def test_find_block_broken_markers(text):
    with pytest.raises(GitalyConfigError, match="markers are broken"):
        find_block(split_lines(text))


@pytest.mark.parametrize("text, start, end", [
    ("gitaly['enable'] = true\nnext\n", 0, 0),
    ("gitaly['enable'] = true # a comment ( { [\nnext\n", 0, 0),
    ("gitaly['configuration'] = {\n  a: 1,\n}\nnext\n", 0, 2),
    ("gitaly['configuration'] =\n  { a: 1 }\nnext\n", 0, 1),
    ("git_data_dirs({\n  'default' => { 'path' => '/x' },\n})\nnext\n", 0, 2),
    ("git_data_dirs(\n  {\n    \"a\" => { \"path\" => \"/x\" } # } ] )\n  }\n)\nnext\n", 0, 4),
    ("gitaly['auth_token'] = 'a}b]c)' + \\\n  'd'\nnext\n", 0, 1),
    ("gitaly['auth_token'] = 'multi\nline { string'\nnext\n", 0, 1),
    ("gitaly['auth_token'] = \"esc \\\" ( quote\"\nnext\n", 0, 0),
    ("gitaly['enable'] = x ||\n  y\nnext\n", 0, 1),
    ("gitaly['configuration'] = {\n  # comment }\n  storage: [\n  ],\n}\n", 0, 4),
    ("gitaly['enable'] = true", 0, 0),
])
def test_statement_end(text, start, end):
    assert statement_end(split_lines(text), start) == end


@pytest.mark.parametrize("text, message", [
    ("gitaly['configuration'] = {\n  a: 1,\n", "never ends"),
    ("gitaly['auth_token'] = 'open\n", "never ends"),
    ("gitaly['enable'] =\n", "never ends"),
    ("gitaly['enable'] = true)\n", "unbalanced"),
])
def test_statement_end_refuses(text, message):
    with pytest.raises(GitalyConfigError, match=message):
        statement_end(split_lines(text), 0)


@pytest.mark.parametrize("line", [
    "gitaly['enable'] = false\n",
    "  gitaly[\"enable\"]=false\n",
    "gitaly[:enable] = false\n",
    "gitaly [ 'enable' ] ||= false\n",
    "gitaly['auth_token'] = 'x'\n",
    "gitlab_rails['gitaly_token'] = \"x\"\n",
    "git_data_dirs({ 'default' => { 'path' => '/x' } })\n",
    "git_data_dirs ({ 'default' => { 'path' => '/x' } })\n",
    "gitaly['configuration'][:storage] = []\n",
    "gitaly['configuration']['storage'] << { name: 'x' }\n",
])
def test_neutralise_owned(line):
    text, found = neutralise("external_url 'x'\n" + line + "nginx['enable'] = true\n", OWNED)
    assert text == "external_url 'x'\n" + DISABLED_PREFIX + line + "nginx['enable'] = true\n"
    assert [entry["line"] for entry in found] == [2]


@pytest.mark.parametrize("line", [
    "gitaly['enable_something'] = false\n",
    "gitaly['enable'] == false\n",
    "gitaly['enable'] =~ /x/\n",
    "my_gitaly['enable'] = false\n",
    "gitaly_exporter['enable'] = false\n",
    "# gitaly['enable'] = false\n",
    "puts gitaly['enable']\n",
    "gitaly['configuration'][:pack_objects_cache] = { enabled: true }\n",
    "gitaly['configuration'].merge!(foo: 1)\n",
    "git_data_dirs_backup = 1\n",
    "gitlab_rails['gitaly_token_file'] = '/x'\n",
    "x = \"gitaly['enable'] = false\"\n",
])
def test_neutralise_leaves_other_lines(line):
    text = "external_url 'x'\n" + line
    assert neutralise(text, OWNED) == (text, [])


def test_neutralise_multiline_and_line_numbers():
    text = (
        "external_url 'https://gitlab.example.com'\n"       # 1
        "gitaly['configuration'] = {\n"                     # 2
        "  listen_addr: '0.0.0.0:8075', # { not a brace\n"  # 3
        "  storage: [\n"                                    # 4
        "    { name: 'default', path: '/p' },\n"            # 5
        "  ],\n"                                            # 6
        "}\n"                                               # 7
        "letsencrypt['enable'] = false\n"                   # 8
        "git_data_dirs({\n"                                 # 9
        "  'default' => { 'gitaly_address' => 'tcp://g:8075' },\n"
        "})\n"                                              # 11
    )
    new, found = neutralise(text, OWNED)
    assert found == [{"line": 2, "key": "gitaly['configuration']"}, {"line": 9, "key": "git_data_dirs(...)"}]
    lines = new.splitlines(True)
    original = text.splitlines(True)
    for number in (1, 8):
        assert lines[number - 1] == original[number - 1]
    for number in list(range(2, 8)) + [9, 10, 11]:
        assert lines[number - 1] == DISABLED_PREFIX + original[number - 1]
    # already neutralised text is left alone: idempotent
    assert neutralise(new, OWNED) == (new, [])


def test_place_block_appends_and_replaces_in_place():
    operator = "external_url 'x'\r\n\xe9t\xe9 \udcff raw byte\r\nnginx['listen_port'] = 80"
    first = place_block(operator, BLOCK, OWNED)[0]
    assert first == operator + "\n\n" + BLOCK
    second = place_block(first, BLOCK, OWNED)[0]
    assert second == first  # idempotent
    # operator lines after the block, and a new block body: replaced in place
    with_tail = first + "# my own tail\r\nsidekiq['max_concurrency'] = 10\r\n"
    other = wrap_block("gitaly['enable'] = false")
    replaced = place_block(with_tail, other, OWNED)[0]
    assert replaced == operator + "\n\n" + other + "# my own tail\r\nsidekiq['max_concurrency'] = 10\r\n"


@pytest.mark.parametrize("text, expected", [
    ("", BLOCK),
    ("\n", "\n" + BLOCK),
    ("a\n", "a\n\n" + BLOCK),
    ("a\n\n", "a\n\n" + BLOCK),
    ("a", "a\n\n" + BLOCK),
])
def test_place_block_separator(text, expected):
    assert place_block(text, BLOCK, OWNED)[0] == expected


def test_place_block_neutralises_both_sides_with_original_line_numbers():
    text = ("gitaly['auth_token'] = 'old'\n"
            + BLOCK
            + "gitaly['enable'] = false\n")
    new, found = place_block(text, BLOCK, OWNED)
    assert found == [{"line": 1, "key": "gitaly['auth_token']"}, {"line": 5, "key": "gitaly['enable']"}]
    assert new == DISABLED_PREFIX + "gitaly['auth_token'] = 'old'\n" + BLOCK + DISABLED_PREFIX + "gitaly['enable'] = false\n"


def test_place_block_refuses_unparsable_owned_statement():
    with pytest.raises(GitalyConfigError, match="line 2"):
        place_block("external_url 'x'\ngit_data_dirs({\n  'default' => {\n", BLOCK, OWNED)


TOKEN = "tok'en\\x"


@pytest.mark.parametrize("text, expected", [
    ("gitaly['auth_token'] = 'tok\\'en\\\\x'\n", "gitaly['auth_token'] = '%s'\n" % TOKEN_PLACEHOLDER),
    ("gitaly['auth_token'] = 'old'\n", "gitaly['auth_token'] = '%s'\n" % SECRET_PLACEHOLDER),
    ("    token: 'tok\\'en\\\\x',\n", "    token: '%s',\n" % TOKEN_PLACEHOLDER),
    ("gitlab_rails['gitaly_token'] = \"other\"\n", "gitlab_rails['gitaly_token'] = \"%s\"\n" % SECRET_PLACEHOLDER),
    ("  'default' => { 'gitaly_token' => 'zz' },\n", "  'default' => { 'gitaly_token' => '%s' },\n" % SECRET_PLACEHOLDER),
    ("gitlab_rails['db_password'] = 'pw'\n", "gitlab_rails['db_password'] = '%s'\n" % SECRET_PLACEHOLDER),
    ("gitlab_shell['secret_token'] = 's'\n", "gitlab_shell['secret_token'] = '%s'\n" % SECRET_PLACEHOLDER),
    ("# note: the token is tok'en\\x\n", "# note: the token is %s\n" % TOKEN_PLACEHOLDER),
    ("external_url 'https://gitlab.example.com'\n", "external_url 'https://gitlab.example.com'\n"),
    ("nginx['listen_port'] = 80\n", "nginx['listen_port'] = 80\n"),
])
def test_mask_secrets(text, expected):
    assert mask_secrets(text, TOKEN) == expected


def test_mask_secrets_token_change_still_shows():
    before = "gitaly['auth_token'] = 'old-token'\n"
    after = "gitaly['auth_token'] = 'new-token'\n"
    assert mask_secrets(before, "new-token") != mask_secrets(after, "new-token")
    masked = mask_secrets(before, "new-token") + mask_secrets(after, "new-token")
    assert "old-token" not in masked and "new-token" not in masked
