"""JQL text: string literals that quote anything, and nesting a query inside another."""

from __future__ import annotations

import re

__all__ = ["jql_quote", "strip_order_by"]


def jql_quote(value: str) -> str:
    """A JQL string literal for any text: quotes, backslashes and control characters escaped."""
    out = ['"']
    for character in value:
        if character in ('"', "\\"):
            out.append("\\" + character)
        elif character == "\n":
            out.append("\\n")
        elif character == "\r":
            out.append("\\r")
        elif character == "\t":
            out.append("\\t")
        elif ord(character) < 0x20 or 0x7F <= ord(character) < 0xA0:
            out.append(f"\\u{ord(character):04x}")
        else:
            out.append(character)
    out.append('"')
    return "".join(out)


_ORDER_BY = re.compile(r"order\s+by\b", re.IGNORECASE)


def strip_order_by(query: str) -> str:
    """The query without its ORDER BY clause (outside string literals), to nest it in another."""
    quote_char: str | None = None
    index = 0
    while index < len(query):
        character = query[index]
        if quote_char is not None:
            if character == "\\":
                index += 2
                continue
            if character == quote_char:
                quote_char = None
        elif character in "\"'":
            quote_char = character
        elif (index == 0 or not query[index - 1].isalnum()) and _ORDER_BY.match(query, index):
            return query[:index].strip()
        index += 1
    return query.strip()
