"""The one way to make outside text inert: for a terminal, a Markdown table, a CSV cell.

Certificate subjects, SAN names, server banners and ticket fields all come from someone else.
Control, format (bidirectional overrides), surrogate, private-use and line/paragraph separator
characters are shown as escapes, so such text cannot move a cursor, reorder what a reader sees
or hide part of a line. HTML is escaped by Jinja's autoescape and Jira text by the adapter's
rich-text layer, both on top of this.
"""

from __future__ import annotations

import unicodedata
from typing import Any

_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
ELLIPSIS = "…"


def escape_char(character: str) -> str:
    """`\\x0a`, `\\u202e`, `\\U000e0001`: one character spelled out as its code point."""
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def inert(text: Any, limit: int | None = None, *, keep_newlines: bool = False) -> str:
    """`text` with every hidden character escaped, cut to `limit` characters (with `…`)."""
    if text is None:
        return ""
    out = []
    for character in str(text):
        if keep_newlines and character == "\n":
            out.append(character)
        elif unicodedata.category(character) in _HIDDEN_CATEGORIES:
            out.append(character.encode("unicode_escape").decode("ascii"))
        else:
            out.append(character)
    result = "".join(out)
    if limit is not None and len(result) > limit:
        return result[: limit - 1] + ELLIPSIS
    return result


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
