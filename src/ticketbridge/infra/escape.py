"""The one way to make outside text inert: for a terminal, one line of a ticket, Markdown, CSV.

Certificate subjects, SAN names, server banners and ticket fields all come from someone else.
Characters that could move a cursor, reorder what a reader sees (bidirectional overrides,
CVE-2021-42574), hide text or break a line are written as their escapes (`\\x1b`, `\\u202e`,
`\\n`), never interpreted. HTML is escaped by Jinja's autoescape and Jira text by the adapter's
rich-text layer, both on top of this. Pure functions: the core uses them too.
"""

from __future__ import annotations

import unicodedata
from typing import Any

# Control, format, surrogate, private-use, line and paragraph separator characters.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
ELLIPSIS = "…"


def escape_char(character: str) -> str:
    """`\\n`, `\\x1b`, `\\u202e`, `\\U000e0001`: one character spelled out in ASCII."""
    return character.encode("unicode_escape").decode("ascii")


def _cut(text: str, limit: int | None) -> str:
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + ELLIPSIS
    return text


def inert(text: Any, limit: int | None = None, *, keep_newlines: bool = False) -> str:
    """For a terminal or a report cell: every hidden character escaped, cut to `limit` (`…`)."""
    if text is None:
        return ""
    out = []
    for character in str(text):
        if keep_newlines and character == "\n":
            out.append(character)
        elif unicodedata.category(character) in _HIDDEN_CATEGORIES:
            out.append(escape_char(character))
        else:
            out.append(character)
    return _cut("".join(out), limit)


def one_line(text: str, limit: int | None = None) -> str:
    """For a single-line field: everything `str.isprintable` rejects (controls, format and
    separator characters other than the space, unassigned code points) escaped, cut to `limit`.

    Stricter than `inert`: the result can neither break a line nor forge one of evidence.
    """
    if text.isprintable():
        return _cut(text, limit)
    return _cut("".join(c if c.isprintable() else escape_char(c) for c in text), limit)


def markdown_cell(value: Any) -> str:
    """One Markdown table cell: nothing in it can end the cell, format text or open a tag."""
    text = inert(value if not isinstance(value, list) else ", ".join(map(str, value)))
    # Escape the escape character first, or `\|` would turn our escape into a literal `\`.
    for character in ("\\", "|", "*", "_", "`", "[", "]", "~", "#"):
        text = text.replace(character, "\\" + character)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def csv_cell(text: str) -> str:
    """Spreadsheets run a cell starting with one of these as a formula: a quote makes it text."""
    text = inert(text)
    # Tab and CR, which spreadsheets also treat as formula starts, were escaped by `inert`.
    if text[:1] in ("=", "+", "-", "@"):
        return "'" + text
    return text
